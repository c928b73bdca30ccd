// Goal: the receive guard refuses, before any crypto, what goes over its per-source,
// per-identity and handshake limits, graylists and then bans who keeps going, exempts local
// addresses from prefix caps only, and never from identity limits. And, through real secure
// channels: a flood from one identity gets that identity graylisted while another peer on the
// same machine keeps being served.
// Method: a VirtualClock; channels wired back to back through an in-memory wire; small rates.

import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { Prng, randomBytes } from "../../src/core/rng.ts";
import type { PeerAddress } from "../../src/net/address.ts";
import { banMs, banPointsMin, graylistPointsMin } from "../../src/net/peer_penalties.ts";
import { ReceiveGuard } from "../../src/net/receive_guard.ts";
import { isLocal } from "../../src/net/address.ts";
import { encodeAddress } from "../../src/net/address.ts";
import { ReceivePriority } from "../../src/net/receive_queue.ts";
import { SecureChannel } from "../../src/net/secure_channel.ts";
import { at } from "../_address.ts";

const START_MS = 1_700_000_000_000;

Deno.test("packets over a source's rate are refused, then the source is graylisted", () => {
  const clock = new VirtualClock(START_MS);
  const guard = new ReceiveGuard({ clock, limits: { sourcePacketsPerS: 10 } });
  const from = at("198.51.100.7:4000");
  let admitted = 0;
  for (let i = 0; i < 20; i++) if (guard.admit(from, "data") === undefined) admitted++;
  assert.equal(admitted, 20, "the burst is twice the rate");
  assert.equal(guard.admit(from, "data"), "sourceRate");
  for (let i = 0; i < graylistPointsMin; i++) guard.admit(from, "data");
  assert.equal(guard.admit(from, "data"), "graylisted");
  // The same IP on another port is the same source; another IP is not.
  assert.equal(guard.admit(at("198.51.100.7:4001"), "data"), "graylisted");
  assert.equal(guard.admit(at("198.51.100.8:4000"), "data"), undefined);
  assert.equal(guard.standing(from), "graylisted");
  const stats = guard.stats();
  assert.equal(stats.dropped.sourceRate, graylistPointsMin);
  assert.equal(stats.penalties.graylistings, 1);
});

Deno.test("an identity over its rate is graylisted, whatever address it uses", () => {
  const clock = new VirtualClock(START_MS);
  const guard = new ReceiveGuard({ clock, limits: { identityPacketsPerS: 5 } });
  const identity = "ab".repeat(20);
  for (let i = 0; i < 10; i++) {
    assert.equal(guard.admit(at("127.0.0.1:5000"), "data", identity), undefined);
  }
  for (let i = 0; i < graylistPointsMin; i++) {
    assert.equal(guard.admit(at("127.0.0.1:5000"), "data", identity), "identityRate");
  }
  assert.equal(guard.standing(identity), "graylisted");
  assert.equal(guard.admit(at("127.0.0.1:6000"), "data", identity), "graylisted");
  // Another local peer is unaffected: loopback sources are whole addresses.
  assert.equal(guard.admit(at("127.0.0.1:7000"), "data", "cd".repeat(20)), undefined);
  // Time forgives: points halve every 30 s.
  clock.advanceBy(5 * 60_000);
  assert.equal(guard.admit(at("127.0.0.1:6000"), "data", identity), undefined);
});

Deno.test("handshakes are capped per source and per prefix; local ranges skip the prefix cap", () => {
  const clock = new VirtualClock(START_MS);
  const guard = new ReceiveGuard({
    clock,
    limits: { handshakesPerSourcePerS: 1, handshakesPerSourceBurst: 2, handshakesPerPrefixPerS: 1 },
  });
  assert.equal(guard.admit(at("203.0.113.1:1"), "init"), undefined);
  assert.equal(guard.admit(at("203.0.113.1:2"), "init"), undefined);
  assert.equal(guard.admit(at("203.0.113.1:3"), "init"), "handshakeSourceRate");
  // Other addresses of the /24 share its burst of 5.
  for (let host = 2; host <= 4; host++) {
    assert.equal(guard.admit(at(`203.0.113.${host}:1`), "init"), undefined);
  }
  assert.equal(guard.admit(at("203.0.113.5:1"), "init"), "handshakePrefixRate");
  assert.equal(guard.admit(at("203.0.114.5:1"), "init"), undefined, "another /24");
  // 40 loopback nodes handshake at once: no prefix cap.
  for (let port = 1; port <= 40; port++) {
    assert.equal(guard.admit(at(`127.0.0.1:${port}`), "init"), undefined);
  }
  const strict = new ReceiveGuard({
    clock,
    localRangesExempt: false,
    limits: { handshakesPerPrefixPerS: 1 },
  });
  let refused = 0;
  for (let port = 1; port <= 40; port++) {
    if (strict.admit(at(`127.0.0.1:${port}`), "init")) refused++;
  }
  assert.ok(refused > 0, "without the exemption loopback is one prefix");
});

