/**
 * A real network on loopback under continuous churn (issue 14): `--nodes` `rhizome run` processes,
 * each with its own temp data dir and random ports. The first `--stable` of them stay up all run
 * and serve the workload; the others churn: every `--churn-interval` one of them is stopped —
 * SIGKILL with probability `--kill-fraction`, SIGINT (a graceful stop) otherwise — and a new node
 * with a fresh identity joins through two random live nodes (`--bootstrap`), so the population
 * stays at `--nodes`. Meanwhile four workers send a mixed workload through the control APIs of the
 * stable nodes — get (of values stored earlier), put, thread new, thread list, thread show and
 * post — back to back. A third of the way through, `--silent` "silent identities" join, answer
 * for a few seconds (so they enter routing tables), then are frozen with SIGSTOP; put latency
 * before they join is compared with put latency after they went silent.
 *
 * Prints one JSON object on stdout (progress on stderr): per operation the count, successes,
 * success rate and p50/p99/max latency and the most frequent errors; the population's changes
 * (starts, graceful stops and their exit codes and durations, kills); put p50 before and after the
 * silent identities; and one row per `--window` (live nodes, operations, success, p50/p99).
 *
 * Usage: deno task bench:churn [--duration 10m] [--nodes 30] [--stable 5] [--silent 5]
 *   [--churn-interval 5s] [--kill-fraction 0.5] [--window 60s] [--values 20] [--threads 5]
 *   (durations: a number with ms, s, m or h; a bare number is seconds)
 *
 * Every wait is bounded, the whole run by the duration plus 5 minutes; every child is killed and
 * every temp dir removed on the way out, also on SIGINT and SIGTERM. Linux only (SIGSTOP).
 * Exit status: 0 measured, 1 failed, 2 bad arguments.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { AuthorKeys } from "../src/node/data_dir/author_keys.ts";
import { utf8Encode } from "../src/core/bytes.ts";
import {
  ChildProcesses,
  type NodeProcess,
  signalChild,
  withCleanUp,
  within,
} from "./_node_processes.ts";
import { controlRoutes } from "../src/api/routes.ts";
import { NodeId } from "../src/core/node_id.ts";

/** Longest a node may take to print its contact. */
const startTimeoutMs = 60_000;
/** Longest a graceful stop may take before the node is killed (and the stop counted as hung). */
const gracefulStopTimeoutMs = 15_000;
/** Each control API call's own timeout: far above the 2 s target, so slow calls are measured. */
const operationTimeoutMs = 30_000;
/** How long a silent identity answers before it is frozen. */
const silentAnswerMs = 5_000;
/** Workload workers: calls in flight at once, so one slow call does not stall the workload. */
const workers = 4;
/** Most distinct error messages kept per operation in the report. */
const errorsKeptMax = 5;
/** Extra time the whole run may take beyond `--duration`, for set-up and clean-up. */
const setupAllowanceMs = 300_000;

/** The operations of the workload, with their share of it. */
const operationWeights = {
  get: 30,
  put: 20,
  thread_list: 15,
  thread_show: 15,
  post: 15,
  thread_new: 5,
} as const;
type Operation = keyof typeof operationWeights;

/** A running node process. */
interface Child extends NodeProcess {
  index: number;
  role: "stable" | "churn" | "silent";
}

/** One operation of the workload. */
interface Sample {
  operation: Operation;
  atMs: number;
  ms: number;
  ok: boolean;
  error?: string;
}

/** The settings the flags give. */
export interface Settings {
  durationMs: number;
  nodes: number;
  stable: number;
  silent: number;
  churnIntervalMs: number;
  killFraction: number;
  windowMs: number;
  values: number;
  threads: number;
}

/** Every child started, so the cleanup can find them all. */
const processes = new ChildProcesses();

