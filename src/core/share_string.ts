/**
 * Share strings: a node's contact in a form short enough to read out, type or put in a small QR
 * code (`rhizome id` prints one), accepted wherever a contact URI is (`--bootstrap`,
 * `node.bootstrap`, DNS list entries).
 *
 * `RHZ1` followed by upper-case RFC 4648 base32 (no padding) of:
 *
 * | bytes | field                                                                    |
 * | ----- | ------------------------------------------------------------------------ |
 * | 1     | address kind: 4 (IPv4), 6 (IPv6) or 0 (host name)                        |
 * | 20    | the node ID                                                              |
 * | 4, 16 | the IPv4 or IPv6 address; for a name, 1 byte of length then its ASCII   |
 * | 2     | the UDP port, big-endian                                                 |
 * | 4     | checksum: the first 4 bytes of SHA-256("rhizome/share/v1" ‖ the above) |
 *
 * An IPv4 contact is 54 characters (a contact URI is about 75). It names the node by its ID, not
 * its public key: the secure channel pins a bootstrap contact by node ID (the handshake proves
 * the key, whose hash the ID is), so it authenticates the node as strictly as the URI does. The
 * checksum catches typing mistakes (a wrong string passes one time in 2^32); upper case and the
 * base32 digits put it in a QR code's alphanumeric mode. Parsing ignores case.
 *
 * @module
 */

import { fromBase32, toBase32 } from "./bytes.ts";
import { hostProblem, parseContactUri } from "./contact_uri.ts";
import { sha256 } from "./crypto.ts";
import { InvalidInputError } from "./errors.ts";
import { NodeId } from "./node_id.ts";

/** What every share string starts with (any case when parsed). */
export const SHARE_STRING_PREFIX = "RHZ1";

/** Domain of the checksum hash, so it never equals another hash of Rhizome's. */
const checksumDomain = "rhizome/share/v1";

/** Bytes of the checksum: a typo passes unnoticed one time in 2^32. */
const checksumBytes = 4;

/**
 * Longest share string parsed: the prefix and the base32 of a 253-character host name with the
 * fixed fields (1 + 20 + 1 + 253 + 2 + 4 bytes). At the limit: `INVALID_INPUT`.
 */
export const shareStringLengthMax: number = SHARE_STRING_PREFIX.length +
  Math.ceil(((1 + 20 + 1 + 253 + 2 + checksumBytes) * 8) / 5);

/** A contact as a bootstrap list needs it: who (node ID) and where (host and port). */
export interface ContactAddress {
  /** The node ID the handshake must prove. */
  readonly nodeId: NodeId;
  /** An IPv4 address, an IPv6 address without brackets, or a host name. */
  readonly host: string;
  /** The UDP port, 1..65535. */
  readonly port: number;
}

/**
 * Encodes a contact as a share string; {@link parseShareString} gives it back.
 *
 * @example
 * ```ts
 * import { formatShareString, parseShareString } from "./share_string.ts";
 * import { NodeId } from "./node_id.ts";
 * const nodeId = NodeId.fromHex("00".repeat(19) + "2a");
 * const text = formatShareString({ nodeId, host: "203.0.113.7", port: 7447 });
 * const back = parseShareString(text.toLowerCase());
 * if (back.host !== "203.0.113.7" || back.port !== 7447 || !back.nodeId.equals(nodeId)) {
 *   throw new Error("round trip");
 * }
 * ```
 *
 * @param contact Node ID, host (brackets optional for IPv6) and port.
 * @returns `RHZ1…`.
 * @throws {InvalidInputError} When the host or port is malformed.
 */
export function formatShareString(contact: ContactAddress): string {
  const host = contact.host.startsWith("[") ? contact.host.slice(1, -1) : contact.host;
  const problem = hostProblem(host);
  if (problem) throw new InvalidInputError(`Cannot make share string: ${problem}`);
  if (!Number.isInteger(contact.port) || contact.port < 1 || contact.port > 65535) {
    throw new InvalidInputError(`Cannot make share string: the port ${contact.port} is invalid`);
  }
  const address = addressBytes(host);
  const body = new Uint8Array(1 + 20 + address.bytes.length + 2);
  body[0] = address.kind;
  body.set(contact.nodeId.toBytes(), 1);
  body.set(address.bytes, 21);
  new DataView(body.buffer).setUint16(body.length - 2, contact.port);
  const whole = new Uint8Array(body.length + checksumBytes);
  whole.set(body);
  whole.set(sha256(checksumDomain, body).subarray(0, checksumBytes), body.length);
  return SHARE_STRING_PREFIX + toBase32(whole).toUpperCase();
}

/**
 * Whether `text` looks like a share string (starts with the prefix in any case); it may still be
 * malformed.
 *
 * @param text The text.
 * @returns Whether to parse it as one.
 */
