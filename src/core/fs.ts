/**
 * File helpers every layer with a disk uses. Durable file writes: the bytes go to a temporary file beside the target, are fsynced, and the
 * file is then renamed (or linked) into place and the directory fsynced. A crash at any moment
 * leaves either the old file or the new one under the final name, never a torn one.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { toHex } from "./bytes.ts";

/** Options for {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /**
   * Permission bits of the new file (POSIX only).
   * @default 0o600
   */
  mode?: number;
  /**
   * Whether an existing file may be replaced. When `false` the write fails with
   * `Deno.errors.AlreadyExists` if the target exists, even if another process creates it
   * concurrently (the final step is a hard link, which never replaces).
   * @default true
   */
  replace?: boolean;
}

/**
 * Writes `data` to `path` atomically and durably.
 *
 * @param path The target file.
 * @param data The complete new contents.
 * @param options Mode and whether to replace an existing file.
 * @throws {Deno.errors.AlreadyExists} When `replace` is `false` and the target exists.
 * @throws {Error} Whatever the file system reports; the target is then unchanged and the
 *   temporary file removed.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const replace = options.replace ?? true;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const random = toHex(crypto.getRandomValues(new Uint8Array(6)));
  const temporary = join(dirname(path), `.${basename(path)}.tmp-${Deno.pid}-${random}`);
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true, mode });
    try {
      if (Deno.build.os !== "windows") await Deno.chmod(temporary, mode);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    if (replace) {
      await Deno.rename(temporary, path);
    } else {
      await Deno.link(temporary, path);
      await Deno.remove(temporary);
    }
    await syncDirectory(dirname(path));
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/**
 * Makes a rename or link in `directory` durable. Windows cannot open directories; it skips.
 *
 * @param directory The directory whose entries changed.
 */
export async function syncDirectory(directory: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const handle = await Deno.open(directory, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Whether something exists at `path`; false also when it cannot be examined (no permission on a
 * parent), which callers treat like absence and report through the operation that follows.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
