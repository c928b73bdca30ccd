/**
 * DNS discovery: reads the signed seed list (`dns_list.ts`, docs/discovery.md) from TXT records
 * through `node:dns`'s `Resolver`, on the servers of `discovery.dns_servers` (the system's when
 * empty), checks the signature with the pinned list key before using any entry, and refuses a
 * list older than the newest it has accepted (remembered in the data dir across restarts).
 *
 * Bounded: {@link dnsQueryTimeoutMs} per query and {@link dnsQueryTriesMax} tries,
 * {@link dnsQueriesInFlightMax} entry queries at once, {@link dnsListFetchTimeoutMs} for a whole
 * fetch. Deno's `node:dns` asks over UDP and reads answers with its own parser (hickory); the
 * list's records are sized to fit 512-byte UDP answers, so no answer needs truncation or TCP.
 *
 * @module
 */

import { Resolver } from "node:dns/promises";
import { fromBase32 } from "../../core/bytes.ts";
import { writeFileAtomic } from "../../core/fs.ts";
import type { ContactAddress } from "../../core/share_string.ts";
import { isInvalidDomainName } from "../../net/host_names.ts";
import {
  canonicalDnsName,
  dnsEntryName,
  parseDnsListEntry,
  parseDnsListRoot,
  verifyDnsList,
} from "./dns_list.ts";

/**
 * Longest wait for one DNS answer. A resolver answers in milliseconds or not at all; 2 s rides
 * out one lost datagram's worth of delay on a slow link.
 */
export const dnsQueryTimeoutMs = 2_000;

/** Tries per query (one resend): a single lost datagram must not fail the source. */
export const dnsQueryTriesMax = 2;

/**
 * Entry queries in flight at once: a list of {@link dnsListEntriesMax} entries takes four rounds,
 * and a resolver never sees a burst from one node.
 */
export const dnsQueriesInFlightMax = 8;

/**
 * Longest a whole fetch (root and every entry) may take; past it the fetch fails and the node
 * goes on to its next source. Root plus four rounds of entries at the query timeout and tries.
 */
export const dnsListFetchTimeoutMs = 12_000;

/** Largest file of remembered sequences read (it holds one small JSON object). */
const memoryFileBytesMax = 4096;

/** What a fetch gave. */
export type DnsFetchResult =
  | { contacts: { text: string; contact: ContactAddress }[]; seq: number }
  | { problem: string };

/** Where the newest sequence accepted is kept, so a restart does not accept an older list. */
export interface DnsListMemory {
  /**
   * The newest sequence accepted for this name and key.
   *
   * @returns It, or `undefined` when none was.
   */
  load(): Promise<number | undefined>;
  /**
   * Remembers a newer sequence.
   *
   * @param seq The sequence.
   */
  save(seq: number): Promise<void>;
}

/** Settings of a {@link DnsDiscovery}. */
export interface DnsDiscoveryOptions {
  /** The list's DNS name. */
  name: string;
  /** The pinned list key (base32). */
  key: string;
  /** `host:port` of DNS servers; the system's when empty. */
  servers: readonly string[];
  /** Where the newest sequence is remembered; in memory only when absent. */
  memory?: DnsListMemory;
}

/** Reads the signed seed list from DNS. */
export class DnsDiscovery {
  readonly #name: string;
  readonly #key: Uint8Array;
  readonly #resolver: Resolver;
  readonly #memory: DnsListMemory | undefined;
  #newestSeq: number | undefined;
  #loaded = false;

  /** @param options Name, key, servers and memory. */
  constructor(options: DnsDiscoveryOptions) {
    this.#name = canonicalDnsName(options.name);
    this.#key = fromBase32(options.key);
    this.#resolver = new Resolver({ timeout: dnsQueryTimeoutMs, tries: dnsQueryTriesMax });
    if (options.servers.length > 0) this.#resolver.setServers([...options.servers]);
    this.#memory = options.memory;
  }

