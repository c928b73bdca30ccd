/**
 * Replication driven by popularity: a {@link ReplicationPolicy} for the DHT's planner
 * (`DhtNode.setReplicationPolicy`) that gives a record more replicas as its score grows (active
 * replication, up to `replicas_max`, back to k as it cools), pushes it again at the next upkeep
 * pass when its last push found holders lost and fewer than its target left (emergency),
 * and lets holders of a warm record renew its copies instead of passing on what is left, so
 * popular records live longer (the lifetime follows popularity). Untracked records keep the
 * default terms. Pure apart from reading the tracker: time comes from the injected clock.
 *
 * @module
 */

import type { Clock } from "../../core/clock.ts";
import {
  type HeldRecord,
  pushIntervalMsMin,
  type ReplicationPolicy,
  type ReplicationTerms,
} from "../../dht/mod.ts";
import { scoreOf } from "./score.ts";
import type { PopularitySettings } from "./settings.ts";
import type { PopularityTracker } from "./tracker.ts";

/** The lifetimes a policy may give: the record classes' `ttl_s`, in seconds. */
export interface LifetimeClasses {
  /** The `popular` class's lifetime: a hot record's renewal. */
  readonly popular_ttl_s: number;
  /** The `normal` class's lifetime: a warm record's renewal. */
  readonly normal_ttl_s: number;
}

/** What a {@link PopularityReplicationPolicy} decides from. */
export interface PopularityPolicyOptions {
  /** The tracked metrics. */
  tracker: PopularityTracker;
  /** The `[popularity]` settings. */
  settings: PopularitySettings;
  /** The only source of time. */
  clock: Clock;
  /** The lifetimes of the classes. */
  lifetimes: LifetimeClasses;
}

/**
 * How many replicas a score asks for: k up to `score_warm`, `replicas_max` from `score_hot`,
 * linear between.
 *
 * @param score The record's score.
 * @param k The default replica count.
 * @param settings The thresholds and the cap.
 * @returns A whole number from k to max(k, replicas_max).
 */
export function replicasForScore(score: number, k: number, settings: PopularitySettings): number {
  const cap = Math.max(k, settings.replicas_max);
  const span = settings.score_hot - settings.score_warm;
  const heat = Math.min(1, Math.max(0, (score - settings.score_warm) / span));
  return Math.round(k + (cap - k) * heat);
}

/** Replication terms by popularity. */
export class PopularityReplicationPolicy implements ReplicationPolicy {
  readonly #options: PopularityPolicyOptions;

  /**
   * Makes the policy.
   *
   * @param options The tracker, the settings, the clock and the lifetimes.
   */
  constructor(options: PopularityPolicyOptions) {
    this.#options = options;
  }

  /**
   * The terms of one record.
   *
   * @param record The record.
   * @param defaults The Kademlia terms.
   * @returns The terms by popularity (the defaults for an untracked record).
   */
  termsOf(record: HeldRecord, defaults: ReplicationTerms): ReplicationTerms {
    const { tracker, settings, clock, lifetimes } = this.#options;
    const nowMs = clock.nowMs();
    const metrics = tracker.metricsOf(record.key, nowMs);
    // Other holders' pushes say how many replicas they keep the record at: every holder takes
    // the largest count it heard lately, so a holder that served few of the reads (or none: a
    // new holder) pushes as many copies as the busiest one's score asks.
    const hinted = Math.min(
      Math.max(defaults.replicas, settings.replicas_max),
      record.replicasHint ?? 0,
    );
    if (metrics === undefined) {
      return hinted > defaults.replicas
        ? { ...defaults, replicas: hinted, spreadPrefixes: true }
        : defaults;
    }
    const score = scoreOf(metrics, settings, nowMs);
    const replicas = Math.max(replicasForScore(score, defaults.replicas, settings), hinted);
    // Holders were lost since the push before (fewer acknowledged it) and fewer than the target
    // (or `emergency_holders`, if larger) remain: push again at the next upkeep pass.
    const emergency = tracker.holdersDropped(record.key) &&
      metrics.replication_count < Math.max(settings.emergency_holders, replicas);
    const hot = score >= settings.score_hot;
    const warm = score > settings.score_warm;
    const renewS = hot
      ? Math.max(defaults.renewS, lifetimes.popular_ttl_s)
      : warm
      ? Math.max(defaults.renewS, lifetimes.normal_ttl_s)
      : defaults.renewS;
    return {
      replicas,
      intervalMs: emergency ? pushIntervalMsMin : defaults.intervalMs,
      renewS,
      // A warm record's copies go to distinct /24s where possible: one network's outage or one
      // operator's many nodes hold at most one of them.
      ...(warm ? { spreadPrefixes: true } : {}),
    };
  }
}
