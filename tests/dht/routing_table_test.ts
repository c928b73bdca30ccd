// Goal: the routing table keeps Kademlia's rules under any sequence of events: never itself, no
// duplicate IDs, at most k contacts per bucket and contactsMax in all, each contact in the bucket
// of its shared-prefix length, least recently seen first; a full bucket parks newcomers as
// standbys and asks to ping its oldest contact only when that one has been quiet; evictions
// promote the freshest standby (failures evict only when a standby can replace); closest() is a
// brute-force XOR sort with responsive contacts before suspect ones; at most 2 contacts per
// public /24 or /64 per bucket.
// Method: unit tests of each rule on hand-picked IDs, then fast-check property tests (fixed seeds,
// printed in every message) that run random sequences of observe / recordFailure / remove /
// clock steps against a small reference model of the intended behaviour, checking the outcome
// of every call and the invariants after every step.

import assert from "node:assert/strict";
import fc from "fast-check";
import { contactFreshMs } from "../../src/core/limits.ts";
import { NODE_ID_BITS, NODE_ID_BYTES, NodeId } from "../../src/core/node_id.ts";
import { Prng } from "../../src/core/rng.ts";
import {
  type ObserveOutcome,
  RoutingTable,
  type RoutingTableOptions,
  type TableEntry,
} from "../../src/dht/routing_table.ts";
import { flipBit, idFromPrefix, randomId } from "./_helpers.ts";
import { at } from "../_address.ts";
import type { PeerAddress } from "../../src/net/address.ts";

const T0 = 1_735_689_600_000;
const self = idFromPrefix(0x00);

function table(options: Partial<RoutingTableOptions> = {}, me: NodeId = self): RoutingTable {
  return new RoutingTable(me, {
    k: 2,
    replacementCacheMax: 3,
    contactsMax: 1000,
    peerFailuresMax: 3,
    ...options,
  });
}

/** An ID in bucket `bucket` of `self` (all zeros), told apart by `tag` in its last byte. */
function inBucket(bucket: number, tag: number): NodeId {
  const bytes = new Uint8Array(NODE_ID_BYTES);
  bytes[bucket >> 3] = 0x80 >> (bucket & 7);
  bytes[NODE_ID_BYTES - 1] |= tag;
  return NodeId.fromBytes(bytes);
}

function contact(id: NodeId, host = id.byteAt(NODE_ID_BYTES - 1) + id.byteAt(0)) {
  return { nodeId: id, address: at(`10.0.${id.byteAt(0)}.${host % 256}:7447`) };
}

const hexes = (entries: readonly { nodeId: NodeId }[]) => entries.map((e) => e.nodeId.toHex());

// --- unit tests ---

Deno.test("the table never stores its own node's ID", () => {
  const t = table();
  assert.deepEqual(t.observe(contact(self), T0), { kind: "ignored" });
  assert.equal(t.size, 0);
  assert.equal(t.get(self), undefined);
  assert.equal(t.remove(self), false);
  assert.equal(t.recordFailure(self), false);
});

Deno.test("a new contact joins the bucket of the prefix length it shares with this node", () => {
  const t = table();
  for (const bucket of [0, 1, 7, 8, 100, 159]) {
    const id = inBucket(bucket, 0);
    assert.equal(t.bucketIndexOf(id), bucket);
    assert.deepEqual(t.observe(contact(id), T0), { kind: "added" });
    const entry = t.get(id)!;
    assert.ok(entry.nodeId.equals(id));
    assert.equal(entry.lastSeenMs, T0);
    assert.equal(entry.failures, 0);
    assert.deepEqual(t.get(id)!.address, contact(id).address);
  }
  assert.equal(t.size, 6);
});

Deno.test("observing a known contact moves it to the fresh end of its bucket", () => {
  const t = table({ k: 3 });
  const [a, b, c] = [1, 2, 3].map((tag) => inBucket(0, tag));
  t.observe(contact(a), T0);
  t.observe(contact(b), T0 + 1);
  t.observe(contact(c), T0 + 2);
  assert.deepEqual(t.observe(contact(a), T0 + 3), { kind: "updated" });
  assert.deepEqual(hexes(t.entries()), hexes([{ nodeId: b }, { nodeId: c }, { nodeId: a }]));
  assert.equal(t.get(a)!.lastSeenMs, T0 + 3);
  assert.equal(t.size, 3);
});

Deno.test("a known ID heard from a new address keeps its proven address", () => {
  const t = table();
  const a = inBucket(0, 1);
  t.observe({ nodeId: a, address: at("10.0.0.1:7447") }, T0);
  assert.deepEqual(t.observe({ nodeId: a, address: at("10.6.6.6:7447") }, T0 + 5), {
    kind: "ignored",
  });
  assert.deepEqual(t.get(a)!.address, at("10.0.0.1:7447"));
  assert.equal(t.get(a)!.lastSeenMs, T0, "a claim from another address does not refresh it");
});

Deno.test("a second ID claiming an address already in the bucket is ignored", () => {
  const t = table({ k: 5 });
  t.observe({ nodeId: inBucket(0, 1), address: at("10.0.0.1:7447") }, T0);
  const outcome = t.observe({ nodeId: inBucket(0, 2), address: at("10.0.0.1:7447") }, T0);
  assert.deepEqual(outcome, { kind: "ignored" });
  assert.equal(t.size, 1);
});

