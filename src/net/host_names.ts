/**
 * Host names: which texts are names to resolve rather than IP addresses, and resolving one to
 * its IP addresses through the operating system's resolver (`getaddrinfo`: `/etc/hosts`, then
 * DNS), with a time limit, for the bootstrap contacts of a node's configuration.
 *
 * A lookup cannot be cancelled: one that outlives its time limit keeps running until the system
 * resolver gives up. So at most {@link hostLookupsOutstandingMax} may be unsettled at once in a
 * process, counted until they really settle; past that a resolve is refused at once, and a dead
 * resolver cannot pile lookups up however often a node retries.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { RhizomeError } from "../core/errors.ts";
import {
  hostAddressesMax,
  hostLookupsOutstandingMax,
  hostResolveTimeoutMs,
} from "../core/limits.ts";

/**
 * A DNS name: labels of letters, digits and hyphens, separated by dots, with one final dot
 * allowed (a fully qualified name). All digits and dots is a malformed IPv4 address, not a name;
 * see {@link isHostName}.
 */
export const hostNamePattern =
  /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]{1,63})*\.?$/;

/**
 * Whether `host` is a name to resolve: not an IP address, not all digits and dots (a malformed
 * IPv4 address, which DNS must never be asked about), and shaped like a DNS name.
 *
 * @param host The host text, without brackets.
 * @returns Whether it is a host name.
 */
export function isHostName(host: string): boolean {
  return isIP(host) === 0 && !/^[0-9.]*$/.test(host) && hostNamePattern.test(host);
}

/** Which addresses to ask for: IPv4 only (4), IPv6 only (6), or both (0). */
export type AddressFamily = 0 | 4 | 6;

/** Resolves a host name to IP address texts (IPv4 dotted, IPv6 without brackets). */
export type HostResolver = (host: string, family: AddressFamily) => Promise<string[]>;

let lookupsOutstanding = 0;

/**
 * Whether `name` is under the special-use domain `invalid.` (RFC 6761 §6.4), which never
 * resolves: resolvers should answer it at once without asking the network. The built-in seeds
 * are placeholders under it, so every node without a bootstrap list would otherwise send DNS
 * queries for them at each start and rejoin.
 *
 * @param name A host or DNS name, with or without the trailing dot.
 * @returns True when its last label is `invalid`, in any case.
 */
export function isInvalidDomainName(name: string): boolean {
  return /(^|\.)invalid\.?$/i.test(name);
}

/**
 * Resolves a host name through the operating system, waiting at most
 * {@link hostResolveTimeoutMs}; keeps the first {@link hostAddressesMax} addresses of `family`,
 * in the resolver's order.
 *
 * @param host A host name ({@link isHostName}).
 * @param family The addresses wanted.
 * @returns Its addresses, at least one.
 * @throws {RhizomeError} `UNAVAILABLE` saying why in a few words: it does not resolve, the
 *   resolver did not answer in time or is still busy with earlier lookups, or network access is
 *   not allowed.
 */
export async function resolveHostName(host: string, family: AddressFamily): Promise<string[]> {
  if (isInvalidDomainName(host)) {
    throw new RhizomeError("UNAVAILABLE", "it does not resolve (.invalid names never do)");
  }
  if (lookupsOutstanding >= hostLookupsOutstandingMax) {
    throw new RhizomeError(
      "UNAVAILABLE",
      `the resolver has not answered ${lookupsOutstanding} earlier lookups yet`,
    );
  }
  lookupsOutstanding++;
  const asked = lookup(host, { all: true, verbatim: true, family })
    .finally(() => lookupsOutstanding--);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new RhizomeError(
            "UNAVAILABLE",
            `the resolver did not answer within ${hostResolveTimeoutMs / 1000} s`,
          ),
        ),
      hostResolveTimeoutMs,
    );
  });
  // The lookup may fail after the timeout won the race: that failure is nobody's to report.
  asked.catch(() => {});
  try {
    const found = await Promise.race([asked, timeout]);
    const addresses = found.map((entry) => entry.address).slice(0, hostAddressesMax);
    if (addresses.length === 0) throw new RhizomeError("UNAVAILABLE", "it has no address");
    return addresses;
  } catch (error) {
    if (error instanceof RhizomeError) throw error;
    const code = (error as { code?: unknown }).code;
    const reason = error instanceof Deno.errors.NotCapable || code === "EPERM"
      ? "network access is not allowed for it (--allow-net)"
      : code === "ENOTFOUND" || code === "ENODATA"
      ? family === 0 ? "it does not resolve" : `it has no IPv${family} address`
      : `the resolver failed (${String(code ?? (error as Error).message ?? error)})`;
    throw new RhizomeError("UNAVAILABLE", reason, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
