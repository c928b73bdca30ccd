/**
 * A real network on loopback, measured (issue 5): N `rhizome run` processes, each with its own
 * temp data dir and random ports, all joined through node 0. It reports, as one JSON object on
 * stdout (progress goes to stderr):
 *
 * - `loopback_rpc`: authenticated PINGs per second one node serves when it runs in its own process
 *   (request limits lifted through the environment) and the client in this one, against a bare
 *   node:dgram echo between two processes, both with 32 requests in flight: the cost of our stack
 *   with client and server on separate cores, unlike `bench/node_bench.ts` where they share one;
 * - `start`: the time to start every node and the time until each knows at least 5 contacts;
 * - `put_get`: 50 times, a fresh value put through one random node's control API, then got at once
 *   through another's: put, get and put→get latency (median, p95), split by whether the getter
 *   is among the key's k closest nodes (and so should hold a copy already);
 * - `memory_after_join`, `memory_after_put_get`: each node's resident memory (`rss_mb`, VmRSS)
 *   and its peak (`peak_rss_mb`, VmHWM), from /proc, so a machine can be sized for many nodes;
 * - `discussion`: `--posts` times, a post made through one random node's control API into a thread
 *   of its own (created beforehand on another random node), then `thread show` on a third node,
 *   back to back, until the message is there: the post's own latency, and the time from starting
 *   the post to seeing it elsewhere (median, p95); then `posts_per_s`: `--burst` posts into one
 *   thread through one node, 8 at a time, the rate that node accepts them (each acknowledged after
 *   its record and index entries are durable here and stored at the k closest);
 * - `counters`: the nodes' RPC and drop counters summed (retries, rate-limited requests, …).
 *
 * Usage: deno run --no-prompt --allow-read --allow-write --allow-env --allow-ffi --allow-net
 *   --allow-sys --allow-run scripts/bench_network.ts [--nodes 100] [--samples 50]
 *   [--posts 30] [--burst 200] [--start-concurrency 4] [--min-contacts 5] [--timeout-s 480]
 *
 * Every wait is bounded, the whole run by `--timeout-s`; every child is killed and every temp dir
 * removed on the way out, also on SIGINT and SIGTERM. Linux only (/proc). Exit status: 0 measured,
 * 1 failed, 2 bad arguments.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { AuthorKeys } from "../src/node/data_dir/author_keys.ts";
import { utf8Decode, utf8Encode } from "../src/core/bytes.ts";
import { NodeId } from "../src/core/node_id.ts";
import { PeerAddress } from "../src/net/address.ts";
import {
  ChildProcesses,
  type NodeProcess,
  signalChild,
  withCleanUp,
  within,
} from "./_node_processes.ts";
import { pingDatagramBytes, timePings, timeRawEcho, WINDOW } from "../bench/_loopback_rpc.ts";
import { controlRoutes } from "../src/api/routes.ts";

/** The DHT's k in the default configuration: how many nodes a put stores at. */
const k = 20;
/** Round trips per timed loopback run, and runs (the median is reported). */
const rpcRoundTrips = 20_000;
const rpcRuns = 3;
/** Longest the network may take to join, within the overall timeout. */
const joinTimeoutMs = 180_000;

/** A running node process. */
interface Child extends NodeProcess {
  index: number;
}

/** Every child started, so the cleanup can find them all. */
const processes = new ChildProcesses();

