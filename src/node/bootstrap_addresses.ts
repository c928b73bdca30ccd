/**
 * The UDP addresses a node's bootstrap contacts name. A contact URI's host is an IP address or a
 * host name (`rhz://…@seed.example.org:7447`); names are resolved through the operating system on
 * every join attempt, so a seed that moved, or a resolver that was down at start, is found on the
 * next attempt. Only addresses of a family the node's socket can reach are kept.
 *
 * @module
 */

import { RhizomeError } from "../core/errors.ts";
import { hostResolvesInFlightMax } from "../core/limits.ts";
import type { Address } from "../net/address.ts";
import { type HostResolver, isHostName } from "../net/host_names.ts";
import { canonicalUdpAddress } from "../net/udp_transport.ts";

/** A bootstrap contact's place: the URI it came from, its host and port. */
export interface BootstrapContact {
  /** The contact URI, for messages. */
  uri: string;
  /** An IP address (without brackets) or a host name. */
  host: string;
  /** The UDP port. */
  port: number;
}

/** What {@link bootstrapAddresses} found. */
export interface BootstrapAddresses {
  /** The addresses, each once, in the contacts' order. */
  addresses: Address[];
  /** The contacts that gave no address, and why (one line each). */
  problems: { uri: string; problem: string }[];
}

/**
 * The addresses of `contacts`: IP hosts as they are, host names resolved (at most
 * {@link hostResolvesInFlightMax} at a time).
 *
 * @param contacts The bootstrap contacts.
 * @param resolve How a host name becomes IP addresses.
 * @param ipv4Only Whether the node's socket reaches IPv4 peers only (it listens on an IPv4
 *   address); a dual-stack IPv6 socket reaches both.
 * @returns The addresses, and the contacts that gave none.
 */
export async function bootstrapAddresses(
  contacts: readonly BootstrapContact[],
  resolve: HostResolver,
  ipv4Only: boolean,
): Promise<BootstrapAddresses> {
  const found: Address[][] = contacts.map(() => []);
  const problems: ({ uri: string; problem: string } | undefined)[] = contacts.map(() => undefined);
  const named: number[] = [];
  contacts.forEach((contact, index) => {
    if (isHostName(contact.host)) named.push(index);
    else usable(index, [contact.host]);
  });
  // A fixed number of workers, each taking the next name: never more resolves than that at once.
  let next = 0;
  const worker = async () => {
    while (next < named.length) {
      const index = named[next++];
      try {
        usable(index, await resolve(contacts[index].host));
      } catch (error) {
        problems[index] = { uri: contacts[index].uri, problem: describe(error) };
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(hostResolvesInFlightMax, named.length) }, worker),
  );
  const addresses = [...new Set(found.flat())];
  return { addresses, problems: problems.filter((problem) => problem !== undefined) };

  function usable(index: number, hosts: readonly string[]): void {
    const { uri, port } = contacts[index];
    const reachable = hosts.filter((host) => !(ipv4Only && host.includes(":")));
    found[index] = reachable.flatMap((host) => canonicalUdpAddress(host, port) ?? []);
    if (found[index].length > 0) return;
    problems[index] = {
      uri,
      problem: reachable.length < hosts.length
        ? `it has only IPv6 addresses (${hosts.join(", ")}), and this node listens on IPv4`
        : `it is not an IP address and port (${hosts.join(", ")})`,
    };
  }
}

function describe(error: unknown): string {
  if (error instanceof RhizomeError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
