import assert from "node:assert/strict";
import { ReceivePriority, ReceiveQueue } from "../../src/net/receive_queue.ts";

Deno.test("the queue gives the highest class first, oldest first within a class", () => {
  const queue = new ReceiveQueue<string>(10);
  queue.push(ReceivePriority.strangerHandshake, "init-stranger");
  queue.push(ReceivePriority.knownPeer, "request-1");
  queue.push(ReceivePriority.reply, "reply-1");
  queue.push(ReceivePriority.knownHandshake, "init-known");
  queue.push(ReceivePriority.knownPeer, "request-2");
  queue.push(ReceivePriority.reply, "reply-2");
  const order = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) order.push(item);
  assert.deepEqual(order, [
    "reply-1",
    "reply-2",
    "request-1",
    "request-2",
    "init-known",
    "init-stranger",
  ]);
  assert.equal(queue.size, 0);
});

Deno.test("a full queue sheds the oldest of the lowest class, never a higher one", () => {
  const queue = new ReceiveQueue<string>(3);
  queue.push(ReceivePriority.strangerHandshake, "stranger-1");
  queue.push(ReceivePriority.strangerHandshake, "stranger-2");
  queue.push(ReceivePriority.knownPeer, "request-1");
  assert.deepEqual(queue.push(ReceivePriority.reply, "reply-1"), {
    queued: true,
    shed: ReceivePriority.strangerHandshake,
  });
  assert.deepEqual(queue.push(ReceivePriority.knownPeer, "request-2"), {
    queued: true,
    shed: ReceivePriority.strangerHandshake,
  });
  // Only replies and requests are left: a stranger's INIT does not get in.
  assert.deepEqual(queue.push(ReceivePriority.strangerHandshake, "stranger-3"), {
    queued: false,
    shed: ReceivePriority.strangerHandshake,
  });
  // A request displaces the oldest request.
  assert.deepEqual(queue.push(ReceivePriority.knownPeer, "request-3"), {
    queued: true,
    shed: ReceivePriority.knownPeer,
  });
  assert.equal(queue.size, 3);
  assert.deepEqual([queue.shift(), queue.shift(), queue.shift()], [
    "reply-1",
    "request-2",
    "request-3",
  ]);
  assert.equal(queue.shift(), undefined);
});

Deno.test("the queue stays correct across many pushes and shifts", () => {
  const queue = new ReceiveQueue<number>(5000);
  let next = 0;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 3000; i++) queue.push(ReceivePriority.knownPeer, round * 3000 + i);
    for (let i = 0; i < 3000; i++) assert.equal(queue.shift(), next++);
  }
  assert.equal(queue.size, 0);
});

Deno.test("ReceiveQueue refuses a capacity that is not a positive integer", () => {
  assert.throws(() => new ReceiveQueue(0), RangeError);
  assert.throws(() => new ReceiveQueue(1.5), RangeError);
});
