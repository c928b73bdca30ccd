// Goal: a node finds dead and silent contacts fast and keeps them out of the way (issue 14): a
// lookup whose only candidate lost its first datagram waits for the resend; a peer that fails
// request after request is skipped by later lookups whoever names it, until heard from again; a
// newcomer that only asked is pinged to verify it; a graceful stop sends LEAVE to recent
// contacts, and a LEAVE drops its sender (only from the address the table knows); timeouts are
// logged at most once per 30 s with the peers to blame.
// Method: a single DhtNode driven by hand (VirtualClock, recording transport, the test playing
// every peer), and FailedPeers on its own. Every assertion names its seed.

import assert from "node:assert/strict";
import type { NodeId } from "../../src/core/node_id.ts";
import {
  failedPeerForgetMs,
  FailedPeers,
  timeoutReportIntervalMs,
} from "../../src/dht/failed_peers.ts";
import { encodeMessage, type Message, MessageType } from "../../src/dht/messages.ts";
import type { GetResult, LookupResult } from "../../src/dht/types.ts";
import { DhtNode } from "../../src/dht/node.ts";
import { contentKey } from "../../src/core/content_key.ts";
import type { PeerAddress } from "../../src/net/address.ts";
import type { Log } from "../../src/core/log.ts";
import { Prng } from "../../src/core/rng.ts";
import { idFromPrefix, NodeHarness, settingsFor } from "./_helpers.ts";
import { at } from "../_address.ts";

const SEED = 0x1e4;
const PEER: PeerAddress = at("192.0.2.10:7447");
const peerId = idFromPrefix(0x80, 1);
const text = (s: string) => new TextEncoder().encode(s);

function deliver(h: NodeHarness, from: PeerAddress, message: Message) {
  h.node.receive(from, encodeMessage(message));
}

/** Introduces a peer by a PING and answers the node's verification PING. */
function introduce(h: NodeHarness, address: PeerAddress, id: NodeId) {
  deliver(h, address, { type: MessageType.ping, tx: 1, sender: id, flags: 0 });
  const sent = h.transport.take();
  assert.ok(sent.some((s) => s.to.equals(address) && s.message.type === MessageType.pong));
  const ping = sent.find((s) => s.to.equals(address) && s.message.type === MessageType.ping);
  assert.ok(ping, `a newcomer that only asked is pinged, seed ${SEED}`);
  deliver(h, address, { type: MessageType.pong, tx: ping.message.tx, sender: id, flags: 0 });
}

Deno.test("a get whose only holder lost the first request waits for the resend", () => {
  const settings = settingsFor("full");
  const h = new NodeHarness(SEED, settings);
  introduce(h, PEER, peerId);
  const value = text("held by one peer");
  const key = contentKey(value);
  const results: GetResult[] = [];
  h.node.get(key, (result) => results.push(result));
  const [first] = h.transport.take();
  assert.equal(first.message.type, MessageType.findValue);
  // The first attempt is lost: the request stalls, then is resent.
  h.advance(settings.dht.rpc_timeout_ms);
  assert.equal(results.length, 0, `the lookup does not end at the stall, seed ${SEED}`);
  const resent = h.transport.take().find((s) => s.message.type === MessageType.findValue);
  assert.ok(resent, "resent");
  deliver(h, PEER, {
    type: MessageType.value,
    tx: resent.message.tx,
    sender: peerId,
    flags: 0,
    value,
    token: new Uint8Array(8),
  });
  assert.equal(results.length, 1);
  assert.ok(results[0].ok, `found through the resend, seed ${SEED}`);
  assert.deepEqual(results[0].value, value);
});

Deno.test("a peer that fails request after request is skipped by later lookups until heard", () => {
  const settings = settingsFor("full");
  const h = new NodeHarness(SEED, settings);
  introduce(h, PEER, peerId);
  const silent = { nodeId: idFromPrefix(0x80, 2), address: at("192.0.2.20:7447") };
  const target = idFromPrefix(0x80, 3);
  const lookupNaming = () => {
    const results: LookupResult[] = [];
    h.node.findNode(target, (result) => results.push(result));
    const first = h.transport.take();
    const request = first.find((s) => s.to.equals(PEER))!;
    deliver(h, PEER, {
      type: MessageType.nodes,
      tx: request.message.tx,
      sender: peerId,
      flags: 0,
      contacts: [silent],
      token: new Uint8Array(8),
    });
    h.advance(settings.dht.lookup_timeout_ms);
    const asked =
      [...first, ...h.transport.take()].filter((s) =>
        s.to.equals(silent.address) && s.message.type === MessageType.findNode
      ).length;
    assert.equal(results.length, 1);
    return { asked, result: results[0] };
  };
  for (let i = 0; i < settings.dht.peer_failures_max; i++) {
    const { asked, result } = lookupNaming();
    assert.equal(asked, 1 + settings.dht.rpc_retries_max, `try ${i}: asked with resends`);
    assert.ok(result.ok, `seed ${SEED}`);
  }
  const { asked, result } = lookupNaming();
  assert.equal(asked, 0, `presumed dead after peer_failures_max failures, seed ${SEED}`);
  assert.ok(result.ok);
  assert.ok(result.durationMs < settings.dht.rpc_timeout_ms, "and no longer waited for");
  // Heard from again: asked again.
  deliver(h, silent.address, { type: MessageType.ping, tx: 3, sender: silent.nodeId, flags: 0 });
  h.transport.take();
  assert.equal(lookupNaming().asked, 1 + settings.dht.rpc_retries_max);
});

