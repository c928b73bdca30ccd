/**
 * The report of a continuous-churn run: plain, JSON-serialisable data with rounded numbers, so one
 * seed gives byte-identical JSON. `wall_ms` and `memory` depend on the machine; tests leave them
 * out when comparing runs.
 *
 * @module
 */

import type { DhtSettings } from "../dht/types.ts";
import type { ChurnScenarioNumbers } from "./scenario_options.ts";
import {
  type CommonReportInputs,
  type CountSummary,
  countSummary,
  latencySummary,
  reportClosing,
  reportOpening,
  setUpReport,
} from "./scenario_report.ts";
import { fraction, type Percentiles, percentiles, round } from "./stats.ts";

/**
 * How a get ended: the stored value came back, nothing (or an invalid value) came back, a
 * different value came back (a correctness bug), or its asker left or crashed first.
 */
export type ChurnGetOutcome = "found" | "missed" | "wrong" | "aborted";

/** One get of the churn phase. */
export interface ChurnGetSample {
  /** The window it started in. */
  window: number;
  /** How it ended. */
  outcome: ChurnGetOutcome;
  /** Rounds the node reported (0 when aborted). */
  rounds: number;
  /** Datagrams the node reported (0 when aborted). */
  messages: number;
  /** Virtual time from the call to its end, in ms. */
  latencyMs: number;
  /** For a miss: live nodes that held the value when it ended; otherwise -1. */
  liveReplicas: number;
}

/** What is measured per report window. */
export interface ChurnWindowInputs {
  /** Start of the window, in ms since the churn began. */
  startMs: number;
  /** Nodes attached at the window's end. */
  online: number;
  /** Of those, nodes whose bootstrap succeeded. */
  joined: number;
  /** Nodes that arrived. */
  joins: number;
  /** Arrivals whose bootstrap failed. */
  joinsFailed: number;
  /** Graceful departures. */
  leaves: number;
  /** Crashes. */
  crashes: number;
  /** Live holders of each stored value at the window's end. */
  replicas: number[];
  /** Gets that started in the window. */
  gets: ChurnGetSample[];
}

/** One row of the report's time series. */
export interface ChurnWindowReport {
  /** Start of the window, in seconds since the churn began. */
  start_s: number;
  /** Nodes attached at the window's end. */
  online: number;
  /** Of those, the ones that joined successfully. */
  joined: number;
  /** Arrivals in the window. */
  joins: number;
  /** Arrivals whose bootstrap failed. */
  joins_failed: number;
  /** Graceful departures in the window. */
  leaves: number;
  /** Crashes in the window. */
  crashes: number;
  /** Gets started in the window. */
  gets: number;
  /** Gets whose asker departed before the answer (not counted below). */
  aborted: number;
  /** Found / (gets − aborted); `null` when nothing was measured. */
  success_rate: number | null;
  /** Latency of the gets that ended, aborted ones aside. */
  latency_ms: Percentiles;
  /** Live holders per stored value at the window's end. */
  replicas: CountSummary;
}

/** What {@link runChurnScenario} found. Field names are snake_case: this is an output format. */
export interface ChurnReport {
  /** The run's seed (`simSeed`). */
  seed: number;
  /** Nodes at the start. */
  nodes: number;
  /** Wall-clock duration in ms: 0 here, filled in by the script (machine-dependent). */
  wall_ms: number;
  /** Heap growth per node between an empty and a settled network (machine-dependent). */
  memory: { bytes_per_node: number };
  /** Virtual time the whole run took, in ms. */
  virtual_ms: number;
  /** Events the network processed. */
  events: number;
  /** The churn model, and what follows from it. */
  churn: {
    model: string;
    session_median_s: number;
    session_shape: number;
    session_mean_s: number;
    arrivals_per_s: number;
    crash_fraction: number;
    duration_s: number;
    window_s: number;
  };
  /** How the first nodes joined. */
  join: {
    ok: number;
    failed: number;
    virtual_ms: number;
    routing_table_size: CountSummary;
  };
  /** How the puts went: `replicas_acked` is the `stored` count each put reported. */
  put: { ok: number; failed: number; replicas_acked: CountSummary };
  /** Arrivals and departures over the whole churn, and the population's range. */
  population: {
    joins: number;
    joins_failed: number;
    leaves: number;
    crashes: number;
    online_min: number;
    online_max: number;
    online_end: number;
  };
  /**
   * Gets during the churn. `success_rate` is found / (count − aborted). Misses are split by
   * whether some live node still held the value (a lookup that failed) or none did (the value was
   * lost).
   */
  get: {
    count: number;
    found: number;
    aborted: number;
    success_rate: number | null;
    wrong_values: number;
    missed_with_live_replicas: number;
    missed_without_live_replica: number;
    rounds: Percentiles;
    latency_ms: Percentiles & { max: number | null };
    messages: Percentiles;
  };
  /** Live holders of each stored value when the churn began and when it ended. */
  values: {
    stored: number;
    replicas_at_start: CountSummary;
    replicas_at_end: CountSummary;
    lost: number;
  };
  /** Per time window. */
  windows: ChurnWindowReport[];
  /** The network's counters. */
  network: Record<string, number>;
  /** The driver's counters. */
  cluster: { ticks: number; wakeups_skipped: number };
  /** Every numeric option used. */
  options: ChurnScenarioNumbers;
  /** The node settings used. */
  settings: DhtSettings;
}

