/**
 * The replication planner: pure functions from what a node holds, what its routing table knows
 * and the time to what its upkeep should do — which records have expired, which are due to be
 * pushed again (a publisher's republish, a holder's replication) to how many holders with what
 * lifetime, and which ones a newcomer near them should be handed. The DHT node executes the plan
 * (lookups, STOREs, local writes); a {@link ReplicationPolicy} changes the terms per record.
 *
 * Sans-I/O and free of addresses: records are bookkeeping, nodes are `NodeId`s, time is an
 * argument.
 *
 * @module
 */

import { lookupQueriesMax, maintenanceIntervalMs } from "../core/limits.ts";
import type { NodeId } from "../core/node_id.ts";
import {
  defaultTermsOf,
  type HeldRecord,
  type HeldRecordKind,
  type ReplicationPolicy,
  type ReplicationSettings,
  type ReplicationTerms,
} from "./replication_policy.ts";

/**
 * Records one upkeep pass plans to push. A push is a lookup, and at most `maintenanceLookupsMax`
 * (4) of those run at once, so in a live network a pass starts 4 and the rest wait anyway; the
 * cap keeps the plan, and the work of a pass whose lookups end at once (a node without contacts
 * still renews its own records), to a fixed size. A due record left out stays due: the next pass
 * (one `maintenanceIntervalMs` later) plans it.
 */
export const upkeepPushesMax = 16;

/**
 * Most holders a policy may give one record (never fewer than k). A push finds the holders with
 * one lookup, which asks at most `lookupQueriesMax` nodes, so it cannot confirm more than that.
 */
export const replicasPerRecordMax: number = lookupQueriesMax;

/**
 * Shortest time between two pushes of one record: upkeep looks once per `maintenanceIntervalMs`,
 * so a shorter interval could not be kept (and `replicate_s` has the same floor).
 */
export const pushIntervalMsMin: number = maintenanceIntervalMs;

/**
 * The largest jitter on a push interval, as a fraction of it: holders of one record come due up
 * to a twentieth of a period apart, so the first one's STOREs reset the others' clocks instead of
 * all of them pushing at once. The jitter only ever brings a push forward, by 5 to 10%: a
 * holder's copy lives `store.normal.ttl_s` from the publisher's STORE, and with `republish_s`
 * equal to it (the default, a day) a republish that came due late left every copy but the
 * publisher's expired for up to a tenth of a day.
 */
export const pushJitterMax = 0.1;

/** The nodes a routing table knows, by distance alone. */
export interface RoutingView {
  /**
   * The known nodes closest to `key` by XOR distance, whether or not they answer well (who
   * should hold a record, not whom to ask).
   *
   * @param key Any ID.
   * @param count How many at most.
   * @returns Up to `count` node IDs, nearest first.
   */
  closestIds(key: NodeId, count: number): readonly NodeId[];
}

/** What an upkeep pass is planned from. */
export interface UpkeepInput {
  /** This node's ID (its jitter depends on it). */
  readonly self: NodeId;
  /** The time. */
  readonly nowMs: number;
  /** Every record held, walked once. */
  readonly held: Iterable<HeldRecord>;
  /** Where the default terms come from. */
  readonly settings: ReplicationSettings;
  /** Changes the terms per record. */
  readonly policy: ReplicationPolicy;
  /**
   * Pushes to plan at most.
   * @default {@link upkeepPushesMax}
   */
  readonly pushesMax?: number;
}

/** One record to push: look up its closest nodes and store it at them. */
export interface PlannedPush {
  /** The record's key. */
  readonly key: NodeId;
  /** Publisher (a republish) or holder (a replication). */
  readonly kind: HeldRecordKind;
  /** Nodes closest to the key to store it at. */
  readonly replicas: number;
  /** Lifetime the copies get, in whole seconds: the renewal, or what the local copy has left. */
  readonly ttlS: number;
  /** The local copy's expiry after the push: renewed when the terms renew, never shortened. */
  readonly expiresAtMs: number;
  /** Spread the copies over distinct network prefixes ({@link spreadOverPrefixes}). */
  readonly spreadPrefixes?: boolean;
}

