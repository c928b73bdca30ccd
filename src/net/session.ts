/**
 * An established secure session: ChaCha20-Poly1305 with one key per direction, a 64-bit packet
 * counter as the nonce, and a sliding replay window on the receiving side.
 *
 * A DATA packet is `header ‖ ciphertext ‖ tag`, where the 22-byte header (protocol ID, version,
 * type, the receiver's session ID, the counter) is the AAD, so no header bit can change
 * unnoticed. The nonce is 4 zero bytes then the counter, big-endian: each key seals each
 * counter value once, since the counter only rises and each direction has its own key. Only
 * symmetric crypto runs per packet.
 *
 * The replay window follows RFC 6479: a ring of 32-bit words, cleared a word at a time as the
 * highest counter moves on, with one word more than the window so sliding never clears a live
 * bit. A counter is checked before decryption (cheap to reject) and marked only after the tag
 * verifies (a forged packet cannot burn a counter).
 *
 * Pure: no clock, no randomness; the caller says when a session was made.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, aeadOpen, aeadSealInto } from "../core/crypto.ts";
import { datagramBytesMax } from "../core/limits.ts";
import { NodeId } from "../core/node_id.ts";
import {
  PACKET_HEADER_BYTES,
  PacketType,
  readUint64,
  SESSION_ID_BYTES,
  TRAFFIC_KEY_BYTES,
  type TrafficKeys,
  writePacketHeader,
  writeUint64,
} from "./handshake.ts";

/** Header of a DATA packet: protocol ID, version, type, receiver session ID, counter. */
export const DATA_HEADER_BYTES: number = PACKET_HEADER_BYTES + SESSION_ID_BYTES + 8;
/** Length of the Poly1305 tag. */
export { AEAD_TAG_BYTES };
/** What a DATA packet adds to its plaintext: the header and the tag, 38 bytes. */
export const DATA_OVERHEAD_BYTES: number = DATA_HEADER_BYTES + AEAD_TAG_BYTES;

/**
 * Largest plaintext one DATA packet carries: {@link datagramBytesMax} (1232) less the 38 bytes
 * of header and tag, so 1194. A DHT message must fit this, not the bare datagram limit. At the
 * limit: `SecureChannel.send` throws `RangeError` (the caller built too big a message);
 * nothing is fragmented.
 */
export const sessionPlaintextBytesMax: number = datagramBytesMax - DATA_OVERHEAD_BYTES;

/**
 * Packets a session accepts below its highest counter seen. UDP reorders within a path's
 * queue, a few dozen packets deep; 1024 is WireGuard's order of magnitude and costs 132 bytes
 * per session. At the limit: an older counter is dropped as a replay, as is any counter
 * already seen.
 */
export const replayWindowPackets = 1024;

const replayWordBits = 32;
/** One spare word, so the words a slide clears never hold a counter still in the window. */
const replayWindowWords = replayWindowPackets / replayWordBits + 1;
/** The ChaCha20-Poly1305 nonce: 4 zero bytes, then the 8-byte counter. */

/** Which side of the handshake this node was in a session. */
export type SessionRole = "initiator" | "responder";

/** Why a DATA packet did not open. */
export type OpenFailure = "malformed" | "replay" | "unauthenticated";

/**
 * The RFC 6479 sliding window of one receiving direction.
 *
 * @example Out of order is fine, twice is not
 * ```ts
 * import { ReplayWindow } from "./session.ts";
 * const window = new ReplayWindow();
 * window.accept(5);
 * if (!window.check(3)) throw new Error("an earlier unseen counter passes");
 * if (window.check(5)) throw new Error("a seen counter is a replay");
 * ```
 */
export class ReplayWindow {
  readonly #words = new Uint32Array(replayWindowWords);
  #highest = -1;

  /**
   * The highest counter accepted.
   *
   * @returns The counter, or -1 before the first.
   */
  get highest(): number {
    return this.#highest;
  }

