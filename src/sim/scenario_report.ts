/**
 * The report of a scenario run: plain, JSON-serialisable data with rounded numbers, so one seed
 * gives byte-identical JSON. `wall_ms` and `memory` depend on the machine; tests leave them out
 * when comparing runs.
 *
 * @module
 */

import type { DhtSettings } from "../dht/types.ts";
import type { SimClusterCounters } from "./cluster.ts";
import type { SimNetworkCounters } from "./network.ts";
import type { ScenarioNumbers } from "./scenario_options.ts";
import { fraction, type Percentiles, percentiles, round } from "./stats.ts";

/** One get as the scenario measured it. */
export interface LookupSample {
  /** The value came back, byte for byte. */
  found: boolean;
  /** A value came back, but not the one stored: a correctness bug. */
  wrongValue: boolean;
  /** Rounds the node reported. */
  rounds: number;
  /** Datagrams the node reported. */
  messages: number;
  /** Virtual time from the call to the callback, measured by the driver, in ms. */
  latencyMs: number;
}

/** Smallest value and median of a count. */
export interface CountSummary {
  /** Smallest; `null` when nothing was counted. */
  min: number | null;
  /** Median (nearest rank); `null` when nothing was counted. */
  p50: number | null;
}

/** What {@link runScenario} found. Field names are snake_case: this is an output format. */
export interface ScenarioReport {
  /** The run's seed (`simSeed`). */
  seed: number;
  /** Nodes created. */
  nodes: number;
  /** Wall-clock duration in ms: 0 here, filled in by the script (machine-dependent). */
  wall_ms: number;
  /** Heap growth per node between an empty and a settled network (machine-dependent). */
  memory: { bytes_per_node: number };
  /** Virtual time the whole run took, in ms. */
  virtual_ms: number;
  /** Events the network processed. */
  events: number;
  /** How the nodes joined. */
  join: {
    ok: number;
    failed: number;
    virtual_ms: number;
    routing_table_size: CountSummary;
  };
  /** How the puts went: `replicas_acked` is the `stored` count each put reported. */
  put: { ok: number; failed: number; replicas_acked: CountSummary };
  /** Gets of random stored keys from random nodes, before churn. */
  lookup: {
    count: number;
    success_rate: number | null;
    wrong_values: number;
    rounds: Percentiles;
    latency_ms: Percentiles & { max: number | null };
    messages: Percentiles;
  };
  /**
   * Each stored value fetched once from a random node, before and after the crash; `replicas*`
   * count the live nodes holding each value (read from their stores) right after the puts, just
   * before the crash, and after one replication period.
   */
  values: {
    stored: number;
    retrievable: number | null;
    retrievable_after_churn: number | null;
    crashed_nodes: number;
    replicas: CountSummary;
    replicas_before_churn: CountSummary;
    replicas_after_churn: CountSummary;
  };
  /** The network's counters. */
  network: Record<string, number>;
  /** The driver's counters. */
  cluster: { ticks: number; wakeups_skipped: number };
  /** Every numeric option used. */
  options: ScenarioNumbers;
  /** The node settings used. */
  settings: DhtSettings;
}

/** The measurements every scenario's report starts and ends with. */
export interface CommonReportInputs<
  N extends Pick<ScenarioNumbers, "simSeed" | "nodes" | "values">,
> {
  /** Every numeric option used. */
  numbers: N;
  /** The node settings used. */
  settings: DhtSettings;
  /** The network's counters at the end. */
  network: SimNetworkCounters;
  /** The driver's counters at the end. */
  cluster: SimClusterCounters;
  /** Virtual time the run took, in ms. */
  virtualMs: number;
  /** Heap growth per node, in bytes (0 without a heap hook). */
  bytesPerNode: number;
  /** How the join phase went. */
  join: { ok: number; failed: number; virtualMs: number };
  /** Routing table size of each live node after settling. */
  routingTableSizes: number[];
  /** Puts that reported failure. */
  putsFailed: number;
  /** The `stored` count of each put. */
  putAcks: number[];
}

/** The raw measurements {@link buildReport} summarises. */
export interface ReportInputs extends CommonReportInputs<ScenarioNumbers> {
  /** Nodes crashed at once. */
  crashed: number;
  /** Live holders of each stored value right after the puts. */
  replicas: number[];
  /** Live holders of each stored value just before the crash. */
  replicasBeforeChurn: number[];
  /** Live holders of each stored value one replication period after the crash. */
  replicasAfterChurn: number[];
  /** The measured gets of random stored keys. */
  lookups: LookupSample[];
  /** One get per stored value, before the crash. */
  retrievable: LookupSample[];
  /** One get per stored value, after the crash and one replication period. */
  afterChurn: LookupSample[];
}

