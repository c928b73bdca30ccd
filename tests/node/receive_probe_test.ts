// Goal: the receive-queue probe says how far our own socket's queue has been handled: a probe is
// sent only when asked and none is out; its return moves clearedMs to its send time; anything
// that is not our current probe (another length, another token, an old sequence) is not taken
// for one, or is swallowed without effect; a probe that never returns is given up after
// probeLostMs and another goes out. probeAddress turns a wildcard bind into loopback.
// Method: a ReceiveProbe with a recording send and a hand-moved clock; datagrams are handed to
// take() by the test; no sockets.

import assert from "node:assert/strict";
import { Prng, randomBytes } from "../../src/core/rng.ts";
import { probeAddress, probeLostMs, ReceiveProbe } from "../../src/node/receive_probe.ts";

const SEED = 0x9b0be;

function setup() {
  let nowMs = 1_000;
  const sent: Uint8Array[] = [];
  const prng = new Prng(SEED);
  const probe = new ReceiveProbe(
    (bytes) => sent.push(bytes.slice()),
    () => nowMs,
    (byteLength) => randomBytes(prng, new Uint8Array(byteLength)),
  );
  return { probe, sent, advance: (ms: number) => nowMs += ms, now: () => nowMs };
}

Deno.test("a probe goes out when asked, one at a time, and its return clears up to its send", () => {
  const { probe, sent, advance } = setup();
  assert.equal(sent.length, 0, "nothing until asked");
  assert.equal(probe.clearedMs(), -Infinity);
  assert.equal(sent.length, 1);
  advance(50);
  assert.equal(probe.clearedMs(), -Infinity, "still out");
  assert.equal(sent.length, 1, "one at a time");
  advance(30);
  assert.equal(probe.take(sent[0]), true);
  assert.equal(probe.clearedMs(), 1_000, "everything before the probe's send was handled");
  assert.equal(sent.length, 2, "the question sent the next probe");
  assert.deepEqual(probe.stats(), { sent: 2, returned: 1, lost: 0, delayMsMax: 80 });
});

Deno.test("datagrams that are not our current probe are not taken, or change nothing", () => {
  const { probe, sent, advance } = setup();
  probe.clearedMs();
  const [first] = sent;
  assert.equal(probe.take(new Uint8Array(182)), false, "a handshake-sized datagram");
  assert.equal(probe.take(new Uint8Array(first.length)), false, "right length, wrong token");
  assert.equal(probe.take(new Uint8Array(0)), false);
  advance(probeLostMs);
  probe.clearedMs();
  assert.equal(sent.length, 2, "the first was given up and another sent");
  assert.equal(probe.stats().lost, 1);
  assert.equal(probe.take(first), true, "an old probe of ours is swallowed");
  assert.equal(probe.clearedMs(), -Infinity, "but proves nothing about the current one");
  assert.equal(probe.take(sent[1]), true);
  assert.equal(probe.clearedMs(), 1_000 + probeLostMs);
});

Deno.test("probeAddress sends wildcard binds to loopback and keeps the rest", () => {
  assert.equal(probeAddress("0.0.0.0:7447"), "127.0.0.1:7447");
  assert.equal(probeAddress("[::]:7447"), "[::1]:7447");
  assert.equal(probeAddress("127.0.0.1:40000"), "127.0.0.1:40000");
  assert.equal(probeAddress("[2001:db8::1]:7447"), "[2001:db8::1]:7447");
});
