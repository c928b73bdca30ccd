/**
 * Wall-clock time for production drivers.
 *
 * @module
 */

import type { Clock } from "./clock.ts";

/**
 * Wall-clock milliseconds since the epoch (persisted expiry times need calendar time), made
 * monotonic: when the system clock steps back (NTP, a suspended laptop) it repeats the last
 * reading instead, so a timeout never sees a negative duration.
 */
export class SystemClock implements Clock {
  #lastMs = 0;

  /**
   * Reads the clock.
   *
   * @returns The current time, never earlier than the previous reading.
   */
  nowMs(): number {
    const nowMs = Date.now();
    if (nowMs > this.#lastMs) this.#lastMs = nowMs;
    return this.#lastMs;
  }
}
