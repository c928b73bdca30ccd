// Goal: the RPC layer matches each reply to exactly one request (same transaction, from the
// address asked, from the expected ID, of a type that answers the request), resends with
// growing timeouts, reports a stall once at the first timeout and a failure after the last
// attempt, adapts timeouts to measured round trips, queues beyond inflightMax and drains the
// queue, fails overload on the next tick (never inside request()), and fails everything once on
// stop(). A timeout waits (bounded) while the reply may still be in our own receive queue.
// Method: an RpcClient on a VirtualClock with a recording fake transport and a seeded Prng;
// replies are built by hand and handed to handleReply(); time moves only when the test says.

import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import { rpcPendingMax } from "../../src/core/limits.ts";
import { NODE_ID_BYTES, NodeId } from "../../src/core/node_id.ts";
import { Prng } from "../../src/core/rng.ts";
import { decodeMessage, type Message, MessageType } from "../../src/dht/messages.ts";
import {
  localQueueWaitMsMax,
  RpcClient,
  type RpcFailure,
  type RpcOptions,
  type RpcRequest,
} from "../../src/dht/rpc.ts";
import { RecordingTransport } from "./_helpers.ts";
import { at } from "../_address.ts";
import type { PeerAddress } from "../../src/net/address.ts";

const SEED = 0x29c;
const me = NodeId.fromBytes(new Uint8Array(NODE_ID_BYTES).fill(1));
const peer = NodeId.fromBytes(new Uint8Array(NODE_ID_BYTES).fill(2));
const stranger = NodeId.fromBytes(new Uint8Array(NODE_ID_BYTES).fill(3));
const PEER = at("192.0.2.2:7447");
const OTHER = at("192.0.2.3:7447");

interface Outcome {
  replies: { reply: Message; attempts: number; rttMs: number | undefined }[];
  fails: { reason: RpcFailure; attempts: number }[];
  stalls: number;
}

function setup(options: Partial<RpcOptions> = {}) {
  const clock = new VirtualClock(1_000_000);
  const transport = new RecordingTransport();
  const rpc = new RpcClient(clock, transport, new Prng(SEED), {
    timeoutMs: 1000,
    timeoutMsMax: 4000,
    retriesMax: 2,
    inflightMax: 4,
    ...options,
  });
  /** Submits a PING (or `type`) to `to` and records what happens to it. */
  const request = (
    to = PEER,
    extra: Partial<RpcRequest> & { type?: number } = {},
  ): Outcome & { tx: () => number } => {
    const outcome: Outcome & { tx: () => number } = {
      replies: [],
      fails: [],
      stalls: 0,
      tx: () => built,
    };
    let built = -1;
    const type = extra.type ?? MessageType.ping;
    rpc.request({
      to,
      expectedId: peer,
      build: (tx) => {
        built = tx;
        return type === MessageType.findNode
          ? { type, tx, sender: me, flags: 0, target: stranger }
          : { type: MessageType.ping, tx, sender: me, flags: 0 };
      },
      onReply: (reply, attempts, rttMs) => outcome.replies.push({ reply, attempts, rttMs }),
      onFail: (reason, attempts) => outcome.fails.push({ reason, attempts }),
      onStall: () => outcome.stalls++,
      ...extra,
    });
    return outcome;
  };
  /** Moves the clock to `atMs` and ticks. */
  const tickAt = (atMs: number) => {
    clock.advanceTo(atMs);
    rpc.tick();
  };
  return { clock, transport, rpc, request, tickAt, t0: clock.nowMs() };
}

const pong = (tx: number, sender = peer): Message => ({
  type: MessageType.pong,
  tx,
  sender,
  flags: 0,
});

Deno.test("a request is sent at once with a fresh transaction ID", () => {
  const { transport, request, rpc } = setup();
  const a = request();
  const b = request();
  assert.notEqual(a.tx(), b.tx(), `seed ${SEED}`);
  const sent = transport.take();
  assert.deepEqual(sent.map((s) => s.to), [PEER, PEER]);
  assert.deepEqual(sent.map((s) => s.message.tx), [a.tx(), b.tx()]);
  assert.equal(rpc.inflight, 2);
  assert.equal(rpc.stats.sent, 2);
});

