/**
 * Peers whose requests time out: which ones a lookup should no longer ask, and a rate-limited
 * summary for the log.
 *
 * The routing table forgets a contact once it fails `peerFailuresMax` requests in a row, but
 * other nodes keep naming it in their replies until they find out too. Without a memory of its
 * own, every lookup would ask the silent peer again and wait out its retries. A peer is "dead"
 * here after `peerFailuresMax` failed requests in a row with no answer since; it is forgotten
 * after {@link failedPeerForgetMs} or as soon as anything is heard from it.
 *
 * @module
 */

import type { NodeId } from "../core/node_id.ts";
import type { PeerAddress } from "../net/address.ts";

/**
 * Peers remembered at most. A node asks a few hundred peers in a busy period; past this the
 * peer whose last failure is oldest is forgotten first (it may be asked once more).
 */
export const failedPeersMax = 1024;

/**
 * How long a peer is remembered after its last failure: long enough that tables still naming it
 * have found it silent too (their liveness pings reach a suspect within minutes; at 10 minutes
 * a simulated put still waited 8 s on one of 40 silent identities), short enough that a peer
 * back from a network outage is asked again the same hour. Anything heard from it clears it.
 */
export const failedPeerForgetMs = 30 * 60_000;

/**
 * Shortest interval between two log lines about timeouts: a network outage makes every request
 * time out, and one line per request would flood the log.
 */
export const timeoutReportIntervalMs = 30_000;

/** Peers named in one log line at most. */
const reportPeersMax = 3;

interface FailedPeer {
  address: PeerAddress;
  failures: number;
  lastMs: number;
}

/** What timed out since the last report. */
export interface TimeoutReport {
  /** Requests that failed after every attempt. */
  requests: number;
  /** Distinct peers they went to. */
  peers: number;
  /** The peers with the most failures in a row (`id@address ×n`), most first. */
  worst: string[];
}

/** The failed-peer memory of one node. */
export class FailedPeers {
  readonly #failuresMax: number;
  /** Insertion order = order of last failure (re-inserted on each), oldest first. */
  readonly #peers = new Map<string, FailedPeer>();
  #sinceReport = 0;
  readonly #peersSinceReport = new Set<string>();
  #lastReportMs = -Infinity;

  /**
   * Makes an empty memory.
   *
   * @param failuresMax Failed requests in a row after which a peer is dead (the table's
   *   `peerFailuresMax`).
   */
  constructor(failuresMax: number) {
    this.#failuresMax = failuresMax;
  }

  /**
   * Records a request that failed after all its attempts.
   *
   * @param id The peer.
   * @param address Where the request went.
   * @param nowMs The time.
   */
  failed(id: NodeId, address: PeerAddress, nowMs: number): void {
    const hex = id.toHex();
    const known = this.#peers.get(hex);
    const failures = known && nowMs - known.lastMs < failedPeerForgetMs ? known.failures + 1 : 1;
    this.#peers.delete(hex);
    this.#peers.set(hex, { address, failures, lastMs: nowMs });
    if (this.#peers.size > failedPeersMax) {
      this.#peers.delete(this.#peers.keys().next().value!);
    }
    this.#sinceReport++;
    if (this.#peersSinceReport.size < failedPeersMax) this.#peersSinceReport.add(hex);
  }

  /**
   * Records that a peer said it is leaving: it is dead at once, until heard from again.
   *
   * @param id The peer.
   * @param address Where it said so from.
   * @param nowMs The time.
   */
  left(id: NodeId, address: PeerAddress, nowMs: number): void {
    const hex = id.toHex();
    this.#peers.delete(hex);
    this.#peers.set(hex, { address, failures: this.#failuresMax, lastMs: nowMs });
    if (this.#peers.size > failedPeersMax) {
      this.#peers.delete(this.#peers.keys().next().value!);
    }
  }

  /**
   * Records that a peer was heard from: it is alive again.
   *
   * @param id The peer.
   */
  heard(id: NodeId): void {
    if (this.#peers.size > 0) this.#peers.delete(id.toHex());
  }

  /**
   * Whether a lookup should skip a peer: it failed `failuresMax` requests in a row lately.
   *
   * @param id The peer.
   * @param nowMs The time.
   * @returns `true` when it is presumed dead.
   */
  isDead(id: NodeId, nowMs: number): boolean {
    if (this.#peers.size === 0) return false;
    const known = this.#peers.get(id.toHex());
    return known !== undefined && known.failures >= this.#failuresMax &&
      nowMs - known.lastMs < failedPeerForgetMs;
  }

  /**
   * What to log, at most once per {@link timeoutReportIntervalMs}: the timeouts since the last
   * report, or `undefined` when none happened or the last report is too recent.
   *
   * @param nowMs The time.
   * @returns The report, or `undefined`.
   */
  takeReport(nowMs: number): TimeoutReport | undefined {
    if (this.#sinceReport === 0 || nowMs - this.#lastReportMs < timeoutReportIntervalMs) {
      return undefined;
    }
    const worst = [...this.#peersSinceReport]
      .map((hex) => [hex, this.#peers.get(hex)] as const)
      .filter((pair): pair is readonly [string, FailedPeer] => pair[1] !== undefined)
      .sort((a, b) => b[1].failures - a[1].failures)
      .slice(0, reportPeersMax)
      .map(([hex, peer]) => `${hex.slice(0, 12)}@${peer.address} ×${peer.failures}`);
    const report = {
      requests: this.#sinceReport,
      peers: this.#peersSinceReport.size,
      worst,
    };
    this.#sinceReport = 0;
    this.#peersSinceReport.clear();
    this.#lastReportMs = nowMs;
    return report;
  }
}
