/**
 * Contact URIs: how an operator hands a node's address to another node or a script.
 *
 * `rhz://<public key, base32>@<host>:<port>` carries everything needed to reach the node (host
 * and UDP port) and to authenticate it (its Ed25519 public key; the node ID follows from it).
 * IPv6 hosts go in brackets: `rhz://…@[2001:db8::1]:7447`.
 *
 * @module
 */

import { fromBase32, toBase32 } from "./bytes.ts";
import { ED25519_PUBLIC_KEY_BYTES } from "./crypto.ts";
import { InvalidInputError } from "./errors.ts";
import { contactUriLengthMax } from "./limits.ts";
import { NodeId } from "./node_id.ts";

/** The URI scheme of Rhizome contacts. */
export const CONTACT_URI_SCHEME = "rhz";

/** A node's contact: who it is and where to reach it. */
export interface Contact {
  /** The node's 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The node ID derived from the public key. */
  readonly nodeId: NodeId;
  /** A host name, an IPv4 address, or an IPv6 address without brackets. */
  readonly host: string;
  /** The UDP port, 1..65535. */
  readonly port: number;
}

/**
 * Builds a contact from its parts, checking each one.
 *
 * @param publicKey The node's 32-byte public key.
 * @param host A host name, IPv4 or IPv6 address (brackets optional).
 * @param port 1..65535.
 * @returns The contact.
 * @throws {InvalidInputError} When a part is malformed.
 */
export function makeContact(publicKey: Uint8Array, host: string, port: number): Contact {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new InvalidInputError(
      `Cannot make contact: the public key has ${publicKey.length} bytes, expected ${ED25519_PUBLIC_KEY_BYTES}`,
    );
  }
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const problem = hostProblem(bare) ?? portProblem(String(port));
  if (problem) throw new InvalidInputError(`Cannot make contact: ${problem}`);
  return {
    publicKey: new Uint8Array(publicKey),
    nodeId: NodeId.fromPublicKey(publicKey),
    host: bare.toLowerCase(),
    port,
  };
}

/**
 * Formats a contact as a URI; {@link parseContactUri} gives the same contact back.
 *
 * @param contact The contact.
 * @returns `rhz://<key>@<host>:<port>`.
 */
export function formatContactUri(contact: Contact): string {
  const host = contact.host.includes(":") ? `[${contact.host}]` : contact.host;
  return `${CONTACT_URI_SCHEME}://${toBase32(contact.publicKey)}@${host}:${contact.port}`;
}

/**
 * Parses a contact URI.
 *
 * @example
 * ```ts
 * import { formatContactUri, parseContactUri } from "./contact_uri.ts";
 * const uri = "rhz://" + "a".repeat(52) + "@[::1]:7447";
 * const contact = parseContactUri(uri);
 * if (contact.host !== "::1" || contact.port !== 7447) throw new Error("parse");
 * if (formatContactUri(contact) !== uri) throw new Error("round trip");
 * ```
 *
 * @param uri The text, for example `rhz://<52 base32 characters>@203.0.113.7:7447`.
 * @returns The contact.
 * @throws {InvalidInputError} Naming what is wrong, when the URI is malformed.
 */
export function parseContactUri(uri: string): Contact {
  const result = parse(uri);
  if (typeof result === "string") {
    const shown = uri.length > 80 ? `${uri.slice(0, 80)}…` : uri;
    throw new InvalidInputError(`Cannot parse contact URI "${shown}": ${result}`);
  }
  return result;
}

/**
 * Why `uri` is not a contact URI.
 *
 * @param uri The text.
 * @returns The reason, or `undefined` when it is a valid contact URI.
 */
export function contactUriProblem(uri: string): string | undefined {
  const result = parse(uri);
  return typeof result === "string" ? result : undefined;
}

