/**
 * Snapshot export and import rates, beside a raw LMDB scan of the same store in the same run:
 * the scan is the floor an export cannot beat (it reads the same records), so the ratios
 * `deno task bench` prints are what framing, signing, hashing and gzip cost on top of reading,
 * what a `verify` costs (gunzip, hash, signature, every record checked), and what an import costs
 * (a verify, then a second read whose records go through the store's validated puts).
 *
 * The store ({@link RECORDS} immutable records of {@link PAYLOAD_BYTES} payload bytes) is built
 * once, outside the timings. Every bench handles the whole store, so records/s is
 * {@link RECORDS} divided by a bench's time, and MB/s the store's record bytes (printed in the
 * bench names) divided by it. An import goes into a fresh data dir each time, removed untimed.
 *
 * Everything lives in one temporary directory, removed when the run ends.
 *
 * @module
 */

import { join } from "node:path";
import { open } from "lmdb";
import { resolveConfig } from "../src/core/config.ts";
import { SystemClock } from "../src/core/system_clock.ts";
import { recordRules } from "../src/content/record_rules.ts";
import {
  encodeRecord,
  type ImmutableRecord,
  recordKey,
  RecordKind,
} from "../src/content/records.ts";
import { DataDir } from "../src/node/data_dir.ts";
import { createIdentity } from "../src/node/identity_file.ts";
import { exportSnapshot } from "../src/node/snapshot_export.ts";
import { importSnapshot, verifySnapshot } from "../src/node/snapshot_import.ts";
import { RecordStore } from "../src/store/record_store.ts";

/** Records in the store. */
const RECORDS = 20_000;
/** Payload bytes of a record (the encoded record is a few bytes more). */
const PAYLOAD_BYTES = 1024;
/** Concurrent puts while building the store (LMDB commits one event-loop turn's together). */
const BUILD_BATCH = 1_000;

const { config } = resolveConfig({});
const dir = Deno.makeTempDirSync({ prefix: "rhizome-snapshot-bench-" });
const source = new DataDir(join(dir, "source"));
const snapshotPath = join(dir, "bench.snapshot.gz");

globalThis.addEventListener("unload", () => {
  // As in store_bench.ts: the LMDB environments are left to the process's exit.
  Deno.removeSync(dir, { recursive: true });
});

await source.create();
await createIdentity(source.identityPath, { created: new Date().toISOString() });
const building = RecordStore.open({
  path: source.recordsPath,
  rules: recordRules,
  clock: new SystemClock(),
  classes: config.store,
  quota: { bytesMax: 1024 ** 3, recordsMax: 10_000_000 },
});
const filler = new Uint8Array(PAYLOAD_BYTES).map((_, i) => (i * 131 + 7) & 0xff);
let recordBytes = 0;
for (let start = 0; start < RECORDS; start += BUILD_BATCH) {
  const puts: Promise<unknown>[] = [];
  for (let index = start; index < Math.min(RECORDS, start + BUILD_BATCH); index++) {
    const payload = filler.slice();
    new DataView(payload.buffer).setFloat64(0, index);
    const record: ImmutableRecord = { kind: RecordKind.immutable, payload };
    const bytes = encodeRecord(record);
    recordBytes += bytes.length;
    puts.push(building.putRecord(recordKey(record), bytes));
  }
  await Promise.all(puts);
}
await building.close();

const raw = open({ path: source.recordsPath, noSubdir: true, readOnly: true, maxDbs: 8 })
  .openDB<Uint8Array, Uint8Array>({ name: "records", encoding: "binary", keyEncoding: "binary" });

const label = `${RECORDS} × 1 KiB, ${(recordBytes / 1e6).toFixed(1)} MB`;

Deno.bench({
  name: `raw lmdb scan of records (${label})`,
  group: "snapshot",
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
  group: "snapshot",
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

/** The file the export bench wrote, or one made here when a bench runs alone (`--filter`). */
async function ensureSnapshot(): Promise<void> {
  if (await Deno.stat(snapshotPath).catch(() => undefined)) return;
  await exportSnapshot({ dataDir: source, classes: config.store, out: snapshotPath, scope: "all" });
}

Deno.bench({
  name: `snapshot verify (${label})`,
  group: "snapshot",
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
  group: "snapshot",
  n: 3,
  async fn(b) {
    await ensureSnapshot();
    const target = join(dir, `import-${imports++}`);
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
