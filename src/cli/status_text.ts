/**
 * `rhizome status` for people: a dozen labelled lines with the headline figures (identity,
 * uptime, peers, store use, traffic, requests, drops, bans) read from the status report, instead
 * of its JSON. Every counter is in `rhizome status --json`; this summary picks and sums.
 *
 * @module
 */

import { formatBytes } from "../core/format.ts";
import { formatDuration } from "./human.ts";

type Json = Record<string, unknown>;

/** A field of a report part, as an object (empty when absent: an older node's report). */
function part(report: Json, name: string): Json {
  const value = report[name];
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value as Json : {};
}

/** A number field, 0 when absent. */
function count(object: Json, name: string): number {
  const value = object[name];
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

/** The sum of the numbers of a map of counters, at any depth up to 2. */
function total(value: unknown, depth = 0): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (depth > 2 || value === null || typeof value !== "object") return 0;
  return Object.values(value).reduce((sum: number, item) => sum + total(item, depth + 1), 0);
}

/** `n thing` or `n things`. */
function plural(n: number, thing: string): string {
  return `${n.toLocaleString("en-US")} ${thing}${n === 1 ? "" : "s"}`;
}

/** The non-zero counters of a map, `name n, name n`; `none` when all are zero. */
function named(counters: Json): string {
  const parts = Object.entries(counters)
    .filter(([, value]) => typeof value === "number" && value > 0)
    .map(([name, value]) => `${name.replaceAll("_", " ")} ${value}`);
  return parts.length > 0 ? parts.join(", ") : "none";
}

/**
 * The status report as labelled lines for a terminal.
 *
 * @param report What `GET /v1/status` answered.
 * @returns The lines, joined.
 */
export function statusText(report: Json): string {
  const store = part(report, "store");
  const quota = part(store, "quota");
  const dht = part(report, "dht");
  const rpc = part(dht, "rpc");
  const channel = part(report, "channel");
  const guard = part(report, "guard");
  const penalties = part(guard, "penalties");
  const udp = part(report, "udp");
  const stream = part(report, "stream");
  const bytesMax = count(quota, "bytes_max");
  const used = count(store, "quota_bytes");
  const percent = bytesMax > 0 ? ` (${(100 * used / bytesMax).toFixed(used > 0 ? 1 : 0)}%)` : "";
  const dropped = {
    dht: total(part(dht, "dropped")),
    channel: total(part(channel, "dropped")),
    guard: total(part(guard, "dropped")),
    udp: count(udp, "oversize_receives_dropped") + total(udp.receives_shed),
  };
  const droppedAll = Object.values(dropped).reduce((sum, n) => sum + n, 0);
  const lines: [string, string][] = [
    ["node", `${report.node_id} (${report.node_type})`],
    ["contact", String(report.contact)],
    ["up", formatDuration(count(report, "uptime_s") * 1000)],
    [
      "peers",
      `${plural(count(report, "contacts"), "contact")} in the routing table; ` +
      `${plural(count(channel, "sessions"), "open session")}; ` +
      `${plural(count(report, "rejoins"), "rejoin")}`,
    ],
    [
      "store",
      `${plural(count(report, "stored_records"), "record")}, ${formatBytes(used)} of ` +
      `${formatBytes(bytesMax)}${percent}; ${count(store, "evicted")} evicted, ` +
      `${count(store, "expired")} expired, ${total(part(store, "refused"))} refused`,
    ],
    [
      "traffic",
      `in ${plural(count(udp, "datagrams_received"), "datagram")} ` +
      `(${formatBytes(count(udp, "bytes_received"))}), out ` +
      `${plural(count(udp, "datagrams_sent"), "datagram")} ` +
      `(${formatBytes(count(udp, "bytes_sent"))}); ` +
      `${plural(count(stream, "requests_served"), "stream request")} served`,
    ],
    ["answered", named(part(dht, "requests"))],
    [
      "asked",
      `${plural(count(rpc, "sent"), "request")} sent, ${count(rpc, "replies")} answered, ` +
      `${count(rpc, "timeouts")} timed out; ${plural(count(dht, "lookups"), "lookup")}; ` +
      `${count(dht, "stored")} stored for others`,
    ],
    [
      "dropped",
      droppedAll === 0
        ? "none"
        : `${droppedAll} (${
          Object.entries(dropped).filter(([, n]) => n > 0).map(([what, n]) => `${what} ${n}`)
            .join(", ")
        })`,
    ],
    [
      "guard",
      `${count(penalties, "banned")} banned, ${count(penalties, "graylisted")} graylisted now ` +
      `(${count(penalties, "bans")} bans, ${count(penalties, "graylistings")} graylistings)`,
    ],
  ];
  const width = Math.max(...lines.map(([label]) => label.length)) + 2;
  return [
    ...lines.map(([label, text]) => label.padEnd(width) + text),
    "(every counter: rhizome status --json)",
  ].join("\n");
}
