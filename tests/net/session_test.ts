// Goal: a session seals into the documented DATA layout, opens what its peer sealed in both
// directions, refuses any change to header, ciphertext or tag, refuses replays, accepts
// reordering inside the 1024-packet window and refuses what falls behind it, and a failed
// packet never burns its counter.
// Method: two Session objects over fixed keys; packets tampered byte by byte; the replay window
// checked against a plain set-based model with fast-check (fixed seed, printed on failure).

import assert from "node:assert/strict";
import fc from "fast-check";
import { fromHex, toHex } from "../../src/core/bytes.ts";
import { datagramBytesMax, dhtMessageBytesMax } from "../../src/core/limits.ts";
import { readUint64 } from "../../src/net/handshake.ts";
import {
  DATA_HEADER_BYTES,
  DATA_OVERHEAD_BYTES,
  ReplayWindow,
  replayWindowPackets,
  Session,
  sessionPlaintextBytesMax,
} from "../../src/net/session.ts";

const SEED = 0x5e55_10;
const keys = {
  initiatorToResponder: new Uint8Array(32).fill(0x11),
  responderToInitiator: new Uint8Array(32).fill(0x22),
};
const initiatorId = new Uint8Array(8).fill(0xaa);
const responderId = new Uint8Array(8).fill(0xbb);

function pair(sessionKeys = keys) {
  const initiator = new Session({
    role: "initiator",
    localSessionId: initiatorId,
    remoteSessionId: responderId,
    keys: sessionKeys,
    peerPublicKey: new Uint8Array(32).fill(2),
    createdMs: 0,
  });
  const responder = new Session({
    role: "responder",
    localSessionId: responderId,
    remoteSessionId: initiatorId,
    keys: sessionKeys,
    peerPublicKey: new Uint8Array(32).fill(1),
    createdMs: 0,
  });
  return { initiator, responder };
}

const text = (value: string) => new TextEncoder().encode(value);

Deno.test("Session.seal() writes header, counter, ciphertext and tag as documented", () => {
  const { initiator } = pair();
  const plaintext = text("find node 42");
  const first = initiator.seal(plaintext);
  const second = initiator.seal(plaintext);
  assert.equal(first.length, DATA_OVERHEAD_BYTES + plaintext.length);
  assert.equal(DATA_HEADER_BYTES, 22);
  assert.equal(DATA_OVERHEAD_BYTES, 38);
  assert.deepEqual(first.subarray(0, 6), new Uint8Array([0x52, 0x48, 0x5a, 0x53, 1, 3]));
  assert.deepEqual(first.subarray(6, 14), responderId, "the receiver's session ID");
  assert.equal(readUint64(first, 14), 0);
  assert.equal(readUint64(second, 14), 1);
  assert.notDeepEqual(first.subarray(22), second.subarray(22), "a new nonce, a new ciphertext");
  assert.equal(initiator.packetsSealedCount, 2);
});

Deno.test("Session.open() returns what the peer sealed, in both directions", () => {
  const { initiator, responder } = pair();
  assert.deepEqual(responder.open(initiator.seal(text("ping"))), text("ping"));
  assert.deepEqual(initiator.open(responder.seal(text("pong"))), text("pong"));
  assert.deepEqual(responder.open(initiator.seal(new Uint8Array(0))), new Uint8Array(0));
  assert.equal(responder.packetsOpenedCount, 2);
});

Deno.test("a packet sealed in one direction does not open as the other direction", () => {
  const { initiator } = pair();
  const packet = initiator.seal(text("to the responder"));
  assert.equal(pair().initiator.open(packet), "unauthenticated");
});

Deno.test("the largest plaintext makes a datagram of exactly datagramBytesMax", () => {
  assert.equal(sessionPlaintextBytesMax, 1194);
  const { initiator, responder } = pair();
  const plaintext = new Uint8Array(sessionPlaintextBytesMax).map((_, i) => i & 0xff);
  const packet = initiator.seal(plaintext);
  assert.equal(packet.length, datagramBytesMax);
  assert.deepEqual(responder.open(packet), plaintext);
});

Deno.test("Session.open() refuses any flipped bit, and the original still opens after", () => {
  const { initiator, responder } = pair();
  const packet = initiator.seal(text("STORE key value"));
  for (let i = 0; i < packet.length; i++) {
    const tampered = packet.slice();
    tampered[i] ^= 0x01;
    const result = responder.open(tampered);
    assert.ok(typeof result === "string", `byte ${i} changed unnoticed`);
    // Byte 14 is the counter's top byte: set, it makes a counter of 2^56 or more, which no
    // honest sender reaches and which is refused before decryption.
    assert.equal(result, i === 14 ? "malformed" : "unauthenticated", `byte ${i}`);
  }
  assert.deepEqual(responder.open(packet), text("STORE key value"));
});