export function isShareString(text: string): boolean {
  return text.slice(0, SHARE_STRING_PREFIX.length).toUpperCase() === SHARE_STRING_PREFIX;
}

/**
 * Parses a share string.
 *
 * @param text `RHZ1…`, any case.
 * @returns Node ID, host and port.
 * @throws {InvalidInputError} Naming what is wrong (length, base32, kind, checksum).
 */
export function parseShareString(text: string): ContactAddress {
  const result = parse(text);
  if (typeof result === "string") {
    const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    throw new InvalidInputError(`Cannot parse share string "${shown}": ${result}`);
  }
  return result;
}

/**
 * Reads a bootstrap contact: a contact URI (`rhz://…`) or a share string (`RHZ1…`).
 *
 * @param text The text.
 * @returns Node ID, host and port.
 * @throws {InvalidInputError} When it is neither.
 */
export function parseContactText(text: string): ContactAddress {
  return isShareString(text) ? parseShareString(text) : parseContactUri(text);
}

/**
 * Why `text` is not a share string.
 *
 * @param text The text.
 * @returns The reason, or `undefined` when it is a valid one.
 */
export function shareStringProblem(text: string): string | undefined {
  const result = parse(text);
  return typeof result === "string" ? result : undefined;
}

function parse(text: string): ContactAddress | string {
  if (text.length > shareStringLengthMax) {
    return `it is ${text.length} characters long, the limit is ${shareStringLengthMax}`;
  }
  if (!isShareString(text)) return `expected it to start with "${SHARE_STRING_PREFIX}"`;
  let bytes: Uint8Array;
  try {
    bytes = fromBase32(text.slice(SHARE_STRING_PREFIX.length));
  } catch {
    return "it is not base32 after the prefix (letters A-Z and digits 2-7)";
  }
  if (bytes.length < 1 + 20 + 1 + 2 + checksumBytes) return "it is too short";
  const body = bytes.subarray(0, bytes.length - checksumBytes);
  const sum = sha256(checksumDomain, body).subarray(0, checksumBytes);
  if (!sum.every((byte, i) => byte === bytes[body.length + i])) {
    return "its checksum does not match (a character is wrong or missing)";
  }
  const kind = body[0];
  const address = body.subarray(21, body.length - 2);
  let host: string;
  if (kind === 4 && address.length === 4) {
    host = address.join(".");
  } else if (kind === 6 && address.length === 16) {
    host = ipv6Text(address);
  } else if (kind === 0 && address.length >= 2 && address[0] === address.length - 1) {
    host = String.fromCharCode(...address.subarray(1));
  } else {
    return `its address (kind ${kind}, ${address.length} bytes) is malformed`;
  }
  const problem = hostProblem(host);
  if (problem) return problem;
  const port = new DataView(body.buffer, body.byteOffset).getUint16(body.length - 2);
  if (port === 0) return "its port is 0";
  return { nodeId: NodeId.fromBytes(body.slice(1, 21)), host: host.toLowerCase(), port };
}

function addressBytes(host: string): { kind: number; bytes: Uint8Array } {
  if (/^[0-9.]+$/.test(host)) {
    return { kind: 4, bytes: new Uint8Array(host.split(".").map(Number)) };
  }
  if (host.includes(":")) return { kind: 6, bytes: ipv6Bytes(host) };
  const name = host.toLowerCase();
  return {
    kind: 0,
    bytes: new Uint8Array([name.length, ...[...name].map((c) => c.charCodeAt(0))]),
  };
}

/** The 16 bytes of a valid IPv6 text (`hostProblem` accepted it), embedded IPv4 included. */
function ipv6Bytes(text: string): Uint8Array {
  let groups = text;
  const tail: number[] = [];
  const dotted = /^(.*:)([0-9]+\.[0-9.]+)$/.exec(text);
  if (dotted) {
    const octets = dotted[2].split(".").map(Number);
    tail.push((octets[0] << 8) | octets[1], (octets[2] << 8) | octets[3]);
    groups = dotted[1].endsWith("::") ? dotted[1] : dotted[1].slice(0, -1);
  }
  const [head, rest] = groups.includes("::") ? groups.split("::") : [groups, undefined];
  const parts = (s: string) => s === "" ? [] : s.split(":").map((g) => parseInt(g, 16));
  const left = parts(head);
  const right = rest === undefined ? [] : parts(rest);
  const zeros = 8 - left.length - right.length - tail.length;
  const words = [...left, ...new Array(Math.max(0, zeros)).fill(0), ...right, ...tail];
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

/** An IPv6 address's text in RFC 5952's short form (longest run of zero groups as `::`). */
function ipv6Text(bytes: Uint8Array): string {
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((word) => word.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}
