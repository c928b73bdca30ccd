// Goal: the replication policy is a working hook: the default terms are the Kademlia ones (k
// replicas; a publisher renews to its personal class's ttl_s every republish_s; a holder passes on what is left
// every replicate_s); a policy that raises one record's replicas makes DhtNode store it at more
// holders, at put and at the next republish, while other records keep k; a policy that renews a
// record's lifetime keeps it alive after its publisher is gone; one upkeep pass pushes at most
// upkeepPushesMax records; a policy's terms out of range are replaced, not obeyed, and logged in
// one line per pass.
// Method: defaultTermsOf on hand-built records; seeded SimClusters of 80 and 30 nodes on a
// lossless network, counting the nodes whose store holds a value; a lone DhtNode driven by hand
// on a virtual clock for the per-pass bound.

import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import { maintenanceIntervalMs } from "../../src/core/limits.ts";
import type { Log } from "../../src/core/log.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { Prng } from "../../src/core/rng.ts";
import { contentKey } from "../../src/core/content_key.ts";
import { DhtNode } from "../../src/dht/node.ts";
import { upkeepPushesMax } from "../../src/dht/replication_plan.ts";
import {
  defaultReplicationPolicy,
  defaultTermsOf,
  type HeldRecord,
  type ReplicationPolicy,
} from "../../src/dht/replication_policy.ts";
import type { GetResult, PutResult } from "../../src/dht/types.ts";
import { replicaRanks } from "../../src/sim/checkers.ts";
import { runOne } from "../../src/sim/operations.ts";
import { MemoryValueStore } from "../../src/store/memory_value_store.ts";
import { at } from "../_address.ts";
import {
  joinedCluster,
  NodeHarness,
  randomId,
  RecordingTransport,
  settingsFor,
} from "./_helpers.ts";

const SEED = 0x7e9;
const HOUR = 3_600_000;
const text = (s: string) => new TextEncoder().encode(s);

/** A policy that gives the record under `key` twice k replicas (and its own extra terms). */
function hotPolicy(key: NodeId, extra: { renewS?: number } = {}): ReplicationPolicy {
  return {
    termsOf: (record, defaults) =>
      record.key.equals(key)
        ? { ...defaults, replicas: 2 * defaults.replicas, ...extra }
        : defaults,
  };
}

/**
 * Settings with hourly republishing and replication, and records that live `lifetimeS`: the
 * holders' cap (the normal class) and the publisher's renewal (the personal class) alike.
 */
function hourlySettings(lifetimeS: number) {
  const lifetime = { ttl_s: lifetimeS };
  return settingsFor("full", { replicate_s: 3600, republish_s: 3600 }, {}, {
    normal: lifetime,
    personal: lifetime,
  });
}

Deno.test("defaultTermsOf() gives a publisher republish_s and renewal, a holder replicate_s", () => {
  const { dht, store } = settingsFor("full");
  const settings = { ...dht, renew_ttl_s: store.personal.ttl_s };
  const held: HeldRecord = {
    key: randomId(new Prng(SEED)),
    kind: "published",
    expiresAtMs: 2 * HOUR,
    storedAtMs: 0,
    pushedAtMs: undefined,
  };
  assert.deepEqual(defaultTermsOf(held, settings), {
    replicas: settings.k,
    intervalMs: settings.republish_s * 1000,
    renewS: settings.renew_ttl_s,
  });
  const replica = { ...held, kind: "replica" } as const;
  assert.deepEqual(defaultTermsOf(replica, settings), {
    replicas: settings.k,
    intervalMs: settings.replicate_s * 1000,
    renewS: 0,
  });
  const defaults = defaultTermsOf(replica, settings);
  assert.equal(defaultReplicationPolicy.termsOf(replica, defaults), defaults);
});

Deno.test("DhtNode stores a record at more holders when the policy raises its replicas", () => {
  const simSeed = 7_101;
  const settings = hourlySettings(4 * 3600);
  const { k } = settings.dht;
  const { network, cluster, nodes } = joinedCluster(simSeed, 80, settings);
  // XOR ranks among the live nodes of the holders other than the publishers (5 and 9).
  const holders = (key: NodeId) => {
    const publishers = [5, 9].map((index) => cluster.nodeId(index));
    const live = cluster.liveIndexes().map((index) => cluster.nodeId(index))
      .sort((a, b) => key.compareDistance(a, b));
    return replicaRanks(cluster, key, network.clock.nowMs())
      .filter((rank) => !publishers.some((id) => id.equals(live[rank])));
  };
  const put = (index: number, value: string) =>
    runOne<PutResult>(network, (done) => cluster.put(index, text(value), done));
  // At put: the publisher's policy already knows the record is hot.
  const hotValue = "hot at put";
  nodes[5].setReplicationPolicy(hotPolicy(contentKey(text(hotValue))));
  const hot = put(5, hotValue);
  const cold = put(5, "cold");
  assert.ok(hot.ok && cold.ok, `simSeed ${simSeed}`);
  const hotRanks = holders(hot.key);
  const coldRanks = holders(cold.key);
  assert.ok(coldRanks.length <= k + 1, `cold: ${coldRanks.length} holders, simSeed ${simSeed}`);
  assert.ok(hotRanks.length >= 2 * k - 2, `hot: ${hotRanks.length} holders, simSeed ${simSeed}`);
  assert.ok(
    hotRanks.every((rank) => rank < 3 * k),
    `near the key: ${hotRanks}, simSeed ${simSeed}`,
  );
  // Later: a record becomes hot after its put; the next republish takes it to 2k holders.
  const late = put(9, "hot later");
  assert.ok(holders(late.key).length <= k + 1, `simSeed ${simSeed}`);
  nodes[9].setReplicationPolicy(hotPolicy(late.key));
  network.run({ untilMs: network.clock.nowMs() + 1.2 * HOUR });
  const lateRanks = holders(late.key);
  assert.ok(lateRanks.length >= 2 * k - 2, `hot later: ${lateRanks.length}, simSeed ${simSeed}`);
  assert.ok(holders(cold.key).length <= k + 1, `cold stays at k, simSeed ${simSeed}`);
});

