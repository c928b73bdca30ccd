/**
 * The handshake of Rhizome's secure channel and its key schedule: packet layout, signatures,
 * X25519 and HKDF. Policy (clock skew, replay memory, expected node IDs, retries) lives in
 * `secure_channel.ts`; this file only builds, parses and checks bytes, so each rule has one home.
 *
 * One round trip, signed ephemeral Diffie-Hellman (the SIGMA pattern with a timestamp instead
 * of a third message):
 *
 * 1. INIT, initiator → responder: session ID, timestamp, ephemeral X25519 key, Ed25519 key, and
 *    the initiator's signature over all of it.
 * 2. RESPONSE, responder → initiator: both session IDs, ephemeral X25519 key, Ed25519 key, and
 *    the responder's signature over the whole INIT and the RESPONSE so far, so it binds both
 *    ephemerals and both identities.
 *
 * Traffic keys come from the ephemeral X25519 secret only (forward secrecy: the Ed25519 keys
 * sign, they never encrypt), salted with the hash of both packets. The byte layout is in
 * `docs/protocol.md`.
 *
 * Pure: no clock, no ambient randomness. Callers hand in the timestamp and the random bytes.
 *
 * @module
 */

import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { fromHex, toHex, utf8Encode } from "../core/bytes.ts";
import { datagramBytesMax } from "../core/limits.ts";
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  type Ed25519KeyPair,
  ed25519Sign,
  ed25519Verify,
  sha256,
} from "../core/crypto.ts";
import { assert } from "../core/assert.ts";

/**
 * "RHZS": the first four bytes of every packet of the secure channel. The DHT's own messages
 * start with "RHZ" and the version byte 0x01, so the fourth byte alone tells a secure packet
 * from a bare DHT message, and neither parser ever accepts the other's bytes.
 */
export const SECURE_PROTOCOL_ID: Uint8Array = new Uint8Array([0x52, 0x48, 0x5a, 0x53]);
/** The packet-format version this build speaks; it is part of every signature and every AAD. */
export const SECURE_FORMAT_VERSION = 1;

/** Packet types, the byte after the version. */
export const PacketType = {
  /** Handshake, initiator to responder. */
  init: 1,
  /** Handshake, responder to initiator. */
  response: 2,
  /** Encrypted payload inside an established session. */
  data: 3,
} as const;

/** Protocol ID, version and type: the prefix every packet shares. */
export const PACKET_HEADER_BYTES = 6;
/** Length of a session ID (a receiver index): random, chosen by the side that receives on it. */
export const SESSION_ID_BYTES = 8;
/** Length of an X25519 public key. */
export const X25519_PUBLIC_KEY_BYTES = 32;
/** Length of an X25519 secret key, as drawn from the random source. */
export const X25519_SECRET_KEY_BYTES = 32;
/** Length of each traffic key (ChaCha20-Poly1305). */
export const TRAFFIC_KEY_BYTES = 32;

/** Where the signature starts in both handshake packets: everything before it is signed. */
const signatureOffset = PACKET_HEADER_BYTES + SESSION_ID_BYTES + 8 + X25519_PUBLIC_KEY_BYTES +
  ED25519_PUBLIC_KEY_BYTES;
/** Length of an INIT: header, session ID, timestamp, two keys, signature. */
export const INIT_BYTES: number = signatureOffset + ED25519_SIGNATURE_BYTES;
/**
 * Length of a RESPONSE: header, two session IDs, two keys, signature. Equal to an INIT, so a
 * spoofed INIT never makes a node send more bytes than it received (no amplification).
 */
export const RESPONSE_BYTES: number = signatureOffset + ED25519_SIGNATURE_BYTES;

/** High word of 2^53 - 1: timestamps and counters stay below 2^53, so a number holds them. */
const safeIntegerHighWordMax = 0x1f_ffff;

// Domain-separation labels: each signature, hash and key has its own, so no value made for one
// purpose is accepted for another, here or in any other Rhizome signature ("rhizome/…/v1").
const initLabel = utf8Encode("rhizome/secure/v1/init");
const responseLabel = utf8Encode("rhizome/secure/v1/response");
const transcriptLabel = utf8Encode("rhizome/secure/v1/transcript");
const initiatorToResponderInfo = utf8Encode("rhizome/secure/v1/initiator-to-responder");
const responderToInitiatorInfo = utf8Encode("rhizome/secure/v1/responder-to-initiator");

