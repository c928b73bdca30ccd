/**
 * The Kademlia routing table: one bucket per shared-prefix length with this node's ID (160), each
 * holding up to k contacts in least-recently-seen order and a replacement cache of standbys.
 *
 * Only peers heard from directly enter the table (contacts merely named in replies do not). When
 * a bucket is full, a newcomer waits in the replacement cache and the bucket's least recently
 * seen contact is pinged if it has been quiet: it is evicted only if that ping fails (old,
 * proven contacts are worth more than new ones). A contact that fails `peerFailuresMax` requests
 * in a row is dropped when a standby can take its place (the freshest does).
 *
 * Responsive contacts come first: a contact that failed its last request ("suspect") or has never
 * answered one of this node's requests ("unverified") is handed out by {@link RoutingTable.closest}
 * (lookup starts, NODES replies) only when there are not enough responsive ones, so a silent peer
 * stops slowing lookups as soon as it first times out (issue 14). A bucket holds at most
 * `bucketSubnetContactsMax` contacts from one IPv4 /24 or IPv6 /64 (discv5's rule against one
 * operator filling a bucket); loopback and private addresses are exempt unless configured not to
 * be, so one-machine and LAN networks keep working.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { bucketSubnetContactsMax, contactFreshMs } from "../core/limits.ts";
import { NODE_ID_BITS, NODE_ID_BYTES, NodeId } from "../core/node_id.ts";
import { randomBytes, type Rng } from "../core/rng.ts";
import { isLocal, type PeerAddress, sharedWireForm } from "../net/address.ts";
import type { Contact } from "./types.ts";

/** A contact in the table, with what the node has learnt about it. */
export interface TableEntry extends Contact {
  /** When it was last heard from. */
  lastSeenMs: number;
  /** Requests it failed in a row. */
  failures: number;
  /** Smoothed round-trip time in ms (0: not measured yet). */
  rttMs: number;
  /** Round-trip time variation in ms. */
  rttVarMs: number;
  /** Whether it ever answered a request of this node's (a peer that only asks is unverified). */
  verified: boolean;
  /** When it was last handed out for a liveness check ({@link RoutingTable.staleContacts}). */
  checkedMs: number;
}

interface Bucket {
  /** Least recently seen first. */
  entries: TableEntry[];
  /** Standbys, most recently seen last. */
  replacements: TableEntry[];
  /** Last time a contact in it was heard from, or a lookup aimed into it (BEP 5's "changed"). */
  touchedMs: number;
}

/** Sizes of a {@link RoutingTable}. */
export interface RoutingTableOptions {
  /** Contacts per bucket. */
  k: number;
  /** Standbys per bucket. */
  replacementCacheMax: number;
  /** Contacts in the whole table at most (the node type's budget). */
  contactsMax: number;
  /** Failed requests in a row that drop a contact. */
  peerFailuresMax: number;
  /**
   * Whether loopback and private addresses are exempt from the per-subnet cap (default `true`:
   * a network on one machine or one LAN shares one /24).
   */
  subnetCapExemptsLocal?: boolean;
}

/** What {@link RoutingTable.observe} did with a contact. */
export type ObserveOutcome =
  | { kind: "updated" }
  | { kind: "added" }
  | { kind: "standby"; ping?: TableEntry }
  | { kind: "ignored" };

/** The routing table of one node. */
export class RoutingTable {
  readonly #self: NodeId;
  #options: RoutingTableOptions;
  readonly #buckets: (Bucket | undefined)[] = new Array(NODE_ID_BITS).fill(undefined);
  #size = 0;

  /**
   * Makes an empty table.
   *
   * @param self This node's ID (never stored).
   * @param options Sizes.
   */
  constructor(self: NodeId, options: RoutingTableOptions) {
    assert(options.k >= 1, "k must be at least 1");
    this.#self = self;
    this.#options = options;
  }

  /**
   * Contacts in the table, standbys not counted.
   *
   * @returns The count.
   */
  get size(): number {
    return this.#size;
  }

