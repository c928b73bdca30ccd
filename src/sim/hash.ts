/**
 * Small, fast, non-cryptographic hashing for the simulator: deriving independent seeds from one
 * `simSeed`, and properties of a link (its base latency) that must be stable for a whole run
 * without storing one entry per pair of nodes.
 *
 * @module
 */

/**
 * Hashes `text` together with `seed` to a 32-bit word: FNV-1a over the UTF-16 code units, then
 * MurmurHash3's finaliser so that nearby inputs (`127.0.0.1` / `127.0.0.2`) land far apart.
 *
 * @example
 * ```ts
 * import { hashText } from "./hash.ts";
 * if (hashText(1, "a") !== hashText(1, "a")) throw new Error("one input, one hash");
 * ```
 *
 * @param seed Any 32-bit integer (larger numbers are reduced modulo 2^32).
 * @param text The text to hash.
 * @returns An integer in 0..2^32-1.
 */
export function hashText(seed: number, text: string): number {
  let hash = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return finalize(hash);
}

/**
 * A seed for one part of a simulation (`"network"`, `"cluster"`, `"scenario"`), so each part draws
 * from its own stream and adding draws to one part does not shift the others.
 *
 * @param simSeed The run's seed.
 * @param label Names the part.
 * @returns A 32-bit seed.
 */
export function deriveSeed(simSeed: number, label: string): number {
  return hashText(simSeed, `rhizome/sim/${label}`);
}

/** MurmurHash3's 32-bit finaliser: every input bit affects every output bit. */
function finalize(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