Deno.test("a reply with the right transaction, address, ID and type completes its request", () => {
  const { rpc, request, clock } = setup();
  const a = request();
  clock.advanceBy(120);
  assert.equal(rpc.handleReply(pong(a.tx()), PEER), true);
  assert.equal(a.replies.length, 1);
  assert.equal(a.replies[0].attempts, 1);
  assert.equal(a.replies[0].rttMs, 120, "the round trip of a first attempt is measured");
  assert.equal(rpc.inflight, 0);
  assert.equal(rpc.stats.replies, 1);
  // The same reply again is a duplicate: unmatched.
  assert.equal(rpc.handleReply(pong(a.tx()), PEER), false);
  assert.equal(a.replies.length, 1);
  assert.equal(rpc.stats.unmatched, 1);
});

Deno.test("replies that do not match their request are ignored and counted", () => {
  const { rpc, request } = setup();
  const a = request();
  const tx = a.tx();
  const cases: [string, Message, PeerAddress][] = [
    ["unknown transaction", pong((tx + 1) >>> 0), PEER],
    ["from another address", pong(tx), OTHER],
    [
      "of the wrong type",
      { type: MessageType.stored, tx, sender: peer, flags: 0, status: 0 },
      PEER,
    ],
    ["a request echoing the tx", { type: MessageType.ping, tx, sender: peer, flags: 0 }, PEER],
    [
      "NODES to a PING",
      {
        type: MessageType.nodes,
        tx,
        sender: peer,
        flags: 0,
        contacts: [],
        token: new Uint8Array(8),
      },
      PEER,
    ],
  ];
  cases.forEach(([what, reply, from], i) => {
    assert.equal(rpc.handleReply(reply, from), false, what);
    assert.equal(rpc.stats.unmatched, i + 1, what);
  });
  assert.equal(a.replies.length, 0);
  assert.equal(rpc.inflight, 1, "the request still waits for its real reply");
  assert.equal(rpc.handleReply(pong(tx), PEER), true);
  assert.equal(a.replies.length, 1);
});

Deno.test("a FIND_NODE accepts only NODES; another sender fails it at once as wrongIdentity", () => {
  const { rpc, request } = setup();
  const a = request(PEER, { type: MessageType.findNode });
  const nodes = (sender: NodeId): Message => ({
    type: MessageType.nodes,
    tx: a.tx(),
    sender,
    flags: 0,
    contacts: [],
    token: new Uint8Array(8),
  });
  assert.equal(rpc.handleReply(pong(a.tx()), PEER), false);
  assert.equal(rpc.inflight, 1, "a reply of the wrong type changes nothing");
  assert.equal(rpc.handleReply(nodes(stranger), PEER), false, "pinned to peer: not a reply");
  assert.equal(a.replies.length, 0);
  assert.deepEqual(a.fails, [{ reason: "wrongIdentity", attempts: 1 }]);
  assert.equal(rpc.stats.wrongIdentity, 1);
  assert.equal(rpc.inflight, 0, "no resends to a contact that is someone else");
});

Deno.test("refuseIdentity fails the requests pinned to that ID at that address, and only those", () => {
  const { rpc, request } = setup();
  const pinned = request(PEER);
  const elsewhere = request(at("192.0.2.99:7447"));
  const other = request(PEER, { expectedId: stranger });
  rpc.refuseIdentity(PEER, stranger, stranger);
  assert.equal(other.fails.length, 0, "the ID that answered is the one expected: nothing");
  rpc.refuseIdentity(PEER, peer, stranger);
  assert.deepEqual(pinned.fails, [{ reason: "wrongIdentity", attempts: 1 }]);
  assert.equal(elsewhere.fails.length + other.fails.length, 0);
  assert.equal(rpc.stats.wrongIdentity, 1);
  assert.equal(rpc.inflight, 2);
});