Deno.test("DhtNode keeps a record alive past its publisher when the policy renews its copies", () => {
  const simSeed = 7_102;
  const settings = hourlySettings(2 * 3600);
  const { network, cluster, nodes } = joinedCluster(simSeed, 30, settings);
  const hot = runOne<PutResult>(network, (done) => cluster.put(5, text("hot, renewed"), done));
  const cold = runOne<PutResult>(network, (done) => cluster.put(5, text("cold, left"), done));
  assert.ok(hot.ok && cold.ok);
  // Every holder's policy (a popularity service would decide this) renews the hot record.
  const renewing = hotPolicy(hot.key, { renewS: settings.store.personal.ttl_s });
  for (const node of nodes) node.setReplicationPolicy(renewing);
  cluster.crash(5);
  network.run({ untilMs: network.clock.nowMs() + 4 * HOUR });
  const got = (key: NodeId) => runOne<GetResult>(network, (done) => cluster.get(0, key, done));
  assert.ok(got(hot.key).ok, `the renewed record lives on, simSeed ${simSeed}`);
  assert.equal(got(cold.key).value, undefined, `the other expires, simSeed ${simSeed}`);
});

Deno.test("DhtNode upkeep pushes at most upkeepPushesMax records a pass", () => {
  const settings = hourlySettings(4 * 3600);
  // A lone node: its lookups end at once, so only the plan bounds a pass.
  const h = new NodeHarness(SEED, settings);
  const count = 3 * upkeepPushesMax;
  const keys: NodeId[] = [];
  for (let i = 0; i < count; i++) keys.push(h.node.put(text(`value ${i}`), () => {}));
  const putExpiryMs = h.store.get(keys[0])!.expiresAtMs;
  // Past every value's republish time (jitter included), then one pass at a time.
  h.clock.advanceBy(1.2 * HOUR);
  const renewed = () => keys.filter((key) => h.store.get(key)!.expiresAtMs > putExpiryMs).length;
  h.node.tick();
  assert.equal(renewed(), upkeepPushesMax, `one pass, seed ${SEED}`);
  h.clock.advanceBy(maintenanceIntervalMs);
  h.node.tick();
  assert.equal(renewed(), 2 * upkeepPushesMax, `two passes, seed ${SEED}`);
  h.advance(2 * maintenanceIntervalMs);
  assert.equal(renewed(), count, `the rest on the next pass, seed ${SEED}`);
});

Deno.test("DhtNode brings a policy's terms out of range into range and logs one line a pass", () => {
  const settings = hourlySettings(4 * 3600);
  const warnings: string[] = [];
  const ignore = () => {};
  const log: Log = {
    trace: ignore,
    debug: ignore,
    info: ignore,
    warning: (message) => warnings.push(message),
    error: ignore,
    fatal: ignore,
  };
  const clock = new VirtualClock(1_735_689_600_000);
  const store = new MemoryValueStore({ clock, classes: settings.store });
  const prng = new Prng(SEED);
  const node = new DhtNode({
    nodeId: randomId(prng),
    address: at("10.0.0.1:7447"),
    clock,
    transport: new RecordingTransport(),
    store,
    rng: prng.fork(),
    settings,
    log,
    replication: {
      termsOf: (_record, defaults) => ({ ...defaults, replicas: NaN, renewS: -1, intervalMs: 0 }),
    },
  });
  const keys = [1, 2, 3].map((i) => node.put(text(`value ${i}`), () => {}));
  const putExpiryMs = store.get(keys[0])!.expiresAtMs;
  clock.advanceBy(maintenanceIntervalMs);
  node.tick();
  assert.equal(warnings.length, 1, `one line for the pass, seed ${SEED}: ${warnings}`);
  assert.match(warnings[0], /replication policy/);
  // The renewal was raised to 0 (and the interval to pushIntervalMsMin): nothing renewed.
  assert.ok(keys.every((key) => store.get(key)!.expiresAtMs === putExpiryMs), `seed ${SEED}`);
  node.setReplicationPolicy(defaultReplicationPolicy);
  clock.advanceBy(1.2 * HOUR);
  node.tick();
  assert.equal(warnings.length, 1, "nothing more to report once the policy is in range");
  assert.ok(keys.every((key) => store.get(key)!.expiresAtMs > putExpiryMs), "renewed by default");
});
