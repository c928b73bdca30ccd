/**
 * A `rhizome run` that fails to start leaves nothing behind that was not there before: starting
 * creates the data directory, the identity, the store and its disk reserve before it binds a
 * port, and a port in use must not leave a stranger's data dir with a fresh identity in it (the
 * next, successful, run would then be a different node than the one the operator set up).
 *
 * Before the start, {@link noteDataDir} notes which entries the data directory holds (or that it
 * and which of its parents do not exist); after a failed start, {@link undoFailedStart} takes the
 * data directory's lock, so no node that started meanwhile can be running there, removes the
 * top-level entries that are new, and the directories that were created for it. Entries that
 * were there are left as they are, even if the failed start changed them (`peers.json`).
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { getLog } from "../../core/log.ts";
import { describeOsError } from "../../core/os_error.ts";
import { acquireDataDirLock } from "./lock.ts";
import { DATA_DIR_FILES } from "./paths.ts";

/**
 * Entries of the data directory noted; a data directory holds about fifteen. Beyond this the
 * note gives up and the undo removes nothing (it cannot tell old from new).
 */
export const dataDirEntriesNotedMax = 10_000;

/** Parent directories a start may create above the data directory that are noted. */
const createdParentsMax = 32;

/** What the data directory held before a start. */
export interface DataDirNote {
  /** The data directory's absolute path. */
  path: string;
  /** Its entries' names, or `undefined` when it did not exist (or held too many to note). */
  entries: Set<string> | undefined;
  /** Directories that did not exist, the data directory first, then its parents upwards. */
  missing: string[];
  /** Whether the note is usable (it could read the directory, or it did not exist). */
  complete: boolean;
}

/**
 * Notes what the data directory holds now.
 *
 * @param dataDirPath The data directory.
 * @returns The note for {@link undoFailedStart}.
 */
export async function noteDataDir(dataDirPath: string): Promise<DataDirNote> {
  const path = resolve(dataDirPath);
  const missing: string[] = [];
  for (let directory = path; missing.length < createdParentsMax;) {
    if (await exists(directory)) break;
    missing.push(directory);
    const parent = dirname(directory);
    if (parent === directory) break;
    directory = parent;
  }
  if (missing.length > 0) return { path, entries: undefined, missing, complete: true };
  const entries = new Set<string>();
  try {
    for await (const entry of Deno.readDir(path)) {
      if (entries.size >= dataDirEntriesNotedMax) {
        return { path, entries: undefined, missing, complete: false };
      }
      entries.add(entry.name);
    }
  } catch {
    // Not a directory, or unreadable: the start fails on it, having created nothing.
    return { path, entries: undefined, missing, complete: false };
  }
  return { path, entries, missing, complete: true };
}

/**
 * Removes what a failed start created: new top-level entries of the data directory, then the
 * directories that did not exist. Never throws; what it cannot remove it logs. Does nothing
 * when another process holds the data directory's lock (a node started there meanwhile).
 *
 * @param note What {@link noteDataDir} saw before the start.
 * @returns The paths removed.
 */
export async function undoFailedStart(note: DataDirNote): Promise<string[]> {
  if (!note.complete || !await exists(note.path)) return [];
  const log = getLog("node");
  let lock;
  try {
    lock = await acquireDataDirLock(note.path, { log });
  } catch {
    return [];
  }
  const removed: string[] = [];
  try {
    const created: string[] = [];
    for await (const entry of Deno.readDir(note.path)) {
      if (entry.name === DATA_DIR_FILES.lock) continue;
      if (note.entries === undefined || !note.entries.has(entry.name)) created.push(entry.name);
      if (created.length > dataDirEntriesNotedMax) break;
    }
    for (const name of created) {
      const path = join(note.path, name);
      try {
        await Deno.remove(path, { recursive: true });
        removed.push(path);
      } catch (error) {
        log.warning("Cannot remove {path} after the failed start: {reason}", {
          path,
          reason: describeOsError(error),
        });
      }
    }
  } catch (error) {
    log.warning("Cannot clean {path} after the failed start: {reason}", {
      path: note.path,
      reason: describeOsError(error),
    });
  } finally {
    await lock.release();
  }
  // Only empty directories go: one another program filled meanwhile stays.
  for (const directory of note.missing) {
    try {
      await Deno.remove(directory);
      removed.push(directory);
    } catch {
      break;
    }
  }
  return removed;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    return !(error instanceof Deno.errors.NotFound);
  }
}
