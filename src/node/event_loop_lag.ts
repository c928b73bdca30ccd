/**
 * The node's own measure of event-loop lag: a timer that asks to be called back every
 * {@link lagProbeIntervalMs} and notes how late each call came. Everything the node does (every
 * datagram, every timer of the DHT, every control request) waits in that same loop, so a late
 * probe means late replies: a lag near the RPC timeout makes peers take this node for lost.
 *
 * The gauge is the largest lag seen in the current or the previous window of
 * {@link lagWindowMs}, so a stall stays visible to a scraper that asks every 15 to 30 s, and fades
 * within two windows once the loop is prompt again. A stall of D ms shows as at least
 * `D - lagProbeIntervalMs` (the probe may have been set just before the stall began).
 *
 * @module
 */

/**
 * How often the probe asks to be woken. A lag shows at most this much shorter than the stall
 * that caused it; 20 ms keeps that error small beside the 250 ms RPC timeout floor, at a cost of
 * 50 wake-ups a second of a few microseconds each.
 */
export const lagProbeIntervalMs = 20;

/**
 * The window the lag gauge covers: the largest lag of this window and the previous one. 30 s
 * spans one scrape at the usual 15 to 30 s intervals, so no stall falls between two scrapes.
 */
export const lagWindowMs = 30_000;

/**
 * A lag at or above this counts as a stall. 100 ms is where a loopback reply (normally under a
 * millisecond) starts to eat into the RPC timeout and where people notice a slow answer.
 */
export const stallMs = 100;

/** What {@link EventLoopLagProbe.stats} reports. */
export interface EventLoopLagStats {
  /** The largest lag of the current and the previous window, in ms. */
  lagMsMax: number;
  /** The sum of every lag measured since start, in ms. */
  lagMsTotal: number;
  /** Lags of {@link stallMs} or more since start. */
  stalls: number;
  /** Probes that came back since start. */
  samples: number;
}

/**
 * The largest lag over two windows: the one running and the one before it. Pure: time is an
 * argument.
 */
export class LagWindow {
  readonly #windowMs: number;
  #startMs: number;
  #currentMaxMs = 0;
  #previousMaxMs = 0;

  /**
   * Makes an empty window.
   *
   * @param startMs When it starts.
   * @param windowMs Its length.
   */
  constructor(startMs: number, windowMs: number = lagWindowMs) {
    if (!(windowMs > 0)) throw new RangeError(`Cannot measure lag over ${windowMs} ms windows`);
    this.#windowMs = windowMs;
    this.#startMs = startMs;
  }

  /**
   * Notes one lag.
   *
   * @param lagMs How late the probe came.
   * @param nowMs When.
   */
  record(lagMs: number, nowMs: number): void {
    this.#roll(nowMs);
    this.#currentMaxMs = Math.max(this.#currentMaxMs, lagMs);
  }

  /**
   * The largest lag of the current and the previous window.
   *
   * @param nowMs The time.
   * @returns The lag in ms.
   */
  maxMs(nowMs: number): number {
    this.#roll(nowMs);
    return Math.max(this.#currentMaxMs, this.#previousMaxMs);
  }

  #roll(nowMs: number): void {
    const elapsed = nowMs - this.#startMs;
    if (elapsed < this.#windowMs) return;
    // One window on: the current becomes the previous; two or more: both are over.
    this.#previousMaxMs = elapsed < 2 * this.#windowMs ? this.#currentMaxMs : 0;
    this.#currentMaxMs = 0;
    this.#startMs = nowMs - (elapsed % this.#windowMs);
  }
}

/** What an {@link EventLoopLagProbe} reads time and sets timers with; real ones by default. */
export interface LagProbeOptions {
  /**
   * A monotonic clock in ms.
   * @default `performance.now`
   */
  nowMs?: () => number;
  /**
   * How often to probe, in ms.
   * @default {@link lagProbeIntervalMs}
   */
  intervalMs?: number;
}

/** Measures event-loop lag with a timer, from {@link start} until {@link stop}. */
export class EventLoopLagProbe {
  readonly #nowMs: () => number;
  readonly #intervalMs: number;
  readonly #window: LagWindow;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #lagMsTotal = 0;
  #stalls = 0;
  #samples = 0;

  /**
   * Makes a probe; it measures nothing until started.
   *
   * @param options The clock and the probe interval.
   */
  constructor(options: LagProbeOptions = {}) {
    this.#nowMs = options.nowMs ?? (() => performance.now());
    this.#intervalMs = options.intervalMs ?? lagProbeIntervalMs;
    this.#window = new LagWindow(this.#nowMs());
  }

  /** Starts probing (again a no-op while running). The timer never keeps the process alive. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm();
  }

  /** Stops probing. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * The lag figures.
   *
   * @returns A copy.
   */
  stats(): EventLoopLagStats {
    return {
      lagMsMax: this.#window.maxMs(this.#nowMs()),
      lagMsTotal: this.#lagMsTotal,
      stalls: this.#stalls,
      samples: this.#samples,
    };
  }

  #arm(): void {
    const dueMs = this.#nowMs() + this.#intervalMs;
    this.#timer = setTimeout(() => {
      if (!this.#running) return;
      const nowMs = this.#nowMs();
      const lagMs = Math.max(0, nowMs - dueMs);
      this.#window.record(lagMs, nowMs);
      this.#lagMsTotal += lagMs;
      this.#samples++;
      if (lagMs >= stallMs) this.#stalls++;
      this.#arm();
    }, this.#intervalMs);
    Deno.unrefTimer(this.#timer as unknown as number);
  }
}
