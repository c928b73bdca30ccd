/**
 * Rankings: the local one a node computes from what it serves, the holders' metric reports a seed
 * aggregates, the seed's signed ranking record, and the readers' combination of several seeds'
 * records by median rank, so one lying seed moves nothing far. Pure functions; signing takes the
 * seed's key pair.
 *
 * @module
 */

import { bytesEqual } from "../../core/bytes.ts";
import { type Ed25519KeyPair, ed25519Sign, ed25519Verify } from "../../core/crypto.ts";
import { NodeId } from "../../core/node_id.ts";
import { explainScore, type ScoreExplained } from "./score.ts";
import type { PopularitySettings } from "./settings.ts";
import { HyperLogLog } from "./sketches.ts";
import { type KeyMetrics, prefixRegisters, requesterRegisters } from "./tracker.ts";

/**
 * Entries of a ranking record: the top 200, enough for four pages of the largest `thread list`
 * page and a margin below the top 50 that the done-when figures are measured on; 200 × 28 bytes
 * keeps a record under 6 KB.
 */
export const rankingEntriesMax = 200;

/**
 * Items one holder report carries at most: its most active tracked keys. A seed then takes at most
 * this many items from each holder, whatever the holder claims.
 */
export const reportItemsMax = 256;

/**
 * A holder's report counts at most this many times the median of the reports on the same key
 * (rates and view time): one lying holder adds at most that much, however large its claim.
 */
export const reportOutlierFactor = 3;

/** Ranking records a reader combines at most (the seeds it asks). */
export const rankingRecordsMax = 16;

/** One ranked item. */
export interface RankedItem {
  /** The item's key. */
  readonly key: NodeId;
  /** Its score. */
  readonly score: number;
}

/**
 * The local ranking: every tracked key by score, highest first (ties by key), future-dated ones
 * left out.
 *
 * @param metrics The tracked keys' counters.
 * @param settings The weights.
 * @param nowMs The time.
 * @returns The ranked keys with their explanations.
 */
export function rankLocally(
  metrics: readonly KeyMetrics[],
  settings: PopularitySettings,
  nowMs: number,
): { key: NodeId; explained: ScoreExplained }[] {
  return metrics
    .map((item) => ({
      key: NodeId.fromHex(item.key),
      explained: explainScore(item, settings, nowMs),
    }))
    .filter((item) => !item.explained.future && item.explained.score > 0)
    .sort((a, b) => b.explained.score - a.explained.score || a.key.compare(b.key));
}

/** One key in a holder's report: its counters, with the mergeable sketches. */
export interface ReportItem {
  /** The counters as the holder sees them. */
  readonly metrics: KeyMetrics;
  /** The audience sketch's registers ({@link requesterRegisters}). */
  readonly audience: Uint8Array;
  /** The geo sketch's registers ({@link prefixRegisters}). */
  readonly geo: Uint8Array;
}

/** A holder's report of what it served, for the seeds. */
export interface HolderReport {
  /** The holder. */
  readonly holder: NodeId;
  /** Its items, at most {@link reportItemsMax} are read. */
  readonly items: readonly ReportItem[];
}

/**
 * Merges the holders' reports into one set of counters per key: audience and geo by register max
 * (a requester seen by several holders counts once); request, retention and view rates summed
 * with each report capped at {@link reportOutlierFactor} × their median; replies, votes, creation
 * and last activity by median (what most holders agree on); replication_count the holders that
 * reported it. One holder's report counts once per key (its first item for it).
 *
 * @param reports The reports, one per holder (a holder's second report is ignored).
 * @param seedCoverage Seeds known to hold each key (hex), when known.
 * @returns The merged counters.
 */