Deno.test("a full bucket parks the newcomer and asks to ping its oldest contact once stale", () => {
  const t = table({ k: 2 });
  const [a, b, c, d] = [1, 2, 3, 4].map((tag) => inBucket(0, tag));
  t.observe(contact(a), T0);
  t.observe(contact(b), T0 + 10);
  // Exactly contactFreshMs after it was last seen, the oldest is still fresh: no ping.
  assert.deepEqual(t.observe(contact(c), T0 + contactFreshMs), { kind: "standby" });
  // One ms later it is stale: ping it before evicting.
  const outcome = t.observe(contact(d), T0 + contactFreshMs + 1);
  assert.equal(outcome.kind, "standby");
  assert.ok(outcome.kind === "standby" && outcome.ping?.nodeId.equals(a), "the oldest is pinged");
  assert.deepEqual(hexes(t.entries()), hexes([{ nodeId: a }, { nodeId: b }]), "entries unchanged");
  assert.equal(t.get(c), undefined, "a standby is not a contact");
  assert.equal(t.size, 2);
});

Deno.test("a full bucket with a freshly seen oldest contact asks for no ping", () => {
  const t = table({ k: 1 });
  t.observe(contact(inBucket(0, 1)), T0);
  assert.deepEqual(t.observe(contact(inBucket(0, 2)), T0 + contactFreshMs / 2), {
    kind: "standby",
  });
});

Deno.test("removing a contact promotes the most recently seen standby", () => {
  const t = table({ k: 2, replacementCacheMax: 3 });
  const [a, b, x, y] = [1, 2, 3, 4].map((tag) => inBucket(0, tag));
  t.observe(contact(a), T0);
  t.observe(contact(b), T0);
  t.observe(contact(x), T0 + 1);
  t.observe(contact(y), T0 + 2);
  assert.equal(t.remove(a), true);
  assert.ok(t.get(y), "the freshest standby took the slot");
  assert.equal(t.get(x), undefined);
  assert.equal(t.size, 2);
  assert.equal(t.remove(b), true);
  assert.ok(t.get(x), "then the next freshest");
  assert.equal(t.remove(b), false, "a removed contact is gone");
  assert.equal(t.size, 2);
});

Deno.test("a standby heard again becomes the freshest standby", () => {
  const t = table({ k: 1, replacementCacheMax: 3 });
  const [a, x, y] = [1, 2, 3].map((tag) => inBucket(0, tag));
  t.observe(contact(a), T0);
  t.observe(contact(x), T0 + 1);
  t.observe(contact(y), T0 + 2);
  t.observe(contact(x), T0 + 3);
  t.remove(a);
  assert.ok(t.get(x), "x was heard last");
  assert.equal(t.get(x)!.lastSeenMs, T0 + 3);
});

Deno.test("the replacement cache keeps only the newest replacementCacheMax standbys", () => {
  const t = table({ k: 1, replacementCacheMax: 2 });
  const ids = [1, 2, 3, 4].map((tag) => inBucket(0, tag));
  ids.forEach((id, i) => t.observe(contact(id), T0 + i));
  // Standbys were 2, 3, 4; the cache holds 3 and 4.
  t.remove(ids[0]);
  assert.ok(t.get(ids[3]));
  t.remove(ids[3]);
  assert.ok(t.get(ids[2]));
  t.remove(ids[2]);
  assert.equal(t.size, 0, "standby 2 fell out of the cache");
});

Deno.test("recordFailure drops a contact after peerFailuresMax failures in a row", () => {
  const t = table({ k: 2, peerFailuresMax: 3 });
  const [a, x] = [1, 2].map((tag) => inBucket(0, tag));
  t.observe(contact(a), T0);
  t.observe(contact(inBucket(0, 3)), T0);
  t.observe(contact(x), T0);
  assert.equal(t.recordFailure(a), false);
  assert.equal(t.recordFailure(a), false);
  assert.equal(t.get(a)!.failures, 2);
  // A reply in between starts the count again.
  t.observe(contact(a), T0 + 1);
  assert.equal(t.get(a)!.failures, 0);
  assert.equal(t.recordFailure(a), false);
  assert.equal(t.recordFailure(a), false);
  assert.equal(t.recordFailure(a), true, "the third failure in a row drops it");
  assert.equal(t.get(a), undefined);
  assert.ok(t.get(x), "and the standby takes its place");
  assert.equal(t.size, 2);
  assert.equal(t.recordFailure(a), false, "unknown contacts are not counted");
});

Deno.test("a contact failing with no standby to replace it stays, suspect, handed out last", () => {
  const t = table({ k: 4, peerFailuresMax: 2 });
  const [a, b, c] = [1, 2, 3].map((tag) => inBucket(0, tag));
  [a, b, c].forEach((id) => t.observe(contact(id), T0));
  assert.equal(t.recordFailure(a), false);
  assert.equal(t.recordFailure(a), false, "no standby: kept (this node may be the one cut off)");
  assert.equal(t.get(a)!.failures, 2);
  // a is the nearest to itself, yet responsive contacts come first while there are enough.
  const nearest = [b, c].sort((x, y) => a.compareDistance(x, y)).map((id) => id.toHex());
  assert.deepEqual(hexes(t.closest(a, 2)), nearest);
  assert.deepEqual(hexes(t.closest(a, 3))[0], a.toHex(), "topped up with it when short");
  // A newcomer waits as a standby; the next failure then lets it replace a.
  t.observe(contact(inBucket(0, 4)), T0);
  assert.equal(t.observe(contact(inBucket(0, 5)), T0).kind, "standby");
  assert.equal(t.recordFailure(a), true);
  assert.equal(t.get(a), undefined);
  assert.ok(t.get(inBucket(0, 5)), "the standby took its place");
});

