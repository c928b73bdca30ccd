/**
 * The node's dashboard: one self-contained HTML page (its script and style inline, nothing loaded
 * from elsewhere) that the control API serves at `GET /dashboard` on loopback. Every
 * {@link dashboardRefreshMs} it reads `GET /v1/metrics` (src/api/metrics.ts) and shows peers,
 * traffic, lookups and their latency, store use by class, records below their replica target,
 * errors, bans and event-loop lag; rates are the difference between two reads.
 *
 * The page's elements carry `id`s (`peers`, `sent-rate`, …), the traffic and lookup totals
 * their raw number in `data-value`, and the body a `data-refreshes` count, so a headless browser
 * test can read what it shows.
 *
 * @module
 */

/**
 * How often the page reads the metrics. Two seconds makes the traffic move visibly while a
 * read costs the node one snapshot of its counters (microseconds).
 */
export const dashboardRefreshMs = 2_000;

/** Points kept in each sparkline: two minutes at {@link dashboardRefreshMs}. */
export const dashboardHistoryMax = 60;

const style = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7280; --bg: #f6f7f9; --card: #fff;
  --line: #d9dce1; --accent: #2f7d5b; --bad: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #9aa1ab; --bg: #15181d;
  --card: #1f242b; --line: #333a44; --accent: #5cc497; --bad: #ff8a80; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 0 1.5em; align-items: baseline; padding: 12px 20px;
  border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { font-size: 18px; margin: 0; }
header .meta { color: var(--muted); font-family: ui-monospace, monospace; font-size: 12px; }
#state.bad { color: var(--bad); }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 14px;
  padding: 16px 20px; align-items: start; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 14px; }
section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  margin: 0 0 8px; }
.big { font-size: 30px; font-weight: 600; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
td { padding: 2px 0; border-bottom: 1px dotted var(--line); }
td:last-child { text-align: right; }
tr.nonzero td, .big.nonzero { color: var(--bad); font-weight: 600; }
svg { width: 100%; height: 40px; display: block; margin-top: 6px; }
svg polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
.muted { color: var(--muted); }
`;

const script = `
"use strict";
const refreshMs = ${dashboardRefreshMs};
const historyMax = ${dashboardHistoryMax};
let previous;
let refreshes = 0;
const history = { sent: [], received: [], lookups: [] };

const $ = (id) => document.getElementById(id);
function samples(report, name) { return report.metrics[name]?.samples ?? []; }
function value(report, name, labels) {
  let sum = 0;
  for (const sample of samples(report, name)) {
    if (!labels || Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) {
      sum += sample.value ?? sample.count ?? 0;
    }
  }
  return sum;
}
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + units[i];
}
function count(n) { return Math.round(n).toLocaleString("en-US"); }
function seconds(s) {
  if (!Number.isFinite(s)) return "–";
  return s < 1 ? (s * 1000).toFixed(s < 0.01 ? 1 : 0) + " ms" : s.toFixed(2) + " s";
}
function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d > 0 ? d + "d " + h + "h" : h > 0 ? h + "h " + m + "m" : m + "m " + Math.floor(s % 60) + "s";
}
function quantile(report, name, q) {
  const sample = samples(report, name)[0];
  if (!sample || sample.count === 0) return NaN;
  const rank = q * sample.count;
  let lower = 0, below = 0;
  for (const bucket of sample.buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === "+Inf") return lower;
      const inBucket = bucket.count - below;
      return lower + (bucket.le - lower) * (inBucket === 0 ? 0 : (rank - below) / inBucket);
    }
    lower = bucket.le; below = bucket.count;
  }
  return lower;
}
function set(id, text) { const el = $(id); if (el) el.textContent = text; }
function rows(id, entries) {
  const body = $(id);
  body.replaceChildren(...entries.map(([label, text, bad]) => {
    const tr = document.createElement("tr");
    if (bad) tr.className = "nonzero";
    for (const cell of [label, text]) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    return tr;
  }));
}
function spark(id, points) {
  const max = Math.max(1, ...points);
  const step = 100 / Math.max(1, historyMax - 1);
  const offset = historyMax - points.length;
  $(id).setAttribute("points",
    points.map((p, i) => ((offset + i) * step).toFixed(1) + "," + (38 - 36 * p / max).toFixed(1)).join(" "));
}
function push(list, v) { list.push(v); if (list.length > historyMax) list.shift(); }

