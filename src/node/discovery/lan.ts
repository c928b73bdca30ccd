/**
 * LAN discovery: nodes on one network segment find each other without any configuration by
 * announcing themselves to an IPv4 multicast group (`discovery.lan_group`, TTL 1, so the
 * datagrams never leave the link) and listening there. An announcement is 112 bytes, signed by
 * the node's identity key (docs/discovery.md):
 *
 * | bytes | field                                                                |
 * | ----- | -------------------------------------------------------------------- |
 * | 4     | `RHZL`                                                               |
 * | 1     | version, 1                                                           |
 * | 1     | flags: bit 0 "looking" (the sender knows no peer and asks for news)  |
 * | 32    | the node's Ed25519 public key                                        |
 * | 2     | its DHT UDP port, big-endian (the host is the datagram's source)     |
 * | 8     | the sender's clock, milliseconds since 1970, big-endian              |
 * | 64    | Ed25519 signature over "rhizome/lan/v1" ‖ the 48 bytes above         |
 *
 * Traffic is bounded both ways. A node sends one announcement at start (after up to
 * {@link lanStartJitterMsMax} of jitter), then one every `discovery.lan_interval_s` ± 20%, plus
 * an answer to a "looking" announcement — never two within {@link lanSendGapMsMin}. It reads at
 * most {@link lanReceivedPerSecondMax} announcements a second, checks cheap things (size, tag,
 * its own key, clock skew, replay) before the signature, and keeps at most {@link lanPeersMax}
 * peers, each for three intervals after it was last heard.
 *
 * @module
 */

import dgram from "node:dgram";
import { concatBytes, utf8Encode } from "../../core/bytes.ts";
import type { Clock } from "../../core/clock.ts";
import {
  ED25519_PUBLIC_KEY_BYTES,
  type Ed25519KeyPair,
  ed25519Sign,
  ed25519Verify,
} from "../../core/crypto.ts";
import type { Log } from "../../core/log.ts";
import { NodeId } from "../../core/node_id.ts";
import type { Contact } from "../../dht/types.ts";
import { PeerAddress } from "../../net/address.ts";

/** Bytes of an announcement. */
export const LAN_ANNOUNCEMENT_BYTES = 112;

const magic = utf8Encode("RHZL");
const version = 1;
const signedBytes = 48;
const signatureDomain = utf8Encode("rhizome/lan/v1");
const flagLooking = 1;

/**
 * Shortest gap between two announcements of one node, whatever asks for them (the period, answers
 * to looking nodes): a LAN of N nodes carries at most N datagrams a second even when all of them
 * start together and look.
 */
export const lanSendGapMsMin = 1_000;

/** Longest random wait before the first announcement, so nodes started together spread out. */
export const lanStartJitterMsMax = 500;

/**
 * Longest random wait before answering a looking node: several nodes hearing it answer at
 * different moments, and each answers at most once per {@link lanSendGapMsMin}.
 */
export const lanAnswerJitterMsMax = 1_000;

/**
 * How long a node that knows no peer waits, the first time it asks the LAN, for answers to its
 * own looking announcement: its start jitter, the answerers' jitter, and room for the datagrams.
 * Without it a node on a busy LAN would start a network of its own a moment before it hears one.
 */
export const lanFirstAnswerWaitMs = lanStartJitterMsMax + lanAnswerJitterMsMax + 500;

/** Share of the interval by which each period is moved at random either way. */
export const lanIntervalJitter = 0.2;

/**
 * Announcements read per second at most (a token bucket with this burst); the excess is dropped
 * unread and counted. 32 per second is a busy LAN's worth of nodes starting at once; a flood
 * costs at most 32 signature checks a second.
 */
export const lanReceivedPerSecondMax = 32;

/**
 * Peers remembered from the LAN: more than a join needs (one answering contact). At the limit the
 * one heard longest ago is forgotten.
 */
export const lanPeersMax = 64;

/**
 * Largest difference between an announcement's clock and ours: nodes on one LAN keep roughly the
 * same time, and an announcement recorded and replayed later than this is refused.
 */
export const lanClockSkewMsMax = 10 * 60_000;

