// Goal: runOperations() finishes a batch, keeps at most inflightMax operations running, starts
// operations at fixed times when asked, and fails loudly on a hung or doubly-finished operation.
// Method: operations are timers on a simulated network that finish after a set virtual delay.

import assert from "node:assert/strict";
import { AssertionError } from "../../src/core/assert.ts";
import { SimNetwork } from "../../src/sim/network.ts";
import { runOperations } from "../../src/sim/operations.ts";

Deno.test("runOperations() keeps at most inflightMax running and finishes them all", () => {
  const network = new SimNetwork({ simSeed: 1 });
  const startMs = network.clock.nowMs();
  let running = 0;
  let runningMost = 0;
  const finished: number[] = [];
  runOperations(network, { label: "op", count: 10, inflightMax: 3, operationMsMax: 1_000 }, (
    index,
    done,
  ) => {
    running++;
    runningMost = Math.max(runningMost, running);
    network.schedule(network.clock.nowMs() + 100, () => {
      running--;
      finished.push(index);
      done();
    });
  });
  assert.equal(finished.length, 10);
  assert.equal(runningMost, 3);
  assert.equal(network.clock.nowMs() - startMs, 400, "ceil(10 / 3) rounds of 100 ms");
});

Deno.test("runOperations() with startAtMs starts each operation at its time", () => {
  const network = new SimNetwork({ simSeed: 2 });
  const startMs = network.clock.nowMs();
  const started: [number, number][] = [];
  runOperations(network, {
    label: "join",
    count: 4,
    startAtMs: (index) => startMs + (3 - index) * 50, // the last one first
    operationMsMax: 1_000,
  }, (index, done) => {
    started.push([index, network.clock.nowMs() - startMs]);
    done(); // finishing at once, inside the start call, is allowed
  });
  assert.deepEqual(started, [[3, 0], [2, 50], [1, 100], [0, 150]]);
});

Deno.test("runOperations() fails an operation that never finishes as a liveness bug", () => {
  const network = new SimNetwork({ simSeed: 3 });
  network.schedule(network.clock.nowMs() + 1_000_000, () => {}); // keeps the network busy
  assert.throws(
    () =>
      runOperations(network, { label: "get", count: 2, inflightMax: 2, operationMsMax: 500 }, (
        index,
        done,
      ) => {
        if (index === 0) done();
      }),
    /Liveness bug: get 1, started at virtual \d+ ms, has not finished after 500 ms/,
  );
});

Deno.test("runOperations() fails a hung operation even when nothing else is queued", () => {
  const network = new SimNetwork({ simSeed: 4 });
  assert.throws(
    () => runOperations(network, { label: "put", count: 1, operationMsMax: 10 }, () => {}),
    /Liveness bug: put 0/,
  );
});

Deno.test("runOperations() refuses an operation that finishes twice", () => {
  const network = new SimNetwork({ simSeed: 5 });
  assert.throws(
    () =>
      runOperations(network, { label: "put", count: 1, operationMsMax: 10 }, (_index, done) => {
        done();
        done();
      }),
    AssertionError,
  );
});
