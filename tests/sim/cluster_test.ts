// Goal: the cluster drives nodes as the sans-I/O contract asks (a node is ticked no later than the
// time it asked for, and rescheduled after every call into it), builds deterministic, distinct,
// loopback identities, and handles churn: join, leave (graceful) and crash.
// Method: a fake node (tests/sim/_fake_node.ts) that pings its seeds and keeps a heartbeat, so
// these tests check the driver alone; the real DhtNode is exercised by scenario_test.ts.

import assert from "node:assert/strict";
import { AssertionError } from "../../src/core/assert.ts";
import { simAddress, SimCluster } from "../../src/sim/cluster.ts";
import { SimNetwork } from "../../src/sim/network.ts";
import { FAKE_BOOTSTRAP_TIMEOUT_MS, FAKE_HEARTBEAT_MS, FakeNode } from "./_fake_node.ts";
import { defaultSettings } from "./_settings.ts";
import { at } from "../_address.ts";

function setUp(simSeed: number, count: number) {
  const network = new SimNetwork({ simSeed, latencyMsMin: 10, latencyMsMax: 50 });
  const fakes: FakeNode[] = [];
  const cluster = new SimCluster(network, {
    simSeed,
    settings: defaultSettings(),
    createNode: (options) => {
      const fake = new FakeNode(options);
      fakes.push(fake);
      return fake;
    },
  });
  for (let i = 0; i < count; i++) cluster.add();
  return { network, cluster, fakes };
}

Deno.test("simAddress() gives distinct loopback addresses, skipping .0 and .255 host bytes", () => {
  assert.deepEqual(simAddress(0), at("127.0.0.1:7447"));
  assert.deepEqual(simAddress(253), at("127.0.0.254:7447"));
  assert.deepEqual(simAddress(254), at("127.0.1.1:7447"));
  const seen = new Set<string>();
  for (let index = 0; index < 70_000; index++) {
    const address = simAddress(index);
    assert.match(address.key, /^127\.\d+\.\d+\.([1-9]|[1-9]\d|1\d\d|2[0-4]\d|25[0-4]):7447$/);
    seen.add(address.key);
  }
  assert.equal(seen.size, 70_000);
  assert.throws(() => simAddress(-1), AssertionError);
});

Deno.test("SimCluster gives the same seed the same identities, another seed others", () => {
  const ids = (simSeed: number) => {
    const { cluster } = setUp(simSeed, 20);
    return Array.from({ length: 20 }, (_, index) => cluster.nodeId(index).toHex());
  };
  assert.deepEqual(ids(1), ids(1), "simSeed 1");
  assert.equal(new Set(ids(1)).size, 20, "distinct IDs, simSeed 1");
  assert.notDeepEqual(ids(1), ids(2), "simSeeds 1 and 2");
});

Deno.test("SimCluster.join() bootstraps through seeds and tracks the node's state", () => {
  const simSeed = 3;
  const { network, cluster, fakes } = setUp(simSeed, 3);
  const results: boolean[] = [];
  cluster.join(0, [], (result) => results.push(result.ok));
  assert.equal(cluster.state(0), "joined", "a founder joins at once");
  cluster.join(1, [0], (result) => results.push(result.ok));
  assert.equal(cluster.state(1), "joining");
  network.run({ until: () => results.length === 2 });
  assert.deepEqual(results, [true, true], `simSeed ${simSeed}`);
  assert.equal(cluster.state(1), "joined");
  assert.ok(fakes[0].contacts.has(cluster.address(1).key));
  assert.equal(cluster.joinedCount, 2);
  assert.throws(() => cluster.join(1, [0]), AssertionError, "a joined node cannot join again");
  assert.equal(cluster.state(2), "idle");
});

