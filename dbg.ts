import type { NodeId } from "./src/core/node_id.ts";
import { replicaRanks } from "./src/sim/checkers.ts";
import { SimCluster } from "./src/sim/cluster.ts";
import { SimNetwork } from "./src/sim/network.ts";
import { runOperations } from "./src/sim/operations.ts";
import { defaultSettings } from "./tests/sim/_settings.ts";
const simSeed = 1, nodes = 200;
const settings = defaultSettings();
const network = new SimNetwork({ simSeed });
const cluster = new SimCluster(network, { simSeed, settings });
for (let i = 0; i < nodes; i++) cluster.add();
runOperations(network, { label: "join", count: nodes, startAtMs: (i) => network.clock.nowMs() + i * 1_000, operationMsMax: 100_000 },
  (index, done) => cluster.join(index, index === 0 ? [] : [cluster.pickJoined() ?? 0], done));
network.run({ untilMs: network.clock.nowMs() + 300_000 });
runOperations(network, { label: "put", count: 10, operationMsMax: 100_000 }, (index, done) => {
  const publisher = cluster.pickJoined()!;
  const t0 = network.clock.nowMs();
  cluster.put(publisher, new TextEncoder().encode(`value ${index}`), (result) => {
    const key = result.key;
    const live = cluster.liveIndexes();
    live.sort((a, b) => key.compareDistance(cluster.nodeId(a), cluster.nodeId(b)));
    console.log(index, publisher, "pubrank", live.indexOf(publisher), JSON.stringify({ok: result.ok, stored: result.stored, ms: result.durationMs}), replicaRanks(cluster, key, network.clock.nowMs()).join(","));
    done();
  });
});
