/**
 * Rankings: the local one a node computes from what it serves, the holders' metric reports a seed
 * aggregates, the seed's signed ranking record, and the readers' combination of several seeds'
 * records by median rank, so one lying seed moves nothing far. Pure functions; signing takes the
 * seed's key pair.
 *
 * @module
 */

import { NodeId } from "../../core/node_id.ts";
import { type RankingRecord, reportItemsMax } from "../../content/mod.ts";
import { explainScore, type ScoreExplained } from "./score.ts";
import type { PopularitySettings } from "./settings.ts";
import { HyperLogLog } from "./sketches.ts";
import { type KeyMetrics, prefixRegisters, requesterRegisters } from "./tracker.ts";

/**
 * A holder's report counts at most this many times the median of the reports on the same key
 * (rates and view time): one lying holder adds at most that much, however large its claim.
 */
export const reportOutlierFactor = 3;

/** Ranking records a reader combines at most (the seeds it asks). */
export const rankingRecordsMax = 16;

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
 * with each report capped at {@link reportOutlierFactor} × their median, the request and
 * retention rates then scaled by the merged audience over the sum of the holders' audiences (a
 * requester asking every holder counts once, not once per holder); replies, votes, creation
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
    // A requester that asked several holders counts at each: the rates are scaled by the share of
    // the holders' audiences that is distinct once merged (1 when every holder saw other readers,
    // 1/n when n holders all saw the same one).
    const audienceSum = field((m) => m.audience_size).reduce((sum, value) => sum + value, 0);
    const distinct = audienceSum > 0 ? Math.min(1, audience.estimate() / audienceSum) : 1;
    merged.push({
      key,
      requests_per_h: cappedSum(field((m) => m.requests_per_h)),
      request_rate: cappedSum(field((m) => m.request_rate)) * distinct,
      retention_rate: cappedSum(field((m) => m.retention_rate)) * distinct,
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
