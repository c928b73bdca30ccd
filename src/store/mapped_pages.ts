/**
 * Keeps a read-only memory map from filling this process's resident memory.
 *
 * LMDB reads through a memory map, and Linux counts every mapped page a walk touches in the
 * process's RSS until it is unmapped, with up to 16 neighbouring cached pages mapped per fault
 * ("fault-around"). A snapshot export walks the whole store, so its RSS would grow to the size of
 * the file. Telling the kernel that the pages are not needed (`madvise(MADV_DONTNEED)`) unmaps
 * them from this process only. The data stays in the file and in the page cache, and the next
 * read of such a page maps it again, so this is safe at any time on a mapping no one writes
 * through.
 *
 * The mapping's address is not exposed by lmdb-js, so each release reads `/proc/self/maps`
 * afresh (LMDB moves the map when the file outgrows it) and advises only the ranges that map
 * this file without write permission. Both go through libc by FFI: Deno refuses to read
 * `/proc/self` without `--allow-all`, and the store already needs `--allow-ffi`.
 *
 * When to release: {@link MappedFilePages.afterRead} releases every {@link mappedReleaseReads}
 * reads.
 *
 * Linux only; elsewhere {@link MappedFilePages.open} returns `undefined` and pages stay mapped
 * until the store closes.
 *
 * @module
 */

import { mappedReleaseReads } from "../core/limits.ts";

/** `madvise` advice: the process no longer needs these pages (Linux, every architecture). */
const MADV_DONTNEED = 4;

/** How much of `/proc/self/maps` is read at most: far beyond a Deno process's few hundred lines. */
const MAPS_BYTES_MAX = 4 * 1024 * 1024;

/** One read of `/proc/self/maps`. */
const MAPS_READ_BYTES = 64 * 1024;

/** A mapping's line: start-end perms offset dev inode, then the path after the padding. */
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) \S+ \S+ \S+ +(.*)$/;

const LIBC_SYMBOLS = {
  fopen: { parameters: ["buffer", "buffer"], result: "pointer" },
  fread: { parameters: ["buffer", "usize", "usize", "pointer"], result: "usize" },
  fclose: { parameters: ["pointer"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

/** libc's functions, or `null` where this is not Linux with glibc or FFI is not allowed. */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  } catch {
    // No glibc (musl), or no FFI permission: pages then stay mapped; reads are unaffected.
  }
  return libc;
}

/** The pages one file's read-only mappings hold resident in this process. */
export class MappedFilePages {
  readonly #libc: Libc;
  readonly #path: string;
  #readsSinceRelease = 0;

  private constructor(libc: Libc, path: string) {
    this.#libc = libc;
    this.#path = path;
  }

  /**
   * Prepares to release the pages of `path`'s mappings.
   *
   * @param path The mapped file (resolved: `/proc/self/maps` names files by their real path).
   * @returns The releaser, or `undefined` where releasing is not possible (not Linux, no glibc,
   *   no FFI permission, the path unresolvable).
   */
  static open(path: string): MappedFilePages | undefined {
    const found = loadLibc();
    if (!found) return undefined;
    try {
      return new MappedFilePages(found, Deno.realPathSync(path));
    } catch {
      return undefined;
    }
  }

  /** Counts one read through the mapping; every {@link mappedReleaseReads}, releases. */
  afterRead(): void {
    if (++this.#readsSinceRelease < mappedReleaseReads) return;
    this.#readsSinceRelease = 0;
    this.release();
  }

  /**
   * Unmaps from this process every resident page of the file's read-only mappings; the next
   * read of one maps it again from the page cache or the file.
   *
   * @returns The bytes of mappings advised (mapped, not necessarily resident).
   */
  release(): number {
    let advised = 0;
    for (const line of this.#mapsLines()) {
      const match = MAPS_LINE.exec(line);
      if (!match || match[4] !== this.#path || match[3][1] === "w") continue;
      const start = BigInt(`0x${match[1]}`);
      const length = BigInt(`0x${match[2]}`) - start;
      // A failure (the range gone meanwhile) leaves the pages mapped: harmless, so not raised.
      if (this.#libc.madvise(Deno.UnsafePointer.create(start), length, MADV_DONTNEED) === 0) {
        advised += Number(length);
      }
    }
    return advised;
  }

  #mapsLines(): string[] {
    const file = this.#libc.fopen(cString("/proc/self/maps"), cString("r"));
    if (file === null) return [];
    const parts: Uint8Array[] = [];
    let total = 0;
    try {
      while (total < MAPS_BYTES_MAX) {
        const buffer = new Uint8Array(MAPS_READ_BYTES);
        const read = Number(this.#libc.fread(buffer, 1n, BigInt(buffer.length), file));
        if (read === 0) break;
        parts.push(buffer.subarray(0, read));
        total += read;
      }
    } finally {
      this.#libc.fclose(file);
    }
    const text = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      text.set(part, offset);
      offset += part.length;
    }
    return new TextDecoder().decode(text).split("\n");
  }
}

function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${text}\0`);
}
