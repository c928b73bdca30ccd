/**
 * `rhizome top` without a network: the headline figures read from a metrics report (sums over
 * labels, quantiles from the histogram, the error counters), the text for people with and
 * without a previous read, and one clear line with exit 2 for a bad flag or 1 with no node,
 * before anything is read. A live node's `top` is checked in tests/api/dashboard_test.ts.
 */

import assert from "node:assert/strict";
import { metricFamilies, metricsReport } from "../../src/api/metrics.ts";
import {
  headlineOf,
  headlineText,
  histogramQuantile,
  metricValue,
} from "../../src/cli/commands/top.ts";
import { runInProcess, withTempDir } from "../_rhizome.ts";
import { sampleMetrics } from "../api/_metrics_fixture.ts";
import { FakeHandlers, withControlApi } from "../api/_fake_handlers.ts";

const report = metricsReport(sampleMetrics(), metricFamilies(sampleMetrics()));

Deno.test("metricValue() sums the samples that carry the labels asked for", () => {
  assert.equal(metricValue(report, "rhizome_peers"), 4);
  assert.equal(metricValue(report, "rhizome_store_class_records"), 12);
  assert.equal(metricValue(report, "rhizome_store_class_records", { class: "normal" }), 8);
  assert.equal(metricValue(report, "rhizome_dht_lookup_duration_seconds"), 3);
  assert.equal(metricValue(report, "rhizome_no_such_metric"), 0);
});

Deno.test("histogramQuantile() interpolates within the bucket, as Prometheus does", () => {
  // Observations 3, 40 and 700 ms: the median's rank 1.5 falls in the (25, 50] ms bucket.
  const median = histogramQuantile(report, "rhizome_dht_lookup_duration_seconds", 0.5)!;
  assert.ok(Math.abs(median - 0.0375) < 1e-9, String(median));
  const p95 = histogramQuantile(report, "rhizome_dht_lookup_duration_seconds", 0.95)!;
  assert.ok(p95 > 0.5 && p95 <= 1, String(p95));
  const empty = metricsReport(
    sampleMetrics(),
    metricFamilies({
      ...sampleMetrics(),
      health: {
        ...sampleMetrics().health,
        lookupDurationMs: { bounds: [5], cumulative: [0, 0], sum: 0, count: 0 },
      },
    }),
  );
  assert.equal(histogramQuantile(empty, "rhizome_dht_lookup_duration_seconds", 0.5), null);
});

Deno.test("headlineOf() gives the dashboard's figures, errors counted by name", () => {
  const headline = headlineOf(report);
  assert.equal(headline.peers, 4);
  assert.equal(headline.sessions, 4);
  assert.equal(headline.sent_bytes, 12345);
  assert.equal(headline.lookups_ok, 2);
  assert.equal(headline.lookups_failed, 1);
  assert.deepEqual(headline.store_class_records, { popular: 0, active: 1, normal: 8, personal: 3 });
  assert.equal(headline.records_below_target, 1);
  assert.equal(headline.errors.rpc_timeouts, 1);
  assert.equal(headline.errors.store_writes_refused, 3);
  assert.equal(headline.errors_total, 4);
  assert.equal(headline.banned, 1);
  assert.equal(headline.event_loop_lag_s, 0.0125);
  for (const key of Object.keys(headline)) assert.match(key, /^[a-z0-9_]+$/, key);
});

Deno.test("headlineText() shows rates only once there is a previous read", () => {
  const now = headlineOf(report);
  const first = headlineText(now);
  assert.match(first, /^traffic +out …\/s \(12\.1 KiB in all\), in …\/s/m);
  assert.match(first, /^lookups +…\/s, 3 started, 67% ok, p50 38 ms, p95 \d+ ms$/m);
  assert.match(first, /^errors +4 \(rpc timeouts 1, store writes refused 3\)$/m);
  const earlier = { ...now, sent_bytes: now.sent_bytes - 2048, lookups: now.lookups - 1 };
  const second = headlineText(now, earlier, 2);
  assert.match(second, /^traffic +out 1 KiB\/s \(12\.1 KiB in all\)/m);
  assert.match(second, /^lookups +0\.50\/s,/m);
});

Deno.test("rhizome top refuses a bad --count or --interval with exit 2, and no node with 1", async () => {
  await withTempDir(async (dataDir) => {
    for (
      const [flag, value] of [
        ["count", "0"],
        ["count", "1.5"],
        ["count", "x"],
        [
          "interval",
          "0.1",
        ],
        ["interval", "abc"],
        ["interval", ""],
      ]
    ) {
      const run = await runInProcess(["top", `--${flag}`, value, "--data-dir", dataDir]);
      assert.equal(run.status, 2, `--${flag} ${value}: ${run.stderr}`);
      assert.match(run.stderr, new RegExp(`^rhizome: --${flag} must be `));
      assert.equal(run.stderr.split("\n").length, 2, run.stderr);
    }
    const none = await runInProcess(["top", "--json", "--data-dir", dataDir]);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /no node is running/);
  });
});

Deno.test("rhizome top --json prints one object from the node's metrics", async () => {
  await withControlApi(new FakeHandlers(), async ({ dataDir }) => {
    const run = await runInProcess(["top", "--json", "--data-dir", dataDir]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trimEnd().split("\n").length, 1);
    assert.deepEqual(JSON.parse(run.stdout), headlineOf(report));
  });
});
