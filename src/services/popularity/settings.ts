/**
 * The popularity service's settings: the `[popularity]` table of the configuration (the windows,
 * the score's weights, the replica thresholds; documented in `core/config_defaults.ts` and
 * `docs/popularity.md`) and the fixed numbers beside it, each a named constant.
 *
 * @module
 */

import type { Config } from "../../core/config_schema.ts";

/**
 * Half-life of the retention rate: a day, so retention remembers what was read over the last
 * few days while velocity (half-life one window) forgets within hours.
 */
export const retentionHalfLifeS = 86400;

/**
 * Age past which an item with no request or engagement for {@link staleIdleS} is stale: a week
 * (the bound on old, idle items in the top 50).
 */
export const staleAgeS = 7 * 86400;

/** Time without requests or engagement that makes an old item stale: a day. */
export const staleIdleS = 86400;

/** Factor on a stale item's score: a tenth, so it leaves the top unless nothing else is read. */
export const staleFactor = 0.1;

/**
 * How far in the future a creation time may lie before the item scores 0: five minutes of clock
 * skew. A later date is a forger's way to stay "new"; it scores nothing.
 */
export const futureSkewS = 300;

/**
 * View time one requester may report per key per window: ten minutes. A longer report counts as
 * this, so a client cannot inflate an item by claiming hours.
 */
export const viewReportSMax = 600;

/** Everything the popularity service reads: the `[popularity]` table and the fixed numbers. */
export interface PopularitySettings extends Readonly<Config["popularity"]> {
  /** Half-life of the request rate, in seconds (one window). */
  readonly velocity_half_life_s: number;
  /** Half-life of the retention rate, in seconds ({@link retentionHalfLifeS}). */
  readonly retention_half_life_s: number;
  /** {@link staleAgeS}. */
  readonly stale_age_s: number;
  /** {@link staleIdleS}. */
  readonly stale_idle_s: number;
  /** {@link staleFactor}. */
  readonly stale_factor: number;
  /** {@link futureSkewS}. */
  readonly future_skew_s: number;
  /** {@link viewReportSMax}. */
  readonly view_report_s_max: number;
}

/**
 * The settings from a configuration's `[popularity]` table.
 *
 * @param table The table.
 * @returns The settings, fixed numbers included.
 */
export function popularitySettingsOf(table: Config["popularity"]): PopularitySettings {
  return {
    ...table,
    velocity_half_life_s: table.window_s,
    retention_half_life_s: retentionHalfLifeS,
    stale_age_s: staleAgeS,
    stale_idle_s: staleIdleS,
    stale_factor: staleFactor,
    future_skew_s: futureSkewS,
    view_report_s_max: viewReportSMax,
  };
}
