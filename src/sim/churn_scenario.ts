/**
 * The continuous-churn simulation: grow a network, store values, then let nodes come and go all
 * the time for a while — each arriving node stays for a session drawn from a heavy-tailed
 * distribution ({@link SessionModel}), arrivals are a Poisson process whose rate keeps the
 * population steady (rate = nodes / mean session), and each departure is a crash or a graceful
 * leave — while gets of the stored values arrive as a Poisson process from random joined nodes.
 * The same DHT code runs as in production; only replication and republishing keep the values
 * alive. The report gives get success and latency per time window. Everything runs in virtual
 * time; one seed gives one byte-identical report (apart from `wall_ms` and `memory`).
 *
 * @module
 */

import { datagramValueBytesMax } from "../core/limits.ts";
import { randomFloat, randomInt } from "../core/rng.ts";
import type { GetResult } from "../dht/types.ts";
import { countReplicas } from "./checkers.ts";
import {
  buildChurnReport,
  type ChurnGetSample,
  type ChurnReport,
  type ChurnWindowInputs,
} from "./churn_report.ts";
import type { SimNetwork } from "./network.ts";
import { commonNumbers, growAndStore, sameBytes, simulate, type StoredEntry } from "./scenario.ts";
import {
  checkSessionModel,
  drawExponentialMs,
  drawResidualSessionMs,
  drawSessionMs,
  SESSION_SHAPE_DEFAULT,
  sessionMeanMs,
  type SessionModel,
} from "./session_model.ts";

export type { ChurnReport } from "./churn_report.ts";
export type { ChurnScenarioNumbers, ChurnScenarioOptions } from "./scenario_options.ts";
import type { ChurnScenarioNumbers, ChurnScenarioOptions } from "./scenario_options.ts";

/** Callbacks into the environment; the scenario itself stays pure. */
export interface ChurnScenarioHooks {
  /** Bytes of heap in use now (after a garbage collection, ideally). */
  heapBytes?: () => number;
  /** Receives one line of progress. */
  progress?: (line: string) => void;
}

/**
 * Runs the continuous-churn scenario.
 *
 * @param options Seed, sizes, churn model, faults and node settings.
 * @param hooks Heap measurement and progress output.
 * @returns The report: plain JSON-serialisable data.
 * @throws {RangeError} When an option is out of range.
 * @throws {Error} When the run hits a bug (an assertion, a liveness failure); the message starts
 *   with the seed so the run can be replayed.
 */
export function runChurnScenario(
  options: ChurnScenarioOptions,
  hooks: ChurnScenarioHooks = {},
): ChurnReport {
  const numbers = resolveChurnOptions(options);
  return simulate(
    numbers,
    hooks,
    (network, heapBytesBefore) =>
      runChurnPhases(network, numbers, options, { ...hooks, heapBytesBefore }),
  );
}

/** A get in progress. */
interface PendingGet {
  readonly entry: StoredEntry;
  readonly asker: number;
  readonly startMs: number;
  readonly window: number;
  /** Its asker left or crashed before it ended: not counted as a success or a failure. */
  aborted: boolean;
}