Deno.test("an unanswered request is resent with doubling timeouts, up to timeoutMsMax", () => {
  const { rpc, request, tickAt, transport, t0 } = setup({
    timeoutMs: 1000,
    timeoutMsMax: 3000,
    retriesMax: 3,
  });
  const a = request();
  transport.take();
  assert.equal(rpc.nextDeadlineMs(), t0 + 1000);
  tickAt(t0 + 999);
  assert.equal(transport.sent.length, 0, "not before the timeout");
  tickAt(t0 + 1000);
  assert.equal(transport.take().length, 1, "first resend");
  assert.equal(rpc.nextDeadlineMs(), t0 + 1000 + 2000);
  tickAt(t0 + 3000);
  assert.equal(transport.take().length, 1, "second resend");
  assert.equal(rpc.nextDeadlineMs(), t0 + 3000 + 3000, "4000 capped at timeoutMsMax");
  tickAt(t0 + 6000);
  const resent = transport.take();
  assert.equal(resent.length, 1, "third resend");
  assert.equal(resent[0].message.tx, a.tx(), "resends keep the transaction ID");
  assert.equal(rpc.stats.retries, 3);
  assert.equal(rpc.stats.sent, 4);
  assert.equal(a.fails.length, 0);
});

Deno.test("a stall is reported once, at the first timeout, and a late reply still counts", () => {
  const { rpc, request, tickAt, t0 } = setup();
  const a = request();
  tickAt(t0 + 1000);
  assert.equal(a.stalls, 1);
  tickAt(t0 + 3000);
  assert.equal(a.stalls, 1, "not again at the second timeout");
  assert.equal(rpc.handleReply(pong(a.tx()), PEER), true);
  assert.equal(a.replies[0].attempts, 3);
  assert.equal(a.replies[0].rttMs, undefined, "no round trip measured for a resent request");
});

Deno.test("a request fails after retriesMax + 1 attempts", () => {
  const { rpc, request, tickAt, transport, t0 } = setup({ retriesMax: 2 });
  const a = request();
  tickAt(t0 + 1000);
  tickAt(t0 + 3000);
  assert.equal(a.fails.length, 0);
  tickAt(t0 + 6999);
  assert.equal(a.fails.length, 0);
  tickAt(t0 + 7000);
  assert.deepEqual(a.fails, [{ reason: "timeout", attempts: 3 }]);
  assert.equal(transport.sent.length, 3);
  assert.equal(rpc.inflight, 0);
  assert.equal(rpc.stats.timeouts, 1);
  assert.equal(rpc.nextDeadlineMs(), Infinity);
  assert.equal(rpc.handleReply(pong(a.tx()), PEER), false, "too late");
  tickAt(t0 + 60_000);
  assert.equal(a.fails.length, 1, "failed once");
});

Deno.test("with retriesMax 0 a request fails at its first timeout without a stall", () => {
  const { request, tickAt, t0 } = setup({ retriesMax: 0 });
  const a = request();
  tickAt(t0 + 1000);
  assert.deepEqual(a.fails, [{ reason: "timeout", attempts: 1 }]);
  assert.equal(a.stalls, 0);
});

Deno.test("a measured round trip sets the timeout (RFC 6298), within its floor and ceiling", () => {
  const cases: [{ rttMs: number; rttVarMs: number }, number][] = [
    [{ rttMs: 200, rttVarMs: 10 }, 300], // max(250, 200 + 40, 1.5 × 200)
    [{ rttMs: 100, rttVarMs: 40 }, 260], // 100 + 4 × 40
    [{ rttMs: 10, rttVarMs: 1 }, 250], // the 250 ms floor
    [{ rttMs: 3000, rttVarMs: 1000 }, 4000], // timeoutMsMax
    [{ rttMs: 0, rttVarMs: 0 }, 1000], // not measured: timeoutMs
  ];
  for (const [rtt, timeout] of cases) {
    const { rpc, request, t0, tickAt } = setup();
    const a = request(PEER, { rtt });
    assert.equal(rpc.nextDeadlineMs(), t0 + timeout, JSON.stringify(rtt));
    tickAt(t0 + timeout);
    assert.equal(a.stalls, 1, JSON.stringify(rtt));
    assert.equal(
      rpc.nextDeadlineMs(),
      t0 + timeout + Math.min(4000, 2 * timeout),
      `doubled; ${JSON.stringify(rtt)}`,
    );
  }
});

