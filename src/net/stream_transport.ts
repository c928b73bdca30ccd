/**
 * The stream transport: request and response over TCP, for payloads too large for one datagram
 * of the secure channel (values up to `recordBytesMax`, 64 KiB). Each connection is
 * authenticated and encrypted like the datagram channel: the same signed X25519 handshake
 * (`handshake.ts`), then ChaCha20-Poly1305 with one key per direction.
 *
 * A connection carries, as frames of `u32 length ‖ body`: the INIT, the RESPONSE, then requests
 * and responses in turn, each sealed with a counter nonce. TCP delivers in order, so instead of a
 * replay window each side expects exactly the next counter: a replayed, dropped or reordered
 * frame fails its tag. The byte layout is in `docs/protocol.md`, section "Stream transport".
 *
 * Domain separation from the datagram channel. `handshake.ts` fixes its labels and header in
 * private functions, so a stream INIT cannot carry labels of its own without changing that file
 * and the datagram protocol with it. The stream therefore marks the one signed field whose
 * value the initiator chooses and every responder checks strictly: the INIT's timestamp is
 * {@link STREAM_TIMESTAMP_OFFSET_MS} (2^52) plus the clock. A datagram responder sees a time
 * 142,000 years away and drops it as `staleTimestamp` before checking its signature; a stream
 * responder drops an INIT below 2^52, that is one made for datagrams, as `crossProtocol`. The
 * marker is under the initiator's signature, so it cannot be added or removed. The traffic
 * keys are further derived with stream labels ({@link streamTrafficKeys}), so even identical
 * handshake bytes would never give a stream the datagram channel's keys.
 *
 * Built on `Deno.listen` and `Deno.connect`, which are stable in Deno 2.9 (unlike datagrams):
 * promise-based reads that a `close()` interrupts, an `AbortSignal` for connecting, errors as
 * `Deno.errors` classes, and resources the test sanitizers track one by one. `node:net` would
 * add an event-emitter layer over the same operations and nothing this file needs.
 *
 * Hostile input never throws: a listener closes the connection and counts why in
 * `stats().closed`. The client rejects with a one-line `RhizomeError`.
 *
 * @module
 */