export function mergeReports(
  reports: readonly HolderReport[],
  seedCoverage?: ReadonlyMap<string, number>,
): KeyMetrics[] {
  const byKey = new Map<string, ReportItem[]>();
  const holders = new Set<string>();
  for (const report of reports) {
    const holder = report.holder.toHex();
    if (holders.has(holder)) continue;
    holders.add(holder);
    const seen = new Set<string>();
    for (const item of report.items.slice(0, reportItemsMax)) {
      if (!validItem(item) || seen.has(item.metrics.key)) continue;
      seen.add(item.metrics.key);
      const list = byKey.get(item.metrics.key) ?? [];
      list.push(item);
      byKey.set(item.metrics.key, list);
    }
  }
  const merged: KeyMetrics[] = [];
  for (const [key, items] of byKey) {
    const audience = new HyperLogLog(requesterRegisters);
    const geo = new HyperLogLog(prefixRegisters);
    for (const item of items) {
      audience.merge(item.audience);
      geo.merge(item.geo);
    }
    const field = (pick: (m: KeyMetrics) => number) => items.map((item) => pick(item.metrics));
    const created = items.map((item) => item.metrics.created_ms).filter((v) => v !== null);
    const active = items.map((item) => item.metrics.last_activity_ms).filter((v) => v !== null);
    merged.push({
      key,
      requests_per_h: cappedSum(field((m) => m.requests_per_h)),
      request_rate: cappedSum(field((m) => m.request_rate)),
      retention_rate: cappedSum(field((m) => m.retention_rate)),
      audience_size: audience.estimate(),
      geo_prefixes: geo.estimate(),
      replies: median(field((m) => m.replies)),
      votes: median(field((m) => m.votes)),
      view_time_s: cappedSum(field((m) => m.view_time_s)),
      replication_count: items.length,
      seed_coverage: seedCoverage?.get(key) ?? 0,
      created_ms: created.length === 0 ? null : median(created as number[]),
      last_activity_ms: active.length === 0 ? null : median(active as number[]),
      tracked_since_ms: Math.min(...field((m) => m.tracked_since_ms)),
    });
  }
  return merged;
}

/** An item whose numbers are finite and non-negative and whose sketches have the right size. */
function validItem(item: ReportItem): boolean {
  const m = item.metrics;
  if (NodeId.fromHexText(m.key) === undefined) return false;
  if (item.audience.length !== requesterRegisters || item.geo.length !== prefixRegisters) {
    return false;
  }
  const numbers = [m.requests_per_h, m.request_rate, m.retention_rate, m.view_time_s, m.replies];
  return numbers.every((n) => Number.isFinite(n) && n >= 0) && Number.isFinite(m.votes);
}

/** The sum of `values`, each capped at {@link reportOutlierFactor} × their median. */
export function cappedSum(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const cap = reportOutlierFactor * median(values);
  let sum = 0;
  for (const value of values) sum += Math.min(value, cap);
  return sum;
}

/** The median (the lower of the two middle values for an even count; 0 for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** A seed's signed ranking. */
export interface RankingRecord {
  /** The seed's Ed25519 public key. */
  readonly seed: Uint8Array;
  /** When the ranking was made, ms since the epoch. */
  readonly atMs: number;
  /** The ranked items, highest first, at most {@link rankingEntriesMax}. */
  readonly items: readonly RankedItem[];
  /** The seed's signature over the encoded record without it. */
  readonly signature: Uint8Array;
}

const rankingMagic = new TextEncoder().encode("RHZRANK1");
const rankingItemBytes = 20 + 8;
const rankingHeaderBytes = rankingMagic.length + 32 + 8 + 2;

/**
 * Signs a ranking as a seed: the top {@link rankingEntriesMax} items.
 *
 * @param seed The seed's key pair.
 * @param items The ranking, highest first.
 * @param atMs When it was made.
 * @returns The signed record.
 */
export function signRanking(
  seed: Ed25519KeyPair,
  items: readonly RankedItem[],
  atMs: number,
): RankingRecord {
  const kept = items.slice(0, rankingEntriesMax);
  const body = rankingBody(seed.publicKey, atMs, kept);
  return { seed: seed.publicKey, atMs, items: kept, signature: ed25519Sign(seed, body) };
}

/**
 * The bytes of a ranking record: the signed body, then the 64-byte signature.
 *
 * @param record The record.
 * @returns The bytes.
 */
export function encodeRanking(record: RankingRecord): Uint8Array {
  const body = rankingBody(record.seed, record.atMs, record.items);
  const bytes = new Uint8Array(body.length + 64);
  bytes.set(body);
  bytes.set(record.signature, body.length);
  return bytes;
}

/**
 * Reads and checks a ranking record: the seed's signature must verify, every score be finite,
 * the items be in order and each key listed once. Bad bytes give one line, never a throw.
 *
 * @param bytes The record's bytes.
 * @returns The record, or why it was refused.
 */