Deno.test("requests beyond inflightMax wait in a queue and go out as slots free up", () => {
  const { rpc, request, transport, tickAt, t0 } = setup({ inflightMax: 2, retriesMax: 0 });
  const outcomes = [request(), request(), request(), request()];
  assert.equal(transport.take().length, 2);
  assert.equal(rpc.inflight, 2);
  assert.equal(outcomes[2].tx(), -1, "the third is not even built yet");
  // A reply frees a slot: the third goes out at once.
  rpc.handleReply(pong(outcomes[0].tx()), PEER);
  assert.equal(transport.take().length, 1);
  assert.notEqual(outcomes[2].tx(), -1);
  // Failures free slots too: the second and third (both sent at t0) time out in one tick, and
  // the fourth, the last one queued, goes out in that same tick.
  tickAt(t0 + 1000);
  assert.equal(outcomes[1].fails.length, 1);
  assert.equal(outcomes[2].fails.length, 1);
  assert.equal(transport.take().length, 1, "the fourth, and nothing else");
  assert.notEqual(outcomes[3].tx(), -1);
  assert.equal(rpc.inflight, 1);
});

Deno.test("beyond rpcPendingMax queued requests, a request fails with overload on the next tick", () => {
  const { rpc, request, tickAt, t0 } = setup({ inflightMax: 1 });
  const accepted = Array.from({ length: 1 + rpcPendingMax }, () => request());
  assert.equal(rpc.inflight, 1);
  const refused = request();
  const refused2 = request();
  assert.equal(refused.fails.length, 0, "not inside request(): callers never re-enter");
  assert.equal(rpc.stats.overloaded, 2);
  assert.equal(rpc.nextDeadlineMs(), t0, "a tick is due at once");
  tickAt(t0);
  assert.deepEqual(refused.fails, [{ reason: "overload", attempts: 0 }]);
  assert.deepEqual(refused2.fails, [{ reason: "overload", attempts: 0 }]);
  assert.ok(accepted.every((a) => a.fails.length === 0), "queued requests are unaffected");
  assert.equal(rpc.nextDeadlineMs(), t0 + 1000);
  tickAt(t0 + 60_000);
  assert.equal(refused.fails.length, 1, "failed once");
});

Deno.test("a callback may submit a new request without re-entering the one that called it", () => {
  const { rpc, request, transport } = setup({ inflightMax: 1 });
  let nested: Outcome | undefined;
  const a = request(PEER, {
    onReply: () => {
      nested = request();
    },
  });
  transport.take();
  rpc.handleReply(pong(a.tx()), PEER);
  assert.ok(nested);
  assert.equal(transport.take().length, 1, "the nested request went out");
  assert.equal(rpc.inflight, 1);
});

Deno.test("stop() fails every queued and in-flight request exactly once", () => {
  const { rpc, request, tickAt, t0, transport } = setup({ inflightMax: 1 });
  const inflight = request();
  tickAt(t0 + 1000); // One resend: attempts 2.
  const queued = Array.from({ length: rpcPendingMax }, () => request());
  const refused = request();
  rpc.stop();
  assert.deepEqual(inflight.fails, [{ reason: "stopped", attempts: 2 }]);
  assert.ok(queued.every((q) => q.fails.length === 1 && q.fails[0].reason === "stopped"));
  assert.deepEqual(refused.fails, [{ reason: "stopped", attempts: 0 }]);
  assert.equal(rpc.inflight, 0);
  assert.equal(rpc.nextDeadlineMs(), Infinity);
  const sentBefore = transport.sent.length;
  tickAt(t0 + 100_000);
  rpc.handleReply(pong(inflight.tx()), PEER);
  rpc.stop();
  assert.equal(inflight.fails.length, 1);
  assert.equal(inflight.replies.length, 0);
  assert.ok(queued.every((q) => q.fails.length === 1));
  assert.equal(refused.fails.length, 1);
  assert.equal(transport.sent.length, sentBefore, "nothing sent after stop()");
});

Deno.test("requests go out as valid datagrams built for their transaction", () => {
  const { transport, request } = setup();
  const a = request(PEER, { type: MessageType.findNode });
  const [sent] = transport.sent;
  const message = decodeMessage(sent.bytes);
  assert.ok(typeof message !== "string");
  assert.equal(message.type, MessageType.findNode);
  assert.equal(message.tx, a.tx());
  assert.ok(message.sender.equals(me));
});