/** What an upkeep pass does with the records held. */
export interface UpkeepPlan {
  /** Records past their expiry: to delete. */
  readonly expired: NodeId[];
  /** Records due, in the order walked, at most `pushesMax`. */
  readonly pushes: PlannedPush[];
  /** Records whose policy terms were out of range and were brought into it. */
  readonly termsCorrected: number;
}

/**
 * Plans one upkeep pass: every expired record is listed for deletion; a live record is due when
 * its interval (times this node's jitter for it) has passed since its last push, or since it was
 * stored when never pushed.
 *
 * @param input The records, the time, the settings and the policy.
 * @returns The plan.
 */
export function planUpkeep(input: UpkeepInput): UpkeepPlan {
  const { self, nowMs, settings, policy } = input;
  const pushesMax = input.pushesMax ?? upkeepPushesMax;
  const expired: NodeId[] = [];
  const pushes: PlannedPush[] = [];
  let termsCorrected = 0;
  for (const record of input.held) {
    if (record.expiresAtMs <= nowMs) {
      expired.push(record.key);
      continue;
    }
    if (pushes.length >= pushesMax) continue;
    const { terms, corrected } = termsFor(record, { settings, policy });
    if (corrected) termsCorrected++;
    const lastMs = record.pushedAtMs ?? record.storedAtMs;
    if (nowMs - lastMs < terms.intervalMs * pushJitter(self, record.key)) continue;
    const renewed = terms.renewS > 0;
    pushes.push({
      key: record.key,
      kind: record.kind,
      replicas: terms.replicas,
      ttlS: renewed ? terms.renewS : remainingTtlS(record.expiresAtMs, nowMs),
      expiresAtMs: renewed
        ? Math.max(record.expiresAtMs, nowMs + terms.renewS * 1000)
        : record.expiresAtMs,
      ...(terms.spreadPrefixes === true ? { spreadPrefixes: true } : {}),
    });
  }
  return { expired, pushes, termsCorrected };
}

/** What a hand-off to a newcomer is planned from. */
export interface HandOffInput {
  /** This node's ID. */
  readonly self: NodeId;
  /** The node that just entered the routing table. */
  readonly newcomer: NodeId;
  /** The time. */
  readonly nowMs: number;
  /** The records held. */
  readonly held: Iterable<HeldRecord>;
  /** The routing table, the newcomer included. */
  readonly table: RoutingView;
  /** Where the default terms come from. */
  readonly settings: ReplicationSettings;
  /** Changes the terms per record. */
  readonly policy: ReplicationPolicy;
  /**
   * How long a push takes to find the closest nodes (`lookup_timeout_ms`): a record pushed more
   * recently is skipped, as that push is still building its own view.
   */
  readonly pushSettleMs: number;
}

/** Which records a newcomer should be offered. */
export interface HandOffPlan {
  /** Keys of the records to offer, in the order walked. */
  readonly offers: NodeId[];
  /** Records whose policy terms were out of range and were brought into it. */
  readonly termsCorrected: number;
}

/**
 * Plans a hand-off: a newcomer that is now among a record's `replicas` closest known nodes should
 * hold it too, when this node is itself one of them (a far publisher or a cache does not hand
 * records out). Records pushed within `pushSettleMs` are skipped.
 *
 * @param input The newcomer, the records, the table, the settings and the policy.
 * @returns The keys to offer the newcomer.
 */
export function planHandOff(input: HandOffInput): HandOffPlan {
  const { self, newcomer, nowMs, table, settings, policy } = input;
  const offers: NodeId[] = [];
  let termsCorrected = 0;
  for (const record of input.held) {
    if (record.pushedAtMs !== undefined && nowMs - record.pushedAtMs < input.pushSettleMs) {
      continue;
    }
    const { terms, corrected } = termsFor(record, { settings, policy });
    if (corrected) termsCorrected++;
    const closest = table.closestIds(record.key, terms.replicas);
    if (!closest.some((id) => id.equals(newcomer))) continue;
    if (!isAmongClosest(record.key, self, closest, terms.replicas)) continue;
    offers.push(record.key);
  }
  return { offers, termsCorrected };
}

/**
 * Whether `self` belongs among the `replicas` closest nodes to `key`, given the closest others
 * known (nearest first): fewer than `replicas` are known, or it is nearer than the farthest.
 */
