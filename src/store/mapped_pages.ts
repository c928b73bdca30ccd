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
 * afresh (LMDB maps the file anew when it outgrows the map) and advises only the ranges that map
 * this file shared and without write permission, as LMDB maps a read-only environment. Both go
 * through libc by FFI: Deno refuses to read `/proc/self` without `--allow-all`, and the store
 * already needs `--allow-ffi`.
 *
 * Why a range read from the maps is still the file's when it is advised: the two happen in one
 * synchronous run on the JavaScript thread, which is the only one that reads through this
 * environment, and lmdb-js unmaps a read-only environment's map only when it closes (a larger
 * file gets a new mapping; the old one stays). Were a range unmapped and reused in between,
 * `MADV_DONTNEED` would zero the memory mapped there; so this must never be used with lmdb-js's
 * `remapChunks`, which unmaps chunks as reads go.
 *
 * When to release: {@link MappedFilePages.afterRead} releases every {@link mappedReleaseReads}
 * reads.
 *
 * Linux with glibc only; elsewhere {@link MappedFilePages.open} throws and pages stay mapped
 * until the store closes.
 *
 * @module
 */

import { type Libc, openLibc, readProcText } from "../core/libc.ts";
import { mappedReleaseReads } from "../core/limits.ts";

/** `madvise` advice: the process no longer needs these pages (Linux, every architecture). */
const MADV_DONTNEED = 4;

/** How much of `/proc/self/maps` is read at most: far beyond a Deno process's few hundred lines. */
const MAPS_BYTES_MAX = 4 * 1024 * 1024;

/**
 * A shared read-only mapping's line: start-end, permissions `r--s` or `r-xs`, offset, device,
 * inode, then the path after the padding.
 */
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) r-[x-]s \S+ \S+ \S+ +(.*)$/;

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
   * @returns The releaser.
   * @throws {Error} Saying why releasing is not possible: not Linux, no glibc, no FFI
   *   permission, the path unresolvable.
   */
  static open(path: string): MappedFilePages {
    const found = openLibc("/proc/self/maps");
    if (!found.symbols) throw new Error(found.problem);
    return new MappedFilePages(found.symbols, Deno.realPathSync(path));
  }

  /**
   * Counts one read through the mapping; every {@link mappedReleaseReads}, releases.
   *
   * @returns The bytes advised when it released, else `undefined`.
   */
  afterRead(): number | undefined {
    if (++this.#readsSinceRelease < mappedReleaseReads) return undefined;
    this.#readsSinceRelease = 0;
    return this.release();
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
      if (!match || match[3] !== this.#path) continue;
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
    return readProcText(this.#libc, "/proc/self/maps", MAPS_BYTES_MAX)?.split("\n") ?? [];
  }
}
