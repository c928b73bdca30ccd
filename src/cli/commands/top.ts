/**
 * `rhizome top`: the dashboard's headline figures in the terminal, read from the running node's
 * `GET /v1/metrics` and refreshed every `--interval` seconds, `--count` times; rates are the
 * difference between two reads. With `--json` it reads once and prints one object.
 *
 * @module
 */

import { formatBytes } from "../../core/format.ts";
import { UsageError } from "../../core/errors.ts";
import { ControlClient } from "../../api/control_client.ts";
import type { HistogramSample, MetricSample, MetricsReport } from "../../api/metrics.ts";
import { controlRoutes } from "../../api/routes.ts";
import type { Command } from "../command.ts";
import { OK } from "../output.ts";

/**
 * Most refreshes one `top` makes: a day at one a second. `top` runs until Ctrl-C or `--count`;
 * this bounds a forgotten one. At the limit it ends with status 0.
 */
export const topRefreshesMax = 86_400;

/** Seconds between refreshes unless `--interval` says otherwise: the dashboard's pace. */
export const topIntervalSDefault = 2;

/** Shortest `--interval`: each refresh costs the node one snapshot, 5 a second at most. */
export const topIntervalSMin = 0.2;

/** Longest `--interval`: an hour; a slower view is a job for Prometheus. */
export const topIntervalSMax = 3600;

/** The headline figures, as `--json` prints them (totals; rates need two reads). */
export interface Headline {
  node_id: string;
  node_type: string;
  uptime_s: number;
  peers: number;
  sessions: number;
  sent_bytes: number;
  received_bytes: number;
  sent_datagrams: number;
  received_datagrams: number;
  lookups: number;
  lookups_ok: number;
  lookups_failed: number;
  /** Median lookup duration estimated from the histogram; null before the first lookup. */
  lookup_p50_s: number | null;
  /** 95th percentile, the same way. */
  lookup_p95_s: number | null;
  store_records: number;
  store_bytes: number;
  /** Records by lifetime class (empty for a store in memory). */
  store_class_records: Record<string, number>;
  records_below_target: number;
  /** The error counters, by name, and their sum. */
  errors: Record<string, number>;
  errors_total: number;
  banned: number;
  graylisted: number;
  bans_total: number;
  event_loop_lag_s: number;
  resident_memory_bytes: number;
}

/**
 * The sum of a family's samples whose labels include `labels`.
 *
 * @param report The metrics.
 * @param name The family.
 * @param labels Labels a sample must have.
 * @returns The sum (0 when the family has none).
 */
export function metricValue(
  report: MetricsReport,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const sample of report.metrics[name]?.samples ?? []) {
    const matches = Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
    if (!matches) continue;
    sum += "buckets" in sample ? sample.count : (sample as MetricSample).value;
  }
  return sum;
}

/**
 * A quantile estimated from a histogram as Prometheus' `histogram_quantile` does: linear within
 * the bucket it falls in.
 *
 * @param report The metrics.
 * @param name The histogram.
 * @param q The quantile, 0 to 1.
 * @returns The estimate, or null when nothing was observed.
 */
export function histogramQuantile(report: MetricsReport, name: string, q: number): number | null {
  const sample = report.metrics[name]?.samples[0] as HistogramSample | undefined;
  if (sample === undefined || !("buckets" in sample) || sample.count === 0) return null;
  const rank = q * sample.count;
  let lower = 0;
  let below = 0;
  for (const bucket of sample.buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === "+Inf") return lower;
      const inBucket = bucket.count - below;
      return lower + (bucket.le - lower) * (inBucket === 0 ? 0 : (rank - below) / inBucket);
    }
    lower = bucket.le === "+Inf" ? lower : bucket.le;
    below = bucket.count;
  }
  return lower;
}

/**
 * The headline figures of a metrics report.
 *
 * @param report The metrics.
 * @returns The figures.
 */
