/**
 * A flood sender for `scripts/bench_flood.ts`, run as a worker so sending has its own event loop:
 * it sends precomputed datagrams, cycling through them, to one address at a paced rate for a
 * fixed time, from a UDP socket on the port it is given (0 for any), and answers with what it
 * managed to send.
 *
 * Message in: {@link SenderTask}. Message out: {@link SenderReport}.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { createSocket } from "node:dgram";

/** What to send. */
export interface SenderTask {
  /** Target host and port. */
  host: string;
  port: number;
  /** Local port to send from; 0 for any. */
  fromPort: number;
  /** Datagrams per second to aim at. */
  ratePerS: number;
  /** How long to send. */
  durationMs: number;
  /** The datagrams, back to back. */
  pool: ArrayBuffer;
  /** Where each datagram starts in `pool`, and one more entry for the end of the last. */
  offsets: Uint32Array;
}

/** What was sent. */
export interface SenderReport {
  /** Datagrams the socket accepted. */
  sent: number;
  /** Sends that failed. */
  errors: number;
  /** How long the sending took. */
  elapsedMs: number;
  /** When the first datagram was handed to the socket (`Date.now()`). */
  startedAtEpochMs: number;
}

/** Sends handed to the socket and not finished, at most: node:dgram queues without limit. */
const inflightMax = 4096;

self.onmessage = async (event: MessageEvent<SenderTask>) => {
  const task = event.data;
  const pool = new Uint8Array(task.pool);
  const count = task.offsets.length - 1;
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(task.fromPort, "127.0.0.1", resolve));
  let sent = 0;
  let errors = 0;
  let attempted = 0;
  let inflight = 0;
  const done = (error: unknown) => {
    inflight--;
    if (error) errors++;
    else sent++;
  };
  const startMs = performance.now();
  const startedAtEpochMs = Date.now();
  const endMs = startMs + task.durationMs;
  while (performance.now() < endMs) {
    const dueCount = Math.floor((task.ratePerS * (performance.now() - startMs)) / 1000);
    // At most a few milliseconds' worth at once, so a stall does not turn into one huge burst.
    const batchEnd = Math.min(dueCount, attempted + Math.ceil(task.ratePerS / 200));
    while (attempted < batchEnd && inflight < inflightMax) {
      const index = attempted % count;
      const datagram = pool.subarray(task.offsets[index], task.offsets[index + 1]);
      inflight++;
      attempted++;
      socket.send(datagram, task.port, task.host, done);
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const elapsedMs = performance.now() - startMs;
  const drainUntilMs = performance.now() + 2_000;
  while (inflight > 0 && performance.now() < drainUntilMs) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  self.postMessage({ sent, errors, elapsedMs, startedAtEpochMs } satisfies SenderReport);
  self.close();
};