/**
 * Summarises the measurements into the report.
 *
 * @param inputs The measurements.
 * @returns The report, `wall_ms` set to 0.
 */
export function buildReport(inputs: ReportInputs): ScenarioReport {
  const { lookups } = inputs;
  const stored = inputs.numbers.values - inputs.putsFailed;
  return {
    ...reportOpening(inputs),
    ...setUpReport(inputs),
    lookup: {
      count: lookups.length,
      success_rate: fraction(countFound(lookups), lookups.length),
      wrong_values: [...lookups, ...inputs.retrievable, ...inputs.afterChurn]
        .filter((sample) => sample.wrongValue).length,
      rounds: percentiles(lookups.map((sample) => sample.rounds), 0),
      latency_ms: latencySummary(lookups.map((sample) => sample.latencyMs)),
      messages: percentiles(lookups.map((sample) => sample.messages), 0),
    },
    values: {
      stored,
      retrievable: fraction(countFound(inputs.retrievable), stored),
      retrievable_after_churn: fraction(countFound(inputs.afterChurn), stored),
      crashed_nodes: inputs.crashed,
      replicas: countSummary(inputs.replicas),
      replicas_before_churn: countSummary(inputs.replicasBeforeChurn),
      replicas_after_churn: countSummary(inputs.replicasAfterChurn),
    },
    ...reportClosing(inputs),
  };
}

/**
 * The fields every scenario's report opens with: the run, its memory and time.
 *
 * @param inputs The measurements.
 * @returns `seed` to `events`, `wall_ms` set to 0.
 */
export function reportOpening(
  inputs: CommonReportInputs<Pick<ScenarioNumbers, "simSeed" | "nodes" | "values">>,
): Pick<ScenarioReport, "seed" | "nodes" | "wall_ms" | "memory" | "virtual_ms" | "events"> {
  return {
    seed: inputs.numbers.simSeed,
    nodes: inputs.numbers.nodes,
    wall_ms: 0,
    memory: { bytes_per_node: Math.round(inputs.bytesPerNode) },
    virtual_ms: round(inputs.virtualMs, 0),
    events: inputs.network.events,
  };
}

/**
 * The fields on the set-up every scenario shares: how the nodes joined and the values were put.
 *
 * @param inputs The measurements.
 * @returns `join` and `put`.
 */
export function setUpReport(
  inputs: CommonReportInputs<Pick<ScenarioNumbers, "simSeed" | "nodes" | "values">>,
): Pick<ScenarioReport, "join" | "put"> {
  return {
    join: {
      ok: inputs.join.ok,
      failed: inputs.join.failed,
      virtual_ms: round(inputs.join.virtualMs, 0),
      routing_table_size: countSummary(inputs.routingTableSizes),
    },
    put: {
      ok: inputs.numbers.values - inputs.putsFailed,
      failed: inputs.putsFailed,
      replicas_acked: countSummary(inputs.putAcks),
    },
  };
}

/**
 * The fields every scenario's report closes with: counters, options and settings.
 *
 * @param inputs The measurements.
 * @returns `network` (names in snake_case), `cluster`, `options` and `settings` (copies).
 */
export function reportClosing<N extends Pick<ScenarioNumbers, "simSeed" | "nodes" | "values">>(
  inputs: CommonReportInputs<N>,
): {
  network: Record<string, number>;
  cluster: { ticks: number; wakeups_skipped: number };
  options: N;
  settings: DhtSettings;
} {
  const network: Record<string, number> = {};
  for (const [name, value] of Object.entries(inputs.network)) {
    network[name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)] = value;
  }
  return {
    network,
    cluster: { ticks: inputs.cluster.ticks, wakeups_skipped: inputs.cluster.wakeupsSkipped },
    options: { ...inputs.numbers },
    settings: structuredClone(inputs.settings),
  };
}

/**
 * Percentiles and maximum of latencies, rounded to 0.1 ms.
 *
 * @param latencies Latencies in ms.
 * @returns p50, p99 and max; `null`s when there are none.
 */
export function latencySummary(latencies: readonly number[]): Percentiles & { max: number | null } {
  return {
    ...percentiles(latencies, 1),
    max: latencies.length === 0 ? null : round(latencies.reduce(larger), 1),
  };
}

function larger(a: number, b: number): number {
  return Math.max(a, b);
}

function countFound(samples: readonly LookupSample[]): number {
  return samples.filter((sample) => sample.found).length;
}

/**
 * Smallest value and median of `counts`.
 *
 * @param counts The counts.
 * @returns Both; `null`s when there are none.
 */
export function countSummary(counts: readonly number[]): CountSummary {
  if (counts.length === 0) return { min: null, p50: null };
  return { min: counts.reduce((a, b) => Math.min(a, b)), p50: percentiles(counts, 0).p50 };
}
