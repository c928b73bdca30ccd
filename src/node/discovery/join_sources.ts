/**
 * Where a node looks for contacts to join through, and in which order (docs/discovery.md):
 *
 * 1. its saved peers and its bootstrap list: `node.bootstrap` when set (the operator's choice),
 *    else the built-in seeds of `discovery.seeds`;
 * 2. the signed DNS list (`discovery.dns_name`), when configured;
 * 3. the nodes heard on the LAN (`discovery.lan`), when the LAN can reach this node.
 *
 * Explicit before automatic, global before local: the operator's list is what they asked for; a
 * list signed by the project's key leads to the one public network, which the nodes of a LAN
 * should join rather than form an island of their own; the LAN comes last, and also works when
 * nothing else can (no Internet, no DNS). Each source is asked only when the ones before it gave
 * no contact that answered, and the node logs which one worked.
 *
 * @module
 */

import type { Clock } from "../../core/clock.ts";
import type { Config } from "../../core/config_schema.ts";
import type { Ed25519KeyPair } from "../../core/crypto.ts";
import type { Log } from "../../core/log.ts";
import type { NodeId } from "../../core/node_id.ts";
import type { Contact } from "../../dht/types.ts";
import type { PeerAddress } from "../../net/address.ts";
import type { HostResolver } from "../../net/host_names.ts";
import {
  bootstrapAddresses,
  type BootstrapContact,
  type BootstrapSeed,
} from "../bootstrap_addresses.ts";
import { DnsDiscovery, dnsListFileMemory } from "./dns.ts";
import { LanDiscovery, lanFirstAnswerWaitMs, type LanStats } from "./lan.ts";
import { parseHostPort } from "../../core/config_schema.ts";

/** What a source found: contacts to join through, or why it has none. */
export type SourceFinding =
  | {
    /** The contacts, each node ID and address once. */
    contacts: Contact[];
    /** Those that came from a contact text (for messages naming it). */
    named: BootstrapSeed[];
  }
  | { problem: string };

/** One place contacts come from. */
export interface JoinSource {
  /** Its name in logs and status: `bootstrap`, `dns` or `lan`. */
  name: "bootstrap" | "dns" | "lan";
  /** What it is, for log lines ("the built-in seeds", "the DNS list _rhizome-seeds…"). */
  description: string;
  /** Asks it. */
  find(): Promise<SourceFinding>;
}

/** How one source fared in one join attempt. */
export interface SourceOutcome {
  /** The source's name. */
  source: JoinSource["name"];
  /** Its description. */
  description: string;
  /** Contacts it gave. */
  found: number;
  /** Whether joining through them worked. */
  joined: boolean;
  /** Why it gave nothing, or why its contacts did not do. */
  problem?: string;
}

/**
 * Tries each source in turn until joining through one works.
 *
 * @param sources The sources, in order.
 * @param join Joins through contacts; says whether any answered (and why not, when it can).
 * @param stopped Whether the node is stopping (then no further source is asked).
 * @returns How each source asked fared; the last one joined when any did.
 */
export async function joinThroughSources(
  sources: readonly JoinSource[],
  join: (contacts: Contact[], named: BootstrapSeed[]) => Promise<{ ok: boolean; why?: string }>,
  stopped: () => boolean,
): Promise<SourceOutcome[]> {
  const outcomes: SourceOutcome[] = [];
  for (const source of sources) {
    if (stopped()) break;
    let finding: SourceFinding;
    try {
      finding = await source.find();
    } catch (error) {
      finding = { problem: `it failed: ${(error as Error).message ?? String(error)}` };
    }
    const base = { source: source.name, description: source.description };
    if ("problem" in finding) {
      outcomes.push({ ...base, found: 0, joined: false, problem: finding.problem });
      continue;
    }
    if (finding.contacts.length === 0) {
      outcomes.push({ ...base, found: 0, joined: false, problem: "it gave no contact" });
      continue;
    }
    if (stopped()) break;
    const result = await join(finding.contacts, finding.named);
    outcomes.push({
      ...base,
      found: finding.contacts.length,
      joined: result.ok,
      problem: result.ok ? undefined : result.why ?? "no contact answered",
    });
    if (result.ok) break;
  }
  return outcomes;
}

