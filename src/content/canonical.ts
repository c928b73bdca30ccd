/**
 * The one encoding of every record, document, profile and index entry: the subset of
 * MessagePack they use (whole numbers, booleans, byte strings, arrays), each value in exactly one
 * form, so one record has one byte string and one key names one byte string.
 *
 * - A whole number ≥ 0 takes the shortest unsigned form (positive fixint, uint 8/16/32/64); one
 *   below 0 the shortest signed form (negative fixint, int 8/16/32/64). Numbers are safe integers
 *   (|n| ≤ 2^53 - 1): they are JavaScript numbers on every node of this implementation.
 * - A byte string takes the shortest bin header (bin 8/16/32); an array the shortest array header
 *   (fixarray, array 16/32).
 * - Nothing else occurs: no float, string, map, nil or extension. Text is a bin holding UTF-8.
 *
 * Own code rather than msgpackr: msgpackr writes a whole number ≥ 2^32 as a float64 (`cb`), a
 * BigInt as an int64 (`d3`) whatever its size and sign, and its decoder accepts every longer
 * form, floats, strings, maps and timestamps alike; a check by re-encoding could say that bytes
 * are not canonical but not why. {@link decodeCanonical} refuses each departure with its reason.
 *
 * @module
 */

import { RhizomeError } from "../core/errors.ts";

/** Why a record was refused (code `RECORD_INVALID`). */
export class RecordError extends RhizomeError {
  /**
   * Makes a record error.
   *
   * @param message What is wrong with the record.
   */
  constructor(message: string) {
    super("RECORD_INVALID", message);
  }
}

/** A value in a record: a safe whole number, a boolean, bytes, or an array of these. */
export type CanonicalValue = number | boolean | Uint8Array | readonly CanonicalValue[];

/**
 * Deepest nesting of arrays decoded. The deepest layout is a set: record → entries → entry
 * (3 levels); 8 leaves room for new kinds while a peer's bytes cannot drive the recursion deep.
 * Deeper: refused as "nested too deeply".
 */
export const canonicalDepthMax = 8;

/** 2^32: the first whole number that needs the 64-bit forms. */
const twoTo32 = 0x1_0000_0000;

/**
 * The canonical encoding of a value.
 *
 * @param value The value.
 * @returns Its bytes.
 * @throws {RangeError} For a number that is not a safe integer (a caller's bug: every field is
 *   checked before it is encoded).
 */
export function encodeCanonical(value: CanonicalValue): Uint8Array {
  const writer = new Writer();
  writer.value(value);
  return writer.bytes();
}

/**
 * Decodes bytes that must be the canonical encoding of one value, refusing anything else.
 *
 * @param bytes The bytes.
 * @param what What they are, for the error ("the record", "the profile").
 * @returns The value (byte strings are copies).
 * @throws {RecordError} `RECORD_INVALID`: "Cannot accept record: <what> is not canonical:
 *   <reason>" (or "is not valid MessagePack: truncated").
 */
export function decodeCanonical(bytes: Uint8Array, what: string): CanonicalValue {
  const reader = new Reader(bytes, what);
  const value = reader.value(0);
  if (reader.offset !== bytes.length) reader.notCanonical("trailing bytes after the value");
  return value;
}

class Writer {
  #buffer = new Uint8Array(256);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;

  bytes(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  value(value: CanonicalValue): void {
    if (typeof value === "number") this.#integer(value);
    else if (typeof value === "boolean") this.#byte(value ? 0xc3 : 0xc2);
    else if (value instanceof Uint8Array) this.#bin(value);
    else {
      this.#arrayHeader(value.length);
      for (const item of value) this.value(item);
    }
  }

  #integer(n: number): void {
    if (!Number.isSafeInteger(n)) {
      throw new RangeError(`Cannot encode ${n}: only safe integers have a canonical form`);
    }
    if (n >= 0) {
      if (n < 0x80) this.#byte(n);
      else if (n <= 0xff) this.#head(0xcc, 1, (at) => this.#view.setUint8(at, n));
      else if (n <= 0xffff) this.#head(0xcd, 2, (at) => this.#view.setUint16(at, n));
      else if (n < twoTo32) this.#head(0xce, 4, (at) => this.#view.setUint32(at, n));
      else this.#head(0xcf, 8, (at) => this.#view.setBigUint64(at, BigInt(n)));
    } else {
      if (n >= -32) this.#byte(n & 0xff);
      else if (n >= -0x80) this.#head(0xd0, 1, (at) => this.#view.setInt8(at, n));
      else if (n >= -0x8000) this.#head(0xd1, 2, (at) => this.#view.setInt16(at, n));
      else if (n >= -0x8000_0000) this.#head(0xd2, 4, (at) => this.#view.setInt32(at, n));
      else this.#head(0xd3, 8, (at) => this.#view.setBigInt64(at, BigInt(n)));
    }
  }

