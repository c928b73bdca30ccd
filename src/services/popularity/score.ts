/**
 * The popularity score: a weighted sum of log-scaled metrics whose weights move from velocity
 * (what is read now) to retention (what keeps being read) as an item ages, computed from the raw
 * counters alone, so anyone holding a key's {@link KeyMetrics} and the weights gets the same
 * number. Pure functions.
 *
 * @module
 */

import type { PopularitySettings } from "./settings.ts";
import type { KeyMetrics } from "./tracker.ts";

/** One term of a score: the metric's value, its log-scaled form, the weight, the product. */
export interface ScorePart {
  /** The metric's raw value. */
  value: number;
  /** The weight applied (after the age shift). */
  weight: number;
  /** weight × log2(1 + value). */
  points: number;
}

/** A score and how it was made. */
export interface ScoreExplained {
  /** The score (0 for a future-dated item). */
  score: number;
  /** Age of the item in seconds (`null` when its creation time is unknown: taken as 0). */
  age_s: number | null;
  /** How young the item counts: exp(−age / age_pivot_s), 1 new, towards 0 old. */
  youth: number;
  /** Whether the item is stale (old and idle): its sum was multiplied by `stale_factor`. */
  stale: boolean;
  /** Whether its creation time lies in the future: it scores 0. */
  future: boolean;
  /** The terms, by metric name. */
  parts: Record<ScoreMetric, ScorePart>;
}

/** The metrics a score weighs. */
export type ScoreMetric =
  | "request_rate"
  | "retention_rate"
  | "audience_size"
  | "geo_prefixes"
  | "engagements"
  | "view_time_s"
  | "replication_count"
  | "seed_coverage";

/**
 * The score of one item at `nowMs`:
 *
 * youth = exp(−age / age_pivot_s) (age 0 when unknown);
 * score = Σ wᵢ · log2(1 + mᵢ), with w(request_rate) = youth·velocity_young + (1−youth)·velocity_old,
 * w(retention_rate) likewise with the retention weights, the other weights fixed; the audience
 * taken as at most `prefix_requesters_max` × geo_prefixes;
 * × stale_factor when older than `stale_age_s` and idle (no request or engagement) for
 * `stale_idle_s`; 0 when created more than `future_skew_s` in the future.
 *
 * @param metrics The raw counters.
 * @param settings The weights and windows.
 * @param nowMs The time, ms since the epoch.
 * @returns The score and its parts.
 */
export function explainScore(
  metrics: KeyMetrics,
  settings: PopularitySettings,
  nowMs: number,
): ScoreExplained {
  const s = settings;
  const ageMs = metrics.created_ms === null ? 0 : nowMs - metrics.created_ms;
  const future = ageMs < -s.future_skew_s * 1000;
  const ageS = Math.max(0, ageMs) / 1000;
  const youth = Math.exp(-ageS / s.age_pivot_s);
  const part = (value: number, weight: number): ScorePart => {
    const safe = Number.isFinite(value) && value > 0 ? value : 0;
    return { value: safe, weight, points: weight * Math.log2(1 + safe) };
  };
  const parts: Record<ScoreMetric, ScorePart> = {
    request_rate: part(
      metrics.request_rate,
      youth * s.weight_velocity_young + (1 - youth) * s.weight_velocity_old,
    ),
    retention_rate: part(
      metrics.retention_rate,
      youth * s.weight_retention_young + (1 - youth) * s.weight_retention_old,
    ),
    // Distinct requesters count at most prefix_requesters_max per distinct prefix: a thousand
    // identities on one /24 are two readers.
    audience_size: part(
      Math.min(metrics.audience_size, s.prefix_requesters_max * metrics.geo_prefixes),
      s.weight_audience,
    ),
    geo_prefixes: part(metrics.geo_prefixes, s.weight_geo),
    engagements: part(metrics.replies + metrics.votes, s.weight_engagement),
    view_time_s: part(metrics.view_time_s, s.weight_view_time),
    replication_count: part(metrics.replication_count, s.weight_replication),
    seed_coverage: part(metrics.seed_coverage, s.weight_seed_coverage),
  };
  const idleMs = metrics.last_activity_ms === null ? Infinity : nowMs - metrics.last_activity_ms;
  const stale = ageS > s.stale_age_s && idleMs > s.stale_idle_s * 1000;
  let sum = 0;
  for (const value of Object.values(parts)) sum += value.points;
  const score = future ? 0 : stale ? sum * s.stale_factor : sum;
  return {
    score,
    age_s: metrics.created_ms === null ? null : Math.round(ageMs / 1000),
    youth,
    stale,
    future,
    parts,
  };
}

/**
 * The score alone (see {@link explainScore}).
 *
 * @param metrics The raw counters.
 * @param settings The weights and windows.
 * @param nowMs The time.
 * @returns The score.
 */
export function scoreOf(metrics: KeyMetrics, settings: PopularitySettings, nowMs: number): number {
  return explainScore(metrics, settings, nowMs).score;
}
