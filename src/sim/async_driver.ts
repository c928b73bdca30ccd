/**
 * Drives code written with promises (the services: `await network.fetch(…)`) on the simulator's
 * virtual time. The network runs event by event, synchronously; a promise settled inside an event
 * only queues its continuations, which must all run before the clock moves on, or a service would
 * see time jump between two lines of its code. So after every event that settled a promise, the
 * driver waits for the next task (the environment's, injected: every queued continuation has run
 * by then), and only then lets the network go on. One seed still gives one run: continuations
 * run in the order their promises settled, at the virtual instant they settled.
 *
 * @module
 */

import type { SimNetwork } from "./network.ts";

/**
 * Resolves once every promise continuation queued so far, and every one those queue, has run
 * (the environment's next task, as a `MessageChannel` message gives it). Injected: the simulator
 * itself may not touch the event loop.
 */
export type NextTask = () => Promise<void>;

/** Runs a {@link SimNetwork} and the promise continuations its events set off, in turn. */
export class SimAsyncDriver {
  readonly #network: SimNetwork;
  readonly #nextTask: NextTask;
  /** A promise may have settled since continuations last ran. */
  #due = false;

  /**
   * Makes a driver.
   *
   * @param network The network whose events settle the promises.
   * @param nextTask Waits until every queued continuation has run.
   */
  constructor(network: SimNetwork, nextTask: NextTask) {
    this.#network = network;
    this.#nextTask = nextTask;
  }

  /**
   * Says that a promise may have settled (or async work started) during the current event: its
   * continuations run before the next event. Every callback that resolves a promise from the
   * network's side (a DHT operation's `done`, a timer) calls it.
   */
  wake(): void {
    this.#due = true;
  }

  /**
   * Runs events, and the continuations they set off, until `done()` holds.
   *
   * @param done Checked before each event and after each round of continuations.
   * @param what Names what is awaited in the error when the network runs dry first.
   * @throws {Error} When no event is left, no continuation is due and `done()` still does not
   *   hold: something awaits what will never come (a liveness bug). Whatever an event or a
   *   continuation throws passes through.
   */
  async runUntil(done: () => boolean, what: string): Promise<void> {
    while (!done()) {
      if (this.#due) {
        this.#due = false;
        await this.#nextTask();
        continue;
      }
      const stop = this.#network.run({ until: () => this.#due || done() });
      if (stop === "idle" && !this.#due && !done()) {
        throw new Error(
          `Liveness bug: the network went idle at ${this.#network.clock.nowMs()} ms while ${what} ` +
            "had not finished",
        );
      }
    }
  }
}
