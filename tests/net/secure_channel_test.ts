// Goal: two SecureChannels exchange authenticated, encrypted plaintexts after one handshake,
// and every way a datagram can be wrong or hostile (tampered, replayed, reordered too far,
// stale or replayed INIT, forged signature, wrong node ID, random bytes, truncated, oversize)
// is dropped, counted by reason, and never throws. Limits behave as documented: LRU eviction of
// a full session table, transparent rekeying after the packet and time limits, bounded queues
// while a handshake runs, bounded pending handshakes, retries then abandonment, a rate cap on
// answered INITs. A restarted peer is reached again without waiting for the session to expire,
// while the answering side of a conversation never suspects its session. A resent INIT is the
// same bytes, answered from the responder's cache without new work; resends back off, and wait
// (bounded) while the initiator's own receive queue may hold the RESPONSE.
// Method: channels on one VirtualClock with seeded randomness, wired through a recording
// "wire"; the test delivers, drops, reorders, replays and edits datagrams by hand, and moves
// time only by advancing the clock.

import assert from "node:assert/strict";
import fc from "fast-check";
import { concatBytes, utf8Decode, utf8Encode } from "../../src/core/bytes.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import { type Ed25519KeyPair, ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { datagramBytesMax } from "../../src/core/limits.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { Prng, randomBytes } from "../../src/core/rng.ts";
import type { PeerAddress } from "../../src/net/address.ts";
import {
  INIT_BYTES,
  PacketType,
  packetTypeOf,
  SECURE_PROTOCOL_ID,
} from "../../src/net/handshake.ts";
import {
  handshakeRetryMsMax,
  type Received,
  SecureChannel,
  type SecureChannelLimits,
  secureChannelLimitsDefault,
  type WrongIdentityListener,
} from "../../src/net/secure_channel.ts";
import { sessionPlaintextBytesMax } from "../../src/net/session.ts";
import { at } from "../_address.ts";

const SEED = 0x5ec_c4a;
const START_MS = 1_700_000_000_000;
const A = at("192.0.2.1:7447");
const B = at("192.0.2.2:7447");
const C = at("192.0.2.3:7447");

interface Datagram {
  from: PeerAddress;
  to: PeerAddress;
  bytes: Uint8Array;
}

interface Peer {
  address: PeerAddress;
  identity: Ed25519KeyPair;
  nodeId: NodeId;
  channel: SecureChannel;
  /** Plaintexts this peer's channel returned, in order. */
  inbox: Received[];
}

/** Channels on one clock, joined by a wire the test drives by hand. */
class Net {
  readonly clock = new VirtualClock(START_MS);
  readonly wire: Datagram[] = [];
  /** By address key. */
  readonly peers = new Map<string, Peer>();
  readonly #prng = new Prng(SEED);

  /** A channel at `address` whose identity follows from `keySeed`. */
  add(
    address: PeerAddress,
    keySeed: number,
    limits: Partial<SecureChannelLimits> = {},
    localQueueClearedMs?: () => number,
    onWrongIdentity?: WrongIdentityListener,
  ): Peer {
    const identity = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(keySeed));
    const prng = this.#prng.fork();
    const channel = new SecureChannel({
      identity,
      clock: this.clock,
      transport: {
        send: (to, bytes) => this.wire.push({ from: address, to, bytes: bytes.slice() }),
      },
      randomBytes: (byteLength) => randomBytes(prng, new Uint8Array(byteLength)),
      limits,
      localQueueClearedMs,
      onWrongIdentity,
    });
    const peer = { address, identity, nodeId: NodeId.fromPublicKey(identity.publicKey), channel };
    const withInbox = { ...peer, inbox: [] };
    this.peers.set(address.key, withInbox);
    return withInbox;
  }

  /** Hands one datagram to its destination, as if from its source. */
  deliver(datagram: Datagram, from: PeerAddress = datagram.from): Received | undefined {
    const peer = this.peers.get(datagram.to.key);
    if (peer === undefined) return undefined;
    const received = peer.channel.receive(from, datagram.bytes);
    if (received !== undefined) peer.inbox.push(received);
    return received;
  }

  /** Delivers until the wire is empty; a livelock fails loudly. */
  flush(): void {
    for (let step = 0; this.wire.length > 0; step++) {
      assert.ok(step < 1000, "the channels kept talking: livelock");
      this.deliver(this.wire.shift()!);
    }
  }

  /** Removes and returns what is on the wire, undelivered. */
  take(): Datagram[] {
    return this.wire.splice(0);
  }
}

/** How long after the send just made `peer` resends its INIT (10 ms steps, at most 10 s). */
function firstInitWaitMs(net: Net, peer: Peer): number {
  const startMs = net.clock.nowMs();
  for (let step = 0; step < 1000; step++) {
    net.clock.advanceBy(10);
    peer.channel.tick();
    if (net.wire.length > 0) {
      net.take();
      return net.clock.nowMs() - startMs;
    }
  }
  assert.fail("no resend within 10 s");
}

function texts(peer: Peer): string[] {
  return peer.inbox.map((received) => utf8Decode(received.plaintext));
}

function droppedTotal(peer: Peer): number {
  return Object.values(peer.channel.stats().dropped).reduce((sum, count) => sum + count, 0);
}

/** Two peers with a session from A (initiator) to B, and both inboxes emptied. */
function connected(limits: Partial<SecureChannelLimits> = {}) {
  const net = new Net();
  const alice = net.add(A, 1, limits);
  const bob = net.add(B, 2, limits);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  net.flush();
  assert.deepEqual(texts(bob), ["hello"]);
  bob.inbox.length = 0;
  return { net, alice, bob };
}

