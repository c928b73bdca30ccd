// Goal: the DHT's observer hook reports the reads a holder serves (key, requester, address) and a
// push's holders; the popularity policy gives a record read by many more replicas (up to
// replicas_max, with a renewal) while an unread one keeps k; an untracked record keeps the
// default terms; a push that found holders lost brings the next push to the next upkeep pass.
// Method: a seeded 80-node SimCluster on a lossless network, every node running a
// PopularityService as its DHT observer and replication policy; the policy alone on a hand-fed
// tracker.

import assert from "node:assert/strict";
import { contentKey } from "../../../src/core/content_key.ts";
import type { NodeId } from "../../../src/core/node_id.ts";
import { VirtualClock } from "../../../src/core/clock.ts";
import { type HeldRecord, pushIntervalMsMin } from "../../../src/dht/mod.ts";
import type { GetResult, PutResult } from "../../../src/dht/types.ts";
import {
  PopularityReplicationPolicy,
  PopularityService,
  PopularityTracker,
  replicasForScore,
} from "../../../src/services/popularity/mod.ts";
import { replicaRanks } from "../../../src/sim/checkers.ts";
import { runOne } from "../../../src/sim/operations.ts";
import { Prng, randomInt } from "../../../src/core/rng.ts";
import { joinedCluster, settingsFor } from "../../dht/_helpers.ts";
import { popularitySettings } from "./_settings.ts";

const HOUR = 3_600_000;
const text = (s: string) => new TextEncoder().encode(s);
const lifetimes = { popular_ttl_s: 604800, normal_ttl_s: 86400 };

Deno.test("DhtNode's observer sees each read it serves with the requester, and each push's holders", () => {
  const { network, cluster, nodes } = joinedCluster(8_101, 30, settingsFor("full"));
  const served: { holder: number; key: NodeId; requester: NodeId }[] = [];
  const pushed: { key: NodeId; holders: number }[] = [];
  nodes.forEach((node, holder) =>
    node.setObserver({
      served: (read) => served.push({ holder, key: read.key, requester: read.requester }),
      pushed: (key, holders) => pushed.push({ key, holders }),
    })
  );
  const put = runOne<PutResult>(network, (done) => cluster.put(3, text("observed"), done));
  assert.ok(put.ok);
  assert.ok(pushed.some((p) => p.key.equals(put.key) && p.holders >= put.stored));
  // A reader that holds no copy asks the network.
  const reader = nodes.findIndex((_, index) => cluster.store(index).get(put.key) === undefined);
  assert.ok(reader >= 0);
  const got = runOne<GetResult>(network, (done) => cluster.get(reader, put.key, done));
  assert.ok(got.value !== undefined);
  const reads = served.filter((s) => s.key.equals(put.key));
  assert.ok(reads.length >= 1);
  assert.ok(reads.every((s) => s.requester.equals(cluster.nodeId(reader)) && s.holder !== reader));
});

Deno.test("PopularityService's policy gives a widely read record more replicas while an unread one keeps k", () => {
  const settings = settingsFor("full", { replicate_s: 3600, republish_s: 3600 });
  const { k } = settings.dht;
  const { network, cluster, nodes } = joinedCluster(8_202, 80, settings);
  const popularity = popularitySettings({ score_warm: 1, score_hot: 3, replicas_max: 2 * k });
  nodes.forEach((node, index) => {
    const service = new PopularityService({
      settings: popularity,
      clock: network.clock,
      salt: index * 7919,
      localRangesExempt: true,
      lifetimes,
      k,
    });
    node.setObserver(service.observer());
    node.setReplicationPolicy(service.policy());
  });
  const hot = runOne<PutResult>(network, (done) => cluster.put(5, text("read by many"), done));
  const cold = runOne<PutResult>(network, (done) => cluster.put(5, text("read by none"), done));
  assert.ok(hot.ok && cold.ok);
  for (let reader = 10; reader < 70; reader++) {
    const got = runOne<GetResult>(network, (done) => cluster.get(reader, hot.key, done));
    assert.ok(got.value !== undefined, `reader ${reader}`);
  }
  network.run({ untilMs: network.clock.nowMs() + 1.2 * HOUR });
  const nowMs = network.clock.nowMs();
  const hotHolders = replicaRanks(cluster, hot.key, nowMs).length;
  const coldHolders = replicaRanks(cluster, cold.key, nowMs).length;
  assert.ok(hotHolders >= 2 * k - 2, `hot: ${hotHolders} holders`);
  // k, the publisher, and at most one node that joined near the key meanwhile.
  assert.ok(coldHolders <= k + 2, `cold: ${coldHolders} holders`);
});

function record(key: NodeId): HeldRecord {
  return { key, kind: "replica", expiresAtMs: 10 * HOUR, storedAtMs: 0, pushedAtMs: 0 };
}

Deno.test("PopularityReplicationPolicy keeps the defaults for untracked records and scales replicas with the score", () => {
  const settings = popularitySettings({ score_warm: 8, score_hot: 20, replicas_max: 40 });
  const clock = new VirtualClock(HOUR);
  const tracker = new PopularityTracker({ settings, salt: 1 });
  const policy = new PopularityReplicationPolicy({ tracker, settings, clock, lifetimes });
  const defaults = { replicas: 20, intervalMs: HOUR, renewS: 0 };
  const key = contentKey(text("x"));
  assert.deepEqual(policy.termsOf(record(key), defaults), defaults);
  assert.equal(replicasForScore(0, 20, settings), 20);
  assert.equal(replicasForScore(14, 20, settings), 30);
  assert.equal(replicasForScore(1000, 20, settings), 40);
  assert.equal(replicasForScore(1000, 50, settings), 50, "never fewer than k");
});

