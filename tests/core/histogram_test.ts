/**
 * The histogram behind the lookup latency metric: observations land in the first bucket whose
 * bound holds them, counts come out cumulative with +Inf equal to the count, odd values are
 * clamped or ignored, and bad bounds are refused with one line.
 */

import assert from "node:assert/strict";
import { Histogram, histogramBoundsMax } from "../../src/core/histogram.ts";

Deno.test("Histogram.snapshot() counts cumulatively, a value on a bound in that bucket", () => {
  const histogram = new Histogram([10, 100]);
  for (const value of [0, 10, 10.5, 100, 101, 5000]) histogram.observe(value);
  const snapshot = histogram.snapshot();
  assert.deepEqual(snapshot.bounds, [10, 100]);
  assert.deepEqual(snapshot.cumulative, [2, 4, 6]);
  assert.equal(snapshot.count, 6);
  assert.equal(snapshot.sum, 0 + 10 + 10.5 + 100 + 101 + 5000);
});

Deno.test("Histogram.observe() clamps a negative duration to 0 and ignores NaN and Infinity", () => {
  const histogram = new Histogram([1]);
  histogram.observe(-5);
  histogram.observe(Number.NaN);
  histogram.observe(Infinity);
  assert.deepEqual(histogram.snapshot(), { bounds: [1], cumulative: [1, 1], sum: 0, count: 1 });
});

Deno.test("new Histogram() refuses no bounds, too many, unsorted or infinite ones", () => {
  assert.throws(() => new Histogram([]), RangeError);
  const many = Array.from({ length: histogramBoundsMax + 1 }, (_, i) => i + 1);
  assert.throws(() => new Histogram(many), /expected 1 to 32/);
  assert.throws(() => new Histogram([5, 5]), /ascending/);
  assert.throws(() => new Histogram([1, Infinity]), /finite/);
  // The caller's array is copied: changing it later changes nothing.
  const bounds = [1, 2];
  const histogram = new Histogram(bounds);
  bounds[0] = 99;
  assert.deepEqual(histogram.snapshot().bounds, [1, 2]);
});
