// Goal: a DhtNode serves and uses the DHT correctly and safely: values put are found by get;
// a missing key is reported as such; STOREs need a fresh token issued to the same address and
// a value that matches its key; a client node neither stores for others nor enters others'
// routing tables; hostile datagrams (garbage, spoofed self, replayed or misaddressed replies,
// lies about closer nodes) are counted and dropped while the node keeps serving; values expire
// after their store class's ttl_s unless republished, reads extend them within its ttl_max_s
// (through the store: the DHT has no lifetime setting of its own); values
// survive a partition and its heal.
// Method: a single DhtNode driven by hand (VirtualClock, recording transport, the test playing
// every peer with encoded messages) for the protocol rules, and seeded SimClusters of 30-40
// nodes on a lossless network for end-to-end behaviour. Every assertion names its seed.

import assert from "node:assert/strict";
import { maintenanceIntervalMs, tokenRotationMs } from "../../src/core/limits.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { Prng, randomBytes, randomInt } from "../../src/core/rng.ts";
import { contentKey } from "../../src/core/content_key.ts";
import {
  encodeMessage,
  FLAG_CLIENT,
  type Message,
  MessageType,
  StoreStatus,
} from "../../src/dht/messages.ts";
import type {
  BootstrapResult,
  Contact,
  GetResult,
  LookupResult,
  PutResult,
} from "../../src/dht/types.ts";
import type { PeerAddress } from "../../src/net/address.ts";
import { contentAddressedRules, type RecordRules } from "../../src/store/record_rules.ts";
import { idFromPrefix, joinedCluster, NodeHarness, randomId, settingsFor } from "./_helpers.ts";
import { runOne } from "../../src/sim/operations.ts";
import { at } from "../_address.ts";

const SEED = 0x0de;
const PEER: PeerAddress = at("192.0.2.10:7447");
const OTHER: PeerAddress = at("192.0.2.66:7447");
const peerId = idFromPrefix(0x80, 1);
const text = (s: string) => new TextEncoder().encode(s);
const HOUR = 3_600_000;

/** Delivers `message` to the harness node as if sent from `from`. */
function deliver(h: NodeHarness, from: PeerAddress, message: Message) {
  h.node.receive(from, encodeMessage(message));
}

/** Asks the node for the nodes near `target` as `from` / `sender`; returns the reply's token. */
function tokenFor(
  h: NodeHarness,
  from: PeerAddress,
  sender: NodeId = peerId,
  flags = 0,
): Uint8Array {
  deliver(h, from, { type: MessageType.findNode, tx: 77, sender, flags, target: sender });
  const replies = h.transport.take().filter((s) => s.to.equals(from));
  const reply = replies.find((s) => s.message.type === MessageType.nodes)?.message;
  assert.ok(reply && reply.type === MessageType.nodes, `a NODES reply, seed ${SEED}`);
  assert.equal(reply.tx, 77);
  return reply.token;
}

/** Sends a STORE and returns the status of the STORED reply. */
function storeStatus(
  h: NodeHarness,
  from: PeerAddress,
  fields: { key: NodeId; value: Uint8Array; token: Uint8Array },
  sender: NodeId = peerId,
): number {
  deliver(h, from, {
    type: MessageType.store,
    tx: 78,
    sender,
    flags: 0,
    ttlS: 0xffffffff,
    ...fields,
  });
  const reply = h.transport.take().find((s) => s.to.equals(from) && s.message.tx === 78)?.message;
  assert.ok(reply && reply.type === MessageType.stored, `a STORED reply, seed ${SEED}`);
  return reply.status;
}

/** Sends a FIND_VALUE and returns the reply. */
function findValue(h: NodeHarness, from: PeerAddress, key: NodeId): Message {
  deliver(h, from, { type: MessageType.findValue, tx: 79, sender: peerId, flags: 0, key });
  const reply = h.transport.take().find((s) => s.to.equals(from) && s.message.tx === 79)?.message;
  assert.ok(reply, `a reply to FIND_VALUE, seed ${SEED}`);
  return reply;
}

/** Makes `id` at `address` known to the node (it pings the node) and drops the PONG. */
function introduce(h: NodeHarness, address: PeerAddress, id: NodeId, flags = 0) {
  deliver(h, address, { type: MessageType.ping, tx: 1, sender: id, flags });
  const pong = h.transport.take().find((s) => s.to.equals(address));
  assert.equal(pong?.message.type, MessageType.pong, `the node answers a PING, seed ${SEED}`);
}

function assertServing(h: NodeHarness, why: string) {
  deliver(h, at("198.51.100.1:9"), {
    type: MessageType.ping,
    tx: 4242,
    sender: idFromPrefix(9),
    flags: 0,
  });
  const sent = h.transport.take();
  assert.ok(
    sent.some((s) => s.to.equals(at("198.51.100.1:9")) && s.message.type === MessageType.pong),
    `still answers a PING; ${why}`,
  );
}

// --- protocol rules, one node driven by hand ---

