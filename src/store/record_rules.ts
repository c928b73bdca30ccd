/**
 * What the record store needs to know about records: how to verify one against its key and how
 * to combine a new version with the one held. The store is below the content layer, so it takes
 * these rules as a parameter; `src/content/record_rules.ts` provides Rhizome's.
 *
 * @module
 */

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
   * Checks a record against the key it is to be stored under, trusting nothing about its sender.
   *
   * @param key The key.
   * @param bytes The record.
   * @param held Reads the version held under the key, integrity-checked, when there is one (a
   *   set may skip entries already verified in it); called only by kinds that use it.
   * @returns The verified record.
   * @throws {RhizomeError} `RECORD_INVALID`, saying what is wrong.
   */
  verify(key: NodeId, bytes: Uint8Array, held: () => Uint8Array | undefined): V;

  /**
   * Combines a verified incoming record with the version held under the same key. Runs inside
   * the store's write transaction: it must not throw for a held version it once verified.
   *
   * @param held The held version's bytes (verified when stored, integrity-checked since).
   * @param incoming The incoming version.
   * @param nowMs The time, for expiring set entries.
   * @returns What to store.
   */
  merge(held: Uint8Array, incoming: V, nowMs: number): MergeResult;
}
