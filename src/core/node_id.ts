/**
 * 160-bit node IDs and the XOR metric of Kademlia.
 *
 * A node's ID is derived from its public key by a cryptographic hash, so nobody picks their place
 * in the key space. Record keys live in the same space and use the same type.
 *
 * @module
 */

import { fromBase32, fromHex, toBase32, toHex } from "./bytes.ts";
import { sha256 } from "./crypto.ts";
import { InvalidInputError } from "./errors.ts";

/** Length of a node ID in bytes. */
export const NODE_ID_BYTES = 20;
/** Length of a node ID in bits: one k-bucket per bit. */
export const NODE_ID_BITS = NODE_ID_BYTES * 8;
/** 40 hex digits, either case. */
const hexIdPattern = /^[0-9a-fA-F]{40}$/;
/** Domain separation for deriving an ID, so no other use of SHA-256 collides with it. */
const nodeIdDomain = "rhizome/node-id/v1";

/**
 * A 160-bit identifier: a node's place in the key space, or a record key.
 *
 * Immutable: every operation returns a new value.
 *
 * @example XOR distance and shared prefix
 * ```ts
 * import { NodeId } from "./node_id.ts";
 * const a = NodeId.fromHex("8000000000000000000000000000000000000000");
 * const b = NodeId.fromHex("c000000000000000000000000000000000000000");
 * if (a.commonPrefixLength(b) !== 1) throw new Error("expected one shared bit");
 * if (a.xor(b).toHex() !== "4000000000000000000000000000000000000000") throw new Error("xor");
 * ```
 */
export class NodeId {
  // The 160 bits as five 32-bit words, most significant first, kept as signed integers: V8 stores
  // them inline as small integers, so an ID costs about 64 bytes instead of a typed array's 230
  // (a 10,000-node simulation holds millions of IDs).
  readonly #w0: number;
  readonly #w1: number;
  readonly #w2: number;
  readonly #w3: number;
  readonly #w4: number;

  private constructor(w0: number, w1: number, w2: number, w3: number, w4: number) {
    this.#w0 = w0 | 0;
    this.#w1 = w1 | 0;
    this.#w2 = w2 | 0;
    this.#w3 = w3 | 0;
    this.#w4 = w4 | 0;
  }

  /**
   * An ID from its 20 bytes (copied).
   *
   * @param bytes Exactly {@link NODE_ID_BYTES} bytes.
   * @returns The ID.
   * @throws {InvalidInputError} When the length is wrong.
   */
  static fromBytes(bytes: Uint8Array): NodeId {
    if (bytes.length !== NODE_ID_BYTES) {
      throw new InvalidInputError(
        `Cannot make a node ID: expected ${NODE_ID_BYTES} bytes, got ${bytes.length}`,
      );
    }
    return NodeId.fromBytesAt(bytes, 0);
  }

  /**
   * An ID from 20 bytes at `offset` of a larger array (for decoders).
   *
   * @param bytes The array.
   * @param offset Where the ID starts; 20 bytes must follow.
   * @returns The ID.
   */
  static fromBytesAt(bytes: Uint8Array, offset: number): NodeId {
    const word = (i: number) =>
      (bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3];
    return new NodeId(
      word(offset),
      word(offset + 4),
      word(offset + 8),
      word(offset + 12),
      word(offset + 16),
    );
  }

  /**
   * An ID from 40 hex digits.
   *
   * @param text The hex form.
   * @returns The ID.
   * @throws {InvalidInputError} When the text is not 40 hex digits.
   */
  static fromHex(text: string): NodeId {
    if (text.length !== NODE_ID_BYTES * 2) {
      throw new InvalidInputError(
        `Cannot parse node ID: expected ${
          NODE_ID_BYTES * 2
        } hex digits, got ${text.length} characters`,
      );
    }
    return NodeId.fromBytes(fromHex(text));
  }

  /**
   * An ID typed by a person or read from a request, a URL or a file: the one place hex IDs are
   * checked where they enter, so callers say in their own words what was wrong.
   *
   * @param text Anything; an ID is 40 hex digits, either case.
   * @returns The ID, or `undefined` when `text` is not one.
   */
  static fromHexText(text: unknown): NodeId | undefined {
    if (typeof text !== "string" || !hexIdPattern.test(text)) return undefined;
    return NodeId.fromHex(text);
  }

  /**
   * An ID from 32 base32 characters.
   *
   * @param text The base32 form.
   * @returns The ID.
   * @throws {InvalidInputError} When the text is not 32 canonical base32 characters.
   */
  static fromBase32(text: string): NodeId {
    if (text.length !== 32) {
      throw new InvalidInputError(
        `Cannot parse node ID: expected 32 base32 characters, got ${text.length}`,
      );
    }
    return NodeId.fromBytes(fromBase32(text));
  }

  /**
   * An ID from either text form, told apart by length (40 hex digits or 32 base32 characters).
   *
   * @param text The hex or base32 form.
   * @returns The ID.
   * @throws {InvalidInputError} When the text is neither form.
   */
  static parse(text: string): NodeId {
    if (text.length === 32) return NodeId.fromBase32(text);
    if (text.length === 40) return NodeId.fromHex(text);
    throw new InvalidInputError(
      `Cannot parse node ID: expected 40 hex digits or 32 base32 characters, got "${text}"`,
    );
  }

