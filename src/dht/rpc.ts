/**
 * Requests and their replies: transaction IDs, timeouts adapted to each peer's measured round
 * trip, bounded resends, and a cap on requests in flight with a bounded queue behind it.
 *
 * A request whose first attempt times out is reported as stalled before it is resent: a lookup
 * then frees that request's slot for another peer (Jimenez et al.'s remedy for slow Mainline DHT
 * lookups) but still waits for its resends before it ends, and a late reply is accepted until
 * the last attempt expires.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import type { Clock } from "../core/clock.ts";
import { rpcPendingMax } from "../core/limits.ts";
import type { NodeId } from "../core/node_id.ts";
import type { Rng } from "../core/rng.ts";
import type { PeerAddress } from "../net/address.ts";
import type { Transport } from "../net/transport.ts";
import { encodeMessage, type Message, MessageType } from "./messages.ts";

/**
 * Why a request failed. `wrongIdentity`: the peer at the address proved (or, without an
 * authenticating transport, claimed) a node ID other than the one the request was pinned to.
 */
export type RpcFailure = "timeout" | "overload" | "stopped" | "wrongIdentity";

/** One request. */
export interface RpcRequest {
  /** Where to send it. */
  to: PeerAddress;
  /**
   * The node ID pinned to `to`, from wherever the contact was learned (contact URI, NODES reply,
   * saved peers): the transport reaches only that identity, and a reply from another one fails
   * the request (`wrongIdentity`).
   */
  expectedId: NodeId;
  /** Builds the message for a transaction ID. */
  build: (tx: number) => Message;
  /**
   * The peer's smoothed round trip and its variation in ms, when measured (0 when not): sets
   * the timeout.
   */
  rtt?: { rttMs: number; rttVarMs: number };
  /** The reply arrived. `attempts` counts sends; `rttMs` is set when it was the first. */
  onReply: (reply: Message, attempts: number, rttMs: number | undefined) => void;
  /**
   * No reply: every attempt timed out, the request could not be sent, or another node answered
   * at the address (`answeredAs` is then its node ID).
   */
  onFail: (reason: RpcFailure, attempts: number, answeredAs?: NodeId) => void;
  /** The first attempt timed out; the request goes on. */
  onStall?: () => void;
}

/** Timing and limits of an {@link RpcClient}. */
export interface RpcOptions {
  /**
   * Timeout of a first attempt to a peer with no measured round trip, at least: when the round
   * trips this node measures to all its peers are longer (its own queue or the network is
   * slow), their RFC 6298 timeout is used instead, up to `timeoutMsMax`.
   */
  timeoutMs: number;
  /** Longest timeout of any attempt. */
  timeoutMsMax: number;
  /** Resends after the first attempt. */
  retriesMax: number;
  /** Requests in flight at once. */
  inflightMax: number;
  /**
   * The latest time before which every datagram that reached our socket has been handled (the
   * driver's `ReceiveProbe.clearedMs`). A timed-out attempt is resent or failed only once this
   * passes its deadline, so a reply still waiting in our own receive queue is not taken for lost;
   * the wait is bounded by `localQueueWaitMsMax`. The stall is still reported at the deadline.
   * Absent: the queue is always clear (the simulator).
   */
  localQueueClearedMs?: () => number;
  /**
   * Longest wait for the receive queue past an attempt's deadline.
   *
   * @default {@link localQueueWaitMsMax}
   */
  localQueueWaitMsMax?: number;
}

/** Counters for metrics and tests. */
export interface RpcStats {
  /** Datagrams sent for requests, resends included. */
  sent: number;
  /** Resends. */
  retries: number;
  /** Timeouts held while our own receive queue was behind (the reply may be waiting there). */
  postponed: number;
  /** Requests that failed after every attempt. */
  timeouts: number;
  /** Requests refused because the queue was full. */
  overloaded: number;
  /** Replies matched to a request. */
  replies: number;
  /** Replies matching no request (late, duplicated, spoofed or unsolicited). */
  unmatched: number;
  /**
   * Requests failed because the peer at the address is another node than the contact named:
   * the contact is dropped (a NODES entry or a bootstrap URI with a key not its own).
   */
  wrongIdentity: number;
}

