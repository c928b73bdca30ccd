/**
 * Reading snapshots: `verify` (format, hash, signature, every record against its key), `import`
 * (into a stopped node's data dir, or into the open store of a running node, which its control
 * API asks for), and `list`. A snapshot is never trusted: `import` verifies the whole file before
 * it writes anything, so a corrupt snapshot imports nothing, and then stores each record through
 * the store's own checks, as if it came from the network.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, join, resolve } from "node:path";
import type { Clock } from "../core/clock.ts";
import type { Config } from "../core/config_schema.ts";
import { bytesEqual } from "../core/bytes.ts";
import { DataDirError, RhizomeError, SnapshotError, StoreError } from "../core/errors.ts";
import { NodeId } from "../core/node_id.ts";
import { describeOsError } from "../core/os_error.ts";
import { SystemClock } from "../core/system_clock.ts";
import { recordRules } from "../content/record_rules.ts";
import type { PutOutcome, RecordPut, RecordStore } from "../store/record_store.ts";
import type { DataDir } from "./data_dir.ts";
import { openDataDirStore } from "./data_dir_store.ts";
import { acquireDataDirLock, type DataDirLock } from "./data_dir_lock.ts";
import { chooseNodeType } from "./node_type.ts";
import { measureResources } from "./resources.ts";
import {
  type SnapshotFrame,
  SnapshotFrameReader,
  type SnapshotHeader,
  type SnapshotRecord,
} from "./snapshot_format.ts";

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

/** What a sound snapshot holds. */
export interface VerifySummary {
  /** The file. */
  path: string;
  /** Its size in bytes. */
  sizeBytes: number;
  /** Its header. */
  header: SnapshotHeader;
  /** Records in it. */
  records: number;
  /** Records by kind name, as verified. */
  countsByKind: Record<string, number>;
}

/**
 * Reads a snapshot through, checking everything: format, version, sizes, hash, signature, and
 * that every record verifies against its key.
 *
 * @param path The file.
 * @returns What it holds.
 * @throws {SnapshotError} `SNAPSHOT_INVALID` naming the first problem.
 */
export async function verifySnapshot(path: string): Promise<VerifySummary> {
  return (await readSnapshot(path, { verifyRecords: true, digestGroups: false })).summary;
}

/**
 * Reads a snapshot through, checking its format, sizes, hash and signature, and each record
 * against its key when `verifyRecords` (an import's second pass leaves that to the store, which
 * checks every record it is given). With `digestGroups` (an import's first pass) it returns,
 * besides the summary, a digest of each group of {@link importBatchRecords} records, in order:
 * the second pass compares its groups with them before it stores any record of a group.
 */
