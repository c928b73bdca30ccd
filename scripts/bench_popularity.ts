/**
 * The popularity service at network scale (issue 17's done-when figures), with the service's
 * own code: every node's `PopularityTracker`, the score, the holders' reports merged by seeds,
 * signed seed rankings, readers' median-rank combination, and the replication policy's targets.
 * The network itself is a model, not the packet simulator: each record's holders are the k
 * (or, for popular records, the policy's count of) nodes closest to its key by XOR among N
 * random node IDs, and a read is served by one of its holders chosen uniformly (a FIND_VALUE for
 * a final value stops at the first copy found). Reads are drawn from a known Zipf popularity.
 *
 * Time line: day 0, an "old" cohort (created ten days before the end) is read heavily; day 1, a
 * "current" cohort (created over the last three days) is read by Zipf and the old cohort not at
 * all. During day 1 an attacker node requests its own thread 1,000 times a second (compressed:
 * 60 s of it per hour, the rest identical per window), and 50 nodes of one /24 do the same for
 * another thread. At the end, seeds merge the holders' reports; one seed forges its ranking.
 *
 * Usage: deno task bench:popularity [--nodes 10000] [--items 2000] [--reads 500000]
 *   [--seeds 5] [--seed 1]
 *
 * Prints one JSON object with every figure, and the wall time.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolveConfig } from "../src/core/config.ts";
import { ed25519KeyPairFromSecretKey } from "../src/core/crypto.ts";
import { NODE_ID_BYTES, NodeId } from "../src/core/node_id.ts";
import { Prng, randomBytes, randomFloat, randomInt } from "../src/core/rng.ts";
import { PeerAddress } from "../src/net/address.ts";
import {
  combineRankings,
  explainScore,
  type HolderReport,
  mergeReports,
  type PopularitySettings,
  popularitySettingsOf,
  PopularityTracker,
  type RankingRecord,
  replicasForScore,
  signRanking,
  trackedKeyBytes,
} from "../src/services/popularity/mod.ts";

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

interface Item {
  key: NodeId;
  createdMs: number;
  cohort: "old" | "current" | "attack";
  /** Reads in the last 24 h (engagement). */
  readsLastDay: number;
  lastReadMs: number;
  holders: number[];
}