function progress(message: string): void {
  console.error(`[bench_network ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** Milliseconds left before `deadlineMs`, at least 1. */
function left(deadlineMs: number): number {
  return Math.max(1, deadlineMs - Date.now());
}

/** Starts node `index` with more flags `args` and environment `env`. */
async function startNode(
  index: number,
  dataDir: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<Child> {
  const node = await processes.startNode({
    label: `node ${index}`,
    dataDir,
    args,
    env,
    startTimeoutMs: timeoutMs,
    clientTimeoutMs: 30_000,
  });
  return { index, ...node };
}

/** Runs `task` on each item, at most `concurrency` at a time, in order of the items. */
async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const index = next++;
      try {
        results[index] = await task(items[index]);
      } catch (error) {
        failed = true; // the other workers take nothing more
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** The value at quantile `q` (nearest rank) of `values`. */
function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function summary(values: readonly number[]): { n: number; median: number; p95: number } {
  return {
    n: values.length,
    median: round(quantile(values, 0.5)),
    p95: round(quantile(values, 0.95)),
  };
}

/**
 * Resident memory and its peak (VmRSS, VmHWM from /proc/<pid>/status) of each process, in MB.
 * Deno grants /proc/<pid>/ files to `--allow-all` only, so `cat` reads them (`--allow-run`).
 */
async function memoryOf(
  pids: readonly number[],
): Promise<Map<number, { rss: number; hwm: number }>> {
  const output = await new Deno.Command("cat", {
    args: pids.map((pid) => `/proc/${pid}/status`),
    stdout: "piped",
    stderr: "null",
  }).output();
  const memory = new Map<number, { rss: number; hwm: number }>();
  for (const block of new TextDecoder().decode(output.stdout).split(/^(?=Name:)/m)) {
    const number = (name: string) => {
      const match = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(block);
      return match ? Number(match[1]) : undefined;
    };
    const pid = number("Pid");
    const rss = number("VmRSS");
    const hwm = number("VmHWM");
    if (pid !== undefined && rss !== undefined && hwm !== undefined) {
      memory.set(pid, { rss: rss / 1024, hwm: hwm / 1024 });
    }
  }
  return memory;
}

/** Starts a node:dgram echo server in its own Deno process; resolves with its port. */
async function startEchoProcess(): Promise<{ port: number; proc: Deno.ChildProcess }> {
  const code = [
    `import { createSocket } from "node:dgram";`,
    `const socket = createSocket("udp4");`,
    `socket.on("message", (bytes, from) => socket.send(bytes, from.port, from.address));`,
    `socket.bind(0, "127.0.0.1", () => console.log(socket.address().port));`,
  ].join("\n");
  const proc = processes.spawn(
    "the echo process",
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-prompt", "--allow-net=127.0.0.1", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }),
  );
  const writer = proc.stdin.getWriter();
  await writer.write(utf8Encode(code));
  await writer.close();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  await within(
    "the echo process to start",
    20_000,
    (async () => {
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the echo process exited");
        text += value;
      }
    })(),
  );
  reader.cancel().catch(() => {});
  return { port: Number(text.trim()), proc };
}

/**
 * PINGs per second a node in its own process serves, and bare echoes per second between two
 * processes, each the median of {@link rpcRuns} runs after a warm-up.
 */
async function measureLoopbackRpc(root: string, deadlineMs: number) {
  const limitsLifted = {
    RHIZOME_DHT_PEER_REQUESTS_PER_S: "1000000",
    RHIZOME_DHT_PEER_REQUESTS_BURST: "1000000",
    RHIZOME_DHT_REQUESTS_PER_S: "10000000",
    RHIZOME_DHT_REQUESTS_BURST: "10000000",
  };
  const node = await startNode(-1, join(root, "rpc-node"), [], limitsLifted, left(deadlineMs));
  const echo = await startEchoProcess();
  try {
    const status = await node.client.call(controlRoutes.status);
    const address = PeerAddress.parse(status.listen as string)!;
    const nodeId = NodeId.fromHex(node.nodeId);
    const pingMs: number[] = [];
    const echoMs: number[] = [];
    await timePings(address, nodeId, rpcRoundTrips / 4);
    await timeRawEcho(echo.port, rpcRoundTrips / 4);
    for (let run = 0; run < rpcRuns; run++) {
      pingMs.push(
        await within("PINGs", left(deadlineMs), timePings(address, nodeId, rpcRoundTrips)),
      );
      echoMs.push(await within("echoes", left(deadlineMs), timeRawEcho(echo.port, rpcRoundTrips)));
    }
    const pingPerS = rpcRoundTrips / (quantile(pingMs, 0.5) / 1000);
    const echoPerS = rpcRoundTrips / (quantile(echoMs, 0.5) / 1000);
    const dropped =
      ((await node.client.call(controlRoutes.status)).dht as { dropped: Record<string, number> })
        .dropped;
    return {
      window: WINDOW,
      round_trips_per_run: rpcRoundTrips,
      runs: rpcRuns,
      ping_per_s: Math.round(pingPerS),
      echo_per_s: Math.round(echoPerS),
      echo_bytes: pingDatagramBytes,
      echo_over_ping: round(echoPerS / pingPerS, 2),
      rate_limited: dropped.peerRateLimited + dropped.rateLimited,
    };
  } finally {
    signalChild(node.proc);
    signalChild(echo.proc);
    await within(
      "the RPC node and echo to end",
      10_000,
      Promise.all([node.exited, echo.proc.status]),
    )
      .catch(() => {});
  }
}

/** Starts node 0, then the rest joined through it, `concurrency` start-ups at a time. */
async function startNetwork(
  root: string,
  count: number,
  concurrency: number,
  deadlineMs: number,
): Promise<Child[]> {
  const first = await startNode(0, join(root, "node-0"), [], {}, left(deadlineMs));
  const bootstrap = ["--bootstrap", first.contact];
  let startedCount = 1;
  const rest = await pool(
    Array.from({ length: count - 1 }, (_, i) => i + 1),
    concurrency,
    async (index) => {
      const child = await startNode(
        index,
        join(root, `node-${index}`),
        bootstrap,
        {},
        Math.min(60_000, left(deadlineMs)),
      );
      if (++startedCount % 10 === 0) progress(`${startedCount} of ${count} nodes started`);
      return child;
    },
  );
  return [first, ...rest];
}

/** Polls every node until each knows `minContacts` contacts or `timeoutMs` passes. */
async function waitForContacts(
  nodes: readonly Child[],
  minContacts: number,
  timeoutMs: number,
): Promise<{ joined: number; contacts: number[] }> {
  const deadline = Date.now() + timeoutMs;
  const contacts = nodes.map(() => 0);
  let waiting = [...nodes];
  while (waiting.length > 0 && Date.now() < deadline) {
    await pool(waiting, 8, async (node) => {
      const status = await node.client.call(controlRoutes.status).catch(() => undefined);
      if (status) contacts[node.index] = status.contacts as number;
    });
    waiting = waiting.filter((node) => contacts[node.index] < minContacts);
    if (waiting.length > 0) {
      progress(`${nodes.length - waiting.length} of ${nodes.length} nodes know ${minContacts}+`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  return { joined: nodes.length - waiting.length, contacts };
}

/** Whether `nodeHex` is among the `k` IDs of `all` closest to `keyHex`. */
function amongClosest(keyHex: string, nodeHex: string, all: readonly string[]): boolean {
  const key = NodeId.fromHex(keyHex);
  const ids = all.map((hex) => NodeId.fromHex(hex)).sort((a, b) => a.compareDistance(b, key));
  return ids.slice(0, k).some((id) => id.toHex() === nodeHex);
}

function randomIndex(count: number, except?: number): number {
  while (true) {
    const index = Math.floor(Math.random() * count);
    if (index !== except) return index;
  }
}

/** `samples` puts on random nodes, each got at once from another random node. */
async function measurePutGet(nodes: readonly Child[], samples: number, deadlineMs: number) {
  const ids = nodes.map((node) => node.nodeId);
  const putMs: number[] = [];
  const getMs: number[] = [];
  const totalMs: number[] = [];
  const getFromHolderMs: number[] = [];
  const getFromOtherMs: number[] = [];
  const stored: number[] = [];
  let found = 0;
  for (let sample = 0; sample < samples; sample++) {
    const putter = nodes[randomIndex(nodes.length)];
    const getter = nodes[randomIndex(nodes.length, putter.index)];
    const text = `bench_network sample ${sample} at ${Date.now()} ${crypto.randomUUID()}`;
    const started = performance.now();
    const put = await within(
      "a put",
      left(deadlineMs),
      putter.client.call(controlRoutes.put, { value: utf8Encode(text) }),
    );
    const putDone = performance.now();
    const got = await within(
      "a get",
      left(deadlineMs),
      getter.client.call(controlRoutes.get, NodeId.fromHex(put.key)),
    );
    const getDone = performance.now();
    if (got !== undefined && utf8Decode(got) === text) found++;
    putMs.push(putDone - started);
    getMs.push(getDone - putDone);
    totalMs.push(getDone - started);
    stored.push(put.stored);
    const holder = amongClosest(put.key, getter.nodeId, ids);
    (holder ? getFromHolderMs : getFromOtherMs).push(getDone - putDone);
    if ((sample + 1) % 10 === 0) progress(`${sample + 1} of ${samples} put→get samples`);
  }
  return {
    samples,
    found,
    put_ms: summary(putMs),
    get_ms: summary(getMs),
    put_then_get_ms: summary(totalMs),
    get_from_a_closest_node_ms: summary(getFromHolderMs),
    get_from_other_nodes_ms: summary(getFromOtherMs),
    stored_at: { median: quantile(stored, 0.5), min: Math.min(...stored) },
  };
}

/** Longest one post may take to show on another node before the sample counts as not seen. */
const visibleTimeoutMs = 15_000;

/** Post → visible on another node, and the rate one node accepts posts (see the module doc). */
async function measureDiscussion(
  nodes: readonly Child[],
  samples: number,
  burst: number,
  deadlineMs: number,
) {
  await pool(nodes, 8, (node) => new AuthorKeys(join(node.dataDir, "authors")).create("bench"));
  const threads: string[] = [];
  const threadMs: number[] = [];
  for (let sample = 0; sample < samples; sample++) {
    const creator = nodes[randomIndex(nodes.length)];
    const started = performance.now();
    const created = await within(
      "a new thread",
      left(deadlineMs),
      creator.client.call(controlRoutes.newThread, {
        title: `bench thread ${sample}`,
        body: `Bench thread ${sample}.`,
      }),
    );
    threadMs.push(performance.now() - started);
    threads.push(created.id);
  }
  const postMs: number[] = [];
  const visibleMs: number[] = [];
  const polls: number[] = [];
  let seen = 0;
  for (const [sample, thread] of threads.entries()) {
    const poster = nodes[randomIndex(nodes.length)];
    const viewer = nodes[randomIndex(nodes.length, poster.index)];
    const started = performance.now();
    const post = await within(
      "a post",
      left(deadlineMs),
      poster.client.call(controlRoutes.post, {
        thread: NodeId.fromHex(thread),
        body: `bench post ${sample}`,
      }),
    );
    postMs.push(performance.now() - started);
    let count = 0;
    while (performance.now() - started < visibleTimeoutMs) {
      count++;
      const view = await within(
        "a thread show",
        left(deadlineMs),
        viewer.client.call(controlRoutes.showThread, { thread: NodeId.fromHex(thread), limit: 10 }),
      );
      if (view.messages.some((message) => message.id === post.id)) {
        visibleMs.push(performance.now() - started);
        seen++;
        break;
      }
    }
    polls.push(count);
    if ((sample + 1) % 10 === 0) progress(`${sample + 1} of ${samples} post→visible samples`);
  }
  const busy = nodes[randomIndex(nodes.length)];
  const burstThread = await busy.client.call(controlRoutes.newThread, {
    title: "bench burst",
    body: "A burst of votes on this thread.",
  });
  const sentBefore = (await networkCounters(nodes)).rpc_sent ?? 0;
  let next = 0;
  const burstStarted = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < burst) {
      const index = next++;
      await within(
        "a burst post",
        left(deadlineMs),
        busy.client.call(controlRoutes.post, {
          thread: NodeId.fromHex(burstThread.id),
          body: `burst ${index}`,
        }),
      );
    }
  }));
  const burstS = (performance.now() - burstStarted) / 1000;
  const sentDuring = ((await networkCounters(nodes)).rpc_sent ?? 0) - sentBefore;
  return {
    samples,
    seen,
    new_thread_ms: summary(threadMs),
    post_ms: summary(postMs),
    post_to_visible_elsewhere_ms: summary(visibleMs),
    thread_show_polls: { median: quantile(polls, 0.5), max: Math.max(...polls) },
    burst: {
      posts: burst,
      in_flight: 8,
      seconds: round(burstS, 2),
      posts_per_s: round(burst / burstS),
      // Every node's requests, not only the poster's: what one post costs the network.
      network_rpcs_per_post: round(sentDuring / burst),
      network_rpcs_per_s: round(sentDuring / burstS),
    },
  };
}

async function measureRss(nodes: readonly Child[]) {
  const memory = await memoryOf(nodes.map((node) => node.proc.pid));
  const rss = [...memory.values()].map((entry) => entry.rss);
  const peak = [...memory.values()].map((entry) => entry.hwm);
  const stats = (values: number[]) => ({
    n: values.length,
    median: round(quantile(values, 0.5)),
    max: round(Math.max(...values)),
    min: round(Math.min(...values)),
    total: round(values.reduce((sum, value) => sum + value, 0), 0),
  });
  return { rss_mb: stats(rss), peak_rss_mb: stats(peak) };
}

/** Counters summed over all nodes, to see what the network did during the run. */
async function networkCounters(nodes: readonly Child[]) {
  const totals: Record<string, number> = {};
  const add = (name: string, value: unknown) => {
    if (typeof value === "number") totals[name] = (totals[name] ?? 0) + value;
  };
  await pool(nodes, 8, async (node) => {
    const status = await node.client.call(controlRoutes.status).catch(() => undefined);
    if (!status) return add("unreachable", 1);
    const dht = status.dht as { dropped: Record<string, number>; rpc: Record<string, number> };
    for (const [reason, count] of Object.entries(dht.dropped)) add(`dht_dropped_${reason}`, count);
    for (const [name, count] of Object.entries(dht.rpc)) add(`rpc_${name}`, count);
    const channel = status.channel as { dropped: Record<string, number> };
    for (const [reason, count] of Object.entries(channel.dropped)) {
      add(`channel_dropped_${reason}`, count);
    }
  });
  return Object.fromEntries(Object.entries(totals).filter(([, count]) => count > 0));
}

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        nodes: { type: "string", default: "100" },
        samples: { type: "string", default: "50" },
        posts: { type: "string", default: "30" },
        burst: { type: "string", default: "200" },
        "start-concurrency": { type: "string", default: "4" },
        "min-contacts": { type: "string", default: "5" },
        "timeout-s": { type: "string", default: "480" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`bench_network: ${(error as Error).message.split("\n")[0]}`);
    return 2;
  }
  const numbers = Object.fromEntries(
    Object.entries(values).map(([name, text]) => [name, Number(text)]),
  );
  const bad = Object.entries(numbers).find(([, value]) =>
    !Number.isSafeInteger(value) || value < 1
  );
  if (bad || numbers.nodes < 2) {
    console.error(`bench_network: --${bad?.[0] ?? "nodes"} must be a whole number (nodes ≥ 2)`);
    return 2;
  }
  const count = numbers.nodes;
  const startMs = Date.now();
  const deadlineMs = startMs + numbers["timeout-s"] * 1000;
  const root = await Deno.makeTempDir({ prefix: "rhizome-bench-network-" });
  let nodes: Child[] = [];
  return await withCleanUp({
    processes,
    root,
    overallMs: numbers["timeout-s"] * 1000 + 15_000,
    overallLine: `overall timeout of ${numbers["timeout-s"]} s: killing the nodes`,
    progress,
  }, async () => {
    try {
      progress("measuring one node's authenticated PINGs against a bare echo");
      const loopbackRpc = await measureLoopbackRpc(root, deadlineMs);
      progress(`${loopbackRpc.ping_per_s} PINGs/s, ${loopbackRpc.echo_per_s} echoes/s`);

      progress(`starting ${count} nodes, ${numbers["start-concurrency"]} at a time`);
      const networkStart = performance.now();
      nodes = await startNetwork(root, count, numbers["start-concurrency"], deadlineMs);
      const startedS = (performance.now() - networkStart) / 1000;
      progress(`all ${count} nodes started in ${round(startedS)} s; waiting for contacts`);
      const joined = await waitForContacts(
        nodes,
        numbers["min-contacts"],
        Math.min(joinTimeoutMs, left(deadlineMs)),
      );
      const joinedS = (performance.now() - networkStart) / 1000;
      const rssAfterJoin = await measureRss(nodes);

      progress(`${joined.joined} of ${count} joined; ${numbers.samples} put→get samples`);
      const putGet = await measurePutGet(nodes, numbers.samples, deadlineMs);
      const rssAfterPutGet = await measureRss(nodes);
      progress(`${numbers.posts} post→visible samples, then a burst of ${numbers.burst} posts`);
      const discussion = await measureDiscussion(nodes, numbers.posts, numbers.burst, deadlineMs);
      const counters = await networkCounters(nodes);
      const contacts = (await pool(nodes, 8, (node) =>
        node.client.call(controlRoutes.status).catch(() =>
          undefined
        )))
        .map((status) =>
          (status?.contacts as number | undefined) ?? 0
        );

      const report = {
        nodes: count,
        machine: {
          cpus: navigator.hardwareConcurrency,
          deno: Deno.version.deno,
          memory_gib: round(Deno.systemMemoryInfo().total / 2 ** 30),
        },
        loopback_rpc: loopbackRpc,
        start: {
          concurrency: numbers["start-concurrency"],
          all_started_s: round(startedS),
          all_joined_s: round(joinedS),
          min_contacts: numbers["min-contacts"],
          nodes_joined: joined.joined,
          contacts_at_join: {
            median: quantile(joined.contacts, 0.5),
            min: Math.min(...joined.contacts),
          },
          contacts_at_end: { median: quantile(contacts, 0.5), min: Math.min(...contacts) },
        },
        put_get: putGet,
        memory_after_join: rssAfterJoin,
        memory_after_put_get: rssAfterPutGet,
        discussion,
        counters,
        elapsed_s: round((Date.now() - startMs) / 1000),
      };
      console.log(JSON.stringify(report, null, 2));
      return 0;
    } catch (error) {
      progress(`failed: ${(error as Error).stack ?? error}`);
      for (const node of nodes.slice(0, 3)) {
        progress(`--- node ${node.index} stderr (last lines) ---\n${node.stderr().slice(-1500)}`);
      }
      return 1;
    }
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
