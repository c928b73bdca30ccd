/**
 * The secure channel of one node: every datagram between two node identities authenticated and
 * encrypted, between the UDP socket and the DHT.
 *
 * `send(to, expectedNodeId, plaintext)` seals into the current session for that address or, when
 * there is none, queues the plaintext and starts a handshake; `receive(from, datagram)` answers
 * handshakes and opens DATA packets, returning the plaintext with the peer's proven identity.
 * Both run to completion and emit datagrams through the injected `Transport`; `tick()` (due at
 * `nextWakeupMs()`) resends INITs, abandons dead handshakes and sweeps expired sessions.
 *
 * Sessions rotate: after {@link sessionRekeyPackets} packets or {@link sessionRekeyMs}, the next
 * send starts a new handshake while the old session keeps carrying traffic, until
 * {@link sessionRejectPackets} or {@link sessionRejectMs} retire it for good. A session whose
 * sends that expect an answer went unanswered for {@link sessionUnansweredMs} is suspect (the
 * peer may have restarted): sends wait behind a new handshake instead. Replies (sends soon after
 * a packet opened) expect none, so the answering side of a conversation keeps its session as long
 * as it is used. A responder's new
 * session is used for sending only after the initiator's first DATA packet on it proves the
 * initiator holds its keys (an empty DATA packet, a keepalive, does that when nothing is queued).
 *
 * Under load nothing is resent for nothing: an unanswered INIT is resent unchanged after doubling
 * waits, so a late RESPONSE to any copy finishes the handshake, and the responder answers copies
 * from a cache without new public-key work; and when the driver says how far its own receive
 * queue has been handled (`localQueueClearedMs`), resends and suspicion wait until an answer can
 * no longer be sitting in our own socket.
 *
 * Hostile input never throws: `receive` returns `undefined` and counts the reason in
 * `stats().dropped`. Every table and queue has a named ceiling with a decided behaviour.
 *
 * Sans-I/O: time comes from the injected `Clock`, randomness from the injected `randomBytes`.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { bytesEqual, toHex } from "../core/bytes.ts";
import type { Clock } from "../core/clock.ts";
import type { Ed25519KeyPair } from "../core/crypto.ts";
import { datagramBytesMax } from "../core/limits.ts";
import { NodeId } from "../core/node_id.ts";
import type { PeerAddress } from "./address.ts";
import {
  answerHandshake,
  decodeInit,
  decodeResponse,
  finishHandshake,
  type InitiatorState,
  PACKET_HEADER_BYTES,
  PacketType,
  packetTypeOf,
  type Response,
  SESSION_ID_BYTES,
  sessionIdKey,
  startHandshake,
  verifyInit,
  verifyResponse,
  X25519_SECRET_KEY_BYTES,
} from "./handshake.ts";
import { type ReceiveGuard, unknownSessionPenaltyPoints } from "./receive_guard.ts";
import { ReceivePriority } from "./receive_queue.ts";
import { DATA_OVERHEAD_BYTES, Session, sessionPlaintextBytesMax } from "./session.ts";
import type { Transport } from "./transport.ts";

/**
 * Sessions held at once, across all peers. A node keeps a few hundred routing contacts and
 * talks to a few hundred more during lookups; a rekey briefly doubles a peer's sessions. About
 * 600 bytes each, so 4096 cost under 3 MB. At the limit: the least recently used session is
 * evicted (its peer re-handshakes on its next send).
 */
export const sessionsMax = 4096;

/**
 * Handshakes this node has started and not yet finished. A burst of lookups contacts at most
 * `lookupAlpha` new peers per round per lookup; 256 covers dozens of lookups at once. At the
 * limit: a send needing a new handshake is dropped and counted (`handshakesPendingFull`).
 */
export const handshakesPendingMax = 256;

/**
 * Plaintexts queued for one peer while its handshake runs. The DHT sends a peer a few requests
 * at a time (`peerInflightMax` 4); 8 leaves room for replies and retries. At the limit: the
 * oldest queued plaintext is dropped and counted (`queueFull`): it is the likeliest to have
 * timed out already.
 */
export const handshakeQueuePacketsMax = 8;

/**
 * Wait before an unanswered INIT is sent again, doubling with each attempt (1 s, 2 s, then 4 s
 * before giving up). The same INIT is resent, byte for byte: a RESPONSE to any copy finishes the
 * handshake, and the responder answers a copy from its cache ({@link handshakeResponseCacheMs})
 * instead of redoing its public-key work. Matches the DHT's first RPC timeout, so a lost INIT
 * costs what a lost request does. While our own receive queue is behind (the RESPONSE may be
 * waiting in our socket), the resend waits until it is handled, at most
 * {@link handshakeLocalQueueWaitMsMax}.
 */
export const handshakeRetryMs = 1000;

/**
 * Longest first wait before an INIT is resent. The first wait is {@link handshakeRetryMs}, or,
 * when the handshakes this node finished on their first INIT took longer (RFC 6298's timeout
 * over their smoothed time and its variation: the peers, or our own loop, are busy), that
 * timeout up to this bound: a resend then would only be answered from the responder's cache
 * after the RESPONSE already on its way. 4 s, the DHT's longest request timeout, keeps three
 * attempts inside twice the responder's {@link handshakeResponseCacheMs}.
 */
export const handshakeRetryMsMax = 4_000;

/**
 * Longest a due INIT resend (or the abandonment after the last one) waits for our own receive
 * queue to be handled past its due time. The RESPONSE may be waiting there, and a resend's answer
 * would land behind the same backlog; with hundreds of nodes on one event loop a bound of one
 * retry period let resends and abandonments go on while queues were tens of seconds deep, and
 * most handshakes were abandoned (7,615 of 13,087 at 400 nodes), each costing a new one later.
 * The receive probe says when the queue is handled; this bound covers probes lost with a full
 * socket buffer. As the DHT's requests (`localQueueWaitMsMax`). At the limit: the resend or
 * abandonment goes ahead as if the queue were clear.
 */
export const handshakeLocalQueueWaitMsMax = 30_000;

/**
 * INITs sent for one handshake, the first included. At the limit: the handshake is abandoned
 * after one more (doubled) wait and its queued plaintexts are dropped and counted
 * (`handshakeTimeout`, `handshakesAbandoned`); the next send starts afresh with a new INIT.
 */
export const handshakeAttemptsMax = 3;

/**
 * How long an abandoned handshake's state is kept so a late RESPONSE still makes a session.
 * Under load a RESPONSE can arrive after the last INIT's wait ran out: the responder has then
 * verified, derived keys and made a session for nothing, and the next send to that peer would
 * start another handshake, doubling the public-key work on both sides. Kept, the late RESPONSE
 * finishes the handshake (its queued plaintexts were dropped; a keepalive confirms the session)
 * and the next send uses the session. 10 s matches {@link handshakeResponseCacheMs}: past it the
 * responder no longer answers copies of the INIT either. At the limit: the state is forgotten
 * and a later RESPONSE is dropped (`unknownSession`).
 */
export const handshakeAbandonedKeepMs = 10_000;

/**
 * Abandoned handshakes kept for a late RESPONSE ({@link handshakeAbandonedKeepMs}). As many as
 * may run at once ({@link handshakesPendingMax}); about 300 bytes each. At the limit: the
 * oldest is forgotten.
 */
export const handshakesAbandonedKeptMax = 256;

/**
 * How long a responder keeps the RESPONSE it sent for an INIT, to answer resent copies of that
 * INIT without checking a signature or deriving keys again (the role of WireGuard's cookies
 * here: a retry under load no longer doubles the work on both sides). 10 s covers the
 * initiator's three attempts (1 + 2 + 4 s) with room for lag. At the limit: the entry is
 * forgotten, and a later copy of the INIT is dropped as a replay (`handshakeReplay`).
 */
export const handshakeResponseCacheMs = 10_000;

