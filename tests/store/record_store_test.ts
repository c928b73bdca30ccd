/**
 * The record store on LMDB: each record kind stored, verified and merged; bad records refused
 * with a clear error and nothing changed; TTL classes, extension and the sweep; quota eviction
 * order, guaranteed retention and refusals when full; integrity quarantine; reopening.
 */

import assert from "node:assert/strict";
import { open } from "lmdb";
import { bytesEqual } from "../../src/core/bytes.ts";
import { RhizomeError, type StoreError } from "../../src/core/errors.ts";
import { recordBytesMax, recordOverheadBytes } from "../../src/core/limits.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { entrySeqOf, recentIndex } from "../../src/content/key_schema.ts";
import { decodeStoredRecord, encodeRecord, RecordKind } from "../../src/content/records.ts";
import { recordRules, type VerifiedDhtRecord } from "../../src/content/record_rules.ts";
import { RecordStore } from "../../src/store/record_store.ts";
import type { RecordRules } from "../../src/store/record_rules.ts";
import type { ValueWritten } from "../../src/store/value_store.ts";
import { withTempDir } from "../_rhizome.ts";
import {
  alice,
  bob,
  defaultClasses,
  immutable,
  indexSet,
  mutable,
  openStore,
  startMs,
  type TestEntry,
  votes,
  votesAddress,
} from "./_store.ts";

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

async function rejects(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RhizomeError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

/** Compares contents only: LMDB adds a property to the arrays it writes. */
function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  assert.ok(actual && bytesEqual(actual, expected), `${actual} ≠ ${expected}`);
}

function entryCount(bytes: Uint8Array): number {
  const record = decodeStoredRecord(bytes);
  if (record.kind !== RecordKind.set) throw new Error("not a set");
  return record.entries.length;
}

Deno.test("an immutable record is stored durably, read back, and renewed by a second put", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory);
    const { key, bytes } = immutable("hello");
    const first = await store.putRecord(key, bytes);
    assert.equal(first.status, "stored");
    assert.equal(first.expiresAtMs, startMs + defaultClasses.normal.ttl_s * 1000);
    const again = await store.putRecord(key, bytes);
    assert.equal(again.status, "renewed");
    const held = store.getRecord(key);
    assertBytes(held?.value, bytes);
    assert.equal(held?.kind, "immutable");
    assert.equal(held?.class, "normal");
    const stats = store.stats();
    assert.equal(stats.values, 1);
    assert.equal(stats.bytes, bytes.length);
    assert.equal(stats.quotaBytes, bytes.length + recordOverheadBytes);
    assert.deepEqual(stats.byKind.immutable, { records: 1, bytes: bytes.length });
    assert.deepEqual(stats.byClass.normal, { records: 1, bytes: bytes.length });
    await store.close();
  });
});

Deno.test("bad records are refused with RECORD_INVALID, counted, and change nothing", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory);
    const good = mutable(1);
    await store.putRecord(good.key, good.bytes);
    const before = store.stats();

    const other = immutable("other");
    await rejects(store.putRecord(good.key, other.bytes), "RECORD_INVALID", /under this key/);
    const forged = mutable(2);
    forged.bytes[forged.bytes.length - 1] ^= 1;
    await rejects(store.putRecord(good.key, forged.bytes), "RECORD_INVALID", /signature/);
    const truncated = mutable(3).bytes.subarray(0, 40);
    await rejects(store.putRecord(good.key, truncated), "RECORD_INVALID", /MessagePack|record/);
    const wrongVersion = mutable(4).bytes.slice();
    wrongVersion[1] = 9; // the first array element: the format version
    await rejects(store.putRecord(good.key, wrongVersion), "RECORD_INVALID", /version 9/);
    const oversize = new Uint8Array(recordBytesMax + 1);
    await rejects(store.putRecord(good.key, oversize), "RECORD_INVALID", /65537 bytes, the limit/);
    await rejects(
      store.putRecord(good.key, mutable(5).bytes, { ttlMs: 0 }),
      "RECORD_INVALID",
      /TTL is not positive/,
    );

    const after = store.stats();
    assert.equal(after.refused.invalid, 6);
    assert.equal(after.values, before.values);
    assert.equal(after.bytes, before.bytes);
    assertBytes(store.getRecord(good.key)!.value, good.bytes);
    await store.close();
  });
});

