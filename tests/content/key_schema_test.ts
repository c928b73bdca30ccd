/**
 * Goal: every index of the key schema has one name layout and one policy, a full set of its
 * largest entries fits in one record, entries round-trip exactly, and the content rules refuse
 * what the schema forbids: unknown tags, other policies, malformed or non-canonical entries,
 * votes other than ±1, an author's thread list written by someone else, a seed announcing another
 * node, entries set to live too long, profiles under another name, and documents from the future.
 * Method: examples with real signatures from fixed seeds; fast-check (fixed seed) for the entry
 * round trips.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { utf8Encode } from "../../src/core/bytes.ts";
import { loosePack } from "./_pack.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { formatContactUri, makeContact } from "../../src/core/contact_uri.ts";
import { contactUriLengthMax, recordBytesMax } from "../../src/core/limits.ts";
import { NodeId } from "../../src/core/node_id.ts";
import {
  clockSkewMs,
  docRecord,
  profileAheadMsMax,
  signProfile,
  signThread,
} from "../../src/content/documents.ts";
import {
  activityLifetimeS,
  addressOfSet,
  authorThreadsIndex,
  checkContent,
  dayOf,
  decodeEntry,
  encodeEntry,
  entryExpirySlackS,
  entryLifetimeS,
  entryLifetimeSOf,
  entrySeqOf,
  type EntryValues,
  hourOf,
  type IndexKind,
  liveEntries,
  popularIndex,
  recentIndex,
  refsIndex,
  reputationIndex,
  searchTermIndex,
  seedEntryLifetimeS,
  seedsIndex,
  type SetAddress,
  signedEntrySet,
  threadHoursIndex,
  threadIndex,
  threadIndexPageSize,
  threadIndexPagesMax,
  threadPopularIndex,
  threadsByHourIndex,
  threadStatsIndex,
  votesIndex,
} from "../../src/content/key_schema.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import {
  compareSetEntries,
  decodeStoredRecord,
  type DhtRecord,
  encodeRecord,
  RecordError,
  recordKey,
  RecordKind,
  setKey,
  type SetRecord,
  signMutable,
  signSetEntry,
} from "../../src/content/records.ts";

const SEED = 0x5eed_4e75;
const alice = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
const bob = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2));
const nowMs = 1_800_000_000_000;
const nowS = nowMs / 1000;
const thread = NodeId.fromHex("00112233445566778899aabbccddeeff00112233");
const message = NodeId.fromHex("ffeeddccbbaa99887766554433221100ffeeddcc");

function refused(action: () => unknown, pattern: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof RecordError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

/** Every kind's address for the fixed thread, message and author, with an example value. */
const examples: { [K in IndexKind]: [SetAddress<K>, EntryValues[K]] } = {
  recent: [recentIndex(), { thread, createdMs: nowMs }],
  threadsByHour: [threadsByHourIndex(hourOf(nowMs)), { thread, createdMs: nowMs }],
  threadHours: [threadHoursIndex(dayOf(nowMs)), { hour: 17 }],
  popular: [popularIndex(), { target: thread, weight: 2 }],
  seeds: [seedsIndex(), { contact: formatContactUri(makeContact(alice.publicKey, "::1", 7447)) }],
  threadIndex: [threadIndex(thread, 3), { message, parent: thread, createdMs: nowMs }],
  threadPopular: [threadPopularIndex(thread), { target: message, weight: -1 }],
  threadStats: [threadStatsIndex(thread), { posts: 4, lastPostMs: nowMs }],
  refs: [refsIndex(message), { message, parent: message, createdMs: nowMs }],
  votes: [votesIndex(message), { direction: -1 }],
  authorThreads: [authorThreadsIndex(alice.publicKey), { thread, createdMs: nowMs }],
  reputation: [reputationIndex(alice.publicKey), { score: -12 }],
  searchTerm: [
    searchTermIndex("harbour"),
    { thread, createdMs: nowMs, weight: 200, terms: new Uint8Array(10).fill(3) },
  ],
};
const kinds = Object.keys(examples) as IndexKind[];

/** A set of `address` holding entries signed by `writer` with raw payloads. */
function rawSet(address: SetAddress, payloads: Uint8Array[], writer = alice): SetRecord {
  return {
    kind: RecordKind.set,
    name: address.name,
    policy: address.policy,
    entries: payloads.map((payload, i) =>
      signSetEntry(writer, address.key, i + 1, nowS + 3600, payload)
    ),
  };
}

