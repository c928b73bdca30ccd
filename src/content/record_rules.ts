/**
 * Rhizome's record rules, the one set the store and the DHT both use
 * (`src/store/record_rules.ts`): a record verifies when it is canonical, belongs under its key,
 * keeps the content rules at the given time (documents not dated ahead, entries not living longer
 * than their kind allows) and every signature holds. Immutable records are final; a higher
 * sequence replaces a mutable record; sets merge by union.
 *
 * @module
 */

import { bytesEqual } from "../core/bytes.ts";
import { recordBytesMax } from "../core/limits.ts";
import type { NodeId } from "../core/node_id.ts";
import type { MergeResult, RecordRules, VerifiedRecord } from "../store/record_rules.ts";
import { checkContent, setMergeOrderOf } from "./key_schema.ts";
import {
  checkRecord,
  decodeStoredRecord,
  type DhtRecord,
  encodeRecord,
  mergeSets,
  RecordKind,
  replaces,
} from "./records.ts";

/** A verified record with its decoded form, so merging does not decode it twice. */
export interface VerifiedDhtRecord extends VerifiedRecord {
  /** The decoded record. */
  readonly record: DhtRecord;
}

/** The rules for Rhizome's three record kinds. */
export const recordRules: RecordRules<VerifiedDhtRecord> = {
  kindNames: ["immutable", "mutable", "set"],
  recordBytesMax,

  verify(
    key: NodeId,
    bytes: Uint8Array,
    held: () => Uint8Array | undefined,
    nowMs: number,
  ): VerifiedDhtRecord {
    const record = decodeStoredRecord(bytes);
    // Only a set gains from the held version (its known entries skip verification).
    const heldBytes = record.kind === RecordKind.set ? held() : undefined;
    // The content rules first: they are cheap (names, policies, shapes, times), so a set no index
    // of the schema could be costs no signature checks.
    checkContent(key, record, nowMs);
    checkRecord(key, record, heldBytes && decodeStoredRecord(heldBytes));
    return { kind: record.kind, bytes, record };
  },

  isFinal(bytes: Uint8Array): boolean {
    try {
      return decodeStoredRecord(bytes).kind === RecordKind.immutable;
    } catch {
      return false;
    }
  },

  merge(held: Uint8Array, incoming: VerifiedDhtRecord, nowMs: number): MergeResult {
    if (bytesEqual(held, incoming.bytes)) return { outcome: "keep" };
    const heldRecord = decodeStoredRecord(held);
    const record = incoming.record;
    if (record.kind === RecordKind.mutable && heldRecord.kind === RecordKind.mutable) {
      if (replaces(heldRecord, record)) return { outcome: "replace", bytes: incoming.bytes };
      return {
        outcome: "stale",
        reason: `sequence ${record.seq} is not above the held ${heldRecord.seq}`,
      };
    }
    if (record.kind === RecordKind.set && heldRecord.kind === RecordKind.set) {
      const order = setMergeOrderOf(record);
      const merged = encodeRecord(mergeSets(heldRecord, record, Math.floor(nowMs / 1000), order));
      return bytesEqual(merged, held) ? { outcome: "keep" } : { outcome: "replace", bytes: merged };
    }
    // Same key, same immutable content (the key is its hash); kinds cannot differ under one key.
    return { outcome: "keep" };
  },
};