/** @returns The contact, or the reason the text is not a contact URI. */
function parse(uri: string): Contact | string {
  if (uri.length > contactUriLengthMax) {
    return `it is ${uri.length} characters long, the limit is ${contactUriLengthMax}`;
  }
  const schemeEnd = uri.indexOf("://");
  if (schemeEnd < 0 || uri.slice(0, schemeEnd).toLowerCase() !== CONTACT_URI_SCHEME) {
    return `expected it to start with "${CONTACT_URI_SCHEME}://"`;
  }
  const rest = uri.slice(schemeEnd + 3);
  const at = rest.indexOf("@");
  if (at < 0) return 'expected "<public key>@<host>:<port>" after the scheme';
  const keyText = rest.slice(0, at);
  let publicKey: Uint8Array;
  try {
    publicKey = fromBase32(keyText);
  } catch {
    return `the public key "${keyText}" is not base32`;
  }
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    return `the public key must be 52 base32 characters (32 bytes), got ${keyText.length}`;
  }
  const address = splitHostPort(rest.slice(at + 1));
  if (typeof address === "string") return address;
  const { host, port } = address;
  const problem = hostProblem(host) ?? portProblem(port);
  if (problem) return problem;
  return makeContact(publicKey, host, Number(port));
}

/**
 * Splits `host:port` text (`[v6]:port` for an IPv6 host) at its port separator: the one place
 * address text is cut, for contact URIs, the config's listen addresses and the network layer's
 * `PeerAddress.parse` alike. Neither part is checked further.
 *
 * @param text The text.
 * @returns The host (without brackets) and the port's text, or why the text has no such form.
 */
export function splitHostPort(text: string): { host: string; port: string } | string {
  const portSeparator = text.lastIndexOf(":");
  if (portSeparator < 0) return "expected a port after the host (host:port)";
  let host = text.slice(0, portSeparator);
  if (host.startsWith("[")) {
    if (!host.endsWith("]")) return `the IPv6 address "${host}" lacks its closing "]"`;
    host = host.slice(1, -1);
    if (!host.includes(":")) return `"[${host}]" is not an IPv6 address`;
  } else if (host.includes(":")) {
    return "an IPv6 host must be written in brackets, for example [::1]:7447";
  }
  return { host, port: text.slice(portSeparator + 1) };
}

/** @returns Why `port` is not a port number, or `undefined` when it is one. */
function portProblem(port: string): string | undefined {
  if (!/^[0-9]{1,5}$/.test(port)) return `the port "${port}" is not a number`;
  const value = Number(port);
  if (value < 1 || value > 65535) return `the port ${port} is outside 1..65535`;
  if (port.length > 1 && port.startsWith("0")) return `the port "${port}" has a leading zero`;
  return undefined;
}

/**
 * Why `host` is not an IPv4 address, an IPv6 address (without brackets) or a host name.
 *
 * @param host The host.
 * @returns The reason, or `undefined` when it is valid.
 */
export function hostProblem(host: string): string | undefined {
  if (host.length === 0) return "the host is empty";
  if (host.includes(":")) {
    return isIpv6(host) ? undefined : `"${host}" is not a valid IPv6 address`;
  }
  if (/^[0-9.]+$/.test(host)) {
    return isIpv4(host) ? undefined : `"${host}" is not a valid IPv4 address`;
  }
  if (host.length > 253) return `the host name is ${host.length} characters, the limit is 253`;
  const label = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
  const valid = host.replace(/\.$/, "").split(".").every((part) => label.test(part));
  return valid ? undefined : `"${host}" is not a valid host name`;
}

/** Whether `text` is a dotted-quad IPv4 address without leading zeros. */
function isIpv4(text: string): boolean {
  const octets = text.split(".");
  return octets.length === 4 &&
    octets.every((octet) => /^(0|[1-9][0-9]{0,2})$/.test(octet) && Number(octet) <= 255);
}

/** An IPv6 text's last group when it holds a dot: the groups before it, and it. */
const embeddedIpv4Tail = /^(.*:)([^:]*\.[^:]*)$/;

/** Whether `text` is an IPv6 address (RFC 4291 text forms, no zone index). */
function isIpv6(text: string): boolean {
  let groups = text;
  let groupsMax = 8;
  const dotted = embeddedIpv4Tail.exec(text);
  if (dotted) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) stands for two groups.
    if (!isIpv4(dotted[2])) return false;
    groups = `${dotted[1]}0`;
    groupsMax = 7;
  }
  const halves = groups.split("::");
  if (halves.length > 2) return false;
  const group = /^[0-9a-fA-F]{1,4}$/;
  const parts = halves.map((half) => (half === "" ? [] : half.split(":")));
  if (!parts.every((list) => list.every((part) => group.test(part)))) return false;
  const count = parts.reduce((sum, list) => sum + list.length, 0);
  return halves.length === 2 ? count < groupsMax : count === groupsMax;
}
