/**
 * Popularity-driven replication in the packet simulator (issue 17's replication, load and latency
 * figures): N real `DhtNode`s on a seeded `SimNetwork`, each running a `PopularityService` as its
 * DHT observer (the reads it serves) and replication policy. Records are put, then read from random
 * nodes with a Zipf popularity for an hour; after an upkeep period the replica counts are
 * measured; a second hour of reads measures the load per node and get latency, hot against cold;
 * then 30% of the nodes crash and, one replication period later, the records read above the
 * median are checked against their replica target, and lost records counted.
 *
 * Usage: deno task bench:popularity-dht [--nodes 1000] [--records 200] [--reads 20000] [--seed 1]
 *
 * Prints one JSON object with every figure and the wall time.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolveConfig } from "../src/core/config.ts";
import type { NodeId } from "../src/core/node_id.ts";
import { Prng, randomFloat, randomInt } from "../src/core/rng.ts";
import { DhtNode } from "../src/dht/node.ts";
import type { DhtSettings, GetResult, PutResult } from "../src/dht/types.ts";
import {
  PopularityService,
  popularitySettingsOf,
  replicasForScore,
  scoreOf,
} from "../src/services/popularity/mod.ts";
import { replicaRanks } from "../src/sim/checkers.ts";
import { SimCluster } from "../src/sim/cluster.ts";
import { SimNetwork } from "../src/sim/network.ts";
import { runOne, runOperations } from "../src/sim/operations.ts";

const hourMs = 3_600_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function main() {
  const args = parseArgs({
    args: Deno.args,
    options: {
      nodes: { type: "string", default: "1000" },
      records: { type: "string", default: "200" },
      reads: { type: "string", default: "20000" },
      seed: { type: "string", default: "1" },
    },
  }).values;
  const wallStartMs = performance.now();
  const nodesCount = Number(args.nodes);
  const recordsCount = Number(args.records);
  const readsCount = Number(args.reads);
  const simSeed = Number(args.seed);
  const { config } = resolveConfig();
  const settings: DhtSettings = {
    dht: { ...config.dht, replicate_s: 3600, republish_s: 3600 },
    profile: config.profiles.full,
    store: config.store,
  };
  const popularity = popularitySettingsOf(config.popularity);
  const k = settings.dht.k;
  const network = new SimNetwork({ simSeed, latencyMsMin: 10, latencyMsMax: 100 });
  const services: PopularityService[] = [];
  const served: number[] = [];
  let counting = false;
  const cluster = new SimCluster(network, {
    simSeed,
    settings,
    createNode: (options) => {
      const index = services.length;
      const service = new PopularityService({
        settings: popularity,
        clock: network.clock,
        salt: index * 7919,
        localRangesExempt: true,
        lifetimes: {
          popular_ttl_s: config.store.popular.ttl_s,
          normal_ttl_s: config.store.normal.ttl_s,
        },
        k,
      });
      services.push(service);
      served.push(0);
      const inner = service.observer();
      return new DhtNode({
        ...options,
        observer: {
          served: (read) => {
            if (counting) served[index]++;
            inner.served(read);
          },
          pushed: inner.pushed,
        },
        replication: service.policy(),
      });
    },
  });
  for (let i = 0; i < nodesCount; i++) cluster.add();
  runOperations(network, {
    label: "join",
    count: nodesCount,
    startAtMs: (index) => network.clock.nowMs() + index * 50,
    operationMsMax: 100_000,
  }, (index, done) => cluster.join(index, index === 0 ? [] : [cluster.pickJoined() ?? 0], done));
  network.run({ untilMs: network.clock.nowMs() + 120_000 });

  const prng = new Prng(simSeed + 7);
  const keys: NodeId[] = [];
  for (let r = 0; r < recordsCount; r++) {
    const value = new TextEncoder().encode(`popularity bench ${simSeed} record ${r}`);
    const put = runOne<PutResult>(
      network,
      (done) => cluster.put(randomInt(prng, nodesCount), value, done),
    );
    keys.push(put.key);
  }
  // Zipf(1) over the first 80% of the records; the last 20% are never read (cold).
  const readable = Math.floor(recordsCount * 0.8);
  const cumulative: number[] = [];
  let total = 0;
  for (let rank = 1; rank <= readable; rank++) cumulative.push(total += 1 / rank);
  const pick = () => {
    const x = randomFloat(prng) * total;
    let lo = 0;
    let hi = readable - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const readPhase = (count: number) => {
    const latencies = new Map<number, number[]>();
    const startMs = network.clock.nowMs();
    let failed = 0;
    runOperations(network, {
      label: "read",
      count,
      startAtMs: (index) => startMs + Math.floor((index / count) * hourMs),
      operationMsMax: 100_000,
    }, (_index, done) => {
      const rank = pick();
      const reader = cluster.pickJoined() ?? 0;
      cluster.get(reader, keys[rank], (result: GetResult) => {
        if (!result.value) failed++;
        const list = latencies.get(rank) ?? [];
        list.push(result.durationMs);
        latencies.set(rank, list);
        done();
      });
    });
    return { latencies, failed };
  };
  readPhase(readsCount);
  // One upkeep period: the holders push with the policy's replica counts.
  network.run({ untilMs: network.clock.nowMs() + 1.2 * hourMs });
  const nowMs = () => network.clock.nowMs();
  const holders = (rank: number) => replicaRanks(cluster, keys[rank], nowMs()).length;
  const topCount = Math.max(1, Math.floor(recordsCount / 100));
  const top = Array.from({ length: topCount }, (_, rank) => holders(rank));
  const cold = Array.from({ length: recordsCount - readable }, (_, i) => holders(readable + i));

  // A second hour of reads: load per node and latency, hot against cold-ish.
  counting = true;
  const phase2 = readPhase(readsCount);
  counting = false;
  const live = served.length;
  const mean = served.reduce((sum, value) => sum + value, 0) / live;
  const busiest = Math.max(...served);
  const hotLatencies = [...(phase2.latencies.get(0) ?? [])].sort((a, b) => a - b);
  const coldLatencies = [...phase2.latencies.entries()]
    .filter(([rank]) => rank >= readable / 2).flatMap(([, list]) => list).sort((a, b) => a - b);

  // Targets now, as each record's nearest live holder's policy sees it.
  const targetOf = (rank: number) => {
    let best = 0;
    for (const index of cluster.liveIndexes()) {
      const metrics = services[index].tracker.metricsOf(keys[rank], nowMs());
      if (metrics) best = Math.max(best, scoreOf(metrics, popularity, nowMs()));
    }
    return { score: best, replicas: replicasForScore(best, k, popularity) };
  };
  const targets = keys.map((_, rank) => targetOf(rank));
  const sortedScores = targets.map((t) => t.score).sort((a, b) => a - b);
  const medianScore = sortedScores[Math.floor(sortedScores.length / 2)];

  // Crash 30%, then one replication period.
  const crashCount = Math.floor(nodesCount * 0.3);
  const crashed = new Set<number>();
  while (crashed.size < crashCount) {
    const index = randomInt(prng, nodesCount);
    if (crashed.has(index) || index === 0) continue;
    crashed.add(index);
    cluster.crash(index);
  }
  const lostAtCrash = keys.filter((_, rank) => holders(rank) === 0).length;
  network.run({ untilMs: nowMs() + 1.1 * hourMs });
  let aboveMedian = 0;
  let atTarget = 0;
  let atTargetNow = 0;
  const shortBy: number[] = [];
  targets.forEach((target, rank) => {
    if (target.score <= medianScore) return;
    aboveMedian++;
    const count = holders(rank);
    if (count >= target.replicas) atTarget++;
    else shortBy.push(target.replicas - count);
    // The target as the live holders see it now (an hour without reads cooled the scores).
    if (count >= Math.min(targetOf(rank).replicas, cluster.liveCount)) atTargetNow++;
  });
  const lost = keys.filter((_, rank) => holders(rank) === 0).length;

  console.log(JSON.stringify(
    {
      simulator: "packet-level SimCluster, real DhtNode and PopularityService per node",
      nodes: nodesCount,
      records: recordsCount,
      reads_per_hour: readsCount,
      k,
      replicas: {
        top1pct_holders: top,
        cold_holders_max: Math.max(...cold),
        cold_holders_median: cold.sort((a, b) => a - b)[Math.floor(cold.length / 2)],
      },
      load_second_hour: {
        busiest_node_served: busiest,
        mean_node_served: Math.round(mean * 10) / 10,
        ratio: Math.round((busiest / mean) * 100) / 100,
        failed_gets: phase2.failed,
      },
      latency_second_hour_ms: {
        hottest_p50: percentile(hotLatencies, 0.5),
        hottest_gets: hotLatencies.length,
        cold_half_p50: percentile(coldLatencies, 0.5),
        cold_half_gets: coldLatencies.length,
      },
      crash_30pct: {
        crashed: crashCount,
        lost_at_crash: lostAtCrash,
        above_median: aboveMedian,
        at_crash_time_target_after_one_period: atTarget,
        at_current_target_after_one_period: atTargetNow,
        short_by: shortBy.sort((a, b) => b - a).slice(0, 10),
        lost_after_one_period: lost,
      },
      wall_s: Math.round((performance.now() - wallStartMs) / 100) / 10,
    },
    null,
    2,
  ));
}

main();
