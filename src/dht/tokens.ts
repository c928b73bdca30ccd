/**
 * Write tokens: a STORE must echo a token this node handed to the same requester in a recent
 * FIND_NODE or FIND_VALUE reply. The requester is named by the node ID its transport proved (the
 * node passes `peer.toHex()`; an address only where nothing is authenticated, as in the
 * simulator), so a token is bound to the node ID and good on either transport. A token is a hash
 * of a local secret and that name; two secrets rotate, so a token lives one to two periods.
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
   * @param address The requester: its node ID in hex when authenticated, else its address.
   * @returns {@link tokenBytes} bytes.
   */
  issue(address: string): Uint8Array {
    return sha256(this.#current, address).subarray(0, tokenBytes);
  }

  /**
   * Whether a token was issued to `address` under the current or the previous secret.
   *
   * @param address The STORE's sender, named as for {@link issue}.
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