Deno.test("SecureChannel completes a handshake and carries data both ways", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("find node")), "queued");
  const [init] = net.wire;
  assert.equal(packetTypeOf(init.bytes), PacketType.init);
  net.flush();
  assert.deepEqual(texts(bob), ["find node"]);
  assert.ok(bob.inbox[0].peer.equals(alice.nodeId), "the receiver learns the proven sender");
  assert.deepEqual(bob.inbox[0].publicKey, alice.identity.publicKey);
  assert.equal(bob.channel.send(A, alice.nodeId, utf8Encode("nodes")), "sent");
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("store")), "sent");
  net.flush();
  assert.deepEqual(texts(alice), ["nodes"]);
  assert.ok(alice.inbox[0].peer.equals(bob.nodeId));
  assert.deepEqual(texts(bob), ["find node", "store"]);
  for (const peer of [alice, bob]) {
    assert.equal(droppedTotal(peer), 0);
    assert.equal(peer.channel.stats().sessions, 1);
  }
  assert.equal(alice.channel.stats().handshakesCompleted, 1);
  assert.equal(bob.channel.stats().handshakesAnswered, 1);
});

Deno.test("SecureChannel accepts whoever answers when no node ID is expected (bootstrap)", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, undefined, utf8Encode("ping"));
  net.flush();
  assert.deepEqual(texts(bob), ["ping"]);
  assert.ok(alice.channel.currentSession(B)?.peerNodeId.equals(bob.nodeId));
});

Deno.test("SecureChannel never puts the plaintext on the wire", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  net.add(B, 2);
  const secret = utf8Encode("a very recognisable plaintext");
  alice.channel.send(B, undefined, secret);
  net.flush();
  alice.channel.send(B, undefined, secret);
  const [packet] = net.take();
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0"));
  assert.ok(!hex(packet.bytes).join("").includes(hex(secret.subarray(0, 8)).join("")));
});

Deno.test("SecureChannel drops and counts tampered ciphertext, tag and header", () => {
  const { net, alice, bob } = connected();
  alice.channel.send(B, bob.nodeId, utf8Encode("genuine"));
  const [packet] = net.take();
  const edit = (index: number) => {
    const bytes = packet.bytes.slice();
    bytes[index] ^= 0x01;
    return { ...packet, bytes };
  };
  assert.equal(net.deliver(edit(30)), undefined, "ciphertext");
  assert.equal(net.deliver(edit(packet.bytes.length - 1)), undefined, "tag");
  // Byte 20 of the counter: 1 becomes 257, unseen, so the tag decides.
  assert.equal(net.deliver(edit(20)), undefined, "counter, part of the AAD");
  assert.equal(bob.channel.stats().dropped.unauthenticated, 3);
  assert.equal(net.deliver(edit(6)), undefined, "receiver session ID");
  assert.equal(bob.channel.stats().dropped.unknownSession, 1);
  assert.equal(net.deliver(edit(0)), undefined, "protocol ID");
  assert.equal(bob.channel.stats().dropped.protocol, 1);
  assert.equal(net.deliver(edit(4)), undefined, "version");
  assert.equal(bob.channel.stats().dropped.version, 1);
  assert.equal(net.deliver(edit(5)), undefined, "type 3 → 2: a RESPONSE of the wrong length");
  assert.equal(bob.channel.stats().dropped.malformed, 1);
  assert.equal(bob.inbox.length, 0);
  net.deliver(packet);
  assert.deepEqual(texts(bob), ["genuine"], "forgeries do not spoil the genuine packet");
});

Deno.test("SecureChannel drops a replayed DATA packet", () => {
  const { net, alice, bob } = connected();
  alice.channel.send(B, bob.nodeId, utf8Encode("once"));
  const [packet] = net.take();
  assert.ok(net.deliver(packet));
  assert.equal(net.deliver(packet), undefined);
  assert.equal(net.deliver(packet, C), undefined, "from another address too");
  assert.equal(bob.channel.stats().dropped.replay, 2);
  assert.deepEqual(texts(bob), ["once"]);
});

Deno.test("SecureChannel takes reordering inside the window and drops what falls behind", () => {
  const { net, alice, bob } = connected();
  for (let i = 0; i < 1100; i++) alice.channel.send(B, bob.nodeId, utf8Encode(`#${i}`));
  const packets = net.take();
  net.deliver(packets[1099]);
  net.deliver(packets[500]);
  net.deliver(packets[100]);
  net.deliver(packets[50]);
  assert.deepEqual(texts(bob), ["#1099", "#500", "#100"]);
  assert.equal(bob.channel.stats().dropped.replay, 1);
});

Deno.test("SecureChannel drops a replayed INIT outside the skew window before verifying it", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  const [init] = net.wire;
  net.flush();
  const answered = bob.channel.stats().handshakesAnswered;
  net.clock.advanceBy(secureChannelLimitsDefault.handshakeClockSkewMsMax + 1);
  net.deliver(init);
  assert.equal(bob.channel.stats().dropped.staleTimestamp, 1);
  assert.equal(bob.channel.stats().handshakesAnswered, answered);
  assert.equal(net.wire.length, 0, "nothing answered");
});

Deno.test("SecureChannel drops a replayed INIT inside the skew window: it is not newer", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  const [init] = net.wire;
  net.flush();
  net.clock.advanceBy(1000);
  net.deliver(init, C);
  assert.equal(bob.channel.stats().dropped.handshakeReplay, 1);
  assert.equal(bob.channel.stats().sessions, 1);
  assert.equal(net.wire.length, 0, "nothing answered");
});

Deno.test("SecureChannel drops an INIT from the future beyond the skew window", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  alice.channel.send(B, undefined, utf8Encode("hello"));
  const [init] = net.take();
  const laggingBob = new SecureChannel({
    identity: ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2)),
    clock: new VirtualClock(START_MS - secureChannelLimitsDefault.handshakeClockSkewMsMax - 1),
    transport: { send: () => assert.fail("a stale INIT must not be answered") },
    randomBytes: (n) => new Uint8Array(n).fill(7),
  });
  assert.equal(laggingBob.receive(A, init.bytes), undefined);
  assert.equal(laggingBob.stats().dropped.staleTimestamp, 1);
});

