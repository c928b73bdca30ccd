/**
 * The store's rules for Rhizome records: verification trusts nothing (an entry copied beside a
 * known signature is still checked), mutable records need a higher sequence, sets merge by union
 * and stay within the record size limit.
 */

import assert from "node:assert/strict";
import { utf8Encode } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { recordBytesMax } from "../../src/core/limits.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { encodeEntry, recentIndex, type ThreadRef } from "../../src/content/key_schema.ts";
import { recordRules, type VerifiedDhtRecord } from "../../src/content/record_rules.ts";
import {
  checkRecord,
  compareSetEntries,
  decodeStoredRecord,
  encodeRecord,
  RecordError,
  RecordKind,
  setKey,
  type SetRecord,
  signSetEntry,
} from "../../src/content/records.ts";
import type { RecordRules } from "../../src/store/record_rules.ts";

const writers = Array.from(
  { length: 40 },
  (_, i) => ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(i + 1)),
);
const nowMs = 1_800_000_000_000;
const expiresAtS = nowMs / 1000 + 3600;

/** The global "recent" index of the key schema: many entries per writer. */
const recent = recentIndex();

function threadRef(n: number): ThreadRef {
  return { thread: NodeId.fromBytes(new Uint8Array(20).fill(n)), createdMs: nowMs };
}

function set(entries: SetRecord["entries"]): Uint8Array {
  entries = [...entries].sort(compareSetEntries);
  return encodeRecord({ kind: RecordKind.set, name: recent.name, policy: recent.policy, entries });
}

function entry(writer: number, seq: number, value: ThreadRef, expiry = expiresAtS) {
  return signSetEntry(writers[writer], recent.key, seq, expiry, encodeEntry("recent", value));
}

Deno.test("an entry copying a held entry's signature over another payload is refused", () => {
  const held = set([entry(0, 1, threadRef(1))]);
  const copied = decodeStoredRecord(held) as SetRecord;
  // The copy carries a valid entry of the index: only its signature is wrong.
  const forged = set([{ ...copied.entries[0], payload: encodeEntry("recent", threadRef(2)) }]);
  assert.throws(
    () => recordRules.verify(recent.key, forged, () => held, nowMs),
    (error) => error instanceof RecordError && /signature does not verify/.test(error.message),
  );
  // The identical entry is accepted (and skipped, being known).
  assert.equal(recordRules.verify(recent.key, held, () => held, nowMs).kind, RecordKind.set);
});

Deno.test("merging two sets that each fit keeps the result within the record size limit", () => {
  // No set of the key schema can outgrow the record size limit by its entries (each index's
  // entriesMax is set so its largest entries fit), so the size cut of the merge is reached only
  // with larger payloads than the schema allows: this test verifies a set named "index" with
  // 1,500-byte payloads by the records.ts checks alone (key and signatures, not the content
  // schema), then merges with Rhizome's own merge.
  const rules: RecordRules<VerifiedDhtRecord> = {
    ...recordRules,
    verify(key, bytes, held) {
      const record = decodeStoredRecord(bytes);
      const heldBytes = held();
      checkRecord(key, record, heldBytes && decodeStoredRecord(heldBytes));
      return { kind: record.kind, bytes, record };
    },
  };
  const name = utf8Encode("index");
  const policy = { onePerWriter: false, entriesMax: 1000 };
  const key = setKey(name, policy);
  const big = new Uint8Array(1500).fill(7);
  const bigEntry = (writer: number, seq: number, expiry: number) =>
    signSetEntry(writers[writer], key, seq, expiry, big);
  const bigSet = (entries: SetRecord["entries"]) =>
    encodeRecord({ kind: RecordKind.set, name, policy, entries: entries.sort(compareSetEntries) });
  const first = bigSet(writers.slice(0, 30).map((_, i) => bigEntry(i, 1, expiresAtS + i)));
  const second = bigSet(
    writers.slice(10).map((_, i) => bigEntry(i + 10, 2, expiresAtS + 100 + i)),
  );
  assert.ok(first.length < recordBytesMax && second.length < recordBytesMax);
  // Rhizome's rules refuse such a set: it is no index of the schema.
  assert.throws(() => recordRules.verify(key, first, () => undefined, nowMs), RecordError);
  const verified = rules.verify(key, second, () => first, nowMs);
  const result = rules.merge(first, verified, nowMs);
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
  const held = set([entry(0, 1, threadRef(1))]);
  assert.deepEqual(
    recordRules.merge(held, recordRules.verify(recent.key, held, () => undefined, nowMs), nowMs),
    { outcome: "keep" },
  );
  const stale = set([entry(1, 1, threadRef(2), nowMs / 1000 - 1)]);
  const result = recordRules.merge(
    held,
    recordRules.verify(recent.key, stale, () => held, nowMs),
    nowMs,
  );
  assert.deepEqual(result, { outcome: "keep" });
});
