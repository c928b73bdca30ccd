/**
 * Rhizome's records as DHT values: what the DHT checks before it holds or returns a value, and how
 * it reconciles the versions different nodes hold. Pure: time comes from the injected clock.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { NodeId } from "../core/node_id.ts";
import type { ValueRules } from "../dht/types.ts";
import { checkContent } from "./key_schema.ts";
import {
  checkRecord,
  decodeStoredRecord,
  type DhtRecord,
  encodeRecord,
  mergeSets,
  RecordKind,
} from "./records.ts";

/**
 * The value rules for Rhizome records: a value verifies when it decodes, belongs under its key,
 * every signature holds and it keeps the content rules at the clock's time (documents not dated
 * ahead, entries not living longer than their kind allows). Immutable records are final; a
 * mutable record is reconciled to the higher sequence, a set to the union of both versions.
 *
 * @param clock The time the content rules are checked at.
 * @returns The rules.
 */
export function recordValueRules(clock: Clock): ValueRules {
  return {
    verify(key: NodeId, value: Uint8Array, known?: Uint8Array): boolean {
      try {
        const record = decodeStoredRecord(value);
        // Only a set gains from the known version (its known entries skip verification).
        const knownRecord = known && record.kind === RecordKind.set
          ? decodeStoredRecord(known)
          : undefined;
        // The cheap content rules before the set entries' signatures (see record_rules.ts).
        checkContent(key, record, clock.nowMs());
        checkRecord(key, record, knownRecord);
        return true;
      } catch {
        // A peer's bytes never throw out of the DHT: whatever fails to check is not held. (A bug
        // in a check shows up as refusals in the node's counters and in the tests.)
        return false;
      }
    },

    isFinal(value: Uint8Array): boolean {
      return kindOf(value) === RecordKind.immutable;
    },

    reconcile(_key: NodeId, a: Uint8Array, b: Uint8Array, nowMs: number): Uint8Array {
      const first = decodeStoredRecord(a);
      const second = decodeStoredRecord(b);
      if (first.kind === RecordKind.mutable && second.kind === RecordKind.mutable) {
        return second.seq > first.seq ? b : a;
      }
      if (first.kind === RecordKind.set && second.kind === RecordKind.set) {
        return encodeRecord(mergeSets(first, second, Math.floor(nowMs / 1000)));
      }
      // The same immutable record (its key is its hash); kinds cannot differ under one key.
      return a;
    },
  };
}

function kindOf(value: Uint8Array): DhtRecord["kind"] | undefined {
  try {
    return decodeStoredRecord(value).kind;
  } catch {
    return undefined;
  }
}