Deno.test("each index's name is its tag byte and fields, and its key follows from name and policy", () => {
  const hour = hourOf(nowMs);
  assert.equal(hour, 500_000);
  const layouts: [SetAddress, number[]][] = [
    [recentIndex(), [1]],
    [threadsByHourIndex(hour), [2, 0x00, 0x07, 0xa1, 0x20]],
    [popularIndex(), [3]],
    [seedsIndex(), [4]],
    [threadIndex(thread, 0x0102), [5, ...thread.toBytes(), 0x01, 0x02]],
    [threadPopularIndex(thread), [6, ...thread.toBytes()]],
    [threadStatsIndex(thread), [7, ...thread.toBytes()]],
    [refsIndex(message), [8, ...message.toBytes()]],
    [votesIndex(message), [9, ...message.toBytes()]],
    [authorThreadsIndex(alice.publicKey), [10, ...alice.publicKey]],
    [reputationIndex(alice.publicKey), [11, ...alice.publicKey]],
  ];
  for (const [address, name] of layouts) {
    assert.deepEqual(address.name, new Uint8Array(name), address.kind);
    assert.ok(address.key.equals(setKey(address.name, address.policy)), address.kind);
  }
  const onePerWriter = kinds.filter((kind) => examples[kind][0].policy.onePerWriter);
  assert.deepEqual(onePerWriter, ["seeds", "threadStats", "votes", "reputation"]);
  assert.ok(!threadIndex(thread, 0).key.equals(threadIndex(thread, 1).key));
  assert.ok(
    threadIndex(thread, 0).policy.entriesMax > threadIndexPageSize,
    "slack for racing writers",
  );
});

Deno.test("address constructors refuse out-of-range hours, pages and author keys", () => {
  assert.throws(() => threadsByHourIndex(-1), RangeError);
  assert.throws(() => threadsByHourIndex(2 ** 32), RangeError);
  assert.throws(() => threadIndex(thread, threadIndexPagesMax), /page 65536 is outside 0..65535/);
  assert.throws(() => threadIndex(thread, 1.5), RangeError);
  assert.equal(threadIndex(thread, threadIndexPagesMax - 1).name.length, 23);
  assert.throws(() => authorThreadsIndex(new Uint8Array(31)), RangeError);
  assert.throws(() => reputationIndex(new Uint8Array(33)), RangeError);
});

Deno.test("a full set of each kind's largest entries, really signed, fits in one record", () => {
  const big = NodeId.fromBytes(new Uint8Array(20).fill(0xff));
  const host = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
  const contact = formatContactUri(makeContact(alice.publicKey, host, 65535));
  assert.equal(contact.length, contactUriLengthMax);
  const largest: { [K in IndexKind]: EntryValues[K] } = {
    recent: { thread: big, createdMs: Number.MAX_SAFE_INTEGER },
    threadsByHour: { thread: big, createdMs: Number.MAX_SAFE_INTEGER },
    threadHours: { hour: 23 },
    popular: { target: big, weight: -1 },
    seeds: { contact },
    threadIndex: { message: big, parent: big, createdMs: Number.MAX_SAFE_INTEGER },
    threadPopular: { target: big, weight: -1 },
    threadStats: { posts: Number.MAX_SAFE_INTEGER, lastPostMs: Number.MAX_SAFE_INTEGER },
    refs: { message: big, parent: big, createdMs: Number.MAX_SAFE_INTEGER },
    votes: { direction: -1 },
    authorThreads: { thread: big, createdMs: Number.MAX_SAFE_INTEGER },
    reputation: { score: Number.MIN_SAFE_INTEGER },
    searchTerm: {
      thread: big,
      createdMs: Number.MAX_SAFE_INTEGER,
      weight: 255,
      terms: new Uint8Array(60).fill(255),
    },
  };
  // A one-per-writer set holds one entry per writer: as many writers as entries.
  const writers = Array.from(
    { length: 512 },
    (_, i) =>
      ed25519KeyPairFromSecretKey(
        new Uint8Array(32).fill(0).map((_, j) => j === 0 ? i & 0xff : j === 1 ? i >> 8 : 7),
      ),
  );
  for (const kind of kinds) {
    const address = examples[kind][0];
    const entries = Array.from({ length: address.policy.entriesMax }, (_, i) => {
      // Search postings keep two per writer: a full set has many writers.
      const writer = address.policy.onePerWriter || kind === "searchTerm" ? writers[i] : alice;
      const value = kind === "seeds"
        ? { contact: formatContactUri(makeContact(writer.publicKey, host, 65535)) }
        : largest[kind];
      return signSetEntry(
        writer,
        address.key,
        Number.MAX_SAFE_INTEGER - i,
        Number.MAX_SAFE_INTEGER,
        encodeEntry(kind, value as never),
      );
    });
    const record: SetRecord = {
      kind: RecordKind.set,
      name: address.name,
      policy: address.policy,
      entries: entries.sort(compareSetEntries),
    };
    const bytes = encodeRecord(record);
    assert.ok(bytes.length <= recordBytesMax, `${kind}: ${bytes.length} bytes`);
    // And not wastefully small: at least 85% of the limit is used, except by search postings,
    // whose set is cut to what one query may read (8 KB).
    if (kind === "searchTerm") assert.ok(bytes.length <= 8192, `${kind}: ${bytes.length} bytes`);
    else assert.ok(bytes.length > 0.85 * recordBytesMax, `${kind}: only ${bytes.length} bytes`);
    checkContent(address.key, decodeStoredRecord(bytes));
  }
});

