/**
 * Write tokens: a STORE must echo a token this node handed to the same address in a recent
 * FIND_NODE or FIND_VALUE reply. Anyone who can store has therefore received a datagram at the
 * address it claims, which defeats cheap writes from spoofed source addresses. A token is a hash
 * of a local secret and the address; two secrets rotate, so a token lives one to two periods.
 *
 * @module
 */

import { bytesEqual } from "../core/bytes.ts";
import { sha256 } from "../core/crypto.ts";
import { tokenBytes, tokenRotationMs } from "../core/limits.ts";
import { randomBytes, type Rng } from "../core/rng.ts";

/** The current and previous secrets of one node. */
export class WriteTokens {
  readonly #rng: Rng;
  #current: Uint8Array;
  #previous: Uint8Array;
  #rotatedMs: number;

  /**
   * Makes fresh secrets.
   *
   * @param rng The randomness for secrets.
   * @param nowMs The time.
   */
  constructor(rng: Rng, nowMs: number) {
    this.#rng = rng;
    this.#current = randomBytes(rng, new Uint8Array(16));
    this.#previous = randomBytes(rng, new Uint8Array(16));
    this.#rotatedMs = nowMs;
  }

  /**
   * The token for a requester.
   *
   * @param address Who asks: its node ID (hex) when authenticated, else its address key.
   * @returns {@link tokenBytes} bytes.
   */
  issue(address: string): Uint8Array {
    return sha256(this.#current, address).subarray(0, tokenBytes);
  }

  /**
   * Whether a token was issued to `address` under the current or the previous secret.
   *
   * @param address Who the STORE came from, as given to {@link issue}.
   * @param token The token it carries.
   * @returns `true` when valid.
   */
  verify(address: string, token: Uint8Array): boolean {
    return bytesEqual(token, sha256(this.#current, address).subarray(0, tokenBytes)) ||
      bytesEqual(token, sha256(this.#previous, address).subarray(0, tokenBytes));
  }

  /**
   * Rotates the secrets when a period has passed.
   *
   * @param nowMs The time.
   */
  rotate(nowMs: number): void {
    if (nowMs - this.#rotatedMs < tokenRotationMs) return;
    this.#previous = this.#current;
    this.#current = randomBytes(this.#rng, new Uint8Array(16));
    this.#rotatedMs = nowMs;
  }
}