Deno.test("SimCluster ticks a node when it asked, never later, and after calls reschedule it", () => {
  const simSeed = 4;
  const { network, cluster, fakes } = setUp(simSeed, 3);
  const startMs = network.clock.nowMs();
  cluster.join(0, []);
  cluster.crash(2);
  // Node 1 joins through a crashed node: only its bootstrap timeout, set by this call, wakes it.
  let failedAtMs = 0;
  cluster.join(1, [2], () => failedAtMs = network.clock.nowMs());
  network.run({ untilMs: startMs + 3 * FAKE_HEARTBEAT_MS });
  assert.equal(failedAtMs, startMs + FAKE_BOOTSTRAP_TIMEOUT_MS, `simSeed ${simSeed}`);
  assert.equal(cluster.state(1), "failed");
  for (const fake of fakes.slice(0, 2)) {
    for (const tick of fake.ticks) {
      assert.ok(tick.nowMs <= tick.wantedMs, `late tick ${JSON.stringify(tick)}, simSeed 4`);
    }
    const heartbeats = fake.ticks.filter((tick) => tick.nowMs === tick.wantedMs)
      .map((tick) => tick.nowMs - startMs);
    assert.deepEqual(
      heartbeats.filter((ms) => ms % FAKE_HEARTBEAT_MS === 0),
      [FAKE_HEARTBEAT_MS, 2 * FAKE_HEARTBEAT_MS, 3 * FAKE_HEARTBEAT_MS],
    );
  }
  assert.equal(fakes[2].ticks.length, 0, "a crashed node is never ticked");
  assert.equal(cluster.counters().ticks, fakes[0].ticks.length + fakes[1].ticks.length);
});

Deno.test("SimCluster.leave() stops the node (failing its pending bootstrap), then detaches it", () => {
  const simSeed = 5;
  const { network, cluster, fakes } = setUp(simSeed, 3);
  cluster.join(0, []);
  const results: boolean[] = [];
  cluster.join(1, [0], (result) => results.push(result.ok));
  cluster.leave(1); // before the pong arrives
  assert.deepEqual(results, [false], "stop() fails the pending bootstrap at once");
  assert.equal(cluster.state(1), "left", "and the node stays left, not failed");
  assert.equal(fakes[1].stopped, true);
  assert.equal(network.isAttached(cluster.address(1)), false);
  network.run({ untilMs: network.clock.nowMs() + 10_000 });
  assert.equal(network.counters().droppedNoReceiver, 1, `the pong to node 1, simSeed ${simSeed}`);
  assert.deepEqual(cluster.liveIndexes(), [0, 2]);
  assert.throws(() => cluster.leave(1), AssertionError);
  assert.throws(() => cluster.call(1, () => {}), AssertionError);
});

Deno.test("SimCluster.crash() drops the node without stop(): its operations never end", () => {
  const simSeed = 6;
  const { network, cluster, fakes } = setUp(simSeed, 2);
  cluster.join(0, []);
  const results: boolean[] = [];
  cluster.join(1, [0], (result) => results.push(result.ok));
  cluster.crash(1);
  network.run({ untilMs: network.clock.nowMs() + 10_000 });
  assert.deepEqual(results, [], `simSeed ${simSeed}`);
  assert.equal(fakes[1].stopped, false);
  assert.equal(cluster.state(1), "crashed");
  assert.equal(cluster.liveCount, 1);
  assert.equal(cluster.joinedCount, 1);
});

Deno.test("SimCluster picks random live and joined nodes, deterministically per seed", () => {
  const picks = (simSeed: number) => {
    const { network, cluster } = setUp(simSeed, 10);
    cluster.join(0, []);
    for (let index = 1; index < 6; index++) cluster.join(index, [0]);
    network.run({ until: () => cluster.joinedCount === 6 });
    cluster.crash(3);
    const live = Array.from({ length: 200 }, () => cluster.pickLive()!);
    const joined = Array.from({ length: 200 }, () => cluster.pickJoined()!);
    return { live, joined };
  };
  const { live, joined } = picks(7);
  assert.deepEqual(picks(7), { live, joined }, "simSeed 7 twice");
  assert.deepEqual([...new Set(live)].sort((a, b) => a - b), [0, 1, 2, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual([...new Set(joined)].sort((a, b) => a - b), [0, 1, 2, 4, 5]);
  const { cluster } = setUp(8, 0);
  assert.equal(cluster.pickLive(), undefined);
  assert.equal(cluster.pickJoined(), undefined);
});

Deno.test("SimCluster fails a node that keeps asking to wake at the instant it just ticked", () => {
  const simSeed = 9;
  const network = new SimNetwork({ simSeed });
  const cluster = new SimCluster(network, {
    simSeed,
    settings: defaultSettings(),
    createNode: (options) => {
      const fake = new FakeNode(options);
      fake.nextWakeupMs = () => options.clock.nowMs(); // always due: a livelock
      return fake;
    },
  });
  cluster.add();
  assert.throws(() => network.run(), /node 0 is livelocked/);
});
