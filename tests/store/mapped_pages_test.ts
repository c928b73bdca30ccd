/**
 * Releasing a read-only store's mapped pages: a walk over a store four times the release bound
 * keeps the process's file-backed resident memory bounded and reads every record intact, while
 * the same walk through a plain read-only LMDB handle maps the whole file (so the measure is
 * sound on this machine). Linux only: elsewhere nothing is released and the tests say so.
 */

import assert from "node:assert/strict";
import { open } from "lmdb";
import { join } from "node:path";
import {
  decodeStoredRecord,
  encodeRecord,
  recordKey,
  RecordKind,
} from "../../src/content/records.ts";
import { MappedFilePages } from "../../src/store/mapped_pages.ts";
import { withTempDir } from "../_rhizome.ts";
import { openStore } from "./_store.ts";

/** Records in the store: each takes two 4 KiB pages, so the file is about 64 MiB. */
const RECORDS = 8_000;
const PAYLOAD_BYTES = 4_100;
const MIB = 1024 * 1024;

const linux = Deno.build.os === "linux";

/** This process's resident file-backed memory (`RssFile`), in bytes. */
async function residentFileBytes(): Promise<number> {
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${Deno.pid}/status`],
    stdout: "piped",
  }).output();
  const kb = /^RssFile:\s+(\d+) kB/m.exec(new TextDecoder().decode(stdout))?.[1];
  assert.ok(kb, "RssFile is in /proc/<pid>/status");
  return Number(kb) * 1024;
}

function payloadOf(bytes: Uint8Array): Uint8Array {
  const record = decodeStoredRecord(bytes);
  assert.equal(record.kind, RecordKind.immutable);
  return record.payload;
}

/** Fills a store with {@link RECORDS} records whose payloads start with their index. */
async function buildStore(directory: string): Promise<string> {
  const { store, path } = openStore(directory);
  for (let start = 0; start < RECORDS; start += 1_000) {
    const puts: Promise<unknown>[] = [];
    for (let index = start; index < start + 1_000; index++) {
      const payload = new Uint8Array(PAYLOAD_BYTES).fill(index & 0xff);
      new DataView(payload.buffer).setUint32(0, index);
      const record = { kind: RecordKind.immutable, payload } as const;
      puts.push(store.putRecord(recordKey(record), encodeRecord(record)));
    }
    await Promise.all(puts);
  }
  await store.close();
  return path;
}

Deno.test({
  name: "mapped pages: a read-only walk holds a bounded part of the file resident",
  ignore: !linux,
  async fn() {
    await withTempDir(async (directory) => {
      const path = await buildStore(directory);
      assert.ok((await Deno.stat(path)).size >= 60 * MIB);

      const { store } = openStore(directory, { readOnly: true });
      const before = await residentFileBytes();
      let peak = before;
      const view = store.readTransactionSnapshot(Date.now());
      let seen = 0;
      try {
        for (const record of { [Symbol.iterator]: () => view.walk() }) {
          assert.equal(payloadOf(record.bytes).length, PAYLOAD_BYTES);
          seen++;
          if (seen % 1_000 === 0) peak = Math.max(peak, await residentFileBytes());
        }
      } finally {
        view.close();
        await store.close();
      }
      assert.equal(seen, RECORDS);
      assert.equal(view.damaged, 0);
      const growth = peak - before;
      assert.ok(growth < 24 * MIB, `resident file memory grew by ${growth / MIB} MiB`);

      // The same walk without releasing maps the whole file: the bound above is the release's.
      const raw = open({ path, noSubdir: true, readOnly: true, maxDbs: 8 })
        .openDB<Uint8Array, Uint8Array>({
          name: "records",
          encoding: "binary",
          keyEncoding: "binary",
        });
      const rawBefore = await residentFileBytes();
      let rawSeen = 0;
      for (const { value } of raw.getRange()) if (value.length > 0) rawSeen++;
      const rawGrowth = (await residentFileBytes()) - rawBefore;
      assert.equal(rawSeen, RECORDS);
      assert.ok(rawGrowth > 48 * MIB, `a plain walk grew by only ${rawGrowth / MIB} MiB`);
    });
  },
});

Deno.test({
  name: "mapped pages: records read after a release are intact",
  ignore: !linux,
  async fn() {
    await withTempDir(async (directory) => {
      await buildStore(directory);
      const { store, path } = openStore(directory, { readOnly: true });
      try {
        const pages = MappedFilePages.open(path);
        assert.ok(pages, "releasing is possible on Linux");
        const view = store.readTransactionSnapshot(Date.now());
        try {
          const indexes = new Set<number>();
          const walk = view.walk();
          for (let next = walk.next(); !next.done; next = walk.next()) {
            // After every record: each next read maps its pages again.
            assert.ok(pages.release() > 0, "the store's mapping is found");
            const payload = payloadOf(next.value.bytes);
            const index = new DataView(payload.buffer, payload.byteOffset).getUint32(0);
            assert.equal(payload[PAYLOAD_BYTES - 1], index & 0xff);
            indexes.add(index);
            if (indexes.size === 200) break;
          }
          assert.equal(indexes.size, 200);
        } finally {
          view.close();
        }
      } finally {
        await store.close();
      }
    });
  },
});

Deno.test({
  name: "mapped pages: an absent file gives no releaser; a file not mapped releases nothing",
  ignore: !linux,
  async fn() {
    await withTempDir(async (directory) => {
      assert.equal(MappedFilePages.open(join(directory, "absent.mdb")), undefined);
      const plainFile = join(directory, "plain.bin");
      await Deno.writeFile(plainFile, new Uint8Array(8192));
      const pages = MappedFilePages.open(plainFile);
      assert.ok(pages);
      assert.equal(pages.release(), 0);
    });
  },
});
