/**
 * The DHT's health figures for the metrics: lookups timed as they finish, and pushes that leave
 * a record with fewer holders than its target counted, in a simulated network (the simulator's
 * clock, so durations are exact) and in the bookkeeping itself (a record that reaches its target
 * again, or is no longer held, stops counting; the set of short records has a ceiling).
 */

import assert from "node:assert/strict";
import { StoreError } from "../../src/core/errors.ts";
import { DhtHealth, shortKeysMax } from "../../src/dht/health.ts";
import type { PutResult } from "../../src/dht/types.ts";
import { runOne } from "../../src/sim/operations.ts";
import { joinedCluster, settingsFor } from "./_helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("DhtHealth counts a record short until a push reaches its target or it is forgotten", () => {
  const health = new DhtHealth();
  health.pushed("aa", 2, 5);
  health.pushed("bb", 5, 5);
  health.pushed("cc", 0, 3);
  assert.deepEqual(
    { ...health.snapshot(), lookupDurationMs: undefined },
    {
      lookupDurationMs: undefined,
      lookupsSucceeded: 0,
      lookupsFailed: 0,
      pushes: 3,
      pushesShort: 2,
      recordsShort: 2,
    },
  );
  health.pushed("aa", 5, 5);
  health.forget("cc");
  health.forget("never-pushed");
  const after = health.snapshot();
  assert.equal(after.recordsShort, 0);
  assert.equal(after.pushesShort, 2, "past pushes stay counted");
});

Deno.test("DhtHealth keeps at most shortKeysMax short records, forgetting the oldest", () => {
  const health = new DhtHealth();
  for (let i = 0; i <= shortKeysMax; i++) health.pushed(`key-${i}`, 0, 1);
  assert.equal(health.snapshot().recordsShort, shortKeysMax);
  // The first was dropped for the last: reaching the target now changes nothing for it.
  health.pushed("key-0", 1, 1);
  assert.equal(health.snapshot().recordsShort, shortKeysMax);
  health.pushed(`key-${shortKeysMax}`, 1, 1);
  assert.equal(health.snapshot().recordsShort, shortKeysMax - 1);
});

Deno.test("DhtHealth times lookups in the histogram and counts their outcome", () => {
  const health = new DhtHealth();
  health.lookupFinished(3, true);
  health.lookupFinished(40, false);
  const { lookupDurationMs, lookupsSucceeded, lookupsFailed } = health.snapshot();
  assert.equal(lookupDurationMs.count, 2);
  assert.equal(lookupDurationMs.sum, 43);
  assert.equal(lookupDurationMs.cumulative[0], 1, "3 ms is in the first (5 ms) bucket");
  assert.deepEqual([lookupsSucceeded, lookupsFailed], [1, 1]);
});

Deno.test("a put whose peers all refuse is a short push; a put in a healthy network is not", () => {
  const simSeed = 7_201;
  {
    const { network, cluster, nodes } = joinedCluster(simSeed, 6, settingsFor("full"));
    for (const index of [1, 2, 3, 4, 5]) {
      cluster.store(index).put = (_entry, done) =>
        done(new StoreError("STORE_FULL", "Cannot store: full"));
    }
    const lookupsBefore = nodes[0].health().lookupDurationMs.count;
    const put = runOne<PutResult>(network, (done) => cluster.put(0, text("refused"), done));
    assert.equal(put.holders, 1, `simSeed ${simSeed}`);
    const health = nodes[0].health();
    assert.equal(health.pushes, 1);
    assert.equal(health.pushesShort, 1, "1 holder of 6 possible");
    assert.equal(health.recordsShort, 1);
    assert.ok(health.lookupDurationMs.count > lookupsBefore, "the put's lookup was timed");
    assert.ok(health.lookupDurationMs.sum > 0, "simulated latency is 10 to 100 ms per hop");
  }
  {
    const { network, cluster, nodes } = joinedCluster(simSeed, 8, settingsFor("full"));
    const put = runOne<PutResult>(network, (done) => cluster.put(2, text("kept"), done));
    assert.equal(put.holders, 8, `simSeed ${simSeed}`);
    const health = nodes[2].health();
    assert.equal(health.pushes, 1);
    assert.equal(health.pushesShort, 0);
    assert.equal(health.recordsShort, 0);
    assert.equal(
      health.lookupsSucceeded + health.lookupsFailed,
      health.lookupDurationMs.count,
      "every finished lookup is timed once",
    );
  }
});
