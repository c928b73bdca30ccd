/**
 * Many real nodes in one process (issue 14, "overload collapses instead of degrading"): N DHT
 * nodes, each with its own identity, UDP socket on loopback and secure channel (real X25519 and
 * Ed25519 handshakes, ChaCha20-Poly1305 sessions), driven exactly as `RhizomeNode` drives its core
 * (one wake-up timer per node, datagrams through the channel into the DHT), with values held in
 * memory instead of LMDB. All of them share this process's one JavaScript thread, so the run
 * shows how the stack behaves when its own event loop is the bottleneck: replies wait in the
 * sockets' queues while timers fire.
 *
 * The first `--bootstraps` nodes form the network; every other node then joins through all of
 * them, all at once or `--join-rate` nodes a second (a failed join is retried after 1 s,
 * doubling, as a node does). Once all have
 * joined (or `--join-timeout-s` passed), `--lookups` FIND_NODE lookups, `--concurrency` at a
 * time, each from a random node for another random node's ID; one succeeds when the target is
 * the first contact found. One JSON object on stdout (progress on stderr):
 *
 * - `join`: nodes joined, the time from the first join until the last node joined
 *   (`all_joined_s`, null when some never did), and the p50/p99 of each node's own join time;
 * - `lookups`: success rate, p50/p99 latency;
 * - `memory`: RSS of the process after joining, and per node (RSS growth over the empty process,
 *   divided by N);
 * - `cpu_s`: CPU time (user + system) the process spent joining and on the lookups: the work
 *   done, which unlike wall time hardly depends on what else the machine runs;
 * - `channel`, `rpc` and `probe`: the nodes' counters summed (handshakes started, completed,
 *   abandoned, INITs resent, RESPONSEs resent from the cache, rekeys; requests resent, timed out,
 *   held while the node's own receive queue was behind; receive-queue probes and the longest
 *   one's wait, the deepest local queue seen).
 *
 * Usage: deno task bench:thousand [--nodes 1000] [--bootstraps 4] [--lookups 1000]
 *   [--concurrency 16] [--join-timeout-s 120] [--join-rate 0] [--lift-limits]
 *
 * `--lift-limits` lifts the DHT's request rate limits (by default a node answers 50 requests a
 * second per peer and 5,000 from all, which the bootstraps reach when hundreds join at once).
 * Exit status: 0 measured, 1 failed, 2 bad arguments.
 *
 * @module
 */

import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { resolveConfig } from "../src/core/config.ts";
import { generateEd25519KeyPair } from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";
import { SystemClock } from "../src/core/system_clock.ts";
import { DhtNode } from "../src/dht/node.ts";
import type { Contact } from "../src/dht/types.ts";
import type { PeerAddress } from "../src/net/address.ts";
import { SecureChannel, type SecureChannelStats } from "../src/net/secure_channel.ts";
import { UdpTransport } from "../src/net/udp_transport.ts";
import { cryptoRandomBytes, CryptoRng } from "../src/node/crypto_rng.ts";
import { ReceiveProbe } from "../src/node/receive_probe.ts";
import { MemoryValueStore } from "../src/store/memory_value_store.ts";

/** Longest the core sleeps when nothing is due, as in `RhizomeNode`. */
const wakeupIntervalMaxMs = 60_000;
/** First wait before a failed join is retried; doubles, as `RhizomeNode` does. */
const joinRetryFirstMs = 1000;
const joinRetryMaxMs = 60_000;

/** One node: socket, channel, DHT and the timer that drives them. */
class BenchNode {
  readonly nodeId: NodeId;
  readonly udp: UdpTransport;
  readonly channel: SecureChannel;
  readonly dht: DhtNode;
  readonly probe: ReceiveProbe;
  readonly #clock: SystemClock;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wakeAtMs = Infinity;
  #stopped = false;

  private constructor(
    nodeId: NodeId,
    udp: UdpTransport,
    channel: SecureChannel,
    dht: DhtNode,
    probe: ReceiveProbe,
    clock: SystemClock,
  ) {
    this.nodeId = nodeId;
    this.udp = udp;
    this.channel = channel;
    this.dht = dht;
    this.probe = probe;
    this.#clock = clock;
  }