  /** The list's name. */
  get name(): string {
    return this.#name;
  }

  /** The newest sequence accepted so far, if any. */
  get newestSeq(): number | undefined {
    return this.#newestSeq;
  }

  /**
   * Reads and checks the list.
   *
   * @returns Its contacts and sequence, or one line saying why none can be used.
   */
  async fetch(): Promise<DnsFetchResult> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<DnsFetchResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ problem: `no complete answer within ${dnsListFetchTimeoutMs / 1000} s` }),
        dnsListFetchTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.#fetch(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #fetch(): Promise<DnsFetchResult> {
    if (!this.#loaded) {
      this.#loaded = true;
      this.#newestSeq = await this.#memory?.load().catch(() => undefined);
    }
    const rootRecords = await this.#txt(this.#name);
    if ("problem" in rootRecords) return { problem: `root ${this.#name}: ${rootRecords.problem}` };
    const root = parseDnsListRoot(rootRecords.records);
    if (typeof root === "string") return { problem: `root ${this.#name}: ${root}` };
    if (this.#newestSeq !== undefined && root.seq < this.#newestSeq) {
      return {
        problem: `the list's sequence ${root.seq} is older than ${this.#newestSeq}, ` +
          "already seen (a stale or replayed list)",
      };
    }
    const entries: string[] = new Array(root.count);
    const problems: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < root.count && problems.length === 0) {
        const index = next++;
        const name = dnsEntryName(this.#name, index);
        const answer = await this.#txt(name);
        const entry = "problem" in answer ? answer : parseDnsListEntry(answer.records);
        if (typeof entry === "string") entries[index] = entry;
        else problems.push(`entry ${name}: ${entry.problem}`);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(dnsQueriesInFlightMax, root.count) }, worker),
    );
    if (problems.length > 0) return { problem: `${problems[0]} (the list is used whole or not)` };
    const list = verifyDnsList(this.#name, root, entries, this.#key);
    if (typeof list === "string") return { problem: list };
    if (this.#newestSeq === undefined || list.seq > this.#newestSeq) {
      this.#newestSeq = list.seq;
      await this.#memory?.save(list.seq);
    }
    return list;
  }

  async #txt(name: string): Promise<{ records: string[][] } | { problem: string }> {
    if (isInvalidDomainName(name)) {
      return { problem: "no TXT record (.invalid names never resolve)" };
    }
    try {
      return { records: await this.#resolver.resolveTxt(name) };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const reason = code === "ENOTFOUND" || code === "ENODATA"
        ? "no TXT record"
        : code === "ETIMEOUT" || code === "ETIMEDOUT"
        ? `no answer within ${dnsQueryTriesMax} × ${dnsQueryTimeoutMs / 1000} s`
        : `the query failed (${String(code ?? (error as Error).message ?? error)})`;
      return { problem: reason };
    }
  }
}

/**
 * Remembers the newest sequence in a small JSON file (`dns_list.json` in the data dir), keyed by
 * the list's name and key so a changed configuration starts afresh.
 *
 * @param path The file.
 * @param name The list's name.
 * @param key The list key (base32).
 * @returns The memory.
 */
export function dnsListFileMemory(path: string, name: string, key: string): DnsListMemory {
  const id = `${canonicalDnsName(name)} ${key}`;
  return {
    async load() {
      let text: string;
      try {
        const info = await Deno.stat(path);
        if (!info.isFile || info.size > memoryFileBytesMax) return undefined;
        text = await Deno.readTextFile(path);
      } catch {
        return undefined;
      }
      try {
        const parsed = JSON.parse(text) as { list?: unknown; seq?: unknown };
        return parsed.list === id && Number.isSafeInteger(parsed.seq)
          ? parsed.seq as number
          : undefined;
      } catch {
        return undefined;
      }
    },
    async save(seq) {
      await writeFileAtomic(path, JSON.stringify({ list: id, seq }) + "\n", { mode: 0o600 });
    },
  };
}