Deno.test("signedEntrySet() makes a one-entry set that addressOfSet() and liveEntries() read back", () => {
  for (const kind of kinds) {
    const [address, value] = examples[kind];
    const record = signedEntrySet(alice, address, 5, nowS + 60, value);
    assert.equal(record.entries.length, 1);
    const found = addressOfSet(record);
    assert.equal(found.kind, kind);
    assert.ok(found.key.equals(address.key) && recordKey(record).equals(address.key), kind);
    const [entry] = liveEntries(record, kind, nowS);
    assert.deepEqual(entry.writer, alice.publicKey);
    assert.equal(entry.seq, 5);
    assert.equal(entry.expiresAtS, nowS + 60);
    assert.deepEqual(encodeEntry(kind, entry.value), encodeEntry(kind, value), kind);
    checkContent(address.key, decodeStoredRecord(encodeRecord(record)), nowMs);
  }
});

Deno.test("liveEntries() drops expired entries and refuses a set of another kind or a bad entry", () => {
  const address = votesIndex(thread);
  const record: SetRecord = {
    ...signedEntrySet(alice, address, 1, nowS + 10, { direction: 1 }),
  };
  record.entries.push(
    signSetEntry(bob, address.key, 1, nowS, encodeEntry("votes", { direction: -1 })),
  );
  assert.deepEqual(liveEntries(record, "votes", nowS).map((e) => e.value), [{ direction: 1 }]);
  assert.deepEqual(liveEntries(record, "votes", nowS - 1).length, 2);
  assert.deepEqual(liveEntries(record, "votes", nowS + 10), []);
  assert.throws(() => liveEntries(record, "refs", nowS), /it is a votes set, not a refs set/);
  const bad = rawSet(address, [loosePack([2])]);
  refused(() => liveEntries(bad, "votes", nowS), /a votes entry holds direction 2/);
});

Deno.test("every kind's entries round-trip through encodeEntry() and decodeEntry()", () => {
  const id = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((bytes) =>
    NodeId.fromBytes(bytes)
  );
  const time = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  const threadRef = fc.record({ thread: id, createdMs: time });
  const messageRef = fc.record({ message: id, parent: id, createdMs: time });
  const activity = fc.record({ target: id, weight: fc.integer({ min: -1, max: 2 }) });
  const arbitraries: { [K in IndexKind]: fc.Arbitrary<EntryValues[K]> } = {
    recent: threadRef,
    threadsByHour: threadRef,
    threadHours: fc.integer({ min: 0, max: 23 }).map((hour) => ({ hour })),
    popular: activity,
    seeds: fc.tuple(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 1, max: 65535 }),
    )
      .map(([key, port]) => ({ contact: formatContactUri(makeContact(key, "203.0.113.7", port)) })),
    threadIndex: messageRef,
    threadPopular: activity,
    threadStats: fc.record({ posts: time, lastPostMs: time }),
    refs: messageRef,
    votes: fc.constantFrom<{ direction: 1 | -1 }>({ direction: 1 }, { direction: -1 }),
    authorThreads: threadRef,
    reputation: fc.record({
      score: fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    }),
    searchTerm: fc.record({
      thread: id,
      createdMs: fc.nat(),
      weight: fc.integer({ min: 1, max: 255 }),
      terms: fc.nat({ max: 12 }).chain((n) =>
        fc.uint8Array({ minLength: n * 5, maxLength: n * 5 })
      ),
    }),
  };
  const ids = (value: unknown) =>
    JSON.stringify(value, (_, field) => (field instanceof NodeId ? field.toHex() : field));
  for (const kind of kinds) {
    fc.assert(
      fc.property(arbitraries[kind] as fc.Arbitrary<EntryValues[IndexKind]>, (value) => {
        const payload = encodeEntry(kind, value);
        const decoded = decodeEntry(kind, payload);
        assert.equal(ids(decoded), ids(value), `${kind}, seed ${SEED}`);
        assert.deepEqual(encodeEntry(kind, decoded), payload, `${kind}, seed ${SEED}`);
      }),
      { seed: SEED, numRuns: 100 },
    );
  }
});

