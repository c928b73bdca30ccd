/**
 * Where command output goes: results on stdout (text, or one JSON object with `--json`), logs and
 * errors on stderr.
 *
 * @module
 */

import { ExitStatus, exitStatusOf, RhizomeError } from "../core/errors.ts";

/** The process's streams, as functions so tests can capture them. */
export interface CliIo {
  /** The environment. */
  env: Record<string, string>;
  /** Writes to stdout. */
  stdout(text: string): void;
  /**
   * Writes bytes to stdout exactly as they are (`get` of a binary value); where absent, they are
   * written as UTF-8 text through {@link CliIo.stdout} (tests).
   */
  stdoutBytes?(bytes: Uint8Array): void;
  /** Writes to stderr. */
  stderr(text: string): void;
  /**
   * Reads standard input to its end, or until `limit` bytes; absent where there is none (tests).
   */
  readStdin?(limit: number): Promise<Uint8Array>;
  /** Whether standard input is a terminal (someone types it); absent: it is not. */
  stdinIsTerminal?(): boolean;
}

/** Formats results and errors for people or for scripts. */
export class Output {
  readonly #io: CliIo;
  readonly #json: boolean;
  readonly #jsonErrors: boolean;

  /**
   * @param io The streams.
   * @param options `json`: results as JSON on stdout; `jsonErrors`: errors as JSON lines on
   *   stderr (with `--log-format json`).
   */
  constructor(io: CliIo, options: { json: boolean; jsonErrors: boolean }) {
    this.#io = io;
    this.#json = options.json;
    this.#jsonErrors = options.jsonErrors;
  }

  /** @returns Whether results are printed as JSON. */
  get json(): boolean {
    return this.#json;
  }

  /**
   * Prints a command's result.
   *
   * @param text What people see (a newline is added).
   * @param value What scripts get with `--json`.
   */
  result(text: string, value: unknown): void {
    if (this.#json) this.#io.stdout(JSON.stringify(value) + "\n");
    else this.#io.stdout(text + "\n");
  }

  /**
   * Prints bytes on stdout unchanged, with no newline added (a value as it was stored).
   *
   * @param bytes The bytes.
   */
  bytes(bytes: Uint8Array): void {
    if (this.#io.stdoutBytes) this.#io.stdoutBytes(bytes);
    else this.#io.stdout(new TextDecoder().decode(bytes));
  }

  /**
   * Tells the person at the terminal something on stderr (never stdout, which scripts read).
   *
   * @param line One line (a newline is added).
   */
  note(line: string): void {
    this.#io.stderr(line + "\n");
  }

  /**
   * Prints text on stdout whatever the mode (help text).
   *
   * @param text The text (a newline is added).
   */
  text(text: string): void {
    this.#io.stdout(text + "\n");
  }

  /**
   * Reports a failure: one line on stderr (a JSON line with `--log-format json`) and, with
   * `--json`, an error object on stdout so scripts that parse stdout see it too.
   *
   * @param error What was thrown.
   * @param options `allLines`: print every line of a multi-line message (for
   *   `config validate`) instead of the first and a count.
   * @returns The exit status for the error.
   */
  error(error: unknown, options: { allLines?: boolean } = {}): ExitStatus {
    // Nobody reads stdout any more: saying so on stdout would fail again, and on stderr it would
    // be noise after `| head`, which asked for exactly this.
    if (isOutputClosed(error)) return ExitStatus.outputClosed;
    const status = exitStatusOf(error);
    const code = error instanceof RhizomeError ? error.code : "INTERNAL";
    const lines = messageOf(error).split("\n");
    const shown = options.allLines || lines.length === 1
      ? lines
      : [`${lines[0]} (and ${lines.length - 1} more: run 'rhizome config validate')`];
    for (const line of shown) {
      if (this.#jsonErrors) {
        this.#io.stderr(
          JSON.stringify({
            "@timestamp": new Date().toISOString(),
            level: "ERROR",
            code,
            message: line,
          }) +
            "\n",
        );
      } else {
        this.#io.stderr(`rhizome: ${line}\n`);
      }
    }
    if (this.#json) {
      this.#io.stdout(
        JSON.stringify({ error: { code, message: lines.join("\n"), exit_status: status } }) + "\n",
      );
    }
    return status;
  }
}

/**
 * Whether `error` says the reader of an output went away: a write to a pipe whose read end is
 * closed (EPIPE, `BrokenPipe` in Deno; Deno ignores SIGPIPE, so the write fails instead of the
 * signal ending the process), or a write to a stream that closed because of it. The error's
 * causes are searched too, a few levels deep.
 *
 * @param error What was thrown.
 * @returns `true` for a closed output.
 */
export function isOutputClosed(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < causeDepthMax && current !== undefined; depth++) {
    if (current instanceof Deno.errors.BrokenPipe) return true;
    if (current instanceof OutputClosedError) return true;
    const code = (current as { code?: unknown } | null)?.code;
    if (code === "EPIPE") return true;
    current = (current as { cause?: unknown } | null)?.cause;
  }
  return false;
}

/** Causes {@link isOutputClosed} follows: wrappers nest one or two deep; a loop must end. */
const causeDepthMax = 8;

/** A write to an output that was closed before (by its reader going away). */
export class OutputClosedError extends Error {
  /** @param what Which output. */
  constructor(what: string) {
    super(`Cannot write to ${what}: it is closed`);
    this.name = "OutputClosedError";
  }
}

function messageOf(error: unknown): string {
  if (error instanceof RhizomeError) return error.message;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return `Internal error (a bug in rhizome, please report it): ${detail.split("\n")[0]}`;
}

/** The exit status of a command that succeeded. */
export const OK: number = ExitStatus.ok;