/**
 * RESPONSEs kept for resending. The answer rate ({@link handshakesAnsweredPerSecondMax}, 200/s)
 * over half the cache time; about 500 bytes each, so at most 500 KB. At the limit: the oldest
 * entry is forgotten (its INIT's copies are then dropped as replays).
 */
export const handshakeResponsesCachedMax = 1024;

/**
 * Times one cached RESPONSE is resent, each only to the address its INIT first came from. An
 * honest initiator resends at most {@link handshakeAttemptsMax} - 1 times; a replayed INIT can
 * make us send no more than this many RESPONSEs of its own size (no amplification). At the limit:
 * the copy is dropped (`handshakeReplay`).
 */
export const handshakeResponseResendsMax = 4;

/**
 * Largest difference between an INIT's timestamp and our clock. NTP-synchronised hosts differ by
 * milliseconds; two minutes tolerates a badly kept clock while bounding how long a captured
 * INIT stays replayable once its sender's last timestamp is forgotten. At the limit: the INIT
 * is dropped (`staleTimestamp`) before its signature is checked, so old INITs cost nothing.
 */
export const handshakeClockSkewMsMax = 120_000;

/**
 * Initiators whose latest accepted INIT timestamp is remembered. An INIT no newer than the last
 * one from the same key is a replay (`handshakeReplay`), inside the skew window too. Twice
 * {@link sessionsMax}, so every peer with a session is remembered. At the limit: the least
 * recently heard initiator is forgotten; its replays are then stopped only by the skew window,
 * and can create only a session nobody can use.
 */
export const handshakeTimestampsMax = 2 * sessionsMax;

/**
 * INITs whose signature this node checks and answers per second, bursts included. Each answer
 * costs about 190 µs of public-key crypto (bench/net_bench.ts); 200 a second caps that at 4% of
 * a core while leaving room for 20,000 peers to rekey every two minutes. At the limit: the INIT is
 * dropped (`handshakeRate`); the initiator retries.
 */
export const handshakesAnsweredPerSecondMax = 200;

/**
 * Packets one session seals before the next send starts a rekey. The 64-bit nonce never runs
 * out; rotating bounds how much traffic one key protects and how much a stolen session key
 * reveals. 2^20 packets is about two minutes at 10,000 packets a second, matching the time limit.
 */
export const sessionRekeyPackets = 2 ** 20;

/**
 * Packets one session seals at most. Room after {@link sessionRekeyPackets} for the new
 * handshake to finish. At the limit: sends wait in the handshake queue.
 */
export const sessionRejectPackets = 2 ** 21;

/**
 * Age at which the initiator of a session rekeys on its next send (WireGuard's two minutes):
 * bounds the traffic exposed if a session key leaks, for forward secrecy over time.
 */
export const sessionRekeyMs = 120_000;

/**
 * How much later the responder of a session rekeys than the initiator, so the two rarely start
 * rival handshakes for the same pair.
 */
export const sessionResponderRekeyDelayMs = 30_000;

/**
 * Age at which a session is retired: it neither seals nor opens. A minute after
 * {@link sessionRekeyMs}, time for several handshake attempts. At the limit: sends queue behind
 * a handshake, DATA packets are dropped (`expired`).
 */
export const sessionRejectMs = 180_000;

/**
 * How long sent packets may go without any reply before the session is suspect: the peer may
 * have restarted and lost its keys, and would otherwise drop everything until the session
 * expired. Only sends that expect an answer count: a send within {@link sessionReplyWindowMs} of
 * the last packet opened is taken for a reply (the DHT answers every request at once), so the
 * answering side of a conversation never suspects a peer that merely has nothing more to ask. At
 * the limit: sends queue behind a new handshake instead of going into the session; a reply on
 * the old session lifts the suspicion.
 */
export const sessionUnansweredMs = 15_000;

/**
 * How soon after a packet opened a send counts as its reply rather than a new request, for
 * {@link sessionUnansweredMs}. A node answers a request within milliseconds unless it is badly
 * overloaded; 5 s covers that. A request sent within the window right after a reply starts no
 * suspicion; the next one outside it does, so a restarted peer is found at most this much later.
 */
export const sessionReplyWindowMs = 5_000;

/** How often expired sessions are swept out of the table, so memory follows the live ones. */
export const sessionSweepIntervalMs = 10_000;

/** Every ceiling and period of a {@link SecureChannel}; tests shrink them. */
export interface SecureChannelLimits {
  /**
   * Sessions held at once.
   *
   * @default {@link sessionsMax}
   */
  sessionsMax: number;
  /**
   * Handshakes started and not finished.
   *
   * @default {@link handshakesPendingMax}
   */
  handshakesPendingMax: number;
  /**
   * Plaintexts queued per peer while its handshake runs.
   *
   * @default {@link handshakeQueuePacketsMax}
   */
  handshakeQueuePacketsMax: number;
  /**
   * Wait before a fresh INIT replaces an unanswered one.
   *
   * @default {@link handshakeRetryMs}
   */
  handshakeRetryMs: number;
  /**
   * Longest wait for our receive queue before a due resend or abandonment.
   *
   * @default {@link handshakeLocalQueueWaitMsMax}
   */
  handshakeLocalQueueWaitMsMax: number;
  /**
   * INITs per handshake before it is abandoned.
   *
   * @default {@link handshakeAttemptsMax}
   */
  handshakeAttemptsMax: number;
  /**
   * Largest accepted distance between an INIT timestamp and our clock.
   *
   * @default {@link handshakeClockSkewMsMax}
   */
  handshakeClockSkewMsMax: number;
  /**
   * Initiators whose last INIT timestamp is remembered.
   *
   * @default {@link handshakeTimestampsMax}
   */
  handshakeTimestampsMax: number;
  /**
   * INITs checked and answered per second.
   *
   * @default {@link handshakesAnsweredPerSecondMax}
   */
  handshakesAnsweredPerSecondMax: number;
  /**
   * Packets sealed before a send starts a rekey.
   *
   * @default {@link sessionRekeyPackets}
   */
  sessionRekeyPackets: number;
  /**
   * Packets sealed before a session stops sealing.
   *
   * @default {@link sessionRejectPackets}
   */
  sessionRejectPackets: number;
  /**
   * Age at which the initiator rekeys.
   *
   * @default {@link sessionRekeyMs}
   */
  sessionRekeyMs: number;
  /**
   * How much later than the initiator the responder rekeys.
   *
   * @default {@link sessionResponderRekeyDelayMs}
   */
  sessionResponderRekeyDelayMs: number;
  /**
   * Age at which a session is retired.
   *
   * @default {@link sessionRejectMs}
   */
  sessionRejectMs: number;
  /**
   * Silence after a send before the session is suspect.
   *
   * @default {@link sessionUnansweredMs}
   */
  sessionUnansweredMs: number;
  /**
   * How soon after a packet opened a send counts as a reply.
   *
   * @default {@link sessionReplyWindowMs}
   */
  sessionReplyWindowMs: number;
  /**
   * How long an abandoned handshake waits for a late RESPONSE.
   *
   * @default {@link handshakeAbandonedKeepMs}
   */
  handshakeAbandonedKeepMs: number;
  /**
   * Abandoned handshakes kept for a late RESPONSE.
   *
   * @default {@link handshakesAbandonedKeptMax}
   */
  handshakesAbandonedKeptMax: number;
  /**
   * How long a RESPONSE is kept to answer copies of its INIT.
   *
   * @default {@link handshakeResponseCacheMs}
   */
  handshakeResponseCacheMs: number;
  /**
   * RESPONSEs kept for resending.
   *
   * @default {@link handshakeResponsesCachedMax}
   */
  handshakeResponsesCachedMax: number;
  /**
   * Times one cached RESPONSE is resent.
   *
   * @default {@link handshakeResponseResendsMax}
   */
  handshakeResponseResendsMax: number;
  /**
   * Period of the sweep of retired sessions.
   *
   * @default {@link sessionSweepIntervalMs}
   */
  sessionSweepIntervalMs: number;
}

