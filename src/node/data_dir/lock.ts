/**
 * One node per data directory. LMDB would let two processes write the same store, but a node
 * keeps counts in memory (records, bytes, quotas) that assume it is the only writer, so a second
 * `rhizome run` on the same directory must be refused.
 *
 * The guard is a lock file, `node.lock`, holding the owner's PID for people and messages. Whether
 * the owner is alive is not judged from that PID but from an advisory lock (`flock`) the owner
 * holds on the file for as long as it runs, which the kernel drops when the process ends however
 * it ends (crash, `SIGKILL`, power loss). A PID check would be weaker in three ways:
 * - after a crash and a reboot the old PID often belongs to another process, and a PID check
 *   would then refuse to start until someone deletes the file;
 * - two containers sharing a data volume cannot see each other's PIDs, so each would take the
 *   other's lock for stale and both would write;
 * - the portable probe, `Deno.kill(pid, 0)`, needs `--allow-run`, and `SIGCONT` would resume a
 *   process an operator had stopped on purpose.
 * So a lock file that exists but is not locked is stale: its owner is gone. It is taken over, with
 * a log line naming the PID it held.
 *
 * Limits: on Windows the lock also blocks reading the file, so the message cannot name the
 * owner's PID there. On network file systems `flock` is only as good as the server's locking, but
 * LMDB does not support network file systems either.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { DataDirError } from "../../core/errors.ts";
import { getLog, type Log } from "../../core/log.ts";
import { describeOsError } from "../../core/os_error.ts";
import { DATA_DIR_FILES } from "./paths.ts";

/**
 * Tries before giving up. A retry happens only when the lock file was removed or replaced between
 * opening it and locking it, which means its owner was just releasing it; a second owner doing the
 * same in that instant is already unlikely, so a handful of tries covers any real case.
 */
const LOCK_ATTEMPTS_MAX = 5;

/**
 * How long a process that found the lock held waits before reading the holder's PID for its
 * message. A holder writes its PID just after taking the lock, so a process that lost a race to
 * start would otherwise read an empty file, or the PID of the stale lock the winner is replacing.
 * Writing a few bytes takes microseconds; this is only on the path that fails anyway.
 */
const OWNER_PID_SETTLE_MS = 50;

/** A lock file holds a PID and a newline; reading more than this is pointless. */
const LOCK_FILE_BYTES_MAX = 64;

/** Options for {@link acquireDataDirLock}. */
export interface DataDirLockOptions {
  /**
   * Where the line about taking over a stale lock goes.
   * @default the `rhizome.node` logger
   */
  log?: Log;
}

/** The lock on a data directory, held until {@link DataDirLock.release}. */
export class DataDirLock {
  /** The lock file's absolute path. */
  readonly path: string;
  /** The PID the lock file was left holding when this lock took it over, if it was stale. */
  readonly takenOverFromPid: number | undefined;
  #file: Deno.FsFile | undefined;
  #log: Log;

  /** Use {@link acquireDataDirLock}. */
  constructor(path: string, file: Deno.FsFile, takenOverFromPid: number | undefined, log: Log) {
    this.path = path;
    this.#file = file;
    this.takenOverFromPid = takenOverFromPid;
    this.#log = log;
  }

  /** Whether the lock is still held (not yet released). */
  get held(): boolean {
    return this.#file !== undefined;
  }

  /**
   * Removes the lock file if it is still ours and lets go of the lock. Calling it again does
   * nothing. It never throws: a lock file it cannot remove is left behind and logged, and the
   * next start takes it over, since nobody holds its lock any more.
   */
  async release(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    this.#file = undefined;
    try {
      // Remove before unlocking: once unlocked, another process may take the file, and removing
      // it then would remove their lock.
      if (await isOurs(file, this.path)) await Deno.remove(this.path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        this.#log.warning("Cannot remove lock file {path}: {reason}", {
          path: this.path,
          reason: describeOsError(error),
        });
      }
    } finally {
      file.close();
    }
  }

  /** Releases the lock; for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/**
 * Takes the data directory for this process, or fails at once if another process holds it.
 *
 * @param dataDirPath The data directory; it must exist.
 * @param options Where to log a takeover.
 * @returns The lock; call `release()` when the node stops.
 * @throws {DataDirError} "Cannot use data directory X: another rhizome (pid N) is running there"
 *   when the lock is held (by another process, or already by this one); or when the lock file
 *   cannot be created, opened or locked.
 */
