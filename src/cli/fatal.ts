/**
 * The last resort of the `rhizome` program: an exception nobody caught or a promise rejection
 * nobody handled would make Deno print a coloured stack and exit 1, leaving a running node's
 * `api.json` behind. Instead the program prints one `rhizome: …` line (the stack goes to the log
 * at debug level), runs the clean-ups the command registered (a node removes its control API
 * files and stops, which releases the data directory's lock) for at most
 * {@link fatalCleanupTimeoutMs}, and exits with status 70, "internal error" in the README's
 * table.
 *
 * @module
 */

import { flushLogging, getLog } from "../core/log.ts";
import { type CliIo, Output } from "./output.ts";

/**
 * Longest the clean-ups may take after a fatal error. Removing two files takes milliseconds and
 * a node's stop normally well under a second; 3 s bounds a stop that hangs on whatever broke,
 * after which the process exits anyway (the kernel releases the lock; a stale `api.json` is
 * reported by the CLI as "not answering").
 */
export const fatalCleanupTimeoutMs = 3_000;

const cleanups = new Set<() => Promise<void>>();

/**
 * Registers what to do before the program exits on a fatal error.
 *
 * @param cleanup Releases what the command holds; it may fail or hang, within
 *   {@link fatalCleanupTimeoutMs}.
 * @returns Unregisters it (call once the command released it normally).
 */
export function onFatalError(cleanup: () => Promise<void>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** How {@link installFatalHandler} reports and exits; tests replace `exit`. */
export interface FatalHandlerOptions {
  /** Errors as JSON lines on stderr (`--log-format json`). */
  jsonErrors: boolean;
  /**
   * Ends the process.
   * @default `Deno.exit`
   */
  exit?: (status: number) => void;
}

/**
 * Turns any uncaught exception or unhandled rejection into one line, the registered clean-ups
 * and exit status 70 (or the error's own status when it is a `RhizomeError`). Only the
 * first fatal error is reported; later ones during the clean-ups go to the debug log.
 *
 * @param io Where the line goes.
 * @param options The error format and the exit.
 */
export function installFatalHandler(io: CliIo, options: FatalHandlerOptions): void {
  const exit = options.exit ?? Deno.exit;
  let handling = false;
  const handle = (event: ErrorEvent | PromiseRejectionEvent) => {
    event.preventDefault();
    const error = event instanceof PromiseRejectionEvent ? event.reason : event.error;
    const log = getLog("cli");
    log.debug("fatal error: {stack}", { stack: stackOf(error) });
    if (handling) return;
    handling = true;
    // A RhizomeError keeps its code and status; anything else is INTERNAL, status 70.
    const status = new Output(io, { json: false, jsonErrors: options.jsonErrors }).error(error);
    void runCleanups().finally(() => {
      flushLogging();
      exit(status);
    });
  };
  globalThis.addEventListener("error", handle);
  globalThis.addEventListener("unhandledrejection", handle);
}

async function runCleanups(): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) =>
    timer = setTimeout(resolve, fatalCleanupTimeoutMs)
  );
  const all = Promise.allSettled([...cleanups].map((cleanup) => cleanup()));
  try {
    await Promise.race([all, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function stackOf(error: unknown): string {
  return error instanceof Error ? error.stack ?? error.message : String(error);
}