/** The raw measurements {@link buildChurnReport} summarises. */
export interface ChurnReportInputs extends CommonReportInputs<ChurnScenarioNumbers> {
  /** The mean session length of the model, in ms. */
  meanSessionMs: number;
  /** Live replicas of each stored value when the churn began. */
  replicasAtStart: number[];
  /** Live replicas of each stored value when it ended. */
  replicasAtEnd: number[];
  /** The fewest nodes online at once. */
  onlineMin: number;
  /** The most nodes online at once. */
  onlineMax: number;
  /** Nodes online at the end. */
  onlineEnd: number;
  /** One sample per get. */
  samples: ChurnGetSample[];
  /** The raw counts of each window. */
  windows: ChurnWindowInputs[];
}

/**
 * Summarises the measurements into the report.
 *
 * @param inputs The measurements.
 * @returns The report, `wall_ms` set to 0.
 */
export function buildChurnReport(inputs: ChurnReportInputs): ChurnReport {
  const { numbers, samples, windows } = inputs;
  const ended = samples.filter((sample) => sample.outcome !== "aborted");
  const latencies = ended.map((sample) => sample.latencyMs);
  const found = count(samples, "found");
  const misses = samples.filter((sample) => sample.outcome === "missed");
  const sum = (pick: (window: ChurnWindowInputs) => number) =>
    windows.reduce((total, window) => total + pick(window), 0);
  return {
    ...reportOpening(inputs),
    churn: {
      model: numbers.sessionModel,
      session_median_s: round(numbers.sessionMedianMs / 1000, 1),
      session_shape: numbers.sessionShape,
      session_mean_s: round(inputs.meanSessionMs / 1000, 1),
      arrivals_per_s: round(numbers.nodes / (inputs.meanSessionMs / 1000), 4),
      crash_fraction: numbers.crashFraction,
      duration_s: round(numbers.durationMs / 1000, 1),
      window_s: round(numbers.windowMs / 1000, 1),
    },
    ...setUpReport(inputs),
    population: {
      joins: sum((window) => window.joins),
      joins_failed: sum((window) => window.joinsFailed),
      leaves: sum((window) => window.leaves),
      crashes: sum((window) => window.crashes),
      online_min: inputs.onlineMin,
      online_max: inputs.onlineMax,
      online_end: inputs.onlineEnd,
    },
    get: {
      count: samples.length,
      found,
      aborted: count(samples, "aborted"),
      success_rate: fraction(found, ended.length),
      wrong_values: count(samples, "wrong"),
      missed_with_live_replicas: misses.filter((sample) => sample.liveReplicas > 0).length,
      missed_without_live_replica: misses.filter((sample) => sample.liveReplicas === 0).length,
      rounds: percentiles(ended.map((sample) => sample.rounds), 0),
      latency_ms: latencySummary(latencies),
      messages: percentiles(ended.map((sample) => sample.messages), 0),
    },
    values: {
      stored: numbers.values - inputs.putsFailed,
      replicas_at_start: countSummary(inputs.replicasAtStart),
      replicas_at_end: countSummary(inputs.replicasAtEnd),
      lost: inputs.replicasAtEnd.filter((replicas) => replicas === 0).length,
    },
    windows: windows.map(windowReport),
    ...reportClosing(inputs),
  };
}

function windowReport(window: ChurnWindowInputs): ChurnWindowReport {
  const ended = window.gets.filter((sample) => sample.outcome !== "aborted");
  return {
    start_s: round(window.startMs / 1000, 1),
    online: window.online,
    joined: window.joined,
    joins: window.joins,
    joins_failed: window.joinsFailed,
    leaves: window.leaves,
    crashes: window.crashes,
    gets: window.gets.length,
    aborted: count(window.gets, "aborted"),
    success_rate: fraction(count(window.gets, "found"), ended.length),
    latency_ms: percentiles(ended.map((sample) => sample.latencyMs), 1),
    replicas: countSummary(window.replicas),
  };
}

function count(samples: readonly ChurnGetSample[], outcome: ChurnGetSample["outcome"]): number {
  return samples.filter((sample) => sample.outcome === outcome).length;
}
