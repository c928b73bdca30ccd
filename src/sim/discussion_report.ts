/**
 * The report of a discussion workload run: plain, JSON-serialisable data with rounded numbers, so
 * one seed gives byte-identical JSON. `wall_ms` and `memory` depend on the machine; tests leave
 * them out when comparing runs.
 *
 * @module
 */

import type { DhtSettings } from "../dht/types.ts";
import type { DiscussionNumbers } from "./scenario_options.ts";
import {
  type CommonReportInputs,
  type CountSummary,
  countSummary,
  latencySummary,
  reportClosing,
  reportOpening,
} from "./scenario_report.ts";
import { fraction, type Percentiles, percentiles, round } from "./stats.ts";

/**
 * What an operation did: `thread` (new thread), `post` (top-level message), `reply`, `vote`,
 * `list` (the recent listing's first page) and `show` (a thread's first page).
 */
export type OperationKind = "thread" | "post" | "reply" | "vote" | "list" | "show";

/** Every operation kind, in report order. */
export const operationKinds: readonly OperationKind[] = [
  "thread",
  "post",
  "reply",
  "vote",
  "list",
  "show",
];

/** Operations that publish; the others read. */
const publishKinds: ReadonlySet<OperationKind> = new Set(["thread", "post", "reply", "vote"]);

/** One operation as the workload measured it. */
export interface OperationSample {
  /** What it was. */
  kind: OperationKind;
  /** It returned (a read may still have missed pieces). */
  ok: boolean;
  /** It returned and a read named nothing missing (always so for a publish that returned). */
  complete: boolean;
  /** The `RhizomeError` code it failed with. */
  error?: string;
  /** Virtual time from the call to its end, in ms. */
  latencyMs: number;
  /**
   * Requests (RPCs) it cost: datagram requests with their resends, and stream requests, sent by
   * its node while it ran and by other nodes handling what it caused.
   */
  requests: number;
  /** Those its own node sent. */
  ownRequests: number;
}

/** How one acknowledged post became visible to readers on other nodes. */
export interface VisibilitySample {
  /** From the post's start to the end of the first read that saw it; unset if none did. */
  visibleAfterStartMs: number | undefined;
  /** From the post's acknowledgement to the start of the first read that saw it. */
  visibleAfterAckMs: number | undefined;
  /** Reads made. */
  probes: number;
  /** Requests those reads sent. */
  requests: number;
}

/** Requests (RPCs) per operation: mean and percentiles. */
export interface RequestSummary extends Percentiles {
  /** Mean, to 0.1; `null` when nothing was measured. */
  mean: number | null;
}

/** One operation kind's figures. */
export interface OperationSummary {
  /** Operations run. */
  count: number;
  /** Those that returned. */
  ok: number;
  /** Those that returned with nothing missing. */
  complete: number;
  /** Failures by error code. */
  errors: Record<string, number>;
  /** Latency of those that returned, virtual ms. */
  latency_ms: Percentiles & { max: number | null };
  /**
   * Requests it cost: those its node sent and those other nodes sent handling what it caused
   * (pings of a newcomer, values offered to it, work passed on).
   */
  rpcs: RequestSummary;
  /** Those its own node sent. */
  rpcs_own: RequestSummary;
}

/** What {@link runDiscussionScenario} found. Field names are snake_case: an output format. */
export interface DiscussionReport {
  /** Which scenario this is. */
  scenario: "discussion";
  /** The run's seed. */
  seed: number;
  /** Nodes created. */
  nodes: number;
  /** Wall-clock duration in ms: 0 here, filled in by the script (machine-dependent). */
  wall_ms: number;
  /**
   * Heap growth per node (machine-dependent): between an empty and a settled network, and at the
   * end of the workload (with the services built on the nodes used, and what they stored).
   */
  memory: { bytes_per_node: number; bytes_per_node_after_workload: number };
  /** Virtual time the whole run took, in ms. */
  virtual_ms: number;
  /** Events the network processed. */
  events: number;
  /** How the nodes joined. */
  join: { ok: number; failed: number; virtual_ms: number; routing_table_size: CountSummary };
  /** The workload's size: authors, operations asked for, nodes that ran the service. */
  workload: {
    authors: number;
    threads: number;
    posts: number;
    votes: number;
    reads: number;
    service_nodes: number;
    virtual_ms: number;
  };
  /** Threads, posts, replies and votes: how many were acknowledged. */
  publish: { count: number; ok: number; success_rate: number | null };
  /** Listings and thread shows: how many answered, and answered with nothing missing. */
  read: {
    count: number;
    ok: number;
    complete: number;
    success_rate: number | null;
    complete_rate: number | null;
  };
  /** Each kind's figures. */
  operations: Record<OperationKind, OperationSummary>;
  /** Requests per message published (posts and replies), as `rpcs` of an operation. */
  rpcs_per_post: RequestSummary;
  /** Of those, the ones the posting node sent. */
  rpcs_per_post_own: RequestSummary;
  /** Requests per thread listing. */
  rpcs_per_listing: RequestSummary;
  /**
   * Acknowledged posts and replies, read back from random other nodes: how many were seen, the
   * time from the post's start to the end of the first read that saw it, and from the
   * acknowledgement to the start of that read (0 when a read started at the acknowledgement saw
   * it; probes double their delay, so a later figure is exact to a factor of two).
   */
  post_visible: {
    posts: number;
    visible: number;
    visible_rate: number | null;
    after_start_ms: Percentiles;
    after_ack_ms: Percentiles;
    probes_mean: number | null;
    probe_rpcs_mean: number | null;
  };
  /** The network's counters. */
  network: Record<string, number>;
  /** The driver's counters. */
  cluster: { ticks: number; wakeups_skipped: number; stream_requests: number };
  /** Every numeric option used. */
  options: DiscussionNumbers;
  /** The node settings used. */
  settings: DhtSettings;
}

