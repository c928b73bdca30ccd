// Goal: the continuous-churn scenario runs the real DhtNode while nodes arrive and depart all the
// time (heavy-tailed sessions, Poisson arrivals, crashes and graceful leaves), keeps the population
// steady, finds the stored values, reports per window, and gives one seed a byte-identical report.
// Method: 60 to 80 nodes, 20–30 min of virtual churn with a 5 min median session (a second or
// two each); every assertion message carries the simSeed so a failure can be replayed with
// `deno task sim --churn-model weibull --nodes N --seed S …`.

import assert from "node:assert/strict";
import {
  type ChurnReport,
  type ChurnScenarioOptions,
  runChurnScenario,
} from "../../src/sim/churn_scenario.ts";
import { NodeId } from "../../src/core/node_id.ts";
import type { GetResult, PutResult } from "../../src/dht/types.ts";
import { FakeNode } from "./_fake_node.ts";
import { defaultSettings } from "./_settings.ts";

/** The report without the machine-dependent fields. */
function deterministicPart(report: ChurnReport): string {
  const { wall_ms: _wall, memory: _memory, ...rest } = report;
  return JSON.stringify(rest);
}

function small(simSeed: number, options: Partial<ChurnScenarioOptions> = {}): ChurnReport {
  console.log(`churn_scenario_test: simSeed ${simSeed}`);
  return runChurnScenario({
    simSeed,
    settings: defaultSettings(),
    nodes: 60,
    values: 10,
    lookups: 200,
    sessionMedianMs: 300_000,
    durationMs: 1_200_000,
    windowMs: 300_000,
    ...options,
  });
}

Deno.test("runChurnScenario() keeps values reachable while nodes come and go", () => {
  const simSeed = 5;
  const report = small(simSeed);
  const context = `simSeed ${simSeed}: ${JSON.stringify(report)}`;
  const { population, get, windows } = report;
  assert.equal(report.join.failed, 0, context);
  assert.equal(report.values.stored, 10, context);
  // A 5 min median and a mean of about 21 min: dozens of departures and arrivals in 20 min.
  assert.ok(population.joins >= 20, context);
  assert.ok(population.leaves >= 5 && population.crashes >= 5, context);
  assert.ok(population.online_min >= 40 && population.online_max <= 80, context);
  assert.equal(get.count, get.found + get.aborted + get.wrong_values + missed(report), context);
  assert.ok(get.count >= 150 && get.count <= 250, `about 200 Poisson arrivals: ${context}`);
  assert.equal(get.wrong_values, 0, context);
  assert.ok(get.success_rate! >= 0.97, context);
  assert.equal(report.values.lost, 0, context);
  assert.ok(report.values.replicas_at_end.min! >= 1, context);
  assert.equal(report.network.dropped_oversize, 0, context);
  assert.equal(windows.length, 4, context);
  assert.deepEqual(windows.map((window) => window.start_s), [0, 300, 600, 900], context);
  const sum = (pick: (window: ChurnReport["windows"][number]) => number) =>
    windows.reduce((total, window) => total + pick(window), 0);
  assert.equal(sum((window) => window.joins), population.joins, context);
  assert.equal(sum((window) => window.leaves), population.leaves, context);
  assert.equal(sum((window) => window.crashes), population.crashes, context);
  assert.equal(sum((window) => window.gets), get.count, context);
  assert.equal(windows.at(-1)!.online, population.online_end, context);
  for (const window of windows) {
    assert.ok(window.online > 0 && window.replicas.min !== null, context);
    assert.ok(window.gets === 0 || window.latency_ms.p50 !== null, context);
  }
  assert.equal(report.churn.model, "weibull");
  assert.equal(report.churn.session_shape, 0.5, "Weibull's default shape");
  // Mean of a Weibull with k = 0.5 and a 300 s median: 2 · 300 / ln(2)² ≈ 1248.8 s.
  assert.equal(report.churn.session_mean_s, 1248.8, context);
});

function missed(report: ChurnReport): number {
  return report.get.missed_with_live_replicas + report.get.missed_without_live_replica;
}

Deno.test("runChurnScenario() gives the same seed a byte-identical report (wall_ms, memory aside)", () => {
  let heap = 0;
  const run = (simSeed: number) =>
    runChurnScenario({
      simSeed,
      settings: defaultSettings(),
      nodes: 40,
      values: 5,
      lookups: 60,
      sessionModel: "lognormal",
      sessionMedianMs: 200_000,
      durationMs: 600_000,
      windowMs: 120_000,
      lossRate: 0.05,
    }, { heapBytes: () => heap += 1_000_003 });
  console.log("churn_scenario_test: simSeeds 42, 42, 43");
  const first = run(42);
  const second = run(42);
  assert.notEqual(first.memory.bytes_per_node, 0, "memory comes from the hook");
  assert.equal(deterministicPart(first), deterministicPart(second), "simSeed 42 twice");
  assert.notEqual(deterministicPart(first), deterministicPart(run(43)), "simSeeds 42 and 43");
  assert.equal(first.churn.model, "lognormal");
  assert.equal(first.churn.session_shape, 1.5, "log-normal's default σ");
  assert.equal(first.windows.length, 5);
});

