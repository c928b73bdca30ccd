/**
 * Token buckets on incoming requests: one per peer address and one for all peers together, so
 * neither a single flooding peer nor a crowd can take the node's whole time. Replies to this
 * node's own requests are never limited (they were asked for). Time comes from the injected clock.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";

/**
 * Peers whose buckets are remembered. A peer forgotten starts again with a full bucket, which
 * costs at most one burst; beyond this many peers the least recently heard is forgotten.
 */
export const peerBucketsMax = 10_000;

/** Rates and bursts. */
export interface RequestLimits {
  /** Sustained requests per second from one peer address. */
  peerRequestsPerS: number;
  /** Requests one peer may send at once after being quiet. */
  peerRequestsBurst: number;
  /** Sustained requests per second from all peers together. */
  requestsPerS: number;
  /** Requests all peers may send at once. */
  requestsBurst: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Admits or refuses incoming requests. */
export class RequestLimiter {
  readonly #clock: Clock;
  readonly #limits: RequestLimits;
  readonly #peers = new Map<string, Bucket>();
  readonly #global: Bucket;

  /**
   * @param clock The only source of time.
   * @param limits Rates and bursts.
   */
  constructor(clock: Clock, limits: RequestLimits) {
    this.#clock = clock;
    this.#limits = limits;
    this.#global = { tokens: limits.requestsBurst, atMs: clock.nowMs() };
  }

  /**
   * Takes a token for a request from `from`, if both its bucket and the global one have one.
   *
   * @param from Who the peer is: its node ID (hex) when authenticated, else its address key.
   * @returns `"ok"`, or which limit refused it (then no token is taken from either bucket).
   */
  admit(from: string): "ok" | "peer" | "global" {
    const nowMs = this.#clock.nowMs();
    const limits = this.#limits;
    let peer = this.#peers.get(from);
    if (peer) {
      this.#peers.delete(from); // re-inserted below: the map's order is recency
    } else {
      peer = { tokens: limits.peerRequestsBurst, atMs: nowMs };
      if (this.#peers.size >= peerBucketsMax) {
        this.#peers.delete(this.#peers.keys().next().value!);
      }
    }
    this.#peers.set(from, peer);
    refill(peer, nowMs, limits.peerRequestsPerS, limits.peerRequestsBurst);
    refill(this.#global, nowMs, limits.requestsPerS, limits.requestsBurst);
    if (peer.tokens < 1) return "peer";
    if (this.#global.tokens < 1) return "global";
    peer.tokens--;
    this.#global.tokens--;
    return "ok";
  }
}

function refill(bucket: Bucket, nowMs: number, perS: number, burst: number): void {
  const elapsedMs = Math.max(0, nowMs - bucket.atMs);
  bucket.tokens = Math.min(burst, bucket.tokens + (elapsedMs * perS) / 1000);
  bucket.atMs = nowMs;
}