  /**
   * Changes the cap on contacts (the node changed type). A lower cap is reached as contacts
   * leave: none is dropped at once, no new one joins until the table is under the cap.
   *
   * @param contactsMax The new cap.
   */
  setContactsMax(contactsMax: number): void {
    this.#options = { ...this.#options, contactsMax };
  }

  /**
   * The bucket a given ID belongs in.
   *
   * @param id Any ID but this node's.
   * @returns 0..159: the length of the prefix `id` shares with this node's ID.
   */
  bucketIndexOf(id: NodeId): number {
    return this.#self.commonPrefixLength(id);
  }

  /**
   * The entry of a contact, when it is in the table.
   *
   * @param id The contact's ID.
   * @returns The entry, or `undefined`.
   */
  get(id: NodeId): TableEntry | undefined {
    const index = this.#self.commonPrefixLength(id);
    if (index === NODE_ID_BITS) return undefined;
    return this.#buckets[index]?.entries.find((entry) => entry.nodeId.equals(id));
  }

  /**
   * Records that a contact was heard from directly: it moves to the fresh end of its bucket, or
   * joins it, or waits as a standby when the bucket is full. A newcomer from a subnet that
   * already has `bucketSubnetContactsMax` contacts in the bucket is ignored.
   *
   * @param contact Who was heard, and from which address.
   * @param nowMs The time.
   * @param answered Whether it answered a request of this node's (`false`: it sent a request);
   *   a contact that answered once is verified for good.
   * @returns What happened; for a full bucket, possibly a stale contact to ping before eviction.
   */
  observe(contact: Contact, nowMs: number, answered = true): ObserveOutcome {
    const index = this.#self.commonPrefixLength(contact.nodeId);
    if (index === NODE_ID_BITS) return { kind: "ignored" };
    const bucket = this.#bucketAt(index, nowMs);
    const position = bucket.entries.findIndex((entry) => entry.nodeId.equals(contact.nodeId));
    if (position >= 0) {
      const entry = bucket.entries[position];
      if (!entry.address.equals(contact.address)) {
        // A known ID from a new address: keep the proven address until it fails; a node that
        // really moved is re-learnt once the old address stops answering.
        return { kind: "ignored" };
      }
      entry.lastSeenMs = nowMs;
      entry.failures = 0;
      if (answered) entry.verified = true;
      bucket.touchedMs = nowMs;
      bucket.entries.splice(position, 1);
      bucket.entries.push(entry);
      return { kind: "updated" };
    }
    if (bucket.entries.some((entry) => entry.address.equals(contact.address))) {
      return { kind: "ignored" };
    }
    if (!this.#subnetHasRoom(bucket.entries, contact.address)) return { kind: "ignored" };
    const entry: TableEntry = {
      nodeId: contact.nodeId,
      address: contact.address,
      lastSeenMs: nowMs,
      failures: 0,
      rttMs: 0,
      rttVarMs: 0,
      verified: answered,
      checkedMs: nowMs,
    };
    if (bucket.entries.length < this.#options.k && this.#size < this.#options.contactsMax) {
      const standby = bucket.replacements.findIndex((other) => other.nodeId.equals(entry.nodeId));
      if (standby >= 0) bucket.replacements.splice(standby, 1);
      bucket.entries.push(entry);
      this.#size++;
      bucket.touchedMs = nowMs;
      return { kind: "added" };
    }
    this.#addStandby(bucket, entry);
    const oldest = bucket.entries[0];
    if (oldest && nowMs - oldest.lastSeenMs > contactFreshMs) {
      return { kind: "standby", ping: oldest };
    }
    return { kind: "standby" };
  }

  /**
   * Records a failed request to a contact: it is suspect from the first; after `peerFailuresMax`
   * in a row it leaves the table when a standby can take its place. Without one it stays, suspect
   * (handed out last), as Kademlia keeps stale contacts: when this node is the one cut off (an
   * outage, a partition), emptying its table would keep it cut off after the network heals.
   *
   * @param id The contact's ID.
   * @returns Whether the contact was removed.
   */
  recordFailure(id: NodeId): boolean {
    const index = this.#self.commonPrefixLength(id);
    if (index === NODE_ID_BITS) return false;
    const bucket = this.#buckets[index];
    if (!bucket) return false;
    const standby = bucket.replacements.findIndex((entry) => entry.nodeId.equals(id));
    if (standby >= 0) bucket.replacements.splice(standby, 1);
    const position = bucket.entries.findIndex((entry) => entry.nodeId.equals(id));
    if (position < 0) return false;
    const entry = bucket.entries[position];
    entry.failures++;
    if (entry.failures < this.#options.peerFailuresMax) return false;
    bucket.entries.splice(position, 1);
    const replaceable = this.#fittingStandby(bucket) >= 0;
    bucket.entries.splice(position, 0, entry);
    if (!replaceable) return false;
    this.#evict(bucket, position);
    return true;
  }

  /**
   * Removes a contact at once (it left, or its eviction ping failed) and promotes a standby.
   *
   * @param id The contact's ID.
   * @returns Whether it was in the table.
   */
  remove(id: NodeId): boolean {
    const index = this.#self.commonPrefixLength(id);
    if (index === NODE_ID_BITS) return false;
    const bucket = this.#buckets[index];
    if (!bucket) return false;
    const position = bucket.entries.findIndex((entry) => entry.nodeId.equals(id));
    if (position < 0) return false;
    this.#evict(bucket, position);
    return true;
  }

  /**
   * Updates a contact's round-trip estimate (RFC 6298 smoothing).
   *
   * @param id The contact's ID.
   * @param sampleMs A measured round trip of a request that was not resent.
   */
  recordRtt(id: NodeId, sampleMs: number): void {
    const entry = this.get(id);
    if (!entry) return;
    if (entry.rttMs === 0) {
      entry.rttMs = sampleMs;
      entry.rttVarMs = sampleMs / 2;
      return;
    }
    entry.rttVarMs = 0.75 * entry.rttVarMs + 0.25 * Math.abs(entry.rttMs - sampleMs);
    entry.rttMs = 0.875 * entry.rttMs + 0.125 * sampleMs;
  }

  /**
   * The contacts closest to `target` by XOR distance, responsive ones first: the `count` nearest
   * responsive contacts, topped up (when there are fewer) with the nearest suspect or unverified
   * ones, then, for `ask`, with dead ones (`peerFailuresMax` failures in a row). Nearest first.
   *
   * Buckets are visited in distance order, so only the buckets that can hold the nearest
   * contacts are read: the target's own bucket, then the deeper ones, then the shallower ones.
   *
   * @param target Any ID.
   * @param count How many at most.
   * @param exclude An ID to leave out (the requester), if any.
   * @param order `ask` (the default): whom this node should ask. `tell`: whom to name to others,
   *   never a dead contact (they would only wait on it). `distance`: by distance alone, to judge
   *   which nodes should hold a value.
   * @returns Up to `count` contacts.
   */
  closest(
    target: NodeId,
    count: number,
    exclude?: NodeId,
    order: "ask" | "tell" | "distance" = "ask",
  ): TableEntry[] {
    const found: TableEntry[] = [];
    const doubtful: TableEntry[] = [];
    const dead: TableEntry[] = [];
    const failuresMax = this.#options.peerFailuresMax;
    const take = (bucket: Bucket | undefined) => {
      if (!bucket) return;
      for (const entry of bucket.entries) {
        if (exclude && entry.nodeId.equals(exclude)) continue;
        if (order === "distance" || isResponsive(entry)) found.push(entry);
        else if (entry.failures < failuresMax) doubtful.push(entry);
        else if (order === "ask") dead.push(entry);
      }
    };
    const index = this.#self.commonPrefixLength(target);
    if (index < NODE_ID_BITS) take(this.#buckets[index]);
    if (found.length < count) {
      for (let i = index + 1; i < NODE_ID_BITS; i++) take(this.#buckets[i]);
    }
    for (let i = Math.min(index, NODE_ID_BITS) - 1; i >= 0 && found.length < count; i--) {
      take(this.#buckets[i]);
    }
    const byDistance = (a: TableEntry, b: TableEntry) => target.compareDistance(a.nodeId, b.nodeId);
    found.sort(byDistance);
    if (found.length >= count) return found.slice(0, count);
    return [...found, ...doubtful.sort(byDistance), ...dead.sort(byDistance)]
      .slice(0, count).sort(byDistance);
  }

  /**
   * Contacts worth a liveness ping, none checked within `contactFreshMs` (doubled for each failure
   * in a row, up to 64 times): up to `doubtfulMax`
   * suspect or unverified ones, then up to `quietMax` responsive ones not heard from for
   * `contactFreshMs`; the longest unchecked first in each group (a round robin, so a few dead
   * contacts do not take every turn). Each one returned counts as checked now. A silent contact
   * is then found, and replaced once a standby can take its place, even when no lookup asks it.
   *
   * @param nowMs The time.
   * @param doubtfulMax Suspect or unverified contacts at most.
   * @param quietMax Quiet responsive contacts at most.
   * @returns The contacts, doubtful ones first.
   */
  staleContacts(nowMs: number, doubtfulMax: number, quietMax: number): TableEntry[] {
    const doubtful: TableEntry[] = [];
    const quiet: TableEntry[] = [];
    for (const bucket of this.#buckets) {
      if (!bucket) continue;
      for (const entry of bucket.entries) {
        // A contact failing again and again is checked less and less often (2, 4, … 64 min):
        // kept for when the network heals, it should not cost a ping a minute for ever.
        const intervalMs = contactFreshMs * 2 ** Math.min(entry.failures, checkBackoffMax);
        if (nowMs - entry.checkedMs < intervalMs) continue;
        if (!isResponsive(entry)) doubtful.push(entry);
        else if (nowMs - entry.lastSeenMs > contactFreshMs) quiet.push(entry);
      }
    }
    const byCheck = (a: TableEntry, b: TableEntry) => a.checkedMs - b.checkedMs;
    const chosen = [
      ...doubtful.sort(byCheck).slice(0, doubtfulMax),
      ...quiet.sort(byCheck).slice(0, quietMax),
    ];
    for (const entry of chosen) entry.checkedMs = nowMs;
    return chosen;
  }

  /**
   * Every contact, bucket by bucket (for persistence and tests).
   *
   * @returns The entries.
   */
  entries(): TableEntry[] {
    const all: TableEntry[] = [];
    for (const bucket of this.#buckets) if (bucket) all.push(...bucket.entries);
    return all;
  }

  /**
   * Marks the bucket a lookup aimed into as fresh: it needs no refresh for a while.
   *
   * @param target The lookup's target.
   * @param nowMs The time.
   */
  touch(target: NodeId, nowMs: number): void {
    const index = this.#self.commonPrefixLength(target);
    if (index < NODE_ID_BITS) this.#bucketAt(index, nowMs).touchedMs = nowMs;
  }

  /**
   * Buckets that need a refresh lookup: no contact in them heard from and no lookup aimed into
   * them for `idleMs`. Only buckets up to one past the
   * deepest non-empty one count: deeper ones are empty in any network of this size, and a lookup
   * for them would find nothing new.
   *
   * @param nowMs The time.
   * @param idleMs The refresh interval.
   * @returns Bucket indexes, shallowest first.
   */
  bucketsToRefresh(nowMs: number, idleMs: number): number[] {
    let deepest = -1;
    for (let i = 0; i < NODE_ID_BITS; i++) if (this.#buckets[i]?.entries.length) deepest = i;
    const due: number[] = [];
    for (let i = 0; i <= Math.min(deepest + 1, NODE_ID_BITS - 1); i++) {
      const bucket = this.#buckets[i];
      if (!bucket || nowMs - bucket.touchedMs >= idleMs) due.push(i);
    }
    return due;
  }

  /**
   * A random ID that falls in bucket `index`: the target of a refresh lookup.
   *
   * @param index 0..159.
   * @param rng The randomness.
   * @returns An ID sharing exactly `index` leading bits with this node's.
   */
  randomIdInBucket(index: number, rng: Rng): NodeId {
    assert(index >= 0 && index < NODE_ID_BITS, `bucket index ${index} out of range`);
    const bytes = randomBytes(rng, new Uint8Array(NODE_ID_BYTES));
    const self = this.#self.toBytes();
    const byte = index >> 3;
    const bit = 7 - (index & 7);
    for (let i = 0; i < byte; i++) bytes[i] = self[i];
    const keepMask = (0xff << (bit + 1)) & 0xff;
    bytes[byte] = (self[byte] & keepMask) | (~self[byte] & (1 << bit)) |
      (bytes[byte] & ((1 << bit) - 1));
    return NodeId.fromBytes(bytes);
  }

  #bucketAt(index: number, nowMs: number): Bucket {
    let bucket = this.#buckets[index];
    if (!bucket) {
      bucket = { entries: [], replacements: [], touchedMs: nowMs };
      this.#buckets[index] = bucket;
    }
    return bucket;
  }

  #addStandby(bucket: Bucket, entry: TableEntry): void {
    const known = bucket.replacements.findIndex((standby) => standby.nodeId.equals(entry.nodeId));
    if (known >= 0) bucket.replacements.splice(known, 1);
    bucket.replacements.push(entry);
    if (bucket.replacements.length > this.#options.replacementCacheMax) bucket.replacements.shift();
  }

  /** Whether one more contact from `address`'s subnet may join a bucket holding `entries`. */
  #subnetHasRoom(entries: readonly TableEntry[], address: PeerAddress): boolean {
    const subnet = subnetOf(address, this.#options.subnetCapExemptsLocal ?? true);
    if (subnet === undefined) return true;
    let count = 0;
    for (const entry of entries) {
      if (subnetOf(entry.address, false) === subnet) count++;
    }
    return count < bucketSubnetContactsMax;
  }

  /** The freshest standby whose subnet has room among the bucket's entries, or -1. */
  #fittingStandby(bucket: Bucket): number {
    let pick = bucket.replacements.length - 1;
    while (pick >= 0 && !this.#subnetHasRoom(bucket.entries, bucket.replacements[pick].address)) {
      pick--;
    }
    return pick;
  }

  #evict(bucket: Bucket, position: number): void {
    bucket.entries.splice(position, 1);
    this.#size--;
    const pick = this.#fittingStandby(bucket);
    const standby = pick >= 0 ? bucket.replacements.splice(pick, 1)[0] : undefined;
    if (standby) {
      // Keep least-recently-seen order: the standby goes where its last sighting puts it.
      let at = bucket.entries.length;
      while (at > 0 && bucket.entries[at - 1].lastSeenMs > standby.lastSeenMs) at--;
      bucket.entries.splice(at, 0, standby);
      this.#size++;
    }
  }
}

/** Doublings of a failing contact's check interval at most: 64 minutes. */
const checkBackoffMax = 6;

/** Whether a contact answered its last request and has answered one at all. */
function isResponsive(entry: TableEntry): boolean {
  return entry.failures === 0 && entry.verified;
}

/**
 * The subnet an address counts against: its IPv4 /24 or IPv6 /64 as text, or `undefined` when
 * it is exempt (a loopback, private or link-local address with `exemptLocal`). An IPv4-mapped
 * IPv6 address counts as its IPv4 address: a PeerAddress holds it as one.
 */
function subnetOf(address: PeerAddress, exemptLocal: boolean): string | undefined {
  const bytes = sharedWireForm(address);
  if (exemptLocal && isLocal(bytes)) return undefined;
  if (bytes.length === 6) return `${bytes[0]}.${bytes[1]}.${bytes[2]}`;
  return Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16)).join(":");
}