/** A decoded announcement. */
export interface LanAnnouncement {
  /** The sender's public key. */
  publicKey: Uint8Array;
  /** Its DHT UDP port. */
  port: number;
  /** Its clock when it sent this. */
  sentMs: number;
  /** Whether it knows no peer yet. */
  looking: boolean;
}

/**
 * Encodes and signs an announcement.
 *
 * @param keyPair The node's identity key.
 * @param port Its DHT UDP port.
 * @param sentMs Its clock now.
 * @param looking Whether it knows no peer.
 * @returns {@link LAN_ANNOUNCEMENT_BYTES} bytes.
 */
export function encodeLanAnnouncement(
  keyPair: Ed25519KeyPair,
  port: number,
  sentMs: number,
  looking: boolean,
): Uint8Array {
  const bytes = new Uint8Array(LAN_ANNOUNCEMENT_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(magic, 0);
  bytes[4] = version;
  bytes[5] = looking ? flagLooking : 0;
  bytes.set(keyPair.publicKey, 6);
  view.setUint16(38, port);
  view.setBigUint64(40, BigInt(Math.max(0, Math.floor(sentMs))));
  const signature = ed25519Sign(
    keyPair,
    concatBytes(signatureDomain, bytes.subarray(0, signedBytes)),
  );
  bytes.set(signature, signedBytes);
  return bytes;
}

/**
 * Reads an announcement's fields without checking its signature (see
 * {@link verifyLanAnnouncement}): the cheap checks come first.
 *
 * @param bytes A datagram.
 * @returns The fields, or why the datagram is not an announcement.
 */
export function decodeLanAnnouncement(bytes: Uint8Array): LanAnnouncement | string {
  if (bytes.length !== LAN_ANNOUNCEMENT_BYTES) {
    return `${bytes.length} bytes, expected ${LAN_ANNOUNCEMENT_BYTES}`;
  }
  if (!magic.every((byte, i) => bytes[i] === byte)) return "not an announcement";
  if (bytes[4] !== version) return `version ${bytes[4]}, expected ${version}`;
  if ((bytes[5] & ~flagLooking) !== 0) return `unknown flags ${bytes[5]}`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const port = view.getUint16(38);
  if (port === 0) return "port 0";
  const sent = view.getBigUint64(40);
  if (sent > BigInt(Number.MAX_SAFE_INTEGER)) return "time out of range";
  return {
    publicKey: bytes.slice(6, 6 + ED25519_PUBLIC_KEY_BYTES),
    port,
    sentMs: Number(sent),
    looking: (bytes[5] & flagLooking) !== 0,
  };
}

/**
 * Checks an announcement's signature by the key it carries.
 *
 * @param bytes The announcement ({@link decodeLanAnnouncement} accepted it).
 * @param publicKey The key it carries.
 * @returns Whether it is signed by that key.
 */
export function verifyLanAnnouncement(bytes: Uint8Array, publicKey: Uint8Array): boolean {
  return ed25519Verify(
    publicKey,
    concatBytes(signatureDomain, bytes.subarray(0, signedBytes)),
    bytes.subarray(signedBytes),
  );
}

/** What a {@link LanDiscovery} counts. */
export interface LanStats {
  /** Announcements sent. */
  sent: number;
  /** Datagrams received on the group. */
  received: number;
  /** Announcements from other nodes accepted. */
  accepted: number;
  /** Peers known now. */
  peers: number;
  /** Datagrams dropped, by reason. */
  dropped: {
    own: number;
    malformed: number;
    rate_limited: number;
    clock_skew: number;
    replayed: number;
    bad_signature: number;
    unreachable: number;
  };
}

/** Settings of a {@link LanDiscovery}. */
export interface LanDiscoveryOptions {
  /** The node's identity key: signs announcements, and marks its own looped-back ones. */
  keyPair: Ed25519KeyPair;
  /** The DHT UDP port to announce. */
  port: number;
  /** The multicast group's IPv4 address and port. */
  group: { host: string; port: number };
  /** The interface's IPv4 address; the system's choice when "". */
  interfaceAddress: string;
  /** Milliseconds between announcements (before jitter). */
  intervalMs: number;
  /** Whether peers heard must be on loopback (the node listens on loopback only). */
  loopbackOnly: boolean;
  /** Whether the node knows no peer now (sets the "looking" flag). */
  looking: () => boolean;
  /** Called once for each peer heard that was not known. */
  onPeer: (contact: Contact) => void;
  /** Time. */
  clock: Clock;
  /** Randomness in [0, 1) for jitter. */
  random: () => number;
  /** Where to log. */
  log: Log;
}

/** Announces this node on the LAN and remembers the nodes it hears there. */
export class LanDiscovery {
  readonly #options: LanDiscoveryOptions;
  readonly #socket: dgram.Socket;
  readonly #ownKey: Uint8Array;
  readonly #peers = new Map<string, { contact: Contact; heardMs: number; sentMs: number }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextSendMs = Infinity;
  #lastSendMs = -Infinity;
  #tokens = lanReceivedPerSecondMax;
  #tokensMs: number;
  #closed = false;
  /** Those waiting in {@link waitForPeer}. */
  readonly #waiting = new Set<() => void>();
  readonly #stats: LanStats = {
    sent: 0,
    received: 0,
    accepted: 0,
    peers: 0,
    dropped: {
      own: 0,
      malformed: 0,
      rate_limited: 0,
      clock_skew: 0,
      replayed: 0,
      bad_signature: 0,
      unreachable: 0,
    },
  };

  private constructor(options: LanDiscoveryOptions, socket: dgram.Socket) {
    this.#options = options;
    this.#socket = socket;
    this.#ownKey = options.keyPair.publicKey;
    this.#tokensMs = options.clock.nowMs();
  }

  /**
   * Joins the group and schedules the first announcement.
   *
   * @param options Key, port, group, interface, interval, callbacks.
   * @returns The running discovery, or one line saying why the LAN cannot be used (no multicast
   *   route, port unusable); the node then goes on without it.
   */
  static async start(options: LanDiscoveryOptions): Promise<LanDiscovery | string> {
    const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
    const problem = await new Promise<string | undefined>((resolve) => {
      socket.once("error", (error) => resolve(error.message));
      socket.bind(options.group.port, () => {
        try {
          socket.addMembership(options.group.host, options.interfaceAddress || undefined);
          if (options.interfaceAddress) socket.setMulticastInterface(options.interfaceAddress);
          socket.setMulticastTTL(1);
          socket.setMulticastLoopback(true);
          resolve(undefined);
        } catch (error) {
          resolve((error as Error).message);
        }
      });
    });
    if (problem !== undefined) {
      await new Promise<void>((resolve) => {
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      });
      return `cannot join ${options.group.host}:${options.group.port}: ${problem}`;
    }
    const lan = new LanDiscovery(options, socket);
    socket.on(
      "message",
      (bytes: Uint8Array, from: { address: string; family: string }) =>
        lan.#receive(bytes, from.address),
    );
    socket.on(
      "error",
      (error) => options.log.debug("LAN socket: {error}", { error: String(error) }),
    );
    lan.#sendAfter(options.random() * lanStartJitterMsMax);
    return lan;
  }

  /**
   * The peers heard lately, most recently heard first.
   *
   * @returns Their contacts (node ID and DHT address).
   */
  contacts(): Contact[] {
    this.#forgetOld();
    return [...this.#peers.values()]
      .sort((a, b) => b.heardMs - a.heardMs)
      .map((peer) => peer.contact);
  }

  /**
   * Waits until a peer is known or `timeoutMs` passes.
   *
   * @param timeoutMs The longest wait.
   * @returns When either happened (or the discovery closed).
   */
  waitForPeer(timeoutMs: number): Promise<void> {
    if (this.#closed || this.contacts().length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiting.add(done);
    });
  }

  /**
   * The counters.
   *
   * @returns A copy.
   */
  stats(): LanStats {
    return { ...this.#stats, peers: this.#peers.size, dropped: { ...this.#stats.dropped } };
  }

  /** Leaves the group and stops announcing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const done of [...this.#waiting]) done();
    await new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  /** Schedules an announcement `delayMs` from now unless one is due sooner; keeps the gap. */
  #sendAfter(delayMs: number): void {
    if (this.#closed) return;
    const nowMs = this.#options.clock.nowMs();
    const atMs = Math.max(nowMs + delayMs, this.#lastSendMs + lanSendGapMsMin);
    if (atMs >= this.#nextSendMs) return;
    this.#nextSendMs = atMs;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#send(), Math.max(0, atMs - nowMs));
  }

  #send(): void {
    if (this.#closed) return;
    const { clock, keyPair, port, group, intervalMs, random } = this.#options;
    const nowMs = clock.nowMs();
    this.#lastSendMs = nowMs;
    this.#nextSendMs = Infinity;
    const bytes = encodeLanAnnouncement(keyPair, port, Date.now(), this.#options.looking());
    try {
      this.#socket.send(bytes, group.port, group.host, (error) => {
        if (error) this.#options.log.debug("LAN announcement not sent: {error}", { error });
      });
      this.#stats.sent++;
    } catch (error) {
      this.#options.log.debug("LAN announcement not sent: {error}", { error: String(error) });
    }
    const jitter = 1 + lanIntervalJitter * (2 * random() - 1);
    this.#sendAfter(intervalMs * jitter);
  }

  #receive(bytes: Uint8Array, source: string): void {
    if (this.#closed) return;
    this.#stats.received++;
    const { clock } = this.#options;
    const nowMs = clock.nowMs();
    this.#tokens = Math.min(
      lanReceivedPerSecondMax,
      this.#tokens + ((nowMs - this.#tokensMs) * lanReceivedPerSecondMax) / 1000,
    );
    this.#tokensMs = nowMs;
    if (this.#tokens < 1) {
      this.#stats.dropped.rate_limited++;
      return;
    }
    this.#tokens--;
    const announcement = decodeLanAnnouncement(bytes);
    if (typeof announcement === "string") {
      this.#stats.dropped.malformed++;
      return;
    }
    if (announcement.publicKey.every((byte, i) => byte === this.#ownKey[i])) {
      this.#stats.dropped.own++;
      return;
    }
    if (Math.abs(announcement.sentMs - Date.now()) > lanClockSkewMsMax) {
      this.#stats.dropped.clock_skew++;
      return;
    }
    const nodeId = NodeId.fromPublicKey(announcement.publicKey);
    const known = this.#peers.get(nodeId.toHex());
    if (known !== undefined && announcement.sentMs <= known.sentMs) {
      this.#stats.dropped.replayed++;
      return;
    }
    const address = PeerAddress.of(source, announcement.port);
    const loopback = source.startsWith("127.");
    if (
      address === undefined || address.family !== 4 || (this.#options.loopbackOnly && !loopback)
    ) {
      this.#stats.dropped.unreachable++;
      return;
    }
    if (!verifyLanAnnouncement(bytes, announcement.publicKey)) {
      this.#stats.dropped.bad_signature++;
      return;
    }
    this.#stats.accepted++;
    const contact: Contact = { nodeId, address };
    const moved = known !== undefined && !known.contact.address.equals(address);
    this.#peers.delete(nodeId.toHex());
    this.#peers.set(nodeId.toHex(), { contact, heardMs: nowMs, sentMs: announcement.sentMs });
    this.#forgetOld();
    if (known === undefined || moved) {
      this.#options.log.debug("heard {id} on the LAN at {address}", {
        id: nodeId.toHex(),
        address: address.key,
      });
      for (const done of [...this.#waiting]) done();
      this.#options.onPeer(contact);
    }
    if (announcement.looking) this.#sendAfter(this.#options.random() * lanAnswerJitterMsMax);
  }

  /** Forgets peers not heard for three intervals, and the oldest beyond {@link lanPeersMax}. */
  #forgetOld(): void {
    const oldestMs = this.#options.clock.nowMs() - 3 * this.#options.intervalMs *
        (1 + lanIntervalJitter);
    for (const [key, peer] of this.#peers) {
      if (peer.heardMs < oldestMs) this.#peers.delete(key);
    }
    // A Map keeps insertion order, and a peer heard again is inserted anew: the first is oldest.
    while (this.#peers.size > lanPeersMax) {
      this.#peers.delete(this.#peers.keys().next().value!);
    }
  }
}
