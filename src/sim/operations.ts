/**
 * Runs a batch of asynchronous node operations (joins, puts, gets) to completion in virtual time,
 * with a watchdog on each: an operation whose `done` callback never runs, or runs twice, is a
 * liveness or correctness bug in the node and fails the run loudly instead of hanging it.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import type { SimNetwork } from "./network.ts";

/** How a batch is started. */
export interface OperationBatchOptions {
  /** Names the operations in messages (`"get"`, `"join"`). */
  label: string;
  /** Operations in the batch. */
  count: number;
  /**
   * Operations running at once; each one that finishes starts the next at the same instant.
   * Ignored when `startAtMs` is given.
   */
  inflightMax?: number;
  /** A fixed start time per operation, instead of a concurrency limit. */
  startAtMs?: (index: number) => number;
  /** Virtual time an operation may take before the watchdog fails the run, in ms. */
  operationMsMax: number;
}

/**
 * Starts `count` operations and runs the network until every one has called its `done`.
 *
 * @param network The network whose clock and queue drive everything.
 * @param options Count, pacing and watchdog.
 * @param start Starts operation `index`; must call `done` exactly once, now or later.
 * @throws {Error} When an operation outlives `operationMsMax`, or the network runs out of events
 *   with operations still pending (both liveness bugs).
 * @throws {AssertionError} When an operation calls `done` twice.
 */
export function runOperations(
  network: SimNetwork,
  options: OperationBatchOptions,
  start: (index: number, done: () => void) => void,
): void {
  const { label, count, operationMsMax } = options;
  assert(Number.isSafeInteger(count) && count >= 0, `bad operation count ${count}`);
  assert(operationMsMax > 0, `bad operationMsMax ${operationMsMax}`);
  let started = 0;
  let finished = 0;
  const launch = (index: number): void => {
    started++;
    const startMs = network.clock.nowMs();
    let isDone = false;
    network.schedule(startMs + operationMsMax, () => {
      if (isDone) return;
      throw new Error(
        `Liveness bug: ${label} ${index}, started at virtual ${startMs} ms, has not finished after ${operationMsMax} ms`,
      );
    });
    start(index, () => {
      assert(!isDone, `${label} ${index} reported its end twice`);
      isDone = true;
      finished++;
      // Start the next one from the event loop, not from inside this callback: no recursion.
      if (!options.startAtMs) network.schedule(network.clock.nowMs(), launchNext);
    });
  };
  const launchNext = (): void => {
    if (started < count) launch(started);
  };
  const nowMs = network.clock.nowMs();
  if (options.startAtMs) {
    for (let index = 0; index < count; index++) {
      network.schedule(Math.max(nowMs, options.startAtMs(index)), () => launch(index));
    }
  } else {
    const inflightMax = options.inflightMax ?? 1;
    assert(Number.isSafeInteger(inflightMax) && inflightMax >= 1, `bad inflightMax ${inflightMax}`);
    for (let slot = 0; slot < Math.min(inflightMax, count); slot++) {
      network.schedule(nowMs, launchNext);
    }
  }
  network.run({ until: () => finished === count });
  // Unreachable while a watchdog is queued for every pending operation; kept as the invariant.
  assert(finished === count, `${label}: the network went idle with operations pending`);
}

/**
 * Runs one operation to completion and returns its result (for tests and small scenarios).
 *
 * @param network The network to run.
 * @param start Starts the operation; it calls `done` with the result.
 * @returns The result.
 */
export function runOne<T>(network: SimNetwork, start: (done: (result: T) => void) => void): T {
  let result: T | undefined;
  runOperations(
    network,
    { label: "op", count: 1, operationMsMax: 100_000 },
    (_index, done) =>
      start((value) => {
        result = value;
        done();
      }),
  );
  return result!;
}
