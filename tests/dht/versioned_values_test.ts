/**
 * Versioned values on the DHT (signed records, multi-writer sets): a get asks every holder among
 * the k closest and reconciles what they hold, a put is checked by the node's store (by its record
 * rules), and a STORE that does not verify is refused. The rules here are a toy set (strictly increasing bytes,
 * union on merge) so the DHT's part is tested apart from Rhizome's records.
 */

import assert from "node:assert/strict";
import { versionedReadHolders } from "../../src/core/limits.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import type { DhtNode } from "../../src/dht/node.ts";
import type { GetResult, PutResult, UpdatePut } from "../../src/dht/types.ts";
import { runOne } from "../../src/sim/operations.ts";
import { bytesEqual } from "../../src/core/bytes.ts";
import { RhizomeError, StoreError } from "../../src/core/errors.ts";
import type { RecordRules } from "../../src/store/record_rules.ts";
import { idFromPrefix, joinedCluster, settingsFor } from "./_helpers.ts";

/** A set of bytes 0..239: its encoding is the members in increasing order. */
const toySets: RecordRules = {
  kindNames: ["toy set"],
  recordBytesMax: 240,
  verify(_key, bytes) {
    if (
      bytes.length === 0 ||
      !bytes.every((byte, i) => byte < 240 && (i === 0 || byte > bytes[i - 1]))
    ) {
      throw new StoreError("RECORD_INVALID", "Cannot accept record: not a toy set");
    }
    return { kind: 0, bytes };
  },
  isFinal: () => false,
  merge(held, incoming) {
    const union = new Uint8Array(
      [...new Set([...held, ...incoming.bytes])].sort((x, y) => x - y),
    );
    return bytesEqual(union, held) ? { outcome: "keep" } : { outcome: "replace", bytes: union };
  },
};

function putAt(
  network: ReturnType<typeof joinedCluster>["network"],
  cluster: ReturnType<typeof joinedCluster>["cluster"],
  nodes: DhtNode[],
  index: number,
  key: NodeId,
  value: number[],
): PutResult {
  return runOne<PutResult>(network, (done) => {
    cluster.call(index, () => nodes[index].putAt(key, new Uint8Array(value), done));
  });
}

Deno.test("a get reconciles the versions every holder has, including the getter's own", () => {
  const simSeed = 6_101;
  const settings = settingsFor("full");
  const { network, cluster, nodes } = joinedCluster(simSeed, 40, settings, { rules: toySets });
  const key = idFromPrefix(0x5a, 0x11);
  const first = putAt(network, cluster, nodes, 3, key, [1]);
  const second = putAt(network, cluster, nodes, 9, key, [2]);
  assert.ok(first.ok && second.ok, `both puts stored, simSeed ${simSeed}`);
  assert.equal(first.localError, undefined);
  for (const reader of [3, 9, 20, 39]) {
    const got = runOne<GetResult>(network, (done) => cluster.get(reader, key, done));
    assert.ok(got.ok, `get from ${reader}, simSeed ${simSeed}`);
    assert.deepEqual([...got.value!], [1, 2], `get from ${reader}, simSeed ${simSeed}`);
  }
});

Deno.test("an entry some holders missed still reaches every reader", () => {
  const simSeed = 6_102;
  const settings = settingsFor("full");
  const { network, cluster, nodes } = joinedCluster(simSeed, 40, settings, { rules: toySets });
  const key = idFromPrefix(0x33, 0x99);
  const put = putAt(network, cluster, nodes, 5, key, [7]);
  assert.ok(put.stored >= settings.dht.k / 2, `stored at ${put.stored}, simSeed ${simSeed}`);
  // Every holder but the publisher learns of 8, except versionedReadHolders - 1 of them (as if
  // those missed its STORE): whichever holders a reader asks, one of them has it.
  const holders = [...Array(40).keys()].filter((i) => i !== 5 && cluster.store(i).get(key));
  const lacking = holders.slice(0, versionedReadHolders - 1);
  for (const holder of holders.slice(versionedReadHolders - 1)) {
    const write = { key, value: new Uint8Array([7, 8]), published: false };
    cluster.store(holder).put(write, (error) => assert.equal(error, undefined));
  }
  for (const reader of [0, 17, 33, ...lacking]) {
    const got = runOne<GetResult>(network, (done) => cluster.get(reader, key, done));
    assert.deepEqual([...got.value!], [7, 8], `get from ${reader}, simSeed ${simSeed}`);
  }
});

