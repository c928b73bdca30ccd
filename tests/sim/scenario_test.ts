// Goal: the standard scenario runs the real DhtNode end to end, deterministically: on a small,
// mildly lossy network every node joins and every value is found (also after 30% of the nodes
// crash), nothing wrong or oversized ever arrives, and one seed gives a byte-identical report.
// Method: 40 to 100 nodes in virtual time (each run takes about a second or two); every
// assertion message carries the simSeed so a failure can be replayed with
// `deno task sim --nodes N --seed S`.

import assert from "node:assert/strict";
import { runScenario, type ScenarioReport } from "../../src/sim/scenario.ts";
import { defaultSettings } from "./_settings.ts";

/** The report without the machine-dependent fields. */
function deterministicPart(report: ScenarioReport): string {
  const { wall_ms: _wall, memory: _memory, ...rest } = report;
  return JSON.stringify(rest);
}

function assertNetworkAccounted(report: ScenarioReport): void {
  const n = report.network;
  assert.equal(
    n.sent + n.duplicated,
    n.delivered + n.lost + n.dropped_oversize + n.dropped_partition + n.dropped_no_receiver +
      n.dropped_no_sender + n.in_flight,
    `every datagram is accounted for, simSeed ${report.seed}`,
  );
}

Deno.test("runScenario() on 100 nodes with 1% loss joins all and finds every value", () => {
  const simSeed = 1;
  const report = runScenario({
    simSeed,
    settings: defaultSettings(),
    nodes: 100,
    lookups: 200,
    values: 30,
    lossRate: 0.01,
    churnFraction: 0.3,
  });
  const context = `simSeed ${simSeed}: ${JSON.stringify(report)}`;
  assert.equal(report.join.failed, 0, context);
  assert.equal(report.values.stored, 30, context);
  assert.equal(report.lookup.count, 200, context);
  assert.ok(report.lookup.success_rate! >= 0.98, context);
  assert.ok(report.values.retrievable! >= 0.98, context);
  assert.ok(report.values.retrievable_after_churn! >= 0.9, context);
  assert.equal(report.lookup.wrong_values, 0, context);
  assert.ok(report.values.replicas.min! >= report.settings.dht.k, `k replicas: ${context}`);
  assert.ok(report.values.replicas_after_churn.min! >= 1, context);
  assert.equal(report.values.crashed_nodes, 30, context);
  assert.equal(report.network.dropped_oversize, 0, `no datagram over 1232 bytes: ${context}`);
  assert.ok(report.lookup.latency_ms.max! <= report.settings.dht.lookup_timeout_ms, context);
  assertNetworkAccounted(report);
});

Deno.test("runScenario() gives the same seed a byte-identical report (wall_ms, memory aside)", () => {
  let heap = 0;
  const run = (simSeed: number) =>
    runScenario({
      simSeed,
      settings: defaultSettings(),
      nodes: 50,
      lookups: 100,
      values: 10,
      lossRate: 0.05,
      duplicateRate: 0.02,
    }, { heapBytes: () => heap += 1_000_003 }); // a different "heap" on every call
  const first = run(42);
  const second = run(42);
  assert.notEqual(first.memory.bytes_per_node, 0, "memory comes from the hook");
  assert.equal(deterministicPart(first), deterministicPart(second), "simSeed 42 twice");
  const other = run(43);
  assert.notEqual(deterministicPart(first), deterministicPart(other), "simSeeds 42 and 43");
});

Deno.test("runScenario() on a hostile network never returns a wrong value or oversized datagram", () => {
  const simSeed = 7;
  const report = runScenario({
    simSeed,
    settings: defaultSettings(),
    nodes: 60,
    lookups: 60,
    values: 10,
    lossRate: 0.1,
    duplicateRate: 0.05,
    latencyMsMin: 5,
    latencyMsMax: 500,
    jitterFraction: 0.5,
  });
  const context = `simSeed ${simSeed}: ${JSON.stringify(report)}`;
  assert.equal(report.lookup.wrong_values, 0, context);
  assert.equal(report.network.dropped_oversize, 0, context);
  // A bootstrap through one seed fails when its three attempts are all lost (about 0.7% at 10%
  // loss each way); most nodes must still join and values stay reachable.
  assert.ok(report.join.ok >= 55, context);
  assert.ok(report.values.stored >= 9, context);
  assert.ok(report.lookup.success_rate! >= 0.9, context);
  assertNetworkAccounted(report);
});

Deno.test("runScenario() calls its hooks: heap before and after settling, progress lines", () => {
  const heapCalls: number[] = [];
  const lines: string[] = [];
  const report = runScenario({
    simSeed: 3,
    settings: defaultSettings(),
    nodes: 20,
    lookups: 0,
    values: 0,
  }, {
    heapBytes: () => {
      heapCalls.push(heapCalls.length);
      return heapCalls.length === 1 ? 1_000_000 : 1_000_000 + 20 * 5_000;
    },
    progress: (line) => lines.push(line),
  });
  assert.equal(heapCalls.length, 2);
  assert.equal(report.memory.bytes_per_node, 5_000);
  assert.ok(lines.some((line) => line.startsWith("joined 20/20 nodes")), lines.join("\n"));
  assert.equal(report.values.stored, 0);
  assert.equal(report.lookup.success_rate, null, "nothing to measure is null, not 0");
  assert.equal(report.values.retrievable, null);
  assert.equal(report.wall_ms, 0, "the script fills wall_ms");
  const unmeasured = runScenario({ simSeed: 3, settings: defaultSettings(), nodes: 5, values: 0 });
  assert.equal(unmeasured.memory.bytes_per_node, 0, "no hook, no memory figure");
});

Deno.test("runScenario() refuses options out of range, naming them", () => {
  const settings = defaultSettings();
  assert.throws(() => runScenario({ simSeed: 1, settings, nodes: 0 }), /nodes is 0/);
  assert.throws(() => runScenario({ simSeed: 1, settings, churnFraction: 1 }), /churnFraction/);
  assert.throws(() => runScenario({ simSeed: 1, settings, valueBytesMax: 5000 }), /valueBytesMax/);
  assert.throws(() => runScenario({ simSeed: 1, settings, lossRate: 2 }), /lossRate/);
  assert.throws(() => runScenario({ simSeed: 1.5, settings }), /simSeed/);
});
