/**
 * The penalty box: points against peers that exceed limits, decaying over time. A peer whose
 * points reach {@link graylistPointsMin} is graylisted (its packets are dropped before any
 * decryption or handshake work); one that keeps going and reaches {@link banPointsMin} is banned
 * for {@link banMs} (everything it sends is dropped). Points halve every
 * {@link penaltyHalfLifeMs}, so a peer that stops misbehaving is served again on its own:
 * a graylisted peer is cleared once its points fall below half the graylist threshold.
 *
 * A "peer" is any key the caller chooses: a node identity, a source address, an address prefix.
 * The receive guard (`receive_guard.ts`) penalizes all three, so neither a new identity nor a new
 * port escapes a penalty earned by the other.
 *
 * Sans-I/O: time comes from the injected clock only.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";

/**
 * Points at which a peer is graylisted. One point is one packet over a limit, so 100 is a hundred
 * refused packets within about a half-life: a burst a well-behaved node never sends (its own
 * limits keep it far below ours), and a flood reaches in milliseconds.
 */
export const graylistPointsMin = 100;

/**
 * Points at which a peer is banned: ten times the graylist threshold, so only a peer that keeps
 * sending hard while graylisted (each of its dropped packets still scores) is banned.
 */
export const banPointsMin = 1000;

/**
 * How long a ban lasts. Ten minutes outlasts a flooder's patience and is short enough that a
 * misconfigured honest node (or the next user of a reassigned address) comes back on its own. At
 * the end the peer is graylisted until its points decay.
 */
export const banMs = 10 * 60_000;

/**
 * Half-life of penalty points. Thirty seconds forgives a short burst within a minute and keeps a
 * flooder that pauses briefly graylisted.
 */
export const penaltyHalfLifeMs = 30_000;

/**
 * Peers remembered at once. Each costs about 100 bytes, so 20,000 stay under 2 MB. At the limit
 * the least recently penalized peer without a ban is forgotten (a ban is kept until it ends
 * unless every entry is a ban, then the oldest ban goes).
 */
export const penaltyEntriesMax = 20_000;

/** Where a peer stands. */
export type PeerStanding = "good" | "graylisted" | "banned";

/** Thresholds and periods of a {@link PeerPenalties}; tests shrink them. */
export interface PeerPenaltyLimits {
  /** @default {@link graylistPointsMin} */
  graylistPointsMin: number;
  /** @default {@link banPointsMin} */
  banPointsMin: number;
  /** @default {@link banMs} */
  banMs: number;
  /** @default {@link penaltyHalfLifeMs} */
  penaltyHalfLifeMs: number;
  /** @default {@link penaltyEntriesMax} */
  penaltyEntriesMax: number;
}

/** The built-in thresholds. */
export const peerPenaltyLimitsDefault: Readonly<PeerPenaltyLimits> = Object.freeze({
  graylistPointsMin,
  banPointsMin,
  banMs,
  penaltyHalfLifeMs,
  penaltyEntriesMax,
});

/** Counters of a {@link PeerPenalties}. */
export interface PeerPenaltyStats {
  /** Times a peer became graylisted. */
  graylistings: number;
  /** Times a peer was banned. */
  bans: number;
  /** Peers forgotten to stay within {@link penaltyEntriesMax}. */
  forgotten: number;
  /** Peers with points now. */
  entries: number;
}

/** A change of standing, for the caller's log. */
export interface StandingChange {
  /** The peer. */
  key: string;
  /** Its new standing. */
  standing: PeerStanding;
  /** Its points now. */
  points: number;
}

interface Entry {
  points: number;
  atMs: number;
  graylisted: boolean;
  bannedUntilMs: number;
}

/** Points against peers, with graylists and bans. */
export class PeerPenalties {
  readonly #clock: Clock;
  readonly #limits: PeerPenaltyLimits;
  /** Least recently penalized first (Map order). */
  readonly #entries = new Map<string, Entry>();
  readonly #stats = { graylistings: 0, bans: 0, forgotten: 0 };