Deno.test("Session.open() refuses truncated packets and packets under another key", () => {
  const { initiator, responder } = pair();
  const packet = initiator.seal(text("hello"));
  assert.equal(responder.open(packet.subarray(0, DATA_OVERHEAD_BYTES - 1)), "malformed");
  assert.equal(responder.open(packet.subarray(0, packet.length - 1)), "unauthenticated");
  const otherKeys = {
    initiatorToResponder: new Uint8Array(32).fill(0x33),
    responderToInitiator: new Uint8Array(32).fill(0x44),
  };
  assert.equal(pair(otherKeys).responder.open(packet), "unauthenticated");
});

Deno.test("Session.open() refuses a packet it opened before", () => {
  const { initiator, responder } = pair();
  const packet = initiator.seal(text("once"));
  assert.deepEqual(responder.open(packet), text("once"));
  assert.equal(responder.open(packet), "replay");
  assert.equal(responder.open(packet.slice()), "replay");
});

Deno.test("Session.open() takes reordering inside the window and refuses what falls behind", () => {
  const { initiator, responder } = pair();
  const packets = Array.from({ length: 1101 }, (_, i) => initiator.seal(text(`#${i}`)));
  assert.deepEqual(responder.open(packets[1100]), text("#1100"));
  assert.deepEqual(responder.open(packets[100]), text("#100"), "1000 behind: inside");
  assert.deepEqual(responder.open(packets[77]), text("#77"), "1023 behind: the window's edge");
  assert.equal(responder.open(packets[76]), "replay", "1024 behind: outside");
  assert.equal(responder.open(packets[50]), "replay");
  assert.deepEqual(responder.open(packets[1099]), text("#1099"));
  assert.equal(responder.open(packets[100]), "replay");
});

Deno.test("a tampered packet does not burn its counter: the genuine one still opens", () => {
  const { initiator, responder } = pair();
  const packet = initiator.seal(text("genuine"));
  const forged = packet.slice();
  forged[forged.length - 1] ^= 0x80;
  assert.equal(responder.open(forged), "unauthenticated");
  assert.deepEqual(responder.open(packet), text("genuine"));
});

Deno.test("ReplayWindow slides across more than a whole ring at once", () => {
  const window = new ReplayWindow();
  window.accept(5);
  window.accept(100_000);
  assert.equal(window.highest, 100_000);
  assert.ok(!window.check(5));
  assert.ok(!window.check(100_000));
  assert.ok(window.check(99_999));
  assert.ok(window.check(100_000 - replayWindowPackets + 1));
  assert.ok(!window.check(100_000 - replayWindowPackets));
  window.accept(Number.MAX_SAFE_INTEGER);
  assert.ok(!window.check(Number.MAX_SAFE_INTEGER));
  assert.ok(window.check(Number.MAX_SAFE_INTEGER - 1));
});

Deno.test("ReplayWindow agrees with a set-based model on random counter sequences", () => {
  const counters = fc.array(
    fc.oneof(
      fc.integer({ min: 0, max: 3000 }),
      fc.integer({ min: 0, max: 40 }).map((delta) => delta * 97),
    ),
    { maxLength: 400 },
  );
  fc.assert(
    fc.property(counters, (sequence) => {
      const window = new ReplayWindow();
      const seen = new Set<number>();
      let highest = -1;
      for (const counter of sequence) {
        const fresh = !seen.has(counter) && highest - counter < replayWindowPackets;
        assert.equal(window.check(counter), fresh, `counter ${counter} after ${highest}`);
        if (fresh) {
          window.accept(counter);
          seen.add(counter);
          highest = Math.max(highest, counter);
        }
      }
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("Session.seal() reproduces the DATA test vector of docs/protocol.md", () => {
  const vectorKeys = {
    initiatorToResponder: fromHex(
      "5186a0a32b8d2c9157e23ac2e964a3189440ba892d2a5d792477983ca53e3cad",
    ),
    responderToInitiator: fromHex(
      "47aa823c64dab1a8ff4d921a31be79e72a95a5b461bf6a3d28b308a9f3197ce7",
    ),
  };
  const initiator = new Session({
    role: "initiator",
    localSessionId: fromHex("0102030405060708"),
    remoteSessionId: fromHex("1112131415161718"),
    keys: vectorKeys,
    peerPublicKey: new Uint8Array(32),
    createdMs: 0,
  });
  assert.equal(
    toHex(initiator.seal(text("hello"))),
    "52485a530103111213141516171800000000000000007be71f80685afc3e33d0191c81da81593928ed069f",
  );
});

Deno.test("a DHT message always fits one DATA packet", () => {
  assert.equal(sessionPlaintextBytesMax, dhtMessageBytesMax);
});