import { hkdfSync, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { bytesEqual, utf8Encode } from "../core/bytes.ts";
import {
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  aeadOpen,
  aeadSealInto,
  type Ed25519KeyPair,
} from "../core/crypto.ts";
import { InvalidInputError, RhizomeError } from "../core/errors.ts";
import { recordBytesMax } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { NodeId } from "../core/node_id.ts";
import { describeOsError } from "../core/os_error.ts";
import { bindError, PeerAddress } from "./address.ts";
import {
  answerHandshake,
  decodeInit,
  decodeResponse,
  finishHandshake,
  INIT_BYTES,
  RESPONSE_BYTES,
  SESSION_ID_BYTES,
  startHandshake,
  TRAFFIC_KEY_BYTES,
  type TrafficKeys,
  verifyInit,
  writeUint64,
  X25519_SECRET_KEY_BYTES,
} from "./handshake.ts";
import { handshakeClockSkewMsMax } from "./secure_channel.ts";
import { isHostName } from "./host_names.ts";

/** Bytes of the length prefix before every frame: a u32, big-endian. */
export const STREAM_LENGTH_PREFIX_BYTES = 4;

/**
 * Added to the INIT timestamp of a stream handshake: bit 52 marks the INIT as made for the
 * stream, under the initiator's signature (see the module notes). Wall-clock milliseconds stay
 * below 2^52 until the year 144,683, and 2^52 + now stays below the 2^53 every u64 field of
 * the handshake allows.
 */
export const STREAM_TIMESTAMP_OFFSET_MS = 2 ** 52;

/**
 * What a stream message may carry beyond one record: the DHT message around it (header,
 * transaction ID, key, token, MessagePack framing) takes under 200 bytes today; 1 KiB leaves
 * room for fields added later without changing the frame limit.
 */
export const streamMessageOverheadBytes = 1024;

/**
 * Largest plaintext in one frame: a record of `recordBytesMax` (64 KiB) and its message. At the
 * limit: `StreamClient.request` refuses a larger request with `INVALID_INPUT` before
 * connecting; a listener whose handler returns a larger response closes the connection
 * (`handlerError`).
 */
export const streamPlaintextBytesMax: number = recordBytesMax + streamMessageOverheadBytes;

/**
 * Largest value of a data frame's length prefix: the plaintext limit and the 16-byte tag. A
 * receiver checks the prefix before reading on, so a hostile prefix never makes it buffer more.
 * At the limit: the connection is closed (`oversize`), the frame unread.
 */
export const streamFrameBodyBytesMax: number = streamPlaintextBytesMax + AEAD_TAG_BYTES;

/**
 * Connections a listener serves at once. Each holds at most one frame in and one out, about
 * 130 KiB, so 128 cost under 17 MB; a node fetches large values now and then, not in bulk.
 * At the limit: the idle connection that has waited longest is closed to make room (`evicted`),
 * a connection still in its handshake first, then one waiting for its next request; when every
 * connection is running a request, the new one is closed at once (`connectionsRefused`), so its
 * client fails fast instead of waiting in the backlog until its timeout.
 */
export const streamConnectionsMax = 128;

/**
 * Connections from one IP address still in their handshake. An honest client sends its INIT as
 * soon as it connects, so its connection is unauthenticated for a round trip; 16 covers peers
 * sharing an address fetching several values at once, while a host holding hundreds of silent
 * connections keeps only 16 of them. Counted per address and only before the handshake, so
 * nodes that share an address (a one-machine network on 127.0.0.1, peers behind one NAT) are not
 * limited once authenticated. At the limit: that address's oldest unauthenticated connection is closed
 * (`evicted`) for the new one, so a newcomer that sends its INIT at once is served.
 */
export const streamUnauthenticatedPerIpMax = 16;

/**
 * Connections from all addresses still in their handshake: half of
 * {@link streamConnectionsMax}, so peers spread over many addresses cannot hold every slot with
 * silent connections and authenticated ones always have the other half. At the limit: the
 * oldest unauthenticated connection is closed (`evicted`).
 */
export const streamUnauthenticatedMax = 64;

/**
 * Time from accepting a connection until its whole INIT has arrived. An honest INIT is 154
 * bytes in one segment and arrives within a round trip; 5 s tolerates a slow path while keeping a
 * silent connection from holding one of {@link streamConnectionsMax} slots. At the limit: the
 * connection is closed (`handshakeTimeout`).
 */
export const streamHandshakeTimeoutMs = 5_000;

/**
 * Time a listener waits for the next whole request frame after the handshake or after a
 * response, and for the peer to take a response. Lets a client send a burst on one connection;
 * a 64 KiB frame in 30 s needs only 2.2 KB/s, and a stalled or trickling peer frees its slot.
 * At the limit: the connection is closed (`idleTimeout`).
 */
export const streamIdleTimeoutMs = 30_000;

/**
 * Default time a client gives one request, from connecting to the whole response, and the time
 * a listener gives its handler for one answer. 64 KiB over a 1 Mbit/s path takes half a
 * second; 10 s covers that, the handshake and a busy peer. At the limit: the client rejects
 * with "no response within … ms"; a listener closes the connection (`handlerTimeout`).
 */
export const streamRequestTimeoutMs = 10_000;

/**
 * Requests one connection carries before the listener closes it. Opening a new connection
 * runs a new handshake with fresh ephemeral keys, so this bounds how much traffic one pair of
 * keys protects, as the datagram channel's rekey does, and keeps a pooled connection from
 * holding a slot forever. At the limit: the connection closes after the last response
 * (`requestsMax`).
 */
export const streamRequestsPerConnectionMax = 1000;

/** Every ceiling and period of a {@link StreamListener}; tests shrink them. */
export interface StreamLimits {
  /**
   * Connections served at once.
   *
   * @default {@link streamConnectionsMax}
   */
  connectionsMax: number;
  /**
   * Connections from one IP address before their handshake.
   *
   * @default {@link streamUnauthenticatedPerIpMax}
   */
  unauthenticatedPerIpMax: number;
  /**
   * Connections from all addresses before their handshake.
   *
   * @default {@link streamUnauthenticatedMax}
   */
  unauthenticatedMax: number;
  /**
   * Time for the INIT to arrive.
   *
   * @default {@link streamHandshakeTimeoutMs}
   */
  handshakeTimeoutMs: number;
  /**
   * Time for the next request frame to arrive, and for a response to be taken.
   *
   * @default {@link streamIdleTimeoutMs}
   */
  idleTimeoutMs: number;
  /**
   * Time the handler has for one answer.
   *
   * @default {@link streamRequestTimeoutMs}
   */
  requestTimeoutMs: number;
  /**
   * Requests per connection.
   *
   * @default {@link streamRequestsPerConnectionMax}
   */
  requestsPerConnectionMax: number;
  /**
   * Largest distance between an INIT's time and our clock, as on the datagram channel.
   *
   * @default `handshakeClockSkewMsMax` of `secure_channel.ts`
   */
  handshakeClockSkewMsMax: number;
}

/** The built-in limits. */
export const streamLimitsDefault: Readonly<StreamLimits> = Object.freeze({
  connectionsMax: streamConnectionsMax,
  unauthenticatedPerIpMax: streamUnauthenticatedPerIpMax,
  unauthenticatedMax: streamUnauthenticatedMax,
  handshakeTimeoutMs: streamHandshakeTimeoutMs,
  idleTimeoutMs: streamIdleTimeoutMs,
  requestTimeoutMs: streamRequestTimeoutMs,
  requestsPerConnectionMax: streamRequestsPerConnectionMax,
  handshakeClockSkewMsMax,
});

/** The other end of a connection, as its handshake proved it. */
export interface StreamPeer {
  /** The peer's node ID, derived from its key. */
  readonly nodeId: NodeId;
  /** The peer's Ed25519 key, proven by its handshake signature. */
  readonly publicKey: Uint8Array;
}

/**
 * Answers one request. Called only after the request's frame authenticated, so `peer` holds
 * the keys of the handshake. A {@link StreamRequestRefused} closes the connection as `malformed`
 * (logged at debug: the peer's fault); anything else it throws closes it as `handlerError`
 * (logged as an error: a bug of this node).
 */
export type StreamRequestHandler = (peer: StreamPeer, request: Uint8Array) => Promise<Uint8Array>;

/**
 * Thrown (or rejected with) by a {@link StreamRequestHandler} for a request it will not answer
 * because of what the peer sent (not a request it serves, not decodable): the connection closes
 * as `malformed`, and the line is logged at debug only, so a peer cannot write error lines into
 * a node's log.
 */
export class StreamRequestRefused extends Error {
  /**
   * A refusal.
   *
   * @param reason Why, for the debug log.
   */
  constructor(reason: string) {
    super(reason);
    this.name = "StreamRequestRefused";
  }
}

/** Options of {@link StreamListener.listen}. */
export interface StreamListenerOptions {
  /** Where handler errors are reported. */
  log?: Log;
  /** Ceilings and periods to change. */
  limits?: Partial<StreamLimits>;
}

/** Why a listener's connection ended: each connection ends for exactly one reason. */
export type StreamCloseReason =
  /** The client closed between frames: the normal end. */
  | "peerClosed"
  /** {@link streamRequestsPerConnectionMax} requests served. */
  | "requestsMax"
  /** `close()` of the listener. */
  | "listenerClosed"
  /** Closed while idle to make room for a new connection or to free a file descriptor. */
  | "evicted"
  /** No whole INIT within {@link streamHandshakeTimeoutMs}. */
  | "handshakeTimeout"
  /** No whole request within {@link streamIdleTimeoutMs}, or a response not taken in it. */
  | "idleTimeout"
  /** The handler took longer than {@link streamRequestTimeoutMs}. */
  | "handlerTimeout"
  /** The handler threw, or answered with something not bytes or over the limit. */
  | "handlerError"
  /**
   * Not an INIT, a frame too short for its tag, an unusable X25519 key, or a request the
   * handler refused ({@link StreamRequestRefused}).
   */
  | "malformed"
  /** A data frame's length prefix over {@link streamFrameBodyBytesMax}. */
  | "oversize"
  /** The stream ended inside a frame. */
  | "truncated"
  /** A request frame whose tag failed: tampered, replayed, reordered or forged. */
  | "unauthenticated"
  /** An INIT whose signature does not verify. */
  | "badSignature"
  /** A stream INIT whose time is outside `handshakeClockSkewMsMax` of our clock. */
  | "staleTimestamp"
  /** An INIT made for the datagram channel (no stream marker in its timestamp). */
  | "crossProtocol"
  /** The operating system reported an error (reset by the peer, broken pipe). */
  | "ioError"
  /** A bug in this file threw while serving; it is logged as an error. */
  | "internalError";

const streamCloseReasons: readonly StreamCloseReason[] = [
  "peerClosed",
  "requestsMax",
  "listenerClosed",
  "evicted",
  "handshakeTimeout",
  "idleTimeout",
  "handlerTimeout",
  "handlerError",
  "malformed",
  "oversize",
  "truncated",
  "unauthenticated",
  "badSignature",
  "staleTimestamp",
  "crossProtocol",
  "ioError",
  "internalError",
];

/** What a {@link StreamListener} has done since it was bound. */
export interface StreamListenerStats {
  /** Connections taken on (under the cap). */
  connectionsAccepted: number;
  /** Connections closed at once because {@link streamConnectionsMax} were open and busy. */
  connectionsRefused: number;
  /** Accepts the operating system failed (out of file descriptors, for example). */
  acceptErrors: number;
  /** INITs verified and answered. */
  handshakesAnswered: number;
  /** Requests authenticated and answered. */
  requestsServed: number;
  /** Connections ended, by reason; they add up to `connectionsAccepted - connections`. */
  closed: Record<StreamCloseReason, number>;
  /** Connections open now. */
  connections: number;
}

/** Wait after a failed accept before the next, so a persistent error does not spin the loop. */
const acceptRetryDelayMs = 100;

/**
 * Accepts made while evicting (a flood of connections) between two pauses of the accept loop.
 * The pause lets the event loop read what was accepted: a newcomer is evicted only after
 * {@link streamUnauthenticatedPerIpMax} more such accepts, so 4 leaves its INIT several turns to
 * arrive.
 */
const floodAcceptsPerYield = 4;

/**
 * Most accepts a second while evicting. A flooder reopens each connection the moment it is
 * closed, so without a ceiling the churn would take all the node's CPU from its real work
 * (datagrams, lookups, the store); 1,000 a second costs a few percent of a core. Connections
 * beyond it wait in the kernel's accept queue (a newcomer is accepted within about a second of
 * a full queue of 511, Deno's backlog) or are held back by the kernel, which slows the flooder
 * too.
 */
const floodAcceptsPerSecondMax = 1000;

/** Accept errors are logged at most once per this period, with the count since the last line. */
const acceptErrorLogIntervalMs = 10_000;

// Labels of the stream's own key derivation; the datagram channel's are
// "rhizome/secure/v1/initiator-to-responder" and "…/responder-to-initiator".
const streamInitiatorToResponderInfo = utf8Encode("rhizome/stream/v1/initiator-to-responder");
const streamResponderToInitiatorInfo = utf8Encode("rhizome/stream/v1/responder-to-initiator");

/**
 * The stream's traffic keys, from the keys the shared handshake derives: HKDF-SHA256 with each
 * key as input keying material, no salt, and a stream label per direction as info. A key is
 * uniformly random, so this is a sound expansion, and it separates the stream's keys from the
 * datagram channel's by label rather than only by the transcript.
 *
 * @param keys What `answerHandshake` or `finishHandshake` returned.
 * @returns One 32-byte key per direction.
 */
export function streamTrafficKeys(keys: TrafficKeys): TrafficKeys {
  const derive = (key: Uint8Array, info: Uint8Array) =>
    new Uint8Array(hkdfSync("sha256", key, new Uint8Array(0), info, TRAFFIC_KEY_BYTES));
  return {
    initiatorToResponder: derive(keys.initiatorToResponder, streamInitiatorToResponderInfo),
    responderToInitiator: derive(keys.responderToInitiator, streamResponderToInitiatorInfo),
  };
}

/**
 * A handshake frame: the length prefix and the 150-byte INIT or RESPONSE.
 *
 * @param packet The INIT or RESPONSE.
 * @returns The frame to write.
 */
export function handshakeFrame(packet: Uint8Array): Uint8Array {
  const frame = new Uint8Array(STREAM_LENGTH_PREFIX_BYTES + packet.length);
  new DataView(frame.buffer).setUint32(0, packet.length);
  frame.set(packet, STREAM_LENGTH_PREFIX_BYTES);
  return frame;
}

/**
 * Seals one data frame: `u32 length ‖ ciphertext ‖ tag`, with the nonce
 * `00 00 00 00 ‖ u64 counter` and the length prefix as additional data.
 *
 * @param key This direction's stream key.
 * @param counter This direction's frame counter, from 0, never reused under the key.
 * @param plaintext At most {@link streamPlaintextBytesMax} bytes.
 * @returns The frame to write.
 */
export function sealStreamFrame(
  key: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
): Uint8Array {
  const bodyBytes = plaintext.length + AEAD_TAG_BYTES;
  const frame = new Uint8Array(STREAM_LENGTH_PREFIX_BYTES + bodyBytes);
  new DataView(frame.buffer).setUint32(0, bodyBytes);
  const prefix = frame.subarray(0, STREAM_LENGTH_PREFIX_BYTES);
  aeadSealInto(key, nonceOf(counter), prefix, plaintext, frame, STREAM_LENGTH_PREFIX_BYTES);
  return frame;
}

/**
 * Opens one data frame. Never throws on hostile bytes.
 *
 * @param key This direction's stream key.
 * @param counter The counter the frame must have been sealed with: the next one expected.
 * @param prefix The frame's 4-byte length prefix.
 * @param body The ciphertext and tag, as long as the prefix says.
 * @returns The plaintext, or `undefined` when the tag fails.
 */
export function openStreamFrame(
  key: Uint8Array,
  counter: number,
  prefix: Uint8Array,
  body: Uint8Array,
): Uint8Array | undefined {
  return aeadOpen(key, nonceOf(counter), prefix, body);
}

function nonceOf(counter: number): Uint8Array {
  const nonce = new Uint8Array(AEAD_NONCE_BYTES);
  writeUint64(nonce, AEAD_NONCE_BYTES - 8, counter);
  return nonce;
}

/** Why reading a frame failed, before any timeout is taken into account. */
type FrameReadFailure = "peerClosed" | "truncated" | "oversize" | "malformed" | "ioError";

/** A frame read whole: its length prefix and body. */
interface Frame {
  readonly prefix: Uint8Array;
  readonly body: Uint8Array;
}

/**
 * One TCP connection, read and written in frames, with one deadline at a time. When the
 * deadline passes the connection is closed, which interrupts any pending read or write; the
 * caller then finds the deadline's reason in {@link expiredReason}.
 */
class FramedConnection {
  /** The peer's IP address, as the listener counts connections per address. */
  readonly host: string;
  /** Whether the peer's INIT verified; until then the connection counts as unauthenticated. */
  authenticated = false;
  /**
   * Since when (performance.now() ms) the listener has been waiting for the peer's next frame;
   * `undefined` while it works on a request. Only idle connections are evicted.
   */
  idleSinceMs: number | undefined = performance.now();
  readonly #conn: Deno.TcpConn;
  #closed = false;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #expiredReason: string | undefined;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.host = conn.remoteAddr.hostname;
    try {
      // Each frame goes out in one write; without this, Nagle's algorithm could hold a small
      // frame back for a delayed acknowledgement (up to 40 ms on Linux).
      conn.setNoDelay(true);
    } catch {
      // Already reset by the peer: the first read or write reports it.
    }
  }

  /** Whether the connection is closed (its serving may still be winding down). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the connection was closed early: a deadline's or an abort's reason. */
  get expiredReason(): string | undefined {
    return this.#expiredReason;
  }

  /** Starts a deadline, replacing any running one. */
  setDeadline(ms: number, reason: string): void {
    this.clearDeadline();
    this.#deadlineTimer = setTimeout(() => this.abort(reason), ms);
  }

  clearDeadline(): void {
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
  }

  /** Closes the connection now, for `reason`, unless it ended already. */
  abort(reason: string): void {
    if (this.#closed) return;
    this.#expiredReason ??= reason;
    this.close();
  }

  close(): void {
    this.clearDeadline();
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Closed by the runtime already (an aborted connect): nothing is left to release.
    }
  }

  /**
   * Reads one frame whose body is `bodyBytesMin` to `bodyBytesMax` bytes. A prefix above the
   * range is `tooLong`, below it `malformed`; the body is not read then.
   */
  async readFrame(
    bodyBytesMin: number,
    bodyBytesMax: number,
    tooLong: "oversize" | "malformed",
  ): Promise<Frame | FrameReadFailure> {
    const prefix = await this.#readExactly(STREAM_LENGTH_PREFIX_BYTES);
    if (prefix === "eof") return "peerClosed";
    if (typeof prefix === "string") return prefix;
    const length = new DataView(prefix.buffer).getUint32(0);
    if (length > bodyBytesMax) return tooLong;
    if (length < bodyBytesMin) return "malformed";
    const body = await this.#readExactly(length);
    if (body === "eof") return "truncated";
    if (typeof body === "string") return body;
    return { prefix, body };
  }

  async #readExactly(byteLength: number): Promise<Uint8Array | "eof" | "truncated" | "ioError"> {
    const bytes = new Uint8Array(byteLength);
    let filled = 0;
    while (filled < byteLength) {
      let read: number | null;
      try {
        read = await this.#conn.read(bytes.subarray(filled));
      } catch {
        return "ioError";
      }
      if (read === null) return filled === 0 ? "eof" : "truncated";
      filled += read;
    }
    return bytes;
  }

  /** Writes all of `bytes`; `false` when the connection failed or closed first. */
  async write(bytes: Uint8Array): Promise<boolean> {
    let written = 0;
    try {
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
    } catch {
      return false;
    }
    return true;
  }
}