  /**
   * The ID of the node holding `publicKey`: the first 160 bits of
   * SHA-256("rhizome/node-id/v1" ‖ publicKey).
   *
   * @param publicKey The node's 32-byte Ed25519 public key.
   * @returns The ID.
   */
  static fromPublicKey(publicKey: Uint8Array): NodeId {
    return NodeId.fromBytes(sha256(nodeIdDomain, publicKey).subarray(0, NODE_ID_BYTES));
  }

  /**
   * The 20 bytes.
   *
   * @returns A new array, big-endian.
   */
  toBytes(): Uint8Array {
    const bytes = new Uint8Array(NODE_ID_BYTES);
    this.writeTo(bytes, 0);
    return bytes;
  }

  /**
   * Writes the 20 bytes into `target` without allocating (for encoders).
   *
   * @param target The array to write into.
   * @param offset Where the first byte goes.
   */
  writeTo(target: Uint8Array, offset: number): void {
    writeWord(target, offset, this.#w0);
    writeWord(target, offset + 4, this.#w1);
    writeWord(target, offset + 8, this.#w2);
    writeWord(target, offset + 12, this.#w3);
    writeWord(target, offset + 16, this.#w4);
  }

  /**
   * One byte of the ID.
   *
   * @param index 0..19, most significant first.
   * @returns The byte.
   */
  byteAt(index: number): number {
    const slot = index >> 2;
    const word = slot === 0
      ? this.#w0
      : slot === 1
      ? this.#w1
      : slot === 2
      ? this.#w2
      : slot === 3
      ? this.#w3
      : this.#w4;
    return (word >>> (24 - 8 * (index & 3))) & 0xff;
  }

  /**
   * The hex form.
   *
   * @returns 40 lower-case hex digits.
   */
  toHex(): string {
    return toHex(this.toBytes());
  }

  /**
   * The base32 form.
   *
   * @returns 32 lower-case base32 characters.
   */
  toBase32(): string {
    return toBase32(this.toBytes());
  }

  /**
   * The hex form, for messages and logs.
   *
   * @returns 40 hex digits.
   */
  toString(): string {
    return this.toHex();
  }

  /**
   * The hex form, so IDs print readably in JSON.
   *
   * @returns 40 hex digits.
   */
  toJSON(): string {
    return this.toHex();
  }

  /**
   * Whether two IDs are the same.
   *
   * @param other Another ID.
   * @returns `true` when all 160 bits match.
   */
  equals(other: NodeId): boolean {
    return this.#w0 === other.#w0 && this.#w1 === other.#w1 && this.#w2 === other.#w2 &&
      this.#w3 === other.#w3 && this.#w4 === other.#w4;
  }

  /**
   * Orders IDs as 160-bit unsigned numbers.
   *
   * @param other Another ID.
   * @returns A negative number, zero or a positive number.
   */
  compare(other: NodeId): number {
    return (this.#w0 >>> 0) - (other.#w0 >>> 0) || (this.#w1 >>> 0) - (other.#w1 >>> 0) ||
      (this.#w2 >>> 0) - (other.#w2 >>> 0) || (this.#w3 >>> 0) - (other.#w3 >>> 0) ||
      (this.#w4 >>> 0) - (other.#w4 >>> 0);
  }

  /**
   * The XOR distance between this ID and another, itself a 160-bit value.
   *
   * @param other Another ID.
   * @returns `this ⊕ other`.
   */
  xor(other: NodeId): NodeId {
    return new NodeId(
      this.#w0 ^ other.#w0,
      this.#w1 ^ other.#w1,
      this.#w2 ^ other.#w2,
      this.#w3 ^ other.#w3,
      this.#w4 ^ other.#w4,
    );
  }

  /**
   * Which of two IDs is closer to this one by XOR distance, without allocating.
   *
   * @param a The first ID.
   * @param b The second ID.
   * @returns Negative when `a` is closer, positive when `b` is, zero when they are equal.
   */
  compareDistance(a: NodeId, b: NodeId): number {
    return ((this.#w0 ^ a.#w0) >>> 0) - ((this.#w0 ^ b.#w0) >>> 0) ||
      ((this.#w1 ^ a.#w1) >>> 0) - ((this.#w1 ^ b.#w1) >>> 0) ||
      ((this.#w2 ^ a.#w2) >>> 0) - ((this.#w2 ^ b.#w2) >>> 0) ||
      ((this.#w3 ^ a.#w3) >>> 0) - ((this.#w3 ^ b.#w3) >>> 0) ||
      ((this.#w4 ^ a.#w4) >>> 0) - ((this.#w4 ^ b.#w4) >>> 0);
  }

  /**
   * The number of leading bits this ID shares with another: 160 for equal IDs. The k-bucket of
   * `other` in this node's table follows from it.
   *
   * @param other Another ID.
   * @returns 0..160.
   */
  commonPrefixLength(other: NodeId): number {
    let diff = this.#w0 ^ other.#w0;
    if (diff !== 0) return Math.clz32(diff);
    diff = this.#w1 ^ other.#w1;
    if (diff !== 0) return 32 + Math.clz32(diff);
    diff = this.#w2 ^ other.#w2;
    if (diff !== 0) return 64 + Math.clz32(diff);
    diff = this.#w3 ^ other.#w3;
    if (diff !== 0) return 96 + Math.clz32(diff);
    diff = this.#w4 ^ other.#w4;
    if (diff !== 0) return 128 + Math.clz32(diff);
    return NODE_ID_BITS;
  }
}

function writeWord(target: Uint8Array, offset: number, word: number): void {
  target[offset] = word >>> 24;
  target[offset + 1] = (word >>> 16) & 0xff;
  target[offset + 2] = (word >>> 8) & 0xff;
  target[offset + 3] = word & 0xff;
}