function runChurnPhases(
  network: SimNetwork,
  numbers: ChurnScenarioNumbers,
  options: ChurnScenarioOptions,
  hooks: ChurnScenarioHooks & { heapBytesBefore: number },
): ChurnReport {
  const grown = growAndStore(network, numbers, options, hooks, "churn");
  const { cluster, prng, operationMsMax, phase, stored } = grown;
  const model: SessionModel = {
    name: numbers.sessionModel,
    medianMs: numbers.sessionMedianMs,
    shape: numbers.sessionShape,
  };
  const keys = stored.values.map((entry) => entry.key);
  const replicasOf = () => keys.map((key) => countReplicas(cluster, key, network.clock.nowMs()));
  const replicasAtStart = replicasOf();

  // --- the churn ---
  const startMs = network.clock.nowMs();
  const endMs = startMs + numbers.durationMs;
  const windowCount = Math.ceil(numbers.durationMs / numbers.windowMs);
  const windows: ChurnWindowInputs[] = Array.from({ length: windowCount }, (_, index) => ({
    startMs: index * numbers.windowMs,
    online: 0,
    joined: 0,
    joins: 0,
    joinsFailed: 0,
    leaves: 0,
    crashes: 0,
    replicas: [],
    gets: [],
  }));
  const windowAt = (atMs: number) =>
    Math.min(windowCount - 1, Math.floor((atMs - startMs) / numbers.windowMs));
  const pendingByAsker = new Map<number, Set<PendingGet>>();
  let pendingCount = 0;
  const samples: ChurnGetSample[] = [];
  let onlineMin = cluster.liveCount;
  let onlineMax = cluster.liveCount;

  const depart = (index: number): void => {
    const window = windows[windowAt(network.clock.nowMs())];
    for (const get of pendingByAsker.get(index) ?? []) {
      get.aborted = true;
      pendingCount--;
      samples.push(abortedSample(get, network.clock.nowMs()));
    }
    pendingByAsker.delete(index);
    if (randomFloat(prng) < numbers.crashFraction) {
      cluster.crash(index);
      window.crashes++;
    } else {
      cluster.leave(index);
      window.leaves++;
    }
    onlineMin = Math.min(onlineMin, cluster.liveCount);
  };
  const scheduleDeparture = (index: number, sessionMs: number): void => {
    const atMs = network.clock.nowMs() + Math.ceil(sessionMs);
    if (atMs < endMs) network.schedule(atMs, () => depart(index));
  };
  const arrive = (): void => {
    const index = cluster.add();
    const seed = cluster.pickJoined() ?? cluster.pickLive()!;
    const window = windows[windowAt(network.clock.nowMs())];
    window.joins++;
    cluster.join(index, seed === index ? [] : [seed], (result) => {
      if (!result.ok && cluster.state(index) === "failed") {
        windows[windowAt(network.clock.nowMs())].joinsFailed++;
      }
    });
    onlineMax = Math.max(onlineMax, cluster.liveCount);
    scheduleDeparture(index, drawSessionMs(model, prng));
  };
  const startGet = (): void => {
    const asker = cluster.pickJoined();
    if (asker === undefined || stored.values.length === 0) return;
    const entry = stored.values[randomInt(prng, stored.values.length)];
    const get: PendingGet = {
      entry,
      asker,
      startMs: network.clock.nowMs(),
      window: windowAt(network.clock.nowMs()),
      aborted: false,
    };
    let askerGets = pendingByAsker.get(asker);
    if (!askerGets) pendingByAsker.set(asker, askerGets = new Set());
    askerGets.add(get);
    pendingCount++;
    cluster.get(asker, entry.key, (result: GetResult) => {
      if (get.aborted) return;
      askerGets.delete(get);
      pendingCount--;
      samples.push(
        finishedSample(
          get,
          result,
          network.clock.nowMs(),
          () => countReplicas(cluster, entry.key, network.clock.nowMs()),
        ),
      );
    });
  };
  /** Runs `event` at Poisson arrivals with mean gap `meanGapMs` until the churn ends. */
  const poisson = (meanGapMs: number, event: () => void): void => {
    const next = () => {
      const atMs = network.clock.nowMs() + Math.ceil(drawExponentialMs(meanGapMs, prng));
      if (atMs >= endMs) return;
      network.schedule(atMs, () => {
        event();
        next();
      });
    };
    next();
  };

  for (const index of cluster.liveIndexes()) {
    scheduleDeparture(index, drawResidualSessionMs(model, prng));
  }
  const meanSessionMs = sessionMeanMs(model);
  poisson(meanSessionMs / numbers.nodes, arrive);
  if (numbers.lookups > 0) poisson(numbers.durationMs / numbers.lookups, startGet);
  // Each window's population and replica counts are read at its end.
  windows.forEach((window, index) => {
    const atMs = Math.min(endMs, startMs + (index + 1) * numbers.windowMs);
    network.schedule(atMs, () => {
      window.online = cluster.liveCount;
      window.joined = cluster.joinedCount;
      window.replicas = replicasOf();
      phase(
        `window ${index + 1}/${windowCount}: ${cluster.liveCount} online, ` +
          `${window.joins} joins, ${window.leaves + window.crashes} departures; so far ` +
          `${samples.filter((sample) => sample.outcome === "found").length} of ` +
          `${samples.filter((sample) => sample.outcome !== "aborted").length} gets found`,
      );
    });
  });
  network.run({ untilMs: endMs });
  // Gets still running finish (the churn has stopped); one that outlives its watchdog is a bug.
  network.run({ untilMs: endMs + operationMsMax, until: () => pendingCount === 0 });
  if (pendingCount > 0) {
    throw new Error(
      `Liveness bug: ${pendingCount} gets still pending ${operationMsMax} ms after the churn ended`,
    );
  }
  for (const sample of samples) windows[sample.window].gets.push(sample);

  return buildChurnReport({
    numbers,
    settings: options.settings,
    network: network.counters(),
    cluster: cluster.counters(),
    virtualMs: network.clock.nowMs() - grown.runStartMs,
    bytesPerNode: grown.bytesPerNode,
    meanSessionMs,
    join: grown.join,
    routingTableSizes: grown.routingTableSizes,
    putsFailed: numbers.values - stored.values.length,
    putAcks: stored.acks,
    replicasAtStart,
    replicasAtEnd: replicasOf(),
    onlineMin,
    onlineMax,
    onlineEnd: cluster.liveCount,
    samples,
    windows,
  });
}

