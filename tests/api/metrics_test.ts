/**
 * The metric definitions (src/api/metrics.ts): names Prometheus' conventions accept (checked here
 * and by `promtool check metrics` when it is installed), a text format with HELP and TYPE lines
 * and escaped labels, a JSON report with the same samples, and docs/observability.md listing
 * exactly these metrics with their types.
 */

import assert from "node:assert/strict";
import {
  type HistogramSample,
  metricDefinitions,
  metricFamilies,
  type MetricSample,
  metricsReport,
  prometheusText,
  snakeCase,
} from "../../src/api/metrics.ts";
import { promtoolCheck, requireBinary } from "../_binaries.ts";
import { sampleMetrics } from "./_metrics_fixture.ts";

const docsPath = new URL("../../docs/observability.md", import.meta.url);

Deno.test("every metric is named rhizome_…, snake_case, unique; counters end in _total", () => {
  const names = metricDefinitions.map((definition) => definition.name);
  assert.equal(new Set(names).size, names.length, "a name is defined twice");
  for (const { name, type, unit, help } of metricDefinitions) {
    assert.match(name, /^rhizome_[a-z0-9_]+$/, name);
    assert.equal(name.endsWith("_total"), type === "counter", `${name} is a ${type}`);
    assert.ok(!/_(count|sum|bucket)$/.test(name), `${name} ends in a histogram's suffix`);
    if (unit !== "") assert.ok(name.includes(`_${unit}`), `${name} lacks its unit ${unit}`);
    assert.ok(!/milli|_ms\b|_kb\b|_mb\b/.test(name), `${name} is not in base units`);
    assert.match(help, /^[A-Z].*\.$/, `${name}'s help is not a sentence`);
  }
});

Deno.test("prometheusText() writes HELP and TYPE once per metric, then its samples", () => {
  const text = prometheusText(metricFamilies(sampleMetrics()));
  assert.ok(text.endsWith("\n"));
  const lines = text.trimEnd().split("\n");
  for (const { name, type } of metricDefinitions) {
    assert.equal(lines.filter((line) => line.startsWith(`# TYPE ${name} `)).length, 1, name);
    assert.ok(lines.includes(`# TYPE ${name} ${type}`), name);
    assert.equal(lines.filter((line) => line.startsWith(`# HELP ${name} `)).length, 1, name);
  }
  assert.ok(lines.includes("rhizome_peers 4"));
  assert.ok(lines.includes('rhizome_store_class_records{class="normal"} 8'));
  assert.ok(lines.includes('rhizome_dht_requests_total{type="find_node"} 20'));
  assert.ok(lines.includes('rhizome_dht_stores_refused_total{reason="bad_token"} 2'));
  assert.ok(lines.includes('rhizome_dht_dropped_messages_total{reason="peer_rate_limited"} 3'));
  assert.ok(lines.includes('rhizome_dht_lookup_duration_seconds_bucket{le="0.05"} 2'));
  assert.ok(lines.includes('rhizome_dht_lookup_duration_seconds_bucket{le="+Inf"} 3'));
  assert.ok(lines.includes("rhizome_dht_lookup_duration_seconds_sum 0.743"));
  assert.ok(lines.includes("rhizome_dht_lookup_duration_seconds_count 3"));
  assert.ok(lines.includes("rhizome_event_loop_lag_seconds 0.0125"));
  assert.ok(lines.includes("rhizome_replication_records_below_target 1"));
  // Linux-only figures the node does not have are left out, not written as 0 or null.
  assert.ok(!text.includes("\nrhizome_udp_kernel_dropped_datagrams_total "));
  for (const line of lines.filter((line) => !line.startsWith("#"))) {
    assert.match(line, /^[a-z_0-9]+(\{[^}]*\})? [0-9.e+-]+$|^[a-z_0-9]+\{[^}]*\} \+Inf$/, line);
  }
});

Deno.test("prometheusText() escapes label values and leaves a store in memory without classes", () => {
  const metrics = sampleMetrics({ nodeId: 'a"b\\c\nd', store: { values: 2, bytes: 30 } });
  const text = prometheusText(metricFamilies(metrics));
  assert.ok(text.includes('rhizome_node_info{node_id="a\\"b\\\\c\\nd",node_type="full"} 1'));
  assert.ok(text.includes("rhizome_store_records 2\n"));
  assert.ok(!text.includes("rhizome_store_class_records{"));
  assert.ok(!text.includes("\nrhizome_store_quota_bytes "));
});

Deno.test("metricsReport() holds the same samples as the text, keyed by name", () => {
  const metrics = sampleMetrics();
  const families = metricFamilies(metrics);
  const report = metricsReport(metrics, families);
  assert.equal(report.node_id, metrics.nodeId);
  assert.equal(report.node_type, "full");
  assert.equal(report.uptime_s, 61);
  assert.deepEqual(Object.keys(report.metrics), metricDefinitions.map(({ name }) => name));
  const text = prometheusText(families);
  for (const [name, family] of Object.entries(report.metrics)) {
    for (const sample of family.samples) {
      if ("buckets" in sample) {
        const histogram = sample as HistogramSample;
        assert.ok(text.includes(`${name}_count ${histogram.count}\n`), name);
      } else {
        const { labels, value } = sample as MetricSample;
        const labelText = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
        const line = `${name}${labelText === "" ? "" : `{${labelText}}`} ${value}\n`;
        assert.ok(text.includes(line), line);
      }
    }
  }
  // Plain JSON: it survives a round trip unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
});

Deno.test("snakeCase() turns counter keys into label values", () => {
  assert.equal(snakeCase("peerRateLimited"), "peer_rate_limited");
  assert.equal(snakeCase("ioError"), "io_error");
  assert.equal(snakeCase("full"), "full");
});

Deno.test("docs/observability.md lists every metric with its type, and no other", async () => {
  const docs = await Deno.readTextFile(docsPath);
  const rows = [...docs.matchAll(/^\| `(rhizome_[a-z0-9_]+)` +\| (counter|gauge|histogram) +\|/gm)]
    .map((match) => [match[1], match[2]]);
  const documented = new Map(rows as [string, string][]);
  assert.equal(documented.size, rows.length, "a metric is listed twice");
  for (const { name, type } of metricDefinitions) {
    assert.equal(documented.get(name), type, `docs/observability.md: ${name} (${type})`);
  }
  assert.equal(documented.size, metricDefinitions.length, "docs list a metric the node lacks");
});

Deno.test("promtool check metrics accepts the rendered metrics", async () => {
  const promtool = requireBinary("promtool", "lint the metrics");
  if (promtool === undefined) return;
  const result = await promtoolCheck(promtool, prometheusText(metricFamilies(sampleMetrics())));
  assert.equal(result.code, 0, result.output);
  // And it does lint: a counter without _total is refused.
  const bad = "# HELP x_count A count.\n# TYPE x_count counter\nx_count 1\n";
  assert.notEqual((await promtoolCheck(promtool, bad)).code, 0);
});