export function headlineOf(report: MetricsReport): Headline {
  const v = (name: string, labels?: Record<string, string>) => metricValue(report, name, labels);
  const errors = {
    rpc_timeouts: v("rhizome_dht_rpc_timeouts_total"),
    udp_send_errors: v("rhizome_udp_errors_total", { direction: "send" }),
    udp_receive_errors: v("rhizome_udp_errors_total", { direction: "receive" }) +
      v("rhizome_udp_errors_total", { direction: "receiver" }),
    kernel_drops: v("rhizome_udp_kernel_dropped_datagrams_total"),
    store_writes_refused: v("rhizome_store_refused_writes_total"),
    integrity_failures: v("rhizome_store_integrity_failures_total"),
    invalid_values: v("rhizome_dht_invalid_values_total"),
    stream_io_errors: v("rhizome_stream_closed_connections_total", { reason: "io_error" }) +
      v("rhizome_stream_closed_connections_total", { reason: "internal_error" }),
  };
  const classes = (report.metrics.rhizome_store_class_records?.samples ?? []) as MetricSample[];
  return {
    node_id: report.node_id,
    node_type: report.node_type,
    uptime_s: report.uptime_s,
    peers: v("rhizome_peers"),
    sessions: v("rhizome_channel_sessions"),
    sent_bytes: v("rhizome_udp_sent_bytes_total"),
    received_bytes: v("rhizome_udp_received_bytes_total"),
    sent_datagrams: v("rhizome_udp_sent_datagrams_total"),
    received_datagrams: v("rhizome_udp_received_datagrams_total"),
    lookups: v("rhizome_dht_lookups_total"),
    lookups_ok: v("rhizome_dht_lookups_finished_total", { result: "ok" }),
    lookups_failed: v("rhizome_dht_lookups_finished_total", { result: "failed" }),
    lookup_p50_s: histogramQuantile(report, "rhizome_dht_lookup_duration_seconds", 0.5),
    lookup_p95_s: histogramQuantile(report, "rhizome_dht_lookup_duration_seconds", 0.95),
    store_records: v("rhizome_store_records"),
    store_bytes: v("rhizome_store_bytes"),
    store_class_records: Object.fromEntries(
      classes.map((sample) => [sample.labels.class, sample.value]),
    ),
    records_below_target: v("rhizome_replication_records_below_target"),
    errors,
    errors_total: Object.values(errors).reduce((sum, count) => sum + count, 0),
    banned: v("rhizome_guard_banned_peers"),
    graylisted: v("rhizome_guard_graylisted_peers"),
    bans_total: v("rhizome_guard_bans_total"),
    event_loop_lag_s: v("rhizome_event_loop_lag_seconds"),
    resident_memory_bytes: v("rhizome_process_resident_memory_bytes"),
  };
}

/**
 * The figures as lines for people; with the previous read, traffic and lookups as rates.
 *
 * @param now The latest figures.
 * @param before The figures one interval earlier, if any.
 * @param seconds The time between the two reads.
 * @returns The lines.
 */
export function headlineText(now: Headline, before?: Headline, seconds = 1): string {
  const rate = (field: "sent_bytes" | "received_bytes" | "lookups") =>
    before === undefined ? undefined : Math.max(0, now[field] - before[field]) / seconds;
  const perS = (field: "sent_bytes" | "received_bytes") => {
    const value = rate(field);
    return value === undefined ? "…/s" : `${formatBytes(value)}/s`;
  };
  const lookupsRate = rate("lookups");
  const finished = now.lookups_ok + now.lookups_failed;
  const classes = Object.entries(now.store_class_records)
    .map(([name, count]) => `${name} ${count}`).join(" · ");
  const errorParts = Object.entries(now.errors).filter(([, count]) => count > 0)
    .map(([name, count]) => `${name.replaceAll("_", " ")} ${count}`);
  return [
    `node        ${now.node_id.slice(0, 12)}… (${now.node_type}), up ${duration(now.uptime_s)}`,
    `peers       ${now.peers} in the routing table, ${now.sessions} encrypted sessions`,
    `traffic     out ${perS("sent_bytes")} (${formatBytes(now.sent_bytes)} in all), ` +
    `in ${perS("received_bytes")} (${formatBytes(now.received_bytes)})`,
    `lookups     ${lookupsRate === undefined ? "…" : lookupsRate.toFixed(2)}/s, ` +
    `${now.lookups} started, ` +
    `${finished === 0 ? "–" : Math.round((100 * now.lookups_ok) / finished) + "%"} ok, ` +
    `p50 ${latency(now.lookup_p50_s)}, p95 ${latency(now.lookup_p95_s)}`,
    `store       ${now.store_records} records, ${formatBytes(now.store_bytes)}` +
    (classes === "" ? " (in memory)" : ` (${classes})`),
    `replicas    ${now.records_below_target} records below target`,
    `errors      ${now.errors_total}${errorParts.length > 0 ? ` (${errorParts.join(", ")})` : ""}`,
    `bans        ${now.banned} banned, ${now.graylisted} graylisted, ${now.bans_total} bans in all`,
    `event loop  lag ${latency(now.event_loop_lag_s)}, memory ` +
    formatBytes(now.resident_memory_bytes),
  ].join("\n");
}