Deno.test("a node answers a PING with a PONG and adds the sender to its routing table", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  introduce(h, PEER, peerId);
  assert.equal(h.node.routingTableSize(), 1);
  assert.ok(h.node.closestContacts(peerId, 1)[0].nodeId.equals(peerId));
  assert.equal(h.node.closestContacts(peerId, 1)[0].address, PEER, "the address seen, not claimed");
});

Deno.test("a STORE with a valid token and a matching value is stored and acknowledged", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  const value = text("hello, rhizome");
  const token = tokenFor(h, PEER);
  assert.equal(storeStatus(h, PEER, { key: contentKey(value), value, token }), StoreStatus.ok);
  assert.deepEqual(h.store.get(contentKey(value))?.value, value);
  assert.equal(h.node.stats().stored, 1);
  const reply = findValue(h, OTHER, contentKey(value));
  assert.ok(reply.type === MessageType.value, `FIND_VALUE finds it, seed ${SEED}`);
  assert.deepEqual(reply.value, value);
});

Deno.test("a STORE with a wrong, foreign or missing token is refused", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  const value = text("needs a token");
  const key = contentKey(value);
  const token = tokenFor(h, PEER);
  const wrong = token.slice();
  wrong[0] ^= 1;
  assert.equal(storeStatus(h, PEER, { key, value, token: wrong }), StoreStatus.badToken);
  // A token handed to PEER does not let OTHER store: it proves the address.
  assert.equal(storeStatus(h, OTHER, { key, value, token }), StoreStatus.badToken);
  assert.equal(
    storeStatus(h, PEER, { key, value, token: new Uint8Array(8) }),
    StoreStatus.badToken,
  );
  assert.equal(h.store.get(key), undefined);
  assert.equal(h.node.stats().storeRefused[StoreStatus.badToken], 3);
});

Deno.test("a write token outlives one rotation period and expires after two", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  const value = text("token lifetime");
  const key = contentKey(value);
  const token = tokenFor(h, PEER);
  h.advance(tokenRotationMs - 1);
  assert.equal(storeStatus(h, PEER, { key, value, token }), StoreStatus.ok, `seed ${SEED}`);
  // Rotations happen at maintenance passes, at most a period plus one interval apart.
  h.advance(2 * (tokenRotationMs + maintenanceIntervalMs));
  assert.equal(storeStatus(h, PEER, { key, value, token }), StoreStatus.badToken, `seed ${SEED}`);
});

Deno.test("a STORE whose value does not match its key is refused as invalid", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  const value = text("the real value");
  const token = tokenFor(h, PEER);
  const forged = { key: contentKey(value), value: text("a forged value"), token };
  assert.equal(storeStatus(h, PEER, forged), StoreStatus.invalid);
  assert.equal(h.store.get(contentKey(value)), undefined);
  assert.equal(h.store.stats().values, 0);
  assert.equal(h.node.stats().invalidValues, 1);
});

Deno.test("a client node declines STOREs and flags its messages as a client's", () => {
  const h = new NodeHarness(SEED, settingsFor("mobile"));
  assert.equal(settingsFor("mobile").profile.stores_for_others, false);
  const value = text("for a client");
  const token = tokenFor(h, PEER);
  assert.equal(
    storeStatus(h, PEER, { key: contentKey(value), value, token }),
    StoreStatus.declined,
  );
  assert.equal(h.store.stats().values, 0);
  introduce(h, PEER, peerId);
  h.node.findNode(randomId(new Prng(SEED)), () => {});
  const [request] = h.transport.take();
  assert.equal(request.message.flags & FLAG_CLIENT, FLAG_CLIENT);
});

Deno.test("a peer flagged as a client is answered but never added to the routing table", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  introduce(h, PEER, peerId, FLAG_CLIENT);
  tokenFor(h, PEER, peerId, FLAG_CLIENT);
  assert.equal(h.node.routingTableSize(), 0);
  introduce(h, OTHER, idFromPrefix(0x40), 0);
  assert.equal(h.node.routingTableSize(), 1, "a server is added");
});

Deno.test("garbage datagrams are counted by reason and dropped without a reply", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  introduce(h, PEER, peerId);
  const random = new Prng(SEED);
  const valid = encodeMessage({ type: MessageType.ping, tx: 5, sender: peerId, flags: 0 });
  const datagrams: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) {
    const datagram = randomBytes(random, new Uint8Array(randomInt(random, 80)));
    if (i % 2 === 0 && datagram.length >= 4) datagram.set(valid.subarray(0, 4));
    datagrams.push(datagram);
  }
  const wrongVersion = valid.slice();
  wrongVersion[3] = 99;
  const foreign = valid.slice();
  foreign[0] = 0x42;
  datagrams.push(wrongVersion, foreign, new Uint8Array(5000));
  for (const datagram of datagrams) h.node.receive(OTHER, datagram);
  const { dropped } = h.node.stats();
  const total = dropped.malformed + dropped.protocol + dropped.version + dropped.oversize;
  assert.equal(total, datagrams.length, `every datagram dropped and counted, seed ${SEED}`);
  assert.ok(dropped.version >= 1 && dropped.protocol >= 1 && dropped.oversize === 1);
  assert.equal(h.transport.sent.length, 0, "no reply to garbage");
  assert.equal(h.node.routingTableSize(), 1, "the table is untouched");
  assertServing(h, `seed ${SEED}`);
});

