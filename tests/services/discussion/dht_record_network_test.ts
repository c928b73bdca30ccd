/**
 * The discussion service's network on the node's DHT: immutable records remembered after a fetch,
 * publishes capped in flight (the rest wait, never fail in the RPC layer), a publish nobody
 * could keep refused with the store's own error, and a get nobody answered refused as
 * `UNAVAILABLE` rather than taken for an absent record (a regression: it read as absent).
 */

import assert from "node:assert/strict";
import { ReplicationError, StoreError } from "../../../src/core/errors.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import { utf8Encode } from "../../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey } from "../../../src/core/crypto.ts";
import type { Log } from "../../../src/core/log.ts";
import { encodeRecord, recordKey, RecordKind, signMutable } from "../../../src/content/records.ts";
import type { Contact, GetResult, PutResult, UpdatePut } from "../../../src/dht/types.ts";
import {
  acknowledgedPut,
  DhtRecordNetwork,
  publishesInFlightMax,
  publishesQueuedMax,
} from "../../../src/services/discussion/dht_record_network.ts";
import { at } from "../../_address.ts";

/** Wall-clock deadlines, as the node gives them. */
const startTimer = (delayMs: number, fire: () => void) => {
  const timer = setTimeout(fire, delayMs);
  return () => clearTimeout(timer);
};

const record = (text: string) =>
  ({ kind: RecordKind.immutable, payload: utf8Encode(text) }) as const;

/**
 * A DHT stand-in: puts wait until released; gets answer from a map and are counted, naming
 * `answered` as the contacts that answered.
 */
function fakeDht(answered: Contact[] = []) {
  const held = new Map<string, Uint8Array>();
  const puts: { key: NodeId; done: (result: PutResult) => void }[] = [];
  let gets = 0;
  const dht = {
    putAt(key: NodeId, value: Uint8Array, done: (result: PutResult) => void) {
      held.set(key.toHex(), value);
      puts.push({ key, done });
    },
    get(key: NodeId, done: (result: GetResult) => void) {
      gets++;
      const value = held.get(key.toHex());
      const closest = answered;
      done({ ok: value !== undefined, value, closest, rounds: 1, messages: 1, durationMs: 1 });
    },
    getForUpdate(key: NodeId, done: (result: GetResult, put: UpdatePut) => void) {
      dht.get(key, (result) => done(result, (value, putDone) => dht.putAt(key, value, putDone)));
    },
  };
  const release = (result: Partial<PutResult> = {}) => {
    const put = puts.shift()!;
    put.done({
      ok: true,
      key: put.key,
      stored: 3,
      holders: 4,
      quorum: 2,
      storesHere: true,
      durationMs: 1,
      ...result,
    });
  };
  return { dht, puts, release, gets: () => gets };
}

Deno.test("an immutable record is fetched from the DHT once, then remembered", async () => {
  const fake = fakeDht();
  const network = new DhtRecordNetwork({
    dht: fake.dht,
    wake: () => {},
    peers: () => 0,
    startTimer,
  });
  const key = recordKey(record("a"));
  fake.dht.putAt(key, encodeRecord(record("a")), () => {});
  assert.deepEqual(await network.fetch(key), record("a"));
  assert.deepEqual(await network.fetch(key), record("a"));
  assert.equal(fake.gets(), 1);
});

