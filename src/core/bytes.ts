/**
 * Byte helpers: text encodings of binary values (hex, base32, base64url), comparison and
 * concatenation. Decoders are strict: one canonical text per value, so a value round-trips and
 * two spellings of one key can never both be valid.
 *
 * @module
 */

import { InvalidInputError } from "./errors.ts";

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const hexDigits = "0123456789abcdef";
/** RFC 4648 base32 in lower case: DNS-safe and easy to read aloud. */
const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
const base32Values: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < base32Alphabet.length; i++) {
    table[base32Alphabet.charCodeAt(i)] = i;
  }
  return table;
})();

/**
 * Encodes bytes as lower-case hexadecimal.
 *
 * @param bytes The bytes.
 * @returns Two characters per byte.
 */
export function toHex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += hexDigits[byte >> 4] + hexDigits[byte & 15];
  return text;
}

/**
 * Decodes hexadecimal (either case) into bytes.
 *
 * @param text An even number of hex digits.
 * @returns The bytes.
 * @throws {InvalidInputError} When the text is not hexadecimal.
 */
export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new InvalidInputError(`Cannot decode hex: expected pairs of hex digits, got "${text}"`);
  }
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}

/**
 * Encodes bytes as unpadded lower-case RFC 4648 base32.
 *
 * @param bytes The bytes.
 * @returns `ceil(8 * length / 5)` characters.
 */
export function toBase32(bytes: Uint8Array): string {
  let text = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      text += base32Alphabet[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) text += base32Alphabet[(buffer << (5 - bits)) & 31];
  return text;
}

/**
 * Decodes unpadded RFC 4648 base32 (either case) into bytes. Only the canonical form is accepted:
 * the unused bits of the last character must be zero.
 *
 * @param text Base32 text without padding.
 * @returns The bytes.
 * @throws {InvalidInputError} When the text is not canonical base32.
 */
export function fromBase32(text: string): Uint8Array {
  const lower = text.toLowerCase();
  const remainder = (lower.length * 5) % 8;
  // Lengths whose leftover bits make a whole byte (1, 3, 6 characters mod 8) cannot be canonical.
  if ([1, 3, 6].includes(lower.length % 8)) {
    throw new InvalidInputError(`Cannot decode base32: length ${text.length} is impossible`);
  }
  const bytes = new Uint8Array(Math.floor((lower.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (let i = 0; i < lower.length; i++) {
    const code = lower.charCodeAt(i);
    const value = code < 128 ? base32Values[code] : -1;
    if (value < 0) {
      throw new InvalidInputError(
        `Cannot decode base32: "${text[i]}" at position ${i} is not in a-z, 2-7`,
      );
    }
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes[index++] = (buffer >> bits) & 0xff;
    }
  }
  if (remainder !== 0 && (buffer & ((1 << bits) - 1)) !== 0) {
    throw new InvalidInputError(`Cannot decode base32: "${text}" is not in canonical form`);
  }
  return bytes;
}

/**
 * Encodes bytes as unpadded base64url (RFC 4648 §5).
 *
 * @param bytes The bytes.
 * @returns The text.
 */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Decodes unpadded base64url into bytes, accepting only the canonical form.
 *
 * @param text Base64url text without padding.
 * @returns The bytes.
 * @throws {InvalidInputError} When the text is not canonical base64url.
 */
export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new InvalidInputError(`Cannot decode base64url: "${text}" is not base64url`);
  }
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") +
    "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  if (toBase64Url(bytes) !== text) {
    throw new InvalidInputError(`Cannot decode base64url: "${text}" is not in canonical form`);
  }
  return bytes;
}

/**
 * Whether two byte arrays hold the same bytes. Not constant-time: use it on public values only.
 *
 * @param a The first array.
 * @param b The second array.
 * @returns `true` when lengths and contents match.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/**
 * Compares two byte arrays as big-endian unsigned numbers (shorter first when one is a prefix).
 *
 * @param a The first array.
 * @param b The second array.
 * @returns A negative number, zero or a positive number.
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/**
 * Concatenates byte arrays into a new one.
 *
 * @param parts The arrays, in order.
 * @returns A new array holding all their bytes.
 */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const result = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

/**
 * Encodes text as UTF-8.
 *
 * @param text The text.
 * @returns Its UTF-8 bytes.
 */
export function utf8Encode(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/**
 * Decodes UTF-8 strictly: malformed sequences are an error, never replaced.
 *
 * @param bytes UTF-8 bytes.
 * @returns The text.
 * @throws {InvalidInputError} When the bytes are not valid UTF-8.
 */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return textDecoder.decode(bytes);
  } catch (error) {
    throw new InvalidInputError("Cannot decode text: the bytes are not valid UTF-8", {
      cause: error,
    });
  }
}
