/** pooledMap: results in input order, never more calls in flight than allowed, failures surface. */

import assert from "node:assert/strict";
import { pooledMap } from "../../src/core/pool.ts";

Deno.test("pooledMap() keeps input order and the concurrency bound", async () => {
  let inFlight = 0;
  let peak = 0;
  const items = Array.from({ length: 25 }, (_, index) => index);
  const results = await pooledMap(items, 4, async (item) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((done) => setTimeout(done, (item * 7) % 5));
    inFlight--;
    return item * 2;
  });
  assert.deepEqual(results, items.map((item) => item * 2));
  assert.equal(peak, 4);
});

Deno.test("pooledMap() handles an empty list and rejects with the first failure", async () => {
  assert.deepEqual(await pooledMap([], 3, () => Promise.resolve(1)), []);
  await assert.rejects(
    pooledMap(
      [1, 2, 3],
      2,
      (item) => item === 2 ? Promise.reject(new Error("two")) : Promise.resolve(item),
    ),
    /two/,
  );
});

Deno.test("pooledMap() refuses a concurrency below 1", async () => {
  await assert.rejects(pooledMap([1], 0, () => Promise.resolve(1)), RangeError);
});