Deno.test("a mutable record is replaced by a higher sequence only", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory);
    const v1 = mutable(1);
    const v2 = mutable(2);
    assert.equal((await store.putRecord(v1.key, v1.bytes)).status, "stored");
    assert.equal((await store.putRecord(v2.key, v2.bytes)).status, "replaced");
    await rejects(store.putRecord(v1.key, v1.bytes), "RECORD_STALE", /sequence 1 is not above/);
    const rival = mutable(2, "another v2");
    await rejects(store.putRecord(rival.key, rival.bytes), "RECORD_STALE", /sequence 2/);
    assert.equal((await store.putRecord(v2.key, v2.bytes)).status, "renewed");
    assertBytes(store.getRecord(v2.key)!.value, v2.bytes);
    assert.equal(store.stats().refused.stale, 2);
    assert.deepEqual(store.stats().byKind.mutable, { records: 1, bytes: v2.bytes.length });
    await store.close();
  });
});

Deno.test("putRecords stores many in one transaction, each put refused or done on its own", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory, { quota: { bytesMax: 1 << 30, recordsMax: 5 } });
    const v2 = mutable(2);
    await store.putRecord(v2.key, v2.bytes);
    const fresh = immutable("fresh");
    const forged = mutable(3);
    forged.bytes[forged.bytes.length - 1] ^= 1;
    const stale = mutable(1);
    const again = immutable("fresh");
    const results = await store.putRecords([
      { key: fresh.key, bytes: fresh.bytes, options: { class: "popular", ttlMs: 60_000 } },
      { key: forged.key, bytes: forged.bytes },
      { key: stale.key, bytes: stale.bytes },
      // The same record later in the batch sees the first one's write.
      { key: again.key, bytes: again.bytes },
      { key: v2.key, bytes: v2.bytes },
    ]);
    assert.equal(results.length, 5);
    assert.deepEqual(
      results.map((result) => "status" in result ? result.status : result.code),
      ["stored", "RECORD_INVALID", "RECORD_STALE", "renewed", "renewed"],
    );
    assert.match((results[1] as Error).message, /signature/);
    const held = store.getRecord(fresh.key)!;
    assert.equal(held.class, "popular");
    assertBytes(store.getRecord(v2.key)!.value, v2.bytes);
    const stats = store.stats();
    assert.equal(stats.values, 2);
    assert.equal(stats.refused.invalid, 1);
    assert.equal(stats.refused.stale, 1);

    // Past the quota, only the puts that find no room are refused.
    const many = Array.from({ length: 5 }, (_, index) => immutable(`many ${index}`));
    const full = await store.putRecords(
      many.map(({ key, bytes }) => ({ key, bytes, options: { class: "personal" } })),
    );
    assert.deepEqual(
      full.map((result) => "status" in result ? result.status : result.code),
      ["stored", "stored", "stored", "STORE_FULL", "STORE_FULL"],
    );
    assert.equal(store.stats().values, 5);
    assert.equal(store.stats().refused.full, 2);
    assert.deepEqual(await store.putRecords([]), []);

    // A class the store does not know refuses that put alone, before any write.
    const odd = immutable("odd class");
    const oddPuts = await store.putRecords([
      { key: odd.key, bytes: odd.bytes, options: { class: "bogus" as "normal" } },
      { key: fresh.key, bytes: fresh.bytes },
    ]);
    assert.equal((oddPuts[0] as StoreError).code, "RECORD_INVALID");
    assert.match((oddPuts[0] as Error).message, /class "bogus" is not one of/);
    assert.equal("status" in oddPuts[1] && oddPuts[1].status, "renewed");
    assert.equal(store.getRecord(odd.key), undefined);
    await store.close();
    await rejects(
      store.putRecords([{ key: fresh.key, bytes: fresh.bytes }]),
      "STORE_UNUSABLE",
      /closed/,
    );
  });
});

