/**
 * Reading snapshots: `verify` (format, hash, signature, every record against its key), `import`
 * (into a stopped node's data dir, or into the open store of a running node, which its control
 * API asks for), and `list`. A snapshot is never trusted: `import` verifies the whole file before
 * it writes anything, so a corrupt snapshot imports nothing, and then stores each record through
 * the store's own checks, as if it came from the network.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import type { Clock } from "../core/clock.ts";
import type { Config } from "../core/config_schema.ts";
import { DataDirError, RhizomeError, SnapshotError } from "../core/errors.ts";
import { exists } from "../core/fs.ts";
import { describeOsError } from "../core/os_error.ts";
import { SystemClock } from "../core/system_clock.ts";
import type { RecordStore } from "../store/record_store.ts";
import {
  importInto,
  type ImportProgress,
  type ImportSummary,
  readSnapshot,
  type SnapshotContents,
  SnapshotFrameReader,
  type SnapshotHeader,
  type SnapshotSource,
  storeVerified,
} from "../services/snapshots/mod.ts";
import type { DataDir } from "./data_dir/paths.ts";

export { type ImportReport, importReport, type ImportSummary } from "../services/snapshots/mod.ts";

import { openDataDirStore } from "./data_dir/store.ts";
import { acquireDataDirLock, type DataDirLock } from "./data_dir/lock.ts";
import { chooseNodeType } from "./node_type.ts";
import { measureResources } from "./resources.ts";

/** What a sound snapshot holds. */
export interface VerifySummary extends SnapshotContents {
  /** The file. */
  path: string;
  /** Its size in bytes. */
  sizeBytes: number;
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
  const { file, sizeBytes } = await openSnapshot(path);
  const source = { name: path, open: () => Promise.resolve(file.readable) };
  const { contents } = await readSnapshot(source, { verifyRecords: true, digestGroups: false });
  return { path, sizeBytes, ...contents };
}

/** The snapshot file at `path` as a source an import reads twice. */
function fileSource(path: string): SnapshotSource {
  return { name: path, open: async () => (await openSnapshot(path)).file.readable };
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
  onProgress?: ImportProgress;
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
    const source = fileSource(path);
    const verified = await readSnapshot(source, { verifyRecords: true, digestGroups: true });
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
      return await storeVerified(store, source, verified, clock, options.onProgress);
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
  onProgress?: ImportProgress,
): Promise<ImportSummary> {
  return await importInto(store, fileSource(resolve(path)), clock, onProgress);
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