/** Logs a handler's failure; the logging layer throttles repeats. */
function reportHandlerError(log: Log | undefined, error: unknown): void {
  log?.error("a stream request handler failed: {error}", { error });
}

/**
 * A TCP listener that answers authenticated requests, one per frame.
 *
 * @example A listener and one request on loopback
 * ```ts ignore
 * const listener = StreamListener.listen({ host: "127.0.0.1", port: 0 }, serverKeys,
 *   (peer, request) => Promise.resolve(request));
 * const { peer, response } = await StreamClient.request(
 *   listener.address, listener.nodeId, clientKeys, new Uint8Array(60 * 1024));
 * await listener.close();
 * ```
 */
export class StreamListener {
  /** The bound address, with the port the operating system chose when port 0 was asked. */
  readonly address: PeerAddress;
  /** This listener's node ID: the one clients expect. */
  readonly nodeId: NodeId;

  readonly #listener: Deno.TcpListener;
  readonly #identity: Ed25519KeyPair;
  readonly #onRequest: StreamRequestHandler;
  readonly #log: Log | undefined;
  readonly #limits: StreamLimits;
  readonly #connections = new Map<FramedConnection, Promise<void>>();
  readonly #stats: Omit<StreamListenerStats, "connections">;
  readonly #acceptLoop: Promise<void>;
  /**
   * What `close()` must cut short: pauses and handler waits. Each entry removes itself when
   * done; a long-lived promise raced against every request would keep one reaction per request
   * until the listener closed.
   */
  readonly #wakeOnClose = new Set<() => void>();
  #closing: Promise<void> | undefined;
  #acceptErrorsUnlogged = 0;
  #acceptsSinceYield = 0;
  #acceptErrorLoggedMs = -Infinity;