Deno.test("putRecords yields to the event loop while it verifies a long batch", async () => {
  await withTempDir(async (directory) => {
    let ticks = 0;
    const ticking = setInterval(() => ticks++, 0);
    const ticksAtVerify: number[] = [];
    // Each verify takes 5 ms: 20 of them are 100 ms without a write, five slices of 20 ms.
    const slow: RecordRules<VerifiedDhtRecord> = {
      ...recordRules,
      verify(key, bytes, held, nowMs) {
        const until = performance.now() + 5;
        while (performance.now() < until) { /* a slow signature check */ }
        ticksAtVerify.push(ticks);
        return recordRules.verify(key, bytes, held, nowMs);
      },
    };
    const { store } = openStore(directory, { rules: slow });
    try {
      const records = Array.from({ length: 20 }, (_, index) => immutable(`slow ${index}`));
      const results = await store.putRecords(records);
      assert.ok(results.every((result) => "status" in result && result.status === "stored"));
      assert.ok(
        ticksAtVerify[19] > ticksAtVerify[0],
        `timers ran between verifications: ${ticksAtVerify.join(",")}`,
      );
    } finally {
      clearInterval(ticking);
      await store.close();
    }
  });
});

Deno.test("sets merge by union, one entry per writer, within their bound", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory);
    const expiresAtS = startMs / 1000 + 86_400;
    const a = votes([{ writer: alice, seq: 1, expiresAtS, direction: 1 }]);
    const b = votes([{ writer: bob, seq: 1, expiresAtS, direction: -1 }]);
    await store.putRecord(a.key, a.bytes);
    assert.equal((await store.putRecord(b.key, b.bytes)).status, "replaced");
    assert.equal(entryCount(store.getRecord(a.key)!.value), 2, "alice's and bob's entries");

    // Alice changes her vote: her higher sequence replaces her entry, bob's stays.
    const changed = votes([{ writer: alice, seq: 2, expiresAtS, direction: -1 }]);
    await store.putRecord(changed.key, changed.bytes);
    const merged = decodeStoredRecord(store.getRecord(a.key)!.value);
    assert.equal(merged.kind, RecordKind.set);
    if (merged.kind !== RecordKind.set) return;
    assert.deepEqual(merged.entries.map((entry) => entry.seq).sort(), [1, 2]);
    assert.equal(merged.policy.entriesMax, votesAddress.policy.entriesMax);

    // Re-sending what is held adds nothing.
    assert.equal((await store.putRecord(a.key, a.bytes)).status, "renewed");

    // A forged entry is refused even beside valid ones.
    const forged = votes([
      { writer: alice, seq: 3, expiresAtS, direction: 1 },
      { writer: bob, seq: 2, expiresAtS, direction: 1 },
    ]);
    forged.bytes[forged.bytes.length - 1] ^= 1;
    await rejects(store.putRecord(a.key, forged.bytes), "RECORD_INVALID", /signature/);
    await store.close();
  });
});

Deno.test("a set over its entry bound keeps the entries that expire last", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory);
    // The global "recent" index: many entries per writer, at most 400. Alice's 201 entries and
    // bob's 200 interleave by expiry; together they are one over the bound, and the one that
    // expires first (alice's earliest) goes.
    const address = recentIndex();
    const entriesMax = address.policy.entriesMax;
    const baseS = startMs / 1000;
    const entry = (writer: typeof alice, index: number): TestEntry<"recent"> => {
      const thread = immutable(`thread ${index}`).key;
      return {
        writer,
        seq: entrySeqOf(thread),
        expiresAtS: baseS + 1000 + index,
        value: { thread, createdMs: startMs },
      };
    };
    const indices = Array.from({ length: entriesMax + 1 }, (_, index) => index);
    const first = indexSet(address, indices.filter((i) => i % 2 === 0).map((i) => entry(alice, i)));
    const second = indexSet(address, indices.filter((i) => i % 2 === 1).map((i) => entry(bob, i)));
    await store.putRecord(address.key, encodeRecord(first));
    await store.putRecord(address.key, encodeRecord(second));
    const held = decodeStoredRecord(store.getRecord(address.key)!.value);
    if (held.kind !== RecordKind.set) throw new Error("not a set");
    assert.deepEqual(
      held.entries.map((e) => e.expiresAtS - baseS).sort((x, y) => x - y),
      indices.slice(1).map((i) => 1000 + i),
    );
    await store.close();
  });
});

