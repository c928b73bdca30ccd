/**
 * The sync service end to end in one process: two memory stores with Rhizome's record rules, the
 * client's requests handed straight to the server. Checks full, incremental and partial syncs,
 * that every record goes through the verifying put (a forged one is refused and counted), that a
 * server cannot widen a partial sync, that bad requests get an error response and change nothing,
 * and that a peer that stops making progress ends the sync with one line.
 */

import assert from "node:assert/strict";
import { VirtualClock } from "../../../src/core/clock.ts";
import { resolveConfig } from "../../../src/core/config.ts";
import { generateEd25519KeyPair } from "../../../src/core/crypto.ts";
import type { RhizomeError } from "../../../src/core/errors.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import { docRecord, signMessage, signThread } from "../../../src/content/documents.ts";
import { encodeRecord, recordKey } from "../../../src/content/records.ts";
import { recordRules } from "../../../src/content/record_rules.ts";
import { MemoryValueStore } from "../../../src/store/memory_value_store.ts";
import {
  decodeResponse,
  encodeResponse,
  runSync,
  SYNC_CATEGORIES,
  type SyncFilter,
  SyncServer,
  SyncType,
} from "../../../src/services/sync/mod.ts";

const nowMs = Date.UTC(2026, 10, 1);
const clock = new VirtualClock(nowMs);
const { config } = resolveConfig();
const author = generateEd25519KeyPair();
const thread = NodeId.fromBytes(new Uint8Array(20).fill(1));

interface Made {
  key: NodeId;
  bytes: Uint8Array;
  createdMs: number;
}

function messages(count: number, offset = 0): Made[] {
  return Array.from({ length: count }, (_, i) => {
    const createdMs = nowMs - 10 * 86_400_000 + (i + offset) * 60_000;
    const doc = signMessage(author, {
      createdMs,
      thread,
      parent: thread,
      body: `post ${i + offset}`,
    });
    const record = docRecord(doc);
    return { key: recordKey(record), bytes: encodeRecord(record), createdMs };
  });
}

function storeOf(records: readonly Made[]): MemoryValueStore {
  const store = new MemoryValueStore({ rules: recordRules, clock, classes: config.store });
  for (const made of records) {
    store.put({ key: made.key, value: made.bytes, published: false }, (error) => {
      if (error) throw error;
    });
  }
  return store;
}

function sync(
  server: MemoryValueStore,
  client: MemoryValueStore,
  options: { filter?: SyncFilter; idBytes?: number } = {},
) {
  const answering = new SyncServer({ store: server, clock });
  return runSync({
    store: client,
    clock,
    exchange: (request) => Promise.resolve(answering.answer("peer", request)),
    session: new Uint8Array(8).fill(3),
    ...options,
  });
}

const all = messages(1500);

Deno.test("runSync() fills an empty store with every record, each verified", async () => {
  const client = storeOf([]);
  const report = await sync(storeOf(all), client);
  assert.equal(report.complete, true);
  assert.equal(report.recordsStored, all.length);
  assert.equal(client.stats().values, all.length);
  for (const made of all) assert.ok(client.get(made.key), "every record is held");
});

Deno.test("runSync() fetches only what is missing, and nothing when in step", async () => {
  const client = storeOf(all.filter((_, i) => i % 50 !== 0));
  const report = await sync(storeOf(all), client, { idBytes: 16 });
  assert.equal(report.recordsStored, 30);
  assert.equal(report.recordsReceived, 30);
  assert.equal(client.stats().values, all.length);
  const again = await sync(storeOf(all), client);
  assert.equal(again.recordsReceived, 0);
  assert.equal(again.rounds, 1);
});

Deno.test("runSync() sends nothing the peer lacks, and counts at most that many", async () => {
  const extra = messages(10, 5000);
  const server = storeOf(all);
  const report = await sync(server, storeOf([...all, ...extra]));
  assert.ok(report.peerLacks <= 10);
  assert.equal(report.recordsReceived, 0);
  assert.equal(server.stats().values, all.length);
});