Deno.test("a contact that only asked is unverified: handed out after those that answered", () => {
  const t = table({ k: 4 });
  const [a, b] = [1, 2].map((tag) => inBucket(0, tag));
  t.observe(contact(a), T0, false);
  t.observe(contact(b), T0);
  assert.equal(t.get(a)!.verified, false);
  assert.deepEqual(hexes(t.closest(a, 1)), [b.toHex()]);
  t.observe(contact(a), T0 + 1, true);
  assert.equal(t.get(a)!.verified, true, "its first answer verifies it");
  assert.deepEqual(hexes(t.closest(a, 1)), [a.toHex()]);
  t.observe(contact(a), T0 + 2, false);
  assert.equal(t.get(a)!.verified, true, "for good");
});

Deno.test("staleContacts() hands out suspect, then quiet contacts in turn, each once a period", () => {
  const t = table({ k: 8 });
  const ids = [1, 2, 3, 4].map((tag) => inBucket(0, tag));
  ids.forEach((id, i) => t.observe(contact(id), T0 + i));
  assert.deepEqual(t.staleContacts(T0 + 10, 8, 8), [], "all fresh and responsive");
  t.recordFailure(ids[3]);
  const later = T0 + contactFreshMs + 10;
  t.observe(contact(ids[2]), later); // Heard from: fresh again.
  // The suspect (one failure) is checked every 2 periods: not yet. The quiet ones, one a call.
  assert.deepEqual(hexes(t.staleContacts(later, 8, 1)), [ids[0].toHex()]);
  assert.deepEqual(hexes(t.staleContacts(later, 8, 1)), [ids[1].toHex()], "the next quiet one");
  assert.deepEqual(t.staleContacts(later + 1, 8, 8), [], "each checked at most once a period");
  const twoPeriods = T0 + 2 * contactFreshMs + 10;
  assert.deepEqual(
    hexes(t.staleContacts(twoPeriods, 8, 8)),
    [ids[3].toHex(), ids[0].toHex(), ids[1].toHex()],
    "the suspect first, then the quiet ones",
  );
  t.recordFailure(ids[3]);
  assert.deepEqual(t.staleContacts(twoPeriods + 3 * contactFreshMs, 8, 0), [], "backs off");
  assert.equal(t.staleContacts(twoPeriods + 4 * contactFreshMs, 8, 0).length, 1);
});

Deno.test("a bucket holds at most 2 contacts per public /24 or /64; local ranges are exempt", () => {
  const t = table({ k: 8 });
  const ids = [1, 2, 3, 4, 5, 6].map((tag) => inBucket(0, tag));
  assert.equal(t.observe({ nodeId: ids[0], address: at("198.51.100.1:7447") }, T0).kind, "added");
  assert.equal(t.observe({ nodeId: ids[1], address: at("198.51.100.2:7447") }, T0).kind, "added");
  assert.equal(t.observe({ nodeId: ids[2], address: at("198.51.100.3:7447") }, T0).kind, "ignored");
  assert.equal(t.observe({ nodeId: ids[2], address: at("198.51.101.3:7447") }, T0).kind, "added");
  assert.equal(t.observe({ nodeId: ids[3], address: at("[2001:db8::1]:7447") }, T0).kind, "added");
  assert.equal(t.observe({ nodeId: ids[4], address: at("[2001:db8::2]:7447") }, T0).kind, "added");
  assert.equal(
    t.observe({ nodeId: ids[5], address: at("[2001:db8:0:0:1::3]:7447") }, T0).kind,
    "ignored",
  );
  assert.equal(
    t.observe({ nodeId: ids[5], address: at("[2001:db8:0:1::3]:7447") }, T0).kind,
    "added",
  );
  // An IPv4-mapped IPv6 address (::ffff:198.51.100.7) counts as its IPv4 address.
  assert.equal(
    t.observe({ nodeId: inBucket(0, 7), address: at("[::ffff:c633:6407]:7447") }, T0).kind,
    "ignored",
  );
  // Another bucket has its own count.
  assert.equal(
    t.observe({ nodeId: inBucket(1, 1), address: at("198.51.100.9:7447") }, T0).kind,
    "added",
  );
  // Loopback and private ranges, exempt by default.
  for (const [host, prefix] of [["127.0.0", 2], ["10.1.2", 3], ["192.168.1", 4]] as const) {
    const local = table({ k: 8 });
    for (let i = 1; i <= 5; i++) {
      const outcome = local.observe(
        { nodeId: inBucket(prefix, i), address: at(`${host}.${i}:7447`) },
        T0,
      );
      assert.equal(outcome.kind, "added", `${host}.${i}`);
    }
  }
  const v6 = table({ k: 8 });
  for (let i = 1; i <= 3; i++) {
    assert.equal(
      v6.observe({ nodeId: inBucket(0, i), address: at(`[::1]:${7000 + i}`) }, T0).kind,
      "added",
    );
    assert.equal(
      v6.observe({ nodeId: inBucket(1, i), address: at(`[fd00::${i}]:7447`) }, T0).kind,
      "added",
    );
  }
  // Not exempt when the setting says so.
  const strict = table({ k: 8, subnetCapExemptsLocal: false });
  const outcomes = [1, 2, 3].map((i) =>
    strict.observe({ nodeId: inBucket(0, i), address: at(`127.0.0.1:${7000 + i}`) }, T0).kind
  );
  assert.deepEqual(outcomes, ["added", "added", "ignored"]);
});