Deno.test("a datagram claiming the node's own ID is dropped", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  deliver(h, OTHER, { type: MessageType.ping, tx: 5, sender: h.node.id, flags: 0 });
  assert.equal(h.node.stats().dropped.self, 1);
  assert.equal(h.transport.sent.length, 0);
  assert.equal(h.node.routingTableSize(), 0);
});

Deno.test("unsolicited, replayed and misaddressed replies are counted as unmatched and ignored", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  introduce(h, PEER, peerId);
  const stranger = idFromPrefix(0x40, 7);
  // Unsolicited replies of every type: nobody asked.
  const token = new Uint8Array(8);
  const unsolicited: Message[] = [
    { type: MessageType.pong, tx: 1, sender: stranger, flags: 0 },
    { type: MessageType.nodes, tx: 2, sender: stranger, flags: 0, contacts: [], token },
    { type: MessageType.value, tx: 3, sender: stranger, flags: 0, value: text("x"), token },
    { type: MessageType.stored, tx: 4, sender: stranger, flags: 0, status: 0 },
  ];
  for (const reply of unsolicited) deliver(h, OTHER, reply);
  assert.equal(h.node.stats().rpc.unmatched, 4);
  assert.equal(h.node.routingTableSize(), 1, "a reply nobody asked for adds nobody");
  // A lookup asks PEER; a reply with the right transaction from another address is ignored.
  const results: LookupResult[] = [];
  h.node.findNode(idFromPrefix(0x81), (result) => results.push(result));
  const [request] = h.transport.take();
  assert.deepEqual(request.to, PEER);
  const reply: Message = {
    type: MessageType.nodes,
    tx: request.message.tx,
    sender: peerId,
    flags: 0,
    contacts: [],
    token,
  };
  deliver(h, OTHER, reply);
  assert.equal(h.node.stats().rpc.unmatched, 5, "wrong address");
  assert.equal(results.length, 0, "the lookup still waits");
  deliver(h, PEER, reply);
  assert.equal(results.length, 1, `the real reply completes the lookup, seed ${SEED}`);
  assert.ok(results[0].ok);
  assert.deepEqual(results[0].closest.map((c) => c.address), [PEER]);
  // The same reply again is a replay.
  deliver(h, PEER, reply);
  assert.equal(h.node.stats().rpc.unmatched, 6, "replayed");
  assert.equal(results.length, 1);
  assertServing(h, `seed ${SEED}`);
});

Deno.test("every request and reply is pinned to the node ID it is for", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  deliver(h, PEER, { type: MessageType.ping, tx: 1, sender: peerId, flags: 0 });
  const sent = h.transport.take();
  assert.ok(sent.length >= 2, "a PONG, and a PING to verify the newcomer");
  for (const datagram of sent) {
    assert.deepEqual(datagram.to, PEER);
    assert.ok(datagram.expectedId?.equals(peerId), `pinned: ${datagram.message.type}`);
  }
});

Deno.test("a contact answering as another node is dropped from the lookup and the table, and counted", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  introduce(h, PEER, peerId);
  assert.equal(h.node.routingTableSize(), 1);
  const named = idFromPrefix(0x82, 3);
  const impostor = idFromPrefix(0x83, 4);
  const results: LookupResult[] = [];
  h.node.findNode(idFromPrefix(0x81), (result) => results.push(result));
  const [first] = h.transport.take();
  assert.ok(first.expectedId?.equals(peerId));
  // PEER names a contact at OTHER; the node there answers as someone else.
  deliver(h, PEER, {
    type: MessageType.nodes,
    tx: first.message.tx,
    sender: peerId,
    flags: 0,
    contacts: [{ nodeId: named, address: OTHER }],
    token: new Uint8Array(8),
  });
  const [second] = h.transport.take().filter((s) => s.to.equals(OTHER));
  assert.ok(second.expectedId?.equals(named), "the NODES contact is pinned to its ID");
  deliver(h, OTHER, {
    type: MessageType.nodes,
    tx: second.message.tx,
    sender: impostor,
    flags: 0,
    contacts: [],
    token: new Uint8Array(8),
  });
  assert.equal(results.length, 1, "no resends to a contact that is someone else");
  assert.deepEqual(results[0].closest.map((c) => c.nodeId.toHex()), [peerId.toHex()]);
  assert.equal(h.node.stats().rpc.wrongIdentity, 1);
  assert.equal(h.node.routingTableSize(), 1, "the impostor's reply adds nobody");
  // The secure channel's report of a handshake with another key drops a table contact.
  h.node.findNode(idFromPrefix(0x84), () => {});
  assert.deepEqual(h.transport.take()[0].to, PEER);
  h.node.identityRefused(PEER, peerId, impostor);
  // Both requests pinned to peerId at PEER fail: the lookup's and the PING verifying it.
  assert.equal(h.node.stats().rpc.wrongIdentity, 3);
  assert.equal(h.node.routingTableSize(), 0, "the contact at PEER is not peerId: dropped");
  assertServing(h, `seed ${SEED}`);
});

