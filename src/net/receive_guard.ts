/**
 * The receive guard: the cheap checks every datagram passes before it costs any decryption,
 * signature check or handshake. The secure channel asks it about each datagram it reads
 * (`SecureChannel.admit`), with what can be learnt without crypto: the packet type, the source
 * address, and for a DATA packet the identity its session proved earlier.
 *
 * - A source address, an identity or an address prefix that is banned or graylisted in the
 *   {@link PeerPenalties} is dropped at once (a graylisted one still earns a point per packet,
 *   so a peer that keeps flooding while graylisted is banned, and each such packet earns its
 *   source address a point, so an address sending for a banned identity is banned too).
 *   Banned source addresses are listed ({@link ReceiveGuard.bannedSources}) for the node to have
 *   the kernel drop their datagrams unread.
 * - Token buckets cap the packets of one source address and of one identity, and the INITs
 *   (handshakes) of one source address and of one address prefix (/24 for IPv4, /48 for IPv6),
 *   per second and per session lifetime (which caps the sessions each can hold).
 *   Every packet over a limit is dropped, counted and earns a penalty point for the source and
 *   the identity (ten for an INIT: each costs a signature check and key agreement).
 * - Junk (not our protocol, malformed, naming no session, failing authentication) earns its
 *   source a point: a junk flood from one source is graylisted like any other.
 *
 * Loopback and private addresses (127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, ::1, fc00::/7,
 * fe80::/10) are exempt from the prefix caps when `localRangesExempt` is set (the default), so
 * a network of many nodes on one machine or LAN keeps working; a source there is then its full
 * address (IP and port) rather than its IP. Identities are never exempt: a local flooder is
 * graylisted all the same.
 *
 * Sans-I/O: time comes from the injected clock; a log line, when a log is given, at most once
 * per {@link standingLogIntervalMs}.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { Log } from "../core/log.ts";
import { isLocal, type PeerAddress, sharedWireForm } from "./address.ts";
import {
  PeerPenalties,
  type PeerPenaltyLimits,
  type PeerPenaltyStats,
  type StandingChange,
} from "./peer_penalties.ts";

/**
 * Packets per second one source address may send, after a burst of twice that. A peer sends us
 * at most the DHT's 50 requests a second plus replies to the few requests we keep in flight to
 * it; 2,000 leaves room for a NAT sharing one address among many nodes. At the limit: dropped
 * before decryption, counted (`sourceRate`), one penalty point each.
 */
export const sourcePacketsPerS = 2000;

/**
 * Packets per second one identity may send over its sessions, after a burst of twice that: ten
 * times the DHT's per-peer request rate, since replies to our own requests come on top. At the
 * limit: dropped before decryption, counted (`identityRate`), one penalty point each.
 */
export const identityPacketsPerS = 500;

/**
 * INITs per second one source address may send, after a burst of ten. A node handshakes with a
 * peer once per session (every two minutes with rekeying) plus a few retries. At the limit:
 * dropped before the signature check, counted (`handshakeSourceRate`), ten penalty points each.
 */
export const handshakesPerSourcePerS = 2;

/** The burst of {@link handshakesPerSourcePerS}. */
export const handshakesPerSourceBurst = 10;

/**
 * INITs per second from one address prefix (/24, /48), after a burst of five times that, so
 * one network cannot take the node's whole handshake budget (`handshakesAnsweredPerSecondMax`,
 * 200) with many addresses. At the limit: dropped, counted (`handshakePrefixRate`), one point
 * against the prefix.
 */
export const handshakesPerPrefixPerS = 20;

/**
 * Sessions one source address may open (INITs admitted) per {@link sessionWindowMs}, so it can
 * hold at most about twice this many at once and cannot churn the node's session table (4096
 * sessions, least recently used evicted) with fresh identities. A node opens one per peer and
 * rekey (every two minutes); 32 leaves room for a NAT with a dozen nodes behind it. At the limit:
 * the INIT is dropped before its signature check (`sessionSourceCap`), one penalty point.
 */