/** What {@link NodeDiscovery} needs from the node. */
export interface NodeDiscoveryOptions {
  /** The configuration. */
  config: Config;
  /** The node's identity key (LAN announcements). */
  keyPair: Ed25519KeyPair;
  /** The node's ID (its own entries are skipped). */
  nodeId: NodeId;
  /** The address the DHT socket is bound to. */
  bound: PeerAddress;
  /** The data dir's path (the DNS list's sequence is remembered there); none: in memory. */
  dataDirPath?: string;
  /** Host names to addresses. */
  resolveHost: HostResolver;
  /** Time. */
  clock: Clock;
  /** Where to log. */
  log: Log;
  /** Whether the node knows no peer now. */
  lonely: () => boolean;
  /** A peer heard on the LAN for the first time. */
  onLanPeer: (contact: Contact) => void;
}

/** The DNS and LAN discovery of one node, and its sources in order. */
export class NodeDiscovery {
  readonly #options: NodeDiscoveryOptions;
  readonly #dns: DnsDiscovery | undefined;
  readonly #lan: LanDiscovery | undefined;
  /** Why the LAN is not used, when it is not. */
  readonly lanOff: string | undefined;
  /** Whether the LAN source was asked before. */
  #lanAsked = false;

  private constructor(
    options: NodeDiscoveryOptions,
    dns: DnsDiscovery | undefined,
    lan: LanDiscovery | undefined,
    lanOff: string | undefined,
  ) {
    this.#options = options;
    this.#dns = dns;
    this.#lan = lan;
    this.lanOff = lanOff;
  }

  /**
   * Sets up DNS discovery (when `discovery.dns_name` is set) and joins the LAN group (when
   * `discovery.lan` is on and the LAN can reach the node); a LAN that cannot be joined is logged
   * and left out.
   *
   * @param options The node's parts.
   * @returns The discovery.
   */
  static async start(options: NodeDiscoveryOptions): Promise<NodeDiscovery> {
    const { config, log } = options;
    const settings = config.discovery;
    const dns = settings.dns_name === "" ? undefined : new DnsDiscovery({
      name: settings.dns_name,
      key: settings.dns_key,
      servers: settings.dns_servers,
      memory: options.dataDirPath === undefined ? undefined : dnsListFileMemory(
        `${options.dataDirPath}/dns_list.json`,
        settings.dns_name,
        settings.dns_key,
      ),
    });
    let lanOff = lanUnusable(config, options.bound);
    let lan: LanDiscovery | undefined;
    if (lanOff === undefined) {
      const group = parseHostPort(settings.lan_group)!;
      const started = await LanDiscovery.start({
        keyPair: options.keyPair,
        port: options.bound.port,
        group,
        interfaceAddress: settings.lan_interface,
        intervalMs: settings.lan_interval_s * 1000,
        loopbackOnly: isLoopback(options.bound.host),
        looking: options.lonely,
        onPeer: options.onLanPeer,
        clock: options.clock,
        random: Math.random,
        log,
      });
      if (typeof started === "string") {
        lanOff = started;
        log.warning("LAN discovery off: {problem}", { problem: started });
      } else {
        lan = started;
        log.info("LAN discovery on {group} (interface {interface}, every {seconds} s)", {
          group: settings.lan_group,
          interface: settings.lan_interface || "the system's choice",
          seconds: settings.lan_interval_s,
        });
      }
    } else {
      log.info("LAN discovery off: {reason}", { reason: lanOff });
    }
    return new NodeDiscovery(options, dns, lan, lanOff);
  }