Deno.test("a seed answering as another node is not joined through, and the result names it", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  const impostor = idFromPrefix(0x83, 4);
  const results: BootstrapResult[] = [];
  h.node.bootstrap([{ nodeId: peerId, address: PEER }], (result) => results.push(result));
  const [request] = h.transport.take();
  assert.ok(request.expectedId?.equals(peerId), "the seed's request is pinned to its key's ID");
  deliver(h, PEER, {
    type: MessageType.nodes,
    tx: request.message.tx,
    sender: impostor,
    flags: 0,
    contacts: [{ nodeId: idFromPrefix(0x85, 5), address: OTHER }],
    token: new Uint8Array(8),
  });
  assert.equal(results.length, 1);
  assert.equal(results[0].ok, false);
  assert.equal(results[0].contacts, 0, "nothing the impostor named was taken");
  assert.deepEqual(
    results[0].wrongIdentity.map(({ seed, answeredAs }) => [seed.address, answeredAs.toHex()]),
    [[PEER, impostor.toHex()]],
  );
});

Deno.test("a peer lying about closer nodes cannot plant fake contacts or stall the node", () => {
  const settings = settingsFor("full");
  const h = new NodeHarness(SEED, settings);
  introduce(h, PEER, peerId);
  const target = idFromPrefix(0x80, 0xff);
  // 25 fake contacts, all closer to the target than the liar, at addresses nobody answers.
  const fakes: Contact[] = Array.from({ length: 25 }, (_, i) => ({
    nodeId: idFromPrefix(0x80, 0xff, i + 1),
    address: at(`203.0.113.${i + 1}:7447`),
  }));
  const results: LookupResult[] = [];
  h.node.findNode(target, (result) => results.push(result));
  const [request] = h.transport.take();
  deliver(h, PEER, {
    type: MessageType.nodes,
    tx: request.message.tx,
    sender: peerId,
    flags: 0,
    contacts: fakes,
    token: new Uint8Array(8),
  });
  h.advance(settings.dht.lookup_timeout_ms);
  assert.equal(results.length, 1, `the lookup ended within lookup_timeout_ms, seed ${SEED}`);
  assert.ok(results[0].ok, `it completed, seed ${SEED}`);
  assert.deepEqual(results[0].closest.map((c) => c.address), [PEER], "only real answers count");
  assert.equal(h.node.routingTableSize(), 1, "named contacts never enter the table unheard");
  // Each fake got one request and its resends, nothing more; other traffic (upkeep) is not
  // counted here.
  const perFake = new Map(fakes.map((f) => [f.address.key, 0]));
  for (const { to } of h.transport.take()) {
    if (perFake.has(to.key)) perFake.set(to.key, perFake.get(to.key)! + 1);
  }
  for (const [address, count] of perFake) {
    assert.ok(
      count >= 1 && count <= 1 + settings.dht.rpc_retries_max,
      `${address} got ${count} datagrams, seed ${SEED}`,
    );
  }
  assertServing(h, `seed ${SEED}`);
});

Deno.test("a held value expires after its class's ttl_s without republishing", () => {
  const settings = settingsFor("full", { replicate_s: 3600 }, {}, { normal: { ttl_s: 2 * 3600 } });
  const h = new NodeHarness(SEED, settings);
  const value = text("short-lived");
  const key = contentKey(value);
  assert.equal(storeStatus(h, PEER, { key, value, token: tokenFor(h, PEER) }), StoreStatus.ok);
  // No reads (a read would extend it): just let time pass.
  h.advance(2 * HOUR - maintenanceIntervalMs);
  assert.ok(h.store.get(key), `held until store.normal.ttl_s, seed ${SEED}`);
  h.advance(2 * maintenanceIntervalMs);
  assert.equal(h.store.get(key), undefined, `deleted by upkeep, seed ${SEED}`);
  assert.equal(findValue(h, OTHER, key).type, MessageType.nodes, `not served, seed ${SEED}`);
});

Deno.test("the store is the only verifier: a STORE once, the same bytes again never, a publish once, a read never", () => {
  let verifications = 0;
  const counting: RecordRules = {
    ...contentAddressedRules,
    verify(key, bytes, held, nowMs) {
      verifications++;
      return contentAddressedRules.verify(key, bytes, held, nowMs);
    },
  };
  const h = new NodeHarness(SEED, settingsFor("full"), undefined, counting);
  const value = text("verified once");
  const key = contentKey(value);
  const token = tokenFor(h, PEER);
  assert.equal(storeStatus(h, PEER, { key, value, token }), StoreStatus.ok);
  assert.equal(verifications, 1, "one verification for a STORE");
  assert.equal(storeStatus(h, PEER, { key, value, token }), StoreStatus.ok);
  assert.equal(verifications, 1, "none for the same bytes again (a replica's STORE)");
  assert.equal(findValue(h, OTHER, key).type, MessageType.value);
  assert.equal(verifications, 1, "none for a read, which extends the value through the store");
  const forged = text("not under this key");
  assert.equal(storeStatus(h, PEER, { key, value: forged, token }), StoreStatus.invalid);
  assert.equal(verifications, 2, "a value that does not verify costs one");
  assert.equal(h.node.stats().invalidValues, 1);
  h.node.put(text("published here"), () => {});
  assert.equal(verifications, 3, "one for a local publish");
});