/** The fixed DER header of a PKCS #8 X25519 private key (RFC 8410), followed by the secret. */
const pkcs8X25519Prefix = fromHex("302e020100300506032b656e04220420");
/** The fixed DER header of an SPKI X25519 public key (RFC 8410), followed by the key. */
const spkiX25519Prefix = fromHex("302a300506032b656e032100");

/** An ephemeral X25519 key pair: the native private key and the raw public key. */
export interface X25519KeyPair {
  /** The 32-byte public key, as sent on the wire. */
  readonly publicKey: Uint8Array;
  /** The native private key. Never leaves the process; dropped once the session keys exist. */
  readonly privateKeyObject: KeyObject;
}

/**
 * The X25519 key pair of 32 random bytes. Keys are made from injected bytes rather than
 * `generateKeyPairSync`, so the simulator's seeded randomness decides them too.
 *
 * @param secretKey 32 bytes from a cryptographically secure source (in production).
 * @returns The key pair.
 */
export function x25519KeyPairFromSecretKey(secretKey: Uint8Array): X25519KeyPair {
  assert(secretKey.length === X25519_SECRET_KEY_BYTES, "an X25519 secret key is 32 bytes");
  const privateKeyObject = createPrivateKey({
    key: Buffer.concat([pkcs8X25519Prefix, secretKey]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKeyObject).export({ format: "der", type: "spki" });
  const publicKey = new Uint8Array(spki.subarray(spki.length - X25519_PUBLIC_KEY_BYTES));
  return { publicKey, privateKeyObject };
}

/**
 * The X25519 shared secret of our private key and a peer's public key. A peer's key that is
 * malformed or of low order (the result would be all zeros, RFC 7748 section 6.1) gives
 * `undefined`, never an exception: the key comes from the network.
 *
 * @param privateKeyObject Our ephemeral private key.
 * @param peerPublicKey The peer's 32-byte ephemeral public key.
 * @returns The 32-byte shared secret, or `undefined`.
 */
export function x25519SharedSecret(
  privateKeyObject: KeyObject,
  peerPublicKey: Uint8Array,
): Uint8Array | undefined {
  if (peerPublicKey.length !== X25519_PUBLIC_KEY_BYTES) return undefined;
  let secret: Uint8Array;
  try {
    const publicKey = createPublicKey({
      key: Buffer.concat([spkiX25519Prefix, peerPublicKey]),
      format: "der",
      type: "spki",
    });
    secret = new Uint8Array(diffieHellman({ privateKey: privateKeyObject, publicKey }));
  } catch {
    return undefined;
  }
  let bits = 0;
  for (const byte of secret) bits |= byte;
  return bits === 0 ? undefined : secret;
}

/**
 * What a packet's first six bytes say: its type, or why it is not ours.
 *
 * @param bytes A datagram, any length.
 * @returns A {@link PacketType} value (possibly unknown), or the reason to drop it.
 */
export function packetTypeOf(bytes: Uint8Array): number | "malformed" | "protocol" | "version" {
  if (bytes.length < PACKET_HEADER_BYTES) return "malformed";
  for (let i = 0; i < SECURE_PROTOCOL_ID.length; i++) {
    if (bytes[i] !== SECURE_PROTOCOL_ID[i]) return "protocol";
  }
  if (bytes[SECURE_PROTOCOL_ID.length] !== SECURE_FORMAT_VERSION) return "version";
  return bytes[PACKET_HEADER_BYTES - 1];
}

/**
 * Writes the protocol ID, version and `type` at the start of `target`.
 *
 * @param target A packet buffer of at least {@link PACKET_HEADER_BYTES}.
 * @param type A {@link PacketType} value.
 */
export function writePacketHeader(target: Uint8Array, type: number): void {
  target.set(SECURE_PROTOCOL_ID, 0);
  target[SECURE_PROTOCOL_ID.length] = SECURE_FORMAT_VERSION;
  target[PACKET_HEADER_BYTES - 1] = type;
}

/**
 * A session ID as a map key.
 *
 * @param bytes The packet (or the ID itself).
 * @param offset Where the 8 bytes start.
 * @returns 16 lower-case hex digits.
 */
export function sessionIdKey(bytes: Uint8Array, offset = 0): string {
  return toHex(bytes.subarray(offset, offset + SESSION_ID_BYTES));
}

/** The fields of an INIT. Byte arrays are views into the packet: copy to keep. */
export interface Init {
  /** Where the initiator wants the RESPONSE and its data addressed. */
  readonly initiatorSessionId: Uint8Array;
  /** The initiator's clock, ms since the Unix epoch, when it made the INIT. */
  readonly timestampMs: number;
  /** The initiator's ephemeral X25519 public key. */
  readonly ephemeralPublicKey: Uint8Array;
  /** The initiator's Ed25519 identity key. */
  readonly staticPublicKey: Uint8Array;
  /** Ed25519 over `"rhizome/secure/v1/init" ‖ INIT[0..86)`. */
  readonly signature: Uint8Array;
}

/** The fields of a RESPONSE. Byte arrays are views into the packet: copy to keep. */
export interface Response {
  /** Echoes the INIT's: it names the pending handshake on the initiator. */
  readonly initiatorSessionId: Uint8Array;
  /** Where the responder wants data addressed. */
  readonly responderSessionId: Uint8Array;
  /** The responder's ephemeral X25519 public key. */
  readonly ephemeralPublicKey: Uint8Array;
  /** The responder's Ed25519 identity key. */
  readonly staticPublicKey: Uint8Array;
  /** Ed25519 over `"rhizome/secure/v1/response" ‖ INIT ‖ RESPONSE[0..86)`. */
  readonly signature: Uint8Array;
}

/** One key per direction, each used by exactly one side for sealing. */
export interface TrafficKeys {
  /** Seals what the initiator sends; opens what the responder receives. */
  readonly initiatorToResponder: Uint8Array;
  /** Seals what the responder sends; opens what the initiator receives. */
  readonly responderToInitiator: Uint8Array;
}

/** The fields the initiator chooses for an INIT. */
export interface InitFields {
  /** 8 random bytes, unused by any other live session of the initiator. */
  initiatorSessionId: Uint8Array;
  /** Ms since the Unix epoch; must rise with every INIT the initiator sends. */
  timestampMs: number;
  /** The initiator's ephemeral key pair's public half. */
  ephemeralPublicKey: Uint8Array;
}

/**
 * Builds and signs an INIT.
 *
 * @param identity The initiator's Ed25519 key pair.
 * @param fields The session ID, timestamp and ephemeral key.
 * @returns The {@link INIT_BYTES}-byte packet.
 */
export function encodeInit(identity: Ed25519KeyPair, fields: InitFields): Uint8Array {
  assert(fields.initiatorSessionId.length === SESSION_ID_BYTES, "a session ID is 8 bytes");
  assert(fields.ephemeralPublicKey.length === X25519_PUBLIC_KEY_BYTES, "bad ephemeral key");
  assert(Number.isSafeInteger(fields.timestampMs) && fields.timestampMs >= 0, "bad timestamp");
  const bytes = new Uint8Array(INIT_BYTES);
  writePacketHeader(bytes, PacketType.init);
  let offset = PACKET_HEADER_BYTES;
  bytes.set(fields.initiatorSessionId, offset);
  offset += SESSION_ID_BYTES;
  writeUint64(bytes, offset, fields.timestampMs);
  offset += 8;
  bytes.set(fields.ephemeralPublicKey, offset);
  offset += X25519_PUBLIC_KEY_BYTES;
  bytes.set(identity.publicKey, offset);
  offset += ED25519_PUBLIC_KEY_BYTES;
  assert(offset === signatureOffset, "the INIT layout is off");
  bytes.set(ed25519Sign(identity, initSignedMessage(bytes)), signatureOffset);
  return bytes;
}

/**
 * The fields of an INIT, checked for shape only (the signature is not verified here).
 *
 * @param bytes A datagram whose header says INIT.
 * @returns The fields, or `undefined` when the length, header or timestamp is wrong.
 */
export function decodeInit(bytes: Uint8Array): Init | undefined {
  if (bytes.length !== INIT_BYTES || packetTypeOf(bytes) !== PacketType.init) return undefined;
  const timestampMs = readUint64(bytes, PACKET_HEADER_BYTES + SESSION_ID_BYTES);
  if (timestampMs === undefined) return undefined;
  let offset = PACKET_HEADER_BYTES;
  const initiatorSessionId = bytes.subarray(offset, offset += SESSION_ID_BYTES);
  offset += 8;
  const ephemeralPublicKey = bytes.subarray(offset, offset += X25519_PUBLIC_KEY_BYTES);
  const staticPublicKey = bytes.subarray(offset, offset += ED25519_PUBLIC_KEY_BYTES);
  const signature = bytes.subarray(offset, offset += ED25519_SIGNATURE_BYTES);
  return { initiatorSessionId, timestampMs, ephemeralPublicKey, staticPublicKey, signature };
}

/**
 * Whether an INIT's signature is its static key's.
 *
 * @param bytes The INIT packet.
 * @param init Its decoded fields.
 * @returns `true` when the signature verifies.
 */
export function verifyInit(bytes: Uint8Array, init: Init): boolean {
  return ed25519Verify(init.staticPublicKey, initSignedMessage(bytes), init.signature);
}

/** The fields the responder chooses for a RESPONSE. */
export interface ResponseFields {
  /** 8 random bytes, unused by any other live session of the responder. */
  responderSessionId: Uint8Array;
  /** The responder's ephemeral key pair's public half. */
  ephemeralPublicKey: Uint8Array;
}

/**
 * Builds and signs the RESPONSE to an INIT.
 *
 * @param identity The responder's Ed25519 key pair.
 * @param initBytes The INIT being answered, exactly as received.
 * @param fields The responder's session ID and ephemeral key.
 * @returns The {@link RESPONSE_BYTES}-byte packet.
 */
export function encodeResponse(
  identity: Ed25519KeyPair,
  initBytes: Uint8Array,
  fields: ResponseFields,
): Uint8Array {
  assert(initBytes.length === INIT_BYTES, "a RESPONSE answers a whole INIT");
  assert(fields.responderSessionId.length === SESSION_ID_BYTES, "a session ID is 8 bytes");
  assert(fields.ephemeralPublicKey.length === X25519_PUBLIC_KEY_BYTES, "bad ephemeral key");
  const bytes = new Uint8Array(RESPONSE_BYTES);
  writePacketHeader(bytes, PacketType.response);
  let offset = PACKET_HEADER_BYTES;
  bytes.set(initBytes.subarray(offset, offset + SESSION_ID_BYTES), offset);
  offset += SESSION_ID_BYTES;
  bytes.set(fields.responderSessionId, offset);
  offset += SESSION_ID_BYTES;
  bytes.set(fields.ephemeralPublicKey, offset);
  offset += X25519_PUBLIC_KEY_BYTES;
  bytes.set(identity.publicKey, offset);
  offset += ED25519_PUBLIC_KEY_BYTES;
  assert(offset === signatureOffset, "the RESPONSE layout is off");
  bytes.set(ed25519Sign(identity, responseSignedMessage(initBytes, bytes)), signatureOffset);
  return bytes;
}

/**
 * The fields of a RESPONSE, checked for shape only.
 *
 * @param bytes A datagram whose header says RESPONSE.
 * @returns The fields, or `undefined` when the length or header is wrong.
 */
export function decodeResponse(bytes: Uint8Array): Response | undefined {
  if (bytes.length !== RESPONSE_BYTES || packetTypeOf(bytes) !== PacketType.response) {
    return undefined;
  }
  let offset = PACKET_HEADER_BYTES;
  const initiatorSessionId = bytes.subarray(offset, offset += SESSION_ID_BYTES);
  const responderSessionId = bytes.subarray(offset, offset += SESSION_ID_BYTES);
  const ephemeralPublicKey = bytes.subarray(offset, offset += X25519_PUBLIC_KEY_BYTES);
  const staticPublicKey = bytes.subarray(offset, offset += ED25519_PUBLIC_KEY_BYTES);
  const signature = bytes.subarray(offset, offset += ED25519_SIGNATURE_BYTES);
  return { initiatorSessionId, responderSessionId, ephemeralPublicKey, staticPublicKey, signature };
}

/**
 * Whether a RESPONSE's signature is its static key's, over the INIT we sent and the RESPONSE.
 *
 * @param initBytes The INIT we sent.
 * @param responseBytes The RESPONSE received.
 * @param response Its decoded fields.
 * @returns `true` when the signature verifies.
 */
export function verifyResponse(
  initBytes: Uint8Array,
  responseBytes: Uint8Array,
  response: Response,
): boolean {
  return ed25519Verify(
    response.staticPublicKey,
    responseSignedMessage(initBytes, responseBytes),
    response.signature,
  );
}

/**
 * The transcript hash: SHA-256("rhizome/secure/v1/transcript" ‖ INIT ‖ RESPONSE), both packets
 * whole, signatures included. Salting the key derivation with it makes the keys depend on
 * every byte both sides agreed on.
 *
 * @param initBytes The INIT.
 * @param responseBytes The RESPONSE.
 * @returns 32 bytes.
 */
export function transcriptHash(initBytes: Uint8Array, responseBytes: Uint8Array): Uint8Array {
  return sha256(transcriptLabel, initBytes, responseBytes);
}

/**
 * The two traffic keys: HKDF-SHA256 (RFC 5869) with the X25519 secret as input keying
 * material, the transcript hash as salt, and one label per direction as info.
 *
 * @param sharedSecret The ephemeral-ephemeral X25519 secret.
 * @param initBytes The INIT.
 * @param responseBytes The RESPONSE.
 * @returns One 32-byte key per direction.
 */
export function deriveTrafficKeys(
  sharedSecret: Uint8Array,
  initBytes: Uint8Array,
  responseBytes: Uint8Array,
): TrafficKeys {
  const salt = transcriptHash(initBytes, responseBytes);
  const derive = (info: Uint8Array) =>
    new Uint8Array(hkdfSync("sha256", sharedSecret, salt, info, TRAFFIC_KEY_BYTES));
  return {
    initiatorToResponder: derive(initiatorToResponderInfo),
    responderToInitiator: derive(responderToInitiatorInfo),
  };
}

/** An INIT sent and what is needed to finish the handshake it starts. */
export interface InitiatorState {
  /** The INIT as sent: the RESPONSE's signature and the keys cover it. */
  readonly initBytes: Uint8Array;
  /** The INIT's session ID, which the RESPONSE echoes. */
  readonly initiatorSessionId: Uint8Array;
  /** The ephemeral key pair; forgotten with this state. */
  readonly ephemeral: X25519KeyPair;
}

/**
 * Starts a handshake: a fresh ephemeral key and a signed INIT.
 *
 * @param identity Our Ed25519 key pair.
 * @param ephemeralSecretKey 32 fresh random bytes for the ephemeral key.
 * @param fields The session ID and timestamp.
 * @returns What to send and what to keep.
 */
export function startHandshake(
  identity: Ed25519KeyPair,
  ephemeralSecretKey: Uint8Array,
  fields: { initiatorSessionId: Uint8Array; timestampMs: number },
): InitiatorState {
  const ephemeral = x25519KeyPairFromSecretKey(ephemeralSecretKey);
  const initiatorSessionId = fields.initiatorSessionId.slice();
  const initBytes = encodeInit(identity, {
    initiatorSessionId,
    timestampMs: fields.timestampMs,
    ephemeralPublicKey: ephemeral.publicKey,
  });
  return { initBytes, initiatorSessionId, ephemeral };
}

/** A RESPONSE and the keys it leads to, on the responder's side. */
export interface ResponderResult {
  /** The packet to send back. */
  readonly responseBytes: Uint8Array;
  /** The session's keys; the responder seals with `responderToInitiator`. */
  readonly keys: TrafficKeys;
}

/**
 * Answers a verified INIT. The caller has already checked the INIT's signature and freshness.
 *
 * @param identity Our Ed25519 key pair.
 * @param ephemeralSecretKey 32 fresh random bytes for the ephemeral key.
 * @param initBytes The INIT as received.
 * @param init Its decoded fields.
 * @param responderSessionId Our 8-byte session ID for the new session.
 * @returns The RESPONSE and keys, or `undefined` when the initiator's ephemeral key is unusable.
 */
export function answerHandshake(
  identity: Ed25519KeyPair,
  ephemeralSecretKey: Uint8Array,
  initBytes: Uint8Array,
  init: Init,
  responderSessionId: Uint8Array,
): ResponderResult | undefined {
  const ephemeral = x25519KeyPairFromSecretKey(ephemeralSecretKey);
  const sharedSecret = x25519SharedSecret(ephemeral.privateKeyObject, init.ephemeralPublicKey);
  if (sharedSecret === undefined) return undefined;
  const responseBytes = encodeResponse(identity, initBytes, {
    responderSessionId,
    ephemeralPublicKey: ephemeral.publicKey,
  });
  return { responseBytes, keys: deriveTrafficKeys(sharedSecret, initBytes, responseBytes) };
}

/**
 * Finishes a handshake on the initiator's side, after the caller checked that the RESPONSE
 * names this state's session ID. Verifies the signature; the node ID check is the caller's.
 *
 * @param state What {@link startHandshake} returned.
 * @param responseBytes The RESPONSE as received.
 * @param response Its decoded fields.
 * @returns The keys, `"badSignature"`, or `"malformed"` when the responder's ephemeral key is
 *   unusable.
 */
export function finishHandshake(
  state: InitiatorState,
  responseBytes: Uint8Array,
  response: Response,
): TrafficKeys | "badSignature" | "malformed" {
  if (!verifyResponse(state.initBytes, responseBytes, response)) return "badSignature";
  const sharedSecret = x25519SharedSecret(
    state.ephemeral.privateKeyObject,
    response.ephemeralPublicKey,
  );
  if (sharedSecret === undefined) return "malformed";
  return deriveTrafficKeys(sharedSecret, state.initBytes, responseBytes);
}

function initSignedMessage(initBytes: Uint8Array): Uint8Array {
  const message = new Uint8Array(initLabel.length + signatureOffset);
  message.set(initLabel, 0);
  message.set(initBytes.subarray(0, signatureOffset), initLabel.length);
  return message;
}

function responseSignedMessage(initBytes: Uint8Array, responseBytes: Uint8Array): Uint8Array {
  const message = new Uint8Array(responseLabel.length + INIT_BYTES + signatureOffset);
  message.set(responseLabel, 0);
  message.set(initBytes, responseLabel.length);
  message.set(responseBytes.subarray(0, signatureOffset), responseLabel.length + INIT_BYTES);
  return message;
}

/**
 * Writes a non-negative safe integer as 8 bytes, big-endian.
 *
 * @param target The buffer.
 * @param offset Where the first byte goes.
 * @param value An integer in 0..2^53-1.
 */
export function writeUint64(target: Uint8Array, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `cannot write ${value} as a uint64`);
  const high = Math.floor(value / 4294967296);
  const low = value >>> 0;
  target[offset] = high >>> 24;
  target[offset + 1] = (high >>> 16) & 0xff;
  target[offset + 2] = (high >>> 8) & 0xff;
  target[offset + 3] = high & 0xff;
  target[offset + 4] = low >>> 24;
  target[offset + 5] = (low >>> 16) & 0xff;
  target[offset + 6] = (low >>> 8) & 0xff;
  target[offset + 7] = low & 0xff;
}

/**
 * Reads 8 big-endian bytes as a number.
 *
 * @param bytes The buffer; 8 bytes must follow `offset`.
 * @param offset Where the first byte is.
 * @returns The value, or `undefined` when it is 2^53 or more (no honest sender gets there).
 */
export function readUint64(bytes: Uint8Array, offset: number): number | undefined {
  const high = ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
  if (high > safeIntegerHighWordMax) return undefined;
  const low = ((bytes[offset + 4] << 24) | (bytes[offset + 5] << 16) |
    (bytes[offset + 6] << 8) | bytes[offset + 7]) >>> 0;
  return high * 4294967296 + low;
}

// Both handshake packets travel alone in a datagram; a later field added past the limit would
// break every node at once, so the build refuses it.
assert(INIT_BYTES <= datagramBytesMax && RESPONSE_BYTES <= datagramBytesMax, "handshake too big");