Deno.test("junk earns its source points until it is graylisted", () => {
  const guard = new ReceiveGuard({ clock: new VirtualClock(START_MS) });
  for (let i = 0; i < graylistPointsMin; i++) guard.junk(at("127.0.0.1:9999"));
  assert.equal(guard.admit(at("127.0.0.1:9999"), "response"), "graylisted");
  assert.equal(guard.admit(at("127.0.0.1:9998"), "response"), undefined);
  assert.equal(guard.stats().junk, graylistPointsMin);
});

Deno.test("a banned source is announced and listed with its address until its ban ends", () => {
  const clock = new VirtualClock(START_MS);
  let announced = 0;
  const guard = new ReceiveGuard({
    clock,
    limits: { identityPacketsPerS: 5 },
    onSourceBanned: () => announced++,
  });
  const flooder = at("127.0.0.1:5000");
  const identity = "ab".repeat(20);
  // Over the identity's rate, then graylisted: no ban yet, nothing listed.
  for (let i = 0; i < 10 + graylistPointsMin; i++) guard.admit(flooder, "data", identity);
  assert.equal(guard.standing(flooder), "graylisted");
  assert.deepEqual(guard.bannedSources(), []);
  assert.equal(announced, 0);
  // It keeps flooding while graylisted: banned, announced once, listed as its address and port
  // (a loopback source is a whole address when local ranges are exempt).
  for (let i = 0; i < banPointsMin; i++) guard.admit(flooder, "data", identity);
  assert.equal(guard.standing(flooder), "banned");
  assert.equal(announced, 1);
  const listed = guard.bannedSources();
  assert.equal(listed.length, 1);
  assert.ok(listed[0].address.equals(flooder));
  assert.equal(listed[0].wholeHost, false);
  // Junk from a remote source is listed as its whole host.
  const remote = at("198.51.100.9:7000");
  for (let i = 0; i < banPointsMin; i++) guard.junk(remote);
  assert.equal(announced, 2);
  assert.deepEqual(
    guard.bannedSources().map((source) => [source.address.key, source.wholeHost]),
    [["127.0.0.1:5000", false], ["198.51.100.9:7000", true]],
  );
  // Bans end: the list empties.
  clock.advanceBy(banMs + 1);
  assert.deepEqual(guard.bannedSources(), []);
});

Deno.test("an address sending for a banned identity is banned too, and listed", () => {
  const clock = new VirtualClock(START_MS);
  const guard = new ReceiveGuard({ clock, limits: { identityPacketsPerS: 5 } });
  const identity = "ef".repeat(20);
  const first = at("127.0.0.1:5000");
  for (let i = 0; i < 10 + banPointsMin; i++) guard.admit(first, "data", identity);
  assert.equal(guard.standing(identity), "banned");
  // The flooder moves to a fresh port with the same identity: refused as banned, and the new
  // address earns a point a packet until it is banned itself.
  const moved = at("127.0.0.1:5001");
  assert.equal(guard.admit(moved, "data", identity), "banned");
  assert.equal(guard.standing(moved), "good");
  for (let i = 0; i < banPointsMin; i++) guard.admit(moved, "data", identity);
  assert.equal(guard.standing(moved), "banned");
  assert.ok(guard.bannedSources().some((source) => source.address.equals(moved)));
  // Another local address is not affected.
  assert.equal(guard.admit(at("127.0.0.1:5002"), "data", "01".repeat(20)), undefined);
});

Deno.test("isLocal() knows loopback, private and link-local ranges", () => {
  const local = [
    at("127.0.0.1:1"),
    at("10.1.2.3:1"),
    at("172.16.0.1:1"),
    at("172.31.255.1:1"),
    at("192.168.1.1:1"),
    at("169.254.1.1:1"),
    at("[::1]:1"),
    at("[fd00::1]:1"),
    at("[fe80::1]:1"),
  ];
  const global = [
    at("172.32.0.1:1"),
    at("8.8.8.8:1"),
    at("192.169.0.1:1"),
    at("[2001:db8::1]:1"),
    at("[::2]:1"),
  ];
  for (const address of local) assert.ok(isLocal(encodeAddress(address)), address.key);
  for (const address of global) assert.ok(!isLocal(encodeAddress(address)), address.key);
});