Deno.test("an expired value is not served even before upkeep deletes it", () => {
  const settings = settingsFor("full", { replicate_s: 3600 }, {}, { normal: { ttl_s: 3600 } });
  const h = new NodeHarness(SEED, settings);
  const value = text("stale");
  const key = contentKey(value);
  h.store.put({ key, value, ttlMs: 1000, published: false }, () => {});
  h.clock.advanceBy(1000);
  assert.equal(findValue(h, OTHER, key).type, MessageType.nodes);
});

Deno.test("reads keep a value alive past its original expiry, but not past its class's ttl_max_s", () => {
  const settings = settingsFor("full", { replicate_s: 3600, republish_s: 3600 }, {}, {
    normal: { ttl_s: 2 * 3600, extension_s: 3600, ttl_max_s: 3 * 3600 },
  });
  const h = new NodeHarness(SEED, settings);
  const value = text("popular");
  const key = contentKey(value);
  const t0 = h.clock.nowMs();
  assert.equal(storeStatus(h, PEER, { key, value, token: tokenFor(h, PEER) }), StoreStatus.ok);
  assert.equal(h.store.get(key)!.expiresAtMs, t0 + 2 * HOUR);
  // A read at 1.5 h extends the value to 2.5 h.
  h.advance(1.5 * HOUR);
  assert.equal(findValue(h, OTHER, key).type, MessageType.value);
  assert.equal(h.store.get(key)!.expiresAtMs, t0 + 2.5 * HOUR, `extended, seed ${SEED}`);
  // Past the original expiry, it is still there and a read extends it again, capped at 3 h.
  h.advance(0.75 * HOUR);
  assert.equal(findValue(h, OTHER, key).type, MessageType.value, `alive at 2.25 h, seed ${SEED}`);
  assert.equal(h.store.get(key)!.expiresAtMs, t0 + 3 * HOUR, `capped, seed ${SEED}`);
  // Reads cannot take it past storedAt + ttl_max_s.
  h.advance(0.7 * HOUR);
  assert.equal(findValue(h, OTHER, key).type, MessageType.value);
  assert.equal(h.store.get(key)!.expiresAtMs, t0 + 3 * HOUR);
  h.advance(0.3 * HOUR + 2 * maintenanceIntervalMs);
  assert.equal(findValue(h, OTHER, key).type, MessageType.nodes, `gone after 3 h, seed ${SEED}`);
  assert.equal(h.store.get(key), undefined);
});

Deno.test({
  // Regression: a peer at an address without a wire form (IPv4-mapped, upper-case, host name)
  // once entered the table and made every later NODES reply throw out of receive(). A
  // PeerAddress is canonical (mapped IPv4 as IPv4, IPv6 in lower case) and never a host name.
  name: "a peer heard at a mapped or upper-case address is listed canonically in replies",
  fn() {
    for (const from of [at("[::ffff:192.0.2.1]:7447"), at("[2001:DB8::1]:7447")]) {
      const h = new NodeHarness(SEED, settingsFor("full"));
      introduce(h, from, peerId);
      const asker = idFromPrefix(0x40, 1);
      const find: Message = {
        type: MessageType.findNode,
        tx: 3,
        sender: asker,
        flags: 0,
        target: peerId,
      };
      assert.doesNotThrow(() => deliver(h, OTHER, find), from.key);
      const reply = h.transport.take().find((s) => s.to.equals(OTHER))?.message;
      assert.ok(reply?.type === MessageType.nodes, from.key);
      assert.deepEqual(reply.contacts.map((c) => c.address.key), [from.key]);
    }
    assert.equal(at("[::ffff:192.0.2.1]:7447").key, "192.0.2.1:7447");
    assert.equal(at("[2001:DB8::1]:7447").key, "[2001:db8::1]:7447");
  },
});

// --- end to end, on a simulated network ---

Deno.test("a value put by one node is found by get from other nodes", () => {
  const simSeed = 5_001;
  const settings = settingsFor("full");
  const { network, cluster } = joinedCluster(simSeed, 40, settings);
  const value = text("round trip through the DHT");
  const put = runOne<PutResult>(network, (done) => cluster.put(3, value, done));
  assert.ok(put.ok, `put ok, simSeed ${simSeed}`);
  assert.ok(put.key.equals(contentKey(value)), "the key is the content key");
  assert.ok(put.stored >= settings.dht.k / 2, `stored at ${put.stored} nodes, simSeed ${simSeed}`);
  for (const reader of [3, 10, 25, 39]) {
    const got = runOne<GetResult>(network, (done) => cluster.get(reader, put.key, done));
    assert.ok(got.ok, `get from ${reader}, simSeed ${simSeed}`);
    assert.deepEqual(got.value, value, `get from ${reader}, simSeed ${simSeed}`);
  }
});