function latency(seconds: number | null): string {
  if (seconds === null) return "–";
  return seconds < 1
    ? `${(seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0)} ms`
    : `${seconds.toFixed(2)} s`;
}

function duration(totalS: number): string {
  const d = Math.floor(totalS / 86400);
  const h = Math.floor((totalS % 86400) / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = Math.floor(totalS % 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s}s`;
}

/** A `--count` or `--interval` value, checked. */
function parseNumberFlag(
  flag: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
  integer: boolean,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  const ok = text.trim() !== "" && Number.isFinite(value) && value >= min && value <= max &&
    (!integer || Number.isInteger(value));
  if (!ok) {
    throw new UsageError(
      `--${flag} must be ${integer ? "a whole number" : "a number"} from ${min} to ${max}, ` +
        `got "${text}"`,
    );
  }
  return value;
}

/** `rhizome top`. */
export const topCommand: Command = {
  name: "top",
  summary: "Show the running node's headline figures, refreshing",
  usage: "top [--count N] [--interval S]",
  description: [
    "Shows what the dashboard shows (GET /dashboard): peers, traffic, lookups and their",
    "latency, store use by class, records below their replica target, errors, bans and",
    "event-loop lag, read from the running node's metrics every --interval seconds (default",
    `${topIntervalSDefault}), --count times (default: until Ctrl-C, at most ${topRefreshesMax}).`,
    "Rates appear from the second read on. With --json it reads once and prints one object",
    "(totals, no rates). Exit 1 when no node runs.",
  ].join("\n"),
  examples: ["rhizome top", "rhizome top --count 5 --interval 1", "rhizome top --json"],
  routes: [controlRoutes.metricsJson],
  flags: {
    count: { type: "string", valueName: "N", description: "Refreshes before exiting" },
    interval: { type: "string", valueName: "S", description: "Seconds between refreshes" },
  },
  positionals: { min: 0, max: 0 },
  async run(context) {
    const count = parseNumberFlag(
      "count",
      context.flags.count as string | undefined,
      topRefreshesMax,
      1,
      topRefreshesMax,
      true,
    );
    const intervalS = parseNumberFlag(
      "interval",
      context.flags.interval as string | undefined,
      topIntervalSDefault,
      topIntervalSMin,
      topIntervalSMax,
      false,
    );
    const client = await ControlClient.fromDataDir(context.dataDir().path);
    if (context.output.json) {
      const headline = headlineOf(await client.call(controlRoutes.metricsJson));
      context.output.result("", headline);
      return OK;
    }
    const clear = Deno.stdout.isTerminal() ? "\x1b[H\x1b[2J" : "";
    let before: { headline: Headline; atMs: number } | undefined;
    for (let refresh = 1; refresh <= count; refresh++) {
      const headline = headlineOf(await client.call(controlRoutes.metricsJson));
      const atMs = performance.now();
      const seconds = before ? Math.max(0.001, (atMs - before.atMs) / 1000) : 1;
      const text = headlineText(headline, before?.headline, seconds);
      context.output.text(clear + text + (clear === "" && refresh < count ? "\n" : ""));
      before = { headline, atMs };
      if (refresh < count) await new Promise((resolve) => setTimeout(resolve, intervalS * 1000));
    }
    return OK;
  },
};
