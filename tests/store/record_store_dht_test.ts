/**
 * The DHT core runs on the LMDB record store, so the simulator can run on it too: eight
 * `DhtNode`s on one `SimNetwork`, each on its own `RecordStore` (its own LMDB file) reading the
 * network's virtual clock. A driver alternates virtual time (datagrams and wake-ups) with real
 * time (LMDB commits and flushes), so a STORE is acknowledged only once it is on disk, yet no
 * virtual time passes while the disk works. Shown: joining, a put acknowledged by every other
 * node, gets served from each node's own store and over the network, a holder's store closed
 * and reopened from its file with the record and its expiry intact, and a raw value that is
 * not a Rhizome record refused by every store (so the put is acknowledged by nobody).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { bytesEqual, utf8Encode } from "../../src/core/bytes.ts";
import type { Clock } from "../../src/core/clock.ts";
import { resolveConfig } from "../../src/core/config.ts";
import type { Log, LogFields } from "../../src/core/log.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { Prng, randomBytes } from "../../src/core/rng.ts";
import {
  decodeStoredRecord,
  encodeRecord,
  recordKey,
  RecordKind,
} from "../../src/content/records.ts";
import type { RhizomeError } from "../../src/core/errors.ts";
import { contentKey } from "../../src/core/content_key.ts";
import { StoreStatus } from "../../src/dht/messages.ts";
import { DhtNode } from "../../src/dht/node.ts";
import type { DhtSettings, GetResult, PutResult } from "../../src/dht/types.ts";
import { SimCluster } from "../../src/sim/cluster.ts";
import { SimNetwork } from "../../src/sim/network.ts";
import type { RecordStore } from "../../src/store/record_store.ts";
import type { RecordRules } from "../../src/store/record_rules.ts";
import type {
  StoredValue,
  ValueStore,
  ValueStoreStats,
  ValueWrite,
  ValueWritten,
} from "../../src/store/value_store.ts";
import { withTempDir } from "../_rhizome.ts";
import { openStore } from "./_store.ts";

const simSeed = 11;
const nodeCount = 8;
const publisher = 3;

/** Virtual time one `network.run()` may cover before the driver looks around again. */
const stepMs = 1_000;
/** Driver turns per operation, and real time the disk may take for one batch of writes. */
const turnsMax = 10_000;
const ioWallMsMax = 5_000;

/**
 * The writes of every store: counted from start to report, and reported in the order they
 * started, whatever order the disks finished them in, so that a run depends on its seed only.
 */
class Writes {
  #started = 0;
  #inFlight = 0;
  readonly #finished: { order: number; report: () => void }[] = [];

  /** Writes started and not yet reported. */
  get unreported(): number {
    return this.#inFlight + this.#finished.length;
  }

  /** Writes the disk is still working on. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Counts a write; call the returned function with its report once the disk is done. */
  start(): (report: () => void) => void {
    const order = this.#started++;
    this.#inFlight++;
    return (report) => {
      this.#inFlight--;
      this.#finished.push({ order, report });
    };
  }

  /** Runs the reports of finished writes, in the order the writes started. */
  report(): void {
    const batch = this.#finished.splice(0).sort((a, b) => a.order - b.order);
    for (const { report } of batch) report();
  }
}

/**
 * A node's store as its DHT node sees it: a {@link RecordStore} whose writes report through
 * {@link Writes} (so the driver knows when to wait for the disk), which remembers what the DHT
 * asked to write, and which can be closed and reopened from its file under the running node.
 */
class TrackedStore implements ValueStore {
  readonly #clock: Clock;
  readonly #writes: Writes;
  #store: RecordStore;
  /** Every `put` the DHT made: the key, the virtual time, and the expiry the store gave it. */
  readonly puts: { key: string; atMs: number; expiresAtMs: number }[] = [];

  constructor(store: RecordStore, clock: Clock, writes: Writes) {
    this.#store = store;
    this.#clock = clock;
    this.#writes = writes;
  }