  static async start(settings: ReturnType<typeof benchSettings>): Promise<BenchNode> {
    const keyPair = generateEd25519KeyPair();
    const nodeId = NodeId.fromPublicKey(keyPair.publicKey);
    const clock = new SystemClock();
    let receive = (_from: PeerAddress, _bytes: Uint8Array) => {};
    const udp = await UdpTransport.bind(
      { host: "127.0.0.1", port: 0 },
      (from, bytes) => receive(from, bytes),
    );
    const probe = new ReceiveProbe(
      (bytes) => udp.send(udp.address, bytes),
      () => clock.nowMs(),
      cryptoRandomBytes,
    );
    const localQueueClearedMs = () => probe.clearedMs();
    const channel = new SecureChannel({
      identity: keyPair,
      clock,
      transport: udp,
      randomBytes: cryptoRandomBytes,
      localQueueClearedMs,
    });
    const dht = new DhtNode({
      nodeId,
      address: udp.address,
      clock,
      transport: { send: (to, bytes, expectedId) => void channel.send(to, expectedId, bytes) },
      store: new MemoryValueStore({ clock, classes: settings.store }),
      rng: new CryptoRng(),
      settings,
      localQueueClearedMs,
    });
    const node = new BenchNode(nodeId, udp, channel, dht, probe, clock);
    receive = (from, bytes) => node.#receive(from, bytes);
    node.schedule();
    return node;
  }

  #receive(from: PeerAddress, datagram: Uint8Array): void {
    if (this.#stopped) return;
    if (this.probe.take(datagram)) return this.schedule();
    const received = this.channel.receive(from, datagram);
    if (received) this.dht.receive(from, received.plaintext, received.peer);
    this.schedule();
  }