Deno.test("SecureChannel sends on a responder session only once the initiator used it", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  net.deliver(net.take()[0]); // INIT
  assert.equal(bob.channel.stats().sessions, 1);
  assert.equal(bob.channel.currentSession(A), undefined, "unconfirmed: not for sending");
  net.deliver(net.take()[0]); // RESPONSE
  const [data] = net.take();
  net.deliver(data);
  assert.ok(bob.channel.currentSession(A), "confirmed by alice's first DATA packet");
  assert.equal(bob.channel.send(A, alice.nodeId, utf8Encode("reply")), "sent");
});

Deno.test("SecureChannel lifts the suspicion on an unanswered session when a reply arrives", () => {
  const { net, alice, bob } = connected();
  net.clock.advanceBy(secureChannelLimitsDefault.sessionUnansweredMs);
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("still there?")), "queued");
  const [init] = net.take();
  assert.equal(packetTypeOf(init.bytes), PacketType.init);
  bob.channel.send(A, alice.nodeId, utf8Encode("yes, on the old session"));
  net.flush();
  assert.deepEqual(texts(alice), ["yes, on the old session"]);
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("good")), "sent");
  net.deliver(init);
  net.flush();
  assert.deepEqual(texts(bob), ["good", "still there?"]);
});

Deno.test("SecureChannel never suspects a session on which it only answered", () => {
  const { net, alice, bob } = connected();
  // Bob answers at once; alice has nothing more to say for a long time.
  assert.equal(bob.channel.send(A, alice.nodeId, utf8Encode("reply")), "sent");
  net.flush();
  net.clock.advanceBy(3 * secureChannelLimitsDefault.sessionUnansweredMs);
  assert.equal(bob.channel.send(A, alice.nodeId, utf8Encode("a question")), "sent");
  assert.equal(bob.channel.stats().sessionsSuspected, 0);
  assert.equal(bob.channel.stats().handshakesStarted, 0, "no re-handshake");
  net.flush();
  assert.deepEqual(texts(alice), ["reply", "a question"]);
});

Deno.test("SecureChannel suspects a session whose questions go unanswered", () => {
  const { net, alice, bob } = connected();
  net.clock.advanceBy(secureChannelLimitsDefault.sessionReplyWindowMs);
  assert.equal(bob.channel.send(A, alice.nodeId, utf8Encode("a question")), "sent");
  net.take(); // lost
  net.clock.advanceBy(secureChannelLimitsDefault.sessionUnansweredMs);
  assert.equal(bob.channel.send(A, alice.nodeId, utf8Encode("again")), "queued");
  assert.equal(bob.channel.stats().sessionsSuspected, 1);
});

Deno.test("SecureChannel suspects a session only once its own receive queue is handled", () => {
  let clearedMs = -Infinity;
  const net = new Net();
  const alice = net.add(A, 1, {}, () => clearedMs);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  net.flush();
  net.clock.advanceBy(secureChannelLimitsDefault.sessionUnansweredMs);
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("queued here?")), "sent");
  assert.equal(alice.channel.stats().sessionsSuspected, 0, "bob's answer may be in our socket");
  clearedMs = net.clock.nowMs();
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("still there?")), "queued");
  assert.equal(alice.channel.stats().sessionsSuspected, 1);
});

Deno.test("SecureChannel refuses a responder whose key does not give the expected node ID", () => {
  const net = new Net();
  const told: [PeerAddress, string, string][] = [];
  const alice = net.add(A, 1, {}, undefined, (to, expected, actual) => {
    told.push([to, expected.toHex(), actual.toHex()]);
  });
  const mallory = net.add(B, 3); // answers at bob's address with his own key
  const bobId = NodeId.fromPublicKey(
    ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2)).publicKey,
  );
  alice.channel.send(B, bobId, utf8Encode("for bob only"));
  alice.channel.send(B, bobId, utf8Encode("and this"));
  net.flush();
  assert.equal(alice.channel.stats().dropped.wrongNodeId, 1);
  assert.equal(alice.channel.stats().wrongIdentity, 1);
  assert.deepEqual(told, [[B, bobId.toHex(), mallory.nodeId.toHex()]], "told once, with both IDs");
  assert.equal(alice.channel.currentSession(B), undefined, "no session");
  assert.equal(alice.channel.stats().sessions, 0);
  assert.equal(alice.channel.stats().handshakesPending, 0, "a signed RESPONSE ends the handshake");
  assert.equal(alice.channel.stats().sendDropped.wrongPeer, 2);
  assert.equal(mallory.inbox.length, 0, "the plaintexts never left");
  assert.equal(alice.channel.nextWakeupMs() > net.clock.nowMs(), true);
});

Deno.test("SecureChannel delivers to the node that answers the sends pinned to it, and tells of the rest", () => {
  const net = new Net();
  const told: [string, string][] = [];
  const alice = net.add(A, 1, {}, undefined, (_to, expected, actual) => {
    told.push([expected.toHex(), actual.toHex()]);
  });
  const bob = net.add(B, 2);
  const goneId = NodeId.fromPublicKey(
    ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(9)).publicKey,
  );
  alice.channel.send(B, goneId, utf8Encode("for the node that was here"));
  alice.channel.send(B, bob.nodeId, utf8Encode("for bob"));
  net.flush();
  assert.deepEqual(texts(bob), ["for bob"]);
  assert.equal(alice.channel.stats().sendDropped.wrongPeer, 1);
  assert.deepEqual(told, [[goneId.toHex(), bob.nodeId.toHex()]]);
});