interface Pending {
  tx: number;
  request: RpcRequest;
  bytes: Uint8Array;
  type: number;
  attempts: number;
  firstSentMs: number;
  deadlineMs: number;
  /** The attempt's own deadline while the decision waits for our receive queue. */
  dueMs: number | undefined;
  /** Whether the stall was reported while the first attempt's timeout waited. */
  stalled: boolean;
}

/**
 * Shortest timeout ever used: below this, a loaded peer's scheduling noise looks like loss. A
 * busy node's replies can take hundreds of ms even on loopback (100 nodes on 2 cores: nearly all
 * resends at a 50 ms floor were answered by the first attempt's late reply, adding load that
 * slowed replies further). A lost datagram or a dead peer now stalls a lookup's slot 250 ms
 * before another candidate is asked, instead of 50.
 */
const timeoutMsMin = 250;

/**
 * Longest a timed-out attempt waits for our own receive queue to be handled past its deadline
 * before it is resent or failed anyway. While the queue is behind, the reply may be sitting in
 * it, and a resend would only add to the queue (its reply lands behind the same backlog): with
 * hundreds of nodes on one event loop, queues seconds deep made resends most of the traffic
 * (60% of requests sent at 400 nodes, with a 4 s bound) and collapsed the network. The receive
 * probe says when the queue has been handled; this bound only covers probes lost with a full
 * socket buffer (a new probe goes every 5 s). 30 s is three lookup budgets: a request held that
 * long no longer matters to the lookup that sent it, only its slot does. At the limit: the
 * attempt is resent or failed as if the queue were clear.
 */
export const localQueueWaitMsMax = 30_000;

/**
 * How often a timed-out attempt checks again whether our receive queue has been handled past its
 * deadline: often enough that a cleared queue costs little more, rarely enough to stay cheap.
 */
const localQueueRecheckMs = 20;

const replyTypeOf: Record<number, readonly number[]> = {
  [MessageType.ping]: [MessageType.pong],
  [MessageType.findNode]: [MessageType.nodes],
  [MessageType.findValue]: [MessageType.nodes, MessageType.value, MessageType.valueRef],
  [MessageType.store]: [MessageType.stored],
};

/** Sends requests and matches replies for one node. */
export class RpcClient {
  readonly #clock: Clock;
  readonly #transport: Transport;
  readonly #rng: Rng;
  #options: RpcOptions;
  #stopped = false;
  readonly #inflight = new Map<number, Pending>();
  readonly #queue: RpcRequest[] = [];
  /** Requests refused at submission; failed on the next tick so callers never re-enter. */
  readonly #refused: RpcRequest[] = [];
  #nextDeadlineMs = Infinity;
  /**
   * Smoothed round trip and its variation over every peer's first-attempt replies: the timeout
   * for a peer not yet measured. Under load (ours or the network's) replies come late from
   * everyone, and a fixed first timeout below that resends work that was merely waiting.
   */
  readonly #anyPeerRtt = { rttMs: 0, rttVarMs: 0 };
  /** What the client has sent, retried, postponed and given up on, for the node's status. */
  readonly stats: RpcStats = {
    sent: 0,
    retries: 0,
    postponed: 0,
    timeouts: 0,
    overloaded: 0,
    replies: 0,
    unmatched: 0,
    wrongIdentity: 0,
  };

  /**
   * Makes a client.
   *
   * @param clock Time.
   * @param transport Where datagrams go.
   * @param rng Source of transaction IDs.
   * @param options Timing and limits.
   */
  constructor(clock: Clock, transport: Transport, rng: Rng, options: RpcOptions) {
    assert(options.inflightMax >= 1, "inflightMax must be at least 1");
    this.#clock = clock;
    this.#transport = transport;
    this.#rng = rng;
    this.#options = options;
  }

  /**
   * Requests in flight.
   *
   * @returns The count.
   */
  get inflight(): number {
    return this.#inflight.size;
  }

  /**
   * Changes the cap on requests in flight (the node changed type). Requests already in flight
   * finish; new ones wait in the queue until there is room under the new cap.
   *
   * @param inflightMax The new cap, at least 1.
   */
  setInflightMax(inflightMax: number): void {
    assert(inflightMax >= 1, "inflightMax must be at least 1");
    this.#options = { ...this.#options, inflightMax };
    this.#drainQueue();
  }

