/**
 * Network addresses of peers, the one module that reads and writes them: canonical `host:port`
 * text (`192.0.2.1:7447`, `[2001:db8::1]:7447`) in memory, the canonical form of what a socket
 * reports, the host and port back out of it, and a compact binary form on the wire (6 bytes for
 * IPv4, 18 for IPv6).
 *
 * @module
 */

import { RhizomeError } from "../core/errors.ts";

/** A peer's UDP address as canonical text: `a.b.c.d:port` or `[v6]:port`. */
export type Address = string;

/** Bytes of an IPv4 address and port on the wire. */
export const ADDRESS_V4_BYTES = 6;
/** Bytes of an IPv6 address and port on the wire. */
export const ADDRESS_V6_BYTES = 18;

/**
 * The wire form of an address.
 *
 * @param address Canonical text with an IP host (host names are not sent on the wire).
 * @returns 6 or 18 bytes (address, then port big-endian), or `undefined` when `address` is not
 *   an IP address and port.
 */
export function encodeAddress(address: Address): Uint8Array | undefined {
  return sharedWireForm(address)?.slice();
}

/**
 * The wire form of an address without a copy, for the hot paths that only read it (a NODES
 * reply names up to 25 contacts; copying each cost 8% of a FIND_NODE). The array is the cache's
 * own: never change it, or use {@link encodeAddress}.
 *
 * @param address Canonical text with an IP host.
 * @returns The cached bytes, or `undefined` when `address` is not an IP address and port.
 */
export function sharedWireForm(address: Address): Readonly<Uint8Array> | undefined {
  const cached = encodedAddresses.get(address);
  if (cached) return cached;
  const bytes = parseAddress(address);
  if (bytes) {
    // Replies name the same neighbours again and again: parse each address once.
    if (encodedAddresses.size >= encodedAddressesMax) encodedAddresses.clear();
    encodedAddresses.set(address, bytes);
  }
  return bytes;
}

/**
 * Addresses whose wire form is kept. A node talks to a few thousand peers; past this the cache
 * starts over rather than grow.
 */
const encodedAddressesMax = 4096;
const encodedAddresses = new Map<Address, Uint8Array>();

function parseAddress(address: Address): Uint8Array | undefined {
  const v4 = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3}):([0-9]{1,5})$/.exec(address);
  if (v4) {
    const bytes = new Uint8Array(ADDRESS_V4_BYTES);
    for (let i = 0; i < 4; i++) {
      const octet = Number(v4[i + 1]);
      if (octet > 255) return undefined;
      bytes[i] = octet;
    }
    return writePort(bytes, Number(v4[5]));
  }
  const v6 = /^\[([0-9a-f:]+)\]:([0-9]{1,5})$/.exec(address);
  if (!v6) return undefined;
  const groups = expandIpv6(v6[1]);
  if (!groups) return undefined;
  const bytes = new Uint8Array(ADDRESS_V6_BYTES);
  for (let i = 0; i < 8; i++) {
    bytes[i * 2] = groups[i] >> 8;
    bytes[i * 2 + 1] = groups[i] & 0xff;
  }
  return writePort(bytes, Number(v6[2]));
}

/**
 * The canonical text of a wire address.
 *
 * @param bytes 6 or 18 bytes.
 * @returns The address, or `undefined` when the length is wrong or the port is 0.
 */