  /**
   * Whether a counter may be accepted: above the highest, or within the window and unseen.
   * Changes nothing, so a packet that then fails its tag leaves no trace.
   *
   * @param counter A non-negative safe integer.
   * @returns `true` when the counter is fresh.
   */
  check(counter: number): boolean {
    if (counter > this.#highest) return true;
    if (this.#highest - counter >= replayWindowPackets) return false;
    const word = this.#words[Math.floor(counter / replayWordBits) % replayWindowWords];
    return (word & (1 << (counter % replayWordBits))) === 0;
  }

  /**
   * Marks a counter seen, sliding the window when it is the new highest.
   *
   * @param counter A counter for which {@link check} just returned `true`.
   */
  accept(counter: number): void {
    assert(this.check(counter), `counter ${counter} was not fresh`);
    const block = Math.floor(counter / replayWordBits);
    if (counter > this.#highest) {
      const highestBlock = Math.floor(this.#highest / replayWordBits);
      const blocksToClear = Math.min(block - highestBlock, replayWindowWords);
      for (let i = 1; i <= blocksToClear; i++) {
        this.#words[(highestBlock + i) % replayWindowWords] = 0;
      }
      this.#highest = counter;
    }
    this.#words[block % replayWindowWords] |= 1 << (counter % replayWordBits);
  }
}

/** What a {@link Session} is made from. */
export interface SessionOptions {
  /** Our side in the handshake: it decides which traffic key seals. */
  role: SessionRole;
  /** Our 8-byte session ID: DATA packets to us carry it. */
  localSessionId: Uint8Array;
  /** The peer's 8-byte session ID: DATA packets we send carry it. */
  remoteSessionId: Uint8Array;
  /** The handshake's keys. */
  keys: TrafficKeys;
  /** The peer's Ed25519 key, proven by its handshake signature. */
  peerPublicKey: Uint8Array;
  /** When the handshake finished, in ms of the channel's clock. */
  createdMs: number;
}

/**
 * One established session: seals what we send and opens what the peer sends.
 *
 * @example Two ends of one session
 * ```ts
 * import { Session } from "./session.ts";
 * const keys = {
 *   initiatorToResponder: new Uint8Array(32).fill(1),
 *   responderToInitiator: new Uint8Array(32).fill(2),
 * };
 * const a = new Uint8Array(8).fill(0xa), b = new Uint8Array(8).fill(0xb);
 * const peerPublicKey = new Uint8Array(32);
 * const initiator = new Session({
 *   role: "initiator", localSessionId: a, remoteSessionId: b, keys, peerPublicKey, createdMs: 0,
 * });
 * const responder = new Session({
 *   role: "responder", localSessionId: b, remoteSessionId: a, keys, peerPublicKey, createdMs: 0,
 * });
 * const opened = responder.open(initiator.seal(new Uint8Array([1, 2, 3])));
 * if (!(opened instanceof Uint8Array) || opened.length !== 3) throw new Error("round trip");
 * ```
 */
export class Session {
  /** Our side in the handshake. */
  readonly role: SessionRole;
  /** Our session ID. */
  readonly localSessionId: Uint8Array;
  /** The peer's session ID. */
  readonly remoteSessionId: Uint8Array;
  /** The peer's Ed25519 key. */
  readonly peerPublicKey: Uint8Array;
  /** The peer's node ID, derived from its key, never taken from the wire. */
  readonly peerNodeId: NodeId;
  /** When the session was made. */
  readonly createdMs: number;
  readonly #sealKey: Uint8Array;
  readonly #openKey: Uint8Array;
  readonly #window = new ReplayWindow();
  #nextCounter = 0;
  #packetsOpenedCount = 0;

  /**
   * Makes a session from a finished handshake.
   *
   * @param options The role, both session IDs, the keys and the peer.
   */
  constructor(options: SessionOptions) {
    assert(options.localSessionId.length === SESSION_ID_BYTES, "a session ID is 8 bytes");
    assert(options.remoteSessionId.length === SESSION_ID_BYTES, "a session ID is 8 bytes");
    const { initiatorToResponder, responderToInitiator } = options.keys;
    assert(initiatorToResponder.length === TRAFFIC_KEY_BYTES, "a traffic key is 32 bytes");
    assert(responderToInitiator.length === TRAFFIC_KEY_BYTES, "a traffic key is 32 bytes");
    const initiator = options.role === "initiator";
    this.role = options.role;
    this.localSessionId = options.localSessionId.slice();
    this.remoteSessionId = options.remoteSessionId.slice();
    this.peerPublicKey = options.peerPublicKey.slice();
    this.peerNodeId = NodeId.fromPublicKey(this.peerPublicKey);
    this.createdMs = options.createdMs;
    this.#sealKey = (initiator ? initiatorToResponder : responderToInitiator).slice();
    this.#openKey = (initiator ? responderToInitiator : initiatorToResponder).slice();
  }

  /**
   * DATA packets sealed so far; also the next counter.
   *
   * @returns The count.
   */
  get packetsSealedCount(): number {
    return this.#nextCounter;
  }

  /**
   * DATA packets opened (authenticated and fresh) so far.
   *
   * @returns The count.
   */
  get packetsOpenedCount(): number {
    return this.#packetsOpenedCount;
  }

  /**
   * Seals a plaintext into a DATA packet with the next counter.
   *
   * @param plaintext At most {@link sessionPlaintextBytesMax} bytes.
   * @returns The packet, at most `datagramBytesMax` bytes.
   */
  seal(plaintext: Uint8Array): Uint8Array {
    assert(plaintext.length <= sessionPlaintextBytesMax, "the plaintext is over the limit");
    const counter = this.#nextCounter++;
    const packet = new Uint8Array(DATA_OVERHEAD_BYTES + plaintext.length);
    writePacketHeader(packet, PacketType.data);
    packet.set(this.remoteSessionId, PACKET_HEADER_BYTES);
    writeUint64(packet, PACKET_HEADER_BYTES + SESSION_ID_BYTES, counter);
    const header = packet.subarray(0, DATA_HEADER_BYTES);
    aeadSealInto(this.#sealKey, nonceOf(header), header, plaintext, packet, DATA_HEADER_BYTES);
    return packet;
  }

  /**
   * Opens a DATA packet addressed to this session. Never throws on hostile bytes.
   *
   * @param packet The whole datagram; its receiver session ID has been matched to this session.
   * @returns The plaintext (possibly empty), or why the packet was dropped.
   */
  open(packet: Uint8Array): Uint8Array | OpenFailure {
    if (packet.length < DATA_OVERHEAD_BYTES || packet.length > datagramBytesMax) {
      return "malformed";
    }
    const counter = readUint64(packet, PACKET_HEADER_BYTES + SESSION_ID_BYTES);
    if (counter === undefined) return "malformed";
    if (!this.#window.check(counter)) return "replay";
    const header = packet.subarray(0, DATA_HEADER_BYTES);
    const plaintext = aeadOpen(
      this.#openKey,
      nonceOf(header),
      header,
      packet.subarray(DATA_HEADER_BYTES),
    );
    if (plaintext === undefined) return "unauthenticated";
    this.#window.accept(counter);
    this.#packetsOpenedCount++;
    return plaintext;
  }
}

/** The nonce of a DATA header: 4 zero bytes, then the header's 8-byte counter. */
function nonceOf(header: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(AEAD_NONCE_BYTES);
  nonce.set(header.subarray(DATA_HEADER_BYTES - 8, DATA_HEADER_BYTES), AEAD_NONCE_BYTES - 8);
  return nonce;
}