/** The raw measurements {@link buildDiscussionReport} summarises. */
export interface DiscussionReportInputs
  extends CommonReportInputs<DiscussionNumbers & { values: number }> {
  /** Virtual time of the workload alone (after the network settled), in ms. */
  workloadVirtualMs: number;
  /** Heap growth per node at the end, in bytes (0 without a heap hook). */
  bytesPerNodeAfterWorkload: number;
  /** Nodes whose discussion service was built. */
  serviceNodes: number;
  /** Every operation. */
  samples: OperationSample[];
  /** Every acknowledged post's visibility. */
  visibility: VisibilitySample[];
}

/**
 * Summarises the measurements into the report.
 *
 * @param inputs The measurements.
 * @returns The report, `wall_ms` set to 0.
 */
export function buildDiscussionReport(inputs: DiscussionReportInputs): DiscussionReport {
  const { samples, visibility, numbers } = inputs;
  const opening = reportOpening(inputs);
  const { values: _none, ...options } = numbers;
  const closing = reportClosing(inputs);
  const operations = Object.fromEntries(
    operationKinds.map((kind) => [kind, summarise(samples.filter((s) => s.kind === kind))]),
  ) as Record<OperationKind, OperationSummary>;
  const publishes = samples.filter((sample) => publishKinds.has(sample.kind));
  const reads = samples.filter((sample) => !publishKinds.has(sample.kind));
  const posts = samples.filter((sample) => sample.kind === "post" || sample.kind === "reply");
  const seen = visibility.filter((sample) => sample.visibleAfterStartMs !== undefined);
  return {
    scenario: "discussion",
    ...opening,
    memory: {
      bytes_per_node: opening.memory.bytes_per_node,
      bytes_per_node_after_workload: Math.round(inputs.bytesPerNodeAfterWorkload),
    },
    join: {
      ok: inputs.join.ok,
      failed: inputs.join.failed,
      virtual_ms: round(inputs.join.virtualMs, 0),
      routing_table_size: countSummary(inputs.routingTableSizes),
    },
    workload: {
      authors: numbers.authors,
      threads: numbers.threads,
      posts: numbers.posts,
      votes: numbers.votes,
      reads: numbers.reads,
      service_nodes: inputs.serviceNodes,
      virtual_ms: round(inputs.workloadVirtualMs, 0),
    },
    publish: {
      count: publishes.length,
      ok: countOk(publishes),
      success_rate: fraction(countOk(publishes), publishes.length),
    },
    read: {
      count: reads.length,
      ok: countOk(reads),
      complete: reads.filter((sample) => sample.complete).length,
      success_rate: fraction(countOk(reads), reads.length),
      complete_rate: fraction(reads.filter((sample) => sample.complete).length, reads.length),
    },
    operations,
    rpcs_per_post: requestSummary(posts.map((sample) => sample.requests)),
    rpcs_per_post_own: requestSummary(posts.map((sample) => sample.ownRequests)),
    rpcs_per_listing: requestSummary(
      samples.filter((sample) => sample.kind === "list").map((sample) => sample.requests),
    ),
    post_visible: {
      posts: visibility.length,
      visible: seen.length,
      visible_rate: fraction(seen.length, visibility.length),
      after_start_ms: percentiles(seen.map((sample) => sample.visibleAfterStartMs!), 0),
      after_ack_ms: percentiles(seen.map((sample) => sample.visibleAfterAckMs!), 0),
      probes_mean: mean(visibility.map((sample) => sample.probes)),
      probe_rpcs_mean: mean(visibility.map((sample) => sample.requests)),
    },
    network: closing.network,
    cluster: { ...closing.cluster, stream_requests: inputs.cluster.streamRequests },
    options,
    settings: closing.settings,
  };
}

function summarise(samples: readonly OperationSample[]): OperationSummary {
  const errors: Record<string, number> = {};
  for (const sample of samples) {
    if (sample.error !== undefined) errors[sample.error] = (errors[sample.error] ?? 0) + 1;
  }
  const answered = samples.filter((sample) => sample.ok);
  return {
    count: samples.length,
    ok: answered.length,
    complete: samples.filter((sample) => sample.complete).length,
    errors,
    latency_ms: latencySummary(answered.map((sample) => sample.latencyMs)),
    rpcs: requestSummary(samples.map((sample) => sample.requests)),
    rpcs_own: requestSummary(samples.map((sample) => sample.ownRequests)),
  };
}

function requestSummary(counts: readonly number[]): RequestSummary {
  return { mean: mean(counts), ...percentiles(counts, 0) };
}

function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  return round(values.reduce((sum, value) => sum + value, 0) / values.length, 1);
}

function countOk(samples: readonly OperationSample[]): number {
  return samples.filter((sample) => sample.ok).length;
}
