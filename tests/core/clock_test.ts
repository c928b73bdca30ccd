// Goal: the clocks of src/core/clock.ts and system_clock.ts never run backwards: VirtualClock
// moves only when told and refuses to go back (an AssertionError: a bug in the caller), and
// SystemClock follows the wall clock but repeats its last reading when the wall clock steps back.
// Method: drive VirtualClock directly; for SystemClock, compare with Date.now() and replace
// Date.now() for the duration of one test to simulate a clock step.

import assert from "node:assert/strict";
import { AssertionError } from "../../src/core/assert.ts";
import { type Clock, VirtualClock } from "../../src/core/clock.ts";
import { SystemClock } from "../../src/core/system_clock.ts";

function assertAssertionError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof AssertionError, `expected AssertionError, got ${caught}`);
  assert.equal(caught.name, "AssertionError");
  assert.match(caught.message, pattern);
}

Deno.test("VirtualClock starts at 0 by default, or at the given time", () => {
  assert.equal(new VirtualClock().nowMs(), 0);
  assert.equal(new VirtualClock(1_000).nowMs(), 1_000);
  assert.equal(new VirtualClock(-5).nowMs(), -5, "any finite start is allowed");
});

Deno.test("VirtualClock refuses a start time that is not finite", () => {
  assertAssertionError(() => new VirtualClock(Number.NaN), /the start time must be finite/);
  assertAssertionError(() => new VirtualClock(Infinity), /the start time must be finite/);
});

Deno.test("VirtualClock.advanceBy() moves the clock forward by the duration", () => {
  const clock = new VirtualClock(1_000);
  clock.advanceBy(500);
  assert.equal(clock.nowMs(), 1_500);
  clock.advanceBy(0);
  assert.equal(clock.nowMs(), 1_500);
  clock.advanceBy(0.25);
  assert.equal(clock.nowMs(), 1_500.25);
});

Deno.test("VirtualClock.advanceTo() moves the clock to the given time", () => {
  const clock = new VirtualClock(1_000);
  clock.advanceTo(5_000);
  assert.equal(clock.nowMs(), 5_000);
  clock.advanceTo(5_000);
  assert.equal(clock.nowMs(), 5_000, "advancing to now is allowed");
});

Deno.test("VirtualClock.nowMs() does not move on its own", () => {
  const clock = new VirtualClock(42);
  for (let i = 0; i < 10; i++) assert.equal(clock.nowMs(), 42);
});

Deno.test("VirtualClock.advanceTo() refuses to go backwards", () => {
  const clock = new VirtualClock(1_000);
  assertAssertionError(() => clock.advanceTo(999), /cannot move the clock back from 1000 to 999/);
  assert.equal(clock.nowMs(), 1_000, "a refused move leaves the clock where it was");
});

Deno.test("VirtualClock.advanceBy() refuses a negative duration", () => {
  const clock = new VirtualClock(1_000);
  assertAssertionError(() => clock.advanceBy(-1), /cannot advance the clock by a negative -1 ms/);
  assert.equal(clock.nowMs(), 1_000);
});

Deno.test("VirtualClock refuses a target or duration that is not finite", () => {
  const clock = new VirtualClock(1_000);
  assertAssertionError(() => clock.advanceTo(Number.NaN), /the target time must be finite/);
  assertAssertionError(() => clock.advanceTo(Infinity), /the target time must be finite/);
  assertAssertionError(() => clock.advanceBy(Number.NaN), /cannot advance the clock/);
  assertAssertionError(() => clock.advanceBy(Infinity), /the target time must be finite/);
  assert.equal(clock.nowMs(), 1_000);
});

Deno.test("VirtualClock satisfies the Clock interface", () => {
  const clock: Clock = new VirtualClock(7);
  assert.equal(clock.nowMs(), 7);
});

Deno.test("SystemClock never returns a smaller value on consecutive calls", () => {
  const clock = new SystemClock();
  let previous = clock.nowMs();
  for (let i = 0; i < 10_000; i++) {
    const now = clock.nowMs();
    assert.ok(now >= previous, `${now} after ${previous}`);
    previous = now;
  }
});

Deno.test("SystemClock reads the wall clock, near Date.now()", () => {
  const clock = new SystemClock();
  const before = Date.now();
  const now = clock.nowMs();
  const after = Date.now();
  assert.ok(before <= now && now <= after, `${before} <= ${now} <= ${after}`);
  assert.ok(Number.isInteger(now));
});

Deno.test("SystemClock repeats its last reading when the wall clock steps back", () => {
  const realNow = Date.now;
  const readings = [10_000, 10_005, 9_000, 9_500, 10_004, 10_006];
  try {
    Date.now = () => readings.shift()!;
    const clock = new SystemClock();
    const seen = [1, 2, 3, 4, 5, 6].map(() => clock.nowMs());
    assert.deepEqual(seen, [10_000, 10_005, 10_005, 10_005, 10_005, 10_006]);
  } finally {
    Date.now = realNow;
  }
});

Deno.test("each SystemClock keeps its own last reading", () => {
  const realNow = Date.now;
  try {
    Date.now = () => 2_000;
    const a = new SystemClock();
    assert.equal(a.nowMs(), 2_000);
    Date.now = () => 1_000;
    assert.equal(a.nowMs(), 2_000);
    assert.equal(new SystemClock().nowMs(), 1_000, "a new clock starts from the wall clock");
  } finally {
    Date.now = realNow;
  }
});
