/**
 * 160-bit node IDs and the XOR metric of Kademlia.
 *
 * A node's ID is derived from its public key by a cryptographic hash, so nobody picks their place
 * in the key space. Record keys live in the same space and use the same type.
 *
 * @module
 */

import { compareBytes, fromBase32, fromHex, toBase32, toHex } from "./bytes.ts";
import { sha256 } from "./crypto.ts";
import { InvalidInputError } from "./errors.ts";

/** Length of a node ID in bytes. */
export const NODE_ID_BYTES = 20;
/** Length of a node ID in bits: one k-bucket per bit. */
export const NODE_ID_BITS = NODE_ID_BYTES * 8;
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
  readonly #bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
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
    return new NodeId(new Uint8Array(bytes));
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
    return new NodeId(fromHex(text));
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
    return new NodeId(fromBase32(text));
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
    return new NodeId(sha256(nodeIdDomain, publicKey).subarray(0, NODE_ID_BYTES));
  }

  /**
   * A copy of the 20 bytes.
   *
   * @returns The bytes, big-endian.
   */
  toBytes(): Uint8Array {
    return new Uint8Array(this.#bytes);
  }

  /**
   * One byte of the ID, without copying (for hot loops).
   *
   * @param index 0..19, most significant first.
   * @returns The byte.
   */
  byteAt(index: number): number {
    return this.#bytes[index];
  }

  /**
   * The hex form.
   *
   * @returns 40 lower-case hex digits.
   */
  toHex(): string {
    return toHex(this.#bytes);
  }

  /**
   * The base32 form.
   *
   * @returns 32 lower-case base32 characters.
   */
  toBase32(): string {
    return toBase32(this.#bytes);
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
    return compareBytes(this.#bytes, other.#bytes) === 0;
  }

  /**
   * Orders IDs as 160-bit unsigned numbers.
   *
   * @param other Another ID.
   * @returns A negative number, zero or a positive number.
   */
  compare(other: NodeId): number {
    return compareBytes(this.#bytes, other.#bytes);
  }

  /**
   * The XOR distance between this ID and another, itself a 160-bit value.
   *
   * @param other Another ID.
   * @returns `this ⊕ other`.
   */
  xor(other: NodeId): NodeId {
    const result = new Uint8Array(NODE_ID_BYTES);
    for (let i = 0; i < NODE_ID_BYTES; i++) result[i] = this.#bytes[i] ^ other.#bytes[i];
    return new NodeId(result);
  }

  /**
   * Which of two IDs is closer to this one by XOR distance, without allocating.
   *
   * @param a The first ID.
   * @param b The second ID.
   * @returns Negative when `a` is closer, positive when `b` is, zero when they are equal.
   */
  compareDistance(a: NodeId, b: NodeId): number {
    for (let i = 0; i < NODE_ID_BYTES; i++) {
      const da = this.#bytes[i] ^ a.#bytes[i];
      const db = this.#bytes[i] ^ b.#bytes[i];
      if (da !== db) return da - db;
    }
    return 0;
  }

  /**
   * The number of leading bits this ID shares with another: 160 for equal IDs. The k-bucket of
   * `other` in this node's table follows from it.
   *
   * @param other Another ID.
   * @returns 0..160.
   */
  commonPrefixLength(other: NodeId): number {
    for (let i = 0; i < NODE_ID_BYTES; i++) {
      const diff = this.#bytes[i] ^ other.#bytes[i];
      if (diff !== 0) return i * 8 + Math.clz32(diff) - 24;
    }
    return NODE_ID_BITS;
  }
}
