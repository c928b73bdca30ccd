/**
 * A record store that runs out of room refuses writes with `STORE_FULL` and keeps working: a
 * full quota, a disk below the free space the store keeps (simulated), and a disk that really
 * fills so LMDB's commit fails (a small tmpfs, when the tests run as root). Every write that was
 * acknowledged stays readable, also after reopening; no failure escapes as an unhandled
 * rejection (the test runner fails a test on one).
 */

import assert from "node:assert/strict";
import { bytesEqual } from "../../src/core/bytes.ts";
import { RhizomeError } from "../../src/core/errors.ts";
import { storeDiskFreeBytesMin } from "../../src/core/limits.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { RecordStore } from "../../src/store/record_store.ts";
import { withTempDir } from "../_rhizome.ts";
import { freeBytes, tmpfsUnavailable, withTmpfs } from "../_tmpfs.ts";
import { immutable, openStore } from "./_store.ts";

const tmpfsSkipped = await tmpfsUnavailable();
if (tmpfsSkipped) console.log(`skipping the tmpfs tests of the record store: ${tmpfsSkipped}`);

/** A distinct record of about `bytes` bytes. */
function bulky(index: number, bytes = 40_000): { key: NodeId; bytes: Uint8Array } {
  return immutable(`${index} ${"x".repeat(bytes)}`);
}

function assertFull(error: unknown, pattern: RegExp): true {
  assert.ok(error instanceof RhizomeError, String(error));
  assert.equal(error.code, "STORE_FULL", error.message);
  assert.match(error.message, pattern);
  assert.ok(!error.message.includes("\n"), "one line");
  return true;
}

function assertReadable(store: RecordStore, records: { key: NodeId; bytes: Uint8Array }[]) {
  for (const record of records) {
    const held = store.getRecord(record.key);
    assert.ok(held && bytesEqual(held.value, record.bytes), `${record.key.toHex()} is readable`);
  }
}

Deno.test("a full quota refuses puts with STORE_FULL; every acknowledged record stays readable", async () => {
  await withTempDir(async (directory) => {
    const { store } = openStore(directory, { quota: { bytesMax: 200_000, recordsMax: 1000 } });
    const acknowledged: { key: NodeId; bytes: Uint8Array }[] = [];
    let refused = 0;
    for (let index = 0; index < 10; index++) {
      const record = bulky(index);
      try {
        // Published records are inside their retention: nothing can be evicted for room.
        await store.putRecord(record.key, record.bytes, { published: true });
        acknowledged.push(record);
      } catch (error) {
        assertFull(error, /the store is full/);
        refused++;
      }
    }
    assert.equal(acknowledged.length, 4);
    assert.equal(refused, 6);
    assertReadable(store, acknowledged);
    assert.equal(store.stats().refused.full, refused);
    await store.close();
  });
});

Deno.test("a disk below the store's reserve refuses puts with STORE_FULL; reads and deletes go on", async () => {
  await withTempDir(async (directory) => {
    let diskFreeBytes: number | undefined = 100 * 1024 * 1024;
    const { store } = openStore(directory, { diskFreeBytes: () => diskFreeBytes });
    const kept = bulky(1);
    await store.putRecord(kept.key, kept.bytes);
    const gone = bulky(2);
    await store.putRecord(gone.key, gone.bytes);

    diskFreeBytes = storeDiskFreeBytesMin + 1000;
    const refused = bulky(3);
    await assert.rejects(
      store.putRecord(refused.key, refused.bytes),
      (error) => assertFull(error, /the disk is full \(\d+ bytes free at .*keeps 4194304 free\)/),
    );
    const batch = await store.putRecords([bulky(4), bulky(5)]);
    assert.equal(batch.length, 2);
    for (const result of batch) assertFull(result, /the disk is full/);
    assert.equal(store.getRecord(refused.key), undefined);
    assert.equal(store.stats().refused.full, 3);
    assertReadable(store, [kept, gone]);
    // Deletes free room, so they are never refused for lack of it.
    assert.equal(await store.remove(gone.key), true);

    // Unknown free space checks nothing; room again stores again.
    diskFreeBytes = undefined;
    await store.putRecord(refused.key, refused.bytes);
    diskFreeBytes = 100 * 1024 * 1024;
    const later = bulky(6);
    await store.putRecord(later.key, later.bytes);
    assertReadable(store, [kept, refused, later]);
    assert.equal(store.stats().values, 3);
    await store.close();
  });
});

Deno.test({
  name:
    "a disk that fills up fails LMDB's commit: STORE_FULL, no crash, the store goes on and reopens",
  ignore: tmpfsSkipped !== undefined,
  async fn() {
    await withTmpfs(3 * 1024 * 1024, async (directory) => {
      // No reserve: the writes go on until the disk itself refuses a commit.
      const { store, options } = openStore(directory, { diskFreeBytesMin: 0 });
      const acknowledged: { key: NodeId; bytes: Uint8Array }[] = [];
      let refused = 0;
      for (let index = 0; index < 150 && refused < 5; index++) {
        const record = bulky(index);
        try {
          await store.putRecord(record.key, record.bytes);
          acknowledged.push(record);
        } catch (error) {
          assertFull(error, /Cannot write to the record store .*: the disk (is full|failed)/);
          refused++;
        }
      }
      assert.equal(refused, 5, "the disk filled up");
      assert.ok(acknowledged.length > 10, `${acknowledged.length} records fit`);
      assertReadable(store, acknowledged);
      // The counts are the committed ones, not the failed transactions'.
      assert.equal(store.stats().values, acknowledged.length);
      await store.close();

      const reopened = RecordStore.open(options);
      assertReadable(reopened, acknowledged);
      assert.equal(reopened.stats().values, acknowledged.length);
      await reopened.close();
    });
  },
});

Deno.test({
  name: "with its reserve, a store on a small disk stops short of filling it",
  ignore: tmpfsSkipped !== undefined,
  async fn() {
    await withTmpfs(8 * 1024 * 1024, async (directory) => {
      const { store } = openStore(directory);
      const acknowledged: { key: NodeId; bytes: Uint8Array }[] = [];
      let refused = 0;
      for (let index = 0; index < 200 && refused < 3; index++) {
        const record = bulky(index);
        try {
          await store.putRecord(record.key, record.bytes);
          acknowledged.push(record);
        } catch (error) {
          assertFull(error, /the disk is full .*keeps 4194304 free/);
          refused++;
        }
      }
      assert.equal(refused, 3);
      assert.ok(acknowledged.length > 10, `${acknowledged.length} records fit`);
      // Still room for the node's other files, and for a small write of its own.
      assert.ok(await freeBytes(directory) > storeDiskFreeBytesMin / 2);
      await Deno.writeTextFile(`${directory}/api.json`, "{}\n");
      assertReadable(store, acknowledged);
      await store.close();
    });
  },
});
