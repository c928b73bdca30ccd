/**
 * The popularity service as a running node drives it: what the DHT serves is attributed to the
 * thread it belongs to (a thread's document, its index pages, its stats and popular sets, the
 * votes and replies on it) and counted at this node, a holder; the node's own reads of records it
 * holds count too (they never reach the network). A seed publishes its ranking every
 * `ranking_period_s`, signed, as its `ranking` record; readers combine the rankings of the seeds
 * the seeds index names by median rank, and fall back to this node's own ranking.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { Config } from "../core/config_schema.ts";
import type { Identity } from "../core/identity.ts";
import type { Log } from "../core/log.ts";
import { NodeId } from "../core/node_id.ts";
import { docOfRecord } from "../content/documents.ts";
import { addressOfSet, liveEntries, seedsIndex } from "../content/key_schema.ts";
import { decodeRanking, RANKING_NAME, signRanking } from "../content/ranking_records.ts";
import {
  decodeStoredRecord,
  type DhtRecord,
  mutableKey,
  RecordKind,
  signMutable,
} from "../content/records.ts";
import { encodeRanking } from "../content/ranking_records.ts";
import {
  decodeReport,
  encodeReport,
  REPORT_NAME,
  reportItemsMax,
} from "../content/popularity_reports.ts";
import { pooledMap } from "../core/pool.ts";
import type { DhtObserver } from "../dht/mod.ts";
import type { RecordNetwork } from "../services/discussion/mod.ts";
import {
  combineRankings,
  explainScore,
  type HolderReport,
  type KeyPopularity,
  mergeReports,
  PopularityService,
  popularitySettingsOf,
  type RankingRecord,
  rankingRecordsMax,
  type ScoreExplained,
} from "../services/popularity/mod.ts";
import type { ValueStore } from "../store/value_store.ts";

/**
 * Keys whose thread is remembered (the key → thread attribution): a held record is decoded once
 * to learn its thread, not at every read. Beyond this the oldest attribution is forgotten and
 * decoded again when read.
 */
export const attributionsMax = 4096;

/**
 * How long a combined global ranking is reused, in ms (at most half a ranking period): pages of one
 * listing read one ranking, and the seeds publish once per `ranking_period_s` anyway.
 */
export const globalRankingReuseMs = 30_000;

/**
 * Peers whose public keys a node remembers (learnt from the secure channel's handshakes), the
 * most recently heard first: a seed reads the reports of up to {@link reportsReadMax} of them.
 */
export const peerKeysMax = 1024;

/**
 * Holders' reports a seed reads per ranking period: the peers it heard from most recently. With
 * k-fold replication, a record's holders are among many peers, and each holder's report lists
 * its most popular records; 64 reads of at most 20 KB each is a bounded cost per period.
 */
export const reportsReadMax = 64;

/** Reports a seed reads at once. */
const reportReadsInFlightMax = 8;

/** Set kinds whose name starts with the thread they belong to. */
const threadSetKinds = new Set(["threadIndex", "threadPopular", "threadStats", "votes", "refs"]);

/** A thread in a ranking, with its score and, from the local ranking, its parts. */
export interface RankedThread {
  /** The thread. */
  id: NodeId;
  /** Its score. */
  score: number;
  /** The score's parts (points per metric); local ranking only. */
  explain?: Record<string, number>;
}

/** What {@link NodePopularity} is built from. */
export interface NodePopularityOptions {
  /** The configuration. */
  config: Config;
  /** The clock. */
  clock: Clock;
  /** The node's identity (it signs a seed's ranking). */
  identity: Identity;
  /** The node's store (attribution reads held records). */
  store: ValueStore;
  /** A 32-bit secret salt. */
  salt: number;
  /** Where to log. */
  log: Log;
}

/** The popularity service of a running node. */
export class NodePopularity {
  /** The sans-I/O service. */
  readonly service: PopularityService;
  readonly #options: NodePopularityOptions;
  /** Key (hex) → the thread it counts for (`null`: none), least recently used first. */
  readonly #threadOf = new Map<string, NodeId | null>();
  #global: { atMs: number; ranking: RankedThread[] } | undefined;
  /** Peer node ID (hex) → its public key, least recently heard first. */
  readonly #peerKeys = new Map<string, Uint8Array>();

  /**
   * Makes the node's popularity service.
   *
   * @param options Configuration, clock, identity, store, salt and log.
   */
  constructor(options: NodePopularityOptions) {
    this.#options = options;
    const { config } = options;
    this.service = new PopularityService({
      settings: popularitySettingsOf(config.popularity),
      clock: options.clock,
      salt: options.salt,
      localRangesExempt: config.dht.local_ranges_exempt,
      lifetimes: {
        popular_ttl_s: config.store.popular.ttl_s,
        normal_ttl_s: config.store.normal.ttl_s,
      },
      k: config.dht.k,
    });
    this.#observer = this.#makeObserver();
  }

