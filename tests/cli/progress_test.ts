/**
 * The progress bar: throttled to ten redraws a second, erased at the end, silent when disabled.
 */

import assert from "node:assert/strict";
import { Progress } from "../../src/cli/progress.ts";

function fake(enabled: boolean) {
  let nowMs = 0;
  const writes: string[] = [];
  const progress = new Progress({
    enabled,
    write: (text) => writes.push(text),
    now: () => nowMs,
    label: "exported",
  });
  return { progress, writes, advance: (ms: number) => nowMs += ms };
}

Deno.test("progress: records, MB, rate and ETA on one line, redrawn with \\r", () => {
  const { progress, writes, advance } = fake(true);
  advance(2_000);
  progress.update(1_000, 5_000_000, 4_000);
  assert.deepEqual(writes, ["\rexported 1000/4000, 5.0 MB, 500 rec/s, ETA 6 s"]);
});

Deno.test("progress: at most ten redraws a second", () => {
  const { progress, writes, advance } = fake(true);
  for (let step = 0; step < 100; step++) {
    advance(10);
    progress.update(step, step * 100, 100);
  }
  // One second of updates every 10 ms: the first draws, then one per 100 ms.
  assert.equal(writes.length, 10);
  assert.ok(writes.every((text) => text.startsWith("\r")));
});

Deno.test("progress: finish erases the line, padded over a longer earlier one", () => {
  const { progress, writes, advance } = fake(true);
  advance(1_000);
  progress.update(123_456, 1e9, 1_000_000);
  advance(1_000);
  progress.update(2, 1, 3);
  const width = writes[0].length - 1;
  assert.equal(writes[1].length - 1, width);
  progress.finish();
  assert.equal(writes.at(-1), `\r${" ".repeat(width)}\r`);
  progress.finish();
  assert.equal(writes.length, 3);
});

Deno.test("progress: nothing drawn, nothing erased, when there was no update", () => {
  const { progress, writes } = fake(true);
  progress.finish();
  assert.deepEqual(writes, []);
});

Deno.test("progress: disabled writes nothing", () => {
  const { progress, writes, advance } = fake(false);
  for (let step = 0; step < 20; step++) {
    advance(500);
    progress.update(step, step, 20);
  }
  progress.finish();
  assert.deepEqual(writes, []);
});
