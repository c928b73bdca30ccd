/**
 * Put latency before and after throwaway identities go silent (issue 14, finding 5), in the
 * deterministic simulator: 30 DHT nodes (default settings, links of 1 to 10 ms, no loss) join;
 * node 0 runs puts one after another; then `silent` identities each send one valid request (a
 * PING) to node 0 and two other nodes, answer their PING once, and fall silent for good. Node 0
 * then runs more puts, right away and again ten minutes later.
 *
 * Usage: deno task bench:silent-peers [--silent 1,40] [--puts 50] [--seed 1]
 *
 * Prints one JSON object per count of silent identities: put duration p50 / p99 (simulated ms)
 * and success share before, right after and ten minutes after, and the run's wall time.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolveConfig } from "../src/core/config.ts";
import { NODE_ID_BYTES, NodeId } from "../src/core/node_id.ts";
import { Prng, randomBytes } from "../src/core/rng.ts";
import { decodeMessage, encodeMessage, MessageType } from "../src/dht/messages.ts";
import type { DhtSettings, PutResult } from "../src/dht/types.ts";
import { PeerAddress } from "../src/net/address.ts";
import { SimCluster } from "../src/sim/cluster.ts";
import { SimNetwork } from "../src/sim/network.ts";
import { runOne, runOperations } from "../src/sim/operations.ts";

const nodes = 30;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function run(silent: number, puts: number, seed: number) {
  const wallStartMs = performance.now();
  const { config } = resolveConfig();
  const settings: DhtSettings = {
    dht: config.dht,
    profile: config.profiles.full,
    store: config.store,
  };
  const network = new SimNetwork({ simSeed: seed, latencyMsMin: 1, latencyMsMax: 10 });
  const cluster = new SimCluster(network, { simSeed: seed, settings });
  for (let i = 0; i < nodes; i++) cluster.add();
  runOperations(network, {
    label: "join",
    count: nodes,
    startAtMs: (index) => network.clock.nowMs() + index * 300,
    operationMsMax: 100_000,
  }, (index, done) => cluster.join(index, index === 0 ? [] : [cluster.pickJoined() ?? 0], done));
  network.run({ untilMs: network.clock.nowMs() + 60_000 });
  let serial = 0;
  const putRound = () => {
    const durations: number[] = [];
    let ok = 0;
    for (let i = 0; i < puts; i++) {
      const value = new TextEncoder().encode(`silent bench ${seed} ${serial++}`);
      const result = runOne<PutResult>(network, (done) => cluster.put(0, value, done));
      durations.push(result.durationMs);
      if (result.ok) ok++;
    }
    durations.sort((a, b) => a - b);
    return {
      p50Ms: percentile(durations, 0.5),
      p99Ms: percentile(durations, 0.99),
      success: ok / puts,
    };
  };
  const before = putRound();
  const prng = new Prng(seed + 1);
  for (let i = 0; i < silent; i++) {
    const id = NodeId.fromBytes(randomBytes(prng, new Uint8Array(NODE_ID_BYTES)));
    const address = PeerAddress.of(`127.200.${i >> 8}.${(i & 255) + 1}`, 7447)!;
    const answered = new Set<string>();
    const transport = network.attach(address, (from, bytes) => {
      const message = decodeMessage(bytes);
      if (typeof message === "string" || message.type !== MessageType.ping) return;
      if (answered.has(from.key)) return;
      answered.add(from.key);
      transport.send(
        from,
        encodeMessage({ type: MessageType.pong, tx: message.tx, sender: id, flags: 0 }),
      );
    });
    const targets = new Set([0, 1 + (i % (nodes - 1)), 1 + ((i * 7 + 3) % (nodes - 1))]);
    for (const target of targets) {
      transport.send(
        cluster.address(target),
        encodeMessage({ type: MessageType.ping, tx: i + 1, sender: id, flags: 0 }),
      );
    }
    // Silent after a second: the PINGs and their verification PINGs are answered by then.
    network.schedule(network.clock.nowMs() + 1_000, () => network.detach(address));
  }
  network.run({ untilMs: network.clock.nowMs() + 2_000 });
  const after = putRound();
  network.run({ untilMs: network.clock.nowMs() + 600_000 });
  const later = putRound();
  return {
    silent,
    nodes,
    puts,
    seed,
    before,
    after,
    tenMinutesLater: later,
    wallS: Math.round((performance.now() - wallStartMs) / 100) / 10,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      silent: { type: "string", default: "1,40" },
      puts: { type: "string", default: "50" },
      seed: { type: "string", default: "1" },
    },
  });
  const puts = Number(values.puts);
  const seed = Number(values.seed);
  const counts = values.silent.split(",").map(Number);
  if (!Number.isInteger(puts) || puts < 1 || counts.some((n) => !Number.isInteger(n) || n < 0)) {
    console.error("usage: bench_silent_peers.ts [--silent 1,40] [--puts N] [--seed S]");
    Deno.exit(2);
  }
  for (const silent of counts) console.log(JSON.stringify(run(silent, puts, seed)));
}
