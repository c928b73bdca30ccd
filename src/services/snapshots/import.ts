/**
 * Reading a snapshot, without I/O: the frames checked (format, sizes, hash, signature, and each
 * record against its key), and an import into an open record store. A snapshot is never trusted:
 * an import verifies the whole snapshot before it stores anything, so a corrupt one imports
 * nothing, then reads it again and stores each record through the store's own checks, as if it
 * came from the network. Opening files, the data dir and its lock are the node's
 * (`node/snapshot_import.ts`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Clock } from "../../core/clock.ts";
import { bytesEqual } from "../../core/bytes.ts";
import { RhizomeError, SnapshotError, StoreError } from "../../core/errors.ts";
import { NodeId } from "../../core/node_id.ts";
import { recordRules } from "../../content/record_rules.ts";
import type { PutOutcome, RecordPut, RecordStore } from "../../store/record_store.ts";
import {
  type SnapshotFrame,
  SnapshotFrameReader,
  type SnapshotHeader,
  type SnapshotRecord,
} from "./format.ts";

/**
 * Records an import stores in one transaction. One transaction for many records costs a fraction
 * of one each (lmdb-js, 20,000 puts of 1 KiB: 0.55 s as a transaction each, 0.13 s in batches of
 * 256); few enough that a batch of the largest records (64 KiB) stays at 16 MiB.
 */
const importBatchRecords = 256;

/**
 * Batches an import keeps in flight: the next is read and verified while the last commits. At
 * the limit the reader waits.
 */
const importBatchesInFlightMax = 2;

/** A snapshot to read: its name for messages, and a way to open it, once per pass. */
export interface SnapshotSource {
  /** What messages call it: the file's path. */
  name: string;
  /** A fresh stream of its bytes from the start. */
  open(): Promise<ReadableStream<Uint8Array>>;
}

/** What a sound snapshot holds. */
export interface SnapshotContents {
  /** Its header. */
  header: SnapshotHeader;
  /** Records in it. */
  records: number;
  /** Records by kind name, as verified. */
  countsByKind: Record<string, number>;
}

/** Called as records are stored: records and their bytes so far, and the total records. */
export type ImportProgress = (records: number, bytes: number, total: number) => void;

/**
 * Imports a snapshot into a record store that is already open for writing: verifies the whole
 * snapshot first, so a corrupt one imports nothing, then reads it again and stores every record
 * through the store's own checks, with its class and remaining lifetime. Expired records are
 * skipped, a newer version held is kept, the same record only renews, so importing twice changes
 * nothing. The caller keeps the store open throughout and closes it.
 *
 * @param store The store, open and writable.
 * @param source The snapshot.
 * @param clock The time source that decides what has expired.
 * @param onProgress Called as records are stored.
 * @returns Counts of what happened to the records.
 * @throws {RhizomeError} `SNAPSHOT_INVALID` (nothing imported when found in the first pass; a
 *   snapshot changed after it keeps the groups of 256 records stored before the first changed
 *   one), `STORE_UNUSABLE` (the store closed or failed; what was stored before stays).
 */
export async function importInto(
  store: RecordStore,
  source: SnapshotSource,
  clock: Clock,
  onProgress?: ImportProgress,
): Promise<ImportSummary> {
  const verified = await readSnapshot(source, { verifyRecords: true, digestGroups: true });
  return await storeVerified(store, source, verified, clock, onProgress);
}

/** What an import did. */
export interface ImportSummary {
  /** The snapshot. */
  path: string;
  /** The node that made it. */
  nodeId: string;
  /** Records in the snapshot. */
  records: number;
  /** Stored anew, or replacing an older version (a lower sequence, a set with fewer entries). */
  imported: number;
  /** Already held as they are (their lifetime renewed if the snapshot's was longer). */
  unchanged: number;
  /** Expired by now, skipped. */
  expired: number;
  /** A newer version already held, kept. */
  keptNewer: number;
  /** Refused because the store is full of records inside their retention. */
  refusedFull: number;
}

/**
 * An import's counts in the snake_case JSON of `rhizome snapshot import --json` and of
 * `POST /v1/snapshots/import`: one shape for both.
 */
