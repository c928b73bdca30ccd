/**
 * The metrics of a live network, as an operator sees them: five real `rhizome run` processes on
 * loopback join through one of them and share a value; then
 *
 * - `promtool check metrics` accepts the `/metrics` of a live node,
 * - the separate listener (`run --metrics HOST:PORT`) serves the same figures and nothing else,
 * - the dashboard of that node, loaded in headless Chromium, shows its peers and its traffic
 *   after refreshing itself from `/v1/metrics` (the test reads the DOM; a screenshot is kept at
 *   `dist/ci-artifacts/dashboard.png`),
 * - lookups have been timed (the latency histogram counts them),
 * - `rhizome top` shows the same figures, once as JSON and twice as text.
 *
 * promtool (Debian's `prometheus`) and `chromium` are installed by .ci/run; where one is
 * missing here, its part is skipped with a printed reason and the rest still runs.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { utf8Encode } from "../../src/core/bytes.ts";
import { NodeId } from "../../src/core/node_id.ts";
import type { MetricsReport } from "../../src/api/metrics.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { headlineOf, metricValue } from "../../src/cli/commands/top.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { runInProcess, withTempDir } from "../_rhizome.ts";
import { promtoolCheck, requireBinary } from "../_binaries.ts";

const nodesCount = 5;

/** Most lookups the traffic generator makes while the browser runs. */
const busyLookupsMax = 2_000;

/** Where the screenshot is kept for CI to collect (git-ignored with the rest of dist/). */
const artifactsDir = new URL("../../dist/ci-artifacts/", import.meta.url).pathname;

/** Longest one Chromium run may take before it is killed. */
const chromiumTimeoutMs = 90_000;

/** The page's own clock advances this much (its refresh timers with it) before the DOM is read. */
const virtualTimeBudgetMs = 7_000;

Deno.test({
  name: "a live network's metrics pass promtool, its dashboard shows peers and traffic, top agrees",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        // Node 0 also serves its metrics on a separate listener, as for a Prometheus elsewhere.
        nodes.push(await startNode(nodeDir(root, 0), ["--metrics", "127.0.0.1:0"]));
        const rest = [];
        for (let i = 1; i < nodesCount; i++) {
          rest.push(startNode(nodeDir(root, i), ["--bootstrap", nodes[0].contact], 60_000));
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        nodes.push(...await Promise.all(rest));
        const first = nodes[0];
        const url = await apiUrl(first);

        await waitFor("node 0 to know every other node", async () => {
          const report = await (await first.client()).call(controlRoutes.metricsJson);
          return metricValue(report, "rhizome_peers") === nodesCount - 1;
        }, 60_000).catch((error) => {
          throw new Error(`${error.message}; its log:\n${first.stderr().slice(-3000)}`);
        });
        const put = await (await nodes[2].client()).call(controlRoutes.put, {
          value: utf8Encode(`metrics at ${Date.now()}`),
        });
        assert.ok(put.holders >= 2, `held by ${put.holders}`);

        await checkLiveMetrics(url, nodes[2]);
        await checkMetricsListener(first);
        await checkDashboard(first, url, root);
        await checkTop(first);
      } finally {
        await Promise.all(nodes.map((node) => killNode(node)));
      }
    });
  },
});

/** The control API's URL, from the node's `api.json`. */
async function apiUrl(node: NodeProcess): Promise<string> {
  const address = JSON.parse(await Deno.readTextFile(join(node.dataDir, "api.json")));
  return address.url;
}

/** promtool on node 0's live /metrics; the putter timed its lookups. */
async function checkLiveMetrics(url: string, putter: NodeProcess): Promise<void> {
  const text = await (await fetch(`${url}/metrics`)).text();
  assert.match(text, /^rhizome_peers 4$/m);
  const sent = Number(/^rhizome_udp_sent_bytes_total (\d+)$/m.exec(text)?.[1]);
  assert.ok(sent > 0, `sent ${sent} bytes`);
  const promtool = requireBinary("promtool", "lint a live node's /metrics");
  if (promtool !== undefined) {
    const result = await promtoolCheck(promtool, text);
    assert.equal(result.code, 0, `promtool check metrics:\n${result.output}`);
  }
  const report: MetricsReport = await (await putter.client()).call(controlRoutes.metricsJson);
  const timed = metricValue(report, "rhizome_dht_lookup_duration_seconds");
  assert.ok(timed >= 1, `lookups timed: ${timed}`);
  assert.equal(timed, metricValue(report, "rhizome_dht_lookups_finished_total"));
  assert.ok(metricValue(report, "rhizome_replication_pushes_total") >= 1);
}

/** The separate listener `--metrics` opened serves the same figures, and nothing else. */
async function checkMetricsListener(node: NodeProcess): Promise<void> {
  const url = /metrics listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(node.stderr())?.[1];
  assert.ok(url, `no "metrics listening on" line in the log:\n${node.stderr().slice(-2000)}`);
  const text = await (await fetch(`${url}/metrics`)).text();
  assert.match(text, /^rhizome_peers 4$/m);
  assert.ok(text.includes(`rhizome_node_info{node_id="${node.nodeId}",`), "its own node");
  const status = await fetch(`${url}/v1/status`);
  assert.equal(status.status, 404);
  await status.body?.cancel();
}

/**
 * Headless Chromium while the node looks up keys: the DOM after a few refreshes shows its peers
 * and traffic and lookups newer than what the node had counted before the page loaded (live, not
 * a stale copy); then a screenshot.
 */
