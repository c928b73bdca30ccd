/**
 * The address a node tells others to reach it at.
 *
 * @module
 */

import { type Config, parseHostPort } from "../core/config_schema.ts";

/** A host and port others can dial. */
export interface AdvertisedAddress {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** UDP port. */
  port: number;
  /** Whether a wildcard listen host was replaced by loopback: reachable from this machine only. */
  loopbackOnly: boolean;
}

/**
 * `node.advertise` when set; otherwise `node.listen`, with a wildcard host (0.0.0.0 or ::)
 * replaced by the loopback address of the same family, since a wildcard is no address to dial.
 *
 * @param config A validated configuration.
 * @returns The address.
 */
export function advertisedAddress(config: Config): AdvertisedAddress {
  const chosen = parseHostPort(config.node.advertise || config.node.listen)!;
  if (chosen.host === "0.0.0.0") {
    return { host: "127.0.0.1", port: chosen.port, loopbackOnly: true };
  }
  if (chosen.host === "::") return { host: "::1", port: chosen.port, loopbackOnly: true };
  return { ...chosen, loopbackOnly: false };
}
