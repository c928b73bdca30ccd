/**
 * Self-verifying records: each kind round-trips and verifies against its key; forged signatures,
 * wrong keys, unsupported versions, truncated and oversize bytes are refused with a RecordError;
 * mutable records replace only with a higher sequence; sets merge by union within their policy.
 * Keys come from fixed seeds, so every run is the same.
 */

import assert from "node:assert/strict";
import { bytesEqual, utf8Encode } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { recordBytesMax } from "../../src/core/limits.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { contentKey } from "../../src/core/content_key.ts";
import {
  compareSetEntries,
  decodeRecord,
  encodeRecord,
  type ImmutableRecord,
  mergeSets,
  mutableKey,
  RecordError,
  recordKey,
  RecordKind,
  replaces,
  setKey,
  type SetPolicy,
  type SetRecord,
  signMutable,
  signSetEntry,
} from "../../src/content/records.ts";

const alice = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
const bob = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2));
const name = utf8Encode("profile");
const nowS = 1_800_000_000;

function refused(key: NodeId, bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeRecord(key, bytes), (error: unknown) => {
    assert.ok(error instanceof RecordError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("an immutable record's key is the content key of its encoding", () => {
  const record: ImmutableRecord = { kind: RecordKind.immutable, payload: utf8Encode("hello") };
  const bytes = encodeRecord(record);
  const key = recordKey(record);
  assert.ok(key.equals(contentKey(bytes)), "the DHT's content addressing verifies it too");
  assert.deepEqual(decodeRecord(key, bytes), record);
});

Deno.test("an immutable record under another key is refused", () => {
  const bytes = encodeRecord({ kind: RecordKind.immutable, payload: utf8Encode("hello") });
  refused(NodeId.fromBytes(new Uint8Array(20)), bytes, /does not belong under this key/);
});

Deno.test("a mutable record verifies under its owner's key and name", () => {
  const record = signMutable(alice, name, 3, utf8Encode("v3"));
  const key = mutableKey(alice.publicKey, name);
  assert.ok(recordKey(record).equals(key));
  assert.deepEqual(decodeRecord(key, encodeRecord(record)), record);
});

Deno.test("a mutable record with a forged signature or changed content is refused", () => {
  const record = signMutable(alice, name, 3, utf8Encode("v3"));
  const key = mutableKey(alice.publicKey, name);
  const forged = { ...record, signature: signMutable(bob, name, 3, utf8Encode("v3")).signature };
  refused(key, encodeRecord(forged), /owner's signature does not verify/);
  const changed = { ...record, payload: utf8Encode("v4") };
  refused(key, encodeRecord(changed), /owner's signature does not verify/);
  const renumbered = { ...record, seq: 9 };
  refused(key, encodeRecord(renumbered), /owner's signature does not verify/);
});

Deno.test("a mutable record claimed by another owner's key is refused", () => {
  const record = signMutable(bob, name, 1, utf8Encode("bob"));
  refused(mutableKey(alice.publicKey, name), encodeRecord(record), /does not belong/);
});

Deno.test("only a higher sequence number replaces a mutable record", () => {
  const held = signMutable(alice, name, 5, utf8Encode("v5"));
  assert.equal(replaces(held, signMutable(alice, name, 6, utf8Encode("v6"))), true);
  assert.equal(replaces(held, signMutable(alice, name, 5, utf8Encode("other"))), false);
  assert.equal(replaces(held, signMutable(alice, name, 4, utf8Encode("v4"))), false);
});

Deno.test("truncated, oversize, wrong-version and unknown-kind records are refused", () => {
  const record = signMutable(alice, name, 1, utf8Encode("x"));
  const key = recordKey(record);
  const bytes = encodeRecord(record);
  for (let length = 0; length < bytes.length; length++) {
    assert.throws(
      () => decodeRecord(key, bytes.subarray(0, length)),
      RecordError,
      `length ${length}`,
    );
  }
  refused(key, new Uint8Array(recordBytesMax + 1), /the limit is 65536/);
  const wrongVersion = bytes.slice();
  wrongVersion[1] = 1; // [fixarray, version, ...]: the version is the second byte
  refused(key, wrongVersion, /version 1 is not supported \(expected 2\)/);
  const unknownKind = bytes.slice();
  unknownKind[2] = 9;
  refused(key, unknownKind, /kind 9 is unknown/);
});

Deno.test("encodeRecord() refuses a record over recordBytesMax", () => {
  assert.throws(
    () => encodeRecord({ kind: RecordKind.immutable, payload: new Uint8Array(recordBytesMax) }),
    /the limit is 65536/,
  );
});

function setOf(policy: SetPolicy, entries: SetRecord["entries"]): SetRecord {
  return {
    kind: RecordKind.set,
    name: utf8Encode("votes"),
    policy,
    entries: [...entries].sort(compareSetEntries),
  };
}

Deno.test("a set verifies every entry's signature against the set's key", () => {
  const policy = { onePerWriter: true, entriesMax: 10 };
  const key = setKey(utf8Encode("votes"), policy);
  const set = setOf(policy, [
    signSetEntry(alice, key, 1, nowS + 60, utf8Encode("up")),
    signSetEntry(bob, key, 1, nowS + 60, utf8Encode("down")),
  ]);
  assert.deepEqual(decodeRecord(key, encodeRecord(set)), set);
  const otherKey = setKey(utf8Encode("other"), policy);
  const misplaced = setOf(policy, [signSetEntry(alice, otherKey, 1, nowS + 60, utf8Encode("up"))]);
  refused(key, encodeRecord(misplaced), /set entry's signature does not verify/);
});

Deno.test("a set's policy is part of its key, so no writer can change it", () => {
  const strict = { onePerWriter: true, entriesMax: 10 };
  const loose = { onePerWriter: false, entriesMax: 10 };
  const key = setKey(utf8Encode("votes"), strict);
  assert.ok(!key.equals(setKey(utf8Encode("votes"), loose)));
  refused(key, encodeRecord(setOf(loose, [])), /does not belong under this key/);
});

Deno.test("a set holding more entries than its limit is refused", () => {
  const policy = { onePerWriter: false, entriesMax: 1 };
  const key = setKey(utf8Encode("votes"), policy);
  const set = setOf(policy, [
    signSetEntry(alice, key, 1, nowS + 60, utf8Encode("a")),
    signSetEntry(alice, key, 2, nowS + 60, utf8Encode("b")),
  ]);
  refused(key, encodeRecord(set), /more entries than its limit/);
});

Deno.test("mergeSets() keeps one entry per writer, the highest sequence, when the policy says so", () => {
  const policy = { onePerWriter: true, entriesMax: 10 };
  const key = setKey(utf8Encode("votes"), policy);
  const old = signSetEntry(alice, key, 1, nowS + 60, utf8Encode("up"));
  const changed = signSetEntry(alice, key, 2, nowS + 60, utf8Encode("down"));
  const other = signSetEntry(bob, key, 1, nowS + 60, utf8Encode("up"));
  const merged = mergeSets(setOf(policy, [old, other]), setOf(policy, [changed]), nowS);
  assert.equal(merged.entries.length, 2);
  const alices = merged.entries.filter((e) => bytesEqual(e.writer, alice.publicKey));
  assert.deepEqual(alices, [changed], "alice's newer entry replaced her older one");

  assert.deepEqual(mergeSets(setOf(policy, [changed]), setOf(policy, [old, other]), nowS), merged);
});

Deno.test("mergeSets() unions entries, drops expired and duplicates, and honours the bound", () => {
  const policy = { onePerWriter: false, entriesMax: 3 };
  const key = setKey(utf8Encode("votes"), policy);
  const entries = [1, 2, 3, 4].map((seq) =>
    signSetEntry(alice, key, seq, nowS + seq * 100, utf8Encode(`e${seq}`))
  );
  const expired = signSetEntry(bob, key, 1, nowS - 1, utf8Encode("old"));
  const merged = mergeSets(
    setOf(policy, [entries[0], entries[1], expired]),
    setOf(policy, [entries[1], entries[2], entries[3]]),
    nowS,
  );
  assert.deepEqual(
    merged.entries.map((e) => e.seq),
    [2, 3, 4],
    "the one expiring first went first",
  );
  assert.deepEqual(decodeRecord(key, encodeRecord(merged)), merged, "a merged set still verifies");
});

Deno.test("small integers in 64-bit forms from a peer are refused in one line as not canonical", () => {
  // [version as uint64 2, kind as uint64 0, empty payload].
  const version64 = new Uint8Array([0x93, 0xcf, 0, 0, 0, 0, 0, 0, 0, 2, 0x00, 0xc4, 0x00]);
  refused(contentKey(version64), version64, /not canonical: 2 in a uint 64 header/);
  const kind64 = new Uint8Array([0x93, 0x02, 0xd3, 0, 0, 0, 0, 0, 0, 0, 0, 0xc4, 0x00]);
  refused(contentKey(kind64), kind64, /not canonical: 0 in a signed int 64 form/);
});

Deno.test("a set must be canonical: ordered, no entry twice, one per writer when so ruled", () => {
  const policy = { onePerWriter: true, entriesMax: 10 };
  const key = setKey(utf8Encode("votes"), policy);
  const a1 = signSetEntry(alice, key, 1, nowS + 60, utf8Encode("up"));
  const a2 = signSetEntry(alice, key, 2, nowS + 60, utf8Encode("down"));
  const b1 = signSetEntry(bob, key, 1, nowS + 60, utf8Encode("up"));
  const encode = (entries: SetRecord["entries"]) =>
    encodeRecord({ kind: RecordKind.set, name: utf8Encode("votes"), policy, entries });
  const [first, second] = compareSetEntries(a1, b1) < 0 ? [a1, b1] : [b1, a1];
  assert.ok(decodeRecord(key, encode([first, second])));
  assert.throws(() => decodeRecord(key, encode([second, first])), /out of order/);
  assert.throws(() => decodeRecord(key, encode([a1, a1])), /a writer's entry twice/);
  assert.throws(() => decodeRecord(key, encode([a1, a2])), /a writer's entry twice/);
  const many = { onePerWriter: false, entriesMax: 10 };
  const manyKey = setKey(utf8Encode("votes"), many);
  const m1 = signSetEntry(alice, manyKey, 1, nowS + 60, utf8Encode("x"));
  assert.throws(
    () =>
      decodeRecord(
        manyKey,
        encodeRecord({
          kind: RecordKind.set,
          name: utf8Encode("votes"),
          policy: many,
          entries: [m1, m1],
        }),
      ),
    /a writer's entry twice/,
  );
});

Deno.test("merging two entries that differ only in payload keeps the same one whatever the order", () => {
  const policy = { onePerWriter: true, entriesMax: 10 };
  const key = setKey(utf8Encode("votes"), policy);
  const up = signSetEntry(alice, key, 5, nowS + 60, utf8Encode("up"));
  const down = signSetEntry(alice, key, 5, nowS + 60, utf8Encode("down"));
  const one = (entry: typeof up) =>
    ({
      kind: RecordKind.set,
      name: utf8Encode("votes"),
      policy,
      entries: [entry],
    }) as SetRecord;
  assert.deepEqual(mergeSets(one(up), one(down), nowS), mergeSets(one(down), one(up), nowS));
});
