/**
 * The popularity metrics of the records a node serves, collected where they are observed: every
 * FIND_VALUE this node answers from its store (and every index read it serves) is one request by
 * an authenticated requester from a network prefix. Per key the tracker keeps a few fixed-size
 * sketches and counters (at most {@link trackedKeyBytesMax} bytes), for at most
 * `tracked_keys_max` keys: memory is bounded whatever the traffic. Sans-I/O: every call takes the
 * time, the hash salt comes from the caller's randomness.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";
import type { NodeId } from "../../core/node_id.ts";
import { isLocal, type PeerAddress, sharedWireForm } from "../../net/address.ts";
import type { PopularitySettings } from "./settings.ts";
import type { ReportedItem } from "../../content/mod.ts";
import {
  addDecaying,
  decayedValue,
  type DecayingCount,
  HyperLogLog,
  keyedHash32,
} from "./sketches.ts";

/**
 * Registers of the per-window requester sketch and of the audience sketch: 256, a 6.5% standard
 * error, enough to order neighbours of a Zipf ranking that differ by a few percent once averaged
 * over windows. 256 bytes each.
 */
export const requesterRegisters = 256;

/**
 * Registers of the per-window prefix sketch and of the geo sketch: 64 (13% error), as prefixes
 * only cap requesters and count diversity, where a rough number is enough. 64 bytes each.
 */
export const prefixRegisters = 64;

/**
 * Bits of the per-window view-report bitmap: a requester's view time is taken once per key per
 * window, the first time its hash's bit is clear (a collision drops an honest report: 1 in 8 at
 * 32 reporters, never an inflation).
 */
export const viewReportBits = 256;

/**
 * The most bytes one tracked key may cost, sketches, counters and the map's overhead included
 * (the bound): {@link trackedKeyBytes} is checked against it at load.
 */
export const trackedKeyBytesMax = 2048;

/**
 * Estimated bytes of one tracked key: the four sketches and the view bitmap (their bytes plus a
 * typed array's ~100 bytes of header each), twenty numbers and object headers (~400), the map
 * entry and its hex key (~150).
 */
export const trackedKeyBytes: number = 2 * requesterRegisters + 2 * prefixRegisters +
  viewReportBits / 8 +
  5 * 100 + 400 + 150;

/**
 * Tracked keys whose eviction weight is compared to make room for a new one (the oldest inserted;
 * the survivors move to the back): an approximate least-active eviction at a fixed cost per
 * newcomer instead of a scan of the whole table.
 */
export const evictionSample = 16;

/**
 * The hash seed of the sketches holders merge (audience, geo, and the windows'): the same on
 * every node, or a requester seen by two holders would fill different registers and count twice
 * in the merge. A requester could grind identities whose hashes fill high registers; the
 * audience therefore counts at most `prefix_requesters_max` per distinct /24 or /48 (see the
 * score), and prefixes are addresses, not identities to grind.
 */
export const sketchHashSeed = 0x52485a4d;

/** Replies and votes one engagement note may claim at most: counts beyond are taken as this. */
export const engagementCountMax = 1_000_000;

/** A read this node served, as the DHT reports it. */
export interface ServedRequest {
  /** The record's key. */
  readonly key: NodeId;
  /** Who asked (authenticated by the secure channel). */
  readonly requester: NodeId;
  /** Where it asked from; `undefined` when unknown (its ID then stands for its prefix). */
  readonly address?: PeerAddress;
  /** When, in ms of the node's clock. */
  readonly nowMs: number;
}

/**
 * The raw counters of one key: everything its score is computed from. The same shape a holder's
 * signed report carries ({@link ReportedItem}), so a report's items are metrics as they stand.
 */
export type KeyMetrics = ReportedItem;

interface KeyState {
  readonly key: NodeId;
  readonly trackedSinceMs: number;
  windowEpoch: number;
  readonly windowRequesters: HyperLogLog;
  readonly windowPrefixes: HyperLogLog;
  readonly viewReports: Uint8Array;
  readonly velocity: DecayingCount;
  readonly retention: DecayingCount;
  readonly hits: DecayingCount;
  readonly viewTime: DecayingCount;
  readonly audience: HyperLogLog;
  readonly geo: HyperLogLog;
  replies: number;
  votes: number;
  holders: number;
  holdersBefore: number;
  seeds: number;
  createdMs: number | undefined;
  lastActivityMs: number | undefined;
}