function isAmongClosest(
  key: NodeId,
  self: NodeId,
  closest: readonly NodeId[],
  replicas: number,
): boolean {
  return closest.length < replicas || key.compareDistance(self, closest[replicas - 1]) < 0;
}

/**
 * 1 − {@link pushJitterMax} to 1 − {@link pushJitterMax} / 2, fixed per node and key: holders of
 * one record come due at slightly different times, and every push at least 5% of its interval
 * early, whatever the upkeep pass's own granularity.
 *
 * @param self This node's ID.
 * @param key The record's key.
 * @returns The factor on the push interval.
 */
export function pushJitter(self: NodeId, key: NodeId): number {
  const spread = (key.byteAt(19) ^ self.byteAt(19)) / 255;
  return 1 - (pushJitterMax / 2) * (1 + spread);
}

/**
 * Whole seconds a held record has left to live: what a copy of it may be given.
 *
 * @param expiresAtMs Its expiry.
 * @param nowMs The time.
 * @returns Seconds, rounded up (0 or less when expired).
 */
export function remainingTtlS(expiresAtMs: number, nowMs: number): number {
  return Math.ceil((expiresAtMs - nowMs) / 1000);
}

/**
 * The policy's terms for a record, in range: replicas a whole number from 1 to
 * `max(k, replicasPerRecordMax)`, an interval of at least {@link pushIntervalMsMin}, a renewal
 * of whole seconds from 0 to `renew_ttl_s`. A value that is not a number takes the default.
 *
 * @param record The record.
 * @param rules The settings the defaults come from, and the policy.
 * @returns The terms, and whether the policy's were out of range.
 */
export function termsFor(
  record: HeldRecord,
  rules: { readonly settings: ReplicationSettings; readonly policy: ReplicationPolicy },
): { terms: ReplicationTerms; corrected: boolean } {
  const { settings, policy } = rules;
  const defaults = defaultTermsOf(record, settings);
  const asked = policy.termsOf(record, defaults);
  const terms: ReplicationTerms = {
    replicas: inRange(
      asked.replicas,
      defaults.replicas,
      1,
      Math.max(settings.k, replicasPerRecordMax),
      true,
    ),
    intervalMs: inRange(asked.intervalMs, defaults.intervalMs, pushIntervalMsMin, Infinity, false),
    renewS: inRange(asked.renewS, defaults.renewS, 0, settings.renew_ttl_s, true),
    ...(asked.spreadPrefixes === true ? { spreadPrefixes: true } : {}),
  };
  const corrected = terms.replicas !== asked.replicas || terms.intervalMs !== asked.intervalMs ||
    terms.renewS !== asked.renewS;
  return { terms, corrected };
}

/**
 * Chooses `count` of `candidates` (nearest first) with at most one per network prefix where
 * possible: walking in order, a candidate whose prefix already has one is set aside; if fewer
 * than `count` were chosen, the set-aside ones fill up, nearest first. Candidates without a
 * prefix (`prefixOf` gives `undefined`: loopback and private addresses) never conflict.
 *
 * @param candidates Candidates, nearest first.
 * @param count How many to choose.
 * @param prefixOf A candidate's prefix.
 * @returns The chosen ones, in the order chosen.
 */
export function spreadOverPrefixes<T>(
  candidates: readonly T[],
  count: number,
  prefixOf: (candidate: T) => string | undefined,
): T[] {
  const chosen: T[] = [];
  const setAside: T[] = [];
  const used = new Set<string>();
  for (const candidate of candidates) {
    if (chosen.length >= count) break;
    const prefix = prefixOf(candidate);
    if (prefix !== undefined && used.has(prefix)) {
      setAside.push(candidate);
      continue;
    }
    if (prefix !== undefined) used.add(prefix);
    chosen.push(candidate);
  }
  for (const candidate of setAside) {
    if (chosen.length >= count) break;
    chosen.push(candidate);
  }
  return chosen;
}

/** `value` within `min..max` (whole when `whole`), or `fallback` when it is not a number. */
function inRange(
  value: number,
  fallback: number,
  min: number,
  max: number,
  whole: boolean,
): number {
  if (typeof value !== "number" || Number.isNaN(value)) return fallback;
  const bounded = Math.min(Math.max(value, min), max);
  return whole ? Math.floor(bounded) : bounded;
}