  /**
   * The DHT observer: a read served counts for the key and, when the key belongs to a thread
   * (its index, stats, votes, replies), for the thread too.
   *
   * @returns The observer.
   */
  observer(): DhtObserver {
    return this.#observer;
  }

  /** The observer the DHT calls: made once, after the service. */
  readonly #observer: DhtObserver;

  #makeObserver(): DhtObserver {
    const inner = this.service.observer();
    return {
      served: (read) => {
        inner.served(read);
        const thread = this.#threadFor(read.key);
        if (thread !== undefined && !thread.equals(read.key)) {
          inner.served({ ...read, key: thread });
        }
      },
      pushed: inner.pushed,
    };
  }

  /**
   * This node read a record it holds (such reads never reach the network): it counts as one
   * requester, this node, at this holder.
   *
   * @param key The record read.
   * @param self This node's ID.
   */
  noteLocalRead(key: NodeId, self: NodeId): void {
    if (this.#options.store.get(key) === undefined) return;
    this.#observer.served({ key, requester: self, address: undefined, nowMs: this.#nowMs() });
  }

  /**
   * A thread was shown: its message and vote counts are its engagement.
   *
   * @param thread The thread.
   * @param counts Messages and votes (up plus down).
   */
  noteThreadShown(thread: NodeId, counts: { replies: number; votes: number }): void {
    this.service.tracker.noteEngagement(thread, counts, this.#nowMs());
  }

  /**
   * One key's popularity, or `undefined` when this node tracks no reads of it.
   *
   * @param key The key.
   * @returns Its popularity.
   */
  popularityOf(key: NodeId): KeyPopularity | undefined {
    this.#noteCreated(key);
    return this.service.popularityOf(key);
  }

  /**
   * This node's ranking of the threads it tracks, highest first.
   *
   * @returns The ranked threads with their score parts.
   */
  localRanking(): RankedThread[] {
    for (const metrics of this.service.tracker.allMetrics(this.#nowMs())) {
      if (metrics.created_ms === null) this.#noteCreated(NodeId.fromHex(metrics.key));
    }
    return this.service.localRanking((key) => this.#isThread(key))
      .map(({ key, explained }) => ({
        id: key,
        score: round3(explained.score),
        explain: pointsOf(explained),
      }));
  }

  /**
   * The global ranking: the rankings of up to `rankingRecordsMax` seeds the seeds index names,
   * combined by median rank; empty when no seed has published one. Reused for
   * {@link globalRankingReuseMs}.
   *
   * @param network Where records come from.
   * @returns The ranked threads (scores: the median of the seeds'), and how many seeds spoke.
   */
  async globalRanking(network: RecordNetwork): Promise<{ threads: RankedThread[]; seeds: number }> {
    const nowMs = this.#nowMs();
    const reuseMs = Math.min(
      globalRankingReuseMs,
      (this.#options.config.popularity.ranking_period_s * 1000) / 2,
    );
    if (this.#global && nowMs - this.#global.atMs < reuseMs) {
      return { threads: this.#global.ranking, seeds: -1 };
    }
    const index = await network.fetch(seedsIndex().key).catch(() => undefined);
    if (index === undefined || index.kind !== RecordKind.set) return { threads: [], seeds: 0 };
    const writers = liveEntries(index, "seeds", Math.floor(nowMs / 1000))
      .map((entry) => entry.writer).slice(0, rankingRecordsMax);
    const records = await Promise.all(
      writers.map((writer) =>
        network.fetch(mutableKey(writer, RANKING_NAME)).then(rankingOf, () => undefined)
      ),
    );
    const found = records.filter((record) => record !== undefined);
    const ranking = combineRankings(found).map((item) => ({
      id: item.key,
      score: round3(item.score),
    }));
    // An empty ranking is not kept: the first seed's record is read as soon as it exists.
    this.#global = ranking.length > 0 ? { atMs: nowMs, ranking } : undefined;
    return { threads: ranking, seeds: found.length };
  }

  /**
   * Remembers a peer's public key, as its secure session proved it.
   *
   * @param peer The peer's node ID.
   * @param publicKey Its Ed25519 public key.
   */
  notePeerKey(peer: NodeId, publicKey: Uint8Array): void {
    const hex = peer.toHex();
    if (this.#peerKeys.has(hex)) this.#peerKeys.delete(hex);
    else if (this.#peerKeys.size >= peerKeysMax) {
      this.#peerKeys.delete(this.#peerKeys.keys().next().value!);
    }
    this.#peerKeys.set(hex, publicKey);
  }

  /**
   * This node's report for the seeds: its most popular threads (at most `reportItemsMax`) with
   * their counters and sketches, as its `report` mutable record.
   *
   * @returns The record, or `undefined` when it tracks no thread.
   */
  reportRecord(): DhtRecord | undefined {
    const report = this.#holderReport();
    if (report.items.length === 0) return undefined;
    const nowMs = this.#nowMs();
    const payload = encodeReport({ atMs: nowMs, items: report.items });
    return signMutable(this.#options.identity.keyPair, REPORT_NAME, nowMs, payload);
  }

  /**
   * A seed's ranking record: the reports of the peers it heard from most recently (at most
   * {@link reportsReadMax}) and its own, merged (`mergeReports`), scored, signed, as its
   * `ranking` mutable record.
   *
   * @param network Where the reports are read.
   * @returns The record, or `undefined` when nothing is ranked yet.
   */
  async rankingRecord(network: RecordNetwork): Promise<DhtRecord | undefined> {
    const owners = [...this.#peerKeys.values()].reverse().slice(0, reportsReadMax);
    const read = await pooledMap(owners, reportReadsInFlightMax, async (owner) => {
      const record = await network.fetch(mutableKey(owner, REPORT_NAME)).catch(() => undefined);
      if (record === undefined || record.kind !== RecordKind.mutable) return undefined;
      const report = decodeReport(record.payload);
      if (typeof report === "string") return undefined;
      const holder: HolderReport = { holder: NodeId.fromPublicKey(owner), items: report.items };
      return holder;
    });
    const reports = [this.#holderReport(), ...read.filter((report) => report !== undefined)];
    const nowMs = this.#nowMs();
    const { settings } = this.service;
    const items = mergeReports(reports)
      .map((metrics) => ({
        key: NodeId.fromHex(metrics.key),
        score: explainScore(metrics, settings, nowMs).score,
      }))
      .filter((item) => item.score > 0)
      .sort((a, b) => b.score - a.score || a.key.compare(b.key));
    if (items.length === 0) return undefined;
    const { keyPair } = this.#options.identity;
    const payload = encodeRanking(signRanking(keyPair, items, nowMs));
    return signMutable(keyPair, RANKING_NAME, nowMs, payload);
  }

  /** This node's own report: its local ranking's threads with their counters and sketches. */
  #holderReport(): HolderReport {
    const nowMs = this.#nowMs();
    const items = this.localRanking().slice(0, reportItemsMax).flatMap((thread) => {
      const metrics = this.service.tracker.metricsOf(thread.id, nowMs);
      const sketches = this.service.tracker.sketchesOf(thread.id);
      return metrics && sketches ? [{ metrics, ...sketches }] : [];
    });
    return { holder: this.#options.identity.nodeId, items };
  }

  #nowMs(): number {
    return this.#options.clock.nowMs();
  }

  /** Notes a tracked key's creation time from its held document, when it is one. */
  #noteCreated(key: NodeId): void {
    const record = this.#heldRecord(key);
    const doc = record && safely(() => docOfRecord(record));
    if (doc) this.service.tracker.noteCreated(key, doc.createdMs);
  }

  /** Whether the key is a thread this node holds. */
  #isThread(key: NodeId): boolean {
    const record = this.#heldRecord(key);
    return record !== undefined && safely(() => docOfRecord(record))?.type === "thread";
  }

  /** The thread a held record counts for, remembered; `undefined` for none. */
  #threadFor(key: NodeId): NodeId | undefined {
    const hex = key.toHex();
    const known = this.#threadOf.get(hex);
    if (known !== undefined) {
      this.#threadOf.delete(hex);
      this.#threadOf.set(hex, known);
      return known ?? undefined;
    }
    const record = this.#heldRecord(key);
    const thread = record === undefined ? null : threadOfRecord(key, record);
    if (this.#threadOf.size >= attributionsMax) {
      this.#threadOf.delete(this.#threadOf.keys().next().value!);
    }
    this.#threadOf.set(hex, thread);
    return thread ?? undefined;
  }

  #heldRecord(key: NodeId): DhtRecord | undefined {
    const held = this.#options.store.get(key);
    return held && safely(() => decodeStoredRecord(held.value));
  }
}

/** The thread a record belongs to: a thread itself, a message's thread, a thread's index sets. */
function threadOfRecord(key: NodeId, record: DhtRecord): NodeId | null {
  if (record.kind === RecordKind.set) {
    const address = safely(() => addressOfSet(record));
    if (address === undefined || !threadSetKinds.has(address.kind)) return null;
    return NodeId.fromBytesAt(address.name, 1);
  }
  const doc = safely(() => docOfRecord(record));
  if (doc?.type === "thread") return key;
  if (doc?.type === "message") return doc.thread;
  return null;
}

/** A mutable `ranking` record's ranking (the DHT already checked it by the content rules). */
function rankingOf(record: DhtRecord | undefined): RankingRecord | undefined {
  if (record === undefined || record.kind !== RecordKind.mutable) return undefined;
  const ranking = decodeRanking(record.payload);
  return typeof ranking === "string" ? undefined : ranking;
}

/** The points of each part of a score. */
function pointsOf(explained: ScoreExplained): Record<string, number> {
  return Object.fromEntries(
    Object.entries(explained.parts).map(([name, part]) => [name, round3(part.points)]),
  );
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** `compute()`, or `undefined` when it throws (bytes held here were checked once; never trusted twice). */
function safely<T>(compute: () => T): T | undefined {
  try {
    return compute();
  } catch {
    return undefined;
  }
}