export interface ImportReport {
  /** The snapshot, as an absolute path. */
  path: string;
  /** The node that made it, in hex. */
  node_id: string;
  /** Records in the snapshot. */
  records: number;
  /** {@link ImportSummary.imported}. */
  imported: number;
  /** {@link ImportSummary.unchanged}. */
  unchanged: number;
  /** {@link ImportSummary.expired}. */
  expired: number;
  /** {@link ImportSummary.keptNewer}. */
  kept_newer: number;
  /** {@link ImportSummary.refusedFull}. */
  refused_full: number;
}

/**
 * An import's summary as JSON.
 *
 * @param summary What {@link importSnapshot} or {@link importSnapshotInto} returned.
 * @returns The same counts, snake_case.
 */
export function importReport(summary: ImportSummary): ImportReport {
  return {
    path: summary.path,
    node_id: summary.nodeId,
    records: summary.records,
    imported: summary.imported,
    unchanged: summary.unchanged,
    expired: summary.expired,
    kept_newer: summary.keptNewer,
    refused_full: summary.refusedFull,
  };
}

/**
 * Reads a snapshot through, checking its format, sizes, hash and signature, and each record
 * against its key when `verifyRecords` (an import's second pass leaves that to the store, which
 * checks every record it is given). With `digestGroups` (an import's first pass) it returns,
 * besides the summary, a digest of each group of {@link importBatchRecords} records, in order:
 * the second pass compares its groups with them before it stores any record of a group.
 */
export async function readSnapshot(
  source: SnapshotSource,
  { verifyRecords, digestGroups }: { verifyRecords: boolean; digestGroups: boolean },
  onRecord?: (record: SnapshotRecord, index: number) => Promise<void>,
): Promise<{ contents: SnapshotContents; groups: Uint8Array[] }> {
  const path = source.name;
  let header: SnapshotHeader | undefined;
  let records = 0;
  const countsByKind: Record<string, number> = {};
  for (const name of recordRules.kindNames) countsByKind[name] = 0;
  const groups = new GroupDigests();
  for await (const frame of new SnapshotFrameReader(await source.open(), path).frames()) {
    if (frame.type === "header") header = frame.header;
    if (frame.type !== "record") continue;
    records++;
    if (verifyRecords) {
      // The time rules as of the export: what verified then is what the snapshot holds.
      const kind = verifyRecord(path, frame, records, header?.createdAtMs ?? 0);
      countsByKind[kind] = (countsByKind[kind] ?? 0) + 1;
    }
    if (digestGroups) groups.add(frame.record);
    await onRecord?.(frame.record, records);
  }
  return {
    contents: { header: header!, records, countsByKind },
    groups: groups.finish(),
  };
}

/**
 * SHA-256 digests of a snapshot's records in groups of {@link importBatchRecords}, each over every
 * field of its records. 32 bytes per group: about 125 KB for a million records.
 */
class GroupDigests {
  readonly #done: Uint8Array[] = [];
  #hash = createHash("sha256");
  #inGroup = 0;

  add(record: SnapshotRecord): void {
    const { key, bytes } = record;
    this.#hash.update(key).update(bytes).update(
      `${record.class} ${record.storedAtMs} ${record.expiresAtMs} ${record.published} ` +
        `${bytes.length}\n`,
    );
    if (++this.#inGroup < importBatchRecords) return;
    this.#done.push(new Uint8Array(this.#hash.digest()));
    this.#hash = createHash("sha256");
    this.#inGroup = 0;
  }

