/**
 * The node's metrics, defined once: each metric's name, type, unit, help text and how it is read
 * from a {@link NodeMetrics} snapshot. Everything that shows figures renders from this table:
 * `GET /metrics` (the Prometheus text exposition format, {@link prometheusText}), `GET
 * /v1/metrics` (the same families as JSON, {@link metricsReport}), the dashboard and `rhizome
 * top` (which read that JSON). docs/observability.md lists the same metrics, and a test checks
 * the two agree.
 *
 * Names follow Prometheus' conventions, which `promtool check metrics` lints: a `rhizome_`
 * prefix, snake_case, the unit in the name in base units (`_seconds`, `_bytes`), counters ending
 * in `_total`, label values in snake_case.
 *
 * @module
 */

import { MessageType, StoreStatus } from "../dht/mod.ts";
import type { HistogramSnapshot } from "../core/histogram.ts";
import type { NodeMetrics } from "../node/metrics_snapshot.ts";

/** A metric's kind, as Prometheus names it. */
export type MetricType = "counter" | "gauge" | "histogram";

/** One value of a counter or gauge, with its labels. */
export interface MetricSample {
  /** Label names and values (none for a metric without labels). */
  labels: Record<string, string>;
  /** The value. */
  value: number;
}

/** One histogram, with its labels. */
export interface HistogramSample {
  /** Label names and values. */
  labels: Record<string, string>;
  /** Cumulative counts: observations at or below `le` (the last `le` is `"+Inf"`). */
  buckets: { le: number | "+Inf"; count: number }[];
  /** The sum of the observations. */
  sum: number;
  /** How many observations. */
  count: number;
}

/** A metric with its values at one moment. */
export interface MetricFamily {
  /** The name, `rhizome_…`. */
  name: string;
  /** Counter, gauge or histogram. */
  type: MetricType;
  /** The unit (`seconds`, `bytes`), or `""` for a count. */
  unit: string;
  /** One sentence: what it counts. */
  help: string;
  /** The values (none when the node has no such figure, e.g. a store in memory by class). */
  samples: (MetricSample | HistogramSample)[];
}

/** How a metric is read from a snapshot. */
interface MetricDefinition {
  name: string;
  type: MetricType;
  unit: string;
  help: string;
  read(metrics: NodeMetrics): (MetricSample | HistogramSample)[];
}

/** A sample without labels. */
function one(value: number | null | undefined): MetricSample[] {
  return value === null || value === undefined || !Number.isFinite(value)
    ? []
    : [{ labels: {}, value }];
}

/** One sample per entry of a record of counts, labelled `label` with the key in snake_case. */
function byLabel(
  label: string,
  counts: Record<string, number> | undefined,
  name: (key: string) => string = snakeCase,
): MetricSample[] {
  if (counts === undefined) return [];
  return Object.entries(counts).map(([key, value]) => ({ labels: { [label]: name(key) }, value }));
}

