/**
 * The memory store (the simulator's) keeps the record store's promises: it verifies every write by
 * its rules (the same bytes again are not verified), merges a new version with the held one
 * (refusing an older mutable record with RECORD_STALE), and dates values by the record classes;
 * it refuses a write past its quota (each value's overhead counted) and any write once closed,
 * serves nothing expired and sweeps it.
 */

import assert from "node:assert/strict";
import { utf8Encode } from "../../src/core/bytes.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import type { RhizomeError } from "../../src/core/errors.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { profileKey, signProfile } from "../../src/content/documents.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import { encodeRecord } from "../../src/content/records.ts";
import { contentKey } from "../../src/core/content_key.ts";
import {
  type MemoryStoreQuota,
  memoryValueOverheadBytes,
  MemoryValueStore,
} from "../../src/store/memory_value_store.ts";
import type { RecordRules } from "../../src/store/record_rules.ts";
import type { ValueWrite, ValueWritten } from "../../src/store/value_store.ts";
import { alice, defaultClasses, immutable, startMs } from "./_store.ts";

function put(store: MemoryValueStore, write: ValueWrite): [RhizomeError?, ValueWritten?] {
  let outcome: [RhizomeError?, ValueWritten?] | undefined;
  store.put(write, (error, written) => outcome = [error as RhizomeError | undefined, written]);
  assert.ok(outcome, "done runs before put returns");
  return outcome;
}

Deno.test("a memory store refuses what does not verify, and stores nothing", () => {
  const clock = new VirtualClock(startMs);
  const store = new MemoryValueStore({ clock, classes: defaultClasses });
  const key = NodeId.fromBytes(new Uint8Array(20));
  const [error] = put(store, { key, value: utf8Encode("x"), published: false });
  assert.equal(error?.code, "RECORD_INVALID");
  const [tooLarge] = put(store, { key, value: new Uint8Array(70_000), published: false });
  assert.equal(tooLarge?.code, "RECORD_INVALID");
  assert.equal(store.get(key), undefined);
  assert.deepEqual(store.stats(), { values: 0, bytes: 0 });
});

Deno.test("a memory store merges versions by its rules and verifies the same bytes once", () => {
  const clock = new VirtualClock(startMs);
  let verifications = 0;
  const counting: RecordRules = {
    ...recordRules,
    verify(key, bytes, held, nowMs) {
      verifications++;
      return recordRules.verify(key, bytes, held, nowMs);
    },
  };
  const store = new MemoryValueStore({ clock, classes: defaultClasses, rules: counting });
  const key = profileKey(alice.publicKey);
  const version = (seq: number) =>
    encodeRecord(signProfile(alice, seq, { name: `v${seq}`, about: "", keys: [], updatedMs: seq }));
  assert.deepEqual(put(store, { key, value: version(2), published: false })[1]?.value, version(2));
  put(store, { key, value: version(2), published: false });
  assert.equal(verifications, 1, "the same bytes again are not verified");
  const [stale] = put(store, { key, value: version(1), published: false });
  assert.equal(stale?.code, "RECORD_STALE");
  const [, written] = put(store, { key, value: version(3), published: false });
  assert.deepEqual(written?.value, version(3));
  assert.deepEqual(store.get(key)?.value, version(3));
});

Deno.test("a memory store dates values by the record classes, and a read extends them", () => {
  const clock = new VirtualClock(startMs);
  const store = new MemoryValueStore({ clock, classes: defaultClasses });
  const value = utf8Encode("dated");
  const key = contentKey(value);
  const [, written] = put(store, { key, value, ttlMs: 1e12, published: false });
  const normal = defaultClasses.normal;
  assert.equal(written?.expiresAtMs, startMs + normal.ttl_s * 1000, "capped at ttl_s");
  clock.advanceBy(normal.ttl_s * 1000 - 1000);
  store.noteRead(key);
  assert.equal(store.get(key)?.expiresAtMs, clock.nowMs() + normal.extension_s * 1000);
  clock.advanceBy(normal.extension_s * 1000);
  assert.equal(store.get(key), undefined, "expired: not served");
  const mine = utf8Encode("mine");
  const [, published] = put(store, { key: contentKey(mine), value: mine, published: true });
  assert.equal(published?.expiresAtMs, clock.nowMs() + defaultClasses.personal.ttl_s * 1000);
  assert.equal(store.get(contentKey(mine))?.published, true);
});

function bounded(quota: MemoryStoreQuota) {
  const clock = new VirtualClock(startMs);
  const store = new MemoryValueStore({ clock, classes: defaultClasses, rules: recordRules, quota });
  return { store, clock };
}

function write(record: { key: NodeId; bytes: Uint8Array }, ttlMs = 86_400_000): ValueWrite {
  return { key: record.key, value: record.bytes, ttlMs, published: false };
}

Deno.test("a memory store refuses a write past its quota, each value's overhead counted", () => {
  const one = immutable("one");
  const { store } = bounded({
    bytesMax: one.bytes.length + memoryValueOverheadBytes,
    recordsMax: 9,
  });
  assert.equal(put(store, write(one))[0], undefined);
  const [refused] = put(store, write(immutable("two")));
  assert.equal(refused?.code, "STORE_FULL");
  assert.ok(!refused.message.includes("\n"));
  assert.equal(put(store, write(one))[0], undefined, "a renewal of a held value still fits");
  store.setQuota({ bytesMax: 1 << 20, recordsMax: 1 });
  assert.equal(put(store, write(immutable("two")))[0]?.code, "STORE_FULL", "one value at most");
  assert.equal(store.stats().values, 1);
});

Deno.test("a memory store serves nothing expired and sweeps it", async () => {
  const { store, clock } = bounded({ bytesMax: 1 << 20, recordsMax: 100 });
  const short = immutable("short");
  const long = immutable("long");
  put(store, write(short, 1000));
  put(store, write(long));
  clock.advanceBy(1000);
  assert.equal(store.get(short.key), undefined);
  assert.equal(await store.sweep(), 1);
  assert.equal(store.stats().values, 1);
  assert.ok(store.get(long.key));
});

Deno.test("a memory store refuses writes once closed", async () => {
  const { store } = bounded({ bytesMax: 1 << 20, recordsMax: 100 });
  const record = immutable("before");
  assert.equal(put(store, write(record))[0], undefined);
  assert.ok(store.get(record.key), "held before close");
  await store.close();
  assert.equal(store.get(record.key), undefined);
  assert.equal(put(store, write(immutable("after")))[0]?.code, "STORE_UNUSABLE");
});
