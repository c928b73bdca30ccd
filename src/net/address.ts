/**
 * Network addresses of peers: canonical `host:port` text (`192.0.2.1:7447`, `[2001:db8::1]:7447`)
 * in memory, and a compact binary form on the wire (6 bytes for IPv4, 18 for IPv6).
 *
 * @module
 */

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
