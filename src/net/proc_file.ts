/**
 * Reads a small file under `/proc` through libc: Deno refuses to read `/proc` without
 * `--allow-all`, which a node does not run with; `--allow-ffi` (which the node has, for LMDB)
 * is enough for `fopen`/`fread`. Linux with glibc only; elsewhere every read says why not.
 *
 * @module
 */

import { openLibc, readProcText } from "../core/libc.ts";

/** How much is read at most: `/proc/net/udp` has one 128-byte line per UDP socket. */
export const procFileBytesMax = 4 * 1024 * 1024;

/**
 * The text of a file under `/proc`, at most {@link procFileBytesMax} bytes.
 *
 * @param path For example `/proc/net/udp`.
 * @returns The text, or `undefined` when it cannot be read (not Linux, no glibc, no FFI
 *   permission, no such file).
 */
export function readProcFile(path: string): string | undefined {
  const { symbols } = openLibc("/proc");
  return symbols ? readProcText(symbols, path, procFileBytesMax) : undefined;
}