Deno.test("runSync() with a partial filter moves only the range", async () => {
  const low = new Uint8Array(20);
  const high = new Uint8Array(20).fill(0xff);
  high[0] = 0x3f;
  const inKeys = all.filter((made) => made.key.toBytes()[0] <= 0x3f);
  const keyed = storeOf([]);
  const report = await sync(storeOf(all), keyed, { filter: { keys: { low, high } } });
  assert.equal(report.recordsStored, inKeys.length);
  assert.equal(keyed.stats().values, inKeys.length);

  const fromS = Math.floor(all[1000].createdMs / 1000);
  const windowed = storeOf([]);
  const timed = await sync(storeOf(all), windowed, {
    filter: { time: { fromS, toS: Math.floor(nowMs / 1000) } },
  });
  assert.equal(timed.recordsStored, 500);

  const threadDoc = docRecord(
    signThread(author, { createdMs: nowMs - 1000, title: "t", body: "b", tags: [] }),
  );
  const threadMade = { key: recordKey(threadDoc), bytes: encodeRecord(threadDoc), createdMs: 0 };
  const threadsOnly = storeOf([]);
  const categorised = await sync(storeOf([...all, threadMade]), threadsOnly, {
    filter: { categories: 1 << SYNC_CATEGORIES.indexOf("thread") },
  });
  assert.equal(categorised.recordsStored, 1);
  assert.ok(threadsOnly.get(threadMade.key));
});

Deno.test("runSync() refuses forged records and records outside the filter", async () => {
  const honest = new SyncServer({ store: storeOf(all.slice(0, 5)), clock });
  const forged = all[0].bytes.slice();
  forged[forged.length - 1] ^= 1; // breaks the signature
  const outside = all.find((made) => made.key.toBytes()[0] > 0x10)!;
  const client = storeOf([]);
  let first = true;
  const report = await runSync({
    store: client,
    clock,
    session: new Uint8Array(8),
    filter: { keys: { low: new Uint8Array(20), high: new Uint8Array(20).fill(0x10) } },
    exchange: (request) => {
      if (!first) return Promise.resolve(honest.answer("peer", request));
      first = false;
      return Promise.resolve(encodeResponse({
        type: SyncType.reconciled,
        message: new Uint8Array(0),
        records: [
          { key: all[0].key.toBytes(), bytes: forged },
          { key: outside.key.toBytes(), bytes: outside.bytes },
        ],
      }));
    },
  });
  assert.equal(report.recordsRefused, 2);
  assert.equal(report.recordsStored, 0);
  assert.equal(client.stats().values, 0);
});

Deno.test("SyncServer.answer() answers garbage with an error response", () => {
  const server = new SyncServer({ store: storeOf(all.slice(0, 3)), clock });
  for (
    const bad of [
      new Uint8Array(0),
      new TextEncoder().encode("RHZ\x01"),
      new Uint8Array([0x52, 0x48, 0x53, 9]),
      new Uint8Array([0x52, 0x48, 0x53, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0xff]),
      new Uint8Array([0x52, 0x48, 0x53, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0]),
      new Uint8Array([0x52, 0x48, 0x53, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 5]),
    ]
  ) {
    const response = decodeResponse(server.answer("peer", bad));
    assert.equal(typeof response, "object");
    assert.equal((response as { type: number }).type, SyncType.error);
  }
  assert.equal(server.stats().refused, 6);
});

Deno.test("runSync() gives up on a peer that stops making progress", async () => {
  const client = storeOf(all);
  // Always "my whole range hashes to this": a fingerprint nobody matches, never an ID.
  const endless = new Uint8Array([0, 0, 1, ...new Uint8Array(16).fill(9)]);
  let requests = 0;
  await assert.rejects(
    runSync({
      store: client,
      clock,
      session: new Uint8Array(8),
      exchange: () => {
        requests++;
        return Promise.resolve(
          encodeResponse({ type: SyncType.reconciled, message: endless, records: [] }),
        );
      },
    }),
    (error: RhizomeError) => error.code === "UNAVAILABLE" && /progress/.test(error.message),
  );
  assert.ok(requests <= 5, `${requests} requests`);
});

Deno.test("runSync() refuses bad options before sending anything", async () => {
  let sent = 0;
  const exchange = () => {
    sent++;
    return Promise.resolve(new Uint8Array(0));
  };
  const store = storeOf([]);
  await assert.rejects(
    runSync({ store, clock, exchange, session: new Uint8Array(8), idBytes: 4 }),
    /outside 8..32/,
  );
  await assert.rejects(runSync({ store, clock, exchange, session: new Uint8Array(3) }), /8 bytes/);
  assert.equal(sent, 0);
});
