/**
 * The standard simulation: grow a network node by node, let it settle, store values, look them
 * up, crash part of the network and look again, then report. Everything runs in virtual time on
 * one thread; one seed gives one byte-identical report (apart from `wall_ms` and `memory`, which
 * depend on the machine).
 *
 * @module
 */

import { datagramValueBytesMax } from "../core/limits.ts";
import { Prng, randomBytes, randomInt } from "../core/rng.ts";
import type { NodeId } from "../core/node_id.ts";
import type { GetResult } from "../dht/types.ts";
import { countReplicas } from "./checkers.ts";
import { SimCluster, type SimClusterOptions } from "./cluster.ts";
import { deriveSeed } from "./hash.ts";
import { SIM_EVENTS_MAX, SimNetwork } from "./network.ts";
import { runOperations } from "./operations.ts";
import { buildReport, type LookupSample, type ScenarioReport } from "./scenario_report.ts";

export type { ScenarioReport } from "./scenario_report.ts";
export type {
  CommonScenarioOptions,
  ScenarioNumbers,
  ScenarioOptions,
} from "./scenario_options.ts";
import type {
  CommonScenarioOptions,
  ScenarioNumbers,
  ScenarioOptions,
} from "./scenario_options.ts";

/** Callbacks into the environment; the scenario itself stays pure. */
export interface ScenarioHooks {
  /** Bytes of heap in use now (after a garbage collection, ideally). */
  heapBytes?: () => number;
  /** Receives one line of progress. */
  progress?: (line: string) => void;
}

/**
 * An operation is declared hung after this many lookup timeouts: a bootstrap or put is a lookup
 * plus a few RPC rounds, so ten lookup timeouts is far past any legitimate end.
 */
export const operationLookupTimeoutsMax = 10;

/**
 * Runs the standard scenario.
 *
 * @param options Seed, sizes, faults and node settings.
 * @param hooks Heap measurement and progress output.
 * @returns The report: plain JSON-serialisable data.
 * @throws {RangeError} When an option is out of range.
 * @throws {Error} When the run hits a bug (an assertion, a liveness failure); the message starts
 *   with the seed so the run can be replayed.
 */
export function runScenario(options: ScenarioOptions, hooks: ScenarioHooks = {}): ScenarioReport {
  const numbers = resolveOptions(options);
  return simulate(
    numbers,
    hooks,
    (network, heapBytesBefore) =>
      runPhases(network, numbers, options, { ...hooks, heapBytesBefore }),
  );
}

/** The options that build a scenario's network. */
export type NetworkNumbers = Pick<
  ScenarioNumbers,
  | "simSeed"
  | "latencyMsMin"
  | "latencyMsMax"
  | "jitterFraction"
  | "lossRate"
  | "duplicateRate"
  | "eventsMax"
>;

/**
 * Builds the network of `numbers` and runs a scenario's phases on it.
 *
 * @param numbers The network's seed, links, faults and event budget.
 * @param hooks Heap measurement, read once before the network is built.
 * @param phases The scenario; gets the network and the heap in use before it.
 * @returns What `phases` returns (a promise of it for an asynchronous scenario).
 * @throws {Error} When `phases` fails (or its promise rejects); the message starts with the seed
 *   so the run can be replayed.
 */