Deno.test("runChurnScenario() departs only by crashes or only gracefully, as asked", () => {
  const crashes = small(11, { crashFraction: 1, lookups: 50, durationMs: 600_000 });
  assert.equal(crashes.population.leaves, 0, JSON.stringify(crashes.population));
  assert.ok(crashes.population.crashes > 0, JSON.stringify(crashes.population));
  const leaves = small(11, { crashFraction: 0, lookups: 50, durationMs: 600_000 });
  assert.equal(leaves.population.crashes, 0, JSON.stringify(leaves.population));
  assert.ok(leaves.population.leaves > 0, JSON.stringify(leaves.population));
});

Deno.test("runChurnScenario() with nothing stored measures nothing, and says null", () => {
  const report = small(3, { values: 0, lookups: 20, durationMs: 300_000 });
  assert.equal(report.get.count, 0);
  assert.equal(report.get.success_rate, null);
  assert.equal(report.windows[0].success_rate, null);
  assert.equal(report.values.replicas_at_end.min, null);
});

Deno.test("runChurnScenario() refuses options out of range, naming them", () => {
  const settings = defaultSettings();
  const bad: [Partial<ChurnScenarioOptions>, RegExp][] = [
    [{ nodes: 0 }, /nodes is 0/],
    [{ durationMs: 0 }, /durationMs/],
    [{ windowMs: 1, durationMs: 10_000 }, /windowMs/],
    [{ crashFraction: 1.5 }, /crashFraction/],
    [{ sessionMedianMs: -1 }, /median/],
    [{ sessionShape: 0 }, /shape/],
    [{ valueBytesMax: 5000 }, /valueBytesMax/],
    [{ lossRate: 2 }, /lossRate/],
    [{ simSeed: 1.5 }, /simSeed/],
  ];
  for (const [options, pattern] of bad) {
    assert.throws(() => runChurnScenario({ simSeed: 1, settings, ...options }), pattern);
  }
});

/** Values "stored" by {@link SlowGetNode}s, by key: what their gets answer. */
const slowValues = new Map<string, Uint8Array>();

/**
 * A fake node whose puts succeed at once and whose gets answer the stored value after
 * `slowGetMs`, unless the node stops first (then they fail, as the real node's do).
 */
class SlowGetNode extends FakeNode {
  static slowGetMs = 60_000;
  readonly #pending: { atMs: number; key: NodeId; done: (result: GetResult) => void }[] = [];

  override put(value: Uint8Array, done: (result: PutResult) => void): NodeId {
    const key = NodeId.fromPublicKey(value);
    slowValues.set(key.toHex(), value);
    done({ ok: true, key, stored: 20, holders: 20, quorum: 2, storesHere: false, durationMs: 0 });
    return key;
  }

  override get(key: NodeId, done: (result: GetResult) => void): void {
    this.#pending.push({ atMs: this.options.clock.nowMs() + SlowGetNode.slowGetMs, key, done });
  }

  override tick(): void {
    super.tick();
    const nowMs = this.options.clock.nowMs();
    for (const get of this.#pending.filter((get) => get.atMs <= nowMs)) {
      this.#pending.splice(this.#pending.indexOf(get), 1);
      const value = slowValues.get(get.key.toHex());
      get.done({ ok: true, closest: [], rounds: 1, messages: 2, durationMs: 0, value });
    }
  }

  override nextWakeupMs(): number {
    return Math.min(super.nextWakeupMs(), ...this.#pending.map((get) => get.atMs));
  }

  override stop(): void {
    super.stop();
    for (const get of this.#pending.splice(0)) {
      get.done({ ok: false, closest: [], rounds: 0, messages: 0, durationMs: 0 });
    }
  }
}

Deno.test("runChurnScenario() counts a get whose asker departs first as aborted, not missed", () => {
  const simSeed = 17;
  console.log(`churn_scenario_test: simSeed ${simSeed}`);
  const report = runChurnScenario({
    simSeed,
    settings: defaultSettings(),
    createNode: (options) => new SlowGetNode(options),
    nodes: 30,
    values: 5,
    lookups: 200,
    // Sessions of about a minute against gets of a minute: many askers leave mid-get.
    sessionMedianMs: 60_000,
    durationMs: 600_000,
    windowMs: 300_000,
  });
  const context = `simSeed ${simSeed}: ${JSON.stringify(report.get)}`;
  assert.ok(report.get.aborted > 10, context);
  assert.ok(report.get.found > 10, context);
  assert.equal(report.get.found + report.get.aborted, report.get.count, context);
  assert.equal(report.get.success_rate, 1, context);
  assert.equal(report.get.latency_ms.p50, 60_000, "aborted gets are left out of the latency");
  assert.equal(
    report.windows.reduce((sum, window) => sum + window.aborted, 0),
    report.get.aborted,
    context,
  );
});

Deno.test("runChurnScenario() fails loudly, naming the seed, when a get never ends", () => {
  SlowGetNode.slowGetMs = 10_000_000;
  try {
    assert.throws(
      () =>
        runChurnScenario({
          simSeed: 23,
          settings: defaultSettings(),
          createNode: (options) => new SlowGetNode(options),
          nodes: 10,
          values: 2,
          lookups: 20,
          sessionMedianMs: 86_400_000,
          durationMs: 120_000,
          windowMs: 60_000,
        }),
      /simSeed 23: Liveness bug: \d+ gets still pending/,
    );
  } finally {
    SlowGetNode.slowGetMs = 60_000;
  }
});
