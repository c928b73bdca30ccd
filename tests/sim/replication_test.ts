// Goal: values live on the k nodes closest to their key (plus the publisher), not on a growing
// tail of far nodes: right after a put and after one replication period, with no gets (so no
// cached copies), every holder outside the k closest live nodes is the publisher.
// Method: 200 nodes on a lossless network, 10 sequential puts from random nodes, then the XOR
// rank of every holder among the live nodes (src/sim/checkers.ts replicaRanks()).
// Nodes decide from partial routing tables, so a holder just past the k closest can happen; the
// bound is 3k. (Before the fix, #offerValuesTo() seeded copies at ranks 38..213 of 300.)

import assert from "node:assert/strict";
import type { NodeId } from "../../src/core/node_id.ts";
import { replicaRanks } from "../../src/sim/checkers.ts";
import { SimCluster } from "../../src/sim/cluster.ts";
import { SimNetwork } from "../../src/sim/network.ts";
import { runOperations } from "../../src/sim/operations.ts";
import { defaultSettings } from "./_settings.ts";

Deno.test("DhtNode keeps values near the k closest nodes and the publisher only", () => {
  const simSeed = 1;
  const nodes = 200;
  const settings = defaultSettings();
  const { k } = settings.dht;
  const network = new SimNetwork({ simSeed });
  const cluster = new SimCluster(network, { simSeed, settings });
  for (let i = 0; i < nodes; i++) cluster.add();
  runOperations(network, {
    label: "join",
    count: nodes,
    startAtMs: (index) => network.clock.nowMs() + index * 1_000,
    operationMsMax: 100_000,
  }, (index, done) => cluster.join(index, index === 0 ? [] : [cluster.pickJoined() ?? 0], done));
  network.run({ untilMs: network.clock.nowMs() + 300_000 });
  const puts: { key: NodeId; publisher: number }[] = [];
  runOperations(network, { label: "put", count: 10, operationMsMax: 100_000 }, (index, done) => {
    const publisher = cluster.pickJoined()!;
    cluster.put(publisher, new TextEncoder().encode(`value ${index}`), (result) => {
      puts.push({ key: result.key, publisher });
      done();
    });
  });
  const farHolders = () =>
    puts.map(({ key, publisher }) => {
      const publisherAddress = cluster.address(publisher);
      const live = cluster.liveIndexes();
      live.sort((a, b) => key.compareDistance(cluster.nodeId(a), cluster.nodeId(b)));
      const publisherRank = live.findIndex((index) => cluster.address(index) === publisherAddress);
      return replicaRanks(cluster, key, network.clock.nowMs())
        .filter((rank) => rank >= 3 * k && rank !== publisherRank);
    });
  assert.deepEqual(farHolders(), puts.map(() => []), `right after the puts, simSeed ${simSeed}`);
  network.run({ untilMs: network.clock.nowMs() + settings.dht.replicate_s * 1_000 });
  assert.deepEqual(farHolders(), puts.map(() => []), `after replication, simSeed ${simSeed}`);
});