Deno.test("SecureChannel keeps the handshake when a RESPONSE with another key is not signed", () => {
  const net = new Net();
  const told: string[] = [];
  const alice = net.add(A, 1, { handshakeAttemptsMax: 2 }, undefined, (_to, _e, actual) => {
    told.push(actual.toHex());
  });
  net.add(B, 3);
  const bobId = NodeId.fromPublicKey(
    ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2)).publicKey,
  );
  alice.channel.send(B, bobId, utf8Encode("for bob only"));
  net.deliver(net.take()[0]);
  const [response] = net.take();
  const forged = response.bytes.slice();
  forged[100] ^= 0x01;
  net.deliver({ ...response, bytes: forged });
  assert.equal(alice.channel.stats().dropped.wrongNodeId, 1);
  assert.equal(alice.channel.stats().wrongIdentity, 0);
  assert.deepEqual(told, [], "a forger cannot make a contact look like someone else");
  assert.equal(alice.channel.stats().handshakesPending, 1, "the real bob may still answer");
  net.clock.advanceTo(alice.channel.nextWakeupMs());
  alice.channel.tick();
  net.clock.advanceTo(alice.channel.nextWakeupMs());
  alice.channel.tick();
  assert.equal(alice.channel.stats().handshakesAbandoned, 1);
  assert.equal(alice.channel.stats().sendDropped.handshakeTimeout, 1);
});

Deno.test("SecureChannel drops handshakes with forged signatures and makes no session", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  const [init] = net.take();
  const forgedInit = init.bytes.slice();
  forgedInit[INIT_BYTES - 1] ^= 0x01;
  net.deliver({ ...init, bytes: forgedInit });
  assert.equal(bob.channel.stats().dropped.badSignature, 1);
  assert.equal(bob.channel.stats().sessions, 0);
  assert.equal(net.wire.length, 0);
  net.deliver(init);
  const [response] = net.take();
  const forgedResponse = response.bytes.slice();
  forgedResponse[100] ^= 0x01;
  net.deliver({ ...response, bytes: forgedResponse });
  assert.equal(alice.channel.stats().dropped.badSignature, 1);
  assert.equal(alice.channel.stats().sessions, 0);
  net.deliver(response);
  net.flush();
  assert.deepEqual(texts(bob), ["hello"], "the genuine RESPONSE still completes the handshake");
});

Deno.test("SecureChannel drops a RESPONSE claiming the expected key but signed by another", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  const mallory = net.add(C, 3);
  const [init] = net.take();
  net.deliver({ ...init, to: C });
  const [response] = net.take();
  const claimed = response.bytes.slice();
  claimed.set(bob.identity.publicKey, 54); // bob's key, mallory's signature
  net.deliver({ ...response, bytes: claimed });
  assert.equal(alice.channel.stats().dropped.badSignature, 1);
  assert.equal(alice.channel.stats().sessions, 0);
  assert.equal(mallory.inbox.length, 0);
});

Deno.test("SecureChannel drops an INIT signed by its own key (a reflection)", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  net.add(B, 2);
  alice.channel.send(B, undefined, utf8Encode("hello"));
  const [init] = net.take();
  net.deliver({ ...init, to: A }, B);
  assert.equal(alice.channel.stats().dropped.wrongNodeId, 1);
  assert.equal(net.wire.length, 0);
});

Deno.test("SecureChannel drops random, truncated and oversize datagrams without throwing", () => {
  const { net, alice, bob } = connected();
  alice.channel.send(B, bob.nodeId, utf8Encode("real"));
  const [real] = net.take();
  const dropped = () => bob.channel.stats().dropped;
  assert.equal(bob.channel.receive(A, new Uint8Array(datagramBytesMax + 1)), undefined);
  assert.equal(dropped().oversize, 1);
  assert.equal(bob.channel.receive(A, new Uint8Array(0)), undefined);
  assert.equal(bob.channel.receive(A, real.bytes.subarray(0, 30)), undefined);
  assert.equal(dropped().malformed, 2);
  const header = concatBytes(SECURE_PROTOCOL_ID, new Uint8Array([1]));
  const anyDatagram = fc.oneof(
    fc.uint8Array({ maxLength: 1300 }),
    fc.tuple(fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 300 })).map((
      [type, body],
    ) => concatBytes(header, new Uint8Array([type]), body)),
    fc.uint8Array({ minLength: 16, maxLength: 1200 }).map((body) =>
      concatBytes(real.bytes.subarray(0, 14), body)
    ),
  );
  fc.assert(
    fc.property(anyDatagram, (bytes) => {
      const before = droppedTotal(bob);
      assert.equal(bob.channel.receive(C, bytes), undefined);
      assert.equal(droppedTotal(bob), before + 1, "every drop is counted once");
    }),
    { seed: SEED, numRuns: 500 },
  );
  assert.ok(dropped().unauthenticated > 0, "random bodies on a live session ID fail the tag");
  net.deliver(real);
  assert.deepEqual(texts(bob), ["real"]);
});

Deno.test("SecureChannel evicts the least recently used session when the table is full", () => {
  const net = new Net();
  const bob = net.add(B, 2, { sessionsMax: 3 });
  const clients = [1, 3, 4].map((seed, i) => net.add(at(`198.51.100.${i + 1}:7447`), seed));
  for (const client of clients) {
    client.channel.send(B, bob.nodeId, utf8Encode(`hi from ${client.address}`));
    net.flush();
  }
  // The first client talks again, so the second is now least recently used.
  clients[0].channel.send(B, bob.nodeId, utf8Encode("still here"));
  net.flush();
  const latecomer = net.add(at("198.51.100.9:7447"), 5);
  latecomer.channel.send(B, bob.nodeId, utf8Encode("room for me?"));
  net.flush();
  assert.equal(bob.channel.stats().sessionsEvicted, 1);
  assert.equal(bob.channel.stats().sessions, 3);
  assert.equal(bob.channel.currentSession(clients[1].address), undefined, "the LRU went");
  assert.ok(bob.channel.currentSession(clients[0].address));
  clients[1].channel.send(B, bob.nodeId, utf8Encode("lost"));
  net.flush();
  assert.equal(bob.channel.stats().dropped.unknownSession, 1);
  clients[0].channel.send(B, bob.nodeId, utf8Encode("kept"));
  net.flush();
  assert.equal(texts(bob).at(-1), "kept");
});