  /**
   * Sends a request now, or queues it while `inflightMax` requests are in flight. Callbacks
   * never run inside this call.
   *
   * @param request The request.
   */
  request(request: RpcRequest): void {
    // After stop() nothing ticks any more: a request would wait forever, so it fails at once.
    if (this.#stopped) return request.onFail("stopped", 0);
    if (this.#inflight.size < this.#options.inflightMax) {
      this.#send(request);
    } else if (this.#queue.length < rpcPendingMax) {
      this.#queue.push(request);
    } else {
      this.stats.overloaded++;
      this.#refused.push(request);
      this.#nextDeadlineMs = this.#clock.nowMs();
    }
  }

  /**
   * Matches a reply to its request: same transaction, from the address the request went to,
   * from the expected ID, of a type that answers the request.
   *
   * @param reply A decoded reply.
   * @param from The address it came from.
   * @returns Whether it answered a pending request (then `onReply` ran).
   */
  handleReply(reply: Message, from: PeerAddress): boolean {
    const pending = this.#inflight.get(reply.tx);
    if (
      !pending || !pending.request.to.equals(from) ||
      !replyTypeOf[pending.type]?.includes(reply.type)
    ) {
      this.stats.unmatched++;
      return false;
    }
    if (!pending.request.expectedId.equals(reply.sender)) {
      // Without an authenticating transport (the simulator) this is where a contact's pinned
      // identity is checked; the secure channel reports the same through refuseIdentity.
      this.#refuse(pending, reply.sender);
      this.#drainQueue();
      return false;
    }
    this.#inflight.delete(reply.tx);
    this.stats.replies++;
    const rttMs = pending.attempts === 1 ? this.#clock.nowMs() - pending.firstSentMs : undefined;
    if (rttMs !== undefined) this.#recordAnyPeerRtt(rttMs);
    pending.request.onReply(reply, pending.attempts, rttMs);
    this.#drainQueue();
    return true;
  }

  /**
   * Another node proved its identity at `to` than the one requests to it were pinned to (the
   * secure channel's handshake found out): those requests fail at once (`wrongIdentity`)
   * instead of waiting out their resends.
   *
   * @param to The address.
   * @param expectedId The node ID the requests were pinned to.
   * @param actualId The node ID that answered there.
   */
  refuseIdentity(to: PeerAddress, expectedId: NodeId, actualId: NodeId): void {
    if (expectedId.equals(actualId)) return;
    for (const pending of [...this.#inflight.values()]) {
      if (
        this.#inflight.has(pending.tx) && pending.request.to.equals(to) &&
        pending.request.expectedId.equals(expectedId)
      ) {
        this.#refuse(pending, actualId);
      }
    }
    this.#drainQueue();
    this.#recomputeDeadline();
  }

  #refuse(pending: Pending, actualId: NodeId): void {
    this.#inflight.delete(pending.tx);
    this.stats.wrongIdentity++;
    pending.request.onFail("wrongIdentity", pending.attempts, actualId);
  }

  /**
   * Resends and fails what is due.
   */
  tick(): void {
    const nowMs = this.#clock.nowMs();
    if (nowMs < this.#nextDeadlineMs) return;
    for (const request of this.#refused.splice(0)) request.onFail("overload", 0);
    for (const pending of [...this.#inflight.values()]) {
      if (pending.deadlineMs > nowMs || !this.#inflight.has(pending.tx)) continue;
      if (this.#waitsForLocalQueue(pending, nowMs)) continue;
      if (pending.attempts <= this.#options.retriesMax) {
        if (pending.attempts === 1 && !pending.stalled) pending.request.onStall?.();
        pending.attempts++;
        pending.deadlineMs = nowMs + this.#timeoutOf(pending.request, pending.attempts);
        this.stats.retries++;
        this.stats.sent++;
        this.#transport.send(pending.request.to, pending.bytes, pending.request.expectedId);
      } else {
        this.#inflight.delete(pending.tx);
        this.stats.timeouts++;
        pending.request.onFail("timeout", pending.attempts);
      }
    }
    this.#drainQueue();
    this.#recomputeDeadline();
  }

  /**
   * When {@link tick} next has something to do.
   *
   * @returns A time in ms, or `Infinity`.
   */
  nextDeadlineMs(): number {
    return this.#nextDeadlineMs;
  }

  /** Fails every queued and in-flight request ("stopped"). */
  stop(): void {
    this.#stopped = true;
    const failing = [...this.#refused.splice(0), ...this.#queue.splice(0)];
    const inflight = [...this.#inflight.values()];
    this.#inflight.clear();
    this.#nextDeadlineMs = Infinity;
    for (const request of failing) request.onFail("stopped", 0);
    for (const pending of inflight) pending.request.onFail("stopped", pending.attempts);
  }

  #send(request: RpcRequest): void {
    let tx = this.#rng.nextUint32();
    while (this.#inflight.has(tx)) tx = this.#rng.nextUint32();
    const message = request.build(tx);
    const nowMs = this.#clock.nowMs();
    const pending: Pending = {
      tx,
      request,
      bytes: encodeMessage(message),
      type: message.type,
      attempts: 1,
      firstSentMs: nowMs,
      deadlineMs: nowMs + this.#timeoutOf(request, 1),
      dueMs: undefined,
      stalled: false,
    };
    this.#inflight.set(tx, pending);
    this.#nextDeadlineMs = Math.min(this.#nextDeadlineMs, pending.deadlineMs);
    this.stats.sent++;
    this.#transport.send(request.to, pending.bytes, request.expectedId);
  }

  /**
   * Whether a timed-out attempt must wait because its reply may still be in our own receive
   * queue; if so its deadline becomes the next check (at most `localQueueWaitMsMax` past the
   * due time).
   */
  #waitsForLocalQueue(pending: Pending, nowMs: number): boolean {
    const clearedMs = this.#options.localQueueClearedMs;
    if (clearedMs === undefined) return false;
    if (pending.dueMs === undefined) {
      pending.dueMs = pending.deadlineMs;
      this.stats.postponed++;
    }
    const waitEndMs = pending.dueMs +
      (this.#options.localQueueWaitMsMax ?? localQueueWaitMsMax);
    if (nowMs >= waitEndMs || clearedMs() >= pending.dueMs) {
      pending.dueMs = undefined;
      return false;
    }
    if (pending.attempts === 1 && !pending.stalled) {
      // Reported at the attempt's own deadline: a lookup may ask another peer meanwhile; only
      // the resend and the failure wait.
      pending.stalled = true;
      pending.request.onStall?.();
    }
    pending.deadlineMs = Math.min(waitEndMs, nowMs + localQueueRecheckMs);
    return true;
  }

  /**
   * The round trip to this node's peers as a whole, for the timeout of a peer not yet measured.
   *
   * @returns The smoothed round trip and its variation in ms (0 before the first reply).
   */
  anyPeerRtt(): { rttMs: number; rttVarMs: number } {
    return { ...this.#anyPeerRtt };
  }

  /** RFC 6298's smoothing (Karn: first attempts only, which the caller ensures). */
  #recordAnyPeerRtt(sampleMs: number): void {
    const rtt = this.#anyPeerRtt;
    if (rtt.rttMs === 0) {
      rtt.rttMs = Math.max(1, sampleMs);
      rtt.rttVarMs = sampleMs / 2;
      return;
    }
    rtt.rttVarMs = 0.75 * rtt.rttVarMs + 0.25 * Math.abs(rtt.rttMs - sampleMs);
    rtt.rttMs = 0.875 * rtt.rttMs + 0.125 * sampleMs;
  }

  /**
   * RFC 6298's RTO (smoothed RTT + 4 × variation) when measured, doubled on each resend. A peer
   * not yet measured gets `timeoutMs`, or the RTO over all peers when that is longer.
   */
  #timeoutOf(request: RpcRequest, attempt: number): number {
    const rtt = request.rtt;
    const any = this.#anyPeerRtt;
    const base = rtt && rtt.rttMs > 0
      ? Math.max(timeoutMsMin, rtt.rttMs + 4 * rtt.rttVarMs, rtt.rttMs * 1.5)
      : Math.max(this.#options.timeoutMs, any.rttMs + 4 * any.rttVarMs);
    return Math.min(this.#options.timeoutMsMax, base * 2 ** (attempt - 1));
  }

  #drainQueue(): void {
    while (this.#queue.length > 0 && this.#inflight.size < this.#options.inflightMax) {
      this.#send(this.#queue.shift()!);
    }
  }

  #recomputeDeadline(): void {
    let next = this.#refused.length > 0 ? this.#clock.nowMs() : Infinity;
    for (const pending of this.#inflight.values()) next = Math.min(next, pending.deadlineMs);
    this.#nextDeadlineMs = next;
  }
}