export const sessionsPerSourceMax = 32;

/**
 * Sessions one address prefix (/24, /48) may open per {@link sessionWindowMs}: eight sources'
 * worth, so one network holds at most a small share of the session table. At the limit:
 * dropped (`sessionPrefixCap`), one point against the prefix.
 */
export const sessionsPerPrefixMax = 256;

/**
 * The window of the session caps: the life of a session (`sessionRejectMs` of the secure
 * channel), after which a session opened at its start is gone.
 */
export const sessionWindowMs = 180_000;

/**
 * Sources, identities and prefixes whose token buckets are remembered. A forgotten one starts
 * with a full bucket again, which costs one burst. At the limit: the least recently seen goes.
 */
export const guardBucketsMax = 20_000;

/**
 * Least time between two log lines about peers graylisted or banned: a flood of fresh
 * identities must not flood the log. Each line says how many changes it stands for.
 */
export const standingLogIntervalMs = 10_000;

/**
 * Banned sources remembered with their address for {@link ReceiveGuard.bannedSources}: beyond
 * this many the oldest ban is forgotten there (the penalty box still bans it). Four times what
 * the kernel filter takes (`kernelFilterSourcesMax`), so expired bans leave room for live ones.
 */
export const bannedSourcesRememberedMax = 1024;

/** Penalty points for an INIT over a handshake limit: it would have cost a signature check. */
const initPenaltyPoints = 10;

/**
 * Penalty points for a DATA packet naming no session of ours. An honest peer sends those after
 * we restart, until its session is suspect and it handshakes again (up to 15 s of its traffic,
 * 750 packets at the DHT's request rate): a tenth of a point keeps that below the graylist
 * threshold, while a flood of made-up session IDs is graylisted within a thousand packets.
 */
export const unknownSessionPenaltyPoints = 0.1;

/** The packet types the guard tells apart. */
export type GuardedPacket = "init" | "response" | "data";

/** Why the guard refused a datagram. */
export type GuardDropReason =
  /** The source, identity or prefix is banned. */
  | "banned"
  /** The source, identity or prefix is graylisted. */
  | "graylisted"
  /** Over {@link sourcePacketsPerS}. */
  | "sourceRate"
  /** Over {@link identityPacketsPerS}. */
  | "identityRate"
  /** An INIT over {@link handshakesPerSourcePerS}. */
  | "handshakeSourceRate"
  /** An INIT over {@link handshakesPerPrefixPerS}. */
  | "handshakePrefixRate"
  /** An INIT over {@link sessionsPerSourceMax}. */
  | "sessionSourceCap"
  /** An INIT over {@link sessionsPerPrefixMax}. */
  | "sessionPrefixCap";

const guardDropReasons: readonly GuardDropReason[] = [
  "banned",
  "graylisted",
  "sourceRate",
  "identityRate",
  "handshakeSourceRate",
  "handshakePrefixRate",
  "sessionSourceCap",
  "sessionPrefixCap",
];

/** Rates of a {@link ReceiveGuard}; tests shrink them. */
export interface ReceiveGuardLimits {
  /** @default {@link sourcePacketsPerS} */
  sourcePacketsPerS: number;
  /** @default {@link identityPacketsPerS} */
  identityPacketsPerS: number;
  /** @default {@link handshakesPerSourcePerS} */
  handshakesPerSourcePerS: number;
  /** @default {@link handshakesPerSourceBurst} */
  handshakesPerSourceBurst: number;
  /** @default {@link handshakesPerPrefixPerS} */
  handshakesPerPrefixPerS: number;
  /** @default {@link sessionsPerSourceMax} */
  sessionsPerSourceMax: number;
  /** @default {@link sessionsPerPrefixMax} */
  sessionsPerPrefixMax: number;
  /** @default {@link guardBucketsMax} */
  guardBucketsMax: number;
}