Deno.test("TTL classes: defaults by class, a cap on TTLs, puts never shorten", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory);
    const normal = immutable("normal");
    const personal = immutable("personal");
    const popular = immutable("popular");
    await store.putRecord(normal.key, normal.bytes);
    await store.putRecord(personal.key, personal.bytes, { published: true });
    await store.putRecord(popular.key, popular.bytes, { class: "popular", ttlMs: 1e12 });
    const classes = defaultClasses;
    assert.equal(store.getRecord(normal.key)?.expiresAtMs, startMs + classes.normal.ttl_s * 1000);
    assert.equal(store.getRecord(personal.key)?.class, "personal");
    assert.equal(store.getRecord(personal.key)?.published, true);
    assert.equal(
      store.getRecord(personal.key)?.expiresAtMs,
      startMs + classes.personal.ttl_s * 1000,
    );
    assert.equal(
      store.getRecord(popular.key)?.expiresAtMs,
      startMs + classes.popular.ttl_max_s * 1000,
      "a TTL beyond the class's cap is cut to it",
    );
    // A shorter TTL later leaves the expiry where it was.
    await store.putRecord(normal.key, normal.bytes, { ttlMs: 1000 });
    assert.equal(store.getRecord(normal.key)?.expiresAtMs, startMs + classes.normal.ttl_s * 1000);
    // The class sticks to the record until changed.
    await store.putRecord(popular.key, popular.bytes);
    assert.equal(store.getRecord(popular.key)?.class, "popular");
    assert.equal(await store.setClass(popular.key, "active"), true);
    assert.equal(store.getRecord(popular.key)?.class, "active");
    assert.equal(store.stats().byClass.active.records, 1);
    assert.equal(store.stats().byClass.popular.records, 0);
    assert.equal(await store.setClass(immutable("absent").key, "active"), false);
    await store.close();
  });
});

Deno.test("activity extends a record's life by its class's extension, up to the cap", async () => {
  await withTempDir(async (directory) => {
    const classes = {
      ...defaultClasses,
      normal: { ttl_s: 3600, extension_s: 1800, ttl_max_s: 7200, retention_s: 0 },
    };
    const { store, clock } = openStore(directory, { classes });
    const { key, bytes } = immutable("hot");
    await store.putRecord(key, bytes);
    clock.advanceBy(3000_000); // 50 min: 10 min left
    assert.equal(await store.touch(key), true);
    assert.equal(store.getRecord(key)?.expiresAtMs, clock.nowMs() + 1800_000);
    assert.equal(store.getRecord(key)?.activityMs, clock.nowMs());
    clock.advanceBy(1700_000);
    assert.equal(await store.touch(key), true);
    assert.equal(store.getRecord(key)?.expiresAtMs, clock.nowMs() + 1800_000);
    clock.advanceBy(1700_000);
    assert.equal(await store.touch(key), true);
    assert.equal(store.getRecord(key)?.expiresAtMs, startMs + 7200_000, "capped at ttl_max_s");
    clock.advanceBy(7200_000);
    assert.equal(store.getRecord(key), undefined, "expired");
    assert.equal(await store.touch(key), false, "an expired record is not revived");
    await store.close();
  });
});

Deno.test("the sweep removes expired records in batches and counts them", async () => {
  await withTempDir(async (directory) => {
    const { store, clock } = openStore(directory);
    const short = Array.from({ length: 2500 }, (_, i) => immutable(`short ${i}`));
    const long = immutable("long");
    await Promise.all(short.map((r) => store.putRecord(r.key, r.bytes, { ttlMs: hourMs })));
    await store.putRecord(long.key, long.bytes, { ttlMs: 2 * dayMs });
    clock.advanceBy(2 * hourMs);
    assert.equal(store.getRecord(short[0].key), undefined, "expired reads as absent at once");
    const listed = [...store.values()];
    assert.equal(listed.length, 2501, "values() lists expired records until swept");
    assert.equal(listed.filter((held) => held.expiresAtMs > clock.nowMs()).length, 1);

    // Reads go on between the sweep's batches (three here): the event loop turns while it runs.
    let sweepDone = false;
    const sweeping = store.sweep().finally(() => (sweepDone = true));
    let readsDuringSweep = 0;
    for (let turn = 0; turn < 10_000 && !sweepDone; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (!sweepDone && store.getRecord(long.key)) readsDuringSweep++;
    }
    assert.equal(await sweeping, 2500);
    assert.ok(readsDuringSweep > 0, "no read was served while the sweep ran");
    const stats = store.stats();
    assert.equal(stats.values, 1);
    assert.equal(stats.expired, 2500);
    assert.equal(await store.sweep(), 0);
    await store.close();
  });
});