Deno.test("decodeEntry() refuses malformed, out-of-range and non-canonical payloads", () => {
  const packed = loosePack;
  const id = thread.toBytes();
  const cases: [IndexKind, Uint8Array, RegExp][] = [
    ["votes", packed([0]), /a votes entry holds direction 0 \(expected 1 or -1\)/],
    ["votes", packed([2]), /holds direction 2/],
    ["votes", packed(["1"]), /a votes entry is not canonical: a string/],
    ["votes", packed([1, 1]), /is not a 1-field array/],
    ["popular", packed([id, 3]), /holds weight 3 \(expected a whole number, -1..2\)/],
    ["threadPopular", packed([id, -2]), /holds weight -2/],
    ["popular", packed([id, 0.5]), /not canonical: a float/],
    ["recent", packed([id.subarray(1), 5]), /thread ID that is not 20 bytes/],
    ["recent", packed([id, -5]), /creation time that is not a whole number/],
    ["recent", packed({ thread: id }), /not canonical: a map/],
    ["recent", packed([id]), /is not a 2-field array/],
    ["refs", packed([id, "parent", 5]), /not canonical: a string/],
    ["refs", packed([id, id.subarray(1), 5]), /parent ID that is not 20 bytes/],
    ["threadStats", packed([-1, 0]), /post count that is not a whole number/],
    ["reputation", packed([1.5]), /not canonical: a float/],
    ["seeds", packed([utf8Encode("rhz://nope")]), /holds a contact that does not parse/],
    ["seeds", packed(["rhz://text"]), /not canonical: a string/],
    ["seeds", packed([5]), /holds no contact/],
    ["seeds", packed([new Uint8Array([0xff, 0xfe])]), /contact that is not valid UTF-8/],
    [
      "seeds",
      packed([new Uint8Array(contactUriLengthMax + 1).fill(0x61)]),
      /319 bytes, the limit is 318/,
    ],
    ["votes", new Uint8Array([0x91]), /is not valid MessagePack/],
    // [1] with the direction written as a u8 instead of a fixint: same value, other bytes.
    ["votes", new Uint8Array([0x91, 0xcc, 0x01]), /not canonical: 1 in a uint 8 header/],
    ["recent", new Uint8Array([0x92, 0xc4, 20, ...id, 0xce, 0, 0, 0, 5]), /not canonical: 5 in a/],
  ];
  for (const [kind, payload, pattern] of cases) refused(() => decodeEntry(kind, payload), pattern);
});

Deno.test("encodeEntry() refuses values that break the kind's rules", () => {
  assert.throws(
    () => encodeEntry("votes", { direction: 0 as 1 }),
    /Cannot encode votes entry: it holds direction 0/,
  );
  assert.throws(() => encodeEntry("popular", { target: thread, weight: 7 }), RangeError);
  assert.throws(() => encodeEntry("seeds", { contact: "rhz://x" }), RangeError);
  assert.throws(
    () => signedEntrySet(alice, votesIndex(thread), 1, nowS, { direction: 2 as 1 }),
    RangeError,
  );
});

Deno.test("entrySeqOf() is the first 48 bits of the ID", () => {
  assert.equal(entrySeqOf(thread), 0x001122334455);
  assert.equal(entrySeqOf(message), 0xffeeddccbbaa);
  assert.equal(entrySeqOf(NodeId.fromBytes(new Uint8Array(20).fill(0xff))), 2 ** 48 - 1);
  assert.ok(Number.isSafeInteger(entrySeqOf(message)));
});