  /** The LMDB store underneath. */
  get target(): RecordStore {
    return this.#store;
  }

  get rules(): RecordRules {
    return this.#store.rules;
  }

  get(key: NodeId): StoredValue | undefined {
    return this.#store.get(key);
  }

  put(write: ValueWrite, done: (error?: Error, written?: ValueWritten) => void): void {
    const atMs = this.#clock.nowMs();
    const finished = this.#writes.start();
    this.#store.put(write, (error, written) => {
      if (written) {
        this.puts.push({ key: write.key.toHex(), atMs, expiresAtMs: written.expiresAtMs });
      }
      finished(() => done(error, written));
    });
  }

  noteRead(key: NodeId): void {
    this.#store.noteRead(key);
  }

  delete(key: NodeId): void {
    this.#store.delete(key);
  }

  values(): Iterable<StoredValue> {
    return this.#store.values();
  }

  stats(): ValueStoreStats {
    return this.#store.stats();
  }

  /** Closes the LMDB store (after its pending writes) and opens its file again. */
  async reopen(open: () => RecordStore): Promise<void> {
    assert.equal(this.#writes.unreported, 0, "no DHT write in flight");
    await this.#store.close();
    this.#store = open();
  }
}

/** Collects what nodes and stores log, by node. */
class LogLines {
  readonly lines: { node: number; level: string; text: string }[] = [];

  for(node: number): Log {
    const add = (level: string) => (message: string, fields: LogFields = {}) => {
      const text = message.replace(/\{(\w+)\}/g, (_, name) => String(fields[name]));
      this.lines.push({ node, level, text });
    };
    return {
      trace: () => {},
      debug: () => {},
      info: () => {},
      warning: add("warning"),
      error: add("error"),
      fatal: add("fatal"),
    };
  }

  take(): { node: number; level: string; text: string }[] {
    return this.lines.splice(0);
  }
}

/** The simulated network with its nodes on LMDB. */
interface Sim {
  network: SimNetwork;
  cluster: SimCluster;
  nodes: DhtNode[];
  stores: TrackedStore[];
  writes: Writes;
}

/**
 * Alternates virtual and real time until `done()` holds. Virtual time runs until a write starts
 * (or one step passed); then, with the clock standing still, real time runs until every write
 * has committed and flushed, and their `done` callbacks run (a STORE's sends the reply); then
 * every node's wake-up is read again, since those callbacks ran outside `receive()` and
 * `tick()`. So a write takes no virtual time and a STORE's reply never races its requester's
 * RPC timeout. Bounded in virtual time, turns and real time, so it always ends.
 */
