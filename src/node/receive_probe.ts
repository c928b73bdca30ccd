/**
 * Tells a reply waiting in our own receive queue from a lost one.
 *
 * A datagram that reached our socket is handled only when the event loop gets to it. When the
 * node is busy (a burst of handshakes, a saturated core, hundreds of nodes in one test process)
 * replies wait in the socket's queue, sometimes for seconds, while the timers that would call
 * them lost fire on time: the node then resends work that merely waited, adding to the queue it
 * is behind on. Timer lateness does not show this: a loop that takes one datagram per socket per
 * turn comes back to its timers quickly while a socket's queue is hundreds deep.
 *
 * So the node asks its own socket: a probe is a small datagram sent to our own address. Sockets
 * queue in order, so once it comes back every datagram that arrived before it was sent has been
 * handled: {@link ReceiveProbe.clearedMs} is then its send time. The RPC layer and the secure
 * channel decide a timeout only once the queue is cleared past the deadline (bounded; see
 * `RpcOptions.localQueueClearedMs`). Probes go only when a deadline asks: one at a time, or one
 * more every {@link probeLostMs} while the queue is that far behind.
 *
 * @module
 */

import { bytesEqual } from "../core/bytes.ts";
import { PeerAddress } from "../net/address.ts";

/**
 * How long a probe may stay out before the next question sends another beside it (a full socket
 * buffer drops probes like any datagram). Five seconds is above any timeout the probe delays
 * (`rpc_timeout_ms_max`, 4 s) and well under the callers' own bound on the wait (30 s,
 * `localQueueWaitMsMax`), so a lost probe delays a decision by at most this much.
 */
export const probeLostMs = 5_000;

/**
 * Probes out at once. A late one still proves how far the queue was handled when it returns, so a
 * few are kept; at the limit the newest is given up (`lost`) for the new one: the oldest, if it
 * was not dropped, is the first to come back, and giving it up instead would leave a queue more
 * than `probesOutstandingMax × probeLostMs` behind with no probe that can ever report progress.
 * Sockets keep order, so when a probe returns, every older one still out was dropped and is
 * given up too.
 */
export const probesOutstandingMax = 4;

/** Random bytes that mark this node's probes: an outsider cannot forge one (2^-128). */
const probeTokenBytes = 16;

/**
 * Where a socket reaches itself: its bound address, with a wildcard host (`0.0.0.0`, `[::]`)
 * replaced by loopback of the same family.
 *
 * @param bound The socket's bound address, as `UdpTransport.address` gives it.
 * @returns The address to send probes to.
 */
export function probeAddress(bound: PeerAddress): PeerAddress {
  const { host, port } = bound;
  if (host === "0.0.0.0") return PeerAddress.of("127.0.0.1", port)!;
  if (host === "::") return PeerAddress.of("::1", port)!;
  return bound;
}

/** Counters, for status and benchmarks. */
export interface ReceiveProbeStats {
  /** Probes sent. */
  sent: number;
  /** Probes that came back. */
  returned: number;
  /** Probes given up: dropped (a newer one came back first) or pushed out by newer ones. */
  lost: number;
  /** The longest a returned probe waited, in ms: the deepest local queue seen. */
  delayMsMax: number;
}

/** One socket's probe; the driver hands it every datagram first ({@link take}). */
export class ReceiveProbe {
  readonly #send: (bytes: Uint8Array) => void;
  readonly #nowMs: () => number;
  readonly #token: Uint8Array;
  #sequence = 0;
  /** Send times of the probes out, by sequence number, oldest first. */
  readonly #outstanding = new Map<number, number>();
  #lastSentMs = -Infinity;
  #clearedMs = -Infinity;
  readonly #stats: ReceiveProbeStats = { sent: 0, returned: 0, lost: 0, delayMsMax: 0 };

  /**
   * Makes a probe for one socket.
   *
   * @param send Sends a datagram to this socket's own address.
   * @param nowMs The clock the callers' deadlines use.
   * @param randomBytes A CSPRNG, for the token.
   */
  constructor(
    send: (bytes: Uint8Array) => void,
    nowMs: () => number,
    randomBytes: (byteLength: number) => Uint8Array,
  ) {
    this.#send = send;
    this.#nowMs = nowMs;
    this.#token = randomBytes(probeTokenBytes).slice();
  }

  /**
   * The latest time before which every datagram that reached the socket has been handled. Sends
   * a probe when none is out, so a later call can answer for a later time.
   *
   * @returns A time of the `nowMs` clock, `-Infinity` before the first probe returned.
   */
  clearedMs(): number {
    const nowMs = this.#nowMs();
    if (this.#outstanding.size === 0 || nowMs - this.#lastSentMs >= probeLostMs) {
      if (this.#outstanding.size >= probesOutstandingMax) {
        this.#outstanding.delete([...this.#outstanding.keys()].at(-1)!);
        this.#stats.lost++;
      }
      this.#sequence = (this.#sequence + 1) >>> 0;
      this.#outstanding.set(this.#sequence, nowMs);
      this.#lastSentMs = nowMs;
      const bytes = new Uint8Array(probeTokenBytes + 4);
      bytes.set(this.#token);
      new DataView(bytes.buffer).setUint32(probeTokenBytes, this.#sequence);
      this.#stats.sent++;
      this.#send(bytes);
    }
    return this.#clearedMs;
  }

  /**
   * Whether a datagram is one of our probes, without consuming it: the receive path's classifier
   * asks first, so a probe is queued as a reply (it must wait behind the replies that reached the
   * socket before it, and only those) instead of being refused as junk from our own address.
   *
   * @param bytes A datagram as received.
   * @returns `true` for a probe of this node's.
   */
  owns(bytes: Uint8Array): boolean {
    return bytes.length === probeTokenBytes + 4 &&
      bytesEqual(bytes.subarray(0, probeTokenBytes), this.#token);
  }

  /**
   * Whether a datagram is one of our probes; if so it is consumed here.
   *
   * @param bytes A datagram as received.
   * @returns `true` for a probe (the caller drops it), `false` for anything else.
   */
  take(bytes: Uint8Array): boolean {
    if (bytes.length !== probeTokenBytes + 4) return false;
    if (!bytesEqual(bytes.subarray(0, probeTokenBytes), this.#token)) return false;
    const sequence = new DataView(bytes.buffer, bytes.byteOffset).getUint32(probeTokenBytes);
    const sentMs = this.#outstanding.get(sequence);
    if (sentMs === undefined) return true;
    for (const [older] of this.#outstanding) {
      if (older === sequence) break;
      this.#outstanding.delete(older);
      this.#stats.lost++;
    }
    this.#outstanding.delete(sequence);
    this.#clearedMs = Math.max(this.#clearedMs, sentMs);
    this.#stats.returned++;
    this.#stats.delayMsMax = Math.max(this.#stats.delayMsMax, this.#nowMs() - sentMs);
    return true;
  }

  /**
   * A copy of the counters.
   *
   * @returns The counters.
   */
  stats(): ReceiveProbeStats {
    return { ...this.#stats };
  }
}