Deno.test("addressOfSet() refuses an unknown tag, a malformed name and a policy not the schema's", () => {
  const set = (name: number[], onePerWriter: boolean, entriesMax: number): SetRecord => ({
    kind: RecordKind.set,
    name: new Uint8Array(name),
    policy: { onePerWriter, entriesMax },
    entries: [],
  });
  refused(
    () => addressOfSet(set([99], false, 400)),
    /^Cannot accept record: set tag 99 is unknown$/,
  );
  refused(() => addressOfSet(set([0], false, 400)), /set tag 0 is unknown/);
  refused(
    () => addressOfSet(set([1, 0], false, 400)),
    /a recent set's name must be 1 bytes, got 2/,
  );
  refused(() => addressOfSet(set([9, 1, 2], true, 512)), /a votes set's name must be 21 bytes/);
  const votes = votesIndex(thread);
  refused(
    () => addressOfSet(set([...votes.name], false, 512)),
    /a votes set's policy must be onePerWriter=true, entriesMax=512/,
  );
  refused(() => addressOfSet(set([...votes.name], true, 511)), /policy must be/);
  assert.equal(addressOfSet(set([...votes.name], true, 512)).kind, "votes");
});

Deno.test("checkContent() takes raw payloads, valid documents and profiles, and nothing else", () => {
  const raw = { kind: RecordKind.immutable, payload: utf8Encode("any bytes") } as const;
  checkContent(recordKey(raw), raw, nowMs);
  const doc = docRecord(signThread(alice, { createdMs: nowMs, title: "T", body: "", tags: [] }));
  checkContent(recordKey(doc), doc, nowMs);
  const profile = signProfile(alice, 1, { name: "A", about: "", keys: [], updatedMs: nowMs });
  checkContent(recordKey(profile), profile, nowMs);
  const other = signMutable(alice, utf8Encode("status"), 1, utf8Encode("hi"));
  refused(() => checkContent(recordKey(other), other), /a mutable record must be a "profile"/);
  const junkProfile = signMutable(alice, utf8Encode("profile"), 1, utf8Encode("hi"));
  refused(() => checkContent(recordKey(junkProfile), junkProfile), /the profile/);
  refused(() => checkContent(recordKey(raw), doc), /does not belong under this key/);
});

Deno.test("checkContent() refuses a document from the future only when given the time", () => {
  const createdMs = nowMs + 3_600_000;
  const doc = docRecord(signThread(alice, { createdMs, title: "T", body: "", tags: [] }));
  refused(() => checkContent(recordKey(doc), doc, nowMs), /written 3600 s in the future/);
  checkContent(recordKey(doc), doc);
  checkContent(recordKey(doc), doc, createdMs - clockSkewMs);
});

Deno.test("checkContent() refuses a profile whose seq or update time is too far ahead", () => {
  const profileAt = (seq: number, updatedMs: number) =>
    signProfile(alice, seq, { name: "A", about: "", keys: [], updatedMs });
  // At the margin: accepted (a publisher's seq is max(previous + 1, now)).
  const atLimit = profileAt(nowMs + profileAheadMsMax, nowMs + profileAheadMsMax);
  checkContent(recordKey(atLimit), atLimit, nowMs);
  // The record that would lock a profile forever (finding F9): refused.
  const locking = profileAt(Number.MAX_SAFE_INTEGER, nowMs);
  refused(
    () => checkContent(recordKey(locking), locking, nowMs),
    /the profile's sequence number is \d+ s ahead of this node's clock \(limit 300 s\)/,
  );
  const yearAhead = profileAt(nowMs, nowMs + 365 * 86_400_000);
  refused(
    () => checkContent(recordKey(yearAhead), yearAhead, nowMs),
    /the profile's update time is 31536000 s ahead of this node's clock \(limit 300 s\)/,
  );
  const oneMsOver = profileAt(nowMs + profileAheadMsMax + 1, nowMs);
  refused(() => checkContent(recordKey(oneMsOver), oneMsOver, nowMs), /301 s ahead/);
  // Without the time (a caller that checks the shape only) and once the clock has caught up.
  checkContent(recordKey(locking), locking);
  checkContent(recordKey(yearAhead), yearAhead, nowMs + 365 * 86_400_000);
});

Deno.test("checkContent() refuses an author's thread list entry written by someone else", () => {
  const address = authorThreadsIndex(alice.publicKey);
  const value = { thread, createdMs: nowMs };
  const forged = signedEntrySet(bob, address, entrySeqOf(thread), nowS + 60, value);
  refused(
    () => checkContent(address.key, forged),
    /an authorThreads entry is not written by the author it lists/,
  );
  const own = signedEntrySet(alice, address, entrySeqOf(thread), nowS + 60, value);
  checkContent(address.key, own);
});

Deno.test("checkContent() refuses a seed entry announcing another node's contact", () => {
  const contact = formatContactUri(makeContact(alice.publicKey, "198.51.100.1", 7447));
  const forged = signedEntrySet(bob, seedsIndex(), nowMs, nowS + 60, { contact });
  refused(
    () => checkContent(seedsIndex().key, forged),
    /a seeds entry carries another node's contact/,
  );
  checkContent(
    seedsIndex().key,
    signedEntrySet(alice, seedsIndex(), nowMs, nowS + 60, { contact }),
  );
});

Deno.test("checkContent() refuses votes other than ±1, unknown tags and wrong policies", () => {
  const votes = votesIndex(thread);
  for (const direction of [0, 2]) {
    const record = rawSet(votes, [loosePack([direction])]);
    refused(() => checkContent(votes.key, record), new RegExp(`holds direction ${direction}`));
  }
  const unknown = rawSet({ ...votes, name: new Uint8Array([42]) }, [utf8Encode("x")]);
  refused(() => checkContent(recordKey(unknown), unknown), /set tag 42 is unknown/);
  const policy = { onePerWriter: false, entriesMax: 512 };
  const loose = rawSet({ ...votes, policy, key: setKey(votes.name, policy) }, [
    encodeEntry("votes", { direction: 1 }),
  ]);
  refused(() => checkContent(recordKey(loose), loose), /policy must be onePerWriter=true/);
});

Deno.test("checkContent() with the time refuses entries set to outlive their kind's lifetime", () => {
  const slackS = entryExpirySlackS;
  const cases: [SetAddress, unknown, number][] = [
    [recentIndex(), examples.recent[1], activityLifetimeS],
    [popularIndex(), examples.popular[1], activityLifetimeS],
    [threadPopularIndex(thread), examples.threadPopular[1], activityLifetimeS],
    [seedsIndex(), examples.seeds[1], seedEntryLifetimeS],
    [refsIndex(message), examples.refs[1], entryLifetimeS],
    [votesIndex(message), examples.votes[1], entryLifetimeS],
  ];
  for (const [address, value, lifetimeS] of cases) {
    assert.equal(entryLifetimeSOf(address.kind), lifetimeS);
    const ok = signedEntrySet(alice, address, 1, nowS + lifetimeS + slackS, value as never);
    checkContent(address.key, ok, nowMs);
    const late = signedEntrySet(alice, address, 1, nowS + lifetimeS + slackS + 1, value as never);
    refused(
      () => checkContent(address.key, late, nowMs),
      new RegExp(`a ${address.kind} entry expires ${lifetimeS + slackS + 1} s from now`),
    );
    checkContent(address.key, late);
  }
});

Deno.test("the store's rules refuse a record that breaks the content rules", () => {
  const votes = votesIndex(thread);
  const record: DhtRecord = rawSet(votes, [loosePack([2])]);
  refused(
    () => recordRules.verify(votes.key, encodeRecord(record), () => undefined, nowMs),
    /direction 2/,
  );
  const good = signedEntrySet(alice, votes, nowMs, nowS + 60, { direction: 1 });
  assert.equal(
    recordRules.verify(votes.key, encodeRecord(good), () => undefined, nowMs).kind,
    RecordKind.set,
  );
});

Deno.test("checkContent() with the time refuses index entries dated ahead of the clock skew", () => {
  const ahead = nowMs + clockSkewMs + 60_000;
  const cases: [SetAddress, unknown][] = [
    [recentIndex(), { thread, createdMs: ahead }],
    [threadIndex(thread, 0), { message, parent: thread, createdMs: ahead }],
    [threadStatsIndex(thread), { posts: 1, lastPostMs: ahead }],
  ];
  for (const [address, value] of cases) {
    const set = signedEntrySet(alice, address, 1, nowS + 3600, value as never);
    refused(() => checkContent(address.key, set, nowMs), /dated 360 s in the future/);
    checkContent(address.key, set);
  }
});
