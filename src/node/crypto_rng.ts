/**
 * Randomness for a production node from the operating system's CSPRNG: the injected `Rng` of the
 * DHT (transaction IDs, refresh targets) and the secure channel's random bytes (ephemeral keys,
 * session IDs). The simulator injects seeded generators instead.
 *
 * @module
 */

import { randomFillSync } from "node:crypto";
import type { Rng } from "../core/rng.ts";

/**
 * Words fetched from the OS at once: one system call per 256 words instead of one per word. The
 * DHT draws a few words per request.
 */
const bufferedWords = 256;

/** An {@link Rng} over the OS's CSPRNG. */
export class CryptoRng implements Rng {
  readonly #words = new Uint32Array(bufferedWords);
  #next = bufferedWords;

  /**
   * The next random word.
   *
   * @returns An integer in 0..2^32-1.
   */
  nextUint32(): number {
    if (this.#next === bufferedWords) {
      randomFillSync(this.#words);
      this.#next = 0;
    }
    return this.#words[this.#next++];
  }
}

/**
 * Fresh random bytes from the OS's CSPRNG.
 *
 * @param byteLength How many.
 * @returns The bytes.
 */
export function cryptoRandomBytes(byteLength: number): Uint8Array {
  return randomFillSync(new Uint8Array(byteLength));
}
