/**
 * Event-loop lag as the node measures it. The window keeps the largest lag of the running and the
 * previous window, so a stall stays visible for a scrape and then fades (pure, on given times);
 * and a node whose event loop is blocked for 300 ms reports a lag of at least 0.25 s through
 * `GET /metrics`, read the way Prometheus reads it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlApi } from "../../src/api/control_api.ts";
import { resolveConfig } from "../../src/core/config.ts";
import { DataDir } from "../../src/node/data_dir/paths.ts";
import { EventLoopLagProbe, LagWindow, stallMs } from "../../src/node/event_loop_lag.ts";
import { RhizomeNode } from "../../src/node/node.ts";
import { withTempDir } from "../_rhizome.ts";

Deno.test("LagWindow.maxMs() keeps a lag through the next window and forgets it after two", () => {
  const window = new LagWindow(0, 1000);
  window.record(5, 100);
  window.record(300, 200);
  window.record(7, 900);
  assert.equal(window.maxMs(950), 300);
  // One window on: the stall is in the previous window, still shown.
  window.record(2, 1500);
  assert.equal(window.maxMs(1500), 300);
  // Two windows on: both windows hold only small lags.
  window.record(4, 2100);
  assert.equal(window.maxMs(2100), 4);
  // A long quiet gap (no probe came back): nothing old survives it.
  assert.equal(window.maxMs(9000), 0);
});

Deno.test("new LagWindow() refuses a window that is not positive", () => {
  assert.throws(() => new LagWindow(0, 0), /Cannot measure lag over 0 ms windows/);
});

Deno.test("EventLoopLagProbe counts a blocked loop as a stall; stop() ends the probing", async () => {
  const probe = new EventLoopLagProbe();
  probe.start();
  try {
    await sleep(60);
    block(stallMs + 100);
    await sleep(60);
    const stats = probe.stats();
    assert.ok(stats.lagMsMax >= stallMs, `lag ${stats.lagMsMax} ms`);
    assert.ok(stats.stalls >= 1);
    assert.ok(stats.samples >= 2);
  } finally {
    probe.stop();
  }
  const samples = probe.stats().samples;
  await sleep(60);
  assert.equal(probe.stats().samples, samples, "no probe after stop()");
});

Deno.test("a node blocked for 300 ms reports rhizome_event_loop_lag_seconds of 0.25 or more", async () => {
  await withTempDir(async (root) => {
    const config = resolveConfig({
      overrides: [
        { path: "node.listen", value: "127.0.0.1:0", origin: "test" },
        { path: "node.type", value: "full", origin: "test" },
      ],
    }).config;
    const dataDir = new DataDir(join(root, "node"));
    const node = await RhizomeNode.start({ dataDir, config });
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir.path,
      handlers: node,
    });
    try {
      await sleep(100);
      block(300);
      // The probe fires as soon as the loop is free; give it that turn.
      await sleep(50);
      const text = await (await fetch(`${api.url}/metrics`)).text();
      const lagS = Number(/^rhizome_event_loop_lag_seconds (\S+)$/m.exec(text)?.[1]);
      assert.ok(lagS >= 0.25, `rhizome_event_loop_lag_seconds is ${lagS}`);
      assert.ok(lagS < 60, `a lag of ${lagS} s cannot come from a 300 ms block`);
      const stalls = Number(/^rhizome_event_loop_stalls_total (\S+)$/m.exec(text)?.[1]);
      assert.ok(stalls >= 1, `rhizome_event_loop_stalls_total is ${stalls}`);
      assert.ok(node.metrics().eventLoop.lagMsMax >= 250);
    } finally {
      await api.close();
      await node.stop();
    }
  });
});

/** Keeps the event loop busy for `ms` (bounded by time, so it always ends). */
function block(ms: number): void {
  const endMs = performance.now() + ms;
  while (performance.now() < endMs) {
    // Busy: nothing else runs meanwhile, as in a long synchronous task.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