  /**
   * The sources of one join attempt, in order.
   *
   * @param saved Saved peers to try first.
   * @param bootstrap The bootstrap list in effect (configured, else built-in).
   * @param builtIn Whether that list is the built-in seeds.
   * @param onProblems Told which bootstrap contacts gave no address.
   * @returns The sources.
   */
  sources(
    saved: readonly Contact[],
    bootstrap: readonly BootstrapContact[],
    builtIn: boolean,
    onProblems: (problems: { uri: string; problem: string }[]) => void,
  ): JoinSource[] {
    const ipv4Only = this.#options.bound.family === 4;
    const resolve = this.#options.resolveHost;
    const listName = builtIn ? "the built-in seeds" : "the bootstrap contacts";
    const sources: JoinSource[] = [{
      name: "bootstrap",
      description: saved.length > 0 ? `the saved peers and ${listName}` : listName,
      find: async () => {
        const found = await bootstrapAddresses(bootstrap, resolve, ipv4Only);
        onProblems(found.problems);
        const contacts = uniqueContacts([...saved, ...found.seeds.map((seed) => seed.contact)]);
        if (contacts.length > 0) return { contacts, named: found.seeds };
        return {
          problem: bootstrap.length === 0
            ? "the list is empty"
            : `none of its ${bootstrap.length} contacts has a usable address`,
        };
      },
    }];
    const dns = this.#dns;
    if (dns !== undefined) {
      sources.push({
        name: "dns",
        description: `the DNS list ${dns.name}`,
        find: async () => {
          const list = await dns.fetch();
          if ("problem" in list) return list;
          const contacts: BootstrapContact[] = list.contacts
            .filter(({ contact }) => !contact.nodeId.equals(this.#options.nodeId))
            .map(({ text, contact }) => ({ uri: text, ...contact }));
          const found = await bootstrapAddresses(contacts, resolve, ipv4Only);
          if (found.seeds.length === 0) {
            return {
              problem: `list ${list.seq} checked, but none of its ${contacts.length} contacts ` +
                "has a usable address",
            };
          }
          return {
            contacts: uniqueContacts(found.seeds.map((s) => s.contact)),
            named: found.seeds,
          };
        },
      });
    }
    const lan = this.#lan;
    if (lan !== undefined) {
      sources.push({
        name: "lan",
        description: "the nodes heard on the LAN",
        find: async () => {
          // The first time, a node that knows no peer gives the LAN a moment to answer it.
          if (!this.#lanAsked && this.#options.lonely()) {
            await lan.waitForPeer(lanFirstAnswerWaitMs);
          }
          this.#lanAsked = true;
          const contacts = lan.contacts();
          return contacts.length > 0 ? { contacts, named: [] } : { problem: "no node heard yet" };
        },
      });
    }
    return sources;
  }

  /**
   * The peers heard on the LAN lately (for rejoining).
   *
   * @returns Their contacts; none without LAN discovery.
   */
  lanContacts(): Contact[] {
    return this.#lan?.contacts() ?? [];
  }

  /**
   * What `status` shows.
   *
   * @returns The DNS list's newest sequence and the LAN counters.
   */
  stats(): {
    dns: { name: string; newest_seq: number | null } | null;
    lan: LanStats | { off: string };
  } {
    return {
      dns: this.#dns ? { name: this.#dns.name, newest_seq: this.#dns.newestSeq ?? null } : null,
      lan: this.#lan?.stats() ?? { off: this.lanOff ?? "off" },
    };
  }

  /** Leaves the LAN group. */
  async close(): Promise<void> {
    await this.#lan?.close();
  }
}

/**
 * Why the LAN cannot be used by this node, or `undefined` when it can: switched off, an IPv6
 * socket that is not dual-stack, or a node on loopback whose announcements would go to another
 * interface (peers there could not reach it). A node on loopback with a loopback
 * `discovery.lan_interface` finds the nodes of its own machine.
 *
 * @param config The configuration.
 * @param bound The DHT socket's address.
 * @returns The reason, or `undefined`.
 */
export function lanUnusable(config: Config, bound: PeerAddress): string | undefined {
  const settings = config.discovery;
  if (!settings.lan) return "discovery.lan is false";
  if (bound.family === 6 && bound.host !== "::") {
    return `this node listens on IPv6 ${bound.host}, and LAN announcements are IPv4`;
  }
  if (isLoopback(bound.host) && !isLoopback(settings.lan_interface)) {
    return `this node listens on loopback (${bound.key}) and the LAN could not reach it; ` +
      'set discovery.lan_interface = "127.0.0.1" to find the nodes of this machine';
  }
  return undefined;
}

function isLoopback(host: string): boolean {
  return host.startsWith("127.") || host === "::1";
}

/**
 * Contacts with each node ID and address once, in their order.
 *
 * @param contacts The contacts.
 * @returns Them without repeats.
 */
export function uniqueContacts(contacts: readonly Contact[]): Contact[] {
  const seen = new Set<string>();
  return contacts.filter((contact) => {
    const key = `${contact.nodeId.toHex()}@${contact.address.key}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