Deno.test("PopularityReplicationPolicy pushes at the next pass a record whose last push found holders lost", () => {
  const settings = popularitySettings({ emergency_holders: 10 });
  const clock = new VirtualClock(HOUR);
  const tracker = new PopularityTracker({ settings, salt: 1 });
  const policy = new PopularityReplicationPolicy({ tracker, settings, clock, lifetimes });
  const defaults = { replicas: 20, intervalMs: HOUR, renewS: 0 };
  const key = contentKey(text("y"));
  tracker.observe({ key, requester: key, nowMs: HOUR });
  tracker.noteHolders(key, 20, HOUR);
  assert.equal(policy.termsOf(record(key), defaults).intervalMs, HOUR);
  tracker.noteHolders(key, 6, HOUR);
  assert.equal(policy.termsOf(record(key), defaults).intervalMs, pushIntervalMsMin);
  tracker.noteHolders(key, 6, HOUR);
  assert.equal(policy.termsOf(record(key), defaults).intervalMs, HOUR, "once per loss");
});

Deno.test("PopularityReplicationPolicy takes at least the replica count other holders pushed at", () => {
  const settings = popularitySettings({ score_warm: 8, score_hot: 20, replicas_max: 40 });
  const clock = new VirtualClock(HOUR);
  const tracker = new PopularityTracker({ settings, salt: 1 });
  const policy = new PopularityReplicationPolicy({ tracker, settings, clock, lifetimes });
  const defaults = { replicas: 20, intervalMs: HOUR, renewS: 0 };
  const key = contentKey(text("hinted"));
  // Untracked here (this holder served none of its reads): the hint alone sets the count.
  const untracked = policy.termsOf({ ...record(key), replicasHint: 34 }, defaults);
  assert.equal(untracked.replicas, 34);
  assert.equal(untracked.spreadPrefixes, true);
  assert.equal(
    policy.termsOf({ ...record(key), replicasHint: 500 }, defaults).replicas,
    40,
    "capped",
  );
  assert.deepEqual(policy.termsOf({ ...record(key), replicasHint: 12 }, defaults), defaults);
  // Tracked with a low score: the larger of its own count and the hint.
  tracker.observe({ key, requester: key, nowMs: HOUR });
  const own = policy.termsOf(record(key), defaults).replicas;
  assert.equal(own, 20);
  assert.equal(policy.termsOf({ ...record(key), replicasHint: 31 }, defaults).replicas, 31);
});

Deno.test("holders of a hot record push it at its count after the holder that counted it crashed", () => {
  const settings = settingsFor("full", { replicate_s: 3600, republish_s: 3600 });
  const { k } = settings.dht;
  const { network, cluster, nodes } = joinedCluster(8_303, 90, settings);
  const value = text("hot at one holder only");
  const key = contentKey(value);
  // Only node 4's policy knows the record is hot (it served the reads); the others see nothing.
  const seen: number[] = [];
  nodes.forEach((node, index) =>
    node.setReplicationPolicy({
      termsOf: (held, defaults) => {
        if (index === 4 && held.key.equals(key)) return { ...defaults, replicas: 2 * k };
        if (held.key.equals(key) && held.replicasHint !== undefined) seen.push(held.replicasHint);
        return held.key.equals(key) && held.replicasHint !== undefined
          ? { ...defaults, replicas: held.replicasHint }
          : defaults;
      },
    })
  );
  const put = runOne<PutResult>(network, (done) => cluster.put(4, value, done));
  assert.ok(put.ok);
  assert.ok(seen.includes(2 * k), `holders heard the count: ${seen.slice(0, 5)}`);
  // Node 4 and a third of the others crash; within one replication period the survivors that
  // heard the count bring the record back to 2k holders.
  cluster.crash(4);
  const prng = new Prng(3);
  for (let crashed = 0; crashed < 27;) {
    const index = randomInt(prng, 90);
    if (index === 4 || !cluster.liveIndexes().includes(index)) continue;
    cluster.crash(index);
    crashed++;
  }
  network.run({ untilMs: network.clock.nowMs() + 1.1 * HOUR });
  const holders = replicaRanks(cluster, key, network.clock.nowMs()).length;
  assert.ok(holders >= 2 * k - 2, `${holders} holders after the crash, want ~${2 * k}`);
});

Deno.test("a pushed replica count is not echoed by the holders that took it: a cooled record goes back to k", () => {
  const settings = settingsFor("full", { replicate_s: 3600, republish_s: 3600 });
  const { k } = settings.dht;
  const { network, cluster, nodes } = joinedCluster(8_305, 50, settings);
  const value = text("hot, then cold");
  const key = contentKey(value);
  let hot = true;
  const seen: { atMs: number; hint: number }[] = [];
  nodes.forEach((node, index) =>
    node.setReplicationPolicy({
      termsOf: (held, defaults) => {
        if (!held.key.equals(key)) return defaults;
        if (index === 4) return hot ? { ...defaults, replicas: 2 * k } : defaults;
        if (held.replicasHint !== undefined) {
          seen.push({ atMs: network.clock.nowMs(), hint: held.replicasHint });
          return { ...defaults, replicas: held.replicasHint };
        }
        return defaults;
      },
    })
  );
  assert.ok(runOne<PutResult>(network, (done) => cluster.put(4, value, done)).ok);
  assert.ok(seen.some((s) => s.hint === 2 * k), "the holders heard the count");
  hot = false;
  const cooledMs = network.clock.nowMs();
  network.run({ untilMs: cooledMs + 4 * HOUR });
  const late = seen.filter((s) => s.atMs > cooledMs + 2.2 * HOUR);
  assert.deepEqual(late, [], "no holder still pushes at the old count two periods later");
});