  /**
   * @param clock The only source of time.
   * @param limits Thresholds to change.
   * @throws {RangeError} When a limit is not positive, or the ban threshold is not above the
   *   graylist one.
   */
  constructor(clock: Clock, limits: Partial<PeerPenaltyLimits> = {}) {
    this.#clock = clock;
    this.#limits = { ...peerPenaltyLimitsDefault, ...limits };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!(value > 0)) throw new RangeError(`Cannot use limit ${name}: ${value} is not positive`);
    }
    if (this.#limits.banPointsMin <= this.#limits.graylistPointsMin) {
      throw new RangeError("Cannot use limit banPointsMin: it must be above graylistPointsMin");
    }
  }

  /**
   * Adds points against a peer.
   *
   * @param key The peer (identity, address or prefix).
   * @param points How many; one per packet over a limit.
   * @returns The change of standing this caused, or `undefined` when it did not change.
   */
  penalize(key: string, points: number): StandingChange | undefined {
    const nowMs = this.#clock.nowMs();
    let entry = this.#entries.get(key);
    // Points during a ban change nothing: the cheapest path, taken by every packet of a flood.
    if (entry !== undefined && nowMs < entry.bannedUntilMs) return undefined;
    if (entry === undefined) {
      this.#makeRoom();
      entry = { points: 0, atMs: nowMs, graylisted: false, bannedUntilMs: -Infinity };
    } else {
      this.#entries.delete(key); // re-inserted below: the map's order is recency
      this.#decay(entry, nowMs);
    }
    this.#entries.set(key, entry);
    entry.points += points;
    const limits = this.#limits;
    if (entry.points >= limits.banPointsMin) {
      entry.bannedUntilMs = nowMs + limits.banMs;
      // After the ban the peer starts graylisted and must decay out like any other.
      entry.points = limits.graylistPointsMin;
      entry.graylisted = true;
      this.#stats.bans++;
      return { key, standing: "banned", points: limits.banPointsMin };
    }
    if (!entry.graylisted && entry.points >= limits.graylistPointsMin) {
      entry.graylisted = true;
      this.#stats.graylistings++;
      return { key, standing: "graylisted", points: entry.points };
    }
    return undefined;
  }

  /**
   * Where a peer stands now. Cheap: one map lookup, no allocation.
   *
   * @param key The peer.
   * @returns `"good"` for peers never penalized or forgiven.
   */
  standing(key: string): PeerStanding {
    const entry = this.#entries.get(key);
    if (entry === undefined) return "good";
    const nowMs = this.#clock.nowMs();
    if (nowMs < entry.bannedUntilMs) return "banned";
    if (!entry.graylisted) return "good";
    this.#decay(entry, nowMs);
    if (entry.points < this.#limits.graylistPointsMin / 2) {
      entry.graylisted = false;
      return "good";
    }
    return "graylisted";
  }

  /**
   * Counters, and how many peers are graylisted or banned now.
   *
   * @returns A fresh object.
   */
  stats(): PeerPenaltyStats & { graylisted: number; banned: number } {
    let graylisted = 0;
    let banned = 0;
    for (const key of this.#entries.keys()) {
      const standing = this.standing(key);
      if (standing === "graylisted") graylisted++;
      else if (standing === "banned") banned++;
    }
    return { ...this.#stats, entries: this.#entries.size, graylisted, banned };
  }

  #decay(entry: Entry, nowMs: number): void {
    const elapsedMs = nowMs - entry.atMs;
    if (elapsedMs <= 0) return;
    entry.points *= 2 ** (-elapsedMs / this.#limits.penaltyHalfLifeMs);
    entry.atMs = nowMs;
  }

  #makeRoom(): void {
    if (this.#entries.size < this.#limits.penaltyEntriesMax) return;
    const nowMs = this.#clock.nowMs();
    let victim: string | undefined;
    for (const [key, entry] of this.#entries) {
      if (nowMs >= entry.bannedUntilMs) {
        victim = key;
        break;
      }
    }
    this.#entries.delete(victim ?? this.#entries.keys().next().value!);
    this.#stats.forgotten++;
  }
}