/** `peerRateLimited` → `peer_rate_limited`. */
export function snakeCase(text: string): string {
  return text.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

/** Milliseconds as seconds, to the microsecond (no float noise in the text). */
function secondsOf(ms: number): number {
  return Math.round(ms * 1000) / 1e6;
}

/** A histogram in ms as one in seconds. */
function secondsHistogram(histogram: HistogramSnapshot): HistogramSample[] {
  const buckets: HistogramSample["buckets"] = histogram.bounds.map((boundMs, i) => ({
    le: boundMs / 1000,
    count: histogram.cumulative[i],
  }));
  buckets.push({ le: "+Inf", count: histogram.count });
  return [{ labels: {}, buckets, sum: secondsOf(histogram.sum), count: histogram.count }];
}

/** A name for a DHT message type number: `find_value`, or the number for an unknown one. */
function messageTypeName(type: string): string {
  const entry = Object.entries(MessageType).find(([, value]) => String(value) === type);
  return entry ? snakeCase(entry[0]) : `type_${type}`;
}

/** A name for a STORE refusal status: `bad_token`, or the number for an unknown one. */
function storeStatusName(status: string): string {
  const entry = Object.entries(StoreStatus).find(([, value]) => String(value) === status);
  return entry ? snakeCase(entry[0]) : `status_${status}`;
}

/** Makes a counter. */
function counter(
  name: string,
  help: string,
  read: MetricDefinition["read"],
  unit = "",
): MetricDefinition {
  return { name, type: "counter", unit, help, read };
}

/** Makes a gauge. */
function gauge(
  name: string,
  help: string,
  read: MetricDefinition["read"],
  unit = "",
): MetricDefinition {
  return { name, type: "gauge", unit, help, read };
}

/**
 * Every metric, in the order they are listed. The first word after `rhizome_` says which part
 * of the node counts it.
 */
export const metricDefinitions: readonly MetricDefinition[] = [
  // --- the node ---
  gauge(
    "rhizome_node_info",
    "Always 1; the labels name the node and the type it runs as.",
    (m) => [{ labels: { node_id: m.nodeId, node_type: m.nodeType }, value: 1 }],
  ),
  gauge(
    "rhizome_uptime_seconds",
    "Time since the node started.",
    (m) => one(secondsOf(m.uptimeS * 1000)),
    "seconds",
  ),
  gauge("rhizome_peers", "Contacts in the routing table.", (m) => one(m.peers)),
  counter(
    "rhizome_rejoins_total",
    "Rejoin attempts after the routing table emptied or nobody answered.",
    (m) => one(m.rejoins),
  ),
  // --- event loop and process ---
  gauge(
    "rhizome_event_loop_lag_seconds",
    "Largest event-loop lag the node measured in the last 30 to 60 s (a 20 ms timer's lateness).",
    (m) => one(secondsOf(m.eventLoop.lagMsMax)),
    "seconds",
  ),
  counter(
    "rhizome_event_loop_lag_seconds_total",
    "Sum of every event-loop lag measured; its rate is the share of time timers ran late.",
    (m) => one(secondsOf(m.eventLoop.lagMsTotal)),
    "seconds",
  ),
  counter(
    "rhizome_event_loop_stalls_total",
    "Event-loop lags of 100 ms or more.",
    (m) => one(m.eventLoop.stalls),
  ),
  gauge(
    "rhizome_process_resident_memory_bytes",
    "Resident memory of the node's process.",
    (m) => one(m.memory.rss),
    "bytes",
  ),
  gauge(
    "rhizome_process_heap_used_bytes",
    "JavaScript heap in use.",
    (m) => one(m.memory.heapUsed),
    "bytes",
  ),
  // --- traffic: UDP ---
  counter(
    "rhizome_udp_sent_bytes_total",
    "Bytes sent in UDP datagrams.",
    (m) => one(m.udp.bytesSent),
    "bytes",
  ),
  counter(
    "rhizome_udp_received_bytes_total",
    "Bytes received in UDP datagrams.",
    (m) => one(m.udp.bytesReceived),
    "bytes",
  ),
  counter(
    "rhizome_udp_sent_datagrams_total",
    "UDP datagrams sent.",
    (m) => one(m.udp.datagramsSent),
  ),
  counter(
    "rhizome_udp_received_datagrams_total",
    "UDP datagrams received.",
    (m) => one(m.udp.datagramsReceived),
  ),
  counter(
    "rhizome_udp_errors_total",
    "UDP socket failures, by direction (send, receive, or the receiver's handler).",
    (m) => [
      { labels: { direction: "send" }, value: m.udp.sendErrors },
      { labels: { direction: "receive" }, value: m.udp.receiveErrors },
      { labels: { direction: "receiver" }, value: m.udp.receiverErrors },
    ],
  ),
  counter(
    "rhizome_udp_dropped_datagrams_total",
    "UDP datagrams dropped by this node before use or before sending, by reason.",
    (m) => [
      { labels: { reason: "send_oversize" }, value: m.udp.oversizeSendsRefused },
      { labels: { reason: "send_backlog" }, value: m.udp.sendsDroppedBacklog },
      { labels: { reason: "send_after_close" }, value: m.udp.sendsAfterClose },
      { labels: { reason: "receive_oversize" }, value: m.udp.oversizeReceivesDropped },
      { labels: { reason: "receive_refused" }, value: m.udp.receivesRefused },
      ...m.udp.receivesShed.map((value, priority) => ({
        labels: { reason: `receive_shed_priority_${priority}` },
        value,
      })),
    ],
  ),
  counter(
    "rhizome_udp_kernel_dropped_datagrams_total",
    "Datagrams the kernel dropped on this socket: a full receive buffer, or the filter of banned sources (Linux only).",
    (m) => one(m.udp.kernelReceiveDrops),
  ),
  gauge(
    "rhizome_udp_receive_queue_datagrams",
    "Datagrams read from the socket and waiting to be handled.",
    (m) => one(m.udp.receiveQueued),
  ),
  // --- traffic: streams (large values over TCP) ---
  gauge(
    "rhizome_stream_connections",
    "Stream (TCP) connections open.",
    (m) => one(m.stream.connections),
  ),
  counter(
    "rhizome_stream_accepted_connections_total",
    "Stream connections accepted.",
    (m) => one(m.stream.connectionsAccepted),
  ),
  counter(
    "rhizome_stream_requests_total",
    "Requests served over streams.",
    (m) => one(m.stream.requestsServed),
  ),
  counter(
    "rhizome_stream_closed_connections_total",
    "Stream connections closed, by reason (peer_closed is the normal end).",
    (m) => byLabel("reason", m.stream.closed),
  ),
  // --- the secure channel ---
  gauge("rhizome_channel_sessions", "Encrypted sessions open.", (m) => one(m.channel.sessions)),
  counter(
    "rhizome_channel_packets_total",
    "Packets through the secure channel, by direction (sealed out, opened in).",
    (m) => [
      { labels: { direction: "sealed" }, value: m.channel.packetsSealed },
      { labels: { direction: "opened" }, value: m.channel.packetsOpened },
    ],
  ),
  counter(
    "rhizome_channel_handshakes_total",
    "Handshakes, by event (started, completed, answered, retried, abandoned, finished_late).",
    (m) => [
      { labels: { event: "started" }, value: m.channel.handshakesStarted },
      { labels: { event: "completed" }, value: m.channel.handshakesCompleted },
      { labels: { event: "answered" }, value: m.channel.handshakesAnswered },
      { labels: { event: "retried" }, value: m.channel.handshakeRetries },
      { labels: { event: "abandoned" }, value: m.channel.handshakesAbandoned },
      { labels: { event: "finished_late" }, value: m.channel.handshakesFinishedLate },
    ],
  ),
  counter(
    "rhizome_channel_dropped_packets_total",
    "Received packets the secure channel dropped, by reason.",
    (m) => byLabel("reason", m.channel.dropped),
  ),
  counter(
    "rhizome_channel_send_dropped_packets_total",
    "Outgoing packets the secure channel dropped, by reason.",
    (m) => byLabel("reason", m.channel.sendDropped),
  ),
  // --- the DHT ---
  counter(
    "rhizome_dht_requests_total",
    "DHT requests this node answered, by message type.",
    (m) => byLabel("type", m.dht.requests, messageTypeName),
  ),
  counter(
    "rhizome_dht_dropped_messages_total",
    "DHT messages dropped before use, by reason.",
    (m) => byLabel("reason", m.dht.dropped),
  ),
  counter(
    "rhizome_dht_rpc_sent_total",
    "Request datagrams this node sent, resends included.",
    (m) => one(m.dht.rpc.sent),
  ),
  counter(
    "rhizome_dht_rpc_retries_total",
    "Requests sent again after no reply.",
    (m) => one(m.dht.rpc.retries),
  ),
  counter(
    "rhizome_dht_rpc_timeouts_total",
    "Requests that failed after every attempt.",
    (m) => one(m.dht.rpc.timeouts),
  ),
  counter(
    "rhizome_dht_rpc_replies_total",
    "Replies matched to a request.",
    (m) => one(m.dht.rpc.replies),
  ),
  counter(
    "rhizome_dht_rpc_unmatched_replies_total",
    "Replies matching no request (late, duplicated or unsolicited).",
    (m) => one(m.dht.rpc.unmatched),
  ),
  counter(
    "rhizome_dht_rpc_overloaded_total",
    "Requests refused because the queue of requests in flight was full.",
    (m) => one(m.dht.rpc.overloaded),
  ),
  counter(
    "rhizome_dht_lookups_total",
    "Iterative lookups started (gets, puts, joins, upkeep).",
    (m) => one(m.dht.lookups),
  ),
  counter(
    "rhizome_dht_lookups_finished_total",
    "Lookups finished, by result (ok: found the value or nodes that answered).",
    (m) => [
      { labels: { result: "ok" }, value: m.health.lookupsSucceeded },
      { labels: { result: "failed" }, value: m.health.lookupsFailed },
    ],
  ),
  {
    name: "rhizome_dht_lookup_duration_seconds",
    type: "histogram",
    unit: "seconds",
    help: "How long finished lookups took.",
    read: (m) => secondsHistogram(m.health.lookupDurationMs),
  },
  counter(
    "rhizome_dht_stores_accepted_total",
    "STOREs from other nodes accepted and written.",
    (m) => one(m.dht.stored),
  ),
  counter(
    "rhizome_dht_stores_refused_total",
    "STOREs from other nodes refused, by reason.",
    (m) => byLabel("reason", m.dht.storeRefused, storeStatusName),
  ),
  counter(
    "rhizome_dht_invalid_values_total",
    "Values received that did not verify against their key.",
    (m) => one(m.dht.invalidValues),
  ),
  counter(
    "rhizome_dht_stores_sent_total",
    "STOREs this node sent (publishing, republishing, replication, caching).",
    (m) => one(m.dht.replicated),
  ),
  counter(
    "rhizome_replication_pushes_total",
    "Pushes of a held record to its closest nodes (publish, republish, replication).",
    (m) => one(m.health.pushes),
  ),
  counter(
    "rhizome_replication_short_pushes_total",
    "Pushes after which fewer nodes held the record than its replica target.",
    (m) => one(m.health.pushesShort),
  ),
  gauge(
    "rhizome_replication_records_below_target",
    "Held records whose last push left fewer holders than the target.",
    (m) => one(m.health.recordsShort),
  ),
  // --- the store ---
  gauge("rhizome_store_records", "Records held.", (m) => one(m.store.values)),
  gauge("rhizome_store_bytes", "Bytes of the records held.", (m) => one(m.store.bytes), "bytes"),
  gauge(
    "rhizome_store_class_records",
    "Records held, by lifetime class (LMDB store only).",
    (m) => byLabel("class", recordsOf(m.store.byClass)),
  ),
  gauge(
    "rhizome_store_class_bytes",
    "Bytes held, by lifetime class (LMDB store only).",
    (m) => byLabel("class", bytesOf(m.store.byClass)),
    "bytes",
  ),
  gauge(
    "rhizome_store_kind_records",
    "Records held, by kind (LMDB store only).",
    (m) => byLabel("kind", recordsOf(m.store.byKind)),
  ),
  gauge(
    "rhizome_store_quota_used_bytes",
    "Bytes counted against the disk budget, overhead included (LMDB store only).",
    (m) => one(m.store.quotaBytes),
    "bytes",
  ),
  gauge(
    "rhizome_store_quota_bytes",
    "The store's budget of bytes (LMDB store only).",
    (m) => one(m.store.quota?.bytesMax),
    "bytes",
  ),
  counter(
    "rhizome_store_evicted_records_total",
    "Records evicted to make room.",
    (m) => one(m.store.evicted),
  ),
  counter(
    "rhizome_store_expired_records_total",
    "Records removed by the expiry sweep.",
    (m) => one(m.store.expired),
  ),
  counter(
    "rhizome_store_refused_writes_total",
    "Writes the store refused, by reason (invalid, stale, full).",
    (m) => byLabel("reason", m.store.refused),
  ),
  counter(
    "rhizome_store_integrity_failures_total",
    "Reads that failed the integrity check.",
    (m) => one(m.store.integrityFailures),
  ),
  gauge(
    "rhizome_store_quarantined_records",
    "Records in quarantine after failing the integrity check.",
    (m) => one(m.store.quarantined),
  ),
  // --- the receive guard: floods, graylists, bans ---
  counter(
    "rhizome_guard_dropped_datagrams_total",
    "Datagrams the receive guard dropped before decryption, by reason.",
    (m) => byLabel("reason", m.guard.dropped),
  ),
  counter(
    "rhizome_guard_junk_datagrams_total",
    "Datagrams that were not Rhizome packets at all.",
    (m) => one(m.guard.junk),
  ),
  gauge(
    "rhizome_guard_banned_peers",
    "Sources, identities and prefixes banned now.",
    (m) => one(m.guard.penalties.banned),
  ),
  gauge(
    "rhizome_guard_graylisted_peers",
    "Sources, identities and prefixes graylisted now.",
    (m) => one(m.guard.penalties.graylisted),
  ),
  counter("rhizome_guard_bans_total", "Bans imposed.", (m) => one(m.guard.penalties.bans)),
  counter(
    "rhizome_guard_graylistings_total",
    "Graylistings imposed.",
    (m) => one(m.guard.penalties.graylistings),
  ),
  counter(
    "rhizome_receive_probe_lost_total",
    "Receive-queue probes given up (the local queue was too deep to measure).",
    (m) => one(m.receiveProbe.lost),
  ),
];

function recordsOf(
  counts: Record<string, { records: number }> | undefined,
): Record<string, number> | undefined {
  return counts && Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v.records]));
}