function abortedSample(get: PendingGet, nowMs: number): ChurnGetSample {
  return {
    window: get.window,
    outcome: "aborted",
    rounds: 0,
    messages: 0,
    latencyMs: nowMs - get.startMs,
    liveReplicas: -1,
  };
}

function finishedSample(
  get: PendingGet,
  result: GetResult,
  nowMs: number,
  liveReplicas: () => number,
): ChurnGetSample {
  const found = result.value !== undefined && sameBytes(result.value, get.entry.value);
  const wrong = result.value !== undefined && !found;
  return {
    window: get.window,
    outcome: found ? "found" : wrong ? "wrong" : "missed",
    rounds: result.rounds,
    messages: result.messages,
    latencyMs: nowMs - get.startMs,
    // Counted only for misses (a scan of every live store): was the value still out there?
    liveReplicas: found ? -1 : liveReplicas(),
  };
}

/**
 * Fills in defaults and checks every option.
 *
 * @param options The caller's options.
 * @returns Every numeric option, resolved.
 * @throws {RangeError} Naming the first option out of range and its value.
 */
export function resolveChurnOptions(options: ChurnScenarioOptions): ChurnScenarioNumbers {
  const sessionModel = options.sessionModel ?? "weibull";
  const numbers: ChurnScenarioNumbers = {
    ...commonNumbers(options),
    nodes: options.nodes ?? 1000,
    values: options.values ?? 100,
    lookups: options.lookups ?? 1000,
    sessionModel,
    sessionMedianMs: options.sessionMedianMs ?? 3_600_000,
    sessionShape: options.sessionShape ?? SESSION_SHAPE_DEFAULT[sessionModel],
    durationMs: options.durationMs ?? 7_200_000,
    windowMs: options.windowMs ?? 600_000,
    crashFraction: options.crashFraction ?? 0.5,
    joinSpacingMs: options.joinSpacingMs ?? 100,
    settleMs: options.settleMs ?? 60_000,
    operationsInflightMax: options.operationsInflightMax ?? 16,
  };
  const problem = (name: keyof ChurnScenarioNumbers, expected: string) =>
    new RangeError(
      `Cannot run the churn scenario: ${name} is ${numbers[name]}, expected ${expected}`,
    );
  if (!Number.isSafeInteger(numbers.simSeed)) throw problem("simSeed", "an integer");
  const integers: [keyof ChurnScenarioNumbers, number][] = [
    ["nodes", 1],
    ["values", 0],
    ["lookups", 0],
    ["durationMs", 1],
    ["windowMs", 1],
    ["joinSpacingMs", 0],
    ["settleMs", 0],
    ["operationsInflightMax", 1],
    ["valueBytesMin", 1],
    ["valueBytesMax", 1],
    ["eventsMax", 1],
  ];
  for (const [name, minimum] of integers) {
    const value = numbers[name] as number;
    if (!Number.isSafeInteger(value) || value < minimum) {
      throw problem(name, `an integer ≥ ${minimum}`);
    }
  }
  if (
    !(numbers.valueBytesMax >= numbers.valueBytesMin &&
      numbers.valueBytesMax <= datagramValueBytesMax)
  ) {
    throw problem("valueBytesMax", `valueBytesMin..${datagramValueBytesMax}`);
  }
  if (!(numbers.crashFraction >= 0 && numbers.crashFraction <= 1)) {
    throw problem("crashFraction", "0..1");
  }
  try {
    checkSessionModel({
      name: numbers.sessionModel,
      medianMs: numbers.sessionMedianMs,
      shape: numbers.sessionShape,
    });
  } catch (error) {
    throw new RangeError(`Cannot run the churn scenario: ${(error as Error).message}`);
  }
  // Windows are kept in memory, and a report of thousands of rows is unreadable.
  if (numbers.durationMs / numbers.windowMs > 1000) {
    throw problem("windowMs", `at least durationMs / 1000 (${numbers.durationMs / 1000})`);
  }
  return numbers;
}