  /** The digests; the last group's too when it is not full. */
  finish(): Uint8Array[] {
    if (this.#inGroup > 0) this.#done.push(new Uint8Array(this.#hash.digest()));
    this.#inGroup = 0;
    return this.#done;
  }
}

function verifyRecord(
  path: string,
  frame: Extract<SnapshotFrame, { type: "record" }>,
  index: number,
  nowMs: number,
): string {
  const key = NodeId.fromBytes(frame.record.key);
  try {
    const verified = recordRules.verify(key, frame.record.bytes, () => undefined, nowMs);
    return recordRules.kindNames[verified.kind];
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SnapshotError(
      "SNAPSHOT_INVALID",
      `Snapshot ${path} is refused: record ${index} (${key.toHex()}) does not verify: ${reason}`,
    );
  }
}

/**
 * The second pass of an import: the snapshot verified already by {@link readSnapshot} with
 * `digestGroups`, its records stored in groups of {@link importBatchRecords}, each group compared
 * with the first pass's digest of it before any of its records is stored.
 *
 * @param store The store, open and writable.
 * @param source The snapshot, read again.
 * @param verified What the first pass returned.
 * @param clock The time source that decides what has expired.
 * @param onProgress Called as records are stored.
 * @returns Counts of what happened to the records.
 * @throws {RhizomeError} As {@link importInto}.
 */
export async function storeVerified(
  store: RecordStore,
  source: SnapshotSource,
  { contents: verified, groups }: { contents: SnapshotContents; groups: Uint8Array[] },
  clock: Clock,
  onProgress?: ImportProgress,
): Promise<ImportSummary> {
  const path = source.name;
  const summary: ImportSummary = {
    path,
    nodeId: verified.header.nodeId.toHex(),
    records: verified.records,
    imported: 0,
    unchanged: 0,
    expired: 0,
    keptNewer: 0,
    refusedFull: 0,
  };
  // Read again rather than held in memory: the file may be larger than memory. Each group of
  // records must match the first pass's digest of it before any of them is stored, so a file
  // changed in between stores nothing from the first changed group on; the framing, hash and
  // signature are checked again too. The store verifies each record it is given, as it does any
  // from the network (so the first pass's check of each record is not repeated here).
  let done = 0;
  let doneBytes = 0;
  let group = new GroupDigests();
  let groupIndex = 0;
  let batch: { put: RecordPut; index: number }[] = [];
  const writing = new Set<Promise<void>>();
  let failure: unknown;
  const refused = (index: number, put: RecordPut, reason: string) =>
    new SnapshotError(
      "SNAPSHOT_INVALID",
      `Snapshot ${path} is refused: record ${index} (${put.key.toHex()}) ${reason}`,
    );
  const count = (result: PutOutcome | RhizomeError, { put, index }: (typeof batch)[number]) => {
    if (!(result instanceof RhizomeError)) {
      if (result.status === "renewed") summary.unchanged++;
      else summary.imported++;
    } else if (result instanceof StoreError && result.code === "RECORD_STALE") summary.keptNewer++;
    else if (result instanceof StoreError && result.code === "STORE_FULL") summary.refusedFull++;
    else if (result.code === "STORE_UNUSABLE") failure ??= result;
    else failure ??= refused(index, put, `was refused by the store: ${result.message}`);
  };
  const flush = async (records: number) => {
    const expected = groups[groupIndex++];
    const found = group.finish()[0];
    group = new GroupDigests();
    if (!expected || !found || !bytesEqual(expected, found)) {
      const first = (groupIndex - 1) * importBatchRecords + 1;
      throw new SnapshotError(
        "SNAPSHOT_INVALID",
        `Snapshot ${path} is refused: it changed after it was verified (records ${first} to ${
          first + records - 1
        } differ); the records before them are imported`,
      );
    }
    const puts = batch;
    batch = [];
    if (puts.length === 0) return;
    const write: Promise<void> = store.putRecords(puts.map(({ put }) => put)).then(
      (results) => results.forEach((result, at) => count(result, puts[at])),
      (error) => void (failure ??= error),
    ).then(() => void writing.delete(write));
    writing.add(write);
    if (writing.size >= importBatchesInFlightMax) await Promise.race(writing);
    if (failure !== undefined) throw failure;
  };
  let inGroup = 0;
  try {
    await readSnapshot(
      source,
      { verifyRecords: false, digestGroups: false },
      async (record, index) => {
        onProgress?.(done++, doneBytes, verified.records);
        doneBytes += record.bytes.length;
        group.add(record);
        inGroup++;
        const ttlMs = record.expiresAtMs - clock.nowMs();
        if (ttlMs <= 0) summary.expired++;
        else {
          batch.push({
            put: {
              key: NodeId.fromBytes(record.key),
              bytes: record.bytes,
              options: { class: record.class, ttlMs, published: record.published },
            },
            index,
          });
        }
        if (inGroup === importBatchRecords) {
          inGroup = 0;
          await flush(importBatchRecords);
        }
      },
    );
    if (inGroup > 0) await flush(inGroup);
    if (groupIndex !== groups.length) {
      throw new SnapshotError(
        "SNAPSHOT_INVALID",
        `Snapshot ${path} is refused: it changed after it was verified (it holds fewer records)`,
      );
    }
  } finally {
    // Settle every write before returning or failing: none may outlive the caller's store.
    await Promise.all(writing);
  }
  if (failure !== undefined) throw failure;
  onProgress?.(done, doneBytes, verified.records);
  return summary;
}
