/**
 * How far behind this process's event loop is: the local queueing a reply may be waiting in.
 *
 * A datagram that reached our socket is read only when the event loop gets to it; while the loop
 * is busy (a burst of work, a saturated core, hundreds of nodes in one test process) replies wait
 * in our own receive queue, and a timer that fires then would call them lost. The RPC layer and
 * the secure channel ask {@link LoopLagMonitor.lagMs} before declaring a request or handshake
 * lost, and wait that much longer (bounded), so a slow loop does not resend work that merely
 * waited.
 *
 * Measured with one repeating timer: its lateness is how long the loop took to come back to
 * timers, and so about how long a datagram waits before it is read. The reading decays with a
 * half-life of {@link lagHalfLifeMs}, and a timer overdue right now counts as lag at once.
 *
 * @module
 */

/** Period of the measuring timer: short enough to notice lag quickly, cheap (40 wake-ups/s). */
export const lagSamplePeriodMs = 25;

/**
 * Half-life of a lag reading: a burst of work keeps timeouts lenient for a few seconds after,
 * while the replies it delayed drain, then the node returns to its measured timeouts.
 */
export const lagHalfLifeMs = 1000;

/** Measures the event loop's lag; one per process is enough (the loop is shared). */
export class LoopLagMonitor {
  readonly #timer: number;
  #lastSampleMs: number;
  #lagMs = 0;

  /** Starts the measuring timer; it does not keep the process alive. */
  constructor() {
    this.#lastSampleMs = performance.now();
    this.#timer = setInterval(() => this.#sample(), lagSamplePeriodMs);
    Deno.unrefTimer(this.#timer);
  }

  /**
   * The loop's current lag: the decayed largest lateness seen, or the overdue time of the
   * measuring timer when it is larger.
   *
   * @returns Milliseconds, at least 0.
   */
  lagMs(): number {
    const nowMs = performance.now();
    const overdueMs = nowMs - this.#lastSampleMs - lagSamplePeriodMs;
    return Math.max(0, overdueMs, this.#decayed(nowMs));
  }

  /** Stops the measuring timer. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #sample(): void {
    const nowMs = performance.now();
    const latenessMs = Math.max(0, nowMs - this.#lastSampleMs - lagSamplePeriodMs);
    this.#lagMs = Math.max(latenessMs, this.#decayed(nowMs));
    this.#lastSampleMs = nowMs;
  }

  #decayed(nowMs: number): number {
    return this.#lagMs * 0.5 ** ((nowMs - this.#lastSampleMs) / lagHalfLifeMs);
  }
}