/** The built-in limits. */
export const secureChannelLimitsDefault: Readonly<SecureChannelLimits> = Object.freeze({
  sessionsMax,
  handshakesPendingMax,
  handshakeQueuePacketsMax,
  handshakeRetryMs,
  handshakeLocalQueueWaitMsMax,
  handshakeAttemptsMax,
  handshakeClockSkewMsMax,
  handshakeTimestampsMax,
  handshakesAnsweredPerSecondMax,
  sessionRekeyPackets,
  sessionRejectPackets,
  sessionRekeyMs,
  sessionResponderRekeyDelayMs,
  sessionRejectMs,
  sessionUnansweredMs,
  sessionReplyWindowMs,
  handshakeAbandonedKeepMs,
  handshakesAbandonedKeptMax,
  handshakeResponseCacheMs,
  handshakeResponsesCachedMax,
  handshakeResponseResendsMax,
  sessionSweepIntervalMs,
});

/** What a {@link SecureChannel} is built from. */
export interface SecureChannelOptions {
  /** This node's Ed25519 identity: it signs every handshake. */
  identity: Ed25519KeyPair;
  /** Time, for timestamps, retries and session ages. */
  clock: Clock;
  /** Where datagrams go. */
  transport: Transport;
  /**
   * Fresh random bytes: ephemeral keys and session IDs. Production passes node:crypto's
   * `randomBytes` (a CSPRNG: ephemeral keys are secrets); the simulator a seeded generator.
   */
  randomBytes: (byteLength: number) => Uint8Array;
  /** Ceilings and periods to change. */
  limits?: Partial<SecureChannelLimits>;
  /**
   * Cheap limits and penalties applied to every datagram before any crypto (see
   * {@link SecureChannel.admit}); none when absent.
   */
  guard?: ReceiveGuard;
  /**
   * The latest time before which every datagram that reached our socket has been handled
   * (production: `ReceiveProbe.clearedMs`). An INIT is resent, or its handshake abandoned, only
   * once this passes the retry time, so a RESPONSE still waiting in our own queue is not taken
   * for lost; the wait is bounded by {@link handshakeLocalQueueWaitMsMax}. Absent: always clear
   * (the simulator).
   */
  localQueueClearedMs?: () => number;
  /**
   * Told when a signed RESPONSE proves another identity than the expected one at an address:
   * the handshake is abandoned then and its queued plaintexts dropped (`wrongPeer`), so the
   * caller can fail what waited for that contact instead of letting it time out.
   */
  onWrongIdentity?: WrongIdentityListener;
}

/** Why an incoming datagram was dropped. */
export type ReceiveDropReason =
  /** Longer than `datagramBytesMax`: not even looked at. */
  | "oversize"
  /** Too short, unknown type, wrong length for its type, unusable X25519 key. */
  | "malformed"
  /** Not "RHZS": another protocol or network. */
  | "protocol"
  /** A packet-format version this build does not speak. */
  | "version"
  /** A DATA packet or RESPONSE naming no session or handshake of ours. */
  | "unknownSession"
  /** A DATA packet for a session past {@link sessionRejectMs}. */
  | "expired"
  /** A DATA packet whose tag does not verify (tampered, forged, wrong key). */
  | "unauthenticated"
  /** A DATA packet whose counter was seen already or is older than the replay window. */
  | "replay"
  /** A handshake packet whose signature does not verify. */
  | "badSignature"
  /**
   * A RESPONSE from a key whose node ID is not the one expected (forged, or another node at the
   * address: see {@link SecureChannelStats.wrongIdentity}), or an INIT of our own key.
   */
  | "wrongNodeId"
  /** An INIT whose timestamp is outside {@link handshakeClockSkewMsMax}. */
  | "staleTimestamp"
  /** An INIT no newer than the last one accepted from the same key. */
  | "handshakeReplay"
  /** An INIT beyond {@link handshakesAnsweredPerSecondMax}. */
  | "handshakeRate"
  /** Refused by the receive guard (over a source or identity limit, graylisted, banned). */
  | "refused";

/** Why an outgoing plaintext was dropped instead of sent. */
export type SendDropReason =
  /** The peer's handshake queue was full: the oldest queued plaintext went. */
  | "queueFull"
  /** A new handshake was needed and {@link handshakesPendingMax} were already running. */
  | "handshakesPendingFull"
  /** The handshake was abandoned after {@link handshakeAttemptsMax} INITs. */
  | "handshakeTimeout"
  /** The handshake reached a node other than the one this plaintext was meant for. */
  | "wrongPeer";

/**
 * Told when a handshake proves that another node than the one expected answers at an address.
 *
 * @param to The address.
 * @param expected The node ID the sends were pinned to.
 * @param actual The node ID whose key signed the RESPONSE.
 */
export type WrongIdentityListener = (to: PeerAddress, expected: NodeId, actual: NodeId) => void;

/** Counters of one channel, for metrics and tests. */
export interface SecureChannelStats {
  /** Incoming datagrams dropped, by reason. */
  dropped: Record<ReceiveDropReason, number>;
  /** Outgoing plaintexts dropped, by reason. */
  sendDropped: Record<SendDropReason, number>;
  /** Handshakes started (first INITs). */
  handshakesStarted: number;
  /** Of those, started to replace a live session (rekey by age, packets or silence). */
  rekeys: number;
  /** INITs resent. */
  handshakeRetries: number;
  /** Resends held while our receive queue was behind (the RESPONSE may be waiting there). */
  handshakeRetriesPostponed: number;
  /** Handshakes given up after the last attempt. */
  handshakesAbandoned: number;
  /**
   * Of those, finished by a RESPONSE that arrived after they were given up (within
   * {@link handshakeAbandonedKeepMs}): a session made instead of a new handshake later.
   */
  handshakesFinishedLate: number;
  /** Copies of an answered INIT answered again from the cache, without new crypto. */
  handshakeResponsesResent: number;
  /** Sessions whose sends went unanswered, so a new handshake started (a rekey, counted too). */
  sessionsSuspected: number;
  /** RESPONSEs verified: sessions made as initiator. */
  handshakesCompleted: number;
  /** INITs answered: sessions made as responder. */
  handshakesAnswered: number;
  /** Sessions evicted from a full table. */
  sessionsEvicted: number;
  /** Sessions retired by age or packet count. */
  sessionsExpired: number;
  /** DATA packets sealed, keepalives included. */
  packetsSealed: number;
  /** DATA packets opened, keepalives included. */
  packetsOpened: number;
  /** Empty DATA packets sent to confirm a new session. */
  keepalivesSent: number;
  /** Sessions held now. */
  sessions: number;
  /** Handshakes running now. */
  handshakesPending: number;
  /**
   * Handshakes abandoned because the RESPONSE, signature verified, came from another node than
   * the one the sends were pinned to (a contact whose address now belongs to someone else, or
   * a contact URI with a key not its node's).
   */
  wrongIdentity: number;
  /**
   * Sends of a plaintext already queued behind the peer's handshake (a request resent while
   * the handshake was still running), kept once: the peer would answer each copy.
   */
  queuedDuplicates: number;
}

/** What a send did with the plaintext. */
export type SendOutcome = "sent" | "queued" | "dropped";

/** A plaintext received, with the identity its session proved. */
export interface Received {
  /** The sender's node ID, derived from its key. */
  peer: NodeId;
  /** The sender's Ed25519 key, as proven in the handshake. */
  publicKey: Uint8Array;
  /** The decrypted payload, 1 to {@link sessionPlaintextBytesMax} bytes. */
  plaintext: Uint8Array;
}

interface SessionEntry {
  readonly session: Session;
  readonly idKey: string;
  /** Where the handshake ran; sends to this address use this session once it is confirmed. */
  readonly address: PeerAddress;
  /** The peer proved it holds the keys: always for our INITs, after a DATA packet otherwise. */
  confirmed: boolean;
  /** The first send expecting an answer since the last packet opened. */
  firstUnansweredMs: number | undefined;
  /** When a packet was last opened on this session. */
  lastOpenedMs: number;
}