/** What a {@link PopularityTracker} is built from. */
export interface TrackerOptions {
  /** The `[popularity]` settings. */
  settings: PopularitySettings;
  /**
   * The salt of this node's own hashes (the view-report bitmap): secret to it (from its injected
   * randomness), so a reporter cannot aim at a bit another reporter set.
   */
  salt: number;
  /**
   * Whether loopback and private requesters each count as a prefix of their own (a test network
   * on one host); otherwise they share their /24 like anyone.
   * @default true
   */
  localRangesExempt?: boolean;
}

/** The metrics of the keys a node serves, bounded in memory. */
export class PopularityTracker {
  readonly #settings: PopularitySettings;
  readonly #salt: number;
  readonly #localExempt: boolean;
  readonly #keys = new Map<string, KeyState>();
  #evicted = 0;

  /**
   * Makes an empty tracker.
   *
   * @param options The settings and the salt.
   */
  constructor(options: TrackerOptions) {
    assert(trackedKeyBytes <= trackedKeyBytesMax, "a tracked key must fit in 2 KB");
    this.#settings = options.settings;
    this.#salt = options.salt | 0;
    this.#localExempt = options.localRangesExempt ?? true;
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#keys.size;
  }

  /** Keys forgotten to make room since the tracker was made. */
  get evicted(): number {
    return this.#evicted;
  }

  /**
   * Estimated bytes of the tracked keys' state (see {@link trackedKeyBytes}).
   *
   * @returns The estimate.
   */
  bytes(): number {
    return this.#keys.size * trackedKeyBytes;
  }

