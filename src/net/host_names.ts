/**
 * Host names: which texts are names to resolve rather than IP addresses, and resolving one to
 * its IP addresses through the operating system's resolver (`getaddrinfo`: `/etc/hosts`, then
 * DNS), with a time limit, for the bootstrap contacts of a node's configuration.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { RhizomeError } from "../core/errors.ts";
import { hostAddressesMax, hostResolveTimeoutMs } from "../core/limits.ts";

/**
 * A DNS name: labels of letters, digits and hyphens, separated by dots. All digits and dots is a
 * malformed IPv4 address, not a name; see {@link isHostName}.
 */
export const hostNamePattern =
  /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]{1,63})*$/;

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

/** Resolves a host name to IP address texts (IPv4 dotted, IPv6 without brackets). */
export type HostResolver = (host: string) => Promise<string[]>;

/**
 * Resolves a host name through the operating system, waiting at most
 * {@link hostResolveTimeoutMs}; keeps the first {@link hostAddressesMax} addresses, in the
 * resolver's order.
 *
 * @param host A host name ({@link isHostName}).
 * @returns Its addresses, at least one.
 * @throws {RhizomeError} `UNAVAILABLE` saying why in a few words: it does not resolve, the
 *   resolver did not answer in time, or `--allow-net` is missing.
 */
export async function resolveHostName(host: string): Promise<string[]> {
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
  try {
    const found = await Promise.race([lookup(host, { all: true, verbatim: true }), timeout]);
    const addresses = found.map((entry) => entry.address).slice(0, hostAddressesMax);
    if (addresses.length === 0) throw new RhizomeError("UNAVAILABLE", "it has no address");
    return addresses;
  } catch (error) {
    if (error instanceof RhizomeError) throw error;
    const code = (error as { code?: unknown }).code;
    const reason = error instanceof Deno.errors.NotCapable || code === "EPERM"
      ? "network access is not allowed (run with --allow-net)"
      : code === "ENOTFOUND" || code === "ENODATA"
      ? "it does not resolve"
      : `the resolver failed (${String(code ?? (error as Error).message ?? error)})`;
    throw new RhizomeError("UNAVAILABLE", reason, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