interface CachedResponse {
  readonly initBytes: Uint8Array;
  readonly responseBytes: Uint8Array;
  readonly from: PeerAddress;
  readonly expiresMs: number;
  resends: number;
}

interface QueuedPlaintext {
  readonly plaintext: Uint8Array;
  readonly expectedNodeId: NodeId | undefined;
}

interface PendingHandshake {
  readonly to: PeerAddress;
  expectedNodeId: NodeId | undefined;
  readonly state: InitiatorState;
  readonly idKey: string;
  attempts: number;
  /** When the first INIT went. */
  readonly startedMs: number;
  /** The wait after the latest attempt (doubles with each). */
  retryIntervalMs: number;
  nextRetryMs: number;
  /** The attempt's own retry time while the decision waits for our receive queue. */
  dueMs: number | undefined;
  readonly queue: QueuedPlaintext[];
}

const receiveDropReasons: readonly ReceiveDropReason[] = [
  "oversize",
  "malformed",
  "protocol",
  "version",
  "unknownSession",
  "expired",
  "unauthenticated",
  "replay",
  "badSignature",
  "wrongNodeId",
  "staleTimestamp",
  "handshakeReplay",
  "handshakeRate",
  "refused",
];

const sendDropReasons: readonly SendDropReason[] = [
  "queueFull",
  "handshakesPendingFull",
  "handshakeTimeout",
  "wrongPeer",
];

/**
 * How often a due retry checks again whether our receive queue has been handled past its retry
 * time: often enough that a cleared queue costs little more, rarely enough to stay cheap.
 */
const localQueueRecheckMs = 20;

/** Draws of a fresh session ID before concluding the random source is broken. */
const sessionIdDrawsMax = 4;

/**
 * Authenticated, encrypted datagrams between node identities, for one local node.
 *
 * @example Two channels wired back to back
 * ```ts
 * import { randomBytes } from "node:crypto";
 * import { VirtualClock } from "../core/clock.ts";
 * import { generateEd25519KeyPair } from "../core/crypto.ts";
 * import { NodeId } from "../core/node_id.ts";
 * import { PeerAddress } from "./address.ts";
 * import { SecureChannel } from "./secure_channel.ts";
 *
 * const clock = new VirtualClock(1_700_000_000_000);
 * const wire: { to: PeerAddress; bytes: Uint8Array }[] = [];
 * const transport = { send: (to: PeerAddress, bytes: Uint8Array) => wire.push({ to, bytes }) };
 * const bob = generateEd25519KeyPair();
 * const alice = generateEd25519KeyPair();
 * const atAlice = PeerAddress.of("192.0.2.1", 7447)!;
 * const atBob = PeerAddress.of("192.0.2.2", 7447)!;
 * const a = new SecureChannel({ identity: alice, clock, transport, randomBytes });
 * const b = new SecureChannel({ identity: bob, clock, transport, randomBytes });
 * a.send(atBob, NodeId.fromPublicKey(bob.publicKey), new Uint8Array([42]));
 * b.receive(atAlice, wire.shift()!.bytes); // INIT; b answers
 * a.receive(atBob, wire.shift()!.bytes); // RESPONSE; a sends the queued plaintext
 * const got = b.receive(atAlice, wire.shift()!.bytes);
 * if (got?.plaintext[0] !== 42) throw new Error("not delivered");
 * ```
 */
export class SecureChannel {
  readonly #identity: Ed25519KeyPair;
  readonly #clock: Clock;
  readonly #transport: Transport;
  readonly #randomBytes: (byteLength: number) => Uint8Array;
  readonly #limits: SecureChannelLimits;
  readonly #guard: ReceiveGuard | undefined;
  /** The guard's key for each session's peer: its node ID in hex, computed once. */
  readonly #peerKeys = new WeakMap<Session, string>();
  /** Every session by our session ID, least recently used first (Map order). */
  readonly #sessionsById = new Map<string, SessionEntry>();
  /** The confirmed session each address's sends go to, by address key. */
  readonly #currentByAddress = new Map<string, SessionEntry>();
  /** Running handshakes by address key. */
  readonly #pendingByAddress = new Map<string, PendingHandshake>();
  readonly #pendingById = new Map<string, PendingHandshake>();
  /** Abandoned handshakes by our session ID, oldest first, with when they are forgotten. */
  readonly #abandonedById = new Map<string, { pending: PendingHandshake; untilMs: number }>();
  /** No pending handshake is due before this (possibly earlier than the first due one). */
  #pendingWakeMs = Infinity;
  /** RESPONSEs sent, by the hex of the INIT's signature, oldest first. */
  readonly #responseCache = new Map<string, CachedResponse>();
  readonly #localQueueClearedMs: (() => number) | undefined;
  readonly #onWrongIdentity: WrongIdentityListener | undefined;
  /** Latest INIT timestamp accepted per initiator key (hex), least recently heard first. */
  readonly #initTimestamps = new Map<string, number>();
  #lastInitTimestampMs = -1;
  /** Smoothed time and variation of handshakes finished on their first INIT (0: none yet). */
  readonly #handshakeRtt = { rttMs: 0, rttVarMs: 0 };
  #handshakeTokens: number;
  #handshakeTokensMs: number;
  #nextSweepMs: number;
  readonly #stats: Omit<SecureChannelStats, "sessions" | "handshakesPending">;

