/**
 * Network addresses of peers, the one module that reads and writes them. An address is parsed
 * once, where it enters (the socket, the wire, the config, the peers file), into a
 * {@link PeerAddress}: its host in canonical text, port and family, and its {@link
 * PeerAddress.key}, the canonical `host:port` text (`192.0.2.1:7447`, `[2001:db8::1]:7447`)
 * computed once, which the tables keyed by address (sessions, routing, penalties, rate limits)
 * use. On the wire an address is 6 bytes (IPv4) or 18 (IPv6).
 *
 * Why a string key and not interned objects: a datagram's sender is a fresh object each time
 * (the socket reports text), so a Map keyed by objects would need every address interned in a
 * global table, which a flood of spoofed sources would grow, and whose eviction would break
 * identity comparisons. The key is the text the socket layer made anyway; a Map hashes a string
 * once and keeps the hash in it, so lookups cost what they did when addresses were strings.
 *
 * @module
 */

import { splitHostPort } from "../core/contact_uri.ts";
import { RhizomeError } from "../core/errors.ts";

/** IPv4 or IPv6. */
export type AddressFamily = 4 | 6;

/**
 * A peer's UDP address: an IP host and a port, in canonical form (IPv4-mapped IPv6 taken as
 * IPv4, IPv6 in RFC 5952 text), so two values for one address have one {@link key}.
 */
export class PeerAddress {
  /** The IP address: dotted quad, or RFC 5952 IPv6 text without brackets. */
  readonly host: string;
  /** 1 to 65535. */
  readonly port: number;
  /** 4 or 6. */
  readonly family: AddressFamily;
  /**
   * `host:port`, with brackets around an IPv6 host: the address's identity, for Map keys,
   * equality and messages.
   */
  readonly key: string;

  private constructor(host: string, port: number, family: AddressFamily, key: string) {
    this.host = host;
    this.port = port;
    this.family = family;
    this.key = key;
  }

  /**
   * The canonical address of a UDP peer: `a.b.c.d:port` for IPv4 and for IPv4-mapped IPv6
   * (`::ffff:192.0.2.1` is the IPv4 peer 192.0.2.1 seen through a dual-stack socket), otherwise
   * `[v6]:port` in RFC 5952 form (lower case, the longest run of zero groups as `::`).
   *
   * @example
   * ```ts
   * import { PeerAddress } from "./address.ts";
   * if (PeerAddress.of("::ffff:192.0.2.1", 7447)?.key !== "192.0.2.1:7447") throw new Error();
   * if (PeerAddress.of("2001:DB8:0::1", 7447)?.key !== "[2001:db8::1]:7447") throw new Error();
   * ```
   *
   * @param host An IPv4 address in dotted-decimal form without leading zeros, or an IPv6
   *   address in any RFC 4291 text form (also with a dotted IPv4 tail), without brackets or zone.
   * @param port 1 to 65535.
   * @returns The address, or `undefined` when `host` or `port` is not one of those.
   */
  static of(host: string, port: number): PeerAddress | undefined {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    if (canonicalIpv4Pattern.test(host)) return new PeerAddress(host, port, 4, `${host}:${port}`);
    if (!host.includes(":")) return undefined;
    const cacheKey = `${host} ${port}`;
    const cached = canonicalV6Addresses.get(cacheKey);
    if (cached !== undefined) return cached;
    const canonical = canonicalIpv6Host(host);
    if (canonical === undefined) return undefined;
    const address = canonical.includes(":")
      ? new PeerAddress(canonical, port, 6, `[${canonical}]:${port}`)
      : new PeerAddress(canonical, port, 4, `${canonical}:${port}`);
    if (canonicalV6Addresses.size >= canonicalV6AddressesMax) canonicalV6Addresses.clear();
    canonicalV6Addresses.set(cacheKey, address);
    return address;
  }

