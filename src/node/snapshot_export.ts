/**
 * `rhizome snapshot export`: every live record of a data dir's store, from one LMDB read
 * transaction, into one signed, gzip-compressed file (`docs/snapshots.md`). It works beside a
 * running node (the store is opened read-only; LMDB readers never block the writer) and never
 * writes to the store.
 *
 * The file is streamed to `<target>.tmp-<pid>` beside the target, fsynced, then moved into place
 * and the directory fsynced: a crash, a kill or a full disk never leaves a partial file under
 * the final name. `--keep N` deletes older snapshots only after the new one is complete.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import type { Clock } from "../core/clock.ts";
import type { RecordClass, RecordClassPolicy } from "../core/config_schema.ts";
import {
  DataDirError,
  RhizomeError,
  SnapshotError,
  StoreError,
  UsageError,
} from "../core/errors.ts";
import { collectGarbage } from "./heap.ts";
import { describeOsError } from "../core/os_error.ts";
import { SystemClock } from "../core/system_clock.ts";
import { exists, syncDirectory } from "../core/fs.ts";
import type { DataDir } from "./data_dir/paths.ts";
import { openDataDirStore } from "./data_dir/store.ts";
import { readIdentity } from "./data_dir/identity_file.ts";
import {
  frameStream,
  pipeCompressed,
  selectGlobal,
  SnapshotFrameWriter,
  type SnapshotScope,
} from "../services/snapshots/mod.ts";

/** The folder of the data dir that `export` writes to when no `--out` is given. */
export const SNAPSHOTS_FOLDER = "snapshots";

/**
 * Record bytes between two full garbage collections. Each record is copied a few times on its
 * way to the compressor; collected this often, the heap and the dead buffers stay at the same few
 * tens of MiB for a store of 100 MB or of 3 GB, at a few milliseconds per collection.
 */
const COLLECT_EVERY_BYTES = 32 * 1024 * 1024;

/** A snapshot file name `export` gives in a directory: UTC time, node ID prefix, a counter. */
const SNAPSHOT_NAME = /^rhizome-(\d{8}T\d{6}Z)-([0-9a-f]{12})(?:-(\d+))?\.snapshot\.gz$/;

/** What {@link exportSnapshot} is asked to do. */
export interface ExportOptions {
  /** The data dir whose store and identity are used. */
  dataDir: DataDir;
  /** The record classes (config `[store]`), needed to open the store. */
  classes: Record<RecordClass, RecordClassPolicy>;
  /** A file, a directory (existing, or ending in `/`), or `-` (stdout); default DIR/snapshots. */
  out?: string;
  /** What to export. */
  scope: SnapshotScope;
  /** With a directory: keep this many of this node's snapshots there, deleting the oldest. */
  keep?: number;
  /** The time source (tests). */
  clock?: Clock;
  /** Where `-` writes. */
  stdout?: WritableStream<Uint8Array>;
  /** Called as records are read: records and their bytes so far, and the total records. */
  onProgress?: (records: number, bytes: number, total: number) => void;
}

/** What an export did. */
export interface ExportSummary {
  /** The snapshot's path, or `-` for standard output. */
  path: string;
  /** The exporting node. */
  nodeId: string;
  /** When the read transaction began. */
  createdAtMs: number;
  /** What it holds. */
  scope: SnapshotScope;
  /** Records written. */
  records: number;
  /** By kind name. */
  countsByKind: Record<string, number>;
  /** Records left out because they failed their integrity check in the store. */
  damaged: number;
  /** Compressed bytes written. */
  bytes: number;
  /** Older snapshots deleted by `keep`. */
  deleted: string[];
  /** How long it took. */
  durationMs: number;
}

/**
 * Exports the store of a data dir to a snapshot file. Meant for a process of its own (`rhizome
 * snapshot export`): it collects garbage on a schedule to keep its memory flat, which turns on
 * V8's `--expose-gc` for the whole process (`node/heap.ts`).
 *
 * @param options What to export and where.
 * @returns What was written.
 * @throws {RhizomeError} One line: `DATA_DIR_UNUSABLE`, identity
 *   errors, `STORE_UNUSABLE`, `SNAPSHOT_UNWRITABLE`; nothing is left under the final name then.
 */