async function readSnapshot(
  path: string,
  { verifyRecords, digestGroups }: { verifyRecords: boolean; digestGroups: boolean },
  onRecord?: (record: SnapshotRecord, index: number) => Promise<void>,
): Promise<{ summary: VerifySummary; groups: Uint8Array[] }> {
  const { file, sizeBytes } = await openSnapshot(path);
  let header: SnapshotHeader | undefined;
  let records = 0;
  const countsByKind: Record<string, number> = {};
  for (const name of recordRules.kindNames) countsByKind[name] = 0;
  const groups = new GroupDigests();
  for await (const frame of new SnapshotFrameReader(file.readable, path).frames()) {
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
    summary: { path, sizeBytes, header: header!, records, countsByKind },
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

/** What {@link importSnapshot} is asked to do. */
export interface ImportOptions {
  /** The stopped node's data dir (created when absent). */
  dataDir: DataDir;
  /** Its configuration: record classes and the node type's quota. */
  config: Config;
  /** The snapshot. */
  path: string;
  /** The time source (tests). */
  clock?: Clock;
  /** Called as records are stored: records and their bytes so far, and the total records. */
  onProgress?: (records: number, bytes: number, total: number) => void;
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
 * Imports a snapshot into a stopped node's data dir: takes the data-dir lock, verifies the whole
 * file, then opens the store and stores every record with its class and remaining lifetime
 * (as {@link importSnapshotInto} does into a store already open).
 *
 * @param options Where from and to.
 * @returns Counts of what happened to the records.
 * @throws {RhizomeError} `SNAPSHOT_INVALID` (nothing imported), `DATA_DIR_UNUSABLE` (a node
 *   runs there), `STORE_UNUSABLE`.
 */
export async function importSnapshot(options: ImportOptions): Promise<ImportSummary> {
  const { dataDir, config } = options;
  const clock = options.clock ?? new SystemClock();
  const path = resolve(options.path);
  // Fail fast when a node runs there; but create nothing before the file is known to be sound.
  let lock = await exists(dataDir.path) ? await lockFor(dataDir) : undefined;
  try {
    const verified = await readSnapshot(path, { verifyRecords: true, digestGroups: true });
    if (!lock) {
      await dataDir.create();
      lock = await lockFor(dataDir);
    }
    const resources = await measureResources(dataDir.path);
    const type = chooseNodeType(config.node.type, undefined, resources, config.profiles).type;
    const profile = config.profiles[type];
    const store = openDataDirStore(dataDir, {
      clock,
      classes: config.store,
      quota: { bytesMax: profile.disk_bytes_max, recordsMax: profile.records_max },
    });
    try {
      return await storeVerified(store, path, verified, clock, options.onProgress);
    } finally {
      await store.close();
    }
  } finally {
    await lock?.release();
  }
}

/**
 * Imports a snapshot into a record store that is already open for writing (a running node's
 * own): verifies the whole file first, so a corrupt snapshot imports nothing, then reads it
 * again and stores every record through the store's own checks, with its class and remaining
 * lifetime. Expired records are skipped, a newer version held is kept, the same record only
 * renews, so importing twice changes nothing. The caller keeps the store open throughout and
 * closes it.
 *
 * @param store The store, open and writable.
 * @param path The snapshot (made absolute against the working directory).
 * @param clock The time source that decides what has expired.
 * @param onProgress Called as records are stored: records and their bytes so far, and the total.
 * @returns Counts of what happened to the records.
 * @throws {RhizomeError} `SNAPSHOT_INVALID` (nothing imported when found in the first pass; a
 *   file changed after it keeps the groups of 256 records stored before the first changed one),
 *   `STORE_UNUSABLE` (the store closed or failed; what was stored before stays).
 */
export async function importSnapshotInto(
  store: RecordStore,
  path: string,
  clock: Clock,
  onProgress?: ImportOptions["onProgress"],
): Promise<ImportSummary> {
  const absolute = resolve(path);
  const verified = await readSnapshot(absolute, { verifyRecords: true, digestGroups: true });
  return await storeVerified(store, absolute, verified, clock, onProgress);
}

/**
 * The second pass of an import: the file verified already, its records stored in groups of
 * {@link importBatchRecords}, each group compared with the first pass's digest of it before any
 * of its records is stored.
 */
async function storeVerified(
  store: RecordStore,
  path: string,
  { summary: verified, groups }: { summary: VerifySummary; groups: Uint8Array[] },
  clock: Clock,
  onProgress?: ImportOptions["onProgress"],
): Promise<ImportSummary> {
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
      path,
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

async function lockFor(dataDir: DataDir): Promise<DataDirLock> {
  try {
    return await acquireDataDirLock(dataDir.path);
  } catch (error) {
    if (error instanceof DataDirError && /is running there/.test(error.message)) {
      throw new DataDirError(
        `${error.message}: stop it before importing, or import while its control API answers`,
      );
    }
    throw error;
  }
}

/** One entry of {@link listSnapshots}. */
export interface ListedSnapshot {
  /** The file. */
  path: string;
  /** Its size in bytes. */
  sizeBytes: number;
  /** Its header, when it could be read. */
  header?: SnapshotHeader;
  /** Why its header could not be read. */
  problem?: string;
}

/**
 * The snapshots (`*.snapshot.gz`) in a directory, oldest first, from their headers only (a list
 * does not check hashes: `verify` does).
 *
 * @param directory Where to look.
 * @returns One entry per file.
 * @throws {SnapshotError} `SNAPSHOT_INVALID` when the directory cannot be read.
 */
export async function listSnapshots(directory: string): Promise<ListedSnapshot[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(directory)) {
      if (entry.isFile && entry.name.endsWith(".snapshot.gz")) names.push(entry.name);
    }
  } catch (error) {
    throw new SnapshotError(
      "SNAPSHOT_INVALID",
      `Cannot list snapshots in ${directory}: ${describeOsError(error)}`,
      { cause: error },
    );
  }
  const listed: ListedSnapshot[] = [];
  for (const name of names) {
    const path = join(directory, name);
    try {
      const { file, sizeBytes } = await openSnapshot(path);
      const frames = new SnapshotFrameReader(file.readable, basename(path)).frames();
      const first = await frames.next();
      await frames.return(undefined);
      if (first.done || first.value.type !== "header") throw new Error("no header");
      listed.push({ path, sizeBytes, header: first.value.header });
    } catch (error) {
      const sizeBytes = (await Deno.stat(path).catch(() => undefined))?.size ?? 0;
      const problem = error instanceof RhizomeError
        ? error.message.replace(/^Snapshot \S+ is refused: /, "")
        : describeOsError(error);
      listed.push({ path, sizeBytes, problem });
    }
  }
  return listed.sort((a, b) =>
    (a.header?.createdAtMs ?? 0) - (b.header?.createdAtMs ?? 0) || (a.path < b.path ? -1 : 1)
  );
}

async function openSnapshot(path: string): Promise<{ file: Deno.FsFile; sizeBytes: number }> {
  try {
    // Checked before opening: opening a FIFO would wait for a writer, forever.
    if (!(await Deno.stat(path)).isFile) throw new Error("it is not a file");
    const file = await Deno.open(path, { read: true });
    const info = await file.stat();
    if (!info.isFile) {
      file.close();
      throw new Error("it is not a file");
    }
    return { file, sizeBytes: info.size };
  } catch (error) {
    throw new SnapshotError(
      "SNAPSHOT_INVALID",
      `Cannot read snapshot ${path}: ${describeOsError(error)}`,
      { cause: error },
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
