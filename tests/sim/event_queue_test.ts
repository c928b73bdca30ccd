// Goal: the event queue pops in (time, push order) order, so equal times are deterministic, and
// refuses to grow past its capacity.
// Method: push pseudo-random times (many ties) from a seeded generator and compare the pop order
// with a stable sort of the same list; fill a small queue to its limit and one past it.

import assert from "node:assert/strict";
import { Prng, randomInt } from "../../src/core/rng.ts";
import { EventQueue } from "../../src/sim/event_queue.ts";

Deno.test("EventQueue.pop() returns events by time, and equal times in push order", () => {
  const simSeed = 7;
  const prng = new Prng(simSeed);
  const queue = new EventQueue<number>(10_000);
  const pushed: { timeMs: number; id: number }[] = [];
  for (let id = 0; id < 5_000; id++) {
    const timeMs = randomInt(prng, 200); // 200 distinct times for 5000 events: many ties
    queue.push(timeMs, id);
    pushed.push({ timeMs, id });
  }
  const expected = [...pushed].sort((a, b) => a.timeMs - b.timeMs).map((event) => event.id);
  const popped: number[] = [];
  for (let event = queue.pop(); event; event = queue.pop()) popped.push(event.payload);
  assert.deepEqual(popped, expected, `simSeed ${simSeed}`);
  assert.equal(queue.size, 0);
});

Deno.test("EventQueue interleaves pushes and pops without losing order", () => {
  const simSeed = 11;
  const prng = new Prng(simSeed);
  const queue = new EventQueue<number>(1_000);
  let nowMs = 0;
  let lastSequence = -1;
  for (let step = 0; step < 20_000; step++) {
    if (queue.size === 0 || randomInt(prng, 2) === 0) {
      queue.push(nowMs + randomInt(prng, 10), step);
      continue;
    }
    const event = queue.pop()!;
    assert.ok(event.timeMs >= nowMs, `time went back at step ${step}, simSeed ${simSeed}`);
    if (event.timeMs === nowMs) assert.ok(event.sequence > lastSequence, `simSeed ${simSeed}`);
    nowMs = event.timeMs;
    lastSequence = event.sequence;
  }
});

Deno.test("EventQueue.peekTimeMs() is Infinity when empty and the earliest time otherwise", () => {
  const queue = new EventQueue<string>(4);
  assert.equal(queue.peekTimeMs(), Infinity);
  assert.equal(queue.pop(), undefined);
  queue.push(30, "c");
  queue.push(10, "a");
  assert.equal(queue.peekTimeMs(), 10);
  assert.equal(queue.size, 2);
});

Deno.test("EventQueue.push() throws a RangeError past eventsMax", () => {
  const queue = new EventQueue<number>(3);
  queue.push(1, 1);
  queue.push(2, 2);
  queue.push(3, 3);
  assert.throws(() => queue.push(4, 4), RangeError);
  assert.equal(queue.size, 3, "a refused push changes nothing");
  queue.pop();
  queue.push(4, 4);
  assert.equal(queue.size, 3, "room again after a pop");
});

Deno.test("EventQueue refuses a bad capacity and a time that is not finite", () => {
  assert.throws(() => new EventQueue(0), RangeError);
  assert.throws(() => new EventQueue(1.5), RangeError);
  const queue = new EventQueue<number>(2);
  assert.throws(() => queue.push(NaN, 1), /finite/);
  assert.throws(() => queue.push(Infinity, 1), /finite/);
});
