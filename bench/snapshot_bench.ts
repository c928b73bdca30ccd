/**
 * Snapshot export, verify and import rates, beside a raw LMDB scan of the same store in the same
 * run: the scan is the floor an export cannot beat (it reads the same records), so the ratios
 * `deno task bench` prints are what framing, signing, hashing and gzip cost on top of reading,
 * what a `verify` costs (gunzip, hash, signature, every record checked), and what an import costs
 * (a verify, then a second read whose records go through the store's validated puts).
 *
 * Two stores, each of {@link RECORDS} records of about 1 KiB, built once outside the timings:
 * - `raw`: immutable records whose check is a hash of their bytes;
 * - `signed`: messages of a discussion (authored documents, `docs/records.md`) by 16 authors,
 *   each checked with an Ed25519 signature, as most records of a real node's store are.
 *
 * Every bench handles a whole store, so records/s is {@link RECORDS} divided by a bench's time,
 * and MB/s the store's record bytes (printed in the bench names) divided by it. An import goes
 * into a fresh data dir each time, removed untimed. Everything lives in one temporary directory,
 * removed when the run ends.
 *
 * @module
 */

import { join } from "node:path";
import { open } from "lmdb";
import { resolveConfig } from "../src/core/config.ts";
import { ed25519KeyPairFromSecretKey } from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";
import { SystemClock } from "../src/core/system_clock.ts";
import { docRecord, signMessage } from "../src/content/documents.ts";
import {
  encodeRecord,
  type ImmutableRecord,
  recordKey,
  RecordKind,
} from "../src/content/records.ts";
import { DataDir } from "../src/node/data_dir/paths.ts";
import { openDataDirStore } from "../src/node/data_dir/store.ts";
import { createIdentity } from "../src/node/data_dir/identity_file.ts";
import { exportSnapshot } from "../src/node/snapshot_export.ts";
import { importSnapshot, verifySnapshot } from "../src/node/snapshot_import.ts";

/** Records in each store. */
const RECORDS = 20_000;
/** Payload bytes of a raw record, and body characters of a message. */
const PAYLOAD_BYTES = 1024;
/** Concurrent puts while building a store (LMDB commits one event-loop turn's together). */
const BUILD_BATCH = 1_000;
/** Authors of the signed store's messages. */
const AUTHORS = 16;

const { config } = resolveConfig({});
const dir = Deno.makeTempDirSync({ prefix: "rhizome-snapshot-bench-" });

globalThis.addEventListener("unload", () => {
  // As in store_bench.ts: the LMDB environments are left to the process's exit.
  Deno.removeSync(dir, { recursive: true });
});

/** The `index`-th raw record. */
function rawRecord(index: number): ImmutableRecord {
  const payload = new Uint8Array(PAYLOAD_BYTES).map((_, i) => (i * 131 + 7) & 0xff);
  new DataView(payload.buffer).setFloat64(0, index);
  return { kind: RecordKind.immutable, payload };
}

const authors = Array.from(
  { length: AUTHORS },
  (_, index) => ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(index + 1)),
);
const thread = NodeId.fromBytes(new Uint8Array(20).fill(7));
const body = "a".repeat(PAYLOAD_BYTES);
const startedMs = Date.now();

/** The `index`-th signed message. */
function messageRecord(index: number): ImmutableRecord {
  return docRecord(signMessage(authors[index % AUTHORS], {
    createdMs: startedMs - index,
    thread,
    parent: thread,
    body,
  }));
}

/** Builds a data dir whose store holds {@link RECORDS} records; returns it and their bytes. */
async function build(name: string, record: (index: number) => ImmutableRecord) {
  const source = new DataDir(join(dir, name));
  await source.create();
  await createIdentity(source.identityPath, { created: new Date().toISOString() });
  const store = openDataDirStore(source, {
    clock: new SystemClock(),
    classes: config.store,
    quota: { bytesMax: 1024 ** 3, recordsMax: 10_000_000 },
  });
  let bytes = 0;
  for (let start = 0; start < RECORDS; start += BUILD_BATCH) {
    const puts: Promise<unknown>[] = [];
    for (let index = start; index < Math.min(RECORDS, start + BUILD_BATCH); index++) {
      const built = record(index);
      const encoded = encodeRecord(built);
      bytes += encoded.length;
      puts.push(store.putRecord(recordKey(built), encoded));
    }
    await Promise.all(puts);
  }
  await store.close();
  return { source, bytes };
}

for (const [name, record] of [["raw", rawRecord], ["signed", messageRecord]] as const) {
  const { source, bytes } = await build(name, record);
  const snapshotPath = join(dir, `${name}.snapshot.gz`);
  const label = `${name}: ${RECORDS} × 1 KiB, ${(bytes / 1e6).toFixed(1)} MB`;
  const group = `snapshot (${name})`;
  const raw = open({ path: source.recordsPath, noSubdir: true, readOnly: true, maxDbs: 8 })
    .openDB<Uint8Array, Uint8Array>({ name: "records", encoding: "binary", keyEncoding: "binary" });

  /** The file the export bench wrote, or one made here when a bench runs alone (`--filter`). */
  const ensureSnapshot = async () => {
    if (await Deno.stat(snapshotPath).catch(() => undefined)) return;
    await exportSnapshot({
      dataDir: source,
      classes: config.store,
      out: snapshotPath,
      scope: "all",
    });
  };

  Deno.bench({
    name: `raw lmdb scan of records (${label})`,
    group,
    baseline: true,
    n: 20,
    fn() {
      let count = 0;
      for (const { value } of raw.getRange()) {
        if (value.length > 0) count++;
      }
      if (count < RECORDS) throw new Error(`scanned ${count} records, expected ${RECORDS}`);
    },
  });

  Deno.bench({
    name: `snapshot export to a file (${label})`,
    group,
    n: 10,
    async fn() {
      const summary = await exportSnapshot({
        dataDir: source,
        classes: config.store,
        out: snapshotPath,
        scope: "all",
      });
      if (summary.records !== RECORDS) throw new Error(`exported ${summary.records} records`);
    },
  });

  Deno.bench({
    name: `snapshot verify (${label})`,
    group,
    n: 5,
    async fn() {
      await ensureSnapshot();
      const summary = await verifySnapshot(snapshotPath);
      if (summary.records !== RECORDS) throw new Error(`verified ${summary.records} records`);
    },
  });

  let imports = 0;
  Deno.bench({
    name: `snapshot import into a fresh data dir (${label})`,
    group,
    n: 3,
    async fn(b) {
      await ensureSnapshot();
      const target = join(dir, `${name}-import-${imports++}`);
      b.start();
      const summary = await importSnapshot({
        dataDir: new DataDir(target),
        config,
        path: snapshotPath,
      });
      b.end();
      if (summary.imported !== RECORDS) throw new Error(`imported ${summary.imported} records`);
      await Deno.remove(target, { recursive: true });
    },
  });
}
