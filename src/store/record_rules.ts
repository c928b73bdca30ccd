/**
 * The one set of record rules, for the store and the DHT alike: how a record verifies against its
 * key, whether a copy is the whole answer for its key, and how a new version combines with the one
 * held. The store is the only verifier of what is written (a STORE, a publish); the DHT uses the
 * same rules, through its store, only to check what other nodes answer to its gets. The store is
 * below the content layer, so it takes these rules as a parameter: `src/content/record_rules.ts`
 * provides Rhizome's, {@link contentAddressedRules} raw content-addressed values.
 *
 * @module
 */

import { contentKey } from "../core/content_key.ts";
import { StoreError } from "../core/errors.ts";
import { recordBytesMax } from "../core/limits.ts";
import type { NodeId } from "../core/node_id.ts";

/** A record that passed {@link RecordRules.verify}. */
export interface VerifiedRecord {
  /** Its kind, an index into {@link RecordRules.kindNames}. */
  readonly kind: number;
  /** Its bytes, as received. */
  readonly bytes: Uint8Array;
}

/** What to do with an incoming version of a record already held. */
export type MergeResult =
  /** Store these bytes instead of the held ones (a newer version, or a merged set). */
  | { readonly outcome: "replace"; readonly bytes: Uint8Array }
  /** Keep the held bytes: the incoming version adds nothing (it only renews the lifetime). */
  | { readonly outcome: "keep" }
  /** Refuse the incoming version: it is older than the held one. */
  | { readonly outcome: "stale"; readonly reason: string };

/** How records verify and merge. */
export interface RecordRules<V extends VerifiedRecord = VerifiedRecord> {
  /** A name per kind, for statistics ("immutable", "mutable", "set"). */
  readonly kindNames: readonly string[];
  /** Largest record accepted; checked before anything else is looked at. */
  readonly recordBytesMax: number;

  /**
   * Checks a record against the key it is to be stored (or was found) under, trusting nothing
   * about its sender: its encoding, key, signatures and content rules at `nowMs`.
   *
   * @param key The key.
   * @param bytes The record.
   * @param held Reads a version under the key that verified before, when there is one (a set
   *   skips the entries already verified in it); called only by kinds that use it.
   * @param nowMs The time the content's time rules are checked at.
   * @returns The verified record.
   * @throws {RhizomeError} `RECORD_INVALID`, saying what is wrong.
   */
  verify(key: NodeId, bytes: Uint8Array, held: () => Uint8Array | undefined, nowMs: number): V;

  /**
   * Whether a verified record is the whole answer for its key (content-addressed): a get stops
   * at the first copy, and a copy may be cached on the way.
   *
   * @param bytes A verified record.
   * @returns `true` when no other holder can have a newer or larger version.
   */
  isFinal(bytes: Uint8Array): boolean;

  /**
   * Combines a verified incoming record with the version held under the same key. Runs inside
   * the store's write transaction: it must not throw for a held version it once verified.
   *
   * @param held The held version's bytes (verified when stored, integrity-checked since).
   * @param incoming The incoming version.
   * @param nowMs The time, for expiring set entries.
   * @returns What to keep.
   */
  merge(held: Uint8Array, incoming: V, nowMs: number): MergeResult;
}

/**
 * The rules for raw content-addressed values (the simulator's, and a bare DHT's): a value belongs
 * under the first 160 bits of its SHA-256, every copy is the whole value, two copies are the same.
 */
export const contentAddressedRules: RecordRules = {
  kindNames: ["value"],
  recordBytesMax,
  verify(key: NodeId, bytes: Uint8Array): VerifiedRecord {
    if (!key.equals(contentKey(bytes))) {
      throw new StoreError(
        "RECORD_INVALID",
        `Cannot accept value: it does not hash to its key ${key.toHex()}`,
      );
    }
    return { kind: 0, bytes };
  },
  isFinal: () => true,
  merge: () => ({ outcome: "keep" }),
};