  #bin(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n <= 0xff) this.#head(0xc4, 1, (at) => this.#view.setUint8(at, n));
    else if (n <= 0xffff) this.#head(0xc5, 2, (at) => this.#view.setUint16(at, n));
    else this.#head(0xc6, 4, (at) => this.#view.setUint32(at, n));
    this.#reserve(n);
    this.#buffer.set(bytes, this.#length);
    this.#length += n;
  }

  #arrayHeader(n: number): void {
    if (n <= 15) this.#byte(0x90 | n);
    else if (n <= 0xffff) this.#head(0xdc, 2, (at) => this.#view.setUint16(at, n));
    else this.#head(0xdd, 4, (at) => this.#view.setUint32(at, n));
  }

  #byte(b: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = b;
  }

  #head(type: number, size: number, write: (at: number) => void): void {
    this.#byte(type);
    this.#reserve(size);
    write(this.#length);
    this.#length += size;
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + n));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
}

class Reader {
  offset = 0;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #what: string;

  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#what = what;
  }

  notCanonical(reason: string): never {
    throw new RecordError(`Cannot accept record: ${this.#what} is not canonical: ${reason}`);
  }

  value(depth: number): CanonicalValue {
    const type = this.#take(1)[0];
    if (type < 0x80) return type;
    if (type >= 0xe0) return type - 0x100;
    if ((type & 0xf0) === 0x90) return this.#array(type & 0x0f, depth);
    switch (type) {
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xcc:
        return this.#minimal(this.#uint(1), 0x80, "uint 8");
      case 0xcd:
        return this.#minimal(this.#uint(2), 0x100, "uint 16");
      case 0xce:
        return this.#minimal(this.#uint(4), 0x1_0000, "uint 32");
      case 0xcf:
        return this.#safe(this.#minimal(this.#uint(8), twoTo32, "uint 64"));
      case 0xd0:
        return this.#signed(this.#int(1), -32, "int 8");
      case 0xd1:
        return this.#signed(this.#int(2), -0x80, "int 16");
      case 0xd2:
        return this.#signed(this.#int(4), -0x8000, "int 32");
      case 0xd3:
        return this.#safe(this.#signed(this.#int(8), -0x8000_0000, "int 64"));
      case 0xc4:
        return this.#take(this.#uint(1)).slice();
      case 0xc5:
        return this.#take(this.#minimal(this.#uint(2), 0x100, "bin 16")).slice();
      case 0xc6:
        return this.#take(this.#minimal(this.#uint(4), 0x1_0000, "bin 32")).slice();
      case 0xdc:
        return this.#array(this.#minimal(this.#uint(2), 16, "array 16"), depth);
      case 0xdd:
        return this.#array(this.#minimal(this.#uint(4), 0x1_0000, "array 32"), depth);
      case 0xca:
      case 0xcb:
        return this.notCanonical(
          "a float where only whole numbers belong (a whole number takes its shortest int form)",
        );
      case 0xc0:
        return this.notCanonical("nil is not part of any record layout");
      default:
        if ((type & 0xe0) === 0xa0 || (type >= 0xd9 && type <= 0xdb)) {
          return this.notCanonical("a string where bytes belong (text is a bin holding UTF-8)");
        }
        if ((type & 0xf0) === 0x80 || type === 0xde || type === 0xdf) {
          return this.notCanonical("a map is not part of any record layout");
        }
        return this.notCanonical(`type byte 0x${type.toString(16)} is not part of any record`);
    }
  }

  #array(length: number, depth: number): CanonicalValue[] {
    if (depth >= canonicalDepthMax) {
      this.notCanonical(`arrays nested deeper than ${canonicalDepthMax}`);
    }
    // Each element takes a byte at least: a length beyond the bytes left is a truncation, found
    // before anything is allocated for it.
    if (length > this.#bytes.length - this.offset) this.#truncated();
    const items: CanonicalValue[] = [];
    for (let i = 0; i < length; i++) items.push(this.value(depth + 1));
    return items;
  }

  /** A length or unsigned number in a header that has a shorter form below `least`. */
  #minimal(n: number, least: number, form: string): number {
    if (n < least) {
      this.notCanonical(`${n} in a ${form} header (integer or length not in its shortest form)`);
    }
    return n;
  }

  #signed(n: number, least: number, form: string): number {
    if (n >= 0) this.notCanonical(`${n} in a signed ${form} form (whole numbers ≥ 0 are unsigned)`);
    if (n >= least) {
      this.notCanonical(`${n} in an ${form} form (integer not in its shortest form)`);
    }
    return n;
  }

  #safe(n: number): number {
    if (!Number.isSafeInteger(n)) this.notCanonical("a whole number beyond ±(2^53 - 1)");
    return n;
  }

  #uint(size: number): number {
    const at = this.offset;
    this.#take(size);
    if (size === 1) return this.#view.getUint8(at);
    if (size === 2) return this.#view.getUint16(at);
    if (size === 4) return this.#view.getUint32(at);
    return Number(this.#view.getBigUint64(at));
  }

  #int(size: number): number {
    const at = this.offset;
    this.#take(size);
    if (size === 1) return this.#view.getInt8(at);
    if (size === 2) return this.#view.getInt16(at);
    if (size === 4) return this.#view.getInt32(at);
    return Number(this.#view.getBigInt64(at));
  }

  #take(n: number): Uint8Array {
    if (n > this.#bytes.length - this.offset) this.#truncated();
    const part = this.#bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return part;
  }

  #truncated(): never {
    throw new RecordError(
      `Cannot accept record: ${this.#what} is not valid MessagePack: truncated`,
    );
  }
}