  private constructor(
    listener: Deno.TcpListener,
    identity: Ed25519KeyPair,
    onRequest: StreamRequestHandler,
    options: StreamListenerOptions,
  ) {
    const bound = listener.addr;
    // The operating system reports an IP address and a real port.
    this.address = PeerAddress.of(bound.hostname, bound.port)!;
    this.nodeId = NodeId.fromPublicKey(identity.publicKey);
    this.#listener = listener;
    this.#identity = identity;
    this.#onRequest = onRequest;
    this.#log = options.log;
    this.#limits = { ...streamLimitsDefault, ...options.limits };
    this.#stats = {
      connectionsAccepted: 0,
      connectionsRefused: 0,
      acceptErrors: 0,
      handshakesAnswered: 0,
      requestsServed: 0,
      closed: Object.fromEntries(streamCloseReasons.map((reason) => [reason, 0])) as Record<
        StreamCloseReason,
        number
      >,
    };
    this.#acceptLoop = this.#accept();
  }

  /**
   * Listens for stream connections on `listen`.
   *
   * @param listen An IP address (IPv4 or IPv6, without brackets) or host name, and a TCP port;
   *   port 0 lets the operating system choose one (see {@link address}).
   * @param identity This node's Ed25519 key pair: it signs every RESPONSE.
   * @param onRequest Answers each authenticated request.
   * @param options Log and limits.
   * @returns The listener, accepting connections.
   * @throws {InvalidInputError} When the port is not 0 to 65535, or the host is neither an IP
   *   address nor a host name.
   * @throws {RhizomeError} `UNAVAILABLE`, one line naming the address, when it cannot listen:
   *   "Cannot listen on 127.0.0.1:7447: the port is in use" (or "permission denied", "the
   *   address is not available here", "the host name does not resolve", "network access was
   *   not granted (run with --allow-net)").
   */
  static listen(
    listen: { host: string; port: number },
    identity: Ed25519KeyPair,
    onRequest: StreamRequestHandler,
    options: StreamListenerOptions = {},
  ): StreamListener {
    const shown = listen.host.includes(":")
      ? `[${listen.host}]:${listen.port}`
      : `${listen.host}:${listen.port}`;
    if (!Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65535) {
      throw new InvalidInputError(
        `Cannot listen on ${shown}: the port must be a whole number from 0 to 65535`,
      );
    }
    if (isIP(listen.host) === 0 && !isHostName(listen.host)) {
      throw new InvalidInputError(
        `Cannot listen on ${shown}: "${listen.host}" is not an IP address or host name`,
      );
    }
    let listener: Deno.TcpListener;
    try {
      listener = Deno.listen({ hostname: listen.host, port: listen.port, transport: "tcp" });
    } catch (error) {
      // Deno resolves a host name itself and reports a failure only by its message.
      if (error instanceof Error && error.message.startsWith("failed to lookup address")) {
        throw new RhizomeError(
          "UNAVAILABLE",
          `Cannot listen on ${shown}: the host name does not resolve`,
          { cause: error },
        );
      }
      throw bindError(shown, error);
    }
    return new StreamListener(listener, identity, onRequest, options);
  }

  /**
   * What this listener has done so far.
   *
   * @returns A copy of the counters.
   */
  stats(): StreamListenerStats {
    return {
      ...this.#stats,
      closed: { ...this.#stats.closed },
      connections: this.#connections.size,
    };
  }

  /**
   * Stops accepting, closes every connection (a handler still running is left to finish on
   * its own; its answer is dropped) and waits until all are released. Calling it again returns
   * the same promise.
   *
   * @returns Resolves once the socket and every connection are closed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const wake of this.#wakeOnClose) wake();
    try {
      this.#listener.close();
    } catch {
      // Already closed: nothing to release.
    }
    for (const connection of this.#connections.keys()) connection.abort("listenerClosed");
    await this.#acceptLoop;
    await Promise.all(this.#connections.values());
  }

  async #accept(): Promise<void> {
    while (this.#closing === undefined) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing !== undefined) return;
        this.#acceptFailed(error);
        // Out of descriptors, one held by an idle connection is the quickest to free; the
        // connection waiting in the kernel's queue is then accepted at once.
        const idle = this.#oldestIdle(() => true);
        if (idle === undefined) await this.#pause(acceptRetryDelayMs);
        else {
          idle.abort("evicted");
          await this.#yieldUnderFlood();
        }
        continue;
      }
      if (this.#closing !== undefined) {
        conn.close();
        return;
      }
      const room = this.#makeRoom(conn.remoteAddr.hostname);
      if (room === "full") {
        this.#stats.connectionsRefused++;
        conn.close();
        continue;
      }
      this.#stats.connectionsAccepted++;
      const connection = new FramedConnection(conn);
      const served = this.#serve(connection).catch((error: unknown) => {
        this.#log?.error("serving a stream connection failed: {error}", { error });
        return "internalError" as const;
      }).then((reason) => {
        connection.close();
        this.#stats.closed[reason]++;
        this.#connections.delete(connection);
      });
      this.#connections.set(connection, served);
      // Under a flood of connections, the reads of those just accepted get their turn every few
      // accepts: an honest client's INIT is then handled before it could be evicted.
      if (room === "evicted") await this.#yieldUnderFlood();
    }
  }

  #acceptFailed(error: unknown): void {
    this.#stats.acceptErrors++;
    this.#acceptErrorsUnlogged++;
    const nowMs = performance.now();
    if (nowMs - this.#acceptErrorLoggedMs < acceptErrorLogIntervalMs) return;
    this.#log?.warning(
      "stream listener cannot accept connections: {reason} ({count} times; {open} open)",
      {
        reason: describeOsError(error),
        count: this.#acceptErrorsUnlogged,
        open: this.#connections.size,
      },
    );
    this.#acceptErrorsUnlogged = 0;
    this.#acceptErrorLoggedMs = nowMs;
  }

  /**
   * Closes idle connections so one from `host` fits the limits: the oldest unauthenticated
   * connection of `host` when it has {@link StreamLimits.unauthenticatedPerIpMax}, the oldest
   * unauthenticated one when there are {@link StreamLimits.unauthenticatedMax}, and the oldest
   * idle one (unauthenticated first) when all {@link StreamLimits.connectionsMax} are open.
   *
   * @returns `full` when every open connection is busy: the new one must be refused.
   */
  #makeRoom(host: string): "free" | "evicted" | "full" {
    let open = 0;
    let unauthenticated = 0;
    let unauthenticatedOfHost = 0;
    for (const connection of this.#connections.keys()) {
      if (connection.closed) continue;
      open++;
      if (connection.authenticated) continue;
      unauthenticated++;
      if (connection.host === host) unauthenticatedOfHost++;
    }
    const limits = this.#limits;
    const fromHost = (connection: FramedConnection) =>
      !connection.authenticated && connection.host === host;
    const pending = (connection: FramedConnection) => !connection.authenticated;
    let victim: FramedConnection | undefined;
    if (unauthenticatedOfHost >= limits.unauthenticatedPerIpMax) {
      victim = this.#oldestIdle(fromHost);
    } else if (unauthenticated >= limits.unauthenticatedMax) victim = this.#oldestIdle(pending);
    else if (open >= limits.connectionsMax) {
      victim = this.#oldestIdle(pending) ?? this.#oldestIdle(() => true);
      if (victim === undefined) return "full";
    }
    if (victim === undefined) return "free";
    victim.abort("evicted");
    return "evicted";
  }

  /** The open connection idle longest among those `matching`, if any is idle. */
  #oldestIdle(matching: (connection: FramedConnection) => boolean): FramedConnection | undefined {
    let oldest: FramedConnection | undefined;
    for (const connection of this.#connections.keys()) {
      if (connection.closed || connection.idleSinceMs === undefined || !matching(connection)) {
        continue;
      }
      if (oldest === undefined || connection.idleSinceMs < oldest.idleSinceMs!) oldest = connection;
    }
    return oldest;
  }

  /** Pauses once every {@link floodAcceptsPerYield} calls, for {@link floodAcceptsPerSecondMax}. */
  async #yieldUnderFlood(): Promise<void> {
    if (++this.#acceptsSinceYield < floodAcceptsPerYield) return;
    this.#acceptsSinceYield = 0;
    await this.#pause(floodAcceptsPerYield * 1000 / floodAcceptsPerSecondMax);
  }

  /** Waits `ms`, or less when the listener closes. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakeOnClose.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakeOnClose.add(wake);
    });
  }

  /** Serves one connection to its end. */
  async #serve(connection: FramedConnection): Promise<StreamCloseReason> {
    const limits = this.#limits;
    const ended = (failure: StreamCloseReason): StreamCloseReason =>
      (connection.expiredReason as StreamCloseReason | undefined) ?? failure;

    connection.setDeadline(limits.handshakeTimeoutMs, "handshakeTimeout");
    const initFrame = await connection.readFrame(INIT_BYTES, INIT_BYTES, "malformed");
    if (typeof initFrame === "string") return ended(initFrame);
    const initBytes = initFrame.body;
    const init = decodeInit(initBytes);
    if (init === undefined) return "malformed";
    if (init.timestampMs < STREAM_TIMESTAMP_OFFSET_MS) return "crossProtocol";
    const skewMs = Math.abs(init.timestampMs - STREAM_TIMESTAMP_OFFSET_MS - Date.now());
    if (skewMs > limits.handshakeClockSkewMsMax) return "staleTimestamp";
    if (!verifyInit(initBytes, init)) return "badSignature";
    connection.authenticated = true;
    connection.idleSinceMs = undefined;
    const answer = answerHandshake(
      this.#identity,
      randomBytes(X25519_SECRET_KEY_BYTES),
      initBytes,
      init,
      randomBytes(SESSION_ID_BYTES),
    );
    if (answer === undefined) return "malformed";
    const keys = streamTrafficKeys(answer.keys);
    const peer: StreamPeer = {
      nodeId: NodeId.fromPublicKey(init.staticPublicKey),
      publicKey: init.staticPublicKey.slice(),
    };
    if (!await connection.write(handshakeFrame(answer.responseBytes))) return ended("ioError");
    this.#stats.handshakesAnswered++;

    for (let counter = 0; counter < limits.requestsPerConnectionMax; counter++) {
      connection.setDeadline(limits.idleTimeoutMs, "idleTimeout");
      connection.idleSinceMs = performance.now();
      const frame = await connection.readFrame(AEAD_TAG_BYTES, streamFrameBodyBytesMax, "oversize");
      if (typeof frame === "string") return ended(frame);
      connection.idleSinceMs = undefined;
      connection.clearDeadline();
      const request = openStreamFrame(keys.initiatorToResponder, counter, frame.prefix, frame.body);
      if (request === undefined) return "unauthenticated";
      const response = await this.#answer(peer, request);
      if (typeof response === "string") return ended(response);
      connection.setDeadline(limits.idleTimeoutMs, "idleTimeout");
      const sealed = sealStreamFrame(keys.responderToInitiator, counter, response);
      if (!await connection.write(sealed)) return ended("ioError");
      this.#stats.requestsServed++;
    }
    return "requestsMax";
  }

  /** The handler's answer, or why there is none; never waits past the limit or `close()`. */
  async #answer(
    peer: StreamPeer,
    request: Uint8Array,
  ): Promise<Uint8Array | "handlerError" | "handlerTimeout" | "listenerClosed" | "malformed"> {
    let answer: Promise<unknown>;
    try {
      answer = Promise.resolve(this.#onRequest(peer, request));
    } catch (error) {
      answer = Promise.reject(error);
    }
    type Outcome = "ok" | "handlerError" | "handlerTimeout" | "listenerClosed" | "malformed";
    const outcome = await new Promise<Outcome>((resolve) => {
      const settle = (outcome: Outcome) => {
        clearTimeout(timer);
        this.#wakeOnClose.delete(wakeOnClose);
        resolve(outcome);
      };
      const wakeOnClose = () => settle("listenerClosed");
      const timer = setTimeout(() => settle("handlerTimeout"), this.#limits.requestTimeoutMs);
      this.#wakeOnClose.add(wakeOnClose);
      answer.then(() => settle("ok"), (error: unknown) => {
        if (error instanceof StreamRequestRefused) {
          this.#log?.debug("a stream request was refused: {reason}", { reason: error.message });
          return settle("malformed");
        }
        // Also after a timeout or close: a handler's failure is a bug worth a line either way.
        reportHandlerError(this.#log, error);
        settle("handlerError");
      });
    });
    if (outcome !== "ok") return outcome;
    const response = await answer;
    if (!(response instanceof Uint8Array) || response.length > streamPlaintextBytesMax) {
      reportHandlerError(
        this.#log,
        response instanceof Uint8Array
          ? `a response of ${response.length} bytes is over ${streamPlaintextBytesMax}`
          : "the response is not a Uint8Array",
      );
      return "handlerError";
    }
    return response;
  }
}

/** Options of {@link StreamClient.request}. */
export interface StreamRequestOptions {
  /**
   * Time for the whole exchange: connecting, the handshake, the request and the response.
   *
   * @default {@link streamRequestTimeoutMs}
   */
  timeoutMs?: number;
}

/** A response and who sent it. */
export interface StreamResponse {
  /** The responder, as its handshake proved it. */
  readonly peer: StreamPeer;
  /** The decrypted response. */
  readonly response: Uint8Array;
}

/** Thrown inside a request to end it with one line; `reason` follows "Cannot reach X: ". */
class RequestFailure {
  constructor(readonly reason: string) {}
}

/** Sends requests over stream connections: one connection per request. */
export class StreamClient {
  private constructor() {}

  /**
   * Connects to `address`, runs the handshake, sends one request and returns the response.
   *
   * @param address The listener's canonical address, `a.b.c.d:port` or `[v6]:port`.
   * @param expectedNodeId The node ID the listener must prove; `undefined` accepts whoever
   *   answers (its proven identity is returned).
   * @param identity Our Ed25519 key pair: it signs the INIT.
   * @param request At most {@link streamPlaintextBytesMax} bytes.
   * @param options The time limit.
   * @returns The responder's identity and the response.
   * @throws {InvalidInputError} When the request is over the limit; nothing is sent.
   * @throws {RhizomeError} `UNAVAILABLE`, one line: "Cannot reach 127.0.0.1:7447: connection
   *   refused" (or "no response within 10000 ms", "it is node …, not the expected …", "the
   *   connection closed before the response", "its handshake does not verify", "the response
   *   does not authenticate", …).
   */
  static async request(
    address: PeerAddress,
    expectedNodeId: NodeId | undefined,
    identity: Ed25519KeyPair,
    request: Uint8Array,
    options: StreamRequestOptions = {},
  ): Promise<StreamResponse> {
    if (request.length > streamPlaintextBytesMax) {
      throw new InvalidInputError(
        `Cannot send ${request.length} bytes to ${address}: ` +
          `a stream request is at most ${streamPlaintextBytesMax} bytes`,
      );
    }
    const timeoutMs = options.timeoutMs ?? streamRequestTimeoutMs;
    const { host, port } = address;
    const timeoutReason = `no response within ${timeoutMs} ms`;
    const aborter = new AbortController();
    let connection: FramedConnection | undefined;
    const timer = setTimeout(() => {
      aborter.abort();
      connection?.abort(timeoutReason);
    }, timeoutMs);
    try {
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: host, port, signal: aborter.signal });
      } catch (error) {
        throw new RequestFailure(aborter.signal.aborted ? timeoutReason : connectProblem(error));
      }
      connection = new FramedConnection(conn);
      if (aborter.signal.aborted) connection.abort(timeoutReason);
      return await exchange(connection, expectedNodeId, identity, request);
    } catch (error) {
      if (!(error instanceof RequestFailure)) throw error;
      const reason = connection?.expiredReason ?? error.reason;
      throw new RhizomeError("UNAVAILABLE", `Cannot reach ${address}: ${reason}`);
    } finally {
      clearTimeout(timer);
      connection?.close();
    }
  }
}