function progress(message: string): void {
  console.error(`[churn_network ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts node `index` in `root`, joining through `bootstrap`. */
async function startNode(
  index: number,
  role: Child["role"],
  root: string,
  bootstrap: string[],
): Promise<Child> {
  const node = await processes.startNode({
    label: `node ${index}`,
    dataDir: join(root, `node-${index}`),
    args: bootstrap.length > 0 ? ["--bootstrap", bootstrap.join(",")] : [],
    startTimeoutMs,
    clientTimeoutMs: operationTimeoutMs,
  });
  return { index, role, ...node };
}

/** The value at quantile `q` (nearest rank) of `values`; `null` when empty. */
function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]);
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function pickRandom<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)];
}

function pickOperation(): Operation {
  const total = Object.values(operationWeights).reduce((a, b) => a + b, 0);
  let draw = Math.random() * total;
  for (const [operation, weight] of Object.entries(operationWeights)) {
    draw -= weight;
    if (draw < 0) return operation as Operation;
  }
  return "get";
}

/** An error message with IDs and numbers blurred, so equal failures group together. */
function errorKind(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split("\n")[0].replace(/[0-9a-f]{16,}/g, "<id>").replace(/\d+/g, "N").slice(0, 160);
}

/** What the workload knows it stored: values by key, threads by ID. */
interface Known {
  values: Map<string, string>;
  threads: string[];
}

/** Runs one operation through `node` and measures it. */
async function runOperation(
  operation: Operation,
  node: Child,
  known: Known,
  startMs: number,
): Promise<Sample> {
  const atMs = performance.now() - startMs;
  const started = performance.now();
  const sample = (ok: boolean, error?: string): Sample => ({
    operation,
    atMs,
    ms: performance.now() - started,
    ok,
    error,
  });
  try {
    switch (operation) {
      case "get": {
        const [key, text] = pickRandom([...known.values.entries()]);
        const got = await node.client.call(controlRoutes.get, NodeId.fromHex(key));
        if (got === undefined) return sample(false, "not found");
        return new TextDecoder().decode(got) === text ? sample(true) : sample(false, "wrong value");
      }
      case "put": {
        const text = `churn_network value ${crypto.randomUUID()}`;
        const report = await node.client.call(controlRoutes.put, { value: utf8Encode(text) });
        known.values.set(report.key, text);
        return sample(true);
      }
      case "thread_list": {
        const list = await node.client.call(controlRoutes.listThreads, {
          order: "recent",
          limit: 20,
        });
        return list.threads.length > 0 ? sample(true) : sample(false, "no threads listed");
      }
      case "thread_show": {
        await node.client.call(controlRoutes.showThread, {
          thread: NodeId.fromHex(pickRandom(known.threads)),
          limit: 20,
        });
        return sample(true);
      }
      case "post": {
        await node.client.call(controlRoutes.post, {
          thread: NodeId.fromHex(pickRandom(known.threads)),
          body: `churn post ${atMs}`,
        });
        return sample(true);
      }
      case "thread_new": {
        const report = await node.client.call(controlRoutes.newThread, {
          title: `churn thread ${atMs}`,
          body: `Opened at ${atMs}.`,
        });
        known.threads.push(report.id);
        return sample(true);
      }
    }
  } catch (error) {
    return sample(false, errorKind(error));
  }
}

/** Success rate and latency of a set of samples. */
function summarise(samples: readonly Sample[]) {
  const ms = samples.map((sample) => sample.ms);
  const ok = samples.filter((sample) => sample.ok).length;
  return {
    count: samples.length,
    ok,
    success_rate: samples.length === 0 ? null : round(ok / samples.length, 4),
    p50_ms: quantile(ms, 0.5),
    p99_ms: quantile(ms, 0.99),
    max_ms: ms.length === 0 ? null : round(ms.reduce((a, b) => Math.max(a, b))),
  };
}

function errorCounts(samples: readonly Sample[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const sample of samples) {
    if (sample.error) counts.set(sample.error, (counts.get(sample.error) ?? 0) + 1);
  }
  return Object.fromEntries(
    [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, errorsKeptMax),
  );
}

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseDurationMs(flag: string, text: string, minMs: number, maxMs: number): number {
  const match = /^([0-9]{1,9}(?:\.[0-9]{1,3})?)(ms|s|m|h)?$/.exec(text);
  const valueMs = match ? Math.round(Number(match[1]) * durationUnitsMs[match[2] ?? "s"]) : NaN;
  if (!(valueMs >= minMs && valueMs <= maxMs)) {
    throw new Error(
      `--${flag}: expected a duration from ${minMs / 1000} s to ${maxMs / 1000} s ` +
        `(such as 90s, 10m), got "${text}"`,
    );
  }
  return valueMs;
}

function parseWhole(flag: string, text: string, min: number, max: number): number {
  const value = /^[0-9]{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new Error(`--${flag}: expected a whole number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

/**
 * Parses and checks the command line.
 *
 * @param args The arguments after the script name.
 * @returns The settings, defaults filled in.
 * @throws {Error} Naming the flag, on an unknown flag or a value out of range.
 */
export function parseSettings(args: string[]): Settings {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: "string", default: "10m" },
      nodes: { type: "string", default: "30" },
      stable: { type: "string", default: "5" },
      silent: { type: "string", default: "5" },
      "churn-interval": { type: "string", default: "5s" },
      "kill-fraction": { type: "string", default: "0.5" },
      window: { type: "string", default: "60s" },
      values: { type: "string", default: "20" },
      threads: { type: "string", default: "5" },
    },
    strict: true,
    allowPositionals: false,
  });
  const killFraction = /^(0|1)?(\.[0-9]+)?$/.test(values["kill-fraction"]) &&
      values["kill-fraction"] !== ""
    ? Number(values["kill-fraction"])
    : NaN;
  if (!(killFraction >= 0 && killFraction <= 1)) {
    throw new Error(`--kill-fraction: expected 0 to 1, got "${values["kill-fraction"]}"`);
  }
  const settings: Settings = {
    durationMs: parseDurationMs("duration", values.duration, 10_000, 86_400_000),
    nodes: parseWhole("nodes", values.nodes, 3, 200),
    stable: parseWhole("stable", values.stable, 1, 200),
    silent: parseWhole("silent", values.silent, 0, 100),
    churnIntervalMs: parseDurationMs("churn-interval", values["churn-interval"], 500, 3_600_000),
    killFraction,
    windowMs: parseDurationMs("window", values.window, 1000, 3_600_000),
    values: parseWhole("values", values.values, 1, 10_000),
    threads: parseWhole("threads", values.threads, 1, 1000),
  };
  if (settings.stable >= settings.nodes) {
    throw new Error(`--stable: must be below --nodes (${settings.nodes}): some nodes must churn`);
  }
  return settings;
}

