/**
 * Releasing a read-only store's mapped pages: a walk over a 64 MiB store holds a bounded part of
 * the file resident and reads every record intact, while the same walk through a plain read-only
 * LMDB handle maps the whole file (so the measure is sound on this machine). What is resident is
 * the sum of `Rss` of the store file's own mappings in `/proc/<pid>/smaps`, which counts the
 * file's pages on any file system (tmpfs pages are not in `RssFile`). Linux only.
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
import type { Log } from "../../src/core/log.ts";
import { immutable, openStore } from "./_store.ts";

/** Records in the store: each takes two 4 KiB pages, so the file is about 64 MiB. */
const RECORDS = 8_000;
const PAYLOAD_BYTES = 4_100;
const MIB = 1024 * 1024;

const linux = Deno.build.os === "linux";

/** The bytes of `path` resident in this process: `Rss` of its mappings in smaps. */
async function residentBytesOf(path: string): Promise<number> {
  const real = await Deno.realPath(path);
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${Deno.pid}/smaps`],
    stdout: "piped",
  }).output();
  let inFile = false;
  let kb = 0;
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+ +(.*)$/.exec(line);
    if (mapping) inFile = mapping[1] === real;
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (inFile && rss) kb += Number(rss[1]);
  }
  return kb * 1024;
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
      let peak = 0;
      const view = store.readTransactionSnapshot(Date.now());
      let seen = 0;
      try {
        for (const record of { [Symbol.iterator]: () => view.walk() }) {
          assert.equal(payloadOf(record.bytes).length, PAYLOAD_BYTES);
          seen++;
          if (seen % 1_000 === 0) peak = Math.max(peak, await residentBytesOf(path));
        }
      } finally {
        view.close();
        await store.close();
      }
      assert.equal(seen, RECORDS);
      assert.equal(view.damaged, 0);
      // The same walk without releasing maps the whole file: the bound below is the release's.
      const root = open({ path, noSubdir: true, readOnly: true, maxDbs: 8 });
      let plain = 0;
      try {
        const raw = root.openDB<Uint8Array, Uint8Array>({
          name: "records",
          encoding: "binary",
          keyEncoding: "binary",
        });
        let rawSeen = 0;
        for (const { value } of raw.getRange()) if (value.length > 0) rawSeen++;
        assert.equal(rawSeen, RECORDS);
        plain = await residentBytesOf(path);
      } finally {
        await root.close();
      }
      const mib = (bytes: number) => (bytes / MIB).toFixed(1);
      assert.ok(plain > 48 * MIB, `a plain walk held only ${mib(plain)} MiB resident`);
      // Measured 19–21 MiB here: the kernel maps a fault's cached neighbours too.
      assert.ok(peak < plain / 2, `the walk held ${mib(peak)} MiB, a plain one ${mib(plain)} MiB`);
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
      assert.throws(() => MappedFilePages.open(join(directory, "absent.mdb")), /absent\.mdb/);
      const plainFile = join(directory, "plain.bin");
      await Deno.writeFile(plainFile, new Uint8Array(8192));
      assert.equal(MappedFilePages.open(plainFile).release(), 0);
    });
  },
});

Deno.test({
  name: "mapped pages: a store whose file moved while open warns once that nothing is released",
  ignore: !linux,
  async fn() {
    await withTempDir(async (directory) => {
      const writer = openStore(directory);
      for (let index = 0; index < 300; index++) {
        const { key, bytes } = immutable(`record ${index}`);
        await writer.store.putRecord(key, bytes);
      }
      await writer.store.close();
      const warnings: string[] = [];
      const log = { warning: (message: string) => warnings.push(message) } as unknown as Log;
      const { store, path } = openStore(directory, { readOnly: true, log });
      try {
        await Deno.rename(path, `${path}.moved`);
        assert.equal(store.stats().values, 300);
        assert.equal(store.stats().values, 300);
        assert.equal(warnings.length, 1);
        assert.match(warnings[0], /found no mapping of \{path\} to release/);
      } finally {
        await store.close();
      }
    });
  },
});