Deno.test("an evicted contact's place goes to the freshest standby that fits the subnet cap", () => {
  const t = table({ k: 2, replacementCacheMax: 3 });
  const [a, b, x, y] = [1, 2, 3, 4].map((tag) => inBucket(0, tag));
  t.observe({ nodeId: a, address: at("198.51.100.1:7447") }, T0);
  t.observe({ nodeId: b, address: at("203.0.113.1:7447") }, T0);
  t.observe({ nodeId: x, address: at("203.0.113.2:7447") }, T0 + 1); // Standby: fits once a leaves.
  t.observe({ nodeId: y, address: at("192.0.2.1:7447") }, T0 + 2); // Freshest standby.
  t.remove(b);
  assert.ok(t.get(y), "the freshest standby");
  t.remove(y);
  assert.ok(t.get(x));
});

Deno.test("a standby that fails a request leaves the replacement cache", () => {
  const t = table({ k: 1 });
  const [a, x] = [1, 2].map((tag) => inBucket(0, tag));
  t.observe(contact(a), T0);
  t.observe(contact(x), T0);
  assert.equal(t.recordFailure(x), false);
  t.remove(a);
  assert.equal(t.size, 0, "no standby was left to promote");
});

Deno.test("contactsMax caps the whole table; the excess waits as standbys", () => {
  const t = table({ k: 20, contactsMax: 3 });
  for (let bucket = 0; bucket < 6; bucket++) {
    const outcome = t.observe(contact(inBucket(bucket, 1)), T0);
    assert.equal(outcome.kind, bucket < 3 ? "added" : "standby", `bucket ${bucket}`);
  }
  assert.equal(t.size, 3);
  t.remove(inBucket(0, 1));
  assert.equal(t.size, 2, "bucket 0 had no standby to promote");
  assert.equal(t.observe(contact(inBucket(9, 1)), T0).kind, "added", "room again");
});

Deno.test("recordRtt smooths round trips as RFC 6298 does", () => {
  const t = table();
  const a = inBucket(0, 1);
  t.recordRtt(a, 100);
  assert.equal(t.get(a), undefined, "unknown contacts are not measured");
  t.observe(contact(a), T0);
  t.recordRtt(a, 100);
  assert.equal(t.get(a)!.rttMs, 100);
  assert.equal(t.get(a)!.rttVarMs, 50);
  t.recordRtt(a, 200);
  assert.equal(t.get(a)!.rttMs, 0.875 * 100 + 0.125 * 200);
  assert.equal(t.get(a)!.rttVarMs, 0.75 * 50 + 0.25 * 100);
});

Deno.test("closest() returns the nearest contacts by XOR distance, nearest first", () => {
  const t = table({ k: 4 });
  const ids = [
    inBucket(0, 1),
    inBucket(0, 2),
    inBucket(1, 1),
    inBucket(2, 5),
    inBucket(3, 1),
    inBucket(3, 2),
  ];
  for (const id of ids) t.observe(contact(id), T0);
  const target = inBucket(2, 4);
  // Distances: bucket 2 tags 5^4 = 1 nearest; then buckets 3 (bit 2 set); then 1; then 0.
  assert.deepEqual(
    hexes(t.closest(target, 3)),
    hexes([ids[3], ids[4], ids[5]].map((id) => ({ nodeId: id }))),
  );
  assert.deepEqual(hexes(t.closest(target, 100)).length, 6);
  assert.deepEqual(
    hexes(t.closest(target, 2, ids[3])),
    hexes([ids[4], ids[5]].map((id) => ({ nodeId: id }))),
    "the excluded requester is left out",
  );
  assert.deepEqual(t.closest(target, 0), []);
  // Looking up this node's own ID: the deepest buckets are nearest.
  assert.ok(t.closest(self, 1)[0].nodeId.equals(ids[4]));
});

Deno.test("randomIdInBucket(i) lands in bucket i for every i", () => {
  const prng = new Prng(7);
  for (const me of [self, idFromPrefix(0xff, 0xff), randomId(prng), randomId(prng)]) {
    const t = table({}, me);
    for (let i = 0; i < NODE_ID_BITS; i++) {
      const id = t.randomIdInBucket(i, prng);
      assert.equal(t.bucketIndexOf(id), i, `bucket ${i} of ${me.toHex()}, seed 7`);
    }
  }
  assert.throws(() => table().randomIdInBucket(NODE_ID_BITS, prng));
  assert.throws(() => table().randomIdInBucket(-1, prng));
});