  /**
   * An address from `host:port` text (`[v6]:port` for IPv6), as {@link key} and the peers file
   * write it.
   *
   * @param text The text.
   * @returns The address, or `undefined` when the text is not an IP address and port.
   */
  static parse(text: string): PeerAddress | undefined {
    const parts = splitHostPort(text);
    if (typeof parts === "string" || !/^[1-9][0-9]{0,4}$/.test(parts.port)) return undefined;
    return PeerAddress.of(parts.host, Number(parts.port));
  }

  /**
   * Whether two values are one address.
   *
   * @param other Another address.
   * @returns `true` when host and port match.
   */
  equals(other: PeerAddress): boolean {
    return this.key === other.key;
  }

  /**
   * The canonical text, for messages and logs.
   *
   * @returns {@link key}.
   */
  toString(): string {
    return this.key;
  }

  /**
   * The canonical text, so addresses print readably in JSON.
   *
   * @returns {@link key}.
   */
  toJSON(): string {
    return this.key;
  }
}

/**
 * Canonical IPv6 addresses of senders already seen. A node hears from a few thousand peers; past
 * this the cache starts over rather than grow.
 */
const canonicalV6AddressesMax = 4096;
const canonicalV6Addresses = new Map<string, PeerAddress>();

/** An IPv4 octet as operating systems print it: 0 to 255 without leading zeros. */
const octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const canonicalIpv4Pattern = new RegExp(`^${octet}(?:\\.${octet}){3}$`);
const embeddedIpv4Pattern = /^(.*:)([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/;

/** RFC 5952 text of an IPv6 host, or dotted-quad text when it is IPv4-mapped. */
function canonicalIpv6Host(host: string): string | undefined {
  let text = host.toLowerCase();
  const dotted = embeddedIpv4Pattern.exec(text);
  if (dotted) {
    const octets = dotted.slice(2).map(Number);
    if (octets.some((octet) => octet > 255)) return undefined;
    const high = ((octets[0] << 8) | octets[1]).toString(16);
    const low = ((octets[2] << 8) | octets[3]).toString(16);
    text = `${dotted[1]}${high}:${low}`;
  }
  const groups = expandIpv6(text);
  if (groups === undefined) return undefined;
  if (isIpv4Mapped(groups)) {
    return `${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`;
  }
  return compressIpv6(groups);
}

/** `::ffff:0:0/96`: eighty zero bits, sixteen one bits, then the IPv4 address. */
function isIpv4Mapped(groups: readonly number[]): boolean {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return false;
  return groups[5] === 0xffff;
}

/** Bytes of an IPv4 address and port on the wire. */
export const ADDRESS_V4_BYTES = 6;
/** Bytes of an IPv6 address and port on the wire. */
export const ADDRESS_V6_BYTES = 18;

/**
 * The wire form of an address.
 *
 * @param address The address.
 * @returns 6 or 18 bytes (address, then port big-endian), a new array.
 */
export function encodeAddress(address: PeerAddress): Uint8Array {
  return sharedWireForm(address).slice();
}

/**
 * The wire form of an address without a copy, for the hot paths that only read it (a NODES
 * reply names up to 25 contacts; copying each cost 8% of a FIND_NODE). The array is the cache's
 * own: never change it, or use {@link encodeAddress}.
 *
 * @param address The address.
 * @returns The cached bytes.
 */
export function sharedWireForm(address: PeerAddress): Readonly<Uint8Array> {
  const cached = encodedAddresses.get(address.key);
  if (cached) return cached;
  const bytes = wireFormOf(address);
  // Replies name the same neighbours again and again: encode each address once.
  if (encodedAddresses.size >= encodedAddressesMax) encodedAddresses.clear();
  encodedAddresses.set(address.key, bytes);
  return bytes;
}

/**
 * Addresses whose wire form is kept. A node talks to a few thousand peers; past this the cache
 * starts over rather than grow.
 */
const encodedAddressesMax = 4096;
const encodedAddresses = new Map<string, Uint8Array>();

function wireFormOf({ host, port, family }: PeerAddress): Uint8Array {
  const bytes = new Uint8Array(family === 4 ? ADDRESS_V4_BYTES : ADDRESS_V6_BYTES);
  if (family === 4) {
    host.split(".").forEach((octet, i) => bytes[i] = Number(octet));
  } else {
    // A PeerAddress's IPv6 host is canonical, so it always expands.
    expandIpv6(host)!.forEach((group, i) => {
      bytes[i * 2] = group >> 8;
      bytes[i * 2 + 1] = group & 0xff;
    });
  }
  bytes[bytes.length - 2] = port >> 8;
  bytes[bytes.length - 1] = port & 0xff;
  return bytes;
}

/**
 * The address of a wire form.
 *
 * @param bytes 6 or 18 bytes.
 * @returns The address, or `undefined` when the length is wrong or the port is 0.
 */
export function decodeAddress(bytes: Uint8Array): PeerAddress | undefined {
  if (bytes.length === ADDRESS_V4_BYTES) {
    const port = (bytes[4] << 8) | bytes[5];
    return PeerAddress.of(`${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`, port);
  }
  if (bytes.length !== ADDRESS_V6_BYTES) return undefined;
  const port = (bytes[16] << 8) | bytes[17];
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2] << 8) | bytes[i * 2 + 1]);
  return PeerAddress.of(compressIpv6(groups), port);
}