export function simulate<R>(
  numbers: NetworkNumbers,
  hooks: Pick<ScenarioHooks, "heapBytes">,
  phases: (network: SimNetwork, heapBytesBefore: number) => R,
): R {
  const heapBytesBefore = hooks.heapBytes?.() ?? 0;
  const network = new SimNetwork({
    simSeed: numbers.simSeed,
    latencyMsMin: numbers.latencyMsMin,
    latencyMsMax: numbers.latencyMsMax,
    jitterFraction: numbers.jitterFraction,
    lossRate: numbers.lossRate,
    duplicateRate: numbers.duplicateRate,
    eventsMax: numbers.eventsMax,
  });
  const failed = (error: unknown): never => {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Simulation failed with simSeed ${numbers.simSeed}: ${message}`, {
      cause: error,
    });
  };
  try {
    const result = phases(network, heapBytesBefore);
    // An asynchronous scenario (services' async code) fails later: its seed is named the same.
    return (result instanceof Promise ? result.catch(failed) : result) as R;
  } catch (error) {
    return failed(error);
  }
}

function runPhases(
  network: SimNetwork,
  numbers: ScenarioNumbers,
  options: ScenarioOptions,
  hooks: ScenarioHooks & { heapBytesBefore: number },
): ScenarioReport {
  const grown = growAndStore(network, numbers, options, hooks, "scenario");
  const { cluster, prng, operationMsMax, phase, stored } = grown;
  const keys = stored.values.map((entry) => entry.key);
  const replicas = keys.map((key) => countReplicas(cluster, key, network.clock.nowMs()));
  const lookupKeys = keys.length === 0
    ? []
    : Array.from({ length: numbers.lookups }, () => stored.values[randomInt(prng, keys.length)]);
  const lookups = getValues(cluster, network, numbers, operationMsMax, "get", lookupKeys);
  phase(`ran ${lookups.length} gets`);
  const retrievable = getValues(
    cluster,
    network,
    numbers,
    operationMsMax,
    "get-each",
    stored.values,
  );
  phase(`fetched each stored value once`);
  const replicasBeforeChurn = keys.map((key) => countReplicas(cluster, key, network.clock.nowMs()));

  const crashCount = Math.min(
    Math.round(numbers.churnFraction * cluster.liveCount),
    cluster.liveCount - 1,
  );
  for (let i = 0; i < crashCount; i++) cluster.crash(cluster.pickLive()!);
  phase(`crashed ${crashCount} nodes`);
  network.run({ untilMs: network.clock.nowMs() + options.settings.dht.replicate_s * 1000 });
  phase(`ran one replication period`);
  const replicasAfterChurn = keys.map((key) => countReplicas(cluster, key, network.clock.nowMs()));
  const afterChurn = getValues(
    cluster,
    network,
    numbers,
    operationMsMax,
    "get-after-churn",
    stored.values,
  );
  phase(`fetched each stored value once after the crash`);

  return buildReport({
    numbers,
    settings: options.settings,
    network: network.counters(),
    cluster: cluster.counters(),
    virtualMs: network.clock.nowMs() - grown.runStartMs,
    bytesPerNode: grown.bytesPerNode,
    join: grown.join,
    routingTableSizes: grown.routingTableSizes,
    putsFailed: numbers.values - stored.values.length,
    putAcks: stored.acks,
    crashed: crashCount,
    replicas,
    replicasBeforeChurn,
    replicasAfterChurn,
    lookups,
    retrievable,
    afterChurn,
  });
}

/** What {@link growAndStore} leaves for the rest of a scenario. */
export interface GrownNetwork {
  /** The cluster, every node added and joined (or failed to). */
  cluster: SimCluster;
  /** The scenario's own random stream, after drawing the stored values. */
  prng: Prng;
  /** The watchdog of each operation, in ms. */
  operationMsMax: number;
  /** Reports a progress line with the virtual time since the run began. */
  phase: (line: string) => void;
  /** Virtual time the run began at, in ms. */
  runStartMs: number;
  /** How the join phase went. */
  join: JoinOutcome;
  /** Heap growth per node up to the end of settling, in bytes (0 without a heap hook). */
  bytesPerNode: number;
  /** Routing table size of each live node after settling. */
  routingTableSizes: number[];
  /** The values whose put succeeded, and the `stored` count of every put. */
  stored: { values: StoredEntry[]; acks: number[] };
}

/**
 * The start every scenario shares: add `numbers.nodes` nodes, join them, let the network settle,
 * measure it, then store `numbers.values` values.
 *
 * @param network The network, idle.
 * @param numbers Sizes, spacing and settle time.
 * @param options The node settings and factory.
 * @param hooks Heap measurement (with the heap in use before the run) and progress output.
 * @param prngLabel Names the scenario's random stream, derived from the seed.
 * @param nodes What else every node gets: value rules, record rules for its store, streams, a
 *   send observer.
 * @returns The cluster and what was measured.
 */
export function growAndStore(
  network: SimNetwork,
  numbers: Pick<
    ScenarioNumbers,
    | "simSeed"
    | "nodes"
    | "joinSpacingMs"
    | "settleMs"
    | "values"
    | "valueBytesMin"
    | "valueBytesMax"
    | "operationsInflightMax"
  >,
  options: Pick<ScenarioOptions, "settings" | "createNode">,
  hooks: ScenarioHooks & { heapBytesBefore: number },
  prngLabel: string,
  nodes: Pick<SimClusterOptions, "rules" | "streams" | "observer"> = {},
): GrownNetwork {
  const progress = hooks.progress ?? (() => {});
  const runStartMs = network.clock.nowMs();
  const cluster = new SimCluster(network, {
    ...nodes,
    simSeed: numbers.simSeed,
    settings: options.settings,
    createNode: options.createNode,
  });
  const prng = new Prng(deriveSeed(numbers.simSeed, prngLabel));
  const operationMsMax = operationLookupTimeoutsMax * options.settings.dht.lookup_timeout_ms;
  const phase = (line: string) =>
    progress(`${line} (virtual ${Math.round((network.clock.nowMs() - runStartMs) / 1000)} s)`);

  for (let i = 0; i < numbers.nodes; i++) cluster.add();
  const join = joinAll(cluster, network, numbers, operationMsMax, phase);
  network.run({ untilMs: network.clock.nowMs() + numbers.settleMs });
  phase(`settled for ${numbers.settleMs / 1000} s`);
  const heapBytesAfter = hooks.heapBytes?.() ?? 0;
  const routingTableSizes = cluster.liveIndexes().map((index) =>
    cluster.call(index, (node) => node.routingTableSize())
  );

  const stored = putValues(cluster, network, prng, numbers, operationMsMax);
  phase(`stored ${stored.values.length} of ${numbers.values} values`);
  return {
    cluster,
    prng,
    operationMsMax,
    phase,
    runStartMs,
    join,
    bytesPerNode: (heapBytesAfter - hooks.heapBytesBefore) / numbers.nodes,
    routingTableSizes,
    stored,
  };
}

/** How the join phase went. */
export interface JoinOutcome {
  /** Nodes whose bootstrap succeeded. */
  ok: number;
  /** Nodes whose bootstrap failed. */
  failed: number;
  /** Virtual time from the first join to the last one's end, in ms. */
  virtualMs: number;
}

/**
 * Joins every added node, node i at i × `joinSpacingMs`, each through a random node that has
 * joined already (node 0 founds the network).
 *
 * @param cluster The cluster, its `numbers.nodes` nodes added and idle.
 * @param network Its network.
 * @param numbers `nodes` and `joinSpacingMs` are used.
 * @param operationMsMax The watchdog of each join.
 * @param phase Receives a progress line every tenth of the nodes.
 * @returns How it went.
 */
export function joinAll(
  cluster: SimCluster,
  network: SimNetwork,
  numbers: Pick<ScenarioNumbers, "nodes" | "joinSpacingMs">,
  operationMsMax: number,
  phase: (line: string) => void,
): JoinOutcome {
  const startMs = network.clock.nowMs();
  const step = Math.max(1, Math.floor(numbers.nodes / 10));
  let ok = 0;
  let finished = 0;
  runOperations(network, {
    label: "join",
    count: numbers.nodes,
    startAtMs: (index) => startMs + index * numbers.joinSpacingMs,
    operationMsMax,
  }, (index, done) => {
    // Node 0 founds the network; the others join through a random node that has joined (node 0
    // itself while it is the only one, or while its own bootstrap is still running).
    const seeds = index === 0 ? [] : [cluster.pickJoined() ?? 0];
    cluster.join(index, seeds, (result) => {
      if (result.ok) ok++;
      finished++;
      if (finished % step === 0 || finished === numbers.nodes) {
        phase(`joined ${finished}/${numbers.nodes} nodes, ${ok} successfully`);
      }
      done();
    });
  });
  return { ok, failed: numbers.nodes - ok, virtualMs: network.clock.nowMs() - startMs };
}

/** A value stored by the scenario. */
export interface StoredEntry {
  /** Its key. */
  key: NodeId;
  /** Its bytes. */
  value: Uint8Array;
}

/**
 * Puts `numbers.values` random values, each from a random joined node, a few at a time.
 *
 * @param cluster The cluster.
 * @param network Its network.
 * @param prng Draws the values.
 * @param numbers Count, sizes and concurrency.
 * @param operationMsMax The watchdog of each put.
 * @returns The values whose put succeeded, and the `stored` count of every put.
 */
export function putValues(
  cluster: SimCluster,
  network: SimNetwork,
  prng: Prng,
  numbers: Pick<
    ScenarioNumbers,
    "values" | "valueBytesMin" | "valueBytesMax" | "operationsInflightMax"
  >,
  operationMsMax: number,
): { values: StoredEntry[]; acks: number[] } {
  const values: StoredEntry[] = [];
  const acks: number[] = [];
  runOperations(network, {
    label: "put",
    count: numbers.values,
    inflightMax: numbers.operationsInflightMax,
    operationMsMax,
  }, (_index, done) => {
    const spanBytes = numbers.valueBytesMax - numbers.valueBytesMin + 1;
    const value = randomBytes(
      prng,
      new Uint8Array(numbers.valueBytesMin + randomInt(prng, spanBytes)),
    );
    const publisher = cluster.pickJoined() ?? cluster.pickLive()!;
    cluster.put(publisher, value, (result) => {
      acks.push(result.stored);
      if (result.ok) values.push({ key: result.key, value });
      done();
    });
  });
  return { values, acks };
}

function getValues(
  cluster: SimCluster,
  network: SimNetwork,
  numbers: ScenarioNumbers,
  operationMsMax: number,
  label: string,
  entries: readonly StoredEntry[],
): LookupSample[] {
  const samples: LookupSample[] = [];
  runOperations(network, {
    label,
    count: entries.length,
    inflightMax: numbers.operationsInflightMax,
    operationMsMax,
  }, (index, done) => {
    const entry = entries[index];
    const asker = cluster.pickJoined() ?? cluster.pickLive()!;
    const startMs = network.clock.nowMs();
    cluster.get(asker, entry.key, (result: GetResult) => {
      samples.push({
        found: result.value !== undefined && sameBytes(result.value, entry.value),
        wrongValue: result.value !== undefined && !sameBytes(result.value, entry.value),
        rounds: result.rounds,
        messages: result.messages,
        latencyMs: network.clock.nowMs() - startMs,
      });
      done();
    });
  });
  return samples;
}

/**
 * Whether two byte arrays hold the same bytes.
 *
 * @param a One array.
 * @param b The other.
 * @returns `true` when equal.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The options every scenario shares, with their defaults: the seed, the links' latency and
 * faults, value sizes and the event budget.
 *
 * @param options The caller's options.
 * @returns Those options, resolved (checked by each scenario with the rest).
 */
export function commonNumbers(options: CommonScenarioOptions): Required<
  Omit<CommonScenarioOptions, "settings" | "createNode">
> {
  return {
    simSeed: options.simSeed,
    lossRate: options.lossRate ?? 0.01,
    duplicateRate: options.duplicateRate ?? 0,
    latencyMsMin: options.latencyMsMin ?? 20,
    latencyMsMax: options.latencyMsMax ?? 200,
    jitterFraction: options.jitterFraction ?? 0.1,
    valueBytesMin: options.valueBytesMin ?? 32,
    valueBytesMax: options.valueBytesMax ?? 256,
    eventsMax: options.eventsMax ?? SIM_EVENTS_MAX,
  };
}

/**
 * Fills in defaults and checks every option.
 *
 * @param options The caller's options.
 * @returns Every numeric option, resolved.
 * @throws {RangeError} Naming the first option out of range and its value.
 */
export function resolveOptions(options: ScenarioOptions): ScenarioNumbers {
  const numbers: ScenarioNumbers = {
    ...commonNumbers(options),
    nodes: options.nodes ?? 1000,
    lookups: options.lookups ?? 1000,
    values: options.values ?? 100,
    churnFraction: options.churnFraction ?? 0.3,
    joinSpacingMs: options.joinSpacingMs ?? 1000,
    settleMs: options.settleMs ?? 300_000,
    operationsInflightMax: options.operationsInflightMax ?? 16,
  };
  const problem = (name: string, expected: string) =>
    new RangeError(
      `Cannot run the scenario: ${name} is ${
        numbers[name as keyof ScenarioNumbers]
      }, expected ${expected}`,
    );
  const integers: [keyof ScenarioNumbers, number][] = [
    ["nodes", 1],
    ["lookups", 0],
    ["values", 0],
    ["joinSpacingMs", 0],
    ["settleMs", 0],
    ["operationsInflightMax", 1],
    ["valueBytesMin", 1],
    ["eventsMax", 1],
  ];
  if (!Number.isSafeInteger(numbers.simSeed)) throw problem("simSeed", "an integer");
  for (const [name, minimum] of integers) {
    if (!Number.isSafeInteger(numbers[name]) || numbers[name] < minimum) {
      throw problem(name, `an integer ≥ ${minimum}`);
    }
  }
  if (
    !(numbers.valueBytesMax >= numbers.valueBytesMin &&
      numbers.valueBytesMax <= datagramValueBytesMax)
  ) {
    throw problem("valueBytesMax", `valueBytesMin..${datagramValueBytesMax}`);
  }
  if (!(numbers.churnFraction >= 0 && numbers.churnFraction < 1)) {
    throw problem("churnFraction", "0 ≤ fraction < 1");
  }
  return numbers;
}
