// Goal: simulated nodes run the discussion service end to end over the simulated DHT: threads,
// posts, replies and votes are acknowledged, reads answer, posts become visible on other nodes,
// requests are counted per operation, bad options are refused, and one seed gives a
// byte-identical report.
// Method: 30 nodes in virtual time, a few operations of each kind; every assertion message carries
// the simSeed, which the determinism test also prints, so a failure can be replayed with
// `deno task sim --workload discussion --nodes 30 --seed S`.

import assert from "node:assert/strict";
import {
  type DiscussionReport,
  type DiscussionScenarioOptions,
  resolveDiscussionOptions,
  runDiscussionScenario,
  zipfCumulative,
  zipfRank,
} from "../../src/sim/discussion_scenario.ts";
import { Prng } from "../../src/core/rng.ts";
import { nextTask } from "../../scripts/sim.ts";
import { defaultSettings } from "./_settings.ts";

/** A small workload: every kind of operation, a few of each. */
function smallRun(simSeed: number, heapBytes?: () => number): Promise<DiscussionReport> {
  const options: DiscussionScenarioOptions = {
    simSeed,
    settings: defaultSettings(),
    nodes: 30,
    authors: 5,
    threads: 3,
    posts: 8,
    votes: 4,
    reads: 4,
    operationsInflightMax: 4,
  };
  return runDiscussionScenario(options, { nextTask, heapBytes });
}

/** The report without the machine-dependent fields. */
function deterministicPart(report: DiscussionReport): string {
  const { wall_ms: _wall, memory: _memory, ...rest } = report;
  return JSON.stringify(rest);
}

Deno.test("the discussion workload publishes, reads and sees posts on other nodes", async () => {
  const simSeed = 7;
  const report = await smallRun(simSeed);
  const context = `simSeed ${simSeed}: ${JSON.stringify(report)}`;
  assert.equal(report.join.failed, 0, context);
  assert.equal(report.publish.count, 3 + 8 + 4, context);
  assert.equal(report.publish.success_rate, 1, context);
  assert.equal(report.read.count, 4, context);
  assert.equal(report.read.success_rate, 1, context);
  const { post, reply, thread, list } = report.operations;
  assert.equal(post.count + reply.count, 8, context);
  assert.equal(report.post_visible.posts, 8, context);
  assert.equal(report.post_visible.visible, 8, context);
  // Every publish asks at least the k closest to store its record: requests are counted.
  assert.ok(thread.rpcs.p50! >= report.settings.dht.k, context);
  assert.ok(report.rpcs_per_post.p50! >= report.settings.dht.k, context);
  assert.ok(list.rpcs.mean! > 0, context);
  // The node's own requests are part of what the operation cost.
  assert.ok(report.rpcs_per_post_own.mean! >= report.settings.dht.k, context);
  assert.ok(report.rpcs_per_post_own.mean! <= report.rpcs_per_post.mean!, context);
  assert.ok(thread.rpcs_own.p99! <= thread.rpcs.p99!, context);
  assert.ok(thread.latency_ms.p50! > 0, context);
  assert.equal(report.network.dropped_oversize, 0, `no datagram over 1232 bytes: ${context}`);
});

Deno.test("the discussion workload gives the same seed a byte-identical report", async () => {
  const simSeed = Math.floor(Math.random() * 2 ** 32);
  console.log(`discussion workload determinism: simSeed ${simSeed}`);
  let heap = 0;
  // The heap figures differ between runs by design; a varying hook proves they are left out.
  const first = await smallRun(simSeed, () => heap += 1_000);
  const second = await smallRun(simSeed, () => heap += 7_000);
  assert.equal(deterministicPart(first), deterministicPart(second), `simSeed ${simSeed}`);
});

Deno.test("resolveDiscussionOptions() refuses options out of range, naming them", () => {
  const settings = defaultSettings();
  assert.throws(
    () => resolveDiscussionOptions({ simSeed: 1, settings, nodes: 1 }),
    /nodes is 1, expected an integer ≥ 2/,
  );
  assert.throws(
    () => resolveDiscussionOptions({ simSeed: 1, settings, threads: 0 }),
    /threads is 0/,
  );
  assert.throws(
    () => resolveDiscussionOptions({ simSeed: 1, settings, replyFraction: 1.5 }),
    /replyFraction is 1.5, expected 0..1/,
  );
  assert.throws(
    () => resolveDiscussionOptions({ simSeed: 1.5, settings }),
    /simSeed is 1.5/,
  );
  assert.equal(resolveDiscussionOptions({ simSeed: 1, settings }).nodes, 100);
});

Deno.test("zipfRank() draws the first ranks most, every rank in range", () => {
  const cumulative = zipfCumulative(10, 1);
  const prng = new Prng(3);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) counts[zipfRank(cumulative, prng)]++;
  // Rank 1 weighs 1/H(10) ≈ 34%, rank 10 a tenth of that.
  assert.ok(counts[0] > 3_000 && counts[0] < 3_800, `rank 1 drawn ${counts[0]} times`);
  assert.ok(counts[0] > 5 * counts[9], `counts ${counts}`);
  assert.equal(counts.reduce((sum, count) => sum + count, 0), 10_000);
  assert.deepEqual(zipfCumulative(3, 0), [1, 2, 3]);
  assert.throws(() => zipfRank([], prng), /no ranks/);
});
