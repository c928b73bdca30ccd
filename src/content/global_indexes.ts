/**
 * The network's global indexes — the recent threads, the threads by hour (and the hours that have
 * any), the popular index and the seeds — and what they reference: what a `--scope global` snapshot keeps, so a network can
 * be restored with its threads findable even when the per-thread data must come back from peers.
 *
 * @module
 */

import type { NodeId } from "../core/node_id.ts";
import { addressOfSet, type IndexKind, liveEntries } from "./key_schema.ts";
import { type DhtRecord, RecordKind } from "./records.ts";

/** The kinds of index that are global (one per network, not per thread, message or author). */
export const GLOBAL_INDEX_KINDS: ReadonlySet<IndexKind> = new Set<IndexKind>([
  "recent",
  "threadsByHour",
  "threadHours",
  "popular",
  "seeds",
]);

/**
 * Whether a record is a global index, and the records its live entries reference.
 *
 * @param record A verified record.
 * @param nowS The time, in seconds since the epoch (expired entries reference nothing).
 * @returns `undefined` when the record is not a global index; else the IDs of the threads it
 *   lists (none for the seeds, whose entries are contacts, nor for the thread hours).
 */
export function globalIndexReferences(record: DhtRecord, nowS: number): NodeId[] | undefined {
  if (record.kind !== RecordKind.set) return undefined;
  const { kind } = addressOfSet(record);
  switch (kind) {
    case "recent":
    case "threadsByHour":
      return liveEntries(record, kind, nowS).map((entry) => entry.value.thread);
    case "popular":
      return liveEntries(record, kind, nowS).map((entry) => entry.value.target);
    case "seeds":
    case "threadHours":
      return [];
    default:
      return undefined;
  }
}
