/**
 * A put's acknowledgements against `dht.write_quorum`: a lone node's own durable copy is the one
 * holder there can be; a node whose peers all refuse has too few; this node's copy counts only
 * when it stores for others; a holder whose store is full answers STORED `full` and keeps serving.
 * Simulation tests name their seed in their messages.
 */

import assert from "node:assert/strict";
import { StoreError } from "../../src/core/errors.ts";
import { contentKey } from "../../src/core/content_key.ts";
import { encodeMessage, MessageType, StoreStatus } from "../../src/dht/messages.ts";
import type { PutResult } from "../../src/dht/types.ts";
import type { PeerAddress } from "../../src/net/address.ts";
import { runOne } from "../../src/sim/operations.ts";
import { idFromPrefix, joinedCluster, NodeHarness, settingsFor } from "./_helpers.ts";
import { at } from "../_address.ts";

const SEED = 0xac4;
const PEER: PeerAddress = at("192.0.2.10:7447");
const peerId = idFromPrefix(0x80, 1);
const text = (s: string) => new TextEncoder().encode(s);

Deno.test("a lone node's put is acknowledged by its own durable copy: quorum 1 of 1", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  let result: PutResult | undefined;
  h.node.put(text("alone"), (done) => result = done);
  h.advance(1000);
  assert.ok(result, `the put finished, seed ${SEED}`);
  assert.deepEqual(
    { ok: result.ok, stored: result.stored, holders: result.holders, quorum: result.quorum },
    { ok: true, stored: 0, holders: 1, quorum: 1 },
  );
  assert.ok(h.store.get(result.key), "held here");
});

Deno.test("a lone node whose store refuses has no holder: not acknowledged, the refusal given", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  h.store.put = (_entry, done) => done(new StoreError("STORE_FULL", "Cannot store: full"));
  let result: PutResult | undefined;
  h.node.put(text("no room"), (done) => result = done);
  h.advance(1000);
  assert.ok(result);
  assert.equal(result.ok, false);
  assert.equal(result.holders, 0);
  assert.equal(result.localError?.message, "Cannot store: full");
});

Deno.test("a holder whose store is full answers STORED full, counts it, and keeps serving", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  h.store.put = (_entry, done) =>
    done(new StoreError("STORE_FULL", "Cannot store record: the disk is full"));
  h.node.receive(
    PEER,
    encodeMessage({ type: MessageType.findNode, tx: 7, sender: peerId, flags: 0, target: peerId }),
  );
  const nodes = h.transport.take().find((s) => s.message.type === MessageType.nodes)?.message;
  assert.ok(nodes && nodes.type === MessageType.nodes);
  const value = text("for a full holder");
  h.node.receive(
    PEER,
    encodeMessage({
      type: MessageType.store,
      tx: 8,
      sender: peerId,
      flags: 0,
      key: contentKey(value),
      value,
      token: nodes.token,
      ttlS: 3600,
    }),
  );
  const stored = h.transport.take().find((s) => s.message.tx === 8)?.message;
  assert.ok(stored && stored.type === MessageType.stored);
  assert.equal(stored.status, StoreStatus.full);
  assert.equal(h.node.stats().storeRefused[StoreStatus.full], 1);
  h.node.receive(
    PEER,
    encodeMessage({ type: MessageType.ping, tx: 9, sender: peerId, flags: 0 }),
  );
  assert.ok(h.transport.take().some((s) => s.message.type === MessageType.pong), "still serving");
});

Deno.test("peers whose stores are all full leave a put short of the quorum; quorum 1 takes it", () => {
  const simSeed = 7_101;
  for (const [writeQuorum, acknowledged] of [[2, false], [1, true]] as const) {
    const settings = settingsFor("full", { write_quorum: writeQuorum });
    const { network, cluster } = joinedCluster(simSeed, 6, settings);
    for (const index of [1, 2, 3, 4, 5]) {
      cluster.store(index).put = (_entry, done) =>
        done(new StoreError("STORE_FULL", "Cannot store: full"));
    }
    const put = runOne<PutResult>(network, (done) => cluster.put(0, text("few"), done));
    assert.equal(put.stored, 0, `simSeed ${simSeed}`);
    // 6 nodes < k: the publisher is among the closest, its own copy the one holder.
    assert.equal(put.holders, 1);
    assert.equal(put.quorum, writeQuorum);
    assert.equal(put.ok, acknowledged);
  }
});

Deno.test("in a network, a put is acknowledged by the k closest and counts them all", () => {
  const simSeed = 7_102;
  const { network, cluster } = joinedCluster(simSeed, 12, settingsFor("full"));
  const put = runOne<PutResult>(network, (done) => cluster.put(3, text("many"), done));
  assert.ok(put.ok, `simSeed ${simSeed}`);
  assert.equal(put.quorum, 2);
  // 12 nodes < k: the publisher is among the closest, so its own copy counts too.
  assert.equal(put.holders, put.stored + 1);
  assert.equal(put.stored, 11);
});

Deno.test("a client's own copy never counts as one of the holders", () => {
  const simSeed = 7_103;
  const { network, cluster } = joinedCluster(simSeed, 8, settingsFor("full"), {
    settingsOf: (index) => index === 5 ? settingsFor("mobile") : undefined,
  });
  const put = runOne<PutResult>(network, (done) => cluster.put(5, text("by a client"), done));
  assert.ok(put.ok, `servers acknowledged it, simSeed ${simSeed}`);
  assert.equal(put.holders, put.stored, "the client's copy is not one of the holders");
  assert.equal(put.storesHere, false);
});

Deno.test("a node that knew peers and lost them all is not a one-node network: short of quorum", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  h.node.receive(PEER, encodeMessage({ type: MessageType.ping, tx: 1, sender: peerId, flags: 0 }));
  h.transport.take();
  assert.equal(h.node.routingTableSize(), 1);
  let first: PutResult | undefined;
  h.node.put(text("while the peer is there"), (done) => first = done);
  // The peer never answers: its requests time out. A failing contact stays (as a suspect) while
  // no standby can take its place, so the peer then says it leaves, and the table empties.
  h.advance(120_000);
  assert.ok(first);
  assert.equal(first.quorum, 2);
  assert.equal(first.ok, false, `its only peer never answered, seed ${SEED}`);
  h.node.receive(PEER, encodeMessage({ type: MessageType.leave, tx: 2, sender: peerId, flags: 0 }));
  assert.equal(h.node.routingTableSize(), 0, "the peer that left is out of the table");
  let alone: PutResult | undefined;
  h.node.put(text("after the peer left"), (done) => alone = done);
  h.advance(120_000);
  assert.ok(alone);
  assert.deepEqual({ ok: alone.ok, holders: alone.holders, quorum: alone.quorum }, {
    ok: false,
    holders: 1,
    quorum: 2,
  });
});

Deno.test("a node whose peers left before its first put still needs the quorum", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  h.node.receive(PEER, encodeMessage({ type: MessageType.ping, tx: 1, sender: peerId, flags: 0 }));
  h.node.receive(PEER, encodeMessage({ type: MessageType.leave, tx: 2, sender: peerId, flags: 0 }));
  h.transport.take();
  assert.equal(h.node.routingTableSize(), 0, "the peer that left is out of the table");
  let put: PutResult | undefined;
  h.node.put(text("after the peer left"), (done) => put = done);
  h.advance(120_000);
  assert.ok(put);
  assert.deepEqual({ ok: put.ok, holders: put.holders, quorum: put.quorum }, {
    ok: false,
    holders: 1,
    quorum: 2,
  });
});