function render(report, rate) {
  set("node", report.node_id.slice(0, 12) + "… · " + report.node_type);
  set("uptime", "up " + duration(report.uptime_s));
  set("peers", count(value(report, "rhizome_peers")));
  set("sessions", count(value(report, "rhizome_channel_sessions")));
  set("stream-connections", count(value(report, "rhizome_stream_connections")));

  const sent = value(report, "rhizome_udp_sent_bytes_total");
  const received = value(report, "rhizome_udp_received_bytes_total");
  set("sent-total", bytes(sent));
  set("received-total", bytes(received));
  $("sent-total").dataset.value = String(sent);
  $("received-total").dataset.value = String(received);
  set("sent-rate", rate ? bytes(rate("rhizome_udp_sent_bytes_total")) + "/s" : "…");
  set("received-rate", rate ? bytes(rate("rhizome_udp_received_bytes_total")) + "/s" : "…");
  set("datagrams", count(value(report, "rhizome_udp_sent_datagrams_total")) + " out · " +
    count(value(report, "rhizome_udp_received_datagrams_total")) + " in");
  if (rate) {
    push(history.sent, rate("rhizome_udp_sent_bytes_total"));
    push(history.received, rate("rhizome_udp_received_bytes_total"));
    push(history.lookups, rate("rhizome_dht_lookups_total"));
    spark("sent-spark", history.sent);
    spark("received-spark", history.received);
    spark("lookups-spark", history.lookups);
  }

  set("lookups", count(value(report, "rhizome_dht_lookups_total")));
  $("lookups").dataset.value = String(value(report, "rhizome_dht_lookups_total"));
  set("lookups-rate", rate ? rate("rhizome_dht_lookups_total").toFixed(2) + "/s" : "…");
  const ok = value(report, "rhizome_dht_lookups_finished_total", { result: "ok" });
  const failed = value(report, "rhizome_dht_lookups_finished_total", { result: "failed" });
  set("lookups-ok", ok + failed === 0 ? "–" : Math.round(100 * ok / (ok + failed)) + "%");
  set("lookup-p50", seconds(quantile(report, "rhizome_dht_lookup_duration_seconds", 0.5)));
  set("lookup-p95", seconds(quantile(report, "rhizome_dht_lookup_duration_seconds", 0.95)));
  set("rpc", count(value(report, "rhizome_dht_rpc_replies_total")) + " replies · " +
    count(value(report, "rhizome_dht_rpc_timeouts_total")) + " timeouts");

  set("store-records", count(value(report, "rhizome_store_records")));
  set("store-bytes", bytes(value(report, "rhizome_store_bytes")));
  const quota = value(report, "rhizome_store_quota_bytes");
  set("store-quota", quota > 0
    ? (100 * value(report, "rhizome_store_quota_used_bytes") / quota).toFixed(2) + "% of " + bytes(quota)
    : "in memory");
  const classes = samples(report, "rhizome_store_class_records");
  rows("store-classes", classes.length === 0
    ? [["(no classes: records in memory)", ""]]
    : classes.map((s) => [s.labels.class, count(s.value) + " · " +
      bytes(value(report, "rhizome_store_class_bytes", { class: s.labels.class }))]));
  const short = value(report, "rhizome_replication_records_below_target");
  set("below-target", count(short));
  $("below-target").className = "big" + (short > 0 ? " nonzero" : "");
  set("pushes", count(value(report, "rhizome_replication_pushes_total")) + " pushes · " +
    count(value(report, "rhizome_replication_short_pushes_total")) + " short");

  const errors = [
    ["RPC timeouts", value(report, "rhizome_dht_rpc_timeouts_total")],
    ["UDP send errors", value(report, "rhizome_udp_errors_total", { direction: "send" })],
    ["UDP receive errors", value(report, "rhizome_udp_errors_total", { direction: "receive" }) +
      value(report, "rhizome_udp_errors_total", { direction: "receiver" })],
    ["Kernel drops", value(report, "rhizome_udp_kernel_dropped_datagrams_total")],
    ["Store writes refused", value(report, "rhizome_store_refused_writes_total")],
    ["Integrity failures", value(report, "rhizome_store_integrity_failures_total")],
    ["Invalid values", value(report, "rhizome_dht_invalid_values_total")],
    ["Stream I/O errors", value(report, "rhizome_stream_closed_connections_total", { reason: "io_error" }) +
      value(report, "rhizome_stream_closed_connections_total", { reason: "internal_error" })],
  ];
  set("errors", count(errors.reduce((sum, [, n]) => sum + n, 0)));
  rows("error-list", errors.map(([label, n]) => [label, count(n), n > 0]));

  set("banned", count(value(report, "rhizome_guard_banned_peers")));
  set("graylisted", count(value(report, "rhizome_guard_graylisted_peers")));
  set("bans-total", count(value(report, "rhizome_guard_bans_total")) + " bans · " +
    count(value(report, "rhizome_guard_graylistings_total")) + " graylistings");
  set("guard-dropped", count(value(report, "rhizome_guard_dropped_datagrams_total")));

  set("lag", seconds(value(report, "rhizome_event_loop_lag_seconds")));
  set("stalls", count(value(report, "rhizome_event_loop_stalls_total")));
  set("memory", bytes(value(report, "rhizome_process_resident_memory_bytes")));
}

