/**
 * A histogram with fixed bucket bounds, for latencies the node reports as metrics: a count per
 * bucket, the sum and the count of what was observed. Pure (no clock, no I/O), so the DHT core
 * can keep one; its snapshot is what the metrics renderer turns into Prometheus `_bucket`,
 * `_sum` and `_count` samples.
 *
 * @module
 */

import { assert } from "./assert.ts";

/**
 * Most bucket bounds a histogram takes. Each bound is one Prometheus sample per scrape; 32 covers
 * any latency range at a factor of two per bucket and keeps an answer small.
 */
export const histogramBoundsMax = 32;

/** What a {@link Histogram} holds, as plain numbers. */
export interface HistogramSnapshot {
  /** The upper bounds of the buckets, ascending (the last, +Inf, is implied). */
  bounds: number[];
  /**
   * How many observations fell at or below each bound (cumulative, as Prometheus counts them);
   * one more entry than `bounds`, for +Inf, which equals `count`.
   */
  cumulative: number[];
  /** The sum of every observation. */
  sum: number;
  /** How many observations. */
  count: number;
}

/**
 * Counts observations into buckets.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const latency = new Histogram([10, 100, 1000]);
 * latency.observe(5);
 * latency.observe(50);
 * latency.observe(5000);
 * const { cumulative, count } = latency.snapshot();
 * if (cumulative.join() !== "1,2,2,3" || count !== 3) throw new Error("wrong buckets");
 * ```
 */
export class Histogram {
  readonly #bounds: readonly number[];
  /** Per bucket (not cumulative), one more than the bounds for +Inf. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /**
   * Makes an empty histogram.
   *
   * @param bounds The buckets' upper bounds: finite, ascending, 1 to {@link histogramBoundsMax}.
   * @throws {RangeError} When the bounds are not that.
   */
  constructor(bounds: readonly number[]) {
    if (bounds.length < 1 || bounds.length > histogramBoundsMax) {
      throw new RangeError(
        `Cannot make a histogram: ${bounds.length} bounds, expected 1 to ${histogramBoundsMax}`,
      );
    }
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        throw new RangeError("Cannot make a histogram: bounds must be finite and ascending");
      }
    }
    this.#bounds = [...bounds];
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  /**
   * Counts one observation. A value that is not a finite number is ignored (a clock step can
   * make a duration negative; it is clamped to 0).
   *
   * @param value The value, in the unit of the bounds.
   */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const clamped = Math.max(0, value);
    let index = this.#bounds.findIndex((bound) => clamped <= bound);
    if (index === -1) index = this.#bounds.length;
    this.#counts[index]++;
    this.#sum += clamped;
    this.#count++;
  }

  /**
   * A copy of the counts.
   *
   * @returns Bounds, cumulative counts, sum and count.
   */
  snapshot(): HistogramSnapshot {
    const cumulative: number[] = [];
    let running = 0;
    for (const count of this.#counts) {
      running += count;
      cumulative.push(running);
    }
    assert(running === this.#count, "the buckets must add up to the count");
    return { bounds: [...this.#bounds], cumulative, sum: this.#sum, count: this.#count };
  }
}