Deno.test("a get for a key nobody stored fails with ok false and no value", () => {
  const simSeed = 5_002;
  const { network, cluster } = joinedCluster(simSeed, 30, settingsFor("full"));
  const key = contentKey(text("never stored"));
  const got = runOne<GetResult>(network, (done) => cluster.get(7, key, done));
  assert.equal(got.ok, false, `simSeed ${simSeed}`);
  assert.equal(got.value, undefined);
  assert.ok(got.closest.length > 0, "it still reports the closest nodes it reached");
});

Deno.test("client nodes store nothing for others and stay out of others' routing tables", () => {
  const simSeed = 5_003;
  const clients = new Set([4, 9, 15]);
  const { network, cluster, nodes } = joinedCluster(simSeed, 30, settingsFor("full"), {
    settingsOf: (index) => clients.has(index) ? settingsFor("mobile") : undefined,
  });
  // Clients do lookups of their own and publish, so servers hear from them a lot.
  for (const client of clients) {
    runOne<LookupResult>(network, (done) => cluster.findNode(client, cluster.nodeId(0), done));
  }
  const fromClient = runOne<PutResult>(
    network,
    (done) => cluster.put(4, text("by a client"), done),
  );
  assert.ok(fromClient.ok, `a client can publish, simSeed ${simSeed}`);
  const keys = [fromClient.key];
  for (let i = 0; i < 5; i++) {
    keys.push(
      runOne<PutResult>(network, (done) => cluster.put(i * 5 + 1, text(`v${i}`), done)).key,
    );
  }
  network.run({ untilMs: network.clock.nowMs() + 2 * HOUR });
  for (const index of cluster.liveIndexes()) {
    if (clients.has(index)) continue;
    for (const client of clients) {
      const clientId = cluster.nodeId(client);
      const nearest = nodes[index].closestContacts(clientId, 1)[0];
      assert.ok(
        !nearest?.nodeId.equals(clientId),
        `server ${index} has client ${client} in its table, simSeed ${simSeed}`,
      );
    }
  }
  for (const client of clients) {
    const held = [...cluster.store(client).values()].filter((v) => !v.published);
    assert.deepEqual(held.map((v) => v.key.toHex()), [], `client ${client} holds for others`);
    const refused = nodes[client].stats().storeRefused[StoreStatus.declined] ?? 0;
    assert.equal(refused, 0, `nobody even asked client ${client} to store, simSeed ${simSeed}`);
  }
  // Everything is still reachable, from clients and servers.
  for (const [reader, key] of [[9, keys[3]], [20, keys[0]], [15, keys[5]]] as const) {
    const got = runOne<GetResult>(network, (done) => cluster.get(reader, key, done));
    assert.ok(got.ok, `get from ${reader}, simSeed ${simSeed}`);
  }
});

Deno.test("hostile traffic at one node does not stop it from serving the network", () => {
  const simSeed = 5_004;
  const { network, cluster, nodes } = joinedCluster(simSeed, 30, settingsFor("full"));
  const inbox: Uint8Array[] = [];
  const attacker = network.attach(at("198.51.100.99:7447"), (_from, bytes) => inbox.push(bytes));
  const random = new Prng(simSeed);
  const victim = 12;
  for (let i = 0; i < 200; i++) {
    attacker.send(
      cluster.address(victim),
      randomBytes(random, new Uint8Array(randomInt(random, 200))),
    );
  }
  // Replies nobody asked for, and a PONG that pretends to come from the victim itself.
  for (let tx = 0; tx < 50; tx++) {
    attacker.send(
      cluster.address(victim),
      encodeMessage({ type: MessageType.pong, tx, sender: randomId(random), flags: 0 }),
    );
  }
  attacker.send(
    cluster.address(victim),
    encodeMessage({ type: MessageType.ping, tx: 1, sender: cluster.nodeId(victim), flags: 0 }),
  );
  const value = text("still works");
  const put = runOne<PutResult>(network, (done) => cluster.put(victim, value, done));
  const stats = nodes[victim].stats();
  const dropped = stats.dropped.malformed + stats.dropped.protocol + stats.dropped.version;
  assert.equal(dropped, 200, `simSeed ${simSeed}`);
  assert.equal(stats.dropped.self, 1);
  assert.ok(stats.rpc.unmatched >= 50, `unmatched ${stats.rpc.unmatched}, simSeed ${simSeed}`);
  assert.equal(inbox.length, 0, "the attacker got no reply");
  assert.ok(put.ok, `simSeed ${simSeed}`);
  const got = runOne<GetResult>(
    network,
    (done) => cluster.get(victim, contentKey(text("x")), done),
  );
  assert.equal(got.ok, false);
  const found = runOne<GetResult>(network, (done) => cluster.get(3, put.key, done));
  assert.deepEqual(found.value, value, `simSeed ${simSeed}`);
});

