// Goal: report statistics are exact and deterministic: nearest-rank percentiles that are always
// one of the samples, rounding to fixed decimals, and null when nothing was measured.
// Method: small hand-checked examples.

import assert from "node:assert/strict";
import { fraction, percentile, percentiles, round } from "../../src/sim/stats.ts";

Deno.test("percentile() is the nearest-rank percentile", () => {
  const samples = [15, 20, 35, 40, 50];
  assert.equal(percentile(samples, 5), 15);
  assert.equal(percentile(samples, 30), 20);
  assert.equal(percentile(samples, 40), 20);
  assert.equal(percentile(samples, 50), 35);
  assert.equal(percentile(samples, 100), 50);
  assert.equal(percentile([7], 99), 7);
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(hundred, 99), 99);
  assert.equal(percentile(hundred, 50), 50);
  assert.deepEqual(samples, [15, 20, 35, 40, 50], "the samples are not reordered");
  assert.equal(percentile([], 50), null);
});

Deno.test("percentiles() rounds, and round() and fraction() are fixed-decimal", () => {
  assert.deepEqual(percentiles([1.26, 2.5, 3.75], 1), { p50: 2.5, p99: 3.8 });
  assert.deepEqual(percentiles([], 0), { p50: null, p99: null });
  assert.equal(round(2.345, 0), 2);
  assert.equal(round(1234.5678, 2), 1234.57);
  assert.equal(fraction(1, 3), 0.3333);
  assert.equal(fraction(0, 0), null);
});