async function driveUntil(
  sim: Sim,
  what: string,
  done: () => boolean,
  virtualMsMax = 60_000,
): Promise<void> {
  const { network, cluster, writes } = sim;
  const deadlineMs = network.clock.nowMs() + virtualMsMax;
  for (let turn = 0; turn < turnsMax; turn++) {
    if (done()) return;
    const nowMs = network.clock.nowMs();
    if (nowMs >= deadlineMs) {
      throw new Error(`${what}: not done after ${virtualMsMax} ms of virtual time`);
    }
    network.run({
      untilMs: Math.min(nowMs + stepMs, deadlineMs),
      until: () => done() || writes.unreported > 0,
    });
    const ioDeadline = performance.now() + ioWallMsMax;
    while (writes.unreported > 0) {
      if (performance.now() > ioDeadline) {
        throw new Error(`${what}: ${writes.inFlight} writes unfinished after ${ioWallMsMax} ms`);
      }
      if (writes.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      else writes.report();
    }
    for (const index of cluster.liveIndexes()) cluster.call(index, () => {});
  }
  throw new Error(`${what}: not done after ${turnsMax} driver turns`);
}

Deno.test("the DHT core runs on the LMDB record store", async () => {
  await withTempDir(async (directory) => {
    const { config } = resolveConfig({});
    const settings: DhtSettings = {
      dht: config.dht,
      profile: config.profiles.full,
      store: config.store,
    };
    const network = new SimNetwork({ simSeed, latencyMsMin: 5, latencyMsMax: 20, lossRate: 0 });
    const logs = new LogLines();
    const paths: string[] = [];
    const stores: TrackedStore[] = [];
    const writes = new Writes();
    const openAt = (index: number) =>
      openStore(paths[index], { clock: network.clock, log: logs.for(index) }).store;
    try {
      for (let index = 0; index < nodeCount; index++) {
        paths.push(join(directory, `node-${index}`));
        await Deno.mkdir(paths[index]);
        stores.push(new TrackedStore(openAt(index), network.clock, writes));
      }
      // The cluster drives the nodes (wake-ups after receive and tick); each node is given its
      // LMDB store instead of the in-memory one the cluster makes (that one stays unused).
      const nodes: DhtNode[] = [];
      const cluster = new SimCluster(network, {
        simSeed,
        settings,
        createNode: (options) => {
          const index = nodes.length;
          const node = new DhtNode({ ...options, store: stores[index], log: logs.for(index) });
          nodes.push(node);
          return node;
        },
      });
      const sim: Sim = { network, cluster, nodes, stores, writes };
      for (let index = 0; index < nodeCount; index++) cluster.add();

      // Join: node 0 founds the network, the others join through it.
      cluster.join(0, []);
      for (let index = 1; index < nodeCount; index++) cluster.join(index, [0]);
      await driveUntil(sim, "join", () => cluster.joinedCount === nodeCount);
      await driveUntil(
        sim,
        "routing tables",
        () => nodes.every((node) => node.routingTableSize() === nodeCount - 1),
      );

      // Publish an immutable record from node 3: its key is the DHT's content key.
      const record = { kind: RecordKind.immutable, payload: utf8Encode("stored on LMDB") } as const;
      const bytes = encodeRecord(record);
      const key = recordKey(record);
      assert.ok(key.equals(contentKey(bytes)), "the record key is the content key");
      let putResult: PutResult | undefined;
      const putKey = cluster.put(publisher, bytes, (result) => putResult = result);
      assert.ok(putKey.equals(key));
      await driveUntil(sim, "put", () => putResult !== undefined);
      // k = 20 > 7: every other node is among the k closest and acknowledged after its commit.
      assert.equal(putResult!.ok, true);
      assert.equal(putResult!.stored, nodeCount - 1);
      stores.forEach((store, index) => {
        // The store's classes: the publisher's own copy is personal, a holder's normal.
        const ttlMs = config.store[index === publisher ? "personal" : "normal"].ttl_s * 1000;
        const held = store.target.getRecord(key);
        assert.ok(held && bytesEqual(held.value, bytes), `node ${index} holds the record`);
        assert.equal(held.kind, "immutable");
        assert.equal(held.published, index === publisher);
        assert.equal(held.class, index === publisher ? "personal" : "normal");
        const first = store.puts.find((put) => put.key === key.toHex())!;
        assert.equal(first.expiresAtMs, first.atMs + ttlMs, `node ${index}: the class's TTL`);
        assert.equal(held.expiresAtMs, first.expiresAtMs, `node ${index}: the expiry kept`);
      });
      assert.deepEqual(nodes.map((node) => node.stats().stored), [1, 1, 1, 0, 1, 1, 1, 1]);

      // Get from every other node: each is a holder, so its own LMDB store answers (no round).
      const gets = new Map<number, GetResult>();
      for (let index = 0; index < nodeCount; index++) {
        if (index !== publisher) cluster.get(index, key, (result) => gets.set(index, result));
      }
      await driveUntil(sim, "local gets", () => gets.size === nodeCount - 1);
      for (const [index, result] of gets) {
        assert.ok(result.value && bytesEqual(result.value, bytes), `node ${index} got the record`);
        assert.equal(result.rounds, 0, `node ${index} read its own store`);
      }

      // Get over the network: node 5 forgets the record; FIND_VALUE is answered from the
      // other nodes' LMDB stores.
      assert.equal(await stores[5].target.remove(key), true);
      let remote: GetResult | undefined;
      cluster.get(5, key, (result) => remote = result);
      await driveUntil(sim, "remote get", () => remote !== undefined);
      assert.ok(remote!.value && bytesEqual(remote!.value, bytes), "node 5 found the record");
      assert.ok(remote!.rounds >= 1 && remote!.messages >= 2, "over the network");

      // Close node 6's store and reopen it from its file: the record is there, with the expiry
      // the DHT asked for; node 6 then runs on the reopened store.
      const before = stores[6].target.getRecord(key)!;
      await stores[6].reopen(() => openAt(6));
      const after = stores[6].target.getRecord(key);
      assert.ok(after && bytesEqual(after.value, bytes), "the record survived the reopen");
      assert.equal(after.expiresAtMs, before.expiresAtMs);
      assert.equal(after.expiresAtMs, stores[6].puts.at(-1)!.expiresAtMs);
      assert.equal(after.storedAtMs, before.storedAtMs);
      assert.equal(after.class, "normal");
      let reread: GetResult | undefined;
      cluster.get(6, key, (result) => reread = result);
      await driveUntil(sim, "get after reopen", () => reread !== undefined);
      assert.ok(reread!.value && bytesEqual(reread!.value, bytes));

      // A raw value that is not a record, put under its content key. The publisher's own store,
      // the only verifier of a publish, refuses it with RECORD_INVALID (logged), so no STORE
      // goes out: the put is acknowledged by nobody (ok false, stored 0, the store's refusal);
      // nobody holds it, and no other node spent a verification on it.
      const raw = randomBytes(new Prng(simSeed), new Uint8Array(64));
      assert.throws(() => decodeStoredRecord(raw), /Cannot accept record/);
      assert.equal(logs.take().length, 0, "nothing logged so far");
      const invalidBefore = stores.map((store) => store.target.stats().refused.invalid);
      const invalidRepliesBefore = nodes.map((node) => node.stats().invalidValues);
      let rawResult: PutResult | undefined;
      const rawKey = cluster.put(publisher, raw, (result) => rawResult = result);
      assert.ok(rawKey.equals(contentKey(raw)));
      await driveUntil(sim, "raw put", () => rawResult !== undefined);
      assert.equal(rawResult!.ok, false);
      assert.equal(rawResult!.stored, 0);
      assert.equal((rawResult!.localError as RhizomeError | undefined)?.code, "RECORD_INVALID");
      stores.forEach((store, index) => {
        assert.equal(store.get(rawKey), undefined, `node ${index} does not hold the raw value`);
        const refused = store.target.stats().refused.invalid - invalidBefore[index];
        assert.equal(refused, index === publisher ? 1 : 0, `node ${index}'s store refusals`);
        const invalid = nodes[index].stats().invalidValues - invalidRepliesBefore[index];
        assert.equal(invalid, 0);
        assert.equal(nodes[index].stats().storeRefused[StoreStatus.invalid] ?? 0, 0);
      });
      const lines = logs.take();
      assert.deepEqual(lines.map((line) => line.node), [publisher], "only the publisher logs");
      assert.equal(lines[0].level, "warning");
      const pattern = `^cannot write value ${rawKey.toHex()}: Cannot accept record: `;
      assert.match(lines[0].text, new RegExp(pattern));

      // Nobody holds it, so a get finds nothing.
      let rawGet: GetResult | undefined;
      cluster.get(1, rawKey, (result) => rawGet = result);
      await driveUntil(sim, "raw get", () => rawGet !== undefined);
      assert.equal(rawGet!.value, undefined);
      assert.equal(rawGet!.ok, false);
      assert.equal(logs.take().length, 0, "nothing more logged");
    } finally {
      // Every close starts; a failing one fails the test.
      await Promise.all(stores.map((store) => store.target.close()));
    }
  });
});
