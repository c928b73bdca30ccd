/**
 * A one-line progress bar on stderr for long CLI operations (snapshot export and import):
 * records done of the total, megabytes, rate and time left, redrawn in place with `\r`, at most
 * {@link MAX_UPDATES_PER_S} times a second, and erased when the operation ends. It is shown only
 * on a terminal; a disabled bar writes nothing.
 *
 * @module
 */

/** Redraws per second at most. */
export const MAX_UPDATES_PER_S = 10;

/** What a {@link Progress} needs. */
export interface ProgressOptions {
  /** Whether to draw at all (a terminal, no `--json`, no `--quiet`). */
  enabled: boolean;
  /** Writes text to stderr. */
  write: (text: string) => void;
  /** The time in milliseconds (tests). */
  now?: () => number;
  /** What is counted, first on the line. */
  label?: string;
}

/** A progress line: {@link update} as work is done, {@link finish} when it ends. */
export class Progress {
  readonly #options: ProgressOptions;
  readonly #now: () => number;
  readonly #startedMs: number;
  #lastDrawMs = Number.NEGATIVE_INFINITY;
  #width = 0;

  /** @param options Whether, where and how to draw. */
  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#startedMs = this.#now();
  }

  /**
   * Reports the work done so far; redraws unless the last redraw was under 100 ms ago.
   *
   * @param records Records done.
   * @param bytes Bytes done.
   * @param total Records in all, when known.
   */
  update(records: number, bytes: number, total?: number): void {
    if (!this.#options.enabled) return;
    const nowMs = this.#now();
    if (nowMs - this.#lastDrawMs < 1000 / MAX_UPDATES_PER_S) return;
    this.#lastDrawMs = nowMs;
    const elapsedS = Math.max((nowMs - this.#startedMs) / 1000, 1e-3);
    const rate = records / elapsedS;
    const parts = [
      `${this.#options.label ?? "records"} ${records}${total === undefined ? "" : `/${total}`}`,
      `${(bytes / 1e6).toFixed(1)} MB`,
      `${Math.round(rate)} rec/s`,
    ];
    if (total !== undefined && rate > 0) {
      parts.push(`ETA ${Math.max(0, Math.ceil((total - records) / rate))} s`);
    }
    const line = parts.join(", ");
    // Padded over the longest line drawn, so no tail of one is left.
    this.#options.write(`\r${line.padEnd(this.#width)}`);
    this.#width = Math.max(this.#width, line.length);
  }

  /** Erases the line, if one was drawn. */
  finish(): void {
    if (!this.#options.enabled || this.#width === 0) return;
    this.#options.write(`\r${" ".repeat(this.#width)}\r`);
    this.#width = 0;
  }
}