Deno.test({
  // Regression: replication STOREs once renewed each other forever; STORE now carries the
  // remaining lifetime (simSeed 5005: 21 holders were left 200 h after the publisher crashed).
  name: "a value nobody republishes disappears from the network after store.normal.ttl_s",
  fn() {
    const simSeed = 5_005;
    const settings = settingsFor("full", { replicate_s: 3600, republish_s: 3600 }, {}, {
      normal: { ttl_s: 2 * 3600 },
    });
    const { network, cluster } = joinedCluster(simSeed, 30, settings);
    const put = runOne<PutResult>(network, (done) => cluster.put(5, text("ephemeral"), done));
    assert.ok(put.ok);
    cluster.crash(5);
    network.run({ untilMs: network.clock.nowMs() + 2 * HOUR + 5 * maintenanceIntervalMs });
    const holders = cluster.liveIndexes().filter((i) => cluster.store(i).get(put.key));
    assert.deepEqual(holders, [], `nobody holds it after its ttl_s, simSeed ${simSeed}`);
    const got = runOne<GetResult>(network, (done) => cluster.get(0, put.key, done));
    assert.equal(got.value, undefined, `simSeed ${simSeed}`);
  },
});

Deno.test("a published value outlives the holders' ttl_s while its publisher republishes it", () => {
  const simSeed = 5_006;
  const settings = settingsFor("full", { replicate_s: 3600, republish_s: 3600 }, {}, {
    normal: { ttl_s: 2 * 3600 },
    personal: { ttl_s: 2 * 3600 },
  });
  const { network, cluster } = joinedCluster(simSeed, 30, settings);
  const put = runOne<PutResult>(network, (done) => cluster.put(5, text("kept alive"), done));
  network.run({ untilMs: network.clock.nowMs() + 5 * HOUR });
  const got = runOne<GetResult>(network, (done) => cluster.get(20, put.key, done));
  assert.ok(got.ok, `simSeed ${simSeed}`);
  assert.ok(
    cluster.store(5).get(put.key)!.expiresAtMs > network.clock.nowMs(),
    "the publisher renewed its own copy",
  );
});

Deno.test("a republish comes before the holders' copies expire, never after", () => {
  // Regression: with republish_s equal to the holders' ttl_s (the default, a day), the upkeep's
  // jitter made every republish 0 to 10% late, so for up to a tenth of the period the publisher
  // held the only copy; the jitter now brings pushes 5 to 10% forward.
  const simSeed = 5_008;
  const lifetime = { ttl_s: 2 * 3600 };
  const settings = settingsFor("full", { replicate_s: 3600, republish_s: 2 * 3600 }, {}, {
    normal: lifetime,
    personal: lifetime,
  });
  const { network, cluster } = joinedCluster(simSeed, 30, settings);
  const startMs = network.clock.nowMs();
  const put = runOne<PutResult>(network, (done) => cluster.put(5, text("never alone"), done));
  assert.ok(put.ok, `simSeed ${simSeed}`);
  for (const minutes of [100, 115, 121, 125, 130, 135, 200, 245]) {
    network.run({ untilMs: startMs + minutes * 60_000 });
    const holders = cluster.liveIndexes()
      .filter((i) => i !== 5 && cluster.store(i).get(put.key) !== undefined);
    assert.ok(
      holders.length >= settings.dht.k / 2,
      `${holders.length} holders besides the publisher at ${minutes} min, simSeed ${simSeed}`,
    );
  }
});

Deno.test("replication STOREs reaching the publisher do not postpone its republishing", () => {
  // Regression: a publisher among the k closest got replication STOREs every replicate_s, each
  // of which reset its republish clock, so it never republished and the value expired.
  const simSeed = 5_007;
  const settings = settingsFor("full", { replicate_s: 3600, republish_s: 5400 }, {}, {
    normal: { ttl_s: 2 * 3600 },
    personal: { ttl_s: 2 * 3600 },
  });
  const { network, cluster } = joinedCluster(simSeed, 22, settings);
  const put = runOne<PutResult>(network, (done) => cluster.put(5, text("republished"), done));
  network.run({ untilMs: network.clock.nowMs() + 8 * HOUR });
  const holders = cluster.liveIndexes().filter((i) => cluster.store(i).get(put.key));
  assert.ok(holders.length >= settings.dht.k - 2, `held by ${holders.length}, simSeed ${simSeed}`);
  const got = runOne<GetResult>(network, (done) => cluster.get(20, put.key, done));
  assert.ok(got.ok, `simSeed ${simSeed}`);
});

