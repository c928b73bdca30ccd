/**
 * The record store's cost over the database under it: validated puts and integrity-checked gets
 * of {@link RecordStore}, measured in the same run as the same operations on a raw `lmdb`
 * database, so the ratios `deno task bench` prints are what our layer costs (verification,
 * metadata, the expiry index, quota bookkeeping, SHA-256 on every read).
 *
 * Puts are measured in batches of {@link BATCH} concurrent writes: a put resolves only once its
 * transaction is committed and flushed to disk, and LMDB commits the writes of one event-loop
 * turn together, so one awaited put at a time would measure the disk's flush latency and nothing
 * of ours. A batch is how the node writes under load (many requests in flight); divide a batch's
 * time by {@link BATCH} for the cost of one put. Every put stores a record under a new key (the
 * mutable-update bench: a higher sequence under a held key), as a real put does; the records are
 * made and signed outside the timed part of each iteration (`b.start()`/`b.end()`), so neither
 * encoding nor signing is counted, only the store's own verification. Gets read single records
 * stored beforehand, rotating through the keys.
 *
 * Both databases live in one temporary directory, removed when the run ends.
 *
 * @module
 */

import { open } from "lmdb";
import { resolveConfig } from "../src/core/config.ts";
import { ed25519KeyPairFromSecretKey } from "../src/core/crypto.ts";
import type { NodeId } from "../src/core/node_id.ts";
import { SystemClock } from "../src/core/system_clock.ts";
import { recordRules } from "../src/content/record_rules.ts";
import { profileAboutBytesMax, signProfile } from "../src/content/documents.ts";
import {
  encodeRecord,
  type ImmutableRecord,
  recordKey,
  RecordKind,
} from "../src/content/records.ts";
import { RecordStore } from "../src/store/record_store.ts";

/** Concurrent puts per timed iteration. */
const BATCH = 100;
/** Payload bytes of a record (the encoded record is a few bytes more). */
const PAYLOAD_BYTES = 1024;
/** Records stored before the get benches. */
const GET_KEYS = 2_000;

interface Entry {
  key: NodeId;
  keyBytes: Uint8Array;
  bytes: Uint8Array;
}

const dir = Deno.makeTempDirSync({ prefix: "rhizome-store-bench-" });
const store = RecordStore.open({
  path: `${dir}/store.mdb`,
  rules: recordRules,
  clock: new SystemClock(),
  classes: resolveConfig({}).config.store,
  // Never reached, so no put ever evicts.
  quota: { bytesMax: 1024 ** 3, recordsMax: 10_000_000 },
});
const rawRoot = open({ path: `${dir}/raw.mdb`, noSubdir: true, maxDbs: 8 });
const raw = rawRoot.openDB<Uint8Array, Uint8Array>({
  name: "records",
  encoding: "binary",
  keyEncoding: "binary",
});

globalThis.addEventListener("unload", () => {
  // Nothing is in flight once the benches are done. The environments are left to the process's
  // exit (LMDB is crash-safe): closing them here cannot be awaited, and an exit during the close
  // crashed the native addon (exit 139).
  Deno.removeSync(dir, { recursive: true });
});

// Distinct immutable records: a counter in the first bytes of a fixed pseudo-random payload.
const filler = new Uint8Array(PAYLOAD_BYTES).map((_, i) => (i * 131 + 7) & 0xff);
let made = 0;
function immutableEntry(): Entry {
  const payload = filler.slice();
  new DataView(payload.buffer).setFloat64(0, made++);
  const record: ImmutableRecord = { kind: RecordKind.immutable, payload };
  const key = recordKey(record);
  return { key, keyBytes: key.toBytes(), bytes: encodeRecord(record) };
}
function immutableBatch(): Entry[] {
  return Array.from({ length: BATCH }, immutableEntry);
}

// Mutable records are profiles (the only mutable record the content rules allow), one per
// owner: a new owner for each new key, or a higher sequence for a held one. About 1 KiB each.
const about = "x".repeat(profileAboutBytesMax);
function mutableEntry(ownerIndex: number, seq: number): Entry {
  const secret = new Uint8Array(32);
  new DataView(secret.buffer).setUint32(0, ownerIndex);
  const owner = ed25519KeyPairFromSecretKey(secret);
  const record = signProfile(owner, seq, { name: "bench", about, keys: [], updatedMs: seq });
  const key = recordKey(record);
  return { key, keyBytes: key.toBytes(), bytes: encodeRecord(record) };
}
let owners = BATCH;
function newMutableBatch(): Entry[] {
  return Array.from({ length: BATCH }, () => mutableEntry(owners++, 0));
}
let seq = 0;
function updateBatch(): Entry[] {
  seq++;
  return Array.from({ length: BATCH }, (_, i) => mutableEntry(i, seq));
}

// Records for the gets, in both databases, before any bench runs.
const stored = Array.from({ length: GET_KEYS }, immutableEntry);
await Promise.all(stored.map(({ key, bytes }) => store.putRecord(key, bytes)));
await Promise.all(stored.map(({ keyBytes, bytes }) => raw.put(keyBytes, bytes)));
await rawRoot.flushed;
// The keys the update bench raises the sequence of.
await Promise.all(updateBatch().map(({ key, bytes }) => store.putRecord(key, bytes)));

Deno.bench({
  name: `raw lmdb put ×${BATCH} (1 KiB), flushed`,
  group: "store put",
  baseline: true,
  // Async functions only: deno bench does not await a promise from a plain one.
  async fn(b) {
    const batch = immutableBatch();
    b.start();
    await Promise.all(batch.map(({ keyBytes, bytes }) => raw.put(keyBytes, bytes)));
    await rawRoot.flushed;
    b.end();
  },
});

/** A bench of one batch of `RecordStore.putRecord`, the records made by `next` untimed. */
function storePutBench(what: string, next: () => Entry[]): void {
  Deno.bench({
    name: `RecordStore.putRecord ×${BATCH} (${what})`,
    group: "store put",
    async fn(b) {
      const batch = next();
      b.start();
      await Promise.all(batch.map(({ key, bytes }) => store.putRecord(key, bytes)));
      b.end();
    },
  });
}

storePutBench("1 KiB immutable", immutableBatch);
storePutBench("1 KiB mutable, new key", newMutableBatch);
storePutBench("1 KiB mutable, higher seq", updateBatch);

let nextGet = 0;

Deno.bench({
  name: "raw lmdb getBinary (1 KiB)",
  group: "store get",
  baseline: true,
  fn() {
    const { keyBytes } = stored[nextGet++ % GET_KEYS];
    if (raw.getBinary(keyBytes) === undefined) throw new Error("record missing");
  },
});

Deno.bench({
  name: "RecordStore.getRecord (1 KiB)",
  group: "store get",
  fn() {
    const { key } = stored[nextGet++ % GET_KEYS];
    if (store.getRecord(key) === undefined) throw new Error("record missing");
  },
});