Deno.test("SecureChannel rekeys after the packet limit without losing a plaintext", () => {
  const { net, alice, bob } = connected({ sessionRekeyPackets: 5, sessionRejectPackets: 8 });
  const first = alice.channel.currentSession(B)!;
  const sent: string[] = [];
  for (let i = 0; i < 12; i++) {
    sent.push(`#${i}`);
    alice.channel.send(B, bob.nodeId, utf8Encode(`#${i}`));
    net.flush();
  }
  assert.deepEqual(texts(bob), sent);
  const second = alice.channel.currentSession(B)!;
  assert.notEqual(second, first);
  assert.ok(alice.channel.stats().rekeys >= 2, "the 'hello' counts: #3 and #8 trip the limit");
  assert.equal(droppedTotal(bob), 0);
  assert.equal(droppedTotal(alice), 0);
  bob.channel.send(A, alice.nodeId, utf8Encode("reply"));
  net.flush();
  assert.deepEqual(texts(alice), ["reply"]);
});

Deno.test("SecureChannel queues behind a rekey once a session reaches its reject limit", () => {
  const { net, alice, bob } = connected({ sessionRekeyPackets: 3, sessionRejectPackets: 4 });
  const outcomes = [];
  for (let i = 0; i < 5; i++) outcomes.push(alice.channel.send(B, bob.nodeId, utf8Encode(`${i}`)));
  // "hello" was packet 1; packets 2 to 4 go out on the old session, the rest wait.
  assert.deepEqual(outcomes, ["sent", "sent", "sent", "queued", "queued"]);
  const first = alice.channel.currentSession(B);
  assert.equal(first, undefined, "retired for sending");
  bob.channel.send(A, alice.nodeId, utf8Encode("on the old session"));
  net.flush();
  assert.deepEqual(texts(bob), ["0", "1", "2", "3", "4"]);
  assert.deepEqual(texts(alice), ["on the old session"], "still opens what the peer sent");
  assert.equal(alice.channel.stats().sessions, 2);
});

Deno.test("SecureChannel rekeys after the time limit and sweeps the old session later", () => {
  const { net, alice, bob } = connected();
  const { sessionRekeyMs, sessionRejectMs } = secureChannelLimitsDefault;
  const first = alice.channel.currentSession(B)!;
  // Bob answers, as a DHT peer does, so alice's session is not suspect of a restart.
  bob.channel.send(A, alice.nodeId, utf8Encode("ack"));
  net.flush();
  alice.inbox.length = 0;
  net.clock.advanceBy(sessionRekeyMs);
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("old key")), "sent");
  net.flush();
  const second = alice.channel.currentSession(B)!;
  assert.notEqual(second, first);
  assert.equal(alice.channel.stats().rekeys, 1);
  assert.ok(bob.channel.currentSession(A) !== undefined);
  assert.ok(
    bob.channel.currentSession(A)!.localSessionId.every((b, i) => b === second.remoteSessionId[i]),
    "the keepalive confirmed the new session to bob, who now sends on it",
  );
  alice.channel.send(B, bob.nodeId, utf8Encode("new key"));
  bob.channel.send(A, alice.nodeId, utf8Encode("back"));
  net.flush();
  assert.deepEqual(texts(bob), ["old key", "new key"]);
  assert.deepEqual(texts(alice), ["back"]);
  assert.equal(alice.channel.stats().sessions, 2);
  net.clock.advanceBy(sessionRejectMs - sessionRekeyMs);
  net.clock.advanceTo(Math.max(net.clock.nowMs(), alice.channel.nextWakeupMs()));
  alice.channel.tick();
  bob.channel.tick();
  assert.equal(alice.channel.stats().sessions, 1, "the first session is swept");
  assert.equal(bob.channel.stats().sessions, 1);
  assert.equal(alice.channel.currentSession(B), second);
});

Deno.test("SecureChannel drops DATA for a session past its reject age", () => {
  const { net, alice, bob } = connected();
  alice.channel.send(B, bob.nodeId, utf8Encode("late"));
  const [packet] = net.take();
  net.clock.advanceBy(secureChannelLimitsDefault.sessionRejectMs);
  net.deliver(packet);
  assert.equal(bob.channel.stats().dropped.expired, 1);
  assert.equal(bob.channel.stats().sessionsExpired, 1);
});

Deno.test("SecureChannel bounds the queue of a pending handshake, dropping the oldest", () => {
  const net = new Net();
  const alice = net.add(A, 1, { handshakeQueuePacketsMax: 4 });
  const bob = net.add(B, 2);
  const outcomes = [];
  for (let i = 0; i < 6; i++) outcomes.push(alice.channel.send(B, bob.nodeId, utf8Encode(`${i}`)));
  assert.deepEqual(outcomes, ["queued", "queued", "queued", "queued", "queued", "queued"]);
  assert.equal(alice.channel.stats().sendDropped.queueFull, 2);
  assert.equal(net.wire.length, 1, "one INIT, however many sends");
  net.flush();
  assert.deepEqual(texts(bob), ["2", "3", "4", "5"]);
});

Deno.test("SecureChannel bounds pending handshakes and drops sends beyond them", () => {
  const net = new Net();
  const alice = net.add(A, 1, { handshakesPendingMax: 2 });
  assert.equal(alice.channel.send(B, undefined, utf8Encode("1")), "queued");
  assert.equal(alice.channel.send(C, undefined, utf8Encode("2")), "queued");
  assert.equal(alice.channel.send(at("192.0.2.4:7447"), undefined, utf8Encode("3")), "dropped");
  assert.equal(alice.channel.stats().sendDropped.handshakesPendingFull, 1);
  assert.equal(alice.channel.stats().handshakesPending, 2);
});