/** The eight groups of IPv6 text (without brackets, no dotted tail), or `undefined`. */
function expandIpv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (half: string) => (half === "" ? [] : half.split(":"));
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return undefined;
  return groups.map((group) => parseInt(group, 16));
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as "::". */
function compressIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/**
 * Loopback, private and link-local addresses: 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16,
 * ::1, fc00::/7, fe80::/10 (and IPv4 ones mapped into IPv6 never reach here: a
 * {@link PeerAddress} holds them as IPv4).
 *
 * @param wire The address's wire form (6 or 18 bytes).
 * @returns Whether it is one of those.
 */
export function isLocal(wire: Readonly<Uint8Array>): boolean {
  if (wire.length === 6) {
    const [a, b] = wire;
    return a === 127 || a === 10 || (a === 172 && (b & 0xf0) === 16) ||
      (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  if ((wire[0] & 0xfe) === 0xfc) return true;
  if (wire[0] === 0xfe && (wire[1] & 0xc0) === 0x80) return true;
  for (let i = 0; i < 15; i++) if (wire[i] !== 0) return false;
  return wire[15] === 1;
}

/**
 * `host:port` text, with brackets around an IPv6 host, for what is not (yet) a
 * {@link PeerAddress}: a listen address, a host name.
 *
 * @param host An IP address or host name (an IPv6 one without brackets).
 * @param port The port.
 * @returns The text.
 */
export function hostPortText(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The error a failed bind ends with: one line, code `UNAVAILABLE`, naming the address.
 *
 * @param shown The address as the operator wrote it, for example `0.0.0.0:7447`.
 * @param error What binding threw or emitted.
 * @returns For example "Cannot listen on 0.0.0.0:7447: the port is in use".
 */
export function bindError(shown: string, error: unknown): RhizomeError {
  return new RhizomeError("UNAVAILABLE", `Cannot listen on ${shown}: ${bindProblem(error)}`, {
    cause: error,
  });
}

/** The reason a socket operation fails without the network permission. */
export const netPermissionMissing = "network access was not granted (run with --allow-net)";

/** Why binding failed, told by the error's name and code (node:dgram and Deno.listen alike). */
function bindProblem(error: unknown): string {
  const { name, code, message } = (error ?? {}) as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
  };
  if (name === "NotCapable") return netPermissionMissing;
  if (name === "PermissionDenied") return "permission denied";
  switch (code) {
    case "EADDRINUSE":
      return "the port is in use";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EADDRNOTAVAIL":
      return "the address is not available here";
    case "EAFNOSUPPORT":
      return "the address family is not supported here";
  }
  if (typeof message === "string") return message.split("\n")[0].replace(/\.$/, "");
  return String(error);
}
