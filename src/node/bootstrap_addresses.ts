/**
 * The UDP addresses a node's bootstrap contacts name, each pinned to the node ID the contact's key
 * gives (the secure channel then accepts only that node there). A contact URI's host is an IP address or a
 * host name (`rhz://…@seed.example.org:7447`). Names are resolved through the operating system on
 * every join attempt, so a seed that moved, or a resolver that was down at start, is found on the
 * next attempt. Only addresses of a family the node's socket can reach are asked for and kept.
 *
 * `localhost` is 127.0.0.1 without asking the resolver, as the node's own addresses take it: a
 * node on `[::]` would otherwise also try `::1`, and its join attempt would wait for that
 * address to time out when the other node listens on IPv4 only.
 *
 * @module
 */

import { RhizomeError } from "../core/errors.ts";
import type { NodeId } from "../core/node_id.ts";
import type { Contact } from "../dht/types.ts";
import { hostResolvesInFlightMax, hostResolveTimeoutMs } from "../core/limits.ts";
import { type HostResolver, isHostName } from "../net/host_names.ts";
import { PeerAddress } from "../net/address.ts";

/** A bootstrap contact: the URI it came from, its node ID, host and port. */
export interface BootstrapContact {
  /** The contact URI, for messages. */
  uri: string;
  /** The node ID its public key gives. */
  nodeId: NodeId;
  /** An IP address (without brackets) or a host name. */
  host: string;
  /** The UDP port. */
  port: number;
}

/** A contact to join through, and the URI it came from. */
export interface BootstrapSeed {
  /** The contact URI, for messages. */
  uri: string;
  /** Its node ID and one of its addresses. */
  contact: Contact;
}

/** What {@link bootstrapAddresses} found. */
export interface BootstrapAddresses {
  /** The seeds, each node ID and address once, in the contacts' order. */
  seeds: BootstrapSeed[];
  /** The contacts that gave no address, and why (one line each), in the contacts' order. */
  problems: { uri: string; problem: string }[];
}

/**
 * The addresses of `contacts`: IP hosts as they are, host names resolved, at most
 * {@link hostResolvesInFlightMax} at a time and all within `timeoutMs` together.
 *
 * @param contacts The bootstrap contacts.
 * @param resolve How a host name becomes IP addresses.
 * @param ipv4Only Whether the node's socket reaches IPv4 peers only (it listens on an IPv4
 *   address); a dual-stack IPv6 socket reaches both.
 * @param timeoutMs How long the names may take in all; those not resolved by then are problems.
 * @returns The addresses, and the contacts that gave none.
 */
export async function bootstrapAddresses(
  contacts: readonly BootstrapContact[],
  resolve: HostResolver,
  ipv4Only: boolean,
  timeoutMs: number = hostResolveTimeoutMs,
): Promise<BootstrapAddresses> {
  const found: PeerAddress[][] = contacts.map(() => []);
  const problems: (string | undefined)[] = contacts.map(() => undefined);
  const named: number[] = [];
  contacts.forEach(({ host }, index) => {
    if (host === "localhost") usable(index, ["127.0.0.1"]);
    else if (isHostName(host)) named.push(index);
    else usable(index, [host]);
  });

  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((done) => timer = setTimeout(done, timeoutMs, "expired"));
  let timedOut = false;
  void expired.then(() => timedOut = true);
  // A fixed number of workers, each taking the next name: never more resolves than that at once.
  let next = 0;
  const worker = async () => {
    while (next < named.length && !timedOut) {
      const index = named[next++];
      try {
        const hosts = await Promise.race([
          resolve(contacts[index].host, ipv4Only ? 4 : 0),
          expired,
        ]);
        if (hosts === "expired") break;
        usable(index, hosts);
      } catch (error) {
        problems[index] = error instanceof RhizomeError || error instanceof Error
          ? error.message
          : String(error);
      }
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(hostResolvesInFlightMax, named.length) }, worker),
    );
  } finally {
    clearTimeout(timer);
  }
  for (const index of named) {
    if (found[index].length === 0 && problems[index] === undefined) {
      problems[index] = `the resolver did not answer within ${timeoutMs / 1000} s`;
    }
  }
  const seen = new Set<string>();
  const seeds: BootstrapSeed[] = [];
  found.forEach((addresses, index) => {
    const { uri, nodeId } = contacts[index];
    for (const address of addresses) {
      const key = `${nodeId.toHex()}@${address.key}`;
      if (seen.has(key)) continue;
      seen.add(key);
      seeds.push({ uri, contact: { nodeId, address } });
    }
  });
  return {
    seeds,
    problems: problems.flatMap((problem, index) =>
      problem === undefined ? [] : [{ uri: contacts[index].uri, problem }]
    ),
  };

  function usable(index: number, hosts: readonly string[]): void {
    const { port } = contacts[index];
    const addresses = hosts.flatMap((host) => PeerAddress.of(host, port) ?? []);
    // IPv4-mapped IPv6 hosts come out as IPv4 addresses, which an IPv4 socket reaches.
    found[index] = addresses.filter((address) => !(ipv4Only && address.family === 6));
    if (found[index].length > 0) return;
    problems[index] = addresses.length > 0
      ? `it has only IPv6 addresses (${hosts.join(", ")}), and this node listens on IPv4`
      : `it is not an IP address and port (${hosts.join(", ")})`;
  }
}
