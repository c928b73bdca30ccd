/**
 * Summaries of simulator measurements: nearest-rank percentiles and rounding, both exact and
 * deterministic so one seed gives a byte-identical report.
 *
 * @module
 */

import { assert } from "../core/assert.ts";

/** The 50th and 99th percentile of a measurement; `null` when nothing was measured. */
export interface Percentiles {
  /** Median (nearest rank). */
  p50: number | null;
  /** 99th percentile (nearest rank). */
  p99: number | null;
}

/**
 * The nearest-rank percentile: the smallest sample with at least `percent`% of the samples at or
 * below it. Always one of the samples, never an interpolation.
 *
 * @example
 * ```ts
 * import { percentile } from "./stats.ts";
 * if (percentile([5, 1, 3, 2, 4], 50) !== 3) throw new Error("wrong median");
 * ```
 *
 * @param samples The samples, in any order (not changed).
 * @param percent From 0 (exclusive) to 100.
 * @returns The percentile, or `null` when there are no samples.
 */
export function percentile(samples: readonly number[], percent: number): number | null {
  assert(percent > 0 && percent <= 100, `bad percentile ${percent}`);
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((percent / 100) * sorted.length);
  return sorted[rank - 1];
}

/**
 * The median and 99th percentile, rounded.
 *
 * @param samples The samples.
 * @param digits Decimal places kept.
 * @returns The percentiles.
 */
export function percentiles(samples: readonly number[], digits: number): Percentiles {
  const p50 = percentile(samples, 50);
  const p99 = percentile(samples, 99);
  return {
    p50: p50 === null ? null : round(p50, digits),
    p99: p99 === null ? null : round(p99, digits),
  };
}

/**
 * `value` rounded to `digits` decimal places (half away from zero for positive values).
 *
 * @param value A finite number.
 * @param digits 0 to 6.
 * @returns The rounded number.
 */
export function round(value: number, digits: number): number {
  assert(Number.isFinite(value), `cannot round ${value}`);
  assert(Number.isInteger(digits) && digits >= 0 && digits <= 6, `bad digits ${digits}`);
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * `part / whole`, rounded to 4 decimal places.
 *
 * @param part The count of successes.
 * @param whole The count of attempts.
 * @returns The fraction, or `null` when `whole` is 0.
 */
export function fraction(part: number, whole: number): number | null {
  return whole === 0 ? null : round(part / whole, 4);
}