async function refresh() {
  try {
    const response = await fetch("/v1/metrics", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const report = await response.json();
    const now = Date.now();
    let rate;
    if (previous) {
      const seconds = Math.max(0.001, (now - previous.at) / 1000);
      const before = previous.report;
      rate = (name) => Math.max(0, value(report, name) - value(before, name)) / seconds;
    }
    render(report, rate);
    previous = { report, at: now };
    refreshes++;
    document.body.dataset.refreshes = String(refreshes);
    set("state", "live · updated " + new Date(now).toLocaleTimeString("en-GB"));
    $("state").className = "meta";
  } catch (error) {
    set("state", "cannot read /v1/metrics: " + error.message);
    $("state").className = "meta bad";
  }
}
refresh();
setInterval(refresh, refreshMs);
`;

/** A card: a heading, a big figure and lines under it. */
function card(title: string, bigId: string, rest: string): string {
  return `<section><h2>${title}</h2><div class="big" id="${bigId}">…</div>${rest}</section>`;
}

/** The page. */
export const dashboardHtml: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rhizome node</title>
<style>${style}</style>
</head>
<body data-refreshes="0">
<header><h1>Rhizome node</h1><span class="meta" id="node">…</span>
<span class="meta" id="uptime"></span><span class="meta" id="state">connecting…</span></header>
<main>
${
  card(
    "Peers",
    "peers",
    `<div class="muted"><span id="sessions">…</span> encrypted sessions · ` +
      `<span id="stream-connections">…</span> streams</div>`,
  )
}
${
  card(
    "Traffic out",
    "sent-rate",
    `<div class="muted"><span id="sent-total">…</span> sent · <span id="datagrams">…</span></div>` +
      `<svg viewBox="0 0 100 40" preserveAspectRatio="none"><polyline id="sent-spark"/></svg>`,
  )
}
${
  card(
    "Traffic in",
    "received-rate",
    `<div class="muted"><span id="received-total">…</span> received</div>` +
      `<svg viewBox="0 0 100 40" preserveAspectRatio="none"><polyline id="received-spark"/></svg>`,
  )
}
${
  card(
    "Lookups",
    "lookups-rate",
    `<table><tr><td>started</td><td id="lookups">…</td></tr>` +
      `<tr><td>succeeded</td><td id="lookups-ok">…</td></tr>` +
      `<tr><td>latency p50</td><td id="lookup-p50">…</td></tr>` +
      `<tr><td>latency p95</td><td id="lookup-p95">…</td></tr></table>` +
      `<div class="muted" id="rpc">…</div>` +
      `<svg viewBox="0 0 100 40" preserveAspectRatio="none"><polyline id="lookups-spark"/></svg>`,
  )
}
${
  card(
    "Store",
    "store-records",
    `<div class="muted"><span id="store-bytes">…</span> · <span id="store-quota">…</span></div>` +
      `<table><tbody id="store-classes"></tbody></table>`,
  )
}
${
  card(
    "Records below replica target",
    "below-target",
    `<div class="muted" id="pushes">…</div>`,
  )
}
${card("Errors", "errors", `<table><tbody id="error-list"></tbody></table>`)}
${
  card(
    "Banned now",
    "banned",
    `<table><tr><td>graylisted now</td><td id="graylisted">…</td></tr>` +
      `<tr><td>dropped by the guard</td><td id="guard-dropped">…</td></tr></table>` +
      `<div class="muted" id="bans-total">…</div>`,
  )
}
${
  card(
    "Event-loop lag",
    "lag",
    `<table><tr><td>stalls ≥ 100 ms</td><td id="stalls">…</td></tr>` +
      `<tr><td>resident memory</td><td id="memory">…</td></tr></table>`,
  )
}
</main>
<script>${script}</script>
</body>
</html>
`;