/** The built-in rates. */
export const receiveGuardLimitsDefault: Readonly<ReceiveGuardLimits> = Object.freeze({
  sourcePacketsPerS,
  identityPacketsPerS,
  handshakesPerSourcePerS,
  handshakesPerSourceBurst,
  handshakesPerPrefixPerS,
  sessionsPerSourceMax,
  sessionsPerPrefixMax,
  guardBucketsMax,
});

/** What a {@link ReceiveGuard} is built from. */
export interface ReceiveGuardOptions {
  /** The only source of time. */
  clock: Clock;
  /** Exempt loopback and private addresses from prefix caps (see the module doc). */
  localRangesExempt?: boolean;
  /** Rates to change. */
  limits?: Partial<ReceiveGuardLimits>;
  /** Penalty thresholds to change. */
  penaltyLimits?: Partial<PeerPenaltyLimits>;
  /** Where graylistings and bans are reported, rate-limited. */
  log?: Log;
  /**
   * Called when a source address is banned, so the node can have the kernel drop its datagrams
   * before they are read ({@link ReceiveGuard.bannedSources}).
   */
  onSourceBanned?: () => void;
}

/** Counters of a {@link ReceiveGuard}, for `rhizome status`. */
export interface ReceiveGuardStats {
  /** Datagrams refused, by reason. */
  dropped: Record<GuardDropReason, number>;
  /** Junk datagrams that earned their source a point. */
  junk: number;
  /** The penalty box. */
  penalties: PeerPenaltyStats & { graylisted: number; banned: number };
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Token buckets by key, least recently used forgotten first. */
class Buckets {
  readonly #map = new Map<string, Bucket>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  take(key: string, nowMs: number, perS: number, burst: number, cost = 1): boolean {
    let bucket = this.#map.get(key);
    if (bucket === undefined) {
      if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value!);
      bucket = { tokens: burst, atMs: nowMs };
    } else {
      this.#map.delete(key); // re-inserted below: the map's order is recency
      const elapsedMs = Math.max(0, nowMs - bucket.atMs);
      bucket.tokens = Math.min(burst, bucket.tokens + (elapsedMs * perS) / 1000);
      bucket.atMs = nowMs;
    }
    this.#map.set(key, bucket);
    if (bucket.tokens < cost) return false;
    bucket.tokens -= cost;
    return true;
  }
}

/** How the guard names the sender of a datagram. */
interface SourceKeys {
  /** The IP, or the whole address for an exempt local one. */
  source: string;
  /** The /24 or /48 prefix, or `undefined` for an exempt local address. */
  prefix: string | undefined;
}

/** Cheap admission checks in front of the secure channel, with the penalty box behind them. */
export class ReceiveGuard {
  readonly #clock: Clock;
  readonly #limits: ReceiveGuardLimits;
  readonly #localRangesExempt: boolean;
  readonly #penalties: PeerPenalties;
  readonly #packets: Buckets;
  readonly #handshakes: Buckets;
  readonly #sessions: Buckets;
  readonly #log: Log | undefined;
  readonly #dropped: Record<GuardDropReason, number>;
  #junk = 0;
  #loggedAtMs = -Infinity;
  #unloggedChanges = 0;
  readonly #onSourceBanned: (() => void) | undefined;
  /** Sources banned, by their key, oldest ban first (Map order). */
  readonly #bannedSources = new Map<string, { address: PeerAddress; wholeHost: boolean }>();