Deno.test("bucketsToRefresh lists idle buckets up to one past the deepest non-empty one", () => {
  const hour = 3_600_000;
  const t = table({ k: 5 });
  assert.deepEqual(t.bucketsToRefresh(T0, hour), [0], "an empty table refreshes bucket 0");
  for (const bucket of [0, 1, 3]) t.observe(contact(inBucket(bucket, 1)), T0);
  // Buckets 2 and 4 hold nobody: always due. 0, 1 and 3 were just heard from.
  assert.deepEqual(t.bucketsToRefresh(T0 + hour - 1, hour), [2, 4]);
  assert.deepEqual(t.bucketsToRefresh(T0 + hour, hour), [0, 1, 2, 3, 4]);
  // A lookup aimed into bucket 1, and a reply from the contact in bucket 3, keep them fresh.
  t.touch(inBucket(1, 7), T0 + hour / 2);
  t.observe(contact(inBucket(3, 1)), T0 + hour / 2);
  assert.deepEqual(t.bucketsToRefresh(T0 + hour, hour), [0, 2, 4]);
  // touch() on an empty bucket makes it count as fresh too.
  t.touch(inBucket(2, 7), T0 + hour);
  assert.deepEqual(t.bucketsToRefresh(T0 + hour, hour), [0, 4]);
});

// --- property tests against a reference model ---

interface ModelEntry {
  nodeId: NodeId;
  address: PeerAddress;
  lastSeenMs: number;
  failures: number;
}

/** The intended behaviour, written plainly: lists, linear scans, no shortcuts. */
class ModelTable {
  readonly buckets = new Map<number, { entries: ModelEntry[]; standbys: ModelEntry[] }>();
  size = 0;
  constructor(readonly self: NodeId, readonly options: RoutingTableOptions) {}

  #bucket(id: NodeId) {
    const index = this.self.commonPrefixLength(id);
    let bucket = this.buckets.get(index);
    if (!bucket) this.buckets.set(index, bucket = { entries: [], standbys: [] });
    return bucket;
  }

  observe(id: NodeId, address: PeerAddress, nowMs: number): ObserveOutcome {
    if (id.equals(this.self)) return { kind: "ignored" };
    const bucket = this.#bucket(id);
    const known = bucket.entries.find((e) => e.nodeId.equals(id));
    if (known) {
      if (!known.address.equals(address)) return { kind: "ignored" };
      known.lastSeenMs = nowMs;
      known.failures = 0;
      bucket.entries = [...bucket.entries.filter((e) => e !== known), known];
      return { kind: "updated" };
    }
    if (bucket.entries.some((e) => e.address.equals(address))) return { kind: "ignored" };
    const entry = { nodeId: id, address, lastSeenMs: nowMs, failures: 0 };
    if (bucket.entries.length < this.options.k && this.size < this.options.contactsMax) {
      // A contact is never its own standby as well.
      bucket.standbys = bucket.standbys.filter((s) => !s.nodeId.equals(id));
      bucket.entries.push(entry);
      this.size++;
      return { kind: "added" };
    }
    bucket.standbys = [...bucket.standbys.filter((s) => !s.nodeId.equals(id)), entry];
    if (bucket.standbys.length > this.options.replacementCacheMax) bucket.standbys.shift();
    const oldest = bucket.entries[0];
    if (oldest && nowMs - oldest.lastSeenMs > contactFreshMs) {
      return { kind: "standby", ping: oldest as TableEntry };
    }
    return { kind: "standby" };
  }

  recordFailure(id: NodeId): boolean {
    if (id.equals(this.self)) return false;
    const bucket = this.#bucket(id);
    bucket.standbys = bucket.standbys.filter((s) => !s.nodeId.equals(id));
    const entry = bucket.entries.find((e) => e.nodeId.equals(id));
    if (!entry) return false;
    entry.failures++;
    if (entry.failures < this.options.peerFailuresMax) return false;
    // Kept when no standby can replace it. (The model's addresses are all private: no subnet cap.)
    if (bucket.standbys.length === 0) return false;
    this.#evict(bucket, entry);
    return true;
  }

  remove(id: NodeId): boolean {
    if (id.equals(this.self)) return false;
    const bucket = this.#bucket(id);
    const entry = bucket.entries.find((e) => e.nodeId.equals(id));
    if (!entry) return false;
    this.#evict(bucket, entry);
    return true;
  }

  #evict(bucket: { entries: ModelEntry[]; standbys: ModelEntry[] }, entry: ModelEntry) {
    bucket.entries = bucket.entries.filter((e) => e !== entry);
    this.size--;
    const standby = bucket.standbys.pop();
    if (standby) {
      // Least recently seen first: the standby goes where its last sighting puts it.
      const after = bucket.entries.filter((e) => e.lastSeenMs > standby.lastSeenMs);
      const before = bucket.entries.filter((e) => e.lastSeenMs <= standby.lastSeenMs);
      bucket.entries = [...before, standby, ...after];
      this.size++;
    }
  }

  entries(): ModelEntry[] {
    return [...this.buckets.keys()].sort((a, b) => a - b)
      .flatMap((index) => this.buckets.get(index)!.entries);
  }
}

type Op =
  | { kind: "observe"; id: number; address: number }
  | { kind: "fail"; id: number }
  | { kind: "remove"; id: number }
  | { kind: "wait"; ms: number };

