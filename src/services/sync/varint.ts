/**
 * Varints as negentropy writes them: base 128, most significant group first, the high bit set on
 * every byte but the last. Values up to 2^53 - 1 (a JavaScript safe integer), at most 8 bytes.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";

/** Bytes of the longest varint accepted: 8 × 7 = 56 bits hold every safe integer. */
export const VARINT_BYTES_MAX = 8;

/**
 * Encodes a whole number.
 *
 * @param value 0..2^53 - 1.
 * @returns Its varint bytes.
 */
export function encodeVarint(value: number): Uint8Array {
  assert(Number.isSafeInteger(value) && value >= 0, `varint of ${value}`);
  const groups: number[] = [];
  let rest = value;
  do {
    groups.push(rest % 128);
    rest = Math.floor(rest / 128);
  } while (rest > 0);
  const out = new Uint8Array(groups.length);
  for (let i = 0; i < groups.length; i++) {
    out[i] = groups[groups.length - 1 - i] | (i < groups.length - 1 ? 0x80 : 0);
  }
  return out;
}

/** Reads bytes from a peer one field at a time; every read past the end or out of range fails. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  #offset: number;

  /**
   * Reads `bytes` from `offset`.
   *
   * @param bytes The input.
   * @param offset Where to start.
   */
  constructor(bytes: Uint8Array, offset = 0) {
    this.#bytes = bytes;
    this.#offset = offset;
  }

  /** Bytes left. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  /**
   * A varint.
   *
   * @returns The value, or `undefined` when truncated, longer than 8 bytes or not minimal.
   */
  varint(): number | undefined {
    let value = 0;
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      if (this.#offset >= this.#bytes.length) return undefined;
      const byte = this.#bytes[this.#offset++];
      // A leading 0x80 group adds nothing: refused, so a value has one encoding.
      if (i === 0 && byte === 0x80) return undefined;
      value = value * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) return Number.isSafeInteger(value) ? value : undefined;
    }
    return undefined;
  }

  /**
   * A byte.
   *
   * @returns It, or `undefined` at the end.
   */
  byte(): number | undefined {
    return this.#offset < this.#bytes.length ? this.#bytes[this.#offset++] : undefined;
  }

  /**
   * `length` bytes (a view).
   *
   * @param length How many.
   * @returns Them, or `undefined` when fewer are left.
   */
  bytes(length: number): Uint8Array | undefined {
    if (length < 0 || this.#offset + length > this.#bytes.length) return undefined;
    const out = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }
}

/** Collects output bytes and counts them. */
export class ByteWriter {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  /** Bytes written. */
  get length(): number {
    return this.#length;
  }

  /**
   * Appends bytes.
   *
   * @param bytes Them.
   */
  push(bytes: Uint8Array): void {
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  /**
   * Appends a varint.
   *
   * @param value 0..2^53 - 1.
   */
  varint(value: number): void {
    this.push(encodeVarint(value));
  }

  /**
   * Appends one byte.
   *
   * @param value 0..255.
   */
  byte(value: number): void {
    this.push(new Uint8Array([value]));
  }

  /**
   * Everything written, in one array.
   *
   * @returns The bytes.
   */
  finish(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}
