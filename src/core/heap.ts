/**
 * A full garbage collection on request, for long streaming jobs (snapshot export) whose memory
 * must stay flat however much they stream.
 *
 * V8 collects lazily: a job that allocates a buffer per record lets its heap and the external
 * memory of dead buffers grow to tens of MiB before a collection, more the longer it runs, so the
 * peak depends on the job's length. Collecting every few MiB of work keeps the peak the same for
 * a short job and a long one, at the cost of a few milliseconds per collection.
 *
 * V8 offers `gc()` only with its `--expose-gc` flag, which a `deno compile`d binary or a task
 * would have to pass to every process; the flag is set here at run time instead, for this
 * process, and `gc` is taken from a fresh context where it then exists.
 *
 * @module
 */

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let collect: (() => void) | null | undefined;

/**
 * Collects garbage now: the whole heap, and the external memory of dead buffers with it.
 *
 * @returns Whether a collection ran (false where the runtime offers none).
 */
export function collectGarbage(): boolean {
  if (collect === undefined) {
    collect = null;
    try {
      setFlagsFromString("--expose-gc");
      const found: unknown = runInNewContext("typeof gc === 'function' ? gc : undefined");
      if (typeof found === "function") collect = found as () => void;
    } catch {
      // No flag or no context: memory is then collected as V8 decides.
    }
  }
  if (!collect) return false;
  collect();
  return true;
}
