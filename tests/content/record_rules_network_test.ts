/**
 * Goal: the one set of record rules (the store verifies every write by them, the DHT checks its
 * gets' answers by them) accepts only records that verify and keep the content rules at the time
 * given, refuses a peer's bytes with RECORD_INVALID and never anything else, marks immutable
 * records final, and merges versions: the higher sequence for a mutable record, the union for a
 * set.
 * Method: real records from fixed keys, a virtual clock, hand-made breakage, and fast-check
 * (fixed seed) over random bytes and single-byte corruptions of valid records.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { utf8Encode } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { RhizomeError } from "../../src/core/errors.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import { contentKey } from "../../src/core/content_key.ts";
import { docRecord, profileKey, signProfile, signThread } from "../../src/content/documents.ts";
import { signedEntrySet, votesIndex } from "../../src/content/key_schema.ts";
import {
  decodeStoredRecord,
  encodeRecord,
  recordKey,
  RecordKind,
  type SetRecord,
  signMutable,
} from "../../src/content/records.ts";

const SEED = 0x5eed_d47;
const alice = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
const bob = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2));
const nowMs = 1_800_000_000_000;
const nowS = nowMs / 1000;

/** Whether bytes verify under a key at a time; a refusal must be RECORD_INVALID, nothing else. */
function verifies(key: NodeId, bytes: Uint8Array, known?: Uint8Array, atMs = nowMs): boolean {
  try {
    recordRules.verify(key, bytes, () => known, atMs);
    return true;
  } catch (error) {
    assert.ok(error instanceof RhizomeError, String(error));
    assert.equal(error.code, "RECORD_INVALID", error.message);
    return false;
  }
}

/** Two verified versions made one, as a get does: the merge's result, else the first. */
function reconcile(key: NodeId, a: Uint8Array, b: Uint8Array, atMs = nowMs): Uint8Array {
  const merged = recordRules.merge(a, recordRules.verify(key, b, () => a, atMs), atMs);
  return merged.outcome === "replace" ? merged.bytes : a;
}

const rules = { verify: verifies, isFinal: recordRules.isFinal, reconcile };

const thread = signThread(alice, { createdMs: nowMs, title: "T", body: "B", tags: [] });
const threadBytes = encodeRecord(docRecord(thread));
const threadKey = recordKey(docRecord(thread));
const votes = votesIndex(threadKey);

function profile(seq: number): Uint8Array {
  const record = signProfile(alice, seq, { name: `v${seq}`, about: "", keys: [], updatedMs: seq });
  return encodeRecord(record);
}

function vote(writer: typeof alice, direction: 1 | -1, seq = nowMs): Uint8Array {
  return encodeRecord(signedEntrySet(writer, votes, seq, nowS + 3600, { direction }));
}

Deno.test("verify() accepts a document, a profile and a set under their keys", () => {
  assert.ok(rules.verify(threadKey, threadBytes));
  assert.ok(rules.verify(profileKey(alice.publicKey), profile(1)));
  assert.ok(rules.verify(votes.key, vote(alice, 1)));
  assert.ok(rules.verify(votes.key, vote(bob, -1), vote(alice, 1)), "with a known version");
  const raw = encodeRecord({ kind: RecordKind.immutable, payload: utf8Encode("raw") });
  assert.ok(rules.verify(recordKey(decodeStoredRecord(raw)), raw));
});

Deno.test("verify() refuses (RECORD_INVALID) garbage, a wrong key, a forgery and content-rule breaks", () => {
  assert.equal(rules.verify(threadKey, new Uint8Array([1, 2, 3])), false);
  assert.equal(rules.verify(threadKey, new Uint8Array(0)), false);
  assert.equal(rules.verify(votes.key, threadBytes), false, "under another key");
  const forged = encodeRecord(docRecord({ ...thread, author: bob.publicKey }));
  assert.equal(rules.verify(recordKey(decodeStoredRecord(forged)), forged), false);
  const other = encodeRecord(signMutable(alice, utf8Encode("status"), 1, utf8Encode("x")));
  assert.equal(rules.verify(recordKey(decodeStoredRecord(other)), other), false, "not a profile");
  const tooLong = encodeRecord(
    signedEntrySet(alice, votes, 1, nowS + 92 * 86400, { direction: 1 }),
  );
  assert.equal(rules.verify(votes.key, tooLong), false, "an entry living past its kind's lifetime");
});

