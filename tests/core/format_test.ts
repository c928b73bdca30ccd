/** Sizes and times written for people: binary units, and ISO 8601 without `Date`. */

import assert from "node:assert/strict";
import fc from "fast-check";
import { formatBytes, isoTimeOf } from "../../src/core/format.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

Deno.test("formatBytes() writes three significant digits in binary units", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [1023, "1023 B"],
    [1536, "1.5 KiB"],
    [64 * MiB, "64 MiB"],
    [85_561_442_304, "79.7 GiB"],
    [300 * GiB, "300 GiB"],
    [2 ** 40, "1 TiB"],
  ];
  for (const [bytes, text] of cases) assert.equal(formatBytes(bytes), text);
});

Deno.test("isoTimeOf() writes what Date.prototype.toISOString writes", () => {
  for (const ms of [0, 951_782_400_000, 4_102_444_799_999, 1_796_688_000_123]) {
    assert.equal(isoTimeOf(ms), new Date(ms).toISOString());
  }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => {
      assert.equal(isoTimeOf(ms), new Date(ms).toISOString());
    }),
  );
});
