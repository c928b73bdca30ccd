/**
 * A full garbage collection on request, for long streaming jobs (snapshot export) whose memory
 * must stay flat however much they stream.
 *
 * V8 collects lazily: a job that allocates a buffer per record lets its heap and the external
 * memory of dead buffers grow to tens of MiB before a collection, more the longer it runs, so the
 * peak depends on the job's length. Collecting every few MiB of work keeps the peak the same for
 * a short job and a long one, at the cost of a few milliseconds per collection.
 *
 * V8 offers `gc()` only with its `--expose-gc` flag. When the process was not started with it
 * (a `deno compile`d binary or a task would have to pass it to every process), the flag is set
 * here at run time, and `gc` is taken from a fresh context where it then exists. The flag is the
 * whole process's from then on (every context made later has a global `gc`), so this is for
 * single-purpose processes such as `rhizome snapshot export`, not for a node.
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
  if (collect === undefined) collect = findCollector();
  if (!collect) return false;
  collect();
  return true;
}

/** V8's `gc`: the process's own when it was started with `--expose-gc`, else as above. */
function findCollector(): (() => void) | null {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === "function") return own as () => void;
  try {
    setFlagsFromString("--expose-gc");
    const found: unknown = runInNewContext("typeof gc === 'function' ? gc : undefined");
    if (typeof found === "function") return found as () => void;
  } catch {
    // No flag or no context: memory is then collected as V8 decides.
  }
  return null;
}