function bytesOf(
  counts: Record<string, { bytes: number }> | undefined,
): Record<string, number> | undefined {
  return counts && Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v.bytes]));
}

/**
 * Reads every metric from a snapshot.
 *
 * @param metrics The node's counters.
 * @returns The families, in {@link metricDefinitions} order.
 */
export function metricFamilies(metrics: NodeMetrics): MetricFamily[] {
  return metricDefinitions.map(({ name, type, unit, help, read }) => ({
    name,
    type,
    unit,
    help,
    samples: read(metrics),
  }));
}

/** Content type of the Prometheus text exposition format. */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The families in the Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE`
 * lines, then one line per sample.
 *
 * @param families The families.
 * @returns The text, ending in a newline.
 */
export function prometheusText(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      if ("buckets" in sample) {
        for (const bucket of sample.buckets) {
          const le = bucket.le === "+Inf" ? "+Inf" : String(bucket.le);
          lines.push(
            `${family.name}_bucket${labelText({ ...sample.labels, le })} ${bucket.count}`,
          );
        }
        lines.push(`${family.name}_sum${labelText(sample.labels)} ${numberText(sample.sum)}`);
        lines.push(`${family.name}_count${labelText(sample.labels)} ${sample.count}`);
      } else {
        lines.push(`${family.name}${labelText(sample.labels)} ${numberText(sample.value)}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}

/** What `GET /v1/metrics` answers. */
export interface MetricsReport {
  /** The node ID in hex. */
  node_id: string;
  /** The type it runs as. */
  node_type: string;
  /** Seconds since start. */
  uptime_s: number;
  /** Every family by name: type, unit, help and samples, as in the Prometheus text. */
  metrics: Record<string, Omit<MetricFamily, "name">>;
}

/**
 * The families as one JSON object, keyed by name.
 *
 * @param metrics The snapshot they were read from (for the node's identity).
 * @param families The families.
 * @returns The report.
 */
export function metricsReport(
  metrics: NodeMetrics,
  families: readonly MetricFamily[] = metricFamilies(metrics),
): MetricsReport {
  return {
    node_id: metrics.nodeId,
    node_type: metrics.nodeType,
    uptime_s: Math.floor(metrics.uptimeS),
    metrics: Object.fromEntries(
      families.map(({ name, ...family }) => [name, family]),
    ),
  };
}

function labelText(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",")}}`;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabel(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function numberText(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
