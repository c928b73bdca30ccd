/**
 * The popularity service as a node runs it: one tracker fed by the DHT's observer hook (the
 * reads this node serves, its pushes' outcomes), the local ranking, and the replication policy
 * the DHT's planner asks. Sans-I/O: the clock and the hash salt are injected.
 *
 * @module
 */

import type { Clock } from "../../core/clock.ts";
import type { NodeId } from "../../core/node_id.ts";
import type { DhtObserver, ReplicationPolicy } from "../../dht/mod.ts";
import { rankLocally } from "./ranking.ts";
import {
  type LifetimeClasses,
  PopularityReplicationPolicy,
  replicasForScore,
} from "./replication.ts";
import { explainScore, type ScoreExplained } from "./score.ts";
import type { PopularitySettings } from "./settings.ts";
import { type KeyMetrics, PopularityTracker } from "./tracker.ts";

/** What a {@link PopularityService} is built from. */
export interface PopularityServiceOptions {
  /** The `[popularity]` settings. */
  settings: PopularitySettings;
  /** The only source of time. */
  clock: Clock;
  /** A secret 32-bit salt for the requester hashes (from the node's randomness). */
  salt: number;
  /** Whether loopback and private requesters count as prefixes of their own (`dht.local_ranges_exempt`). */
  localRangesExempt: boolean;
  /** The record classes' lifetimes the policy renews popular records to. */
  lifetimes: LifetimeClasses;
  /** Kademlia's k: the replica count of a cold record. */
  k: number;
}

/** One key's popularity, as `rhizome popularity KEY` shows it. */
export interface KeyPopularity {
  /** The raw counters. */
  metrics: KeyMetrics;
  /** The score and its parts. */
  explained: ScoreExplained;
  /** The replica count the policy gives it now. */
  replicas_target: number;
}

/** Popularity measured at this node. */
export class PopularityService {
  /** The metrics of the keys this node serves. */
  readonly tracker: PopularityTracker;
  /** The settings it scores with. */
  readonly settings: PopularitySettings;
  readonly #options: PopularityServiceOptions;
  readonly #policy: PopularityReplicationPolicy;

  /**
   * Makes the service.
   *
   * @param options Settings, clock, salt and lifetimes.
   */
  constructor(options: PopularityServiceOptions) {
    this.#options = options;
    this.settings = options.settings;
    this.tracker = new PopularityTracker({
      settings: options.settings,
      salt: options.salt,
      localRangesExempt: options.localRangesExempt,
    });
    this.#policy = new PopularityReplicationPolicy({
      tracker: this.tracker,
      settings: options.settings,
      clock: options.clock,
      lifetimes: options.lifetimes,
    });
  }

  /**
   * The hook to give the DHT node (`DhtNode.setObserver`): reads served are observed, pushes'
   * holder counts noted.
   *
   * @returns The observer.
   */
  observer(): DhtObserver {
    return {
      served: (read) => this.tracker.observe(read),
      pushed: (key, holders, nowMs) => this.tracker.noteHolders(key, holders, nowMs),
    };
  }

  /**
   * The replication policy to give the DHT node (`DhtNode.setReplicationPolicy`).
   *
   * @returns The policy.
   */
  policy(): ReplicationPolicy {
    return this.#policy;
  }

  /**
   * One key's metrics and score, or `undefined` when this node does not track it.
   *
   * @param key The key.
   * @returns The popularity.
   */
  popularityOf(key: NodeId): KeyPopularity | undefined {
    const nowMs = this.#options.clock.nowMs();
    const metrics = this.tracker.metricsOf(key, nowMs);
    if (metrics === undefined) return undefined;
    const explained = explainScore(metrics, this.#options.settings, nowMs);
    return {
      metrics,
      explained,
      replicas_target: replicasForScore(explained.score, this.#options.k, this.#options.settings),
    };
  }

  /**
   * The local ranking of the tracked keys that pass `accept`, highest score first.
   *
   * @param accept Which keys may be listed (a thread filter).
   * @returns The keys with their explained scores.
   */
  localRanking(
    accept: (key: NodeId) => boolean = () => true,
  ): { key: NodeId; explained: ScoreExplained }[] {
    const nowMs = this.#options.clock.nowMs();
    const metrics = this.tracker.allMetrics(nowMs);
    return rankLocally(metrics, this.#options.settings, nowMs).filter((item) => accept(item.key));
  }
}