Deno.test("a value its own store refuses is published nowhere: RECORD_INVALID, nothing stored", () => {
  const simSeed = 6_103;
  const { network, cluster, nodes } = joinedCluster(simSeed, 20, settingsFor("full"), {
    rules: toySets,
  });
  const key = idFromPrefix(0x71);
  const result = putAt(network, cluster, nodes, 2, key, [3, 1]);
  assert.equal(result.ok, false);
  assert.equal(result.stored, 0);
  assert.ok(result.localError instanceof RhizomeError);
  assert.equal(result.localError.code, "RECORD_INVALID");
  for (let i = 0; i < 20; i++) assert.equal(cluster.store(i).get(key), undefined, `node ${i}`);
});

Deno.test("under 10% loss, every reader sees every writer's entry, and replication completes every holder's copy", () => {
  const simSeed = 6_107;
  const settings = settingsFor("full");
  const { network, cluster, nodes } = joinedCluster(simSeed, 40, settings, {
    rules: toySets,
    lossRate: 0.1,
  });
  const key = idFromPrefix(0x2e, 0x40);
  const writers = [1, 6, 11, 16, 21, 26, 31, 36];
  for (const [i, writer] of writers.entries()) putAt(network, cluster, nodes, writer, key, [i]);
  const all = writers.map((_, i) => i);
  for (const reader of [0, 9, 19, 29, 39]) {
    const got = runOne<GetResult>(network, (done) => cluster.get(reader, key, done));
    assert.deepEqual([...(got.value ?? [])], all, `get from ${reader}, simSeed ${simSeed}`);
  }
  // The k nodes closest to the key are the ones responsible for holding the whole set.
  const responsible = [...Array(40).keys()]
    .sort((a, b) => key.compareDistance(nodes[a].id, nodes[b].id))
    .slice(0, settings.dht.k);
  const complete = () =>
    responsible.filter((i) => cluster.store(i).get(key)?.value.length === all.length).length;
  const before = complete();
  // One replication period: holders push their copies to each other and the union spreads.
  network.run({ untilMs: network.clock.nowMs() + settings.dht.replicate_s * 1000 * 1.2 });
  const after = complete();
  assert.equal(
    after,
    responsible.length,
    `complete copies ${before} → ${after}, simSeed ${simSeed}`,
  );
});

Deno.test("getForUpdate reads the current version, and its put stores at the k closest without a lookup of its own", () => {
  const simSeed = 6_104;
  const settings = settingsFor("full");
  const { network, cluster, nodes } = joinedCluster(simSeed, 40, settings, { rules: toySets });
  const key = idFromPrefix(0x4c, 0x21);
  assert.ok(putAt(network, cluster, nodes, 3, key, [1]).ok, `first put, simSeed ${simSeed}`);
  const updater = 9;
  let put: UpdatePut | undefined;
  const read = runOne<GetResult>(network, (done) => {
    cluster.call(updater, () =>
      nodes[updater].getForUpdate(key, (result, next) => {
        put = next;
        done(result);
      }));
  });
  assert.deepEqual([...read.value!], [1], `the current version, simSeed ${simSeed}`);
  assert.equal(read.closest.length, settings.dht.k, "the read reached the k closest");
  // Refused as putAt refuses it: the store's check, before anything is sent.
  const refused = runOne<PutResult>(network, (done) => {
    cluster.call(updater, () => put!(new Uint8Array([2, 1]), done));
  });
  assert.ok(!refused.ok && refused.stored === 0, `refused, simSeed ${simSeed}`);
  assert.equal((refused.localError as RhizomeError | undefined)?.code, "RECORD_INVALID");
  const lookups = nodes[updater].stats().lookups;
  const written = runOne<PutResult>(network, (done) => {
    cluster.call(updater, () => put!(new Uint8Array([1, 2]), done));
  });
  assert.equal(nodes[updater].stats().lookups, lookups, "no lookup of its own");
  assert.ok(written.ok, `acknowledged, simSeed ${simSeed}`);
  assert.ok(written.stored >= settings.dht.k - 1, `stored at ${written.stored} of the k closest`);
  for (const reader of [3, 20, 39]) {
    const got = runOne<GetResult>(network, (done) => cluster.get(reader, key, done));
    assert.deepEqual([...got.value!], [1, 2], `get from ${reader}, simSeed ${simSeed}`);
  }
});