  /** (Re)arms the one timer at the core's next deadline, as `RhizomeNode.#schedule` does. */
  schedule(): void {
    if (this.#stopped) return;
    const nowMs = this.#clock.nowMs();
    const next = Math.min(
      this.dht.nextWakeupMs(),
      this.channel.nextWakeupMs(),
      nowMs + wakeupIntervalMaxMs,
    );
    if (this.#timer !== undefined && next >= this.#wakeAtMs) return;
    clearTimeout(this.#timer);
    this.#wakeAtMs = next;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#wakeAtMs = Infinity;
      this.channel.tick();
      this.dht.tick();
      this.schedule();
    }, Math.max(0, next - nowMs));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.dht.stop();
    await this.udp.close();
  }
}

function benchSettings(liftLimits: boolean) {
  const lifted = [
    { path: "dht.peer_requests_per_s", value: 1_000_000 },
    { path: "dht.peer_requests_burst", value: 1_000_000 },
    { path: "dht.requests_per_s", value: 10_000_000 },
    { path: "dht.requests_burst", value: 10_000_000 },
  ];
  const { config } = resolveConfig({
    overrides: (liftLimits ? lifted : []).map((setting) => ({ ...setting, origin: "bench" })),
  });
  return { dht: config.dht, profile: config.profiles.full, store: config.store };
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function round(value: number | null, digits = 1): number | null {
  return value === null ? null : Number(value.toFixed(digits));
}

function progress(message: string): void {
  console.error(`[bench_thousand ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function rssBytes(): number {
  return Deno.memoryUsage().rss;
}

/** A node's ID and address, to join through. */
function contactOf(node: BenchNode): Contact {
  return { nodeId: node.dht.id, address: node.udp.address };
}

/** Joins `node` through `seeds`, retrying with backoff until it succeeds or `deadlineMs`. */
function join(node: BenchNode, seeds: Contact[], deadlineMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const attempt = (retryMs: number) => {
      node.dht.bootstrap(seeds, (result) => {
        if (result.ok) return resolve(true);
        if (Date.now() + retryMs > deadlineMs) return resolve(false);
        setTimeout(() => attempt(Math.min(retryMs * 2, joinRetryMaxMs)), retryMs);
      });
      node.schedule();
    };
    attempt(joinRetryFirstMs);
  });
}

function lookup(node: BenchNode, target: NodeId): Promise<{ ok: boolean; ms: number }> {
  const startMs = performance.now();
  return new Promise((resolve) => {
    node.dht.findNode(target, (result) => {
      resolve({
        ok: result.closest.length > 0 && result.closest[0].nodeId.equals(target),
        ms: performance.now() - startMs,
      });
    });
    node.schedule();
  });
}

function sumChannelStats(nodes: readonly BenchNode[]) {
  const sum = {
    handshakes_started: 0,
    handshakes_completed: 0,
    handshakes_answered: 0,
    handshakes_abandoned: 0,
    handshakes_finished_late: 0,
    handshake_retries: 0,
    handshake_responses_resent: 0,
    handshake_retries_held: 0,
    rekeys: 0,
    sessions_suspected: 0,
    sessions: 0,
    dropped: {} as Record<string, number>,
    send_dropped: {} as Record<string, number>,
  };
  for (const node of nodes) {
    const stats: SecureChannelStats = node.channel.stats();
    sum.handshakes_started += stats.handshakesStarted;
    sum.handshakes_completed += stats.handshakesCompleted;
    sum.handshakes_answered += stats.handshakesAnswered;
    sum.handshakes_abandoned += stats.handshakesAbandoned;
    sum.handshakes_finished_late += stats.handshakesFinishedLate;
    sum.handshake_retries += stats.handshakeRetries;
    sum.handshake_responses_resent += stats.handshakeResponsesResent;
    sum.handshake_retries_held += stats.handshakeRetriesPostponed;
    sum.rekeys += stats.rekeys;
    sum.sessions_suspected += stats.sessionsSuspected;
    sum.sessions += stats.sessions;
    for (const [reason, count] of Object.entries(stats.dropped)) {
      if (count > 0) sum.dropped[reason] = (sum.dropped[reason] ?? 0) + count;
    }
    for (const [reason, count] of Object.entries(stats.sendDropped)) {
      if (count > 0) sum.send_dropped[reason] = (sum.send_dropped[reason] ?? 0) + count;
    }
  }
  return sum;
}

function sumProbeStats(nodes: readonly BenchNode[]) {
  const sum = { sent: 0, returned: 0, lost: 0, delay_ms_max: 0 };
  for (const node of nodes) {
    const stats = node.probe.stats();
    sum.sent += stats.sent;
    sum.returned += stats.returned;
    sum.lost += stats.lost;
    sum.delay_ms_max = Math.max(sum.delay_ms_max, Math.round(stats.delayMsMax));
  }
  return sum;
}

function sumRpcStats(nodes: readonly BenchNode[]) {
  const sum = {
    sent: 0,
    retries: 0,
    held: 0,
    timeouts: 0,
    replies: 0,
    unmatched: 0,
    rate_limited: 0,
  };
  for (const node of nodes) {
    const stats = node.dht.stats();
    sum.sent += stats.rpc.sent;
    sum.retries += stats.rpc.retries;
    sum.held += stats.rpc.postponed;
    sum.timeouts += stats.rpc.timeouts;
    sum.replies += stats.rpc.replies;
    sum.unmatched += stats.rpc.unmatched;
    sum.rate_limited += stats.dropped.peerRateLimited + stats.dropped.rateLimited;
  }
  return sum;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      nodes: { type: "string", default: "1000" },
      bootstraps: { type: "string", default: "4" },
      lookups: { type: "string", default: "1000" },
      concurrency: { type: "string", default: "16" },
      "join-timeout-s": { type: "string", default: "120" },
      "join-rate": { type: "string", default: "0" },
      "lift-limits": { type: "boolean", default: false },
    },
  });
  const count = (name: keyof typeof values, min: number, max: number): number => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min || value > max) {
      console.error(`bench_thousand: --${name} must be a whole number from ${min} to ${max}`);
      Deno.exit(2);
    }
    return value;
  };
  const nodeCount = count("nodes", 2, 5000);
  const bootstrapCount = count("bootstraps", 1, nodeCount - 1);
  const lookupCount = count("lookups", 0, 100_000);
  const concurrency = count("concurrency", 1, 1000);
  const joinTimeoutMs = count("join-timeout-s", 1, 3600) * 1000;
  const joinRate = count("join-rate", 0, 100_000);
  const settings = benchSettings(values["lift-limits"]);

  const rssEmpty = rssBytes();
  const nodes: BenchNode[] = [];
  try {
    progress(`starting ${nodeCount} nodes`);
    for (let i = 0; i < nodeCount; i++) nodes.push(await BenchNode.start(settings));
    const bootstraps = nodes.slice(0, bootstrapCount);
    const seedsOfFirst = [contactOf(bootstraps[0])];
    for (const node of bootstraps.slice(1)) {
      if (!await join(node, seedsOfFirst, Date.now() + joinTimeoutMs)) {
        throw new Error("a bootstrap node could not join the first");
      }
    }
    const seeds = bootstraps.map(contactOf);
    const pace = joinRate === 0 ? "at once" : `${joinRate} a second`;
    progress(`${bootstrapCount} bootstraps up; ${nodeCount - bootstrapCount} nodes join ${pace}`);
    const joinStartMs = performance.now();
    const cpuAtJoin = cpuUsage();
    const joinDeadlineMs = Date.now() + joinTimeoutMs;
    const joinTimes: number[] = [];
    let joined = bootstrapCount;
    const report = setInterval(() => progress(`${joined}/${nodeCount} joined`), 5000);
    await Promise.all(
      nodes.slice(bootstrapCount).map(async (node, index) => {
        if (joinRate > 0) await new Promise((go) => setTimeout(go, (index * 1000) / joinRate));
        const nodeStartMs = performance.now();
        if (await join(node, seeds, joinDeadlineMs)) {
          joinTimes.push(performance.now() - nodeStartMs);
          joined++;
        }
      }),
    );
    clearInterval(report);
    const joinEndS = (performance.now() - joinStartMs) / 1000;
    const cpuJoin = cpuUsage(cpuAtJoin);
    joinTimes.sort((a, b) => a - b);
    const rssJoined = rssBytes();
    const channelAfterJoin = sumChannelStats(nodes);
    const rpcAfterJoin = sumRpcStats(nodes);
    const probeAfterJoin = sumProbeStats(nodes);
    progress(`${joined}/${nodeCount} joined in ${joinEndS.toFixed(1)} s; ${lookupCount} lookups`);

    const latencies: number[] = [];
    let succeeded = 0;
    let next = 0;
    const lookupStartMs = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < lookupCount) {
        next++;
        const from = nodes[Math.floor(Math.random() * nodeCount)];
        let to = nodes[Math.floor(Math.random() * nodeCount)];
        while (to === from) to = nodes[Math.floor(Math.random() * nodeCount)];
        const { ok, ms } = await lookup(from, to.nodeId);
        latencies.push(ms);
        if (ok) succeeded++;
      }
    }));
    const lookupsS = (performance.now() - lookupStartMs) / 1000;
    const cpuLookups = cpuUsage(cpuAtJoin);
    latencies.sort((a, b) => a - b);
    const result = {
      nodes: nodeCount,
      bootstraps: bootstrapCount,
      join_rate_per_s: joinRate === 0 ? "all at once" : joinRate,
      limits_lifted: values["lift-limits"],
      cores: navigator.hardwareConcurrency,
      join: {
        joined,
        all_joined_s: joined === nodeCount ? round(joinEndS) : null,
        node_join_p50_s: round(percentile(joinTimes, 50)! / 1000),
        node_join_p99_s: round(percentile(joinTimes, 99)! / 1000),
        channel: channelAfterJoin,
        rpc: rpcAfterJoin,
        probe: probeAfterJoin,
      },
      lookups: {
        count: lookupCount,
        concurrency,
        success: lookupCount === 0 ? null : round(succeeded / lookupCount, 4),
        p50_ms: round(percentile(latencies, 50)),
        p99_ms: round(percentile(latencies, 99)),
        duration_s: round(lookupsS),
      },
      cpu_s: {
        join: round((cpuJoin.user + cpuJoin.system) / 1e6),
        join_and_lookups: round((cpuLookups.user + cpuLookups.system) / 1e6),
      },
      memory: {
        rss_mb: round(rssJoined / 2 ** 20),
        rss_per_node_kb: Math.round((rssJoined - rssEmpty) / nodeCount / 1024),
      },
      channel: sumChannelStats(nodes),
      rpc: sumRpcStats(nodes),
      probe: sumProbeStats(nodes),
    };
    console.log(JSON.stringify(result, null, 2));
    return 0;
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
  }
}

if (import.meta.main) {
  main().then((status) => Deno.exit(status), (error) => {
    console.error(`bench_thousand: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  });
}
