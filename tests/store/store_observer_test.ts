/**
 * The store's observer, which derived data (the search index) follows the store by: told of each
 * record stored or replaced once its transaction committed, never of a renewal that kept the
 * same bytes, and of each record removed (deleted, expired and swept, evicted), in the LMDB store
 * and the memory store alike. Method: record the calls of an observer while a store is written.
 */

import assert from "node:assert/strict";
import { MemoryValueStore } from "../../src/store/memory_value_store.ts";
import type { StoreObserver } from "../../src/store/value_store.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import { withTempDir } from "../_rhizome.ts";
import { defaultClasses, immutable, mutable, openStore, startMs } from "./_store.ts";
import { VirtualClock } from "../../src/core/clock.ts";

function recorder(): { observer: StoreObserver; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    observer: {
      stored: (key, value) => calls.push(`stored ${key.toHex().slice(0, 8)} ${value.length}`),
      removed: (key) => calls.push(`removed ${key.toHex().slice(0, 8)}`),
    },
  };
}

Deno.test("RecordStore.setObserver() is told of stores, replacements and removals after commit", async () => {
  await withTempDir(async (directory) => {
    const { store, clock } = openStore(directory);
    try {
      const { observer, calls } = recorder();
      store.setObserver(observer);
      const a = immutable("first");
      const v1 = mutable(1);
      const v2 = mutable(2, "a longer about text");
      await store.putRecord(a.key, a.bytes);
      await store.putRecord(a.key, a.bytes); // a renewal: same bytes, not told
      await store.putRecord(v1.key, v1.bytes);
      await store.putRecord(v2.key, v2.bytes);
      await store.remove(a.key);
      const short = immutable("short-lived");
      await store.putRecord(short.key, short.bytes, { ttlMs: 60_000 });
      clock.advanceBy(120_000);
      await store.sweep();
      const tag = (key: { toHex(): string }) => key.toHex().slice(0, 8);
      assert.deepEqual(calls, [
        `stored ${tag(a.key)} ${a.bytes.length}`,
        `stored ${tag(v1.key)} ${v1.bytes.length}`,
        `stored ${tag(v2.key)} ${v2.bytes.length}`,
        `removed ${tag(a.key)}`,
        `stored ${tag(short.key)} ${short.bytes.length}`,
        `removed ${tag(short.key)}`,
      ]);
      // An observer that throws changes nothing in the store.
      store.setObserver({
        stored: () => {
          throw new Error("observer failed");
        },
        removed: () => {},
      });
      const b = immutable("second");
      await store.putRecord(b.key, b.bytes);
      assert.ok(store.get(b.key));
    } finally {
      await store.close();
    }
  });
});

Deno.test("RecordStore tells its observer of records evicted for room", async () => {
  await withTempDir(async (directory) => {
    const { store, clock } = openStore(directory, {
      quota: { bytesMax: 1 << 30, recordsMax: 100 },
    });
    try {
      const { observer, calls } = recorder();
      store.setObserver(observer);
      for (let i = 0; i < 130; i++) {
        // Past the first hundred, the older records are out of their retention: evictable.
        if (i === 100) clock.advanceBy(2 * 3600_000);
        const record = immutable(`record ${i}`);
        await store.putRecord(record.key, record.bytes, { class: "normal", ttlMs: 86400_000 });
      }
      const removed = calls.filter((call) => call.startsWith("removed")).length;
      assert.equal(removed, store.stats().evicted);
      assert.ok(removed > 0, "some records were evicted");
    } finally {
      await store.close();
    }
  });
});

Deno.test("MemoryValueStore.setObserver() is told of stores and deletions, not of renewals", () => {
  const store = new MemoryValueStore({
    rules: recordRules,
    clock: new VirtualClock(startMs),
    classes: defaultClasses,
  });
  const { observer, calls } = recorder();
  store.setObserver(observer);
  const a = immutable("first");
  const put = () => store.put({ key: a.key, value: a.bytes, published: false }, () => {});
  put();
  put();
  store.delete(a.key);
  assert.deepEqual(calls, [
    `stored ${a.key.toHex().slice(0, 8)} ${a.bytes.length}`,
    `removed ${a.key.toHex().slice(0, 8)}`,
  ]);
});
