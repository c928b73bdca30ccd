/**
 * The small fixed-size sketches the popularity metrics are kept in: a HyperLogLog for distinct
 * counts (requesters, network prefixes), mergeable by register max, and the keyed 32-bit hash
 * that feeds it. Sans-I/O and allocation-free after construction.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";

/** Fewest registers a {@link HyperLogLog} may have: below 16 the estimate's error passes 25%. */
export const hllRegistersMin = 16;

/**
 * Most registers a {@link HyperLogLog} may have: 1,024 bytes each sketch. Per tracked key a node
 * keeps four sketches, and the whole key must stay within `trackedKeyBytesMax` (2 KB).
 */
export const hllRegistersMax = 1024;

/**
 * A HyperLogLog distinct counter (Flajolet et al. 2007) over 32-bit hashes: `m` registers of one
 * byte, each the longest run of leading zeros seen (plus one) among the hashes routed to it.
 * Standard error about 1.04/√m (13% at 64 registers, 6.5% at 256). Two sketches of the same size
 * merge by register max: the merge counts the union, and a value seen by both counts once.
 */
export class HyperLogLog {
  /** The registers: exposed for reports and merges, one byte each. */
  readonly registers: Uint8Array;
  readonly #bits: number;

  /**
   * Makes an empty sketch, or one over `registers` (copied).
   *
   * @param size Registers, a power of two in `hllRegistersMin..hllRegistersMax`.
   * @param registers Registers to start from (a report's), of length `size`.
   * @throws {RangeError} When the size is not such a power of two or `registers` has another length.
   */
  constructor(size: number, registers?: Uint8Array) {
    if (
      !Number.isInteger(size) || size < hllRegistersMin || size > hllRegistersMax ||
      (size & (size - 1)) !== 0
    ) {
      throw new RangeError(
        `Cannot make a HyperLogLog: size is ${size}, expected a power of two ${hllRegistersMin}..${hllRegistersMax}`,
      );
    }
    if (registers !== undefined && registers.length !== size) {
      throw new RangeError(
        `Cannot make a HyperLogLog: ${registers.length} registers given, expected ${size}`,
      );
    }
    this.registers = registers ? new Uint8Array(registers) : new Uint8Array(size);
    this.#bits = Math.log2(size);
  }

  /**
   * Counts a 32-bit hash.
   *
   * @param hash An unsigned 32-bit hash of the value (see {@link keyedHash32}).
   * @returns Whether a register grew (the value was surely not seen before).
   */
  add(hash: number): boolean {
    const index = hash >>> (32 - this.#bits);
    const rest = (hash << this.#bits) >>> 0;
    const rank = rest === 0 ? 33 - this.#bits : Math.clz32(rest) + 1;
    if (rank <= this.registers[index]) return false;
    this.registers[index] = rank;
    return true;
  }

  /**
   * The estimated number of distinct values added: the harmonic-mean estimate, with linear
   * counting over empty registers for small counts.
   *
   * @returns A non-negative number (0 for an empty sketch).
   */
  estimate(): number {
    const m = this.registers.length;
    let sum = 0;
    let zeros = 0;
    for (const register of this.registers) {
      sum += 2 ** -register;
      if (register === 0) zeros++;
    }
    const alpha = m >= 128 ? 0.7213 / (1 + 1.079 / m) : m === 64 ? 0.709 : m === 32 ? 0.697 : 0.673;
    const raw = (alpha * m * m) / sum;
    if (raw <= 2.5 * m && zeros > 0) return m * Math.log(m / zeros);
    return raw;
  }

  /**
   * Takes in another sketch of the same size: register by register, the larger.
   *
   * @param other The other sketch's registers.
   * @throws {RangeError} When the sizes differ.
   */
  merge(other: Uint8Array): void {
    if (other.length !== this.registers.length) {
      throw new RangeError(
        `Cannot merge HyperLogLogs: sizes ${other.length} and ${this.registers.length} differ`,
      );
    }
    for (let i = 0; i < other.length; i++) {
      if (other[i] > this.registers[i]) this.registers[i] = other[i];
    }
  }

  /** Empties the sketch. */
  clear(): void {
    this.registers.fill(0);
  }
}

/**
 * A keyed 32-bit hash of some bytes (a node ID, an address prefix): FNV-1a over the bytes, seeded
 * with this node's secret salt and finished with a murmur3 mix. The salt is secret to the node,
 * so a requester cannot grind identities whose hashes fill high HyperLogLog registers here.
 *
 * @param salt The node's salt (any 32-bit number, from its injected randomness).
 * @param bytes The bytes.
 * @returns An unsigned 32-bit hash.
 */
export function keyedHash32(salt: number, bytes: Uint8Array): number {
  assert(Number.isInteger(salt), "salt must be an integer");
  let hash = (0x811c9dc5 ^ salt) >>> 0;
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * A count that halves every `halfLifeMs`: `valueAt(now)` = stored value × 2^(−elapsed/halfLife).
 * Kept as a plain object so a report can carry it.
 */
export interface DecayingCount {
  /** The value at `atMs`. */
  value: number;
  /** When `value` was taken, in ms of the node's clock. */
  atMs: number;
}

/**
 * The value of a decaying count at `nowMs` (never grows with time; a time before `atMs` reads
 * the stored value).
 *
 * @param count The count.
 * @param nowMs The time.
 * @param halfLifeMs The half-life, more than 0.
 * @returns The decayed value.
 */
export function decayedValue(count: DecayingCount, nowMs: number, halfLifeMs: number): number {
  const elapsed = Math.max(0, nowMs - count.atMs);
  return count.value * 2 ** (-elapsed / halfLifeMs);
}

/**
 * Adds `amount` to a decaying count at `atMs` (decaying the stored value to then first).
 *
 * @param count The count, changed in place.
 * @param amount What to add.
 * @param atMs The time of the addition.
 * @param halfLifeMs The half-life.
 */
export function addDecaying(
  count: DecayingCount,
  amount: number,
  atMs: number,
  halfLifeMs: number,
): void {
  count.value = decayedValue(count, atMs, halfLifeMs) + amount;
  count.atMs = Math.max(count.atMs, atMs);
}