Deno.test("SecureChannel resends the same INIT after doubling waits, then completes", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  assert.equal(alice.channel.nextWakeupMs(), Infinity, "an idle channel never wakes");
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  const [lost] = net.take();
  const retryMs = alice.channel.nextWakeupMs();
  assert.equal(retryMs, START_MS + secureChannelLimitsDefault.handshakeRetryMs);
  alice.channel.tick();
  assert.equal(net.wire.length, 0, "an early tick does nothing");
  net.clock.advanceTo(retryMs);
  alice.channel.tick();
  const [lostAgain] = net.take();
  assert.deepEqual(lostAgain.bytes, lost.bytes, "the same INIT, byte for byte");
  assert.equal(
    alice.channel.nextWakeupMs(),
    retryMs + 2 * secureChannelLimitsDefault.handshakeRetryMs,
    "the wait doubles",
  );
  net.clock.advanceTo(alice.channel.nextWakeupMs());
  alice.channel.tick();
  net.flush();
  assert.deepEqual(texts(bob), ["hello"]);
  assert.equal(alice.channel.stats().handshakeRetries, 2);
  // A lost copy turns up late: bob answered it already, from the same address, so he resends
  // his RESPONSE without new work; alice has finished and ignores it.
  net.deliver(lost);
  assert.equal(bob.channel.stats().handshakesAnswered, 1);
  assert.equal(bob.channel.stats().handshakeResponsesResent, 1);
  net.flush();
  assert.equal(alice.channel.stats().dropped.unknownSession, 1);
  assert.equal(alice.channel.stats().handshakesCompleted, 1);
});

Deno.test("SecureChannel finishes a handshake with a late RESPONSE to an earlier copy", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  net.deliver(net.take()[0]);
  const [slowResponse] = net.take();
  net.clock.advanceTo(alice.channel.nextWakeupMs());
  alice.channel.tick();
  const [copy] = net.take();
  net.deliver(copy);
  const [resentResponse] = net.take();
  assert.deepEqual(resentResponse.bytes, slowResponse.bytes, "answered from the cache");
  assert.equal(bob.channel.stats().handshakesAnswered, 1, "no second signature or key");
  assert.equal(bob.channel.stats().sessions, 1, "no second session");
  net.deliver(slowResponse);
  net.flush();
  assert.deepEqual(texts(bob), ["hello"]);
  assert.equal(alice.channel.stats().handshakesCompleted, 1);
  net.deliver(resentResponse);
  assert.equal(alice.channel.stats().dropped.unknownSession, 1, "the duplicate is dropped");
});

Deno.test("SecureChannel resends a cached RESPONSE only to the INIT's address, a few times", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2, { handshakeResponseResendsMax: 2 });
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  const [init] = net.take();
  net.deliver(init);
  net.take();
  net.deliver(init, C);
  assert.equal(net.wire.length, 0, "a copy from elsewhere is not answered");
  assert.equal(bob.channel.stats().dropped.handshakeReplay, 1);
  net.deliver(init);
  net.deliver(init);
  net.deliver(init);
  assert.equal(net.take().length, 2, "at most handshakeResponseResendsMax resends");
  assert.equal(bob.channel.stats().handshakeResponsesResent, 2);
  assert.equal(bob.channel.stats().dropped.handshakeReplay, 2);
  assert.equal(bob.channel.stats().handshakesAnswered, 1);
});

Deno.test("SecureChannel forgets a cached RESPONSE after handshakeResponseCacheMs", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  const [init] = net.take();
  net.deliver(init);
  net.take();
  net.clock.advanceBy(secureChannelLimitsDefault.handshakeResponseCacheMs);
  bob.channel.tick();
  net.deliver(init);
  assert.equal(net.wire.length, 0);
  assert.equal(bob.channel.stats().dropped.handshakeReplay, 1, "an old copy is a replay");
  assert.equal(bob.channel.stats().handshakeResponsesResent, 0);
});

Deno.test("SecureChannel holds an INIT resend while its own receive queue is behind", () => {
  let clearedMs = -Infinity;
  const net = new Net();
  const alice = net.add(A, 1, {}, () => clearedMs);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  net.deliver(net.take()[0]);
  const [queuedResponse] = net.take();
  const dueMs = alice.channel.nextWakeupMs();
  net.clock.advanceTo(dueMs);
  alice.channel.tick();
  assert.equal(net.wire.length, 0, "held: the RESPONSE may be waiting in our socket");
  assert.equal(alice.channel.stats().handshakeRetriesPostponed, 1);
  // It was: handled once the loop gets to it, and the handshake completes without a resend.
  net.deliver(queuedResponse);
  net.flush();
  assert.deepEqual(texts(bob), ["hello"]);
  assert.equal(alice.channel.stats().handshakeRetries, 0);
  // Another handshake, whose INIT is lost: resent once our queue is handled past the retry time.
  alice.channel.send(C, undefined, utf8Encode("to nobody"));
  net.take();
  // Its resend falls due (the first handshake took a second, so later than the first's did):
  // held while the queue is behind.
  const sentMs = net.clock.nowMs();
  for (let step = 0; step < 1000 && alice.channel.stats().handshakeRetriesPostponed < 2; step++) {
    net.clock.advanceBy(10);
    alice.channel.tick();
  }
  const secondDueMs = net.clock.nowMs();
  assert.ok(secondDueMs > sentMs + secureChannelLimitsDefault.handshakeRetryMs);
  assert.equal(net.wire.length, 0);
  assert.equal(alice.channel.stats().handshakeRetriesPostponed, 2);
  clearedMs = secondDueMs;
  net.clock.advanceTo(alice.channel.nextWakeupMs());
  alice.channel.tick();
  assert.equal(net.take().length, 1, "resent");
  assert.equal(alice.channel.stats().handshakeRetries, 1);
});

