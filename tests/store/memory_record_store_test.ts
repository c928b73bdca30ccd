/**
 * The memory record store keeps records as the record store does: sets merged entry by entry, a
 * mutable record replaced only by a higher sequence, a bad record refused with nothing changed,
 * lifetimes never shortened, and an expired version no longer held against a new one.
 */

import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import { RhizomeError } from "../../src/core/errors.ts";
import { decodeStoredRecord, RecordKind } from "../../src/content/records.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import { MemoryRecordStore } from "../../src/store/memory_record_store.ts";
import type { StoredValue } from "../../src/store/value_store.ts";
import { alice, bob, immutable, mutable, startMs, votes } from "./_store.ts";

const startS = startMs / 1000;

function put(store: MemoryRecordStore, entry: StoredValue): Error | undefined {
  let called = false;
  let outcome: Error | undefined;
  store.put(entry, (error) => {
    called = true;
    outcome = error;
  });
  assert.ok(called, "done runs before put returns");
  return outcome;
}

function entry(
  record: { key: StoredValue["key"]; bytes: Uint8Array },
  expiresAtMs: number,
): StoredValue {
  return {
    key: record.key,
    value: record.bytes,
    expiresAtMs,
    storedAtMs: startMs,
    published: false,
  };
}

Deno.test("sets merge: each put adds its entries to the live set held", () => {
  const store = new MemoryRecordStore(recordRules, new VirtualClock(startMs));
  const fromAlice = votes([{ writer: alice, seq: 1, expiresAtS: startS + 600, direction: 1 }]);
  const fromBob = votes([{ writer: bob, seq: 1, expiresAtS: startS + 600, direction: -1 }]);
  assert.equal(put(store, entry(fromAlice, startMs + 60_000)), undefined);
  assert.equal(put(store, entry(fromBob, startMs + 30_000)), undefined);
  const held = store.get(fromAlice.key)!;
  const record = decodeStoredRecord(held.value);
  assert.equal(record.kind, RecordKind.set);
  assert.equal(record.kind === RecordKind.set && record.entries.length, 2);
  assert.equal(held.expiresAtMs, startMs + 60_000, "a put never shortens the lifetime");
  assert.equal(store.stats().values, 1);
});

Deno.test("a mutable record is replaced by a higher sequence only; stale and bad ones change nothing", () => {
  const store = new MemoryRecordStore(recordRules, new VirtualClock(startMs));
  assert.equal(put(store, entry(mutable(5), startMs + 60_000)), undefined);
  const stale = put(store, entry(mutable(4), startMs + 60_000));
  assert.ok(stale instanceof RhizomeError && stale.code === "RECORD_STALE", String(stale));
  assert.equal(put(store, entry(mutable(6), startMs + 60_000)), undefined);
  const held = decodeStoredRecord(store.get(mutable(6).key)!.value);
  assert.equal(held.kind === RecordKind.mutable && held.seq, 6);
  // Bytes that belong under another key are refused; the store is unchanged.
  const invalid = put(store, { ...entry(mutable(7), startMs + 60_000), key: immutable("x").key });
  assert.ok(invalid instanceof RhizomeError && invalid.code === "RECORD_INVALID", String(invalid));
  assert.equal(store.get(immutable("x").key), undefined);
});

Deno.test("an expired version is not held against a new one", () => {
  const clock = new VirtualClock(startMs);
  const store = new MemoryRecordStore(recordRules, clock);
  assert.equal(put(store, entry(mutable(5), startMs + 1_000)), undefined);
  clock.advanceBy(2_000);
  assert.equal(put(store, entry(mutable(3), startMs + 60_000)), undefined);
  const held = decodeStoredRecord(store.get(mutable(3).key)!.value);
  assert.equal(held.kind === RecordKind.mutable && held.seq, 3);
});
