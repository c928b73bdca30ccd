/**
 * Time as the protocol core sees it: a number of milliseconds handed in by a driver. The core
 * never reads a clock itself, so production (wall time) and the simulator (virtual time) run the
 * same code.
 *
 * @module
 */

import { assert } from "./assert.ts";

/** A source of the current time in milliseconds since the Unix epoch. Never goes backwards. */
export interface Clock {
  /**
   * Reads the clock.
   *
   * @returns The current time in milliseconds since 1970-01-01T00:00:00Z.
   */
  nowMs(): number;
}

/**
 * A clock that moves only when told to, for the simulator and tests: it jumps from event to event
 * instead of sleeping.
 *
 * @example
 * ```ts
 * import { VirtualClock } from "./clock.ts";
 * const clock = new VirtualClock(1_000);
 * clock.advanceBy(500);
 * if (clock.nowMs() !== 1_500) throw new Error("clock did not advance");
 * ```
 */
export class VirtualClock implements Clock {
  #nowMs: number;

  /**
   * Makes a clock standing at `startMs`.
   *
   * @param startMs The time the clock shows first.
   */
  constructor(startMs = 0) {
    assert(Number.isFinite(startMs), "the start time must be finite");
    this.#nowMs = startMs;
  }

  /**
   * Reads the clock.
   *
   * @returns The current virtual time.
   */
  nowMs(): number {
    return this.#nowMs;
  }

  /**
   * Moves the clock forward to `timeMs`.
   *
   * @param timeMs A time no earlier than now.
   * @throws {AssertionError} When `timeMs` lies in the past: virtual time never runs backwards.
   */
  advanceTo(timeMs: number): void {
    assert(Number.isFinite(timeMs), "the target time must be finite");
    assert(timeMs >= this.#nowMs, `cannot move the clock back from ${this.#nowMs} to ${timeMs}`);
    this.#nowMs = timeMs;
  }

  /**
   * Moves the clock forward by `durationMs`.
   *
   * @param durationMs A non-negative duration.
   */
  advanceBy(durationMs: number): void {
    assert(durationMs >= 0, `cannot advance the clock by a negative ${durationMs} ms`);
    this.advanceTo(this.#nowMs + durationMs);
  }
}