/** The client's side of one connection: handshake, one request, one response. */
async function exchange(
  connection: FramedConnection,
  expectedNodeId: NodeId | undefined,
  identity: Ed25519KeyPair,
  request: Uint8Array,
): Promise<StreamResponse> {
  const state = startHandshake(identity, randomBytes(X25519_SECRET_KEY_BYTES), {
    initiatorSessionId: randomBytes(SESSION_ID_BYTES),
    timestampMs: STREAM_TIMESTAMP_OFFSET_MS + Date.now(),
  });
  await writeOrFail(connection, handshakeFrame(state.initBytes), "during the handshake");
  const responseFrame = await connection.readFrame(RESPONSE_BYTES, RESPONSE_BYTES, "malformed");
  if (typeof responseFrame === "string") throw readFailure(responseFrame, "during the handshake");
  const responseBytes = responseFrame.body;
  const response = decodeResponse(responseBytes);
  if (
    response === undefined ||
    !bytesEqual(response.initiatorSessionId, state.initiatorSessionId)
  ) {
    throw new RequestFailure("it answered with something other than a handshake");
  }
  const peerNodeId = NodeId.fromPublicKey(response.staticPublicKey);
  // Before the signature, as on the datagram channel: a hash costs less than a verification.
  if (expectedNodeId !== undefined && !peerNodeId.equals(expectedNodeId)) {
    throw new RequestFailure(
      `it is node ${peerNodeId.toHex()}, not the expected ${expectedNodeId}`,
    );
  }
  const handshakeKeys = finishHandshake(state, responseBytes, response);
  if (handshakeKeys === "badSignature") throw new RequestFailure("its handshake does not verify");
  if (handshakeKeys === "malformed") throw new RequestFailure("its ephemeral key is unusable");
  const keys = streamTrafficKeys(handshakeKeys);
  const peer: StreamPeer = { nodeId: peerNodeId, publicKey: response.staticPublicKey.slice() };

  const requestFrame = sealStreamFrame(keys.initiatorToResponder, 0, request);
  await writeOrFail(connection, requestFrame, "while sending the request");
  const frame = await connection.readFrame(AEAD_TAG_BYTES, streamFrameBodyBytesMax, "oversize");
  if (typeof frame === "string") throw readFailure(frame, "before the response");
  const plaintext = openStreamFrame(keys.responderToInitiator, 0, frame.prefix, frame.body);
  if (plaintext === undefined) throw new RequestFailure("the response does not authenticate");
  return { peer, response: plaintext };
}

async function writeOrFail(
  connection: FramedConnection,
  bytes: Uint8Array,
  when: string,
): Promise<void> {
  if (!await connection.write(bytes)) {
    throw new RequestFailure(`the connection failed ${when}`);
  }
}

function readFailure(failure: FrameReadFailure, when: string): RequestFailure {
  switch (failure) {
    case "peerClosed":
    case "truncated":
      return new RequestFailure(`the connection closed ${when}`);
    case "oversize":
      return new RequestFailure(
        `its response is over the ${streamFrameBodyBytesMax}-byte frame limit`,
      );
    case "malformed":
      return new RequestFailure(`it sent a malformed frame ${when}`);
    case "ioError":
      return new RequestFailure(`the connection failed ${when}`);
  }
}

/** The end of "Cannot reach X: …" for a failed connect. */
function connectProblem(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "the connection was reset";
  if (error instanceof Deno.errors.TimedOut) return "the connection attempt timed out";
  if (error instanceof Deno.errors.NotCapable) {
    return "network access was not granted (run with --allow-net)";
  }
  return describeOsError(error);
}
