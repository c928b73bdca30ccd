/** A collection on request: an object no longer referenced is gone after it. */

import assert from "node:assert/strict";
import { collectGarbage } from "../../src/node/heap.ts";

Deno.test("heap: collectGarbage collects an object no longer referenced", async () => {
  const ref = (() => new WeakRef({ payload: new Uint8Array(1024 * 1024) }))();
  // A WeakRef's target is kept until the current job ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(collectGarbage(), true);
  assert.equal(ref.deref(), undefined);
  // A second call reuses the collector found the first time.
  assert.equal(collectGarbage(), true);
});
