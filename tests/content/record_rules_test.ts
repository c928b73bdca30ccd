/**
 * The store's rules for Rhizome records: verification trusts nothing (an entry copied beside a
 * known signature is still checked), mutable records need a higher sequence, sets merge by union
 * and stay within the record size limit.
 */

import assert from "node:assert/strict";
import { utf8Encode } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { recordBytesMax } from "../../src/core/limits.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import {
  decodeStoredRecord,
  encodeRecord,
  RecordError,
  RecordKind,
  setKey,
  type SetRecord,
  signSetEntry,
} from "../../src/content/records.ts";

const writers = Array.from(
  { length: 40 },
  (_, i) => ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(i + 1)),
);
const policy = { onePerWriter: false, entriesMax: 1000 };
const name = utf8Encode("index");
const key = setKey(name, policy);
const nowMs = 1_800_000_000_000;
const expiresAtS = nowMs / 1000 + 3600;

function set(entries: SetRecord["entries"]): Uint8Array {
  return encodeRecord({ kind: RecordKind.set, name, policy, entries });
}

function entry(writer: number, seq: number, payload: Uint8Array, expiry = expiresAtS) {
  return signSetEntry(writers[writer], key, seq, expiry, payload);
}

Deno.test("an entry copying a held entry's signature over another payload is refused", () => {
  const held = set([entry(0, 1, utf8Encode("real"))]);
  const copied = decodeStoredRecord(held) as SetRecord;
  const forged = set([{ ...copied.entries[0], payload: utf8Encode("forged") }]);
  assert.throws(() => recordRules.verify(key, forged, () => held), RecordError);
  // The identical entry is accepted (and skipped, being known).
  assert.equal(recordRules.verify(key, held, () => held).kind, RecordKind.set);
});

Deno.test("merging two sets that each fit keeps the result within the record size limit", () => {
  const big = new Uint8Array(1500).fill(7);
  const first = set(writers.slice(0, 30).map((_, i) => entry(i, 1, big, expiresAtS + i)));
  const second = set(writers.slice(10).map((_, i) => entry(i + 10, 2, big, expiresAtS + 100 + i)));
  assert.ok(first.length < recordBytesMax && second.length < recordBytesMax);
  const verified = recordRules.verify(key, second, () => first);
  const result = recordRules.merge(first, verified, nowMs);
  assert.equal(result.outcome, "replace");
  if (result.outcome !== "replace") return;
  assert.ok(result.bytes.length <= recordBytesMax, `${result.bytes.length} bytes`);
  const merged = decodeStoredRecord(result.bytes) as SetRecord;
  const kept = Math.min(...merged.entries.map((e) => e.expiresAtS));
  const all = [first, second].flatMap((bytes) => (decodeStoredRecord(bytes) as SetRecord).entries);
  const dropped = all.filter((e) => e.expiresAtS < kept);
  assert.ok(dropped.length > 0, "the entries that expire first went");
  assert.ok(merged.entries.length + dropped.length >= 40, "only as many as needed went");
});

Deno.test("merge: identical bytes keep; expired entries of the incoming set add nothing", () => {
  const held = set([entry(0, 1, utf8Encode("a"))]);
  assert.deepEqual(recordRules.merge(held, recordRules.verify(key, held, () => undefined), nowMs), {
    outcome: "keep",
  });
  const stale = set([entry(1, 1, utf8Encode("old"), nowMs / 1000 - 1)]);
  const result = recordRules.merge(held, recordRules.verify(key, stale, () => held), nowMs);
  assert.deepEqual(result, { outcome: "keep" });
});