export function decodeRanking(bytes: Uint8Array): RankingRecord | string {
  if (bytes.length < rankingHeaderBytes + 64) return "ranking record too short";
  if (!bytesEqual(bytes.subarray(0, rankingMagic.length), rankingMagic)) {
    return "not a ranking record";
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seed = bytes.slice(rankingMagic.length, rankingMagic.length + 32);
  const atMs = view.getFloat64(rankingMagic.length + 32);
  const count = view.getUint16(rankingMagic.length + 40);
  if (count > rankingEntriesMax) {
    return `ranking record has ${count} items, at most ${rankingEntriesMax}`;
  }
  const bodyLength = rankingHeaderBytes + count * rankingItemBytes;
  if (bytes.length !== bodyLength + 64) return "ranking record length does not match its count";
  if (!Number.isFinite(atMs)) return "ranking record time is not a number";
  const items: RankedItem[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const offset = rankingHeaderBytes + i * rankingItemBytes;
    const key = NodeId.fromBytesAt(bytes, offset);
    const score = view.getFloat64(offset + 20);
    if (!Number.isFinite(score) || score < 0) {
      return "ranking record has a score that is not a number";
    }
    if (seen.has(key.toHex())) return "ranking record lists a key twice";
    if (items.length > 0 && items[items.length - 1].score < score) {
      return "ranking record is not in order";
    }
    seen.add(key.toHex());
    items.push({ key, score });
  }
  const signature = bytes.slice(bodyLength);
  if (!ed25519Verify(seed, bytes.subarray(0, bodyLength), signature)) {
    return "ranking record signature does not verify";
  }
  return { seed, atMs, items, signature };
}

function rankingBody(seed: Uint8Array, atMs: number, items: readonly RankedItem[]): Uint8Array {
  const bytes = new Uint8Array(rankingHeaderBytes + items.length * rankingItemBytes);
  const view = new DataView(bytes.buffer);
  bytes.set(rankingMagic);
  bytes.set(seed, rankingMagic.length);
  view.setFloat64(rankingMagic.length + 32, atMs);
  view.setUint16(rankingMagic.length + 40, items.length);
  items.forEach((item, i) => {
    const offset = rankingHeaderBytes + i * rankingItemBytes;
    item.key.writeTo(bytes, offset);
    view.setFloat64(offset + 20, item.score);
  });
  return bytes;
}

/** An item of the combined ranking readers see. */
export interface CombinedItem {
  /** The key. */
  readonly key: NodeId;
  /** The median of its ranks (1 = top) over the seeds' records; unlisted counts as last + 1. */
  readonly medianRank: number;
  /** The median of its scores over the records that list it. */
  readonly score: number;
  /** Records that list it. */
  readonly listedBy: number;
}

/**
 * Combines several seeds' rankings: each key's median rank over all records (a record that does
 * not list a key ranks it just past its end), ordered by median rank, then by how many records
 * list it, then key. With 2f + 1 records of which f lie, every key's median rank lies between
 * two honest seeds' ranks of it. Records of the same seed count once (the latest); at most
 * {@link rankingRecordsMax} are read; a key only one record names (when several are combined)
 * is left out, so one seed cannot insert an item.
 *
 * @param records Verified ranking records ({@link decodeRanking}).
 * @returns The combined ranking.
 */
export function combineRankings(records: readonly RankingRecord[]): CombinedItem[] {
  const latest = new Map<string, RankingRecord>();
  for (const record of records) {
    const seed = record.seed.join(",");
    const held = latest.get(seed);
    if (held === undefined || held.atMs < record.atMs) latest.set(seed, record);
  }
  const used = [...latest.values()].slice(0, rankingRecordsMax);
  const ranks = new Map<string, { key: NodeId; ranks: number[]; scores: number[] }>();
  used.forEach((record, index) => {
    record.items.forEach((item, rank) => {
      const hex = item.key.toHex();
      const entry = ranks.get(hex) ?? { key: item.key, ranks: [], scores: [] };
      if (entry.ranks.length > index) return;
      while (entry.ranks.length < index) {
        entry.ranks.push(used[entry.ranks.length].items.length + 1);
      }
      entry.ranks.push(rank + 1);
      entry.scores.push(item.score);
      ranks.set(hex, entry);
    });
  });
  const combined: CombinedItem[] = [];
  for (const entry of ranks.values()) {
    while (entry.ranks.length < used.length) {
      entry.ranks.push(used[entry.ranks.length].items.length + 1);
    }
    if (used.length > 1 && entry.scores.length < 2) continue;
    combined.push({
      key: entry.key,
      medianRank: medianRank(entry.ranks),
      score: median(entry.scores),
      listedBy: entry.scores.length,
    });
  }
  return combined.sort((a, b) =>
    a.medianRank - b.medianRank || b.listedBy - a.listedBy || a.key.compare(b.key)
  );
}

/** The median of ranks: the mean of the two middle ones for an even count. */
function medianRank(ranks: readonly number[]): number {
  const sorted = [...ranks].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
