/**
 * Reads a small file under `/proc` through libc: Deno refuses to read `/proc` without
 * `--allow-all`, which a node does not run with; `--allow-ffi` (which the node has, for LMDB)
 * is enough for `fopen`/`fread`. Linux with glibc only; elsewhere every read says why not.
 *
 * @module
 */

/** How much is read at most: `/proc/net/udp` has one 128-byte line per UDP socket. */
export const procFileBytesMax = 4 * 1024 * 1024;

const readChunkBytes = 64 * 1024;

const LIBC_SYMBOLS = {
  fopen: { parameters: ["buffer", "buffer"], result: "pointer" },
  fread: { parameters: ["buffer", "usize", "usize", "pointer"], result: "usize" },
  fclose: { parameters: ["pointer"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let libc: { symbols?: Libc; problem: string } | undefined;

function loadLibc(): { symbols?: Libc; problem: string } {
  if (libc) return libc;
  if (Deno.build.os !== "linux") {
    libc = { problem: `${Deno.build.os} has no /proc` };
    return libc;
  }
  try {
    libc = { symbols: Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols, problem: "" };
  } catch (error) {
    libc = { problem: `cannot load libc.so.6: ${(error as Error).message ?? error}` };
  }
  return libc;
}

/**
 * The text of a file under `/proc`, at most {@link procFileBytesMax} bytes.
 *
 * @param path For example `/proc/net/udp`.
 * @returns The text, or `undefined` when it cannot be read (not Linux, no glibc, no FFI
 *   permission, no such file).
 */
export function readProcFile(path: string): string | undefined {
  const found = loadLibc();
  if (!found.symbols) return undefined;
  const { fopen, fread, fclose } = found.symbols;
  const file = fopen(cString(path), cString("r"));
  if (file === null) return undefined;
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < procFileBytesMax) {
      const buffer = new Uint8Array(readChunkBytes);
      const read = Number(fread(buffer, 1n, BigInt(buffer.length), file));
      if (read === 0) break;
      parts.push(buffer.subarray(0, read));
      total += read;
    }
  } finally {
    fclose(file);
  }
  const text = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    text.set(part, offset);
    offset += part.length;
  }
  return new TextDecoder().decode(text);
}

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}