export async function acquireDataDirLock(
  dataDirPath: string,
  options: DataDirLockOptions = {},
): Promise<DataDirLock> {
  const directory = resolve(dataDirPath);
  const path = join(directory, DATA_DIR_FILES.lock);
  const log = options.log ?? getLog("node");
  for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
    const opened = await openLockFile(directory, path);
    if (!opened) continue;
    const { file, created } = opened;
    let keep = false;
    try {
      if (!await file.tryLock(true)) {
        await new Promise((settled) => setTimeout(settled, OWNER_PID_SETTLE_MS));
        const owner = await readPid(path);
        throw new DataDirError(
          `Cannot use data directory ${directory}: another rhizome (pid ${
            owner ?? "unknown"
          }) is running there`,
        );
      }
      // The owner may have removed the file between our open and our lock (a clean shutdown);
      // a lock on a removed file guards nothing, so start again.
      if (!await isSameFile(file, path)) continue;
      const previousPid = created ? undefined : parsePid(await readFromStart(file));
      await writePid(file);
      if (!created) {
        log.warning(
          "Took over the lock file {path} left by pid {pid}, which no longer holds it " +
            "(the last run did not stop cleanly)",
          { path, pid: previousPid ?? "unknown" },
        );
      }
      keep = true;
      return new DataDirLock(path, file, previousPid, log);
    } catch (error) {
      if (error instanceof DataDirError) throw error;
      throw new DataDirError(
        `Cannot lock data directory ${directory}: ${describeOsError(error)}`,
        { cause: error },
      );
    } finally {
      if (!keep) file.close();
    }
  }
  throw new DataDirError(
    `Cannot lock data directory ${directory}: its lock file ${path} kept changing; is a ` +
      "rhizome starting and stopping there in a loop?",
  );
}

/** Creates the lock file, or opens the existing one; `undefined` when it vanished meanwhile. */
async function openLockFile(
  directory: string,
  path: string,
): Promise<{ file: Deno.FsFile; created: boolean } | undefined> {
  try {
    const file = await Deno.open(path, { read: true, write: true, createNew: true, mode: 0o600 });
    return { file, created: true };
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw lockFileError(directory, error);
  }
  try {
    return { file: await Deno.open(path, { read: true, write: true }), created: false };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw lockFileError(directory, error);
  }
}

function lockFileError(directory: string, error: unknown): DataDirError {
  return new DataDirError(
    `Cannot lock data directory ${directory}: cannot open ${DATA_DIR_FILES.lock}: ${
      describeOsError(error)
    }`,
    { cause: error },
  );
}

/** Not synced to disk: the PID matters only while this process runs, and the lock, not the
 * PID, decides whether it does. */
async function writePid(file: Deno.FsFile): Promise<void> {
  await file.truncate(0);
  await file.seek(0, Deno.SeekMode.Start);
  const bytes = new TextEncoder().encode(`${Deno.pid}\n`);
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

async function readFromStart(file: Deno.FsFile): Promise<string> {
  await file.seek(0, Deno.SeekMode.Start);
  const buffer = new Uint8Array(LOCK_FILE_BYTES_MAX);
  let length = 0;
  while (length < buffer.length) {
    const count = await file.read(buffer.subarray(length));
    if (count === null) break;
    length += count;
  }
  return new TextDecoder().decode(buffer.subarray(0, length));
}

/** The PID in a lock file, read by path; `undefined` when it cannot be read (held on Windows). */
async function readPid(path: string): Promise<number | undefined> {
  try {
    using file = await Deno.open(path, { read: true });
    return parsePid(await readFromStart(file));
  } catch {
    return undefined;
  }
}

function parsePid(text: string): number | undefined {
  const match = /^\s*(\d{1,10})\s*$/.exec(text);
  const pid = match ? Number(match[1]) : NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether `path` still names the file `file` is open on (it was not removed or replaced). */
async function isSameFile(file: Deno.FsFile, path: string): Promise<boolean> {
  let held: Deno.FileInfo;
  let current: Deno.FileInfo;
  try {
    held = await file.stat();
    current = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  // Where the system gives no file identity, assume the same: the lock still guards the name.
  if (held.ino === null || current.ino === null) return true;
  return held.dev === current.dev && held.ino === current.ino;
}

/** Whether the lock file at `path` is the one we hold, with our PID in it. */
async function isOurs(file: Deno.FsFile, path: string): Promise<boolean> {
  return await isSameFile(file, path) && parsePid(await readFromStart(file)) === Deno.pid;
}

/**
 * Whether a process holds the data directory's lock now, that is whether a node runs there. The
 * probe takes the lock for an instant when it is free and lets go at once; it never creates,
 * changes nor removes the lock file.
 *
 * @param dataDirPath The data directory.
 * @returns `true` when another process (or this one) holds it.
 */
export async function isDataDirLockHeld(dataDirPath: string): Promise<boolean> {
  const path = join(resolve(dataDirPath), DATA_DIR_FILES.lock);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw lockFileError(resolve(dataDirPath), error);
  }
  try {
    if (!await file.tryLock(true)) return true;
    await file.unlock();
    return false;
  } finally {
    file.close();
  }
}