Deno.test("a newcomer that never answers its verification PING becomes suspect", () => {
  const settings = settingsFor("full");
  const h = new NodeHarness(SEED, settings);
  introduce(h, PEER, peerId);
  const throwaway = idFromPrefix(0x80, 9);
  deliver(h, at("192.0.2.99:7447"), { type: MessageType.ping, tx: 1, sender: throwaway, flags: 0 });
  assert.equal(h.node.routingTableSize(), 2);
  h.advance(settings.dht.lookup_timeout_ms);
  const handedOut = h.node.closestContacts(throwaway, 1);
  assert.ok(handedOut[0].nodeId.equals(peerId), `the answering peer comes first, seed ${SEED}`);
  assert.equal(h.node.closestContacts(throwaway, 2).length, 2, "the suspect only tops up");
});

Deno.test("stop() sends LEAVE to recent contacts; a LEAVE drops its sender", () => {
  const settings = settingsFor("full");
  const h = new NodeHarness(SEED, settings);
  introduce(h, PEER, peerId);
  const other = { nodeId: idFromPrefix(0x40, 1), address: at("192.0.2.11:7447") };
  introduce(h, other.address, other.nodeId);
  // A LEAVE naming a contact from another address changes nothing.
  deliver(h, at("192.0.2.66:7447"), {
    type: MessageType.leave,
    tx: 0,
    sender: other.nodeId,
    flags: 0,
  });
  assert.equal(h.node.routingTableSize(), 2, `forged LEAVE ignored, seed ${SEED}`);
  deliver(h, other.address, { type: MessageType.leave, tx: 0, sender: other.nodeId, flags: 0 });
  assert.equal(h.node.routingTableSize(), 1, "the leaving contact is dropped");
  assert.equal(h.transport.take().length, 0, "a LEAVE gets no reply");
  assert.equal(h.node.stats().requests[MessageType.leave], 2);
  h.node.stop();
  const sent = h.transport.take();
  assert.deepEqual(sent.map((s) => [s.to, s.message.type]), [[PEER, MessageType.leave]]);
  h.node.stop();
  assert.equal(h.transport.take().length, 0, "once");
});

Deno.test("a client node sends no LEAVE: no table holds it", () => {
  const h = new NodeHarness(SEED, settingsFor("mobile"));
  introduce(h, PEER, peerId);
  h.node.stop();
  assert.equal(h.transport.take().length, 0);
});

Deno.test("timeouts are logged at most once per interval, naming the peers", () => {
  const settings = settingsFor("full");
  const lines: { message: string; properties: Record<string, unknown> }[] = [];
  const ignore = () => {};
  const log: Log = {
    trace: ignore,
    debug: ignore,
    info: ignore,
    warning: (message, properties = {}) => lines.push({ message, properties }),
    error: ignore,
    fatal: ignore,
  };
  const h = new NodeHarness(SEED, settings);
  const node = new DhtNode({
    nodeId: idFromPrefix(0x01),
    address: h.address,
    clock: h.clock,
    transport: h.transport,
    store: h.store,
    rng: new Prng(SEED),
    settings,
    log,
  });
  node.bootstrap([], () => {});
  for (let i = 1; i <= 5; i++) {
    node.receive(
      at(`192.0.2.${i}:7447`),
      encodeMessage({ type: MessageType.ping, tx: i, sender: idFromPrefix(0x80, i), flags: 0 }),
    );
  }
  const runFor = (ms: number) => {
    const endMs = h.clock.nowMs() + ms;
    for (let guard = 0; guard < 10_000 && node.nextWakeupMs() <= endMs; guard++) {
      h.clock.advanceTo(Math.max(node.nextWakeupMs(), h.clock.nowMs()));
      node.tick();
    }
    h.clock.advanceTo(endMs);
  };
  runFor(settings.dht.lookup_timeout_ms);
  assert.equal(lines.length, 1, `one line for 5 verification pings timing out, seed ${SEED}`);
  runFor(timeoutReportIntervalMs + 60_000);
  assert.ok(lines.length <= 3, `${lines.length} lines`);
  const last = lines[lines.length - 1].properties;
  assert.match(String(last.worst), /@192\.0\.2\.\d:7447 ×\d/);
});

Deno.test("FailedPeers: dead after failuresMax in a row, forgotten when heard or after a while", () => {
  const peers = new FailedPeers(2);
  const id = idFromPrefix(0x33);
  peers.failed(id, PEER, 0);
  assert.equal(peers.isDead(id, 0), false);
  peers.failed(id, PEER, 10);
  assert.equal(peers.isDead(id, 10), true);
  assert.equal(peers.isDead(id, 10 + failedPeerForgetMs), false, "forgotten after a while");
  peers.heard(id);
  assert.equal(peers.isDead(id, 10), false, "heard from: alive");
  peers.left(id, PEER, 20);
  assert.equal(peers.isDead(id, 20), true, "a LEAVE makes it dead at once");
  // Failures far apart are not "in a row".
  const other = idFromPrefix(0x34);
  peers.failed(other, PEER, 0);
  peers.failed(other, PEER, failedPeerForgetMs + 1);
  assert.equal(peers.isDead(other, failedPeerForgetMs + 1), false);
  const report = peers.takeReport(failedPeerForgetMs + 2);
  assert.equal(report?.requests, 4);
  assert.equal(report?.peers, 2);
  assert.equal(peers.takeReport(failedPeerForgetMs + 3), undefined, "nothing new");
});