Deno.test("SecureChannel waits longer before resending an INIT once its handshakes are slow", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const retryMs = secureChannelLimitsDefault.handshakeRetryMs;
  for (const [index, address] of [B, C].entries()) {
    const peer = net.add(address, 2 + index);
    alice.channel.send(address, peer.nodeId, utf8Encode("hello"));
    net.deliver(net.take()[0]);
    const [response] = net.take();
    net.clock.advanceBy(retryMs - 1); // answered on the first INIT, just before its resend
    net.deliver(response);
    net.flush();
  }
  alice.channel.send(at("192.0.2.9:7447"), undefined, utf8Encode("slow"));
  net.take();
  const firstWaitMs = firstInitWaitMs(net, alice);
  assert.ok(firstWaitMs > retryMs, `waits ${firstWaitMs} ms, more than ${retryMs}`);
  assert.ok(firstWaitMs <= handshakeRetryMsMax);
  // The bound holds however slow the handshakes were.
  for (let i = 0; i < 20; i++) {
    const peer = net.add(at(`192.0.2.${20 + i}:7447`), 10 + i);
    alice.channel.send(peer.address, peer.nodeId, utf8Encode("hello"));
    net.deliver(net.take()[0]);
    const [response] = net.take();
    net.clock.advanceBy(60_000);
    net.deliver(response);
    net.flush();
  }
  alice.channel.send(at("192.0.2.10:7447"), undefined, utf8Encode("slower"));
  net.take();
  assert.ok(firstInitWaitMs(net, alice) <= handshakeRetryMsMax);
});

Deno.test("SecureChannel holds an INIT resend at most handshakeLocalQueueWaitMsMax", () => {
  const net = new Net();
  const alice = net.add(A, 1, {}, () => -Infinity);
  alice.channel.send(B, undefined, utf8Encode("hello"));
  net.take();
  const dueMs = alice.channel.nextWakeupMs();
  for (let step = 0; step < 5000 && net.wire.length === 0; step++) {
    net.clock.advanceTo(alice.channel.nextWakeupMs());
    alice.channel.tick();
  }
  assert.equal(net.take().length, 1);
  assert.equal(
    net.clock.nowMs(),
    dueMs + secureChannelLimitsDefault.handshakeLocalQueueWaitMsMax,
    "resent at the bound",
  );
});

Deno.test("SecureChannel gives up after the last attempt and drops the queue, counted", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  for (let i = 0; i < 3; i++) alice.channel.send(B, undefined, utf8Encode(`${i}`));
  for (let step = 0; alice.channel.nextWakeupMs() !== Infinity; step++) {
    assert.ok(step < 10, "the handshake must end");
    net.clock.advanceTo(alice.channel.nextWakeupMs());
    alice.channel.tick();
  }
  const stats = alice.channel.stats();
  assert.equal(net.take().length, secureChannelLimitsDefault.handshakeAttemptsMax);
  assert.equal(stats.handshakesAbandoned, 1);
  assert.equal(stats.sendDropped.handshakeTimeout, 3);
  assert.equal(stats.handshakesPending, 0);
});

Deno.test("SecureChannel finishes an abandoned handshake with a late RESPONSE and uses it", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("lost with the handshake"));
  const [init] = net.take();
  // Bob answers, but his RESPONSE waits (a busy socket) until alice has given up.
  net.deliver(init);
  const [lateResponse] = net.take();
  for (let step = 0; alice.channel.stats().handshakesAbandoned === 0; step++) {
    assert.ok(step < 10, "the handshake must be given up");
    net.clock.advanceTo(alice.channel.nextWakeupMs());
    alice.channel.tick();
    net.take();
  }
  assert.equal(alice.channel.stats().sendDropped.handshakeTimeout, 1);
  net.deliver(lateResponse);
  assert.equal(alice.channel.stats().handshakesFinishedLate, 1);
  assert.equal(alice.channel.stats().handshakesCompleted, 1);
  net.flush(); // the keepalive confirms the session on bob's side
  assert.equal(bob.inbox.length, 0, "the dropped plaintext is not resurrected");
  const startedBefore = alice.channel.stats().handshakesStarted;
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("next")), "sent");
  net.flush();
  assert.deepEqual(texts(bob), ["next"]);
  assert.equal(alice.channel.stats().handshakesStarted, startedBefore, "no new handshake");
  assert.equal(bob.channel.stats().handshakesAnswered, 1, "bob's work was not wasted");
});

Deno.test("SecureChannel hands a newer handshake's queue to a late one that finishes first", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("first"));
  net.deliver(net.take()[0]);
  const [lateResponse] = net.take();
  while (alice.channel.stats().handshakesAbandoned === 0) {
    net.clock.advanceTo(alice.channel.nextWakeupMs());
    alice.channel.tick();
    net.take();
  }
  alice.channel.send(B, bob.nodeId, utf8Encode("second"));
  const [newerInit] = net.take();
  net.deliver(lateResponse);
  net.flush();
  assert.deepEqual(texts(bob), ["second"], "sent through the late session");
  assert.equal(alice.channel.stats().handshakesPending, 0, "the newer handshake is dropped");
  // The newer INIT arrives after all: bob answers it, alice no longer knows it.
  net.deliver(newerInit);
  net.flush();
  assert.equal(alice.channel.stats().dropped.unknownSession, 1);
  assert.equal(alice.channel.send(B, bob.nodeId, utf8Encode("third")), "sent");
  net.flush();
  assert.deepEqual(texts(bob), ["second", "third"]);
});