function main() {
  const args = parseArgs({
    args: Deno.args,
    options: {
      nodes: { type: "string", default: "10000" },
      items: { type: "string", default: "2000" },
      reads: { type: "string", default: "500000" },
      seeds: { type: "string", default: "5" },
      seed: { type: "string", default: "1" },
    },
  }).values;
  const wallStartMs = performance.now();
  const nodesCount = Number(args.nodes);
  const itemsCount = Number(args.items);
  const readsPerDay = Number(args.reads);
  const seedsCount = Number(args.seeds);
  const prng = new Prng(Number(args.seed));
  const { config } = resolveConfig();
  const settings: PopularitySettings = popularitySettingsOf(config.popularity);
  const k = config.dht.k;

  // Nodes: random IDs; two nodes per /24 on average, so /24s are shared as on the Internet.
  const ids: NodeId[] = [];
  const addresses: PeerAddress[] = [];
  for (let i = 0; i < nodesCount; i++) {
    ids.push(NodeId.fromBytes(randomBytes(prng, new Uint8Array(NODE_ID_BYTES))));
    const net = randomInt(prng, Math.max(1, Math.floor(nodesCount / 2)));
    addresses.push(
      PeerAddress.of(
        `${11 + (net >> 16)}.${(net >> 8) & 255}.${net & 255}.${1 + (i % 250)}`,
        7447,
      )!,
    );
  }
  const trackers = ids.map((_, i) =>
    new PopularityTracker({ settings, salt: (i * 2654435761) >>> 0, localRangesExempt: false })
  );
  const served = new Float64Array(nodesCount);

  const endMs = 30 * dayMs;
  const day1Ms = endMs - dayMs;
  const day0Ms = day1Ms - dayMs;
  const items: Item[] = [];
  const half = Math.floor(itemsCount / 2);
  for (let i = 0; i < itemsCount; i++) {
    const old = i < half;
    const createdMs = old ? endMs - 10 * dayMs : endMs - 3 * dayMs + randomFloat(prng) * 2 * dayMs;
    items.push({
      key: NodeId.fromBytes(randomBytes(prng, new Uint8Array(NODE_ID_BYTES))),
      createdMs,
      cohort: old ? "old" : "current",
      readsLastDay: 0,
      lastReadMs: 0,
      holders: [],
    });
  }
  const attackItem: Item = {
    key: NodeId.fromBytes(randomBytes(prng, new Uint8Array(NODE_ID_BYTES))),
    createdMs: day1Ms,
    cohort: "attack",
    readsLastDay: 0,
    lastReadMs: 0,
    holders: [],
  };
  const sybilItem: Item = {
    ...attackItem,
    key: NodeId.fromBytes(randomBytes(prng, new Uint8Array(20))),
    holders: [],
  };
  const futureItem: Item = {
    ...attackItem,
    key: NodeId.fromBytes(randomBytes(prng, new Uint8Array(20))),
    createdMs: endMs + 30 * dayMs,
    holders: [],
  };
  const allItems = [...items, attackItem, sybilItem, futureItem];
  // Holders: the k closest nodes by XOR (the cold terms; the policy's target is measured below).
  // The 53 leading bits of each ID, enough to order XOR distances among 10^4..10^5 nodes.
  const high = ids.map((id) => id.toBytes());
  const leading = (
    bytes: Uint8Array,
  ) => ((bytes[0] << 24 | bytes[1] << 16 | bytes[2] << 8 | bytes[3]) >>> 0);
  const second = (bytes: Uint8Array) =>
    ((bytes[4] << 24 | bytes[5] << 16 | bytes[6] << 8 | bytes[7]) >>> 0) >>> 11;
  const idHigh = Float64Array.from(high, leading);
  const idLow = Float64Array.from(high, second);
  const distances = new Float64Array(nodesCount);
  const byDistance = (key: NodeId, count: number) => {
    const bytes = key.toBytes();
    const kh = leading(bytes);
    const kl = second(bytes);
    for (let i = 0; i < nodesCount; i++) {
      distances[i] = ((idHigh[i] ^ kh) >>> 0) * 2 ** 21 + (((idLow[i] ^ kl) >>> 0) & 0x1fffff);
    }
    const threshold = Float64Array.from(distances).sort()[Math.min(count, nodesCount) - 1];
    const chosen: number[] = [];
    for (let i = 0; i < nodesCount; i++) if (distances[i] <= threshold) chosen.push(i);
    return chosen.sort((a, b) => distances[a] - distances[b]).slice(0, count);
  };
  const widest = Math.max(k, settings.replicas_max);
  const closestOf = new Map<string, number[]>();
  for (const item of allItems) {
    const closest = byDistance(item.key, widest);
    closestOf.set(item.key.toHex(), closest);
    item.holders = closest.slice(0, k);
    for (const holder of item.holders) {
      trackers[holder].observe({ key: item.key, requester: item.key, nowMs: item.createdMs });
      trackers[holder].noteCreated(item.key, item.createdMs);
    }
  }

  // Zipf(1) over each cohort, in a random order of its items.
  const zipfPicker = (cohort: Item[]) => {
    const order = [...cohort];
    for (let i = order.length - 1; i > 0; i--) {
      const j = randomInt(prng, i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const cumulative: number[] = [];
    let total = 0;
    for (let rank = 1; rank <= order.length; rank++) cumulative.push(total += 1 / rank);
    return {
      order,
      pick: () => {
        const x = randomFloat(prng) * total;
        let lo = 0;
        let hi = cumulative.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cumulative[mid] < x) lo = mid + 1;
          else hi = mid;
        }
        return order[lo];
      },
    };
  };
  const oldZipf = zipfPicker(items.filter((item) => item.cohort === "old"));
  const currentZipf = zipfPicker(items.filter((item) => item.cohort === "current"));

  let observed = 0;
  const read = (item: Item, reader: number, nowMs: number) => {
    const holder = item.holders[randomInt(prng, item.holders.length)];
    trackers[holder].observe({
      key: item.key,
      requester: ids[reader],
      address: addresses[reader],
      nowMs,
    });
    served[holder]++;
    observed++;
    if (nowMs >= day1Ms) {
      item.readsLastDay++;
      item.lastReadMs = nowMs;
      // One honest read in 50 leaves a reply: the holders note the thread's reply count (the
      // attackers only read).
      if (item.cohort !== "attack" && randomInt(prng, 50) === 0) {
        const replies = Math.floor(item.readsLastDay / 50);
        trackers[holder].noteEngagement(item.key, { replies, votes: 0 }, nowMs);
      }
    }
  };

  // The attacker (one node) and the sybils (50 nodes on one /24).
  const attacker = 0;
  const sybils = Array.from({ length: 50 }, (_, i) => 1 + i);
  for (const sybil of sybils) addresses[sybil] = PeerAddress.of(`66.66.66.${sybil}`, 7447)!;

  // Day 0 and day 1, minute by minute; the attacks hammer for one minute of each hour.
  const minutes = 2 * 24 * 60;
  const readsPerMinute = readsPerDay / (24 * 60);
  let attackRequests = 0;
  for (let minute = 0; minute < minutes; minute++) {
    const startMs = day0Ms + minute * 60_000;
    const zipf = startMs < day1Ms ? oldZipf : currentZipf;
    const count = Math.floor(readsPerMinute) + (randomFloat(prng) < readsPerMinute % 1 ? 1 : 0);
    for (let r = 0; r < count; r++) {
      const nowMs = startMs + Math.floor((r / count) * 60_000);
      read(zipf.pick(), randomInt(prng, nodesCount), nowMs);
    }
    if (startMs >= day1Ms && minute % 60 === 0) {
      // 1,000 requests a second for 60 s, to random holders of the attacker's own thread...
      for (let s = 0; s < 60; s++) {
        for (let r = 0; r < 1000; r++) read(attackItem, attacker, startMs + s * 1000);
        attackRequests += 1000;
      }
      // ...and the same from each of 50 nodes on one /24 (a tenth of the rate each, same total).
      for (let s = 0; s < 60; s++) {
        for (const sybil of sybils) {
          for (let r = 0; r < 20; r++) read(sybilItem, sybil, startMs + s * 1000);
        }
      }
      // A future-dated thread read like a top item.
      for (let r = 0; r < 2000; r++) read(futureItem, randomInt(prng, nodesCount), startMs + r);
    }
  }

  // Holders report their most active keys; each seed merges the reports it gets (a random 60%
  // of the holders: the peers it reaches), ranks, signs.
  const reportOf = (holder: number): HolderReport => {
    const tracker = trackers[holder];
    const metrics = tracker.allMetrics(endMs)
      .sort((a, b) =>
        explainScore(b, settings, endMs).score - explainScore(a, settings, endMs).score
      )
      .slice(0, 64);
    return {
      holder: ids[holder],
      items: metrics.map((m) => {
        const sketches = tracker.sketchesOf(NodeId.fromHex(m.key))!;
        return { metrics: m, audience: sketches.audience, geo: sketches.geo };
      }),
    };
  };
  const reports: HolderReport[] = [];
  for (let holder = 0; holder < nodesCount; holder++) {
    if (trackers[holder].size > 0) reports.push(reportOf(holder));
  }
  const seedKeys = Array.from(
    { length: seedsCount },
    (_, i) => ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(i + 1)),
  );
  // Each seed reaches 90% of the holders' reports (the others are unreachable or slow).
  const reach = 0.9;
  const honestRankings: RankingRecord[] = seedKeys.map((seedKey) => {
    const reached = reports.filter(() => randomFloat(prng) < reach);
    const merged = mergeReports(reached);
    const ranked = merged
      .map((m) => ({ key: NodeId.fromHex(m.key), score: explainScore(m, settings, endMs).score }))
      .filter((item) => item.score > 0)
      .sort((a, b) => b.score - a.score || a.key.compare(b.key));
    return signRanking(seedKey, ranked, endMs);
  });
  const combinedHonest = combineRankings(honestRankings);

  // One seed lies: it reverses the top 200 and puts the attacker's thread first.
  const forgedItems = [
    { key: attackItem.key, score: 1e6 },
    ...[...honestRankings[0].items].reverse().filter((item) => !item.key.equals(attackItem.key))
      .map((item, i) => ({ key: item.key, score: 1e5 - i })),
  ];
  const forged = signRanking(seedKeys[0], forgedItems, endMs + 1);
  const combinedWithLiar = combineRankings([forged, ...honestRankings.slice(1)]);

  // Truth: the current cohort's Zipf order.
  const trueTop = currentZipf.order.slice(0, 50).map((item) => item.key.toHex());
  const shownTop = combinedWithLiar.slice(0, 50).map((item) => item.key.toHex());
  const honestTop = combinedHonest.slice(0, 50).map((item) => item.key.toHex());
  const precision = shownTop.filter((key) => trueTop.includes(key)).length / 50;
  const precisionHonest = honestTop.filter((key) => trueTop.includes(key)).length / 50;
  const tau = kendallTau(trueTop, combinedWithLiar.map((item) => item.key.toHex()));
  const itemByKey = new Map(allItems.map((item) => [item.key.toHex(), item]));
  const staleInTop = shownTop.filter((key) => {
    const item = itemByKey.get(key)!;
    return endMs - item.createdMs > 7 * dayMs && endMs - item.lastReadMs > dayMs;
  }).length;
  const rankOf = (list: { key: NodeId }[], key: NodeId) => {
    const index = list.findIndex((item) => item.key.equals(key));
    return index < 0 ? null : index + 1;
  };
  const displacement = (top: number) => {
    let most = 0;
    combinedHonest.slice(0, top).forEach((item, rank) => {
      const shown = rankOf(combinedWithLiar, item.key) ?? combinedWithLiar.length + 1;
      most = Math.max(most, Math.abs(shown - (rank + 1)));
    });
    return most;
  };

  // Replication targets: each record's target at its closest holder, by that holder's score.
  const targets = allItems.filter((item) => item.cohort !== "attack").map((item) => {
    const primary = item.holders[0];
    const metrics = trackers[primary].metricsOf(item.key, endMs);
    const score = metrics ? explainScore(metrics, settings, endMs).score : 0;
    return { item, score, replicas: replicasForScore(score, k, settings) };
  });
  const byTruth = new Map(currentZipf.order.map((item, i) => [item.key.toHex(), i]));
  const top1 = targets.filter((t) =>
    (byTruth.get(t.item.key.toHex()) ?? Infinity) < itemsCount / 2 / 100
  );
  const cold = targets.filter((t) =>
    t.item.cohort === "old" || (byTruth.get(t.item.key.toHex()) ?? 0) > itemsCount / 4
  );
  // Load with the targets applied: reads of each item spread over its target's closest holders.
  const loadWith = (spread: (item: Item) => number) => {
    const load = new Float64Array(nodesCount);
    for (const item of [...items]) {
      const count = spread(item);
      const holders = closestOf.get(item.key.toHex())!.slice(0, count);
      for (const holder of holders) load[holder] += item.readsLastDay / count;
    }
    let max = 0;
    let sum = 0;
    for (const value of load) {
      max = Math.max(max, value);
      sum += value;
    }
    return {
      busiest: Math.round(max),
      mean: round(sum / nodesCount),
      ratio: round(max / (sum / nodesCount)),
    };
  };
  const targetOf = new Map(targets.map((t) => [t.item.key.toHex(), t.replicas]));
  const hottest = currentZipf.order[0];
  const hottestTarget = targetOf.get(hottest.key.toHex())!;

  // Crash 30% of the nodes: records keep a copy when one of their target holders survives; one
  // replication period later a survivor pushes to the target count of live closest nodes.
  const crashed = new Uint8Array(nodesCount);
  let crashedCount = 0;
  while (crashedCount < Math.floor(nodesCount * 0.3)) {
    const index = randomInt(prng, nodesCount);
    if (crashed[index] === 0) {
      crashed[index] = 1;
      crashedCount++;
    }
  }
  const scores = targets.map((t) => t.score).sort((a, b) => a - b);
  const medianScore = scores[Math.floor(scores.length / 2)];
  let lost = 0;
  let aboveMedian = 0;
  let restored = 0;
  for (const t of targets) {
    const holders = closestOf.get(t.item.key.toHex())!.slice(0, t.replicas);
    const survivors = holders.filter((h) => crashed[h] === 0).length;
    if (survivors === 0) lost++;
    if (t.score <= medianScore) continue;
    aboveMedian++;
    const live = byDistance(t.item.key, Math.ceil(t.replicas / 0.7) + 20).filter((h) =>
      crashed[h] === 0
    );
    if (survivors > 0 && live.length >= t.replicas) restored++;
  }

  // Memory: tracked keys and bytes per node.
  let trackedMax = 0;
  let trackedSum = 0;
  for (const tracker of trackers) {
    trackedMax = Math.max(trackedMax, tracker.size);
    trackedSum += tracker.size;
  }

  console.log(JSON.stringify(
    {
      model: "holder-level model with the service's code (not the packet simulator)",
      nodes: nodesCount,
      items: itemsCount,
      reads_per_day: readsPerDay,
      reads_observed: observed,
      seeds: seedsCount,
      seed_report_reach: reach,
      ranking_quality: {
        precision_top50: precision,
        precision_top50_without_liar: precisionHonest,
        kendall_tau_top50: round(tau),
        stale_in_top50: staleInTop,
      },
      manipulation: {
        attacker_requests: attackRequests,
        attacker_thread_rank: rankOf(combinedWithLiar, attackItem.key),
        sybil_thread_rank: rankOf(combinedWithLiar, sybilItem.key),
        future_thread_rank: rankOf(combinedWithLiar, futureItem.key),
        forged_seed_max_displacement_top50: displacement(50),
        forged_seed_max_displacement_top200: displacement(200),
      },
      replication: {
        k,
        top1pct_items: top1.length,
        top1pct_replicas_min: Math.min(...top1.map((t) => t.replicas)),
        cold_items: cold.length,
        cold_replicas_max: Math.max(...cold.map((t) => t.replicas)),
        crash_30pct: { lost, above_median: aboveMedian, restored_to_target: restored },
      },
      load: {
        hottest_key_replicas: hottestTarget,
        hottest_key_reads_last_day: hottest.readsLastDay,
        with_k_replicas: loadWith(() => k),
        with_policy_replicas: loadWith((item) => targetOf.get(item.key.toHex()) ?? k),
      },
      memory: {
        bytes_per_tracked_key: trackedKeyBytes,
        tracked_keys_per_node_max: trackedMax,
        tracked_keys_per_node_mean: round(trackedSum / nodesCount),
        bytes_per_node_max: trackedMax * trackedKeyBytes,
        bytes_per_node_bound: settings.tracked_keys_max * trackedKeyBytes,
      },
      wall_s: round((performance.now() - wallStartMs) / 1000),
    },
    null,
    2,
  ));
}

/**
 * Kendall's τ over the true top list: for every pair of its items, whether the shown ranking
 * orders them the same way (an item not shown ranks after every shown one).
 */
function kendallTau(truth: string[], shown: string[]): number {
  const position = new Map(shown.map((key, i) => [key, i]));
  const rank = (key: string) => position.get(key) ?? shown.length;
  let concordant = 0;
  let discordant = 0;
  for (let i = 0; i < truth.length; i++) {
    for (let j = i + 1; j < truth.length; j++) {
      const a = rank(truth[i]);
      const b = rank(truth[j]);
      if (a < b) concordant++;
      else if (a > b) discordant++;
    }
  }
  const pairs = (truth.length * (truth.length - 1)) / 2;
  return (concordant - discordant) / pairs;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

main();