export function decodeAddress(bytes: Uint8Array): Address | undefined {
  if (bytes.length === ADDRESS_V4_BYTES) {
    const port = (bytes[4] << 8) | bytes[5];
    if (port === 0) return undefined;
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}:${port}`;
  }
  if (bytes.length !== ADDRESS_V6_BYTES) return undefined;
  const port = (bytes[16] << 8) | bytes[17];
  if (port === 0) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2] << 8) | bytes[i * 2 + 1]);
  return `[${compressIpv6(groups)}]:${port}`;
}

function writePort(bytes: Uint8Array, port: number): Uint8Array | undefined {
  if (port < 1 || port > 65535) return undefined;
  bytes[bytes.length - 2] = port >> 8;
  bytes[bytes.length - 1] = port & 0xff;
  return bytes;
}

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
function compressIpv6(groups: number[]): string {
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
 * ::1, fc00::/7, fe80::/10 (and IPv4 ones mapped into IPv6 never reach here: the transport
 * reports them as IPv4).
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
 * Canonical IPv6 texts of senders already seen. A node hears from a few thousand peers; past this
 * the cache starts over rather than grow.
 */
const canonicalV6AddressesMax = 4096;
const canonicalV6Addresses = new Map<string, Address>();

/** An IPv4 octet as operating systems print it: 0 to 255 without leading zeros. */
const octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const canonicalIpv4Pattern = new RegExp(`^${octet}(?:\\.${octet}){3}$`);
const embeddedIpv4Pattern = /^(.*:)([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/;

/**
 * The canonical {@link Address} of a UDP peer: `a.b.c.d:port` for IPv4 and for IPv4-mapped IPv6
 * (`::ffff:192.0.2.1` is the IPv4 peer 192.0.2.1 seen through a dual-stack socket), otherwise
 * `[v6]:port` in RFC 5952 form (lower case, the longest run of zero groups as `::`).
 *
 * @param host An IPv4 address in dotted-decimal form without leading zeros, or an IPv6 address
 *   in any RFC 4291 text form (also with a dotted IPv4 tail), without brackets or zone.
 * @param port 1 to 65535.
 * @returns The address, or `undefined` when `host` or `port` is not one of those.
 */
export function canonicalUdpAddress(host: string, port: number): Address | undefined {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (canonicalIpv4Pattern.test(host)) return `${host}:${port}`;
  if (!host.includes(":")) return undefined;
  const key = `${host} ${port}`;
  const cached = canonicalV6Addresses.get(key);
  if (cached !== undefined) return cached;
  const address = canonicalIpv6Address(host, port);
  if (address !== undefined) {
    if (canonicalV6Addresses.size >= canonicalV6AddressesMax) canonicalV6Addresses.clear();
    canonicalV6Addresses.set(key, address);
  }
  return address;
}

function canonicalIpv6Address(host: string, port: number): Address | undefined {
  let text = host.toLowerCase();
  const dotted = embeddedIpv4Pattern.exec(text);
  if (dotted) {
    const octets = dotted.slice(2).map(Number);
    if (octets.some((octet) => octet > 255)) return undefined;
    const high = ((octets[0] << 8) | octets[1]).toString(16);
    const low = ((octets[2] << 8) | octets[3]).toString(16);
    text = `${dotted[1]}${high}:${low}`;
  }
  const bytes = encodeAddress(`[${text}]:${port}`);
  if (bytes === undefined || bytes.length !== ADDRESS_V6_BYTES) return undefined;
  if (isIpv4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}:${port}`;
  return decodeAddress(bytes);
}

/** `::ffff:0:0/96`: eighty zero bits, sixteen one bits, then the IPv4 address. */
function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
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

/**
 * `host:port` text, with brackets around an IPv6 host.
 *
 * @param host An IP address or host name (an IPv6 one without brackets).
 * @param port The port.
 * @returns The text, for messages and for {@link canonicalUdpAddress}'s callers.
 */
export function hostPortText(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The parts of an address. */
export interface AddressParts {
  /** The IP address, an IPv6 one without brackets. */
  host: string;
  /** 1 to 65535. */
  port: number;
  /** 4 or 6. */
  family: 4 | 6;
}

/**
 * The host, port and family of a canonical address.
 *
 * @param address Canonical text, as {@link canonicalUdpAddress} gives it.
 * @returns Its parts.
 */
export function addressParts(address: Address): AddressParts {
  const portAt = address.lastIndexOf(":");
  const ipv6 = address.startsWith("[");
  return {
    host: ipv6 ? address.slice(1, portAt - 1) : address.slice(0, portAt),
    port: Number(address.slice(portAt + 1)),
    family: ipv6 ? 6 : 4,
  };
}