Deno.test("a flood from one identity gets it graylisted while another peer keeps being served", () => {
  const clock = new VirtualClock(START_MS);
  const prng = new Prng(0xf100d);
  const wire: { from: PeerAddress; to: PeerAddress; bytes: Uint8Array }[] = [];
  const guard = new ReceiveGuard({ clock, limits: { identityPacketsPerS: 50 } });
  const make = (address: PeerAddress, seed: number, withGuard: boolean) => {
    const identity = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(seed));
    const fork = prng.fork();
    const channel = new SecureChannel({
      identity,
      clock,
      transport: { send: (to, bytes) => wire.push({ from: address, to, bytes: bytes.slice() }) },
      randomBytes: (n) => randomBytes(fork, new Uint8Array(n)),
      guard: withGuard ? guard : undefined,
    });
    return { address, channel, nodeId: NodeId.fromPublicKey(identity.publicKey) };
  };
  const target = make(at("127.0.0.1:7000"), 1, true);
  const flooder = make(at("127.0.0.1:7001"), 2, false);
  const honest = make(at("127.0.0.1:7002"), 3, false);
  const served = new Map<string, number>();
  const deliver = () => {
    for (let i = 0; i < 10_000 && wire.length > 0; i++) {
      const { from, to, bytes } = wire.shift()!;
      const peer = [target, flooder, honest].find((p) => p.address.equals(to))!;
      const got = peer.channel.receive(from, bytes);
      if (got && peer === target) {
        const key = got.peer.toHex();
        served.set(key, (served.get(key) ?? 0) + 1);
      }
    }
  };
  // Ten seconds: the flooder sends 1,000 packets a second, the honest peer 10.
  for (let ms = 0; ms < 10_000; ms += 10) {
    for (let i = 0; i < 10; i++) {
      flooder.channel.send(target.address, target.nodeId, new Uint8Array([1]));
    }
    if (ms % 100 === 0) honest.channel.send(target.address, target.nodeId, new Uint8Array([2]));
    deliver();
    clock.advanceBy(10);
  }
  const flooderServed = served.get(flooder.nodeId.toHex()) ?? 0;
  assert.equal(served.get(honest.nodeId.toHex()), 100, "every honest packet was opened");
  assert.ok(flooderServed < 200, `the flooder got ${flooderServed} of 10,000 through`);
  assert.notEqual(guard.standing(flooder.nodeId.toHex()), "good");
  assert.notEqual(guard.standing(flooder.address), "good");
  assert.equal(guard.standing(honest.address), "good");
  assert.ok(target.channel.stats().dropped.refused > 9_000);
});

Deno.test("SecureChannel.admit ranks replies, then known peers, then handshakes, junk not at all", () => {
  const clock = new VirtualClock(START_MS);
  const prng = new Prng(0xad317);
  const wire: Uint8Array[] = [];
  const make = (seed: number) => {
    const identity = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(seed));
    const fork = prng.fork();
    const channel = new SecureChannel({
      identity,
      clock,
      transport: { send: (_to, bytes) => wire.push(bytes.slice()) },
      randomBytes: (n) => randomBytes(fork, new Uint8Array(n)),
      guard: new ReceiveGuard({ clock }),
    });
    return { channel, nodeId: NodeId.fromPublicKey(identity.publicKey) };
  };
  const A = at("192.0.2.1:7447");
  const B = at("192.0.2.2:7447");
  const a = make(1);
  const b = make(2);
  a.channel.send(B, b.nodeId, new Uint8Array([1]));
  const init = wire.shift()!;
  assert.equal(b.channel.admit(A, init), ReceivePriority.strangerHandshake);
  b.channel.receive(A, init);
  const response = wire.shift()!;
  assert.equal(a.channel.admit(B, response), ReceivePriority.reply);
  a.channel.receive(B, response);
  const request = wire.shift()!;
  // b has not sent on this session: a request from a known peer.
  assert.equal(b.channel.admit(A, request), ReceivePriority.knownPeer);
  assert.ok(b.channel.receive(A, request));
  b.channel.send(A, a.nodeId, new Uint8Array([2]));
  // a sent and has heard nothing since: this is its answer.
  assert.equal(a.channel.admit(B, wire.shift()!), ReceivePriority.reply);
  // Another INIT from a's address, which b now holds a session with.
  const other = make(3);
  other.channel.send(B, b.nodeId, new Uint8Array([3]));
  assert.equal(b.channel.admit(A, wire.shift()!), ReceivePriority.knownHandshake);
  assert.equal(b.channel.admit(A, new Uint8Array([1, 2, 3, 4, 5, 6, 7])), undefined);
  assert.equal(b.channel.stats().dropped.protocol, 1);
});

Deno.test("sessions opened per source and per prefix are capped over a session's life", () => {
  const clock = new VirtualClock(START_MS);
  const guard = new ReceiveGuard({
    clock,
    limits: { sessionsPerSourceMax: 3, sessionsPerPrefixMax: 5, handshakesPerSourceBurst: 100 },
  });
  for (let i = 0; i < 3; i++) assert.equal(guard.admit(at("203.0.113.9:1"), "init"), undefined);
  assert.equal(guard.admit(at("203.0.113.9:1"), "init"), "sessionSourceCap");
  assert.equal(guard.admit(at("203.0.113.10:1"), "init"), undefined);
  assert.equal(guard.admit(at("203.0.113.11:1"), "init"), undefined);
  assert.equal(guard.admit(at("203.0.113.12:1"), "init"), "sessionPrefixCap");
  // A third of a session's life later, a third of the cap is back.
  clock.advanceBy(60_000);
  assert.equal(guard.admit(at("203.0.113.9:1"), "init"), undefined);
  assert.equal(guard.admit(at("203.0.113.9:1"), "init"), "sessionSourceCap");
});