  /**
   * Makes a channel with no sessions.
   *
   * @param options Identity, clock, transport, random source and limits.
   * @throws {RangeError} When a limit is not a positive integer, or a reject limit is not above
   *   its rekey limit.
   */
  constructor(options: SecureChannelOptions) {
    this.#limits = validLimits({ ...secureChannelLimitsDefault, ...options.limits });
    this.#identity = options.identity;
    this.#clock = options.clock;
    this.#transport = options.transport;
    this.#randomBytes = options.randomBytes;
    this.#guard = options.guard;
    this.#localQueueClearedMs = options.localQueueClearedMs;
    this.#onWrongIdentity = options.onWrongIdentity;
    const nowMs = this.#clock.nowMs();
    this.#handshakeTokens = this.#limits.handshakesAnsweredPerSecondMax;
    this.#handshakeTokensMs = nowMs;
    this.#nextSweepMs = nowMs + this.#limits.sessionSweepIntervalMs;
    this.#stats = {
      dropped: Object.fromEntries(receiveDropReasons.map((reason) => [reason, 0])) as Record<
        ReceiveDropReason,
        number
      >,
      sendDropped: Object.fromEntries(sendDropReasons.map((reason) => [reason, 0])) as Record<
        SendDropReason,
        number
      >,
      handshakesStarted: 0,
      rekeys: 0,
      handshakeRetries: 0,
      handshakeRetriesPostponed: 0,
      handshakesAbandoned: 0,
      handshakesFinishedLate: 0,
      handshakeResponsesResent: 0,
      sessionsSuspected: 0,
      handshakesCompleted: 0,
      handshakesAnswered: 0,
      sessionsEvicted: 0,
      sessionsExpired: 0,
      packetsSealed: 0,
      packetsOpened: 0,
      keepalivesSent: 0,
      queuedDuplicates: 0,
      wrongIdentity: 0,
    };
  }

  /**
   * This node's ID.
   *
   * @returns The ID of the identity key.
   */
  get localNodeId(): NodeId {
    return NodeId.fromPublicKey(this.#identity.publicKey);
  }

  /**
   * Sends a plaintext to the node at `to`: sealed at once into the current session, or queued
   * behind a handshake (started here if none is running).
   *
   * @param to The peer's address.
   * @param expectedNodeId The node ID the peer must prove, when known (contacts learned from
   *   the DHT); `undefined` accepts whoever answers at `to` (bootstrap by address).
   * @param plaintext 1 to {@link sessionPlaintextBytesMax} bytes; copied when queued.
   * @returns Whether it was sent, queued or dropped (counted in `stats().sendDropped`).
   * @throws {RangeError} When the plaintext is empty or over the limit: a bug in the caller.
   */
  send(to: PeerAddress, expectedNodeId: NodeId | undefined, plaintext: Uint8Array): SendOutcome {
    if (plaintext.length === 0 || plaintext.length > sessionPlaintextBytesMax) {
      throw new RangeError(
        `Cannot send to ${to}: the plaintext is ${plaintext.length} bytes, ` +
          `expected 1 to ${sessionPlaintextBytesMax}`,
      );
    }
    const nowMs = this.#clock.nowMs();
    const entry = this.#sendableSession(to, expectedNodeId, nowMs);
    if (entry === undefined) return this.#enqueue(to, expectedNodeId, plaintext, nowMs, false);
    if (this.#isUnanswered(entry, nowMs)) {
      // The peer may have restarted and lost its keys: what we seal now could be lost, so it
      // waits for a new handshake. A late reply on this session clears the suspicion.
      if (!this.#pendingByAddress.has(to.key)) this.#stats.sessionsSuspected++;
      return this.#enqueue(to, expectedNodeId, plaintext, nowMs, true);
    }
    this.#seal(entry, plaintext, nowMs);
    const canStart = !this.#pendingByAddress.has(to.key) &&
      this.#pendingByAddress.size < this.#limits.handshakesPendingMax;
    if (canStart && this.#wantsRekey(entry.session, nowMs)) {
      // The old session keeps carrying traffic until the new one is ready.
      this.#startHandshake(to, entry.session.peerNodeId, nowMs, true);
    }
    return "sent";
  }

  /**
   * Takes one datagram from the network: answers an INIT, finishes our handshake on a RESPONSE,
   * opens a DATA packet. Never throws on hostile bytes.
   *
   * @param from The address it came from.
   * @param datagram The bytes as received.
   * @returns The plaintext and the sender's proven identity for a DATA packet carrying one;
   *   `undefined` otherwise (handshakes, keepalives, and drops, counted in `stats().dropped`).
   */
  receive(from: PeerAddress, datagram: Uint8Array): Received | undefined {
    if (this.admit(from, datagram) === undefined) return undefined;
    return this.receiveAdmitted(from, datagram);
  }

  /**
   * The cheap first look at a datagram, before any crypto: its type, its session, the receive
   * guard's limits and penalties. Junk and refused datagrams are dropped here and counted; the
   * rest get a priority class for the receive queue.
   *
   * @param from The address it came from.
   * @param datagram The bytes as received.
   * @returns The class to queue it in, or `undefined` when it was dropped.
   */
  admit(from: PeerAddress, datagram: Uint8Array): ReceivePriority | undefined {
    if (datagram.length > datagramBytesMax) return this.#junk(from, "oversize");
    const type = packetTypeOf(datagram);
    const guard = this.#guard;
    switch (type) {
      case "malformed":
      case "protocol":
      case "version":
        return this.#junk(from, type);
      case PacketType.init:
        if (guard?.admit(from, "init") !== undefined) return this.#drop("refused");
        return this.#currentByAddress.has(from.key)
          ? ReceivePriority.knownHandshake
          : ReceivePriority.strangerHandshake;
      case PacketType.response:
        if (guard?.admit(from, "response") !== undefined) return this.#drop("refused");
        return ReceivePriority.reply;
      case PacketType.data: {
        if (datagram.length < DATA_OVERHEAD_BYTES) return this.#junk(from, "malformed");
        const entry = this.#sessionsById.get(sessionIdKey(datagram, PACKET_HEADER_BYTES));
        if (entry === undefined) {
          this.#guard?.junk(from, unknownSessionPenaltyPoints);
          return this.#drop("unknownSession");
        }
        if (guard?.admit(from, "data", this.#peerKey(entry.session)) !== undefined) {
          return this.#drop("refused");
        }
        // We sent on this session and heard nothing since: this is likely the answer.
        return entry.firstUnansweredMs !== undefined
          ? ReceivePriority.reply
          : ReceivePriority.knownPeer;
      }
      default:
        return this.#junk(from, "malformed");
    }
  }

  /**
   * Processes a datagram {@link admit} let through: answers an INIT, finishes our handshake on a
   * RESPONSE, opens a DATA packet.
   *
   * @param from The address it came from.
   * @param datagram The bytes as received.
   * @returns As {@link receive}.
   */
  receiveAdmitted(from: PeerAddress, datagram: Uint8Array): Received | undefined {
    const forgedBefore = this.#stats.dropped.unauthenticated;
    const received = this.#process(from, datagram);
    // A DATA packet that failed its tag cost a decryption: its source pays for it.
    if (this.#stats.dropped.unauthenticated > forgedBefore) this.#guard?.junk(from);
    return received;
  }

  #process(from: PeerAddress, datagram: Uint8Array): Received | undefined {
    if (datagram.length > datagramBytesMax) return this.#drop("oversize");
    const type = packetTypeOf(datagram);
    const nowMs = this.#clock.nowMs();
    switch (type) {
      case "malformed":
      case "protocol":
      case "version":
        return this.#drop(type);
      case PacketType.init:
        this.#onInit(from, datagram, nowMs);
        return undefined;
      case PacketType.response:
        this.#onResponse(datagram, nowMs);
        return undefined;
      case PacketType.data:
        return this.#onData(datagram, nowMs);
      default:
        return this.#drop("malformed");
    }
  }

  /**
   * Resends due INITs, abandons handshakes out of attempts, and sweeps expired sessions. An
   * early or repeated call is harmless.
   */
  tick(): void {
    const nowMs = this.#clock.nowMs();
    if (nowMs >= this.#pendingWakeMs) {
      const due: PendingHandshake[] = [];
      let nextMs = Infinity;
      for (const pending of this.#pendingByAddress.values()) {
        if (pending.nextRetryMs <= nowMs) due.push(pending);
        else nextMs = Math.min(nextMs, pending.nextRetryMs);
      }
      for (const pending of due) {
        // The RESPONSE may be waiting in our own socket: decide once that has been handled.
        if (!this.#waitsForLocalQueue(pending, nowMs)) {
          if (pending.attempts >= this.#limits.handshakeAttemptsMax) {
            this.#abandon(pending, nowMs);
            continue;
          }
          this.#retryHandshake(pending, nowMs);
        }
        nextMs = Math.min(nextMs, pending.nextRetryMs);
      }
      this.#pendingWakeMs = nextMs;
    }
    if (nowMs >= this.#nextSweepMs) {
      this.#nextSweepMs = nowMs + this.#limits.sessionSweepIntervalMs;
      for (const entry of [...this.#sessionsById.values()]) {
        if (nowMs - entry.session.createdMs >= this.#limits.sessionRejectMs) {
          this.#expire(entry);
        }
      }
      this.#forgetExpiredResponses(nowMs);
      this.#forgetAbandoned(nowMs);
    }
  }

  /**
   * When {@link tick} must next run.
   *
   * @returns A time in ms of the injected clock (possibly past), or `Infinity` when nothing
   *   waits.
   */
  nextWakeupMs(): number {
    const sweeping = this.#sessionsById.size > 0 || this.#responseCache.size > 0 ||
      this.#abandonedById.size > 0;
    const sweepMs = sweeping ? this.#nextSweepMs : Infinity;
    const pendingMs = this.#pendingByAddress.size > 0 ? this.#pendingWakeMs : Infinity;
    return Math.min(sweepMs, pendingMs);
  }

  /**
   * A snapshot of the counters.
   *
   * @returns A copy, safe to keep.
   */
  stats(): SecureChannelStats {
    return {
      ...this.#stats,
      dropped: { ...this.#stats.dropped },
      sendDropped: { ...this.#stats.sendDropped },
      sessions: this.#sessionsById.size,
      handshakesPending: this.#pendingByAddress.size,
    };
  }

  /**
   * The session that sends to `to` would use now, for tests and diagnostics.
   *
   * @param to The peer's address.
   * @returns The session, or `undefined` when a send would queue.
   */
  currentSession(to: PeerAddress): Session | undefined {
    return this.#currentByAddress.get(to.key)?.session;
  }

  #sendableSession(
    to: PeerAddress,
    expectedNodeId: NodeId | undefined,
    nowMs: number,
  ): SessionEntry | undefined {
    const entry = this.#currentByAddress.get(to.key);
    if (entry === undefined) return undefined;
    // Another node now answers at this address: its session says nothing about the one wanted.
    if (expectedNodeId !== undefined && !entry.session.peerNodeId.equals(expectedNodeId)) {
      return undefined;
    }
    const { session } = entry;
    if (nowMs - session.createdMs >= this.#limits.sessionRejectMs) {
      this.#expire(entry);
      return undefined;
    }
    if (session.packetsSealedCount >= this.#limits.sessionRejectPackets) {
      // Retired for sending only: the peer's packets already on their way still open here
      // until the session ages out.
      this.#currentByAddress.delete(to.key);
      return undefined;
    }
    return entry;
  }

  #wantsRekey(session: Session, nowMs: number): boolean {
    const rekeyMs = session.role === "initiator"
      ? this.#limits.sessionRekeyMs
      : this.#limits.sessionRekeyMs + this.#limits.sessionResponderRekeyDelayMs;
    if (nowMs - session.createdMs >= rekeyMs) return true;
    return session.packetsSealedCount >= this.#limits.sessionRekeyPackets;
  }

  #isUnanswered(entry: SessionEntry, nowMs: number): boolean {
    // firstUnansweredMs is set only by sends that expect an answer: see #seal.
    if (entry.firstUnansweredMs === undefined) return false;
    const silentUntilMs = entry.firstUnansweredMs + this.#limits.sessionUnansweredMs;
    if (nowMs < silentUntilMs) return false;
    // The answer may be waiting in our own socket: suspect only once that has been handled.
    return this.#localQueueClearedMs === undefined || this.#localQueueClearedMs() >= silentUntilMs;
  }

  #enqueue(
    to: PeerAddress,
    expectedNodeId: NodeId | undefined,
    plaintext: Uint8Array,
    nowMs: number,
    rekey: boolean,
  ): SendOutcome {
    let pending = this.#pendingByAddress.get(to.key);
    if (pending === undefined) {
      if (this.#pendingByAddress.size >= this.#limits.handshakesPendingMax) {
        this.#stats.sendDropped.handshakesPendingFull++;
        return "dropped";
      }
      pending = this.#startHandshake(to, expectedNodeId, nowMs, rekey);
    } else if (pending.expectedNodeId === undefined) {
      // A stricter expectation only narrows whom the handshake accepts; queued plaintexts
      // with no expectation are fine with anyone.
      pending.expectedNodeId = expectedNodeId;
    }
    // A resend of the same bytes to the same node; the same bytes for another node are not one.
    const sameNode = (queued?: NodeId) =>
      queued === undefined || expectedNodeId === undefined
        ? queued === expectedNodeId
        : queued.equals(expectedNodeId);
    if (
      pending.queue.some((queued) =>
        sameNode(queued.expectedNodeId) && bytesEqual(queued.plaintext, plaintext)
      )
    ) {
      this.#stats.queuedDuplicates++;
      return "queued";
    }
    if (pending.queue.length >= this.#limits.handshakeQueuePacketsMax) {
      pending.queue.shift();
      this.#stats.sendDropped.queueFull++;
    }
    pending.queue.push({ plaintext: plaintext.slice(), expectedNodeId });
    return "queued";
  }

  #startHandshake(
    to: PeerAddress,
    expectedNodeId: NodeId | undefined,
    nowMs: number,
    rekey: boolean,
  ): PendingHandshake {
    assert(!this.#pendingByAddress.has(to.key), `a handshake with ${to} is already running`);
    const { state, idKey } = this.#newInit(nowMs);
    const pending: PendingHandshake = {
      to,
      expectedNodeId,
      state,
      idKey,
      attempts: 1,
      startedMs: nowMs,
      retryIntervalMs: this.#firstRetryMs(),
      nextRetryMs: nowMs + this.#firstRetryMs(),
      dueMs: undefined,
      queue: [],
    };
    this.#pendingByAddress.set(to.key, pending);
    this.#pendingById.set(idKey, pending);
    this.#pendingWakeMs = Math.min(this.#pendingWakeMs, pending.nextRetryMs);
    this.#stats.handshakesStarted++;
    if (rekey) this.#stats.rekeys++;
    this.#transport.send(to, state.initBytes);
    return pending;
  }

  #retryHandshake(pending: PendingHandshake, nowMs: number): void {
    // The same INIT again: a RESPONSE to any copy (a late one included) finishes the handshake,
    // and a responder that answered an earlier copy resends its RESPONSE from its cache.
    pending.attempts++;
    pending.retryIntervalMs *= 2;
    pending.nextRetryMs = nowMs + pending.retryIntervalMs;
    this.#stats.handshakeRetries++;
    this.#transport.send(pending.to, pending.state.initBytes);
  }

  /**
   * Whether a due retry must wait because the RESPONSE may still be in our own receive queue;
   * if so its retry time becomes the next check (at most `handshakeLocalQueueWaitMsMax` past the
   * due time).
   */
  #waitsForLocalQueue(pending: PendingHandshake, nowMs: number): boolean {
    if (this.#localQueueClearedMs === undefined) return false;
    if (pending.dueMs === undefined) {
      pending.dueMs = pending.nextRetryMs;
      this.#stats.handshakeRetriesPostponed++;
    }
    const waitEndMs = pending.dueMs + this.#limits.handshakeLocalQueueWaitMsMax;
    if (nowMs >= waitEndMs || this.#localQueueClearedMs() >= pending.dueMs) {
      pending.dueMs = undefined;
      return false;
    }
    pending.nextRetryMs = Math.min(waitEndMs, nowMs + localQueueRecheckMs);
    return true;
  }

  #newInit(nowMs: number): { state: InitiatorState; idKey: string } {
    const initiatorSessionId = this.#newSessionId();
    // Responders refuse an INIT no newer than the last from our key, so timestamps must rise
    // even when the clock stands still between two handshakes.
    const timestampMs = Math.max(nowMs, this.#lastInitTimestampMs + 1);
    this.#lastInitTimestampMs = timestampMs;
    const state = startHandshake(this.#identity, this.#random(X25519_SECRET_KEY_BYTES), {
      initiatorSessionId,
      timestampMs,
    });
    return { state, idKey: sessionIdKey(initiatorSessionId) };
  }

  #removePending(pending: PendingHandshake): void {
    // An abandoned handshake's address may have a newer one running: that one stays.
    if (this.#pendingByAddress.get(pending.to.key) === pending) {
      this.#pendingByAddress.delete(pending.to.key);
    }
    this.#pendingById.delete(pending.idKey);
    this.#abandonedById.delete(pending.idKey);
  }

  /**
   * The first wait before an INIT is resent: {@link handshakeRetryMs}, or RFC 6298's timeout
   * over the handshakes finished on their first INIT when that is longer, up to
   * {@link handshakeRetryMsMax}.
   */
  #firstRetryMs(): number {
    const { rttMs, rttVarMs } = this.#handshakeRtt;
    const floorMs = this.#limits.handshakeRetryMs;
    return Math.max(floorMs, Math.min(handshakeRetryMsMax, rttMs + 4 * rttVarMs));
  }

  /** Counts a handshake's time from its only INIT to the RESPONSE (Karn: never a resent one). */
  #recordHandshakeRtt(sampleMs: number): void {
    const rtt = this.#handshakeRtt;
    if (rtt.rttMs === 0) {
      rtt.rttMs = Math.max(1, sampleMs);
      rtt.rttVarMs = sampleMs / 2;
      return;
    }
    rtt.rttVarMs = 0.75 * rtt.rttVarMs + 0.25 * Math.abs(rtt.rttMs - sampleMs);
    rtt.rttMs = 0.875 * rtt.rttMs + 0.125 * sampleMs;
  }

  /** Gives a handshake up: its plaintexts go, its state waits a while for a late RESPONSE. */
  #abandon(pending: PendingHandshake, nowMs: number): void {
    this.#removePending(pending);
    this.#stats.handshakesAbandoned++;
    this.#stats.sendDropped.handshakeTimeout += pending.queue.length;
    pending.queue.length = 0;
    this.#abandonedById.set(pending.idKey, {
      pending,
      untilMs: nowMs + this.#limits.handshakeAbandonedKeepMs,
    });
    if (this.#abandonedById.size > this.#limits.handshakesAbandonedKeptMax) {
      this.#abandonedById.delete(this.#abandonedById.keys().next().value!);
    }
  }

  /** Forgets abandoned handshakes past their time; entries are oldest first. */
  #forgetAbandoned(nowMs: number): void {
    for (const [key, entry] of this.#abandonedById) {
      if (entry.untilMs > nowMs) break;
      this.#abandonedById.delete(key);
    }
  }

  /** The running or recently abandoned handshake a RESPONSE names, if any. */
  #handshakeFor(idKey: string, nowMs: number): PendingHandshake | undefined {
    const pending = this.#pendingById.get(idKey);
    if (pending !== undefined) return pending;
    const abandoned = this.#abandonedById.get(idKey);
    if (abandoned === undefined) return undefined;
    if (abandoned.untilMs <= nowMs) {
      this.#abandonedById.delete(idKey);
      return undefined;
    }
    return abandoned.pending;
  }

  #onInit(from: PeerAddress, bytes: Uint8Array, nowMs: number): void {
    const init = decodeInit(bytes);
    if (init === undefined) return this.#drop("malformed");
    const cacheKey = toHex(init.signature);
    const cached = this.#responseCache.get(cacheKey);
    if (cached !== undefined && nowMs < cached.expiresMs && bytesEqual(cached.initBytes, bytes)) {
      // A copy of an INIT we answered: the initiator has not seen our RESPONSE (lost, or still
      // queued on its side). The same RESPONSE again costs no crypto and makes no new session.
      if (!cached.from.equals(from) || cached.resends >= this.#limits.handshakeResponseResendsMax) {
        return this.#drop("handshakeReplay");
      }
      cached.resends++;
      this.#stats.handshakeResponsesResent++;
      this.#transport.send(from, cached.responseBytes);
      return;
    }
    // Cheap checks first: an old or hostile INIT must not cost a signature check.
    if (Math.abs(nowMs - init.timestampMs) > this.#limits.handshakeClockSkewMsMax) {
      return this.#drop("staleTimestamp");
    }
    if (bytesEqual(init.staticPublicKey, this.#identity.publicKey)) {
      return this.#drop("wrongNodeId");
    }
    if (!this.#takeHandshakeToken(nowMs)) return this.#drop("handshakeRate");
    if (!verifyInit(bytes, init)) return this.#drop("badSignature");
    const initiatorKey = toHex(init.staticPublicKey);
    const lastTimestampMs = this.#initTimestamps.get(initiatorKey);
    if (lastTimestampMs !== undefined && init.timestampMs <= lastTimestampMs) {
      return this.#drop("handshakeReplay");
    }
    const responderSessionId = this.#newSessionId();
    const answer = answerHandshake(
      this.#identity,
      this.#random(X25519_SECRET_KEY_BYTES),
      bytes,
      init,
      responderSessionId,
    );
    if (answer === undefined) return this.#drop("malformed");
    this.#rememberInitTimestamp(initiatorKey, init.timestampMs);
    const session = new Session({
      role: "responder",
      localSessionId: responderSessionId,
      remoteSessionId: init.initiatorSessionId,
      keys: answer.keys,
      peerPublicKey: init.staticPublicKey,
      createdMs: nowMs,
    });
    // Not confirmed: a replayed INIT makes a session only the real initiator could use, and
    // it must not displace the session our sends to this address rely on.
    this.#addSession(session, from, false);
    this.#stats.handshakesAnswered++;
    this.#cacheResponse(cacheKey, {
      initBytes: bytes.slice(),
      responseBytes: answer.responseBytes,
      from,
      expiresMs: nowMs + this.#limits.handshakeResponseCacheMs,
      resends: 0,
    });
    this.#transport.send(from, answer.responseBytes);
  }

  #cacheResponse(key: string, entry: CachedResponse): void {
    this.#responseCache.delete(key);
    this.#responseCache.set(key, entry);
    if (this.#responseCache.size > this.#limits.handshakeResponsesCachedMax) {
      this.#responseCache.delete(this.#responseCache.keys().next().value!);
    }
  }

  /** Drops cached RESPONSEs past their time; entries are oldest first, so it stops early. */
  #forgetExpiredResponses(nowMs: number): void {
    for (const [key, entry] of this.#responseCache) {
      if (entry.expiresMs > nowMs) break;
      this.#responseCache.delete(key);
    }
  }

  #onResponse(bytes: Uint8Array, nowMs: number): void {
    const response = decodeResponse(bytes);
    if (response === undefined) return this.#drop("malformed");
    const idKey = sessionIdKey(response.initiatorSessionId);
    const pending = this.#handshakeFor(idKey, nowMs);
    if (pending === undefined) return this.#drop("unknownSession");
    const late = !this.#pendingById.has(idKey);
    // Before the signature, since a hash is cheaper: nobody may claim a node ID without its key.
    const peerNodeId = NodeId.fromPublicKey(response.staticPublicKey);
    if (
      pending.expectedNodeId !== undefined && !peerNodeId.equals(pending.expectedNodeId) &&
      !pending.queue.some((queued) => queued.expectedNodeId?.equals(peerNodeId) ?? true)
    ) {
      return this.#refuseIdentity(pending, bytes, response, peerNodeId);
    }
    const keys = finishHandshake(pending.state, bytes, response);
    if (typeof keys === "string") return this.#drop(keys);
    if (late) {
      this.#abandonedById.delete(idKey);
      this.#stats.handshakesFinishedLate++;
      // A send since the abandonment started another handshake to the address: this session
      // carries its plaintexts now, and that one's RESPONSE, if it comes, finds nothing.
      const newer = this.#pendingByAddress.get(pending.to.key);
      if (newer !== undefined) {
        this.#removePending(newer);
        pending.queue.push(...newer.queue);
        pending.expectedNodeId ??= newer.expectedNodeId;
      }
    } else {
      this.#removePending(pending);
      if (pending.attempts === 1) this.#recordHandshakeRtt(nowMs - pending.startedMs);
    }
    const session = new Session({
      role: "initiator",
      localSessionId: pending.state.initiatorSessionId,
      remoteSessionId: response.responderSessionId,
      keys,
      peerPublicKey: response.staticPublicKey,
      createdMs: nowMs,
    });
    const entry = this.#addSession(session, pending.to, true);
    this.#currentByAddress.set(pending.to.key, entry);
    this.#stats.handshakesCompleted++;
    let sentCount = 0;
    for (const queued of pending.queue) {
      if (queued.expectedNodeId !== undefined && !queued.expectedNodeId.equals(peerNodeId)) {
        this.#stats.sendDropped.wrongPeer++;
        continue;
      }
      this.#seal(entry, queued.plaintext, nowMs);
      sentCount++;
    }
    if (sentCount === 0) {
      // The responder sends on its side only once it has seen us use the keys.
      this.#seal(entry, new Uint8Array(0), nowMs);
      this.#stats.keepalivesSent++;
    }
    // Last: the listener may send again, and the session is in place for it.
    this.#tellWrongIdentity(pending, peerNodeId);
  }

  /**
   * A RESPONSE naming another node than expected. Unsigned, it changes nothing: a forger must
   * not be able to cancel the real handshake. Signed over our INIT, it proves that node answers
   * at the address: the handshake ends there, its plaintexts are dropped, the listener is told.
   */
  #refuseIdentity(
    pending: PendingHandshake,
    bytes: Uint8Array,
    response: Response,
    peerNodeId: NodeId,
  ): undefined {
    this.#drop("wrongNodeId");
    if (!verifyResponse(pending.state.initBytes, bytes, response)) return;
    this.#removePending(pending);
    this.#stats.wrongIdentity++;
    this.#stats.sendDropped.wrongPeer += pending.queue.length;
    this.#tellWrongIdentity(pending, peerNodeId);
  }

  /** Tells the listener once for each node ID that sends to the handshake's address expected. */
  #tellWrongIdentity(pending: PendingHandshake, actual: NodeId): void {
    const told: NodeId[] = [];
    const expected = [
      pending.expectedNodeId,
      ...pending.queue.map((queued) => queued.expectedNodeId),
    ];
    for (const expectedNodeId of expected) {
      if (expectedNodeId === undefined || expectedNodeId.equals(actual)) continue;
      if (told.some((id) => id.equals(expectedNodeId))) continue;
      told.push(expectedNodeId);
      this.#onWrongIdentity?.(pending.to, expectedNodeId, actual);
    }
  }

  #onData(bytes: Uint8Array, nowMs: number): Received | undefined {
    if (bytes.length < DATA_OVERHEAD_BYTES) return this.#drop("malformed");
    const entry = this.#sessionsById.get(sessionIdKey(bytes, PACKET_HEADER_BYTES));
    if (entry === undefined) return this.#drop("unknownSession");
    if (nowMs - entry.session.createdMs >= this.#limits.sessionRejectMs) {
      this.#expire(entry);
      return this.#drop("expired");
    }
    const plaintext = entry.session.open(bytes);
    if (typeof plaintext === "string") return this.#drop(plaintext);
    this.#touch(entry);
    entry.firstUnansweredMs = undefined;
    entry.lastOpenedMs = nowMs;
    this.#stats.packetsOpened++;
    if (!entry.confirmed) this.#confirm(entry);
    if (plaintext.length === 0) return undefined;
    const { peerNodeId, peerPublicKey } = entry.session;
    return { peer: peerNodeId, publicKey: peerPublicKey, plaintext };
  }

  /** A responder's session proved by the initiator: sends to its address may now use it. */
  #confirm(entry: SessionEntry): void {
    entry.confirmed = true;
    const current = this.#currentByAddress.get(entry.address.key);
    if (current === undefined || current.session.createdMs <= entry.session.createdMs) {
      this.#currentByAddress.set(entry.address.key, entry);
    }
  }

  #seal(entry: SessionEntry, plaintext: Uint8Array, nowMs: number): void {
    const packet = entry.session.seal(plaintext);
    this.#touch(entry);
    // A send soon after the peer's last packet is taken for a reply: it expects no answer, so
    // it starts no suspicion (the answering side of a conversation never re-handshakes).
    if (nowMs - entry.lastOpenedMs >= this.#limits.sessionReplyWindowMs) {
      entry.firstUnansweredMs ??= nowMs;
    }
    this.#stats.packetsSealed++;
    this.#transport.send(entry.address, packet);
  }

  #addSession(session: Session, address: PeerAddress, confirmed: boolean): SessionEntry {
    while (this.#sessionsById.size >= this.#limits.sessionsMax) {
      const leastRecentlyUsed = this.#sessionsById.values().next().value!;
      this.#removeSession(leastRecentlyUsed);
      this.#stats.sessionsEvicted++;
    }
    const idKey = sessionIdKey(session.localSessionId);
    assert(!this.#sessionsById.has(idKey), "session IDs are unique");
    const entry: SessionEntry = {
      session,
      idKey,
      address,
      confirmed,
      firstUnansweredMs: undefined,
      lastOpenedMs: -Infinity,
    };
    this.#sessionsById.set(idKey, entry);
    return entry;
  }

  /** Moves a session to the most recently used end of the table. */
  #touch(entry: SessionEntry): void {
    this.#sessionsById.delete(entry.idKey);
    this.#sessionsById.set(entry.idKey, entry);
  }

  #expire(entry: SessionEntry): void {
    this.#removeSession(entry);
    this.#stats.sessionsExpired++;
  }

  #removeSession(entry: SessionEntry): void {
    this.#sessionsById.delete(entry.idKey);
    if (this.#currentByAddress.get(entry.address.key) === entry) {
      this.#currentByAddress.delete(entry.address.key);
    }
  }

  #rememberInitTimestamp(initiatorKey: string, timestampMs: number): void {
    this.#initTimestamps.delete(initiatorKey);
    this.#initTimestamps.set(initiatorKey, timestampMs);
    if (this.#initTimestamps.size > this.#limits.handshakeTimestampsMax) {
      this.#initTimestamps.delete(this.#initTimestamps.keys().next().value!);
    }
  }

  /** A token bucket refilled at the answer rate and holding one second of it. */
  #takeHandshakeToken(nowMs: number): boolean {
    const ratePerSecond = this.#limits.handshakesAnsweredPerSecondMax;
    const elapsedMs = Math.max(0, nowMs - this.#handshakeTokensMs);
    this.#handshakeTokens = Math.min(
      ratePerSecond,
      this.#handshakeTokens + (elapsedMs * ratePerSecond) / 1000,
    );
    this.#handshakeTokensMs = nowMs;
    if (this.#handshakeTokens < 1) return false;
    this.#handshakeTokens -= 1;
    return true;
  }

  #newSessionId(): Uint8Array {
    for (let draw = 0; draw < sessionIdDrawsMax; draw++) {
      const id = this.#random(SESSION_ID_BYTES);
      const key = sessionIdKey(id);
      if (!this.#sessionsById.has(key) && !this.#pendingById.has(key)) return id;
    }
    // Four collisions in a row among 2^64 values: the injected random source is broken.
    assert(false, `${sessionIdDrawsMax} session IDs drawn in a row were all in use`);
  }

  #random(byteLength: number): Uint8Array {
    const bytes = this.#randomBytes(byteLength);
    assert(bytes.length === byteLength, `the random source gave ${bytes.length} bytes`);
    return new Uint8Array(bytes);
  }

  #peerKey(session: Session): string {
    let key = this.#peerKeys.get(session);
    if (key === undefined) {
      key = session.peerNodeId.toHex();
      this.#peerKeys.set(session, key);
    }
    return key;
  }

  /** Drops a datagram that is not ours or not well formed, and tells the guard its source. */
  #junk(from: PeerAddress, reason: ReceiveDropReason): undefined {
    this.#guard?.junk(from);
    return this.#drop(reason);
  }

  #drop(reason: ReceiveDropReason): undefined {
    this.#stats.dropped[reason]++;
    return undefined;
  }
}

function validLimits(limits: SecureChannelLimits): SecureChannelLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`Cannot use limit ${name}: ${value} is not a positive integer`);
    }
  }
  if (limits.sessionRejectPackets <= limits.sessionRekeyPackets) {
    throw new RangeError(
      `Cannot use limit sessionRejectPackets: ${limits.sessionRejectPackets} is not above ` +
        `sessionRekeyPackets ${limits.sessionRekeyPackets}`,
    );
  }
  const responderRekeyMs = limits.sessionRekeyMs + limits.sessionResponderRekeyDelayMs;
  if (limits.sessionRejectMs <= responderRekeyMs) {
    throw new RangeError(
      `Cannot use limit sessionRejectMs: ${limits.sessionRejectMs} is not above ` +
        `sessionRekeyMs + sessionResponderRekeyDelayMs ${responderRekeyMs}`,
    );
  }
  return limits;
}