Deno.test("publishes beyond the cap wait for a slot and all complete", async () => {
  const fake = fakeDht();
  const network = new DhtRecordNetwork({
    dht: fake.dht,
    wake: () => {},
    peers: () => 0,
    startTimer,
  });
  const published = Array.from(
    { length: publishesInFlightMax + 3 },
    (_, i) => network.publish(record(`post ${i}`)),
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(fake.puts.length, publishesInFlightMax, "only the cap reaches the DHT");
  while (fake.puts.length > 0) {
    fake.release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.ok(fake.puts.length <= publishesInFlightMax);
  }
  const results = await Promise.all(published);
  assert.deepEqual(results.map((result) => result.stored), published.map(() => 3));
});

Deno.test("a publish over the queue's bound fails at once with UNAVAILABLE", async () => {
  const fake = fakeDht();
  const network = new DhtRecordNetwork({
    dht: fake.dht,
    wake: () => {},
    peers: () => 0,
    startTimer,
  });
  const accepted = Array.from(
    { length: publishesInFlightMax + publishesQueuedMax },
    (_, i) => network.publish(record(`queued ${i}`)),
  );
  await assert.rejects(network.publish(record("one too many")), { code: "UNAVAILABLE" });
  while (fake.puts.length > 0) {
    fake.release();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.equal((await Promise.all(accepted)).length, accepted.length);
});

Deno.test("a publish neither this node nor any other kept is refused with the store's error", async () => {
  const fake = fakeDht();
  const network = new DhtRecordNetwork({
    dht: fake.dht,
    wake: () => {},
    peers: () => 0,
    startTimer,
  });
  const publishing = network.publish(record("no room"));
  await new Promise((resolve) => setTimeout(resolve, 0));
  fake.release({
    ok: false,
    stored: 0,
    holders: 0,
    localError: new StoreError("STORE_FULL", "Cannot store: full"),
  });
  await assert.rejects(publishing, { code: "STORE_FULL", message: /0 other nodes acknowledged/ });
});

/** A put result: the defaults of a put acknowledged by 3 others and this node, quorum 2. */
function putResult(result: Partial<PutResult>): PutResult {
  return {
    ok: true,
    key: recordKey(record("x")),
    stored: 3,
    holders: 4,
    quorum: 2,
    storesHere: true,
    durationMs: 1,
    ...result,
  };
}

Deno.test("acknowledgedPut: success reports the counts; each shortfall has its own code", () => {
  assert.deepEqual(acknowledgedPut(putResult({})), { stored: 3, holders: 4, quorum: 2 });
  // Durable here, nobody else: kept and republished, but not replicated.
  assert.throws(() => acknowledgedPut(putResult({ ok: false, stored: 0, holders: 1 })), (error) => {
    assert.ok(error instanceof ReplicationError);
    assert.equal(error.code, "NOT_REPLICATED");
    assert.deepEqual(error.acknowledgements, { stored: 0, holders: 1, quorum: 2 });
    assert.match(error.message, /stored on this node, but only 1 of the 2 holders needed/);
    return true;
  });
  // This node's store refused: its code, even when others acknowledged.
  const full = new StoreError("STORE_FULL", "Cannot store record x: the disk is full");
  assert.throws(
    () => acknowledgedPut(putResult({ ok: false, stored: 2, holders: 2, localError: full })),
    { code: "STORE_FULL", message: /the disk is full; 2 other nodes acknowledged it/ },
  );
  // A DHT client keeps no copy others can read: short of the quorum, nothing is stored.
  assert.throws(
    () => acknowledgedPut(putResult({ ok: false, stored: 1, holders: 1, storesHere: false })),
    { code: "NOT_STORED", message: /DHT client/ },
  );
  // A failure that is no Rhizome error (a bug in a store) is NOT_STORED, never success.
  assert.throws(
    () =>
      acknowledgedPut(
        putResult({ ok: false, stored: 0, holders: 0, localError: new Error("boom") }),
      ),
    { code: "NOT_STORED", message: /boom/ },
  );
});

Deno.test("a get that no known peer answered is UNAVAILABLE; a lone node's or an answered miss is absent", async () => {
  const key = NodeId.fromBytes(new Uint8Array(20).fill(3));
  const unanswered = new DhtRecordNetwork({
    dht: fakeDht().dht,
    wake: () => {},
    peers: () => 5,
    startTimer,
  });
  await assert.rejects(unanswered.fetch(key), {
    code: "UNAVAILABLE",
    message: `Cannot read ${key.toHex()}: no node answered`,
  });
  const lone = new DhtRecordNetwork({
    dht: fakeDht().dht,
    wake: () => {},
    peers: () => 0,
    startTimer,
  });
  assert.equal(await lone.fetch(key), undefined);
  const peer = {
    nodeId: NodeId.fromBytes(new Uint8Array(20).fill(4)),
    address: at("127.0.0.1:4000"),
  };
  const answered = new DhtRecordNetwork({
    dht: fakeDht([peer]).dht,
    wake: () => {},
    peers: () => 5,
    startTimer,
  });
  assert.equal(await answered.fetch(key), undefined);
  // A value found (here, this node's own copy) is returned whoever answered.
  const fake = fakeDht();
  const network = new DhtRecordNetwork({
    dht: fake.dht,
    wake: () => {},
    peers: () => 5,
    startTimer,
  });
  const found = recordKey(record("held here"));
  fake.dht.putAt(found, encodeRecord(record("held here")), () => {});
  assert.deepEqual(await network.fetch(found), record("held here"));
});

/**
 * A DHT whose gets never end (a lookup waiting on a dead holder), a store holding `held`, a clock
 * at 1,000 s, and a log that keeps its warnings.
 */
function stalledDht(held: Map<string, Uint8Array>) {
  let gets = 0;
  const dht = {
    putAt() {},
    get() {
      gets++;
    },
    getForUpdate() {},
  };
  const nowMs = 1_000_000;
  const store = {
    get: (key: NodeId) => {
      const value = held.get(key.toHex());
      return value === undefined
        ? undefined
        : { key, value, expiresAtMs: nowMs + 60_000, storedAtMs: nowMs, published: false };
    },
  };
  const warnings: string[] = [];
  const log = { warning: (message: string) => warnings.push(message) } as unknown as Log;
  return { dht, store, clock: { nowMs: () => nowMs }, log, warnings, gets: () => gets };
}

Deno.test("a read with a deadline answers at the deadline with this node's copy, marked incomplete", async () => {
  const owner = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(7));
  const profile = signMutable(owner, utf8Encode("profile"), 3, utf8Encode("held here"));
  const key = recordKey(profile);
  const missingKey = NodeId.fromBytes(new Uint8Array(20).fill(9));
  const fake = stalledDht(new Map([[key.toHex(), encodeRecord(profile)]]));
  const network = new DhtRecordNetwork({
    dht: fake.dht,
    wake: () => {},
    peers: () => 5,
    startTimer,
    held: fake,
  });
  const beganMs = Date.now();
  assert.deepEqual(await network.fetchWithin(key, 30), { record: profile, complete: false });
  assert.ok(Date.now() - beganMs < 5_000, "answered near its 30 ms deadline");
  assert.deepEqual(await network.fetchWithin(missingKey, 30), {
    record: undefined,
    complete: false,
  });
  assert.equal(fake.gets(), 2);
  // No time left: this node's copy at once, no lookup started.
  assert.deepEqual(await network.fetchWithin(key, 0), { record: profile, complete: false });
  assert.equal(fake.gets(), 2);
  // Two late reads within a minute: one warning, naming the likely cause.
  assert.equal(fake.warnings.length, 1);
  assert.match(fake.warnings[0], /^Reads are running late: .* contacts that left/);
});

Deno.test("a read with a deadline is complete when the lookup answers in time, or the copy is immutable", async () => {
  const fake = fakeDht();
  const network = new DhtRecordNetwork({
    dht: fake.dht,
    wake: () => {},
    peers: () => 0,
    startTimer,
  });
  const key = recordKey(record("answered"));
  fake.dht.putAt(key, encodeRecord(record("answered")), () => {});
  assert.deepEqual(await network.fetchWithin(key, 1_000), {
    record: record("answered"),
    complete: true,
  });
  // An immutable record this node holds cannot change: complete with no lookup.
  const immutable = record("kept");
  const stalled = stalledDht(new Map([[recordKey(immutable).toHex(), encodeRecord(immutable)]]));
  const held = new DhtRecordNetwork({
    dht: stalled.dht,
    wake: () => {},
    peers: () => 5,
    startTimer,
    held: stalled,
  });
  assert.deepEqual(await held.fetchWithin(recordKey(immutable), 0), {
    record: immutable,
    complete: true,
  });
  // Without the store, a late read has nothing to show.
  const bare = new DhtRecordNetwork({
    dht: stalledDht(new Map()).dht,
    wake: () => {},
    peers: () => 5,
    startTimer,
  });
  assert.deepEqual(await bare.fetchWithin(key, 0), { record: undefined, complete: false });
});

Deno.test("a read for update publishes under the key read, and refuses a record of another key", async () => {
  const fake = fakeDht();
  const network = new DhtRecordNetwork({
    dht: fake.dht,
    wake: () => {},
    peers: () => 0,
    startTimer,
  });
  const key = recordKey(record("b"));
  const read = await network.fetchForUpdate(key);
  assert.equal(read.record, undefined, "absent: nobody to ask, nothing held");
  await assert.rejects(read.publish(record("c")), { code: "RECORD_INVALID" });
  assert.equal(fake.puts.length, 0, "nothing reached the DHT");
  const publishing = read.publish(record("b"));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(fake.puts.length, 1);
  assert.ok(fake.puts[0].key.equals(key));
  fake.release();
  assert.equal((await publishing).stored, 3);
  assert.deepEqual((await network.fetchForUpdate(key)).record, record("b"));
});

Deno.test("a read for update that no known peer answered is UNAVAILABLE, not absent", async () => {
  const network = new DhtRecordNetwork({
    dht: fakeDht().dht,
    wake: () => {},
    peers: () => 5,
    startTimer,
  });
  await assert.rejects(network.fetchForUpdate(recordKey(record("d"))), {
    code: "UNAVAILABLE",
    message: /^Cannot read [0-9a-f]{40}: no node answered$/,
  });
});