Deno.test("verify() refuses a document from the future until the time catches up", () => {
  const doc = docRecord(
    signThread(alice, { createdMs: nowMs + 3_600_000, title: "T", body: "", tags: [] }),
  );
  const bytes = encodeRecord(doc);
  assert.equal(verifies(recordKey(doc), bytes), false);
  assert.equal(verifies(recordKey(doc), bytes, undefined, nowMs + 3_600_000 - 5 * 60_000), true);
});

Deno.test("verify() throws only RECORD_INVALID on random bytes or a record with one byte changed", () => {
  const valid = [threadBytes, profile(3), vote(alice, 1)];
  const keys = [threadKey, profileKey(alice.publicKey), votes.key];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 2 }), (bytes, i) => {
      assert.equal(rules.verify(keys[i], bytes), false, `seed ${SEED}`);
    }),
    { seed: SEED, numRuns: 300 },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 }),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (i, at, flip) => {
        const bytes = new Uint8Array(valid[i]);
        bytes[at % bytes.length] ^= flip;
        assert.equal(typeof rules.verify(keys[i], bytes), "boolean", `seed ${SEED}`);
      },
    ),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("isFinal() is true for immutable records only", () => {
  assert.equal(rules.isFinal(threadBytes), true);
  assert.equal(rules.isFinal(profile(1)), false);
  assert.equal(rules.isFinal(vote(alice, 1)), false);
  assert.equal(rules.isFinal(new Uint8Array([0xc1])), false);
});

Deno.test("reconcile() picks the higher sequence of a mutable record, the first on a tie", () => {
  const key = profileKey(alice.publicKey);
  const [one, two] = [profile(1), profile(2)];
  assert.equal(rules.reconcile(key, one, two), two);
  assert.equal(rules.reconcile(key, two, one), two);
  const rival = encodeRecord(
    signProfile(alice, 2, { name: "rival", about: "", keys: [], updatedMs: 2 }),
  );
  assert.equal(rules.reconcile(key, two, rival), two);
  assert.equal(rules.reconcile(key, rival, two), rival);
});

Deno.test("reconcile() unions two versions of a set, one vote per voter, expired entries gone", () => {
  const merged = rules.reconcile(votes.key, vote(alice, 1, nowMs), vote(bob, -1), nowMs);
  assert.ok(rules.verify(votes.key, merged));
  const set = decodeStoredRecord(merged) as SetRecord;
  assert.equal(set.entries.length, 2);
  const changed = rules.reconcile(votes.key, merged, vote(alice, -1, nowMs + 1), nowMs);
  const after = decodeStoredRecord(changed) as SetRecord;
  assert.equal(after.entries.length, 2, "alice's new vote replaced her old one");
  const later = recordRules.merge(
    changed,
    recordRules.verify(votes.key, vote(bob, -1), () => changed, nowMs),
    nowMs + 3601_000,
  );
  assert.equal(later.outcome, "replace");
  if (later.outcome !== "replace") return;
  assert.equal((decodeStoredRecord(later.bytes) as SetRecord).entries.length, 0);
});

Deno.test("reconcile() keeps the first copy of an immutable record", () => {
  const copy = new Uint8Array(threadBytes);
  assert.equal(rules.reconcile(threadKey, threadBytes, copy, nowMs), threadBytes);
});

Deno.test("verify() refuses 64-bit forms of small integers as not canonical", () => {
  const version64 = new Uint8Array([0x93, 0xcf, 0, 0, 0, 0, 0, 0, 0, 2, 0x00, 0xc4, 0x00]);
  assert.equal(rules.verify(contentKey(version64), version64), false);
  assert.equal(rules.isFinal(version64), false);
});
