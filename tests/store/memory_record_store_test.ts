/**
 * The memory record store applies the LMDB store's record rules and bounds what it holds: it
 * refuses a forged or wrongly keyed record, an older version of a mutable one, a write past its
 * quota (counting each record's overhead) and any write once closed, each with its code and
 * nothing changed; it merges sets, serves nothing expired and sweeps expired records.
 */

import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import { RhizomeError } from "../../src/core/errors.ts";
import { decodeStoredRecord, RecordKind } from "../../src/content/records.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import {
  memoryRecordOverheadBytes,
  MemoryRecordStore,
  type MemoryStoreQuota,
} from "../../src/store/memory_record_store.ts";
import type { StoredValue } from "../../src/store/value_store.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { alice, bob, immutable, mutable, startMs, votes } from "./_store.ts";

const dayMs = 86_400_000;

function openMemory(quota: MemoryStoreQuota = { bytesMax: 1 << 20, recordsMax: 100 }) {
  const clock = new VirtualClock(startMs);
  return { store: new MemoryRecordStore({ rules: recordRules, clock, quota }), clock };
}

function entry(record: { key: NodeId; bytes: Uint8Array }, lifetimeMs = dayMs): StoredValue {
  return {
    key: record.key,
    value: record.bytes,
    expiresAtMs: startMs + lifetimeMs,
    storedAtMs: startMs,
    published: false,
  };
}

/** The store's answer to a put: nothing when kept, else the refusal's code (synchronously). */
function put(store: MemoryRecordStore, value: StoredValue): string | undefined {
  let outcome: string | undefined = "no answer";
  store.put(value, (error) => {
    if (error !== undefined) assert.ok(error instanceof RhizomeError, String(error));
    outcome = error?.code;
    if (error) assert.ok(!error.message.includes("\n"), error.message);
  });
  return outcome;
}

Deno.test("MemoryRecordStore.put() keeps a valid record and refuses a wrongly keyed one", () => {
  const { store } = openMemory();
  const record = immutable("hello");
  assert.equal(put(store, entry(record)), undefined);
  assert.equal(store.get(record.key)?.value, record.bytes);
  const other = immutable("other");
  assert.equal(put(store, entry({ key: record.key, bytes: other.bytes })), "RECORD_INVALID");
  assert.equal(store.get(record.key)?.value, record.bytes, "nothing changed");
  assert.equal(
    put(store, entry({ key: other.key, bytes: new Uint8Array([1, 2]) })),
    "RECORD_INVALID",
  );
  assert.deepEqual(store.stats(), { values: 1, bytes: record.bytes.length });
});

Deno.test("MemoryRecordStore.put() replaces a mutable record by a newer one only", () => {
  const { store } = openMemory();
  assert.equal(put(store, entry(mutable(2))), undefined);
  assert.equal(put(store, entry(mutable(1))), "RECORD_STALE");
  assert.equal(put(store, entry(mutable(3))), undefined);
  const held = decodeStoredRecord(store.get(mutable(3).key)!.value);
  assert.ok(held.kind === RecordKind.mutable && held.seq === 3);
});

Deno.test("MemoryRecordStore.put() merges the entries of a set", () => {
  const { store } = openMemory();
  const expiresAtS = Math.floor(startMs / 1000) + 3600;
  const first = votes([{ writer: alice, seq: 1, expiresAtS, direction: 1 }]);
  const second = votes([{ writer: bob, seq: 1, expiresAtS, direction: -1 }]);
  assert.equal(put(store, entry(first)), undefined);
  assert.equal(put(store, entry(second)), undefined);
  const held = decodeStoredRecord(store.get(first.key)!.value);
  assert.ok(held.kind === RecordKind.set);
  assert.equal(held.entries.length, 2);
});

Deno.test("MemoryRecordStore.put() refuses a write past its quota, overhead counted", () => {
  const one = immutable("one");
  const recordBytes = one.bytes.length + memoryRecordOverheadBytes;
  const { store } = openMemory({ bytesMax: recordBytes, recordsMax: 10 });
  assert.equal(put(store, entry(one)), undefined);
  assert.equal(put(store, entry(immutable("two"))), "STORE_FULL");
  assert.equal(put(store, entry(one)), undefined, "a renewal of a held record still fits");
  store.setQuota({ bytesMax: 1 << 20, recordsMax: 1 });
  assert.equal(put(store, entry(immutable("two"))), "STORE_FULL", "one record at most");
  assert.equal(store.stats().values, 1);
});

Deno.test("MemoryRecordStore serves nothing expired and sweeps it", async () => {
  const { store, clock } = openMemory();
  const short = immutable("short");
  const long = immutable("long");
  put(store, entry(short, 1000));
  put(store, entry(long));
  clock.advanceBy(1000);
  assert.equal(store.get(short.key), undefined);
  assert.equal(await store.sweep(), 1);
  assert.equal(store.stats().values, 1);
  assert.ok(store.get(long.key));
});

Deno.test("MemoryRecordStore refuses writes once closed", async () => {
  const { store } = openMemory();
  const record = immutable("before");
  put(store, entry(record));
  await store.close();
  assert.equal(store.get(record.key), undefined);
  assert.equal(put(store, entry(immutable("after"))), "STORE_UNUSABLE");
});