const POOL = 24;
const ADDRESSES = 30;

/** An ID pool biased to the first few buckets of `me`, so buckets fill and overflow. */
function idPool(me: NodeId, seeds: number[]): NodeId[] {
  return seeds.map((seed, i) => {
    if (i === 0) return me;
    const prng = new Prng(seed);
    const bucket = seed % 6;
    const bytes = randomId(prng).toBytes();
    const mine = me.toBytes();
    for (let bit = 0; bit <= bucket; bit++) {
      const mask = 0x80 >> (bit & 7);
      bytes[bit >> 3] = (bytes[bit >> 3] & ~mask) | (mine[bit >> 3] & mask);
    }
    return flipBit(NodeId.fromBytes(bytes), bucket);
  });
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("observe" as const),
      id: fc.integer({ min: 0, max: POOL - 1 }),
      // -1: the ID's own usual address (most traffic); else any address from a small pool.
      address: fc.oneof(
        { weight: 5, arbitrary: fc.constant(-1) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: ADDRESSES - 1 }) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("fail" as const),
      id: fc.integer({ min: 0, max: POOL - 1 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("remove" as const),
      id: fc.integer({ min: 0, max: POOL - 1 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("wait" as const),
      ms: fc.integer({ min: 0, max: 2 * contactFreshMs }),
    }),
  },
);

/** A random run: this node's ID, the ID pool's seeds, the table's sizes and the events. */
interface Scenario {
  self: Uint8Array;
  pool: number[];
  options: RoutingTableOptions;
  ops: Op[];
}

/**
 * Table sizes. With `contactsMaxReached`, the whole-table budget is small enough to bind (standbys
 * then also wait in buckets that are not full); without, only bucket sizes bind.
 */
function optionsArb(contactsMaxReached: boolean): fc.Arbitrary<RoutingTableOptions> {
  return fc.record({
    k: fc.integer({ min: 1, max: 4 }),
    replacementCacheMax: fc.integer({ min: 0, max: 3 }),
    contactsMax: contactsMaxReached ? fc.integer({ min: 1, max: 12 }) : fc.constant(1000),
    peerFailuresMax: fc.integer({ min: 1, max: 3 }),
  });
}

function scenarioArb(contactsMaxReached: boolean): fc.Arbitrary<Scenario> {
  return fc.record({
    self: fc.uint8Array({ minLength: NODE_ID_BYTES, maxLength: NODE_ID_BYTES }),
    // Equal seeds give equal IDs: the pool also holds one ID under several indexes (addresses).
    pool: fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), {
      minLength: POOL,
      maxLength: POOL,
    }),
    options: optionsArb(contactsMaxReached),
    // fast-check's default size would cap sequences near 10 steps: too short to fill buckets.
    ops: fc.array(opArb, { minLength: 1, maxLength: 150, size: "max" }),
  });
}

/**
 * The invariants that must hold after every step, whatever happened. `uniqueIds` adds the
 * checks that fail when an ID is stored twice (no duplicates; each entry found in its bucket).
 */
function checkInvariants(
  t: RoutingTable,
  me: NodeId,
  options: RoutingTableOptions,
  why: string,
  uniqueIds = true,
) {
  const entries = t.entries();
  assert.equal(t.size, entries.length, `size equals the number of entries; ${why}`);
  assert.ok(t.size <= options.contactsMax, `contactsMax honoured; ${why}`);
  const perBucket = new Map<number, number>();
  for (const entry of entries) {
    assert.ok(!entry.nodeId.equals(me), `never self; ${why}`);
    const index = me.commonPrefixLength(entry.nodeId);
    perBucket.set(index, (perBucket.get(index) ?? 0) + 1);
    if (uniqueIds) {
      // get() looks only in bucket commonPrefixLength(self, id): finding it proves it is there.
      assert.equal(t.get(entry.nodeId), entry, `entry in bucket ${index}; ${why}`);
    }
  }
  for (const [index, count] of perBucket) {
    assert.ok(count <= options.k, `bucket ${index} holds at most k; ${why}`);
  }
  // entries() walks the buckets in order, so bucket indexes never decrease along it.
  const indexes = entries.map((e) => me.commonPrefixLength(e.nodeId));
  assert.deepEqual(indexes, [...indexes].sort((a, b) => a - b), `bucket by bucket; ${why}`);
  if (uniqueIds) {
    const unique = new Set(entries.map((e) => e.nodeId.toHex()));
    assert.equal(unique.size, entries.length, `no duplicate IDs; ${why}`);
  }
}

/** Least recently seen first within each bucket. */
function checkLruOrder(t: RoutingTable, me: NodeId, why: string) {
  const last = new Map<number, number>();
  for (const entry of t.entries()) {
    const index = me.commonPrefixLength(entry.nodeId);
    assert.ok(
      entry.lastSeenMs >= (last.get(index) ?? -Infinity),
      `bucket ${index} in least-recently-seen order; ${why}`,
    );
    last.set(index, entry.lastSeenMs);
  }
}

/** Entries as comparable text: ID, address, last seen, failures, in table order. */
function project(entries: readonly (ModelEntry | TableEntry)[]): string[] {
  return entries.map((e) =>
    `${e.nodeId.toHex()}@${e.address} seen ${e.lastSeenMs - T0} failed ${e.failures}`
  );
}