Deno.test("SecureChannel forgets an abandoned handshake after handshakeAbandonedKeepMs", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("hello"));
  net.deliver(net.take()[0]);
  const [lateResponse] = net.take();
  while (alice.channel.stats().handshakesAbandoned === 0) {
    net.clock.advanceTo(alice.channel.nextWakeupMs());
    alice.channel.tick();
    net.take();
  }
  net.clock.advanceBy(secureChannelLimitsDefault.handshakeAbandonedKeepMs);
  alice.channel.tick();
  net.deliver(lateResponse);
  assert.equal(alice.channel.stats().dropped.unknownSession, 1);
  assert.equal(alice.channel.stats().handshakesFinishedLate, 0);
  assert.equal(alice.channel.stats().sessions, 0);
});

Deno.test("SecureChannel reaches a restarted peer again once its sends go unanswered", () => {
  const { net, alice, bob } = connected();
  const reborn = net.add(B, 2); // same key, no sessions
  alice.channel.send(B, bob.nodeId, utf8Encode("into the void"));
  net.flush();
  assert.equal(reborn.channel.stats().dropped.unknownSession, 1);
  net.clock.advanceBy(secureChannelLimitsDefault.sessionUnansweredMs);
  alice.channel.send(B, bob.nodeId, utf8Encode("are you there?"));
  alice.channel.send(B, bob.nodeId, utf8Encode("again"));
  net.flush();
  assert.deepEqual(texts(reborn), ["are you there?", "again"], "queued behind the handshake");
  assert.equal(alice.channel.stats().rekeys, 1);
  reborn.channel.send(A, alice.nodeId, utf8Encode("back"));
  net.flush();
  assert.deepEqual(texts(alice), ["back"]);
});

Deno.test("SecureChannel caps answered INITs per second", () => {
  const net = new Net();
  const bob = net.add(B, 2, { handshakesAnsweredPerSecondMax: 2 });
  const clients = [1, 3, 4].map((seed, i) => net.add(at(`198.51.100.${i + 1}:7447`), seed));
  for (const client of clients) client.channel.send(B, bob.nodeId, utf8Encode("hi"));
  net.flush();
  assert.equal(bob.channel.stats().handshakesAnswered, 2);
  assert.equal(bob.channel.stats().dropped.handshakeRate, 1);
  net.clock.advanceTo(clients[2].channel.nextWakeupMs());
  clients[2].channel.tick();
  net.flush();
  assert.equal(bob.channel.stats().handshakesAnswered, 3, "the retry a second later gets in");
  assert.equal(bob.inbox.length, 3);
});

Deno.test("SecureChannel copes with both sides starting a handshake at once", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  alice.channel.send(B, bob.nodeId, utf8Encode("from alice"));
  bob.channel.send(A, alice.nodeId, utf8Encode("from bob"));
  net.flush();
  assert.deepEqual(texts(alice), ["from bob"]);
  assert.deepEqual(texts(bob), ["from alice"]);
  alice.channel.send(B, bob.nodeId, utf8Encode("again"));
  bob.channel.send(A, alice.nodeId, utf8Encode("again"));
  net.flush();
  assert.equal(alice.inbox.length + bob.inbox.length, 4);
  assert.equal(droppedTotal(alice) + droppedTotal(bob), 0);
});

Deno.test("SecureChannel skips an address's session when another node is expected there", () => {
  const { net, alice, bob } = connected();
  net.peers.delete(B.key);
  const carol = net.add(B, 3); // carol took over bob's address
  alice.channel.send(B, carol.nodeId, utf8Encode("for carol"));
  assert.equal(packetTypeOf(net.wire[0].bytes), PacketType.init, "a new handshake, not bob's");
  net.flush();
  assert.deepEqual(texts(carol), ["for carol"]);
  assert.equal(bob.inbox.length, 0);
});

Deno.test("SecureChannel drops queued plaintexts for a node other than the one reached", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  const bob = net.add(B, 2);
  const carolId = NodeId.fromPublicKey(
    ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(3)).publicKey,
  );
  alice.channel.send(B, undefined, utf8Encode("anyone"));
  alice.channel.send(B, bob.nodeId, utf8Encode("bob"));
  alice.channel.send(B, carolId, utf8Encode("carol"));
  net.flush();
  assert.deepEqual(texts(bob), ["anyone", "bob"]);
  assert.equal(alice.channel.stats().sendDropped.wrongPeer, 1);
});

Deno.test("SecureChannel.send() refuses empty and oversize plaintexts", () => {
  const net = new Net();
  const alice = net.add(A, 1);
  assert.throws(() => alice.channel.send(B, undefined, new Uint8Array(0)), RangeError);
  assert.throws(
    () => alice.channel.send(B, undefined, new Uint8Array(sessionPlaintextBytesMax + 1)),
    /Cannot send to 192\.0\.2\.2:7447: the plaintext is 1195 bytes, expected 1 to 1194/,
  );
  assert.equal(
    alice.channel.send(B, undefined, new Uint8Array(sessionPlaintextBytesMax)),
    "queued",
  );
});

Deno.test("SecureChannel refuses limits that are not positive or out of order", () => {
  const options = {
    identity: ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1)),
    clock: new VirtualClock(START_MS),
    transport: { send: () => {} },
    randomBytes: (n: number) => new Uint8Array(n),
  };
  assert.throws(() => new SecureChannel({ ...options, limits: { sessionsMax: 0 } }), RangeError);
  assert.throws(
    () => new SecureChannel({ ...options, limits: { handshakeRetryMs: 1.5 } }),
    /handshakeRetryMs: 1.5 is not a positive integer/,
  );
  assert.throws(
    () =>
      new SecureChannel({
        ...options,
        limits: { sessionRekeyPackets: 8, sessionRejectPackets: 8 },
      }),
    RangeError,
  );
  assert.throws(
    () => new SecureChannel({ ...options, limits: { sessionRejectMs: 120_000 } }),
    RangeError,
  );
});