Deno.test("over quota, expired records go first, then the lowest class, longest unread first", async () => {
  await withTempDir(async (directory) => {
    const classes = {
      ...defaultClasses,
      normal: { ttl_s: 86400, extension_s: 3600, ttl_max_s: 604800, retention_s: 0 },
      active: { ttl_s: 86400, extension_s: 3600, ttl_max_s: 604800, retention_s: 0 },
    };
    const quota = { bytesMax: 1 << 30, recordsMax: 4 };
    const { store, clock } = openStore(directory, { classes, quota });
    const expiring = immutable("expiring");
    const oldNormal = immutable("old normal");
    const newNormal = immutable("new normal");
    const active = immutable("active");
    await store.putRecord(expiring.key, expiring.bytes, { ttlMs: 1000 });
    await store.putRecord(oldNormal.key, oldNormal.bytes);
    await store.putRecord(active.key, active.bytes, { class: "active" });
    clock.advanceBy(hourMs);
    await store.putRecord(newNormal.key, newNormal.bytes);

    const fifth = immutable("fifth");
    assert.equal((await store.putRecord(fifth.key, fifth.bytes)).evicted, 1);
    assert.equal(store.getRecord(expiring.key), undefined, "the expired record went first");
    assert.ok(store.getRecord(oldNormal.key));

    const sixth = immutable("sixth");
    await store.putRecord(sixth.key, sixth.bytes);
    assert.equal(store.getRecord(oldNormal.key), undefined, "then the longest-unread normal one");
    assert.ok(store.getRecord(newNormal.key));
    assert.ok(store.getRecord(active.key), "active outranks normal");
    assert.equal(store.stats().evicted, 2);
    assert.equal(store.stats().values, 4);
    await store.close();
  });
});

Deno.test("a custom score decides among records outside their retention", async () => {
  await withTempDir(async (directory) => {
    const classes = {
      ...defaultClasses,
      normal: { ...defaultClasses.normal, retention_s: 0 },
    };
    const keep = immutable("keep me");
    const { store } = openStore(directory, {
      classes,
      quota: { bytesMax: 1 << 30, recordsMax: 2 },
      score: (meta) => (meta.bytes === keep.bytes.length ? 10 : 0),
    });
    const other = immutable("other record");
    await store.putRecord(keep.key, keep.bytes);
    await store.putRecord(other.key, other.bytes);
    const third = immutable("third record");
    await store.putRecord(third.key, third.bytes);
    assert.ok(store.getRecord(keep.key), "the higher score stays though it is older");
    assert.equal(store.getRecord(other.key), undefined);
    await store.close();
  });
});

