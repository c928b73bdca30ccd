/**
 * A holder's popularity report (ROADMAP §5.2): what one node measured of the records it serves,
 * for the seeds to merge into their rankings. It travels as the payload of a mutable record named
 * `report` that the holder owns (its node identity signs it), under `mutableKey(holder, "report")`.
 * The payload is fixed-width binary: per item its key, its counters and its two mergeable sketches
 * (audience and network prefixes), at most {@link reportItemsMax} items.
 *
 * @module
 */

import { bytesEqual, utf8Encode } from "../core/bytes.ts";
import { NODE_ID_BYTES, NodeId } from "../core/node_id.ts";

/** The name of the mutable record a node publishes its report under. */
export const REPORT_NAME: Uint8Array = utf8Encode("report");

/**
 * Items in one report at most: a node's most popular threads. 48 × 400 bytes keeps the record
 * under 20 KB, within the record limit with room to spare; a seed reads at most this many per
 * holder whatever the holder claims.
 */
export const reportItemsMax = 48;

/** Bytes of an item's audience sketch (256 one-byte HyperLogLog registers). */
export const reportAudienceBytes = 256;

/** Bytes of an item's network-prefix sketch (64 registers). */
export const reportGeoBytes = 64;

/** One record in a report: the holder's counters of one key, as the popularity service keeps them. */
export interface ReportedItem {
  /** The key, hex. */
  key: string;
  /** FIND_VALUEs served per hour (every one, repeats included), decayed with the velocity half-life. */
  requests_per_h: number;
  /**
   * Distinct requesters per hour (each once per window, prefixes capped): the larger of the
   * current window's count and the average window decayed with the velocity half-life.
   */
  request_rate: number;
  /** Distinct requesters per day, as `request_rate` with the retention half-life: the retention. */
  retention_rate: number;
  /** Distinct requesters since the key was tracked (HyperLogLog estimate). */
  audience_size: number;
  /** Distinct network prefixes (/24, /48) of requesters since tracked (estimate). */
  geo_prefixes: number;
  /** Replies the thread's index holds (as last noted). */
  replies: number;
  /** Votes on it (as last noted). */
  votes: number;
  /** View time readers reported, seconds, decayed with the retention half-life. */
  view_time_s: number;
  /** Holders known to hold it (the last push's acknowledgements plus this node); 0 unknown. */
  replication_count: number;
  /** Seeds known to hold it; 0 unknown. */
  seed_coverage: number;
  /** When it was created (its document's time), ms since the epoch; `null` unknown. */
  created_ms: number | null;
  /** The last request or engagement seen, ms; `null` none. */
  last_activity_ms: number | null;
  /** Since when this node tracks it, ms. */
  tracked_since_ms: number;
}

/** A decoded report. */
export interface PopularityReportRecord {
  /** When it was made, ms since the epoch. */
  readonly atMs: number;
  /** The items, each with its sketches. */
  readonly items: readonly {
    readonly metrics: ReportedItem;
    readonly audience: Uint8Array;
    readonly geo: Uint8Array;
  }[];
}

const magic = utf8Encode("RHZREPT1");
const headerBytes = magic.length + 8 + 2;
const itemBytes = NODE_ID_BYTES + 6 * 4 + 2 * 4 + 2 * 2 + 3 * 8 + reportAudienceBytes +
  reportGeoBytes;

/**
 * Encodes a report (the first {@link reportItemsMax} items).
 *
 * @param report The report.
 * @returns The payload.
 * @throws {RangeError} When a sketch has the wrong size.
 */
export function encodeReport(report: PopularityReportRecord): Uint8Array {
  const items = report.items.slice(0, reportItemsMax);
  const bytes = new Uint8Array(headerBytes + items.length * itemBytes);
  const view = new DataView(bytes.buffer);
  bytes.set(magic);
  view.setFloat64(magic.length, report.atMs);
  view.setUint16(magic.length + 8, items.length);
  items.forEach(({ metrics: m, audience, geo }, i) => {
    if (audience.length !== reportAudienceBytes || geo.length !== reportGeoBytes) {
      throw new RangeError("Cannot encode report: a sketch has the wrong size");
    }
    let at = headerBytes + i * itemBytes;
    NodeId.fromHex(m.key).writeTo(bytes, at);
    at += NODE_ID_BYTES;
    for (const value of [m.requests_per_h, m.request_rate, m.retention_rate, m.audience_size]) {
      view.setFloat32(at, value);
      at += 4;
    }
    for (const value of [m.geo_prefixes, m.view_time_s]) {
      view.setFloat32(at, value);
      at += 4;
    }
    view.setUint32(at, Math.min(m.replies, 0xffffffff));
    view.setUint32(at + 4, Math.min(m.votes, 0xffffffff));
    view.setUint16(at + 8, Math.min(m.replication_count, 0xffff));
    view.setUint16(at + 10, Math.min(m.seed_coverage, 0xffff));
    at += 12;
    view.setFloat64(at, m.created_ms ?? NaN);
    view.setFloat64(at + 8, m.last_activity_ms ?? NaN);
    view.setFloat64(at + 16, m.tracked_since_ms);
    at += 24;
    bytes.set(audience, at);
    bytes.set(geo, at + reportAudienceBytes);
  });
  return bytes;
}

/**
 * Reads a report. Bad bytes give one line, never a throw.
 *
 * @param bytes The payload.
 * @returns The report, or why it was refused.
 */
export function decodeReport(bytes: Uint8Array): PopularityReportRecord | string {
  if (bytes.length < headerBytes || !bytesEqual(bytes.subarray(0, magic.length), magic)) {
    return "not a popularity report";
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const atMs = view.getFloat64(magic.length);
  const count = view.getUint16(magic.length + 8);
  if (count > reportItemsMax) {
    return `popularity report has ${count} items, at most ${reportItemsMax}`;
  }
  if (bytes.length !== headerBytes + count * itemBytes) {
    return "popularity report length does not match its count";
  }
  if (!Number.isFinite(atMs)) return "popularity report time is not a number";
  const items = [];
  for (let i = 0; i < count; i++) {
    let at = headerBytes + i * itemBytes;
    const key = NodeId.fromBytesAt(bytes, at).toHex();
    at += NODE_ID_BYTES;
    const floats: number[] = [];
    for (let f = 0; f < 6; f++) floats.push(view.getFloat32(at + 4 * f));
    at += 24;
    if (!floats.every((value) => Number.isFinite(value) && value >= 0)) {
      return "popularity report has a counter that is not a number";
    }
    const replies = view.getUint32(at);
    const votes = view.getUint32(at + 4);
    const replication = view.getUint16(at + 8);
    const seeds = view.getUint16(at + 10);
    at += 12;
    const created = view.getFloat64(at);
    const active = view.getFloat64(at + 8);
    const since = view.getFloat64(at + 16);
    at += 24;
    if (!Number.isFinite(since)) return "popularity report has a time that is not a number";
    items.push({
      metrics: {
        key,
        requests_per_h: floats[0],
        request_rate: floats[1],
        retention_rate: floats[2],
        audience_size: floats[3],
        geo_prefixes: floats[4],
        view_time_s: floats[5],
        replies,
        votes,
        replication_count: replication,
        seed_coverage: seeds,
        created_ms: Number.isFinite(created) ? created : null,
        last_activity_ms: Number.isFinite(active) ? active : null,
        tracked_since_ms: since,
      },
      audience: bytes.slice(at, at + reportAudienceBytes),
      geo: bytes.slice(at + reportAudienceBytes, at + reportAudienceBytes + reportGeoBytes),
    });
  }
  return { atMs, items };
}