/** The churn loop's record of what it did. */
interface Population {
  started: number;
  startFailures: string[];
  sigint: number;
  sigkill: number;
  gracefulExitCodes: Record<string, number>;
  gracefulStopMs: number[];
  gracefulStopsHung: number;
}

async function run(settings: Settings, root: string): Promise<Record<string, unknown>> {
  let nextIndex = 0;
  const live: Child[] = [];
  const liveForBootstrap = () => live.filter((child) => child.role !== "silent");
  const bootstrapFor = () => {
    const candidates = liveForBootstrap();
    const first = pickRandom(candidates);
    const second = pickRandom(candidates);
    return first === second ? [first.contact] : [first.contact, second.contact];
  };

  progress(`starting ${settings.nodes} nodes (${settings.stable} stable)`);
  const setupStart = performance.now();
  const seed = await startNode(nextIndex++, "stable", root, []);
  live.push(seed);
  while (live.length < settings.nodes) {
    const batch = Math.min(4, settings.nodes - live.length);
    const started = await Promise.all(
      Array.from({ length: batch }, () => {
        const index = nextIndex++;
        return startNode(index, index < settings.stable ? "stable" : "churn", root, [seed.contact]);
      }),
    );
    live.push(...started);
  }
  const stable = live.filter((child) => child.role === "stable");
  await Promise.all(
    stable.map((child) => new AuthorKeys(join(child.dataDir, "authors")).create("churn")),
  );
  // Let routing tables fill before content goes in.
  await sleep(5_000);
  progress(`storing ${settings.values} values and ${settings.threads} threads`);
  const known: Known = { values: new Map(), threads: [] };
  for (let i = 0; i < settings.values; i++) {
    const text = `churn_network seed value ${i} ${crypto.randomUUID()}`;
    const report = await pickRandom(stable).client.call(controlRoutes.put, {
      value: utf8Encode(text),
    });
    known.values.set(report.key, text);
  }
  for (let i = 0; i < settings.threads; i++) {
    const report = await pickRandom(stable).client.call(controlRoutes.newThread, {
      title: `churn seed thread ${i}`,
      body: "the thread's opening post",
    });
    known.threads.push(report.id);
    await pickRandom(stable).client.call(controlRoutes.post, {
      thread: NodeId.fromHex(report.id),
      body: `first reply ${i}`,
    });
  }
  const setupS = (performance.now() - setupStart) / 1000;
  progress(`set up in ${round(setupS)} s; churning for ${settings.durationMs / 1000} s`);

  const startMs = performance.now();
  const endMs = startMs + settings.durationMs;
  const samples: Sample[] = [];
  const liveAt: { atMs: number; live: number }[] = [];
  const population: Population = {
    started: 0,
    startFailures: [],
    sigint: 0,
    sigkill: 0,
    gracefulExitCodes: {},
    gracefulStopMs: [],
    gracefulStopsHung: 0,
  };
  const stops: Promise<void>[] = [];

  const stopNode = (victim: Child): void => {
    live.splice(live.indexOf(victim), 1);
    if (Math.random() < settings.killFraction) {
      population.sigkill++;
      signalChild(victim.proc, "SIGKILL");
      return;
    }
    population.sigint++;
    const stopStart = performance.now();
    signalChild(victim.proc, "SIGINT");
    stops.push(
      within("a graceful stop", gracefulStopTimeoutMs, victim.exited).then((code) => {
        population.gracefulStopMs.push(performance.now() - stopStart);
        population.gracefulExitCodes[code] = (population.gracefulExitCodes[code] ?? 0) + 1;
      }, () => {
        population.gracefulStopsHung++;
        signalChild(victim.proc, "SIGKILL");
      }),
    );
  };

  const churnLoop = async () => {
    while (performance.now() + settings.churnIntervalMs < endMs) {
      await sleep(settings.churnIntervalMs);
      const churnable = live.filter((child) => child.role === "churn");
      if (churnable.length > 0) stopNode(pickRandom(churnable));
      const index = nextIndex++;
      try {
        live.push(await startNode(index, "churn", root, bootstrapFor()));
        population.started++;
      } catch (error) {
        population.startFailures.push(errorKind(error));
      }
      liveAt.push({ atMs: performance.now() - startMs, live: live.length });
    }
  };

  const silent = {
    joinedAtMs: NaN,
    stoppedAtMs: NaN,
    nodes: [] as Child[],
  };
  const silentLoop = async () => {
    if (settings.silent === 0) return;
    await sleep(settings.durationMs / 3);
    silent.joinedAtMs = performance.now() - startMs;
    progress(`${settings.silent} silent identities join`);
    const joined = await Promise.allSettled(
      Array.from(
        { length: settings.silent },
        () => startNode(nextIndex++, "silent", root, bootstrapFor()),
      ),
    );
    for (const outcome of joined) {
      if (outcome.status === "fulfilled") silent.nodes.push(outcome.value);
    }
    live.push(...silent.nodes);
    await sleep(silentAnswerMs);
    for (const node of silent.nodes) signalChild(node.proc, "SIGSTOP");
    silent.stoppedAtMs = performance.now() - startMs;
    progress(`${silent.nodes.length} silent identities frozen (SIGSTOP)`);
  };

  const worker = async () => {
    while (performance.now() < endMs) {
      const sample = await runOperation(pickOperation(), pickRandom(stable), known, startMs);
      samples.push(sample);
    }
  };

  const reporter = async () => {
    let reported = 0;
    while (performance.now() < endMs) {
      await sleep(Math.min(settings.windowMs, Math.max(1, endMs - performance.now())));
      const fresh = samples.slice(reported);
      reported = samples.length;
      const ok = fresh.filter((sample) => sample.ok).length;
      progress(
        `${live.length} live, ${population.started} started, ` +
          `${population.sigint + population.sigkill} stopped; last window ${ok}/${fresh.length} ok`,
      );
    }
  };

  await Promise.all([
    churnLoop(),
    silentLoop(),
    reporter(),
    ...Array.from({ length: workers }, worker),
  ]);
  await Promise.all(stops);

  const byOperation = Object.fromEntries(
    (Object.keys(operationWeights) as Operation[]).map((operation) => {
      const mine = samples.filter((sample) => sample.operation === operation);
      return [operation, { ...summarise(mine), errors: errorCounts(mine) }];
    }),
  );
  const puts = samples.filter((sample) => sample.operation === "put");
  const putsBefore = puts.filter((sample) => sample.atMs < silent.joinedAtMs);
  const putsAfter = puts.filter((sample) => sample.atMs >= silent.stoppedAtMs);
  const putP50Before = quantile(putsBefore.map((sample) => sample.ms), 0.5);
  const putP50After = quantile(putsAfter.map((sample) => sample.ms), 0.5);
  const windows = [];
  for (let fromMs = 0; fromMs < settings.durationMs; fromMs += settings.windowMs) {
    const inWindow = samples.filter((sample) =>
      sample.atMs >= fromMs && sample.atMs < fromMs + settings.windowMs
    );
    const liveRows = liveAt.filter((row) => row.atMs < fromMs + settings.windowMs);
    windows.push({
      start_s: fromMs / 1000,
      live: liveRows.at(-1)?.live ?? settings.nodes,
      ...summarise(inWindow),
    });
  }
  const targetOperations: Operation[] = ["get", "thread_list", "thread_show", "post"];
  return {
    settings: {
      duration_s: settings.durationMs / 1000,
      nodes: settings.nodes,
      stable: settings.stable,
      silent: settings.silent,
      churn_interval_s: settings.churnIntervalMs / 1000,
      kill_fraction: settings.killFraction,
      workers,
      operations_through: "the control API of the stable nodes",
    },
    machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno },
    setup_s: round(setupS),
    population: {
      started: population.started,
      start_failures: population.startFailures.length,
      start_failure_kinds: [...new Set(population.startFailures)].slice(0, errorsKeptMax),
      stopped_sigint: population.sigint,
      killed_sigkill: population.sigkill,
      graceful_exit_codes: population.gracefulExitCodes,
      graceful_stop_ms: {
        p50: quantile(population.gracefulStopMs, 0.5),
        max: quantile(population.gracefulStopMs, 1),
      },
      graceful_stops_hung: population.gracefulStopsHung,
      live_at_end: live.length,
      // Starting a node takes seconds on a loaded machine, so the achieved interval is longer.
      achieved_churn_interval_s: population.started === 0
        ? null
        : round(settings.durationMs / 1000 / population.started),
    },
    operations: byOperation,
    silent_identities: {
      count: silent.nodes.length,
      joined_at_s: Number.isNaN(silent.joinedAtMs) ? null : round(silent.joinedAtMs / 1000),
      frozen_at_s: Number.isNaN(silent.stoppedAtMs) ? null : round(silent.stoppedAtMs / 1000),
      puts_before: putsBefore.length,
      puts_after: putsAfter.length,
      put_p50_before_ms: putP50Before,
      put_p50_after_ms: putP50After,
    },
    targets: {
      // The bars: ≥ 99% success and p99 ≤ 2 s for these, put p50 not rising.
      ...Object.fromEntries(targetOperations.map((operation) => {
        const summary = byOperation[operation];
        return [
          operation,
          summary.success_rate !== null && summary.success_rate >= 0.99 &&
          summary.p99_ms !== null && summary.p99_ms <= 2000,
        ];
      })),
      put_p50_not_risen: putP50Before !== null && putP50After !== null &&
        putP50After <= putP50Before * 1.5 + 20,
    },
    windows,
  };
}

async function main(args: string[]): Promise<number> {
  let settings: Settings;
  try {
    settings = parseSettings(args);
  } catch (error) {
    console.error(`churn_network: ${(error as Error).message.split("\n")[0]}`);
    return 2;
  }
  const root = await Deno.makeTempDir({ prefix: "rhizome-churn-network-" });
  const startMs = Date.now();
  return await withCleanUp({
    processes,
    root,
    overallMs: settings.durationMs + setupAllowanceMs,
    overallLine: "overall timeout: killing the nodes",
    progress,
  }, async () => {
    try {
      const report = await run(settings, root);
      report.elapsed_s = round((Date.now() - startMs) / 1000);
      console.log(JSON.stringify(report, null, 2));
      return 0;
    } catch (error) {
      progress(`failed: ${(error as Error).stack ?? error}`);
      return 1;
    }
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