export async function exportSnapshot(options: ExportOptions): Promise<ExportSummary> {
  const clock = options.clock ?? new SystemClock();
  const startedMs = Date.now();
  const { dataDir } = options;
  await requireDirectory(dataDir.path, "data directory");
  const { identity } = await readIdentity(dataDir.identityPath);
  if (!await exists(dataDir.recordsPath)) {
    throw new StoreError(
      "STORE_UNUSABLE",
      `Cannot export: ${dataDir.path} has no record store (${basename(dataDir.recordsPath)}); ` +
        "has a node run there?",
    );
  }
  const target = await resolveTarget(options, identity.nodeId.toHex(), clock.nowMs());
  if (target.kind === "directory" && options.keep !== undefined && options.keep < 1) {
    throw new UsageError("--keep needs a count of at least 1");
  }
  const store = openDataDirStore(dataDir, { clock, classes: options.classes, readOnly: true });
  try {
    const createdAtMs = clock.nowMs();
    const view = store.readTransactionSnapshot(createdAtMs);
    try {
      const writer = new SnapshotFrameWriter(identity);
      const selection = options.scope === "global" ? selectGlobal(view, createdAtMs) : view;
      // The counting walks left garbage; the export's own memory starts from a clean heap.
      collectGarbage();
      let collectedAtBytes = 0;
      const frames = frameStream(
        writer,
        selection,
        options.scope,
        createdAtMs,
        (records, recordBytes, total) => {
          options.onProgress?.(records, recordBytes, total);
          if (recordBytes - collectedAtBytes < COLLECT_EVERY_BYTES) return;
          collectGarbage();
          collectedAtBytes = recordBytes;
        },
      );
      let path = "-";
      let bytes = 0;
      if (target.kind === "stdout") {
        bytes = await pipeCompressed(frames, options.stdout ?? Deno.stdout.writable, false);
      } else {
        const written = await writeAtomically(frames, target);
        path = written.path;
        bytes = written.bytes;
      }
      const deleted = target.kind === "directory" && options.keep !== undefined
        ? await deleteBeyond(target.directory, identity.nodeId.toHex(), options.keep, path)
        : [];
      return {
        path,
        nodeId: identity.nodeId.toHex(),
        createdAtMs,
        scope: options.scope,
        records: writer.recordCount,
        countsByKind: selection.countsByKind,
        damaged: view.damaged,
        bytes,
        deleted,
        durationMs: Date.now() - startedMs,
      };
    } finally {
      view.close();
    }
  } finally {
    await store.close();
  }
}

type Target =
  | { kind: "stdout" }
  | { kind: "file"; path: string }
  | { kind: "directory"; directory: string; stamp: string; nodePrefix: string };

async function resolveTarget(
  options: ExportOptions,
  nodeIdHex: string,
  nowMs: number,
): Promise<Target> {
  const out = options.out;
  if (out === "-") {
    if (options.keep !== undefined) throw new UsageError("--keep needs --out DIR, not -");
    return { kind: "stdout" };
  }
  const path = resolve(out ?? join(options.dataDir.path, SNAPSHOTS_FOLDER));
  const info = await Deno.stat(path).catch(() => undefined);
  // Absent, it is a directory when named so (a final slash), or when `--keep` implies one.
  const isDirectory = info
    ? info.isDirectory
    : out === undefined || /[/\\]$/.test(out) || options.keep !== undefined;
  if (!isDirectory) {
    if (options.keep !== undefined) throw new UsageError("--keep needs --out DIR, not a file");
    await requireDirectory(dirname(path), "target directory");
    return { kind: "file", path };
  }
  if (!info) {
    try {
      await Deno.mkdir(path, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw unwritable(path, error);
    }
  }
  return {
    kind: "directory",
    directory: path,
    stamp: new Date(nowMs).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z"),
    nodePrefix: nodeIdHex.slice(0, 12),
  };
}

/** Streams to a temporary file, fsyncs it, moves it into place, fsyncs the directory. */
async function writeAtomically(
  frames: ReadableStream<Uint8Array>,
  target: Exclude<Target, { kind: "stdout" }>,
): Promise<{ path: string; bytes: number }> {
  const firstPath = target.kind === "file"
    ? target.path
    : join(target.directory, `rhizome-${target.stamp}-${target.nodePrefix}.snapshot.gz`);
  const temporary = `${firstPath}.tmp-${Deno.pid}`;
  // A write past `ulimit -f` raises SIGXFSZ, whose default action kills the process before it
  // can remove its temporary file; with a handler installed the write fails with EFBIG instead.
  const ignoreSignal = () => {};
  const catchesSignal = Deno.build.os !== "windows";
  if (catchesSignal) Deno.addSignalListener("SIGXFSZ", ignoreSignal);
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(temporary, { write: true, create: true, truncate: true, mode: 0o600 });
    const opened = file;
    const sink = new WritableStream<Uint8Array>({
      async write(chunk) {
        let written = 0;
        while (written < chunk.length) written += await opened.write(chunk.subarray(written));
      },
    });
    const bytes = await pipeCompressed(frames, sink, true);
    await file.sync();
    file.close();
    file = undefined;
    const path = target.kind === "file"
      ? (await Deno.rename(temporary, target.path), target.path)
      : await linkUnderFreeName(temporary, target);
    await syncDirectory(dirname(path));
    return { path, bytes };
  } catch (error) {
    try {
      file?.close();
    } catch {
      // Already closed.
    }
    await Deno.remove(temporary).catch(() => {});
    if (error instanceof RhizomeError) throw error;
    throw unwritable(firstPath, error);
  } finally {
    if (catchesSignal) Deno.removeSignalListener("SIGXFSZ", ignoreSignal);
  }
}