/**
 * Plays `scenario` on a table, and on the model when `model` is set (then every call's outcome
 * and the whole table are compared with it after each step); `check` runs after every step.
 */
function runScenario(
  seed: number,
  scenario: Scenario,
  options: { model: boolean },
  check: (t: RoutingTable, me: NodeId, why: string) => void = () => {},
): RoutingTable {
  const me = NodeId.fromBytes(scenario.self);
  const ids = idPool(me, scenario.pool);
  const t = new RoutingTable(me, scenario.options);
  const model = options.model ? new ModelTable(me, scenario.options) : undefined;
  let nowMs = T0;
  scenario.ops.forEach((op, step) => {
    const why = `step ${step} (${JSON.stringify(op)}), seed ${seed}`;
    switch (op.kind) {
      case "observe": {
        const address = at(`10.1.0.${op.address < 0 ? op.id : op.address}:7447`);
        const got = t.observe({ nodeId: ids[op.id], address }, nowMs);
        if (!model) break;
        const want = model.observe(ids[op.id], address, nowMs);
        assert.equal(got.kind, want.kind, `observe outcome; ${why}`);
        const gotPing = got.kind === "standby" ? got.ping?.nodeId.toHex() : undefined;
        const wantPing = want.kind === "standby" ? want.ping?.nodeId.toHex() : undefined;
        assert.equal(gotPing, wantPing, `ping the stale oldest contact, not a fresh one; ${why}`);
        break;
      }
      case "fail": {
        const got = t.recordFailure(ids[op.id]);
        if (model) assert.equal(got, model.recordFailure(ids[op.id]), `recordFailure; ${why}`);
        break;
      }
      case "remove": {
        const got = t.remove(ids[op.id]);
        if (model) assert.equal(got, model.remove(ids[op.id]), `remove; ${why}`);
        break;
      }
      case "wait":
        nowMs += op.ms;
        break;
    }
    if (model) {
      assert.deepEqual(project(t.entries()), project(model.entries()), `table; ${why}`);
      assert.equal(t.size, model.size, `size; ${why}`);
    }
    check(t, me, why);
  });
  return t;
}

const PROPERTY_SEED = 20_250_101;
const RUNS = 200;

Deno.test("random event sequences keep every routing table invariant while contactsMax is not reached", () => {
  const seed = PROPERTY_SEED;
  fc.assert(
    fc.property(scenarioArb(false), (scenario) => {
      runScenario(seed, scenario, { model: false }, (t, me, why) => {
        checkInvariants(t, me, scenario.options, why);
      });
    }),
    { seed, numRuns: RUNS },
  );
});

Deno.test("random event sequences match the reference model call for call while contactsMax is not reached", () => {
  const seed = PROPERTY_SEED + 1;
  fc.assert(
    fc.property(scenarioArb(false), (scenario) => {
      runScenario(seed, scenario, { model: true });
    }),
    { seed, numRuns: RUNS },
  );
});

Deno.test("random event sequences never exceed k per bucket or contactsMax in all", () => {
  const seed = PROPERTY_SEED + 2;
  fc.assert(
    fc.property(scenarioArb(true), (scenario) => {
      runScenario(seed, scenario, { model: false }, (t, me, why) => {
        checkInvariants(t, me, scenario.options, why, false);
      });
    }),
    { seed, numRuns: RUNS },
  );
});

Deno.test({
  // Regression: with contactsMax reached, a standby later added directly once stayed in the
  // replacement cache too, giving duplicate or resurrected contacts.
  name: "random event sequences match the reference model also when contactsMax is reached",
  fn() {
    const seed = PROPERTY_SEED + 3;
    fc.assert(
      fc.property(scenarioArb(true), (scenario) => {
        runScenario(seed, scenario, { model: true }, (t, me, why) => {
          checkInvariants(t, me, scenario.options, why);
        });
      }),
      { seed, numRuns: RUNS },
    );
  },
});

Deno.test({
  // Regression: a promoted standby was once appended at the fresh end, out of LRU order.
  name: "random event sequences keep each bucket least recently seen first",
  fn() {
    const seed = PROPERTY_SEED + 4;
    fc.assert(
      fc.property(scenarioArb(true), (scenario) => {
        runScenario(seed, scenario, { model: false }, (t, me, why) => checkLruOrder(t, me, why));
      }),
      { seed, numRuns: RUNS },
    );
  },
});

Deno.test("random event sequences keep buckets least recently seen first while no standby is promoted", () => {
  const seed = PROPERTY_SEED + 5;
  const noPromotion = scenarioArb(false).map((scenario) => ({
    ...scenario,
    options: { ...scenario.options, replacementCacheMax: 0 },
  }));
  fc.assert(
    fc.property(noPromotion, (scenario) => {
      runScenario(seed, scenario, { model: false }, (t, me, why) => checkLruOrder(t, me, why));
    }),
    { seed, numRuns: RUNS },
  );
});