  /**
   * Counts one read this node served. A requester counts once per key per window, and a network
   * prefix at most `prefix_requesters_max` times; every read counts in `requests_per_h`.
   *
   * @param request The key, the requester, its address and the time.
   */
  observe(request: ServedRequest): void {
    const state = this.#stateFor(request.key, request.nowMs);
    this.#roll(state, request.nowMs);
    const requesterHash = keyedHash32(sketchHashSeed, request.requester.toBytes());
    const prefixHash = keyedHash32(sketchHashSeed ^ 0x5bd1e995, this.#prefixOf(request));
    state.windowRequesters.add(requesterHash);
    state.windowPrefixes.add(prefixHash);
    state.audience.add(requesterHash);
    state.geo.add(prefixHash);
    addDecaying(state.hits, 1, request.nowMs, this.#settings.velocity_half_life_s * 1000);
    state.lastActivityMs = Math.max(state.lastActivityMs ?? 0, request.nowMs);
  }

  /**
   * Notes a thread's replies and votes as its indexes hold them (absolute counts: noting the same
   * counts twice changes nothing). Counts that grew mark activity.
   *
   * @param key The thread's key.
   * @param counts Replies and votes (whole numbers, capped at {@link engagementCountMax}).
   * @param nowMs The time.
   */
  noteEngagement(key: NodeId, counts: { replies: number; votes: number }, nowMs: number): void {
    const replies = wholeCount(counts.replies);
    const votes = wholeCount(counts.votes);
    const state = this.#keys.get(key.toHex());
    if (state === undefined && replies + votes === 0) return;
    const target = state ?? this.#stateFor(key, nowMs);
    if (replies > target.replies || votes > target.votes) {
      target.lastActivityMs = Math.max(target.lastActivityMs ?? 0, nowMs);
    }
    target.replies = Math.max(target.replies, replies);
    target.votes = Math.max(target.votes, votes);
  }

  /**
   * Takes one reader's view-time report for a tracked key: at most `view_report_s_max` seconds,
   * once per requester per key per window (later reports in the window are ignored).
   *
   * @param key The key read.
   * @param requester Who reports it.
   * @param seconds Seconds the reader kept it open (non-negative; capped).
   * @param nowMs The time.
   * @returns Whether the report was taken.
   */
  noteViewTime(key: NodeId, requester: NodeId, seconds: number, nowMs: number): boolean {
    const state = this.#keys.get(key.toHex());
    if (state === undefined || !Number.isFinite(seconds) || seconds <= 0) return false;
    this.#roll(state, nowMs);
    const bit = keyedHash32(this.#salt ^ 0x27d4eb2f, requester.toBytes()) % viewReportBits;
    const mask = 1 << (bit & 7);
    if ((state.viewReports[bit >> 3] & mask) !== 0) return false;
    state.viewReports[bit >> 3] |= mask;
    const taken = Math.min(seconds, this.#settings.view_report_s_max);
    addDecaying(state.viewTime, taken, nowMs, this.#settings.retention_half_life_s * 1000);
    return true;
  }

  /**
   * Notes how many live holders a push of the key reached (this node included).
   *
   * @param key The key.
   * @param holders Holders counted.
   * @param nowMs The time.
   */
  noteHolders(key: NodeId, holders: number, nowMs: number): void {
    const state = this.#keys.get(key.toHex());
    if (state === undefined) return;
    this.#roll(state, nowMs);
    state.holdersBefore = state.holders;
    state.holders = wholeCount(holders);
  }

  /**
   * Whether the key's last push reached fewer holders than the one before (holders were lost).
   *
   * @param key The key.
   * @returns `true` when the count dropped.
   */
  holdersDropped(key: NodeId): boolean {
    const state = this.#keys.get(key.toHex());
    return state !== undefined && state.holders > 0 && state.holders < state.holdersBefore;
  }

  /**
   * Notes how many seeds hold the key.
   *
   * @param key The key.
   * @param seeds Seeds known to hold it.
   */
  noteSeedCoverage(key: NodeId, seeds: number): void {
    const state = this.#keys.get(key.toHex());
    if (state !== undefined) state.seeds = wholeCount(seeds);
  }

  /**
   * Notes when a tracked key's item was created (its document's time).
   *
   * @param key The key.
   * @param createdMs Its creation time, ms since the epoch.
   */
  noteCreated(key: NodeId, createdMs: number): void {
    const state = this.#keys.get(key.toHex());
    if (state !== undefined && Number.isFinite(createdMs)) state.createdMs = createdMs;
  }

  /**
   * Whether a key is tracked.
   *
   * @param key The key.
   * @returns `true` when tracked.
   */
  has(key: NodeId): boolean {
    return this.#keys.has(key.toHex());
  }

  /**
   * The raw counters of one key at `nowMs`, or `undefined` when it is not tracked.
   *
   * @param key The key.
   * @param nowMs The time.
   * @returns The metrics.
   */
  metricsOf(key: NodeId, nowMs: number): KeyMetrics | undefined {
    const state = this.#keys.get(key.toHex());
    return state && this.#metrics(state, nowMs);
  }

  /**
   * The raw counters of every tracked key at `nowMs`, in no particular order.
   *
   * @param nowMs The time.
   * @returns The metrics.
   */
  allMetrics(nowMs: number): KeyMetrics[] {
    return [...this.#keys.values()].map((state) => this.#metrics(state, nowMs));
  }

  /**
   * The mergeable sketches of a tracked key (for a holder's report to the seeds).
   *
   * @param key The key.
   * @returns Copies of its audience and geo registers, or `undefined` when it is not tracked.
   */
  sketchesOf(key: NodeId): { audience: Uint8Array; geo: Uint8Array } | undefined {
    const state = this.#keys.get(key.toHex());
    if (state === undefined) return undefined;
    return {
      audience: new Uint8Array(state.audience.registers),
      geo: new Uint8Array(state.geo.registers),
    };
  }

  #metrics(state: KeyState, nowMs: number): KeyMetrics {
    const s = this.#settings;
    const windowMs = s.window_s * 1000;
    const velocityHalfMs = s.velocity_half_life_s * 1000;
    const retentionHalfMs = s.retention_half_life_s * 1000;
    // The current window's count, or (when no read came since it ended) the finished window's,
    // folded at its end as the next read would fold it.
    const pending = this.#windowCount(state);
    const current = Math.floor(nowMs / windowMs) === state.windowEpoch;
    const endMs = (state.windowEpoch + 1) * windowMs;
    const folded = (count: DecayingCount, halfLifeMs: number) => {
      const past = current || pending === 0
        ? count
        : { value: decayedValue(count, endMs, halfLifeMs) + pending, atMs: endMs };
      // A sum of per-window counts decaying with half-life H holds 1 / (1 − 2^(−W/H)) windows'
      // worth in a steady state: times that factor, it is the count of an average window.
      return decayedValue(past, nowMs, halfLifeMs) * (1 - 2 ** (-windowMs / halfLifeMs));
    };
    // The larger of the current window's count and the decayed average of the windows before:
    // a burst shows at once, and a rate fades with its half-life once the reads stop.
    const perWindow = (count: DecayingCount, halfLifeMs: number) =>
      Math.max(current ? pending : 0, folded(count, halfLifeMs));
    return {
      key: state.key.toHex(),
      requests_per_h: decayedValue(state.hits, nowMs, velocityHalfMs) * 3600_000 /
        (velocityHalfMs / Math.LN2),
      request_rate: perWindow(state.velocity, velocityHalfMs) * 3600_000 / windowMs,
      retention_rate: perWindow(state.retention, retentionHalfMs) * 86400_000 / windowMs,
      audience_size: state.audience.estimate(),
      geo_prefixes: state.geo.estimate(),
      replies: state.replies,
      votes: state.votes,
      view_time_s: decayedValue(state.viewTime, nowMs, retentionHalfMs),
      replication_count: state.holders,
      seed_coverage: state.seeds,
      created_ms: state.createdMs ?? null,
      last_activity_ms: state.lastActivityMs ?? null,
      tracked_since_ms: state.trackedSinceMs,
    };
  }

  /**
   * The distinct requesters of a key's current window, each prefix capped: at most
   * `prefix_requesters_max` per distinct prefix seen.
   */
  #windowCount(state: KeyState): number {
    const requesters = state.windowRequesters.estimate();
    const prefixes = state.windowPrefixes.estimate();
    return Math.min(requesters, prefixes * this.#settings.prefix_requesters_max);
  }

  /** Folds a key's finished window into its decaying counts and empties the window's sketches. */
  #roll(state: KeyState, nowMs: number): void {
    const windowMs = this.#settings.window_s * 1000;
    const epoch = Math.floor(nowMs / windowMs);
    if (epoch <= state.windowEpoch) return;
    const count = this.#windowCount(state);
    const endMs = (state.windowEpoch + 1) * windowMs;
    if (count > 0) {
      addDecaying(state.velocity, count, endMs, this.#settings.velocity_half_life_s * 1000);
      addDecaying(state.retention, count, endMs, this.#settings.retention_half_life_s * 1000);
    }
    state.windowRequesters.clear();
    state.windowPrefixes.clear();
    state.viewReports.fill(0);
    state.windowEpoch = epoch;
  }

  /** The prefix bytes a requester counts under: /24, /48, or its own ID when local and exempt. */
  #prefixOf(request: ServedRequest): Uint8Array {
    if (request.address === undefined) return request.requester.toBytes();
    const wire = sharedWireForm(request.address);
    if (this.#localExempt && isLocal(wire)) return request.requester.toBytes();
    return wire.length === 6 ? wire.slice(0, 3) : wire.slice(0, 6);
  }

  /** The state of a key, made (after evicting the least active of a sample when full). */
  #stateFor(key: NodeId, nowMs: number): KeyState {
    const hex = key.toHex();
    const held = this.#keys.get(hex);
    if (held !== undefined) return held;
    if (this.#keys.size >= this.#settings.tracked_keys_max) this.#evictOne(nowMs);
    const state: KeyState = {
      key,
      trackedSinceMs: nowMs,
      windowEpoch: Math.floor(nowMs / (this.#settings.window_s * 1000)),
      windowRequesters: new HyperLogLog(requesterRegisters),
      windowPrefixes: new HyperLogLog(prefixRegisters),
      viewReports: new Uint8Array(viewReportBits / 8),
      velocity: { value: 0, atMs: nowMs },
      retention: { value: 0, atMs: nowMs },
      hits: { value: 0, atMs: nowMs },
      viewTime: { value: 0, atMs: nowMs },
      audience: new HyperLogLog(requesterRegisters),
      geo: new HyperLogLog(prefixRegisters),
      replies: 0,
      votes: 0,
      holders: 0,
      holdersBefore: 0,
      seeds: 0,
      createdMs: undefined,
      lastActivityMs: undefined,
    };
    this.#keys.set(hex, state);
    return state;
  }

  /**
   * Forgets the least active of the {@link evictionSample} oldest-inserted keys; the others move
   * to the back, so the next eviction samples other keys. A forgotten key seen again starts from
   * zero: eviction only ever under-counts, so it never promotes anything.
   */
  #evictOne(nowMs: number): void {
    const sample: [string, KeyState][] = [];
    for (const entry of this.#keys) {
      sample.push(entry);
      if (sample.length >= evictionSample) break;
    }
    let weakest = sample[0];
    let weakestWeight = Infinity;
    for (const entry of sample) {
      const weight = this.#activityWeight(entry[1], nowMs);
      if (weight < weakestWeight) {
        weakest = entry;
        weakestWeight = weight;
      }
    }
    for (const [hex, state] of sample) {
      this.#keys.delete(hex);
      if (hex !== weakest[0]) this.#keys.set(hex, state);
    }
    this.#evicted++;
  }

  /** How active a key is, for eviction: its decayed retention plus its current window. */
  #activityWeight(state: KeyState, nowMs: number): number {
    return decayedValue(state.retention, nowMs, this.#settings.retention_half_life_s * 1000) +
      this.#windowCount(state) + state.replies + state.votes;
  }
}

/** A count from outside, as a whole number in 0..{@link engagementCountMax}. */
function wholeCount(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Math.min(Math.floor(value), engagementCountMax);
}
