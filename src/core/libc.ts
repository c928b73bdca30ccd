/**
 * libc through FFI, for what Deno does not offer a node: reading files under `/proc` (Deno
 * refuses without `--allow-all`; `--allow-ffi`, which the node has for LMDB, is enough for
 * `fopen`/`fread`) and `madvise`. Linux with glibc only; elsewhere {@link openLibc} says why not.
 *
 * @module
 */

const LIBC_SYMBOLS = {
  fopen: { parameters: ["buffer", "buffer"], result: "pointer" },
  fread: { parameters: ["buffer", "usize", "usize", "pointer"], result: "usize" },
  fclose: { parameters: ["pointer"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
} as const;

/** The libc functions this module opens. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** One read of a `/proc` file. */
const readChunkBytes = 64 * 1024;

/** libc, opened once; or why it cannot be (`""` on a system other than Linux). */
let opened: { symbols?: Libc; problem: string } | undefined;

/**
 * libc's functions, or why they are not to be had: not Linux, no glibc, FFI not allowed.
 *
 * @param procPath The `/proc` file the caller is after, named in the problem on other systems.
 * @returns The functions, or the problem in one line.
 */
export function openLibc(procPath: string): { symbols?: Libc; problem: string } {
  if (Deno.build.os !== "linux") return { problem: `${Deno.build.os} has no ${procPath}` };
  if (opened) return opened;
  try {
    opened = { symbols: Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols, problem: "" };
  } catch (error) {
    opened = { problem: `cannot load libc.so.6: ${(error as Error).message ?? error}` };
  }
  return opened;
}

/**
 * The text of a file under `/proc`, read through libc, at most `bytesMax` bytes.
 *
 * @param libc The functions from {@link openLibc}.
 * @param path For example `/proc/self/maps`.
 * @param bytesMax Bytes read at most.
 * @returns The text, or `undefined` when the file cannot be opened.
 */
export function readProcText(libc: Libc, path: string, bytesMax: number): string | undefined {
  const file = libc.fopen(cString(path), cString("r"));
  if (file === null) return undefined;
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < bytesMax) {
      const buffer = new Uint8Array(readChunkBytes);
      const read = Number(libc.fread(buffer, 1n, BigInt(buffer.length), file));
      if (read === 0) break;
      parts.push(buffer.subarray(0, read));
      total += read;
    }
  } finally {
    libc.fclose(file);
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
