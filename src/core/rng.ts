/**
 * Randomness as the protocol core sees it: an injected source, so one seed gives one run. The
 * simulator uses {@link Prng}; a production node wraps the operating system's CSPRNG, since write
 * tokens and transaction IDs must not be predictable by peers.
 *
 * @module
 */

import { assert } from "./assert.ts";

/** A source of random 32-bit words. */
export interface Rng {
  /**
   * The next random word.
   *
   * @returns An integer in 0..2^32-1.
   */
  nextUint32(): number;
}

/**
 * A uniform float in [0, 1) with 32 bits of randomness.
 *
 * @param rng The source.
 * @returns The float.
 */
export function randomFloat(rng: Rng): number {
  return rng.nextUint32() / 4294967296;
}

/**
 * A uniform integer in [0, `bound`).
 *
 * @param rng The source.
 * @param bound An integer from 1 to 2^32.
 * @returns The integer.
 */
export function randomInt(rng: Rng, bound: number): number {
  assert(Number.isInteger(bound) && bound >= 1 && bound <= 4294967296, `bad bound ${bound}`);
  return Math.floor(randomFloat(rng) * bound);
}

/**
 * Fills `bytes` with random bytes.
 *
 * @param rng The source.
 * @param bytes The array to fill.
 * @returns The same array.
 */
export function randomBytes(rng: Rng, bytes: Uint8Array): Uint8Array {
  for (let i = 0; i < bytes.length; i += 4) {
    let word = rng.nextUint32();
    for (let j = i; j < Math.min(i + 4, bytes.length); j++) {
      bytes[j] = word & 0xff;
      word >>>= 8;
    }
  }
  return bytes;
}

/**
 * A small, fast, seeded generator (SFC32, seeded through SplitMix32): deterministic, for the
 * simulator and tests. Not for secrets.
 *
 * @example
 * ```ts
 * import { Prng } from "./rng.ts";
 * const a = new Prng(42), b = new Prng(42);
 * if (a.nextUint32() !== b.nextUint32()) throw new Error("one seed, one sequence");
 * ```
 */
export class Prng implements Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /**
   * Makes a generator whose whole sequence follows from `seed`.
   *
   * @param seed Any 32-bit integer (larger numbers are reduced modulo 2^32).
   */
  constructor(seed: number) {
    let state = seed >>> 0;
    const splitMix = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = splitMix();
    this.#b = splitMix();
    this.#c = splitMix();
    this.#d = splitMix();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /**
   * The next random word.
   *
   * @returns An integer in 0..2^32-1.
   */
  nextUint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /**
   * A new generator seeded from this one, for an independent stream (one per simulated node).
   *
   * @returns The new generator.
   */
  fork(): Prng {
    return new Prng(this.nextUint32());
  }
}
