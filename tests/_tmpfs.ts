/**
 * A small tmpfs for tests that fill a disk: mounted on a fresh temporary directory, unmounted and
 * removed afterwards. Mounting needs root (and a `mount` that may run); elsewhere the tests that
 * need one are skipped, saying why.
 */

import { withTempDir } from "./_rhizome.ts";

/**
 * Why a tmpfs cannot be mounted here, or `undefined` when it can.
 *
 * @returns The reason, for the skip message.
 */
export async function tmpfsUnavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return `tmpfs tests need Linux, this is ${Deno.build.os}`;
  if (Deno.uid() !== 0) return "tmpfs tests need root to mount a small tmpfs";
  try {
    return await withTmpfs(1024 * 1024, () => Promise.resolve(undefined));
  } catch (error) {
    return `cannot mount a tmpfs: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * Runs `test` with a tmpfs of `sizeBytes` mounted on a fresh directory.
 *
 * @param sizeBytes The file system's size.
 * @param test Given the mount point.
 * @returns What `test` returned.
 */
export async function withTmpfs<T>(
  sizeBytes: number,
  test: (directory: string) => Promise<T>,
): Promise<T> {
  return await withTempDir(async (directory) => {
    await run(["mount", "-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", directory]);
    try {
      return await test(directory);
    } finally {
      await run(["umount", directory]);
    }
  });
}

async function run([command, ...args]: string[]): Promise<void> {
  const result = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
    .output();
  if (!result.success) {
    throw new Error(`${command} failed: ${new TextDecoder().decode(result.stderr).trim()}`);
  }
}

/**
 * Free bytes on the file system at `path`.
 *
 * @param path A directory.
 * @returns The bytes an unprivileged process may still write.
 */
export async function freeBytes(path: string): Promise<number> {
  const { statfs } = await import("node:fs/promises");
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}