  /**
   * @param options Clock, exemption, limits, log.
   * @throws {RangeError} When a limit is not positive.
   */
  constructor(options: ReceiveGuardOptions) {
    this.#clock = options.clock;
    this.#limits = { ...receiveGuardLimitsDefault, ...options.limits };
    for (const [name, value] of Object.entries(this.#limits)) {
      if (!(value > 0)) throw new RangeError(`Cannot use limit ${name}: ${value} is not positive`);
    }
    this.#localRangesExempt = options.localRangesExempt ?? true;
    this.#penalties = new PeerPenalties(options.clock, options.penaltyLimits);
    this.#packets = new Buckets(this.#limits.guardBucketsMax);
    this.#handshakes = new Buckets(this.#limits.guardBucketsMax);
    this.#sessions = new Buckets(this.#limits.guardBucketsMax);
    this.#log = options.log;
    this.#onSourceBanned = options.onSourceBanned;
    this.#dropped = Object.fromEntries(guardDropReasons.map((reason) => [reason, 0])) as Record<
      GuardDropReason,
      number
    >;
  }

  /**
   * Decides whether a datagram may go on to the expensive work.
   *
   * @param from The address it came from.
   * @param packet What its header says it is.
   * @param identity For a DATA packet on a known session, the key of the identity that session
   *   proved (any stable text, for example the node ID in hex).
   * @returns `undefined` to admit it, else why it was refused (counted).
   */
  admit(from: PeerAddress, packet: GuardedPacket, identity?: string): GuardDropReason | undefined {
    const keys = this.#keysOf(from);
    const { source, prefix } = keys;
    const penalties = this.#penalties;
    const penalizeSource = (points: number) => this.#penalizeSource(from, keys, points);
    const refused = this.#standingRefusal(source) ??
      (identity === undefined ? undefined : this.#standingRefusal(identity)) ??
      (prefix === undefined ? undefined : this.#standingRefusal(prefix));
    if (refused !== undefined) {
      // Every refused packet earns its source a point, whoever was refused: a flooder whose
      // identity is banned and that moves to a fresh address (or port) gets that address banned
      // too, and so dropped by the kernel (`bannedSources`) instead of read and refused here.
      penalizeSource(1);
      if (refused === "graylisted" && identity !== undefined) {
        this.#report(penalties.penalize(identity, 1));
      }
      return this.#drop(refused);
    }
    const limits = this.#limits;
    const nowMs = this.#clock.nowMs();
    const perS = limits.sourcePacketsPerS;
    if (!this.#packets.take(source, nowMs, perS, 2 * perS)) {
      penalizeSource(1);
      if (identity !== undefined) this.#report(penalties.penalize(identity, 1));
      return this.#drop("sourceRate");
    }
    if (identity !== undefined) {
      const identityPerS = limits.identityPacketsPerS;
      if (!this.#packets.take(`id ${identity}`, nowMs, identityPerS, 2 * identityPerS)) {
        this.#report(penalties.penalize(identity, 1));
        penalizeSource(1);
        return this.#drop("identityRate");
      }
    }
    if (packet !== "init") return undefined;
    if (
      !this.#handshakes.take(
        source,
        nowMs,
        limits.handshakesPerSourcePerS,
        limits.handshakesPerSourceBurst,
      )
    ) {
      penalizeSource(initPenaltyPoints);
      return this.#drop("handshakeSourceRate");
    }
    if (prefix !== undefined) {
      const prefixPerS = limits.handshakesPerPrefixPerS;
      if (!this.#handshakes.take(prefix, nowMs, prefixPerS, 5 * prefixPerS)) {
        this.#report(penalties.penalize(prefix, 1));
        return this.#drop("handshakePrefixRate");
      }
    }
    const sourceMax = limits.sessionsPerSourceMax;
    if (!this.#sessions.take(source, nowMs, (sourceMax * 1000) / sessionWindowMs, sourceMax)) {
      penalizeSource(1);
      return this.#drop("sessionSourceCap");
    }
    if (prefix !== undefined) {
      const prefixMax = limits.sessionsPerPrefixMax;
      if (!this.#sessions.take(prefix, nowMs, (prefixMax * 1000) / sessionWindowMs, prefixMax)) {
        this.#report(penalties.penalize(prefix, 1));
        return this.#drop("sessionPrefixCap");
      }
    }
    return undefined;
  }

  /**
   * Notes a datagram the channel found to be junk (another protocol, malformed, naming no
   * session, failing authentication): points against its source.
   *
   * @param from The address it came from.
   * @param points One, or {@link unknownSessionPenaltyPoints} for a packet naming no session.
   */
  junk(from: PeerAddress, points = 1): void {
    this.#junk++;
    this.#penalizeSource(from, this.#keysOf(from), points);
  }

  /**
   * The sources banned now, with their addresses, oldest ban first: for a kernel filter that
   * drops their datagrams before they are read (then they no longer earn points, and the ban
   * runs its course). A remote source is its whole IP address; an exempt local one its IP and
   * port. At most {@link bannedSourcesRememberedMax}; bans that ended are forgotten here.
   *
   * @returns A fresh list.
   */
  bannedSources(): { address: PeerAddress; wholeHost: boolean }[] {
    const banned: { address: PeerAddress; wholeHost: boolean }[] = [];
    for (const [key, source] of this.#bannedSources) {
      if (this.#penalties.standing(key) === "banned") banned.push(source);
      else this.#bannedSources.delete(key);
    }
    return banned;
  }

  /**
   * Where the sender of datagrams from `from`, or an identity, stands now.
   *
   * @param key An address or an identity key as given to {@link admit}.
   * @returns Its standing; for an address, the worse of its source's and its prefix's.
   */
  standing(key: PeerAddress | string): "good" | "graylisted" | "banned" {
    if (typeof key === "string") return this.#penalties.standing(key);
    const keys = this.#keysOf(key);
    const source = this.#penalties.standing(keys.source);
    const prefix = keys.prefix === undefined ? "good" : this.#penalties.standing(keys.prefix);
    if (source === "banned" || prefix === "banned") return "banned";
    if (source === "graylisted" || prefix === "graylisted") return "graylisted";
    return "good";
  }

  /**
   * Counters, for `rhizome status`.
   *
   * @returns A fresh object.
   */
  stats(): ReceiveGuardStats {
    return { dropped: { ...this.#dropped }, junk: this.#junk, penalties: this.#penalties.stats() };
  }

  #standingRefusal(key: string): "banned" | "graylisted" | undefined {
    const standing = this.#penalties.standing(key);
    return standing === "good" ? undefined : standing;
  }

  #keysOf(from: PeerAddress): SourceKeys {
    const wire = sharedWireForm(from);
    if (this.#localRangesExempt && isLocal(wire)) return { source: from.key, prefix: undefined };
    const ip = from.host;
    if (wire.length === 6) return { source: ip, prefix: `${wire[0]}.${wire[1]}.${wire[2]}/24` };
    let prefix = "";
    for (let i = 0; i < 6; i++) prefix += wire[i].toString(16).padStart(2, "0");
    return { source: ip, prefix: `${prefix}/48` };
  }

  /** Points against a source address; a ban is remembered with its address and announced. */
  #penalizeSource(from: PeerAddress, keys: SourceKeys, points: number): void {
    const change = this.#penalties.penalize(keys.source, points);
    this.#report(change);
    if (change?.standing !== "banned") return;
    this.#bannedSources.delete(keys.source);
    if (this.#bannedSources.size >= bannedSourcesRememberedMax) {
      this.#bannedSources.delete(this.#bannedSources.keys().next().value!);
    }
    this.#bannedSources.set(keys.source, { address: from, wholeHost: keys.prefix !== undefined });
    this.#onSourceBanned?.();
  }

  #drop(reason: GuardDropReason): GuardDropReason {
    this.#dropped[reason]++;
    return reason;
  }

  #report(change: StandingChange | undefined): void {
    if (change === undefined || this.#log === undefined) return;
    this.#unloggedChanges++;
    const nowMs = this.#clock.nowMs();
    if (nowMs - this.#loggedAtMs < standingLogIntervalMs) return;
    this.#log.warning(
      "{standing} {peer} for exceeding receive limits ({changes} peers graylisted or banned " +
        "since the last such line; status: guard)",
      { standing: change.standing, peer: change.key, changes: this.#unloggedChanges },
    );
    this.#loggedAtMs = nowMs;
    this.#unloggedChanges = 0;
  }
}