Deno.test("a timeout waits while the reply may still be in our own receive queue", () => {
  let clearedMs = -Infinity;
  const { rpc, request, tickAt, transport, t0 } = setup({
    localQueueClearedMs: () => clearedMs,
  });
  const a = request();
  transport.take();
  tickAt(t0 + 1000);
  assert.equal(transport.sent.length, 0, "no resend: our queue is not handled past the deadline");
  assert.equal(a.stalls, 1, "the stall is reported on time: the lookup may ask another peer");
  assert.equal(rpc.stats.postponed, 1);
  assert.ok(rpc.nextDeadlineMs() < t0 + 1100, "checked again soon");
  clearedMs = t0 + 999;
  tickAt(rpc.nextDeadlineMs());
  assert.equal(transport.sent.length, 0, "cleared only to before the deadline");
  // The reply was waiting in our queue: it is handled and completes the first attempt.
  assert.equal(rpc.handleReply(pong(a.tx()), PEER), true);
  assert.equal(a.replies[0].attempts, 1);
  assert.equal(rpc.stats.retries, 0);
});

Deno.test("a timeout is decided once our receive queue is handled past its deadline", () => {
  let clearedMs = -Infinity;
  const { rpc, request, tickAt, transport, t0 } = setup({
    localQueueClearedMs: () => clearedMs,
  });
  const a = request();
  transport.take();
  tickAt(t0 + 1000);
  assert.equal(transport.sent.length, 0);
  clearedMs = t0 + 1000;
  tickAt(rpc.nextDeadlineMs());
  assert.equal(transport.take().length, 1, "resent: the reply was not in our queue");
  assert.equal(a.stalls, 1, "reported once");
  // The second attempt waits for the queue the same way.
  tickAt(rpc.nextDeadlineMs());
  assert.equal(transport.sent.length, 0);
  assert.equal(rpc.stats.postponed, 2);
  clearedMs = Infinity;
  tickAt(rpc.nextDeadlineMs());
  assert.equal(transport.take().length, 1);
  assert.equal(a.stalls, 1);
});

Deno.test("a receive queue that never clears delays a timeout by at most localQueueWaitMsMax", () => {
  const { rpc, request, tickAt, transport, t0, clock } = setup({
    timeoutMsMax: 4000,
    localQueueClearedMs: () => -Infinity,
  });
  const a = request();
  transport.take();
  for (let step = 0; step < 5000 && transport.sent.length === 0; step++) {
    tickAt(rpc.nextDeadlineMs());
  }
  assert.equal(transport.take().length, 1, "resent in the end");
  assert.equal(rpc.stats.postponed, 1, "counted once per attempt");
  assert.equal(clock.nowMs(), t0 + 1000 + localQueueWaitMsMax, "resent at the bound, not before");
  assert.equal(a.stalls, 1);
});

Deno.test("a peer not yet measured waits as long as replies from all peers take, bounded", () => {
  /** Sends a request to OTHER and returns when its first resend goes, in ms (10 ms steps). */
  const firstResendMs = (client: ReturnType<typeof setup>): number => {
    client.request(OTHER);
    client.transport.take();
    const startMs = client.clock.nowMs();
    for (let step = 0; step < 1000; step++) {
      client.clock.advanceBy(10);
      client.rpc.tick();
      if (client.transport.take().length > 0) return client.clock.nowMs() - startMs;
    }
    assert.fail("no resend within 10 s");
  };
  const fast = setup({ timeoutMs: 1000, timeoutMsMax: 4000 });
  assert.deepEqual(fast.rpc.anyPeerRtt(), { rttMs: 0, rttVarMs: 0 });
  const answered = fast.request();
  fast.clock.advanceBy(50);
  assert.equal(fast.rpc.handleReply(pong(answered.tx()), PEER), true);
  assert.equal(firstResendMs(fast), 1000, "fast replies: the first timeout stays timeoutMs");
  // Replies that come back after 1.5 s (a busy loop): a stranger's first attempt waits longer
  // than timeoutMs instead of being resent while its reply is on its way, but not past the cap.
  const slow = setup({ timeoutMs: 1000, timeoutMsMax: 4000 });
  for (let i = 0; i < 8; i++) {
    const outcome = slow.request();
    slow.clock.advanceBy(1500);
    assert.equal(slow.rpc.handleReply(pong(outcome.tx()), PEER), true);
  }
  assert.ok(slow.rpc.anyPeerRtt().rttMs > 1000);
  const waitMs = firstResendMs(slow);
  assert.ok(waitMs > 1500 && waitMs <= 4000, `first attempt waited ${waitMs} ms`);
});