Deno.test("records inside their retention are never evicted: the write is refused", async () => {
  await withTempDir(async (directory) => {
    const quota = { bytesMax: 1 << 30, recordsMax: 2 };
    const { store, clock } = openStore(directory, { quota });
    const a = immutable("a");
    const b = immutable("b");
    await store.putRecord(a.key, a.bytes);
    await store.putRecord(b.key, b.bytes);
    const c = immutable("c");
    await rejects(
      store.putRecord(c.key, c.bytes),
      "STORE_FULL",
      /full \(2 of 2 records.*guaranteed retention/,
    );
    assert.equal(store.stats().refused.full, 1);
    assert.equal(store.getRecord(c.key), undefined);
    assert.ok(store.getRecord(a.key) && store.getRecord(b.key), "nothing changed");
    // Renewing a held record needs no room.
    assert.equal((await store.putRecord(a.key, a.bytes)).status, "renewed");
    // Once the retention (1 h for normal) has passed, the oldest goes.
    clock.advanceBy(defaultClasses.normal.retention_s * 1000);
    assert.equal((await store.putRecord(c.key, c.bytes)).evicted, 1);
    assert.ok(store.getRecord(c.key));
    await store.close();
  });
});

Deno.test("the byte budget counts record bytes plus the per-record overhead", async () => {
  await withTempDir(async (directory) => {
    const classes = { ...defaultClasses, normal: { ...defaultClasses.normal, retention_s: 0 } };
    const records = Array.from({ length: 5 }, (_, i) => immutable(`${i}`.repeat(1000)));
    const each = records[0].bytes.length + recordOverheadBytes;
    // 100 bytes of headroom keep the 1% eviction slack below one record.
    const quota = { bytesMax: 3 * each + 100, recordsMax: 1000 };
    const { store, clock } = openStore(directory, { classes, quota });
    for (const record of records) {
      await store.putRecord(record.key, record.bytes);
      clock.advanceBy(1000);
    }
    const stats = store.stats();
    assert.ok(stats.quotaBytes <= quota.bytesMax, `${stats.quotaBytes} ≤ ${quota.bytesMax}`);
    assert.equal(stats.values, 3);
    assert.ok(store.getRecord(records[4].key));
    assert.equal(store.getRecord(records[0].key), undefined);
    await store.close();
  });
});

Deno.test("a record that fails its integrity check is quarantined, reported, not served", async () => {
  await withTempDir(async (directory) => {
    const { store, path, options } = openStore(directory);
    const damaged = immutable("to be damaged");
    const intact = immutable("intact");
    await store.putRecord(damaged.key, damaged.bytes);
    await store.putRecord(intact.key, intact.bytes);
    await store.close();

    // Bit rot: change the stored bytes behind the store's back.
    const raw = open({ path, noSubdir: true, maxDbs: 8 });
    const records = raw.openDB<Uint8Array, Uint8Array>({
      name: "records",
      encoding: "binary",
      keyEncoding: "binary",
    });
    const rotten = damaged.bytes.slice();
    rotten[rotten.length - 1] ^= 0x40;
    await records.put(damaged.key.toBytes(), rotten);
    await raw.close();

    const reopened = RecordStore.open(options);
    const listed = [...reopened.values()];
    assert.equal(listed.length, 2, "the walk lists both: it reads metadata only");
    assert.equal(reopened.stats().integrityFailures, 0, "and hashes nothing");
    const damagedListed = listed.find((record) => record.key.equals(damaged.key))!;
    assert.throws(() => damagedListed.value, /failed its integrity check/);
    assert.equal(reopened.getRecord(damaged.key), undefined);
    assert.equal(reopened.stats().integrityFailures, 1);
    assert.ok(reopened.getRecord(intact.key));
    await reopened.close(); // waits for the quarantine write

    const inspected = RecordStore.open(options);
    const quarantined = inspected.quarantined();
    assert.equal(quarantined.length, 1);
    assert.ok(quarantined[0].key.equals(damaged.key));
    assert.match(quarantined[0].reason, /integrity hash/);
    assertBytes(quarantined[0].bytes, rotten);
    assert.equal(inspected.stats().quarantined, 1);
    assert.equal(inspected.stats().values, 1, "the damaged record left the counts");
    // A verified copy from the network repairs it.
    assert.equal((await inspected.putRecord(damaged.key, damaged.bytes)).status, "stored");
    assert.ok(inspected.getRecord(damaged.key));
    await inspected.close();
  });
});

Deno.test("a reopened store has its records and counts", async () => {
  await withTempDir(async (directory) => {
    const first = openStore(directory);
    const records = [immutable("x"), mutable(7), immutable("y")];
    for (const record of records) await first.store.putRecord(record.key, record.bytes);
    const stats = first.store.stats();
    await first.store.close();
    const second = openStore(directory);
    for (const record of records) {
      assertBytes(second.store.getRecord(record.key)?.value, record.bytes);
    }
    assert.deepEqual(second.store.stats(), stats);
    await second.store.close();
  });
});

Deno.test("the DHT's view: put reports durability through its callback, values() walks all", async () => {
  await withTempDir(async (directory) => {
    const { store, clock } = openStore(directory);
    const { key, bytes } = immutable("via the DHT");
    const [error, written] = await new Promise<[Error?, ValueWritten?]>((resolve) =>
      store.put(
        { key, value: bytes, ttlMs: hourMs, published: true },
        (error, written) => resolve([error, written]),
      )
    );
    assert.equal(error, undefined);
    assert.deepEqual(written, { value: bytes, expiresAtMs: clock.nowMs() + hourMs });
    assert.equal(store.get(key)?.expiresAtMs, clock.nowMs() + hourMs);
    assert.equal(store.get(key)?.published, true);
    // A network write asking for more than the class's ttl_s gets ttl_s (personal: published).
    await new Promise((resolve) =>
      store.put({ key, value: bytes, ttlMs: 1e12, published: true }, resolve)
    );
    assert.equal(
      store.get(key)?.expiresAtMs,
      clock.nowMs() + defaultClasses.personal.ttl_s * 1000,
    );
    const refused = await new Promise<Error | undefined>((resolve) =>
      store.put({ key, value: immutable("another").bytes, published: false }, resolve)
    );
    assert.match(String(refused), /does not belong under this key/);
    assert.equal([...store.values()].length, 1);
    store.delete(key);
    await store.close();
    const reopened = openStore(directory);
    assert.equal(reopened.store.get(key), undefined, "delete committed before close");
    await reopened.store.close();
  });
});

Deno.test("open and use errors are one line with STORE_UNUSABLE", async () => {
  await withTempDir(async (directory) => {
    await Deno.writeTextFile(`${directory}/file`, "");
    assert.throws(
      () => openStore(`${directory}/file`),
      (error: unknown) =>
        error instanceof RhizomeError && error.code === "STORE_UNUSABLE" &&
        /Cannot open the record store .*records\.mdb/.test(error.message),
    );
    assert.throws(
      () => openStore(directory, { readOnly: true }),
      (error: unknown) => error instanceof RhizomeError && error.code === "STORE_UNUSABLE",
      "read-only needs an existing store",
    );

    const raw = open({ path: `${directory}/records.mdb`, noSubdir: true, maxDbs: 8 });
    raw.openDB({ name: "info", encoding: "string" }).putSync("format", "someone-else/9");
    await raw.close();
    assert.throws(
      () => openStore(directory),
      (error: unknown) =>
        error instanceof RhizomeError && error.code === "STORE_UNUSABLE" &&
        /format is "someone-else\/9", this build reads rhizome-store\/2/.test(error.message),
    );
    {
      const old = open({ path: `${directory}/records.mdb`, noSubdir: true, maxDbs: 8 });
      old.openDB({ name: "info", encoding: "string" }).putSync("format", "rhizome-store/1");
      await old.close();
    }
    assert.throws(
      () => openStore(directory),
      (error: unknown) =>
        error instanceof RhizomeError && error.code === "STORE_UNUSABLE" &&
        error.message.endsWith(
          "records.mdb: it holds record format 1 (rhizome-store/1), this rhizome reads format 2 " +
            "(rhizome-store/2): move it aside and start fresh",
        ),
    );
  });
  await withTempDir(async (directory) => {
    const { store } = openStore(directory);
    await store.close();
    assert.throws(() => store.getRecord(NodeId.fromBytes(new Uint8Array(20))), /closed/);
    await rejects(
      store.putRecord(immutable("late").key, immutable("late").bytes),
      "STORE_UNUSABLE",
      /closed/,
    );
  });
});

Deno.test("a read-only store refuses writes", async () => {
  await withTempDir(async (directory) => {
    const writer = openStore(directory);
    const { key, bytes } = immutable("shared");
    await writer.store.putRecord(key, bytes);
    const reader = openStore(directory, { readOnly: true });
    assertBytes(reader.store.getRecord(key)?.value, bytes);
    await rejects(reader.store.putRecord(key, bytes), "STORE_UNUSABLE", /read-only/);
    await reader.store.close();
    await writer.store.close();
  });
});

Deno.test("a second process reads the store read-only while the owner writes", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory);
    const first = Array.from({ length: 50 }, (_, i) => immutable(`first ${i}`));
    for (const record of first) await store.putRecord(record.key, record.bytes);
    const reader = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-read",
        "--allow-env",
        "--allow-ffi",
        new URL("./_read_only_reader.ts", import.meta.url).pathname,
        `${directory}/records.mdb`,
        first[0].key.toHex(),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const lines = reader.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const readLine = async () => {
        let text = "";
        while (!text.includes("\n")) {
          const { value, done } = await lines.read();
          if (done) throw new Error(`reader ended early: ${text}`);
          text += value;
        }
        return JSON.parse(text.trim());
      };
      const before = await readLine();
      assert.equal(before.values, 50);
      assert.equal(before.found, true);
      assert.equal(before.writeError, "STORE_UNUSABLE");

      // The owner keeps writing; the reader sees the new records on its next look.
      const more = Array.from({ length: 25 }, (_, i) => immutable(`more ${i}`));
      for (const record of more) await store.putRecord(record.key, record.bytes);
      const writerStdin = reader.stdin.getWriter();
      await writerStdin.write(new TextEncoder().encode("again\n"));
      const after = await readLine();
      assert.equal(after.values, 75);
      await writerStdin.close();
      await lines.cancel();
      const status = await reader.status;
      assert.equal(
        status.code,
        0,
        new TextDecoder().decode((await reader.stderr.getReader().read()).value),
      );
    } finally {
      try {
        reader.kill("SIGKILL");
      } catch {
        // Already ended.
      }
      await reader.stderr.cancel().catch(() => {});
      await store.close();
    }
  });
});
