/**
 * Disk kept in reserve for starting on a full disk. A node's start writes a few small files (the
 * lock, `api.json` and `api.token`, each through a temporary file), so on a disk that another
 * program filled to the last byte it could not start at all, though it could serve every record
 * it holds (the record store itself stops writing while {@link storeDiskFreeBytesMin} remain). The
 * data directory therefore keeps `disk.reserve`, {@link diskReserveBytes} of zeros: a start that
 * finds less than that free deletes it first, and a start with room to spare writes it again.
 *
 * @module
 */

import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { diskReserveBytes, storeDiskFreeBytesMin } from "../../core/limits.ts";
import type { Log } from "../../core/log.ts";
import { describeOsError } from "../../core/os_error.ts";
import { DATA_DIR_FILES } from "./paths.ts";

/**
 * Deletes the reserve file when the disk has less than {@link diskReserveBytes} free, so what the
 * start writes next fits.
 *
 * @param dataDirPath The data directory (it exists).
 * @param log Where to say so.
 */
export async function releaseDiskReserveWhenFull(dataDirPath: string, log: Log): Promise<void> {
  const freeBytes = await diskFreeBytes(dataDirPath);
  if (freeBytes === undefined || freeBytes >= diskReserveBytes) return;
  try {
    await Deno.remove(join(dataDirPath, DATA_DIR_FILES.reserve));
    log.warning(
      "the disk at {path} is full ({free} bytes free): released the reserve of {reserve} bytes " +
        "so the node can start; writes are refused until there is room",
      { path: dataDirPath, free: freeBytes, reserve: diskReserveBytes },
    );
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    log.warning("cannot release the disk reserve in {path}: {error}", {
      path: dataDirPath,
      error: describeOsError(error),
    });
  }
}

/**
 * Writes the reserve file when it is missing and the disk has room for it beyond what the record
 * store keeps free. Never fails: without a reserve the node runs as before.
 *
 * @param dataDirPath The data directory.
 * @param log Where to report a failure.
 */
export async function keepDiskReserve(dataDirPath: string, log: Log): Promise<void> {
  const path = join(dataDirPath, DATA_DIR_FILES.reserve);
  try {
    if ((await Deno.stat(path)).size === diskReserveBytes) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return;
  }
  const freeBytes = await diskFreeBytes(dataDirPath);
  if (freeBytes === undefined || freeBytes < diskReserveBytes + storeDiskFreeBytesMin) return;
  try {
    // Zeros written, not a sparse file: the blocks must really be taken to be given back.
    await Deno.writeFile(path, new Uint8Array(diskReserveBytes), { mode: 0o600 });
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    log.debug("cannot write the disk reserve {path}: {error}", {
      path,
      error: describeOsError(error),
    });
  }
}

async function diskFreeBytes(path: string): Promise<number | undefined> {
  try {
    const stats = await statfs(path);
    const free = stats.bavail * stats.bsize;
    return Number.isSafeInteger(free) ? free : undefined;
  } catch {
    return undefined;
  }
}