async function checkDashboard(node: NodeProcess, url: string, root: string): Promise<void> {
  const chromium = requireBinary("chromium", "load the dashboard in a headless browser");
  if (chromium === undefined) return;
  const image = join(artifactsDir, "dashboard.png");
  const before = await (await node.client()).call(controlRoutes.metricsJson);
  const busy = new AbortController();
  const traffic = keepLookingUp(node, busy.signal);
  let dom: string;
  try {
    // The node has looked up at least once after `before` when the page loads.
    await waitFor("a lookup after the first read", async () => {
      const now = await (await node.client()).call(controlRoutes.metricsJson);
      return metricValue(now, "rhizome_dht_lookups_total") >
        metricValue(before, "rhizome_dht_lookups_total");
    });
    dom = await runChromium(chromium, join(root, "chromium-dom"), [
      `--virtual-time-budget=${virtualTimeBudgetMs}`,
      "--dump-dom",
      `${url}/dashboard`,
    ]);
    await Deno.mkdir(artifactsDir, { recursive: true });
    await Deno.remove(image).catch(() => {});
    await runChromium(chromium, join(root, "chromium-shot"), [
      `--virtual-time-budget=${virtualTimeBudgetMs}`,
      "--window-size=1280,900",
      `--screenshot=${image}`,
      `${url}/dashboard`,
    ]);
  } finally {
    busy.abort();
    await traffic;
  }
  const valueOf = (id: string) =>
    Number(new RegExp(`id="${id}" data-value="(\\d+)"`).exec(dom)?.[1]);
  for (
    const [id, name] of [
      ["sent-total", "rhizome_udp_sent_bytes_total"],
      ["received-total", "rhizome_udp_received_bytes_total"],
      ["lookups", "rhizome_dht_lookups_total"],
    ]
  ) {
    const shown = valueOf(id);
    const earlier = metricValue(before, name);
    assert.ok(shown > earlier, `#${id} shows ${shown}, no more than ${earlier} read before`);
  }
  const text = (id: string) =>
    new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(dom)?.[1] ??
      assert.fail(`no #${id} in the DOM:\n${dom.slice(0, 2000)}`);
  const refreshes = Number(/data-refreshes="(\d+)"/.exec(dom)?.[1]);
  assert.ok(refreshes >= 2, `the page refreshed ${refreshes} times`);
  assert.match(text("state"), /^live · updated /);
  assert.equal(text("peers"), String(nodesCount - 1));
  assert.match(text("sent-total"), /^[0-9.]+ (B|KiB|MiB)$/);
  assert.notEqual(text("sent-total"), "0 B");
  assert.notEqual(text("received-total"), "0 B");
  assert.match(text("sent-rate"), /^[0-9.]+ (B|KiB|MiB)\/s$/);
  assert.match(text("store-records"), /^[1-9]/);
  assert.match(dom, /id="sent-spark" points="[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+/);

  const png = await Deno.readFile(image);
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "a PNG");
  assert.ok(png.length > 10_000, `the screenshot is ${png.length} bytes`);
  console.log(`dashboard screenshot: ${image}`);
}

/**
 * Gets absent keys through the node until aborted (at most {@link busyLookupsMax}), so it has
 * traffic and lookups while the page reads its metrics.
 */
async function keepLookingUp(node: NodeProcess, signal: AbortSignal): Promise<void> {
  const client = await node.client();
  for (let i = 0; i < busyLookupsMax && !signal.aborted; i++) {
    const key = NodeId.fromBytes(crypto.getRandomValues(new Uint8Array(20)));
    await client.call(controlRoutes.get, key).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs headless Chromium with a fresh profile; returns its stdout. */
async function runChromium(chromium: string, profile: string, args: string[]): Promise<string> {
  await Deno.mkdir(profile, { recursive: true });
  const child = new Deno.Command(chromium, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), chromiumTimeoutMs);
  try {
    const result = await child.output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, `chromium exited ${result.code}:\n${stderr.slice(-2000)}`);
    return new TextDecoder().decode(result.stdout);
  } finally {
    clearTimeout(timer);
  }
}

/** `rhizome top --json` once, and two refreshes as text. */
async function checkTop(node: NodeProcess): Promise<void> {
  const json = await runInProcess(["top", "--json", "--data-dir", node.dataDir]);
  assert.equal(json.status, 0, json.stderr);
  const headline = JSON.parse(json.stdout);
  assert.equal(headline.node_id, node.nodeId);
  assert.equal(headline.peers, nodesCount - 1);
  assert.ok(headline.sent_bytes > 0 && headline.received_bytes > 0);
  const report = await (await node.client()).call(controlRoutes.metricsJson);
  assert.deepEqual(Object.keys(headline), Object.keys(headlineOf(report)));

  const text = await runInProcess([
    "top",
    "--count",
    "2",
    "--interval",
    "0.2",
    "--data-dir",
    node.dataDir,
  ]);
  assert.equal(text.status, 0, text.stderr);
  const peersLines = text.stdout.split("\n").filter((line) => line.startsWith("peers "));
  assert.equal(peersLines.length, 2, text.stdout);
  assert.match(peersLines[1], /^peers +4 in the routing table/);
  assert.match(text.stdout, /^traffic +out [0-9.]+ (B|KiB|MiB)\/s \(/m);
}