/**
 * Links the finished file under a new name for its second, never replacing another snapshot,
 * then drops the temporary name. When exports share a second, a counter above every one already
 * there is added, so the newest always sorts last (a freed lower number is not reused).
 */
async function linkUnderFreeName(
  temporary: string,
  target: Extract<Target, { kind: "directory" }>,
): Promise<string> {
  let counter = 1;
  for (const old of await snapshotsOf(target.directory, target.nodePrefix)) {
    if (old.stamp === target.stamp) counter = Math.max(counter, old.counter + 1);
  }
  for (;; counter++) {
    const suffix = counter === 1 ? "" : `-${counter}`;
    const path = join(
      target.directory,
      `rhizome-${target.stamp}-${target.nodePrefix}${suffix}.snapshot.gz`,
    );
    try {
      await Deno.link(temporary, path);
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      throw error;
    }
    await Deno.remove(temporary);
    return path;
  }
}

interface NamedSnapshot {
  name: string;
  stamp: string;
  counter: number;
}

/** This node's snapshots in `directory` by their names, oldest first. */
async function snapshotsOf(directory: string, nodePrefix: string): Promise<NamedSnapshot[]> {
  const ours: NamedSnapshot[] = [];
  for await (const entry of Deno.readDir(directory)) {
    const match = SNAPSHOT_NAME.exec(entry.name);
    if (!entry.isFile || !match || match[2] !== nodePrefix) continue;
    ours.push({ name: entry.name, stamp: match[1], counter: Number(match[3] ?? 1) });
  }
  return ours.sort((a, b) =>
    a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.counter - b.counter
  );
}

/**
 * Deletes this node's oldest snapshots in `directory` beyond `keep`, never the one just written;
 * returns their paths.
 */
async function deleteBeyond(
  directory: string,
  nodeIdHex: string,
  keep: number,
  written: string,
): Promise<string[]> {
  const ours = (await snapshotsOf(directory, nodeIdHex.slice(0, 12)))
    .filter((old) => join(directory, old.name) !== written);
  // The one just written counts as one of the `keep`.
  const othersKept = keep - 1;
  const deleted: string[] = [];
  for (const old of ours.slice(0, Math.max(0, ours.length - othersKept))) {
    const path = join(directory, old.name);
    try {
      await Deno.remove(path);
      deleted.push(path);
    } catch (error) {
      throw new SnapshotError(
        "SNAPSHOT_UNWRITABLE",
        `Cannot delete old snapshot ${path} (the new one is complete): ${describeOsError(error)}`,
        { cause: error },
      );
    }
  }
  if (deleted.length > 0) await syncDirectory(directory);
  return deleted;
}

function unwritable(path: string, error: unknown): SnapshotError {
  return new SnapshotError(
    "SNAPSHOT_UNWRITABLE",
    `Cannot write snapshot ${path}: ${describeOsError(error)}`,
    { cause: error },
  );
}

async function requireDirectory(path: string, what: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (what === "data directory") {
      throw new DataDirError(`Cannot use ${what} ${path}: ${describeOsError(error)}`, {
        cause: error,
      });
    }
    throw unwritable(path, error);
  }
  if (!info.isDirectory) {
    const message = `Cannot use ${what} ${path}: it is not a directory`;
    throw what === "data directory"
      ? new DataDirError(message)
      : new SnapshotError("SNAPSHOT_UNWRITABLE", message);
  }
}
