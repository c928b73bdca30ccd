// Goal: the receive-queue probe says how far our own socket's queue has been handled: a probe is
// sent only when asked and none is out; its return moves clearedMs to its send time; anything
// that is not our probe is not taken for one; while the queue is slow another probe goes out
// every probeLostMs, each that returns counts, and a newer probe's return gives up the older
// ones. probeAddress turns a wildcard bind into loopback.
// Method: a ReceiveProbe with a recording send and a hand-moved clock; datagrams are handed to
// take() by the test; no sockets.

import assert from "node:assert/strict";
import { Prng, randomBytes } from "../../src/core/rng.ts";
import {
  probeAddress,
  probeLostMs,
  probesOutstandingMax,
  ReceiveProbe,
} from "../../src/node/receive_probe.ts";
import { at } from "../_address.ts";

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

Deno.test("datagrams that are not one of our probes are not taken", () => {
  const { probe, sent } = setup();
  probe.clearedMs();
  const [first] = sent;
  assert.equal(probe.take(new Uint8Array(182)), false, "a handshake-sized datagram");
  assert.equal(probe.take(new Uint8Array(first.length)), false, "right length, wrong token");
  assert.equal(probe.take(new Uint8Array(0)), false);
  assert.equal(probe.clearedMs(), -Infinity);
});

Deno.test("a slow queue gets another probe every probeLostMs; each that returns counts", () => {
  const { probe, sent, advance } = setup();
  probe.clearedMs();
  advance(probeLostMs - 1);
  probe.clearedMs();
  assert.equal(sent.length, 1, "not before probeLostMs");
  advance(1);
  probe.clearedMs();
  assert.equal(sent.length, 2, "a second probe beside the first");
  assert.equal(probe.take(sent[0]), true, "the first, late, still proves its part");
  assert.equal(probe.clearedMs(), 1_000);
  assert.equal(probe.take(sent[1]), true);
  assert.equal(probe.clearedMs(), 1_000 + probeLostMs);
  assert.equal(probe.stats().lost, 0);
});

Deno.test("a newer probe's return gives up the older ones (dropped: sockets keep order)", () => {
  const { probe, sent, advance } = setup();
  for (let i = 0; i < probesOutstandingMax + 1; i++) {
    probe.clearedMs();
    advance(probeLostMs);
  }
  assert.equal(sent.length, probesOutstandingMax + 1);
  assert.equal(probe.stats().lost, 1, "the newest pushed out at the limit");
  assert.equal(probe.take(sent[2]), true);
  assert.equal(probe.stats().lost, 3, "probes 0 and 1 were dropped");
  assert.equal(probe.clearedMs(), 1_000 + 2 * probeLostMs);
  assert.equal(probe.take(sent[3]), true, "a given-up probe is still ours, and swallowed");
  assert.equal(probe.clearedMs(), 1_000 + 2 * probeLostMs, "but changes nothing");
  assert.equal(probe.take(sent[4]), true);
  assert.equal(probe.clearedMs(), 1_000 + 4 * probeLostMs, "the newest one proves the most");
});

Deno.test("a queue further behind than all probes out still reports progress", () => {
  const { probe, sent, advance } = setup();
  for (let i = 0; i < 3 * probesOutstandingMax; i++) {
    probe.clearedMs();
    advance(probeLostMs);
  }
  assert.equal(probe.take(sent[0]), true);
  assert.equal(probe.clearedMs(), 1_000, "the first probe, kept, proves its part");
});

Deno.test("probeAddress sends wildcard binds to loopback and keeps the rest", () => {
  assert.equal(probeAddress(at("0.0.0.0:7447")).key, "127.0.0.1:7447");
  assert.equal(probeAddress(at("[::]:7447")).key, "[::1]:7447");
  assert.equal(probeAddress(at("127.0.0.1:40000")).key, "127.0.0.1:40000");
  assert.equal(probeAddress(at("[2001:db8::1]:7447")).key, "[2001:db8::1]:7447");
});