Deno.test({
  // Regression: an ID added directly once also stayed a standby and came back on eviction.
  name: "a contact removed from the table does not come back from its own standby slot",
  fn() {
    const t = table({ k: 2, replacementCacheMax: 2, contactsMax: 1 });
    const [a, x] = [inBucket(3, 1), inBucket(0, 1)];
    t.observe(contact(a), T0); // The table is at contactsMax.
    t.observe(contact(x), T0); // x waits as a standby in bucket 0, which is not full.
    t.remove(a); // Room again.
    assert.equal(t.observe(contact(x), T0 + 1).kind, "added");
    assert.equal(t.remove(x), true);
    assert.equal(t.get(x), undefined, "x was removed, yet its stale standby copy is promoted");
    assert.equal(t.size, 0);
  },
});

Deno.test({
  // Regression: an ID added directly once also stayed a standby and came back on eviction.
  name: "an ID never appears twice in the table",
  fn() {
    const t = table({ k: 2, replacementCacheMax: 2, contactsMax: 2 });
    const [a, b, x] = [inBucket(0, 1), inBucket(1, 1), inBucket(0, 2)];
    t.observe(contact(a), T0);
    t.observe(contact(b), T0); // The table is at contactsMax.
    t.observe(contact(x), T0); // x waits as a standby in bucket 0.
    t.remove(b);
    t.observe(contact(x), T0 + 1); // x joins bucket 0 and stays a standby.
    t.remove(a); // Promotes the standby x: now [x, x].
    assert.deepEqual(hexes(t.entries()), hexes([{ nodeId: x }]));
    assert.equal(t.size, 1);
  },
});

Deno.test({
  // Regression: a promoted standby was once appended at the fresh end, out of LRU order.
  name: "a promoted standby takes its place in least-recently-seen order",
  fn() {
    const t = table({ k: 2, replacementCacheMax: 2 });
    const [a, b, x] = [1, 2, 3].map((tag) => inBucket(0, tag));
    t.observe(contact(a), T0 + 1);
    t.observe(contact(b), T0 + 2);
    t.observe(contact(x), T0 + 3); // Standby, seen at +3.
    t.observe(contact(a), T0 + 4); // a is now the freshest contact.
    t.remove(b);
    // Expected [x (+3), a (+4)]; the table holds [a (+4), x (+3)], so a is pinged first.
    assert.deepEqual(t.entries().map((e) => e.lastSeenMs - T0), [3, 4]);
  },
});

Deno.test("closest() equals a brute-force XOR sort of entries() for random targets", () => {
  const seed = PROPERTY_SEED + 6;
  fc.assert(
    fc.property(
      fc.oneof(scenarioArb(false), scenarioArb(true)),
      fc.array(fc.uint8Array({ minLength: NODE_ID_BYTES, maxLength: NODE_ID_BYTES }), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.integer({ min: 0, max: 30 }),
      fc.boolean(),
      (scenario, targets, count, excludeOne) => {
        const me = NodeId.fromBytes(scenario.self);
        const t = runScenario(seed, scenario, { model: false });
        const all = t.entries();
        // Targets: random IDs, this node's own ID, and the IDs of contacts.
        const targetIds = [
          ...targets.map((bytes) => NodeId.fromBytes(bytes)),
          me,
          ...all.slice(0, 3).map((e) => e.nodeId),
        ];
        for (const target of targetIds) {
          const exclude = excludeOne && all.length > 0 ? all[count % all.length].nodeId : undefined;
          // Responsive contacts first, topped up with suspect ones, then dead ones (except
          // for "tell"), nearest first in the end.
          const byDistance = (a: TableEntry, b: TableEntry) =>
            target.compareDistance(a.nodeId, b.nodeId);
          const eligible = all.filter((e) => !exclude || !e.nodeId.equals(exclude));
          const failuresMax = scenario.options.peerFailuresMax;
          const tiers = [
            eligible.filter((e) => e.failures === 0),
            eligible.filter((e) => e.failures > 0 && e.failures < failuresMax),
            eligible.filter((e) => e.failures >= failuresMax),
          ].map((tier) => tier.sort(byDistance));
          const expected = tiers.flat().slice(0, count).sort(byDistance);
          const told = [...tiers[0], ...tiers[1]].slice(0, count).sort(byDistance);
          assert.deepEqual(
            hexes(t.closest(target, count, exclude, "tell")),
            hexes(told),
            `tell: target ${target.toHex()}, count ${count}, seed ${seed}`,
          );
          assert.deepEqual(
            hexes(t.closest(target, count, exclude, "distance")),
            hexes([...eligible].sort(byDistance).slice(0, count)),
            `distance: target ${target.toHex()}, count ${count}, seed ${seed}`,
          );
          assert.deepEqual(
            hexes(t.closest(target, count, exclude)),
            hexes(expected),
            `target ${target.toHex()}, count ${count}, seed ${seed}`,
          );
        }
      },
    ),
    { seed, numRuns: 150 },
  );
});

Deno.test("randomIdInBucket(i) lands in bucket i for random node IDs", () => {
  const seed = PROPERTY_SEED + 7;
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: NODE_ID_BYTES, maxLength: NODE_ID_BYTES }),
      fc.integer({ min: 0, max: NODE_ID_BITS - 1 }),
      fc.integer(),
      (bytes, index, rngSeed) => {
        const t = table({}, NodeId.fromBytes(bytes));
        const id = t.randomIdInBucket(index, new Prng(rngSeed));
        assert.equal(t.bucketIndexOf(id), index, `bucket ${index}, seed ${seed}`);
      },
    ),
    { seed, numRuns: 200 },
  );
});
