// Goal: the sketches count what they claim within their error, never count a repeat twice, merge
// to the union, and refuse a wrong size in one line; decaying counts halve per half-life.
// Method: seeded hashes of distinct and repeated inputs; hand-built counts.

import assert from "node:assert/strict";
import {
  addDecaying,
  decayedValue,
  HyperLogLog,
  keyedHash32,
} from "../../../src/services/popularity/mod.ts";

function idBytes(i: number): Uint8Array {
  const bytes = new Uint8Array(20);
  new DataView(bytes.buffer).setUint32(0, i);
  return bytes;
}

Deno.test("HyperLogLog.estimate() is within 15% for 10 to 100,000 distinct values at 256 registers", () => {
  for (const count of [10, 100, 1000, 10_000, 100_000]) {
    const hll = new HyperLogLog(256);
    for (let i = 0; i < count; i++) hll.add(keyedHash32(7, idBytes(i)));
    const error = Math.abs(hll.estimate() - count) / count;
    assert.ok(error < 0.15, `${count}: estimate ${hll.estimate()}`);
  }
});

Deno.test("HyperLogLog.add() of the same value a thousand times counts it once", () => {
  const hll = new HyperLogLog(64);
  for (let i = 0; i < 1000; i++) hll.add(keyedHash32(1, idBytes(42)));
  assert.ok(Math.abs(hll.estimate() - 1) < 0.1);
  assert.equal(new HyperLogLog(64).estimate(), 0);
});

Deno.test("HyperLogLog.merge() counts the union: a value in both counts once", () => {
  const a = new HyperLogLog(256);
  const b = new HyperLogLog(256);
  for (let i = 0; i < 2000; i++) a.add(keyedHash32(3, idBytes(i)));
  for (let i = 1000; i < 3000; i++) b.add(keyedHash32(3, idBytes(i)));
  a.merge(b.registers);
  assert.ok(Math.abs(a.estimate() - 3000) / 3000 < 0.15, `union ${a.estimate()}`);
});

Deno.test("HyperLogLog refuses a size that is no power of two or out of range, and a merge of another size", () => {
  for (const size of [0, 8, 100, 2048, 1.5]) {
    assert.throws(() => new HyperLogLog(size), RangeError);
  }
  assert.throws(() => new HyperLogLog(64, new Uint8Array(32)), RangeError);
  assert.throws(() => new HyperLogLog(64).merge(new Uint8Array(128)), /sizes 128 and 64 differ/);
});

Deno.test("keyedHash32() depends on the salt, so another node's registers cannot be aimed at", () => {
  assert.notEqual(keyedHash32(1, idBytes(5)), keyedHash32(2, idBytes(5)));
  assert.equal(keyedHash32(1, idBytes(5)), keyedHash32(1, idBytes(5)));
});

Deno.test("decayedValue() halves per half-life and addDecaying() decays before it adds", () => {
  const count = { value: 8, atMs: 0 };
  assert.equal(decayedValue(count, 1000, 1000), 4);
  assert.equal(decayedValue(count, -5, 1000), 8);
  addDecaying(count, 1, 2000, 1000);
  assert.equal(count.value, 3);
  assert.equal(count.atMs, 2000);
});
