// Goal: the cluster drives the real DhtNode correctly through churn and partitions: lookups find
// live nodes, a graceful leave fails the leaver's pending operations through their callbacks,
// and a partition hides the other side until heal().
// Method: 40 nodes joined one after another on a lossless network, then scripted steps; each
// assertion names its simSeed.

import assert from "node:assert/strict";
import { SimCluster } from "../../src/sim/cluster.ts";
import { SimNetwork } from "../../src/sim/network.ts";
import { runOne, runOperations } from "../../src/sim/operations.ts";
import type { GetResult, LookupResult, PutResult } from "../../src/dht/types.ts";
import { defaultSettings } from "./_settings.ts";

const nodes = 40;

function joinedCluster(simSeed: number) {
  const network = new SimNetwork({ simSeed, latencyMsMin: 10, latencyMsMax: 100 });
  const cluster = new SimCluster(network, { simSeed, settings: defaultSettings() });
  for (let i = 0; i < nodes; i++) cluster.add();
  runOperations(network, {
    label: "join",
    count: nodes,
    startAtMs: (index) => network.clock.nowMs() + index * 500,
    operationMsMax: 100_000,
  }, (index, done) => cluster.join(index, index === 0 ? [] : [cluster.pickJoined() ?? 0], done));
  assert.equal(cluster.joinedCount, nodes, `all joined, simSeed ${simSeed}`);
  return { network, cluster };
}

Deno.test("SimCluster with DhtNode: findNode() finds a node's own ID among the closest", () => {
  const simSeed = 21;
  const { network, cluster } = joinedCluster(simSeed);
  for (const [asker, target] of [[0, 39], [39, 0], [17, 5]]) {
    const result = runOne<LookupResult>(
      network,
      (done) => cluster.findNode(asker, cluster.nodeId(target), done),
    );
    assert.ok(result.ok, `lookup ${asker}→${target}, simSeed ${simSeed}`);
    assert.ok(
      result.closest[0].nodeId.equals(cluster.nodeId(target)),
      `node ${target} is the closest to its own ID, simSeed ${simSeed}`,
    );
    assert.deepEqual(result.closest[0].address, cluster.address(target));
  }
});

Deno.test("SimCluster with DhtNode: leave() fails the leaver's pending get via its callback", () => {
  const simSeed = 22;
  const { network, cluster } = joinedCluster(simSeed);
  const results: GetResult[] = [];
  cluster.get(3, cluster.nodeId(30), (result) => results.push(result));
  cluster.leave(3);
  assert.equal(results.length, 1, `stop() ran the callback at once, simSeed ${simSeed}`);
  assert.equal(results[0].ok, false);
  network.run({ untilMs: network.clock.nowMs() + 60_000 });
  assert.equal(results.length, 1, "and only once");
  // The rest of the network still works, and routes around the departed node.
  const found = runOne<LookupResult>(
    network,
    (done) => cluster.findNode(4, cluster.nodeId(3), done),
  );
  assert.ok(found.ok, `simSeed ${simSeed}`);
  assert.ok(found.closest.every((contact) => !contact.address.equals(cluster.address(3))));
});

Deno.test("SimCluster with DhtNode: a value stored on one side of a partition appears after heal", () => {
  const simSeed = 23;
  const { network, cluster } = joinedCluster(simSeed);
  const left = Array.from({ length: nodes / 2 }, (_, i) => cluster.address(i));
  const right = Array.from({ length: nodes / 2 }, (_, i) => cluster.address(i + nodes / 2));
  network.partition([left, right]);
  const value = new TextEncoder().encode("stored during the partition, on the left");
  const put = runOne<PutResult>(network, (done) => cluster.put(2, value, done));
  assert.ok(put.ok, `the left half stores it, simSeed ${simSeed}`);
  const dropped = network.counters().droppedPartition;
  assert.ok(dropped > 0, `the put tried the right half too, simSeed ${simSeed}`);
  const hidden = runOne<GetResult>(network, (done) => cluster.get(35, put.key, done));
  assert.equal(hidden.value, undefined, `the right half cannot see it, simSeed ${simSeed}`);
  network.heal();
  const seen = runOne<GetResult>(network, (done) => cluster.get(35, put.key, done));
  assert.deepEqual(seen.value, value, `after heal the right half finds it, simSeed ${simSeed}`);
});
