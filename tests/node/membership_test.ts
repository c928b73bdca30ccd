import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { at as addressAt } from "../_address.ts";
import {
  rejoinBackoffMsMax,
  rejoinBackoffMsMin,
  RejoinPolicy,
  rememberedContactsMax,
  unansweredRejoinMs,
} from "../../src/node/membership.ts";

const someId = NodeId.fromHex("11".repeat(20));
/** A contact at `address`: the policy only keeps contacts, it never reads them. */
const at = (address: string) => ({ nodeId: someId, address: addressAt(address) });

Deno.test("a node with contacts never rejoins, and remembers its nearest", () => {
  const policy = new RejoinPolicy(new VirtualClock(0));
  const many = Array.from({ length: 40 }, (_, i) => at(`127.0.0.1:${1000 + i}`));
  assert.equal(policy.check(many), false);
  assert.deepEqual(policy.remembered, many.slice(0, rememberedContactsMax));
  assert.equal(policy.attempts, 0);
});

Deno.test("an empty table rejoins at once, one attempt at a time, backing off while it fails", () => {
  const clock = new VirtualClock(0);
  const policy = new RejoinPolicy(clock);
  policy.check([at("127.0.0.1:1")]);
  assert.equal(policy.check([]), true);
  assert.equal(policy.check([]), false, "one attempt at a time");
  assert.deepEqual(policy.remembered, [at("127.0.0.1:1")], "the last contacts are kept to rejoin");
  const waits: number[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    policy.finished(false);
    let waitedMs = 0;
    while (!policy.check([])) {
      clock.advanceBy(100);
      waitedMs += 100;
      assert.ok(waitedMs <= rejoinBackoffMsMax, "bounded backoff");
    }
    waits.push(waitedMs);
  }
  assert.equal(waits[0], rejoinBackoffMsMin);
  assert.equal(waits[1], 2 * rejoinBackoffMsMin);
  assert.equal(waits.at(-1), rejoinBackoffMsMax);
  // Contacts again: the backoff starts over.
  policy.finished(true);
  policy.check([at("127.0.0.1:2")]);
  assert.equal(policy.check([]), true);
  assert.equal(policy.attempts, 12);
});

Deno.test("a node nobody answers for unansweredRejoinMs rejoins although its table is not empty", () => {
  const clock = new VirtualClock(0);
  const policy = new RejoinPolicy(clock);
  const table = [at("127.0.0.1:1")];
  assert.equal(policy.check(table, { replies: 5, timeouts: 0 }), false);
  // Quiet is not silence: no requests timed out, no rejoin.
  clock.advanceBy(2 * unansweredRejoinMs);
  assert.equal(policy.check(table, { replies: 5, timeouts: 0 }), false);
  // Requests time out, but an answer came less than unansweredRejoinMs ago.
  assert.equal(policy.check(table, { replies: 6, timeouts: 3 }), false);
  clock.advanceBy(unansweredRejoinMs - 1);
  assert.equal(policy.check(table, { replies: 6, timeouts: 9 }), false);
  clock.advanceBy(1);
  assert.equal(policy.check([at("127.0.0.1:2")], { replies: 6, timeouts: 9 }), true);
  assert.deepEqual(policy.remembered, table, "silent contacts do not replace the remembered ones");
  policy.finished(true);
  // An answer ends the silence.
  clock.advanceBy(rejoinBackoffMsMin);
  assert.equal(policy.check(table, { replies: 7, timeouts: 9 }), false);
});