Deno.test("values stored before and during a partition are found on both sides after heal", () => {
  const simSeed = 5_007;
  const n = 40;
  const { network, cluster } = joinedCluster(simSeed, n, settingsFor("full"));
  const left = Array.from({ length: n / 2 }, (_, i) => i);
  const right = Array.from({ length: n / 2 }, (_, i) => i + n / 2);
  const before = runOne<PutResult>(network, (done) => cluster.put(1, text("before"), done));
  assert.ok(before.ok);
  network.partition([left.map((i) => cluster.address(i)), right.map((i) => cluster.address(i))]);
  const onLeft = runOne<PutResult>(network, (done) => cluster.put(2, text("left side"), done));
  const onRight = runOne<PutResult>(network, (done) => cluster.put(30, text("right side"), done));
  assert.ok(onLeft.ok && onRight.ok, `each side stores, simSeed ${simSeed}`);
  // A long partition: upkeep runs, cross-partition contacts fail and are dropped.
  network.run({ untilMs: network.clock.nowMs() + 2 * HOUR });
  network.heal();
  network.run({ untilMs: network.clock.nowMs() + 2 * HOUR });
  for (const reader of [0, 7, 19, 20, 33, 39]) {
    for (const [name, put] of [["before", before], ["left", onLeft], ["right", onRight]] as const) {
      const got = runOne<GetResult>(network, (done) => cluster.get(reader, put.key, done));
      assert.ok(got.ok, `${name} value from node ${reader}, simSeed ${simSeed}`);
    }
  }
});

// --- what the node driver relies on ---

Deno.test("a message naming a sender other than the authenticated peer is dropped", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  const message = { type: MessageType.ping, tx: 5, sender: peerId, flags: 0 } as const;
  h.node.receive(PEER, encodeMessage(message), idFromPrefix(0x40));
  assert.equal(h.transport.take().length, 0, "no PONG to an impostor");
  assert.equal(h.node.stats().dropped.impostor, 1);
  assert.equal(h.node.routingTableSize(), 0);
  h.node.receive(PEER, encodeMessage(message), peerId);
  assert.equal(h.transport.take()[0]?.message.type, MessageType.pong, "the real peer is answered");
});

Deno.test("put() takes a lifetime, capped at the personal class's ttl_s by the store", () => {
  const settings = settingsFor("full");
  const h = new NodeHarness(SEED, settings);
  const now = h.clock.nowMs();
  const short = h.node.put(text("short-lived"), () => {}, 60);
  assert.equal(h.store.get(short)?.expiresAtMs, now + 60_000);
  const personalTtlS = settings.store.personal.ttl_s;
  const long = h.node.put(text("long-lived"), () => {}, 10 * personalTtlS);
  assert.equal(h.store.get(long)?.expiresAtMs, now + personalTtlS * 1000);
});

Deno.test("setProfile() turns a server into a client that declines STOREs", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  const token = tokenFor(h, PEER);
  const value = text("declined once a client");
  h.node.setProfile(settingsFor("mobile").profile);
  assert.equal(
    storeStatus(h, PEER, { key: contentKey(value), value, token }),
    StoreStatus.declined,
  );
});

Deno.test("requests beyond a peer's burst are dropped and counted; replies are not limited", () => {
  const settings = settingsFor("full");
  const h = new NodeHarness(SEED, {
    ...settings,
    dht: { ...settings.dht, peer_requests_burst: 3, peer_requests_per_s: 1 },
  });
  for (let tx = 1; tx <= 5; tx++) {
    deliver(h, PEER, { type: MessageType.ping, tx, sender: peerId, flags: 0 });
  }
  // Besides the PONGs, one PING to verify the newcomer (a peer that has only asked so far).
  const sent = h.transport.take().filter((s) => s.message.type === MessageType.pong);
  assert.equal(sent.length, 3, "three PONGs, then silence");
  assert.equal(h.node.stats().dropped.peerRateLimited, 2);
  h.clock.advanceBy(1000);
  deliver(h, PEER, { type: MessageType.ping, tx: 9, sender: peerId, flags: 0 });
  assert.equal(h.transport.take().length, 1, "one more token a second later");
});

Deno.test("a value too large for a datagram is stored and found through the stream transport", () => {
  const { network, cluster, nodes } = joinedCluster(SEED, 30, settingsFor("full"), {
    streams: true,
  });
  const value = randomBytes(new Prng(SEED), new Uint8Array(40_000));
  const put = runOne<PutResult>(network, (done) => cluster.put(3, value, done));
  assert.ok(put.ok && put.stored >= 10, `stored at ${put.stored}, seed ${SEED}`);
  const holders = nodes.filter((node) => node.stats().stored > 0).length;
  assert.ok(holders >= 10, `${holders} nodes accepted the STORE by stream`);
  // Only nodes without a copy: their gets meet VALUE_REF and fetch the value by stream.
  const lacking = nodes.map((_, index) => index)
    .filter((index) => cluster.store(index).get(put.key) === undefined);
  assert.ok(lacking.length >= 3, `${lacking.length} nodes lack the value, seed ${SEED}`);
  for (const index of lacking.slice(0, 3)) {
    const got = runOne<GetResult>(network, (done) => cluster.get(index, put.key, done));
    assert.ok(got.ok && got.value?.length === value.length, `node ${index}, seed ${SEED}`);
    assert.ok(got.rounds >= 1, "found on the network, not locally");
  }
});

Deno.test("without a stream transport a large value is refused at put()", () => {
  const h = new NodeHarness(SEED, settingsFor("full"));
  assert.throws(() => h.node.put(new Uint8Array(5_000), () => {}), RangeError);
});
