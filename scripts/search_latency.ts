/**
 * Network search latency against a single get, on real processes (issue 20: "latency p50 ≤ 2 × a
 * single get's"): starts N `rhizome run` nodes on loopback (the last a mobile node, which stores
 * nothing for others, so its searches go through the network's postings), publishes threads from
 * one node, then on the mobile node times, for each thread, a `get` of the thread's record and a
 * search for two of its words (each thread has words of its own), both through the control API.
 * Prints one JSON object.
 *
 * Usage: deno run -A scripts/search_latency.ts [--nodes N] [--threads N]
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { controlRoutes } from "../src/api/routes.ts";
import { NodeId } from "../src/core/node_id.ts";
import { runCli } from "../src/cli/main.ts";
import { ChildProcesses, type NodeProcess, withCleanUp } from "./_node_processes.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: { nodes: { type: "string", default: "10" }, threads: { type: "string", default: "30" } },
});
const nodesCount = Number(flags.nodes);
const threadsCount = Number(flags.threads);
const processes = new ChildProcesses();
const root = await Deno.makeTempDir({ prefix: "rhizome-search-latency-" });
const progress = (line: string) => console.error(line);

await withCleanUp(
  { processes, root, overallMs: 10 * 60_000, overallLine: "took too long", progress },
  async () => {
    const nodes: NodeProcess[] = [];
    const start = (i: number, args: string[]) =>
      processes.startNode({
        label: `node ${i}`,
        dataDir: join(root, `node-${i}`),
        args,
        startTimeoutMs: 60_000,
        clientTimeoutMs: 30_000,
      });
    nodes.push(await start(0, []));
    const rest = [];
    for (let i = 1; i < nodesCount; i++) {
      const type = i === nodesCount - 1 ? ["--mobile"] : [];
      rest.push(start(i, ["--bootstrap", nodes[0].contact, ...type]));
    }
    nodes.push(...await Promise.all(rest));
    for (let waited = 0; waited < 300; waited++) {
      const counts = await Promise.all(
        nodes.map(async (node) =>
          (await node.client.call(controlRoutes.status)).contacts as number
        ),
      );
      if (counts.every((count) => count >= Math.min(5, nodesCount - 1))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    progress(`${nodesCount} nodes up`);
    const author = nodes[1];
    await runCli(["author", "new", "alice", "--data-dir", author.dataDir], {
      env: {},
      stdout: () => {},
      stderr: (text) => progress(text),
    });
    const threads: { id: string; words: string }[] = [];
    for (let i = 0; i < threadsCount; i++) {
      const own = [`quorvex${i}`, `plimtar${i}`];
      const report = await author.client.call(controlRoutes.newThread, {
        title: `Notes on ${own[0]}`,
        body: `Some text about ${own[0]} and ${own[1]}, with ordinary words around them.`,
        tags: ["latency"],
      });
      threads.push({ id: report.id, words: own.join(" ") });
    }
    progress(`${threadsCount} threads published`);
    const mobile = nodes[nodesCount - 1].client;
    const getMs: number[] = [];
    const searchMs: number[] = [];
    let found = 0;
    for (const thread of threads) {
      let t0 = performance.now();
      await mobile.call(controlRoutes.get, NodeId.fromHex(thread.id));
      getMs.push(performance.now() - t0);
      t0 = performance.now();
      const page = await mobile.call(controlRoutes.search, {
        query: thread.words,
        limit: 10,
        local: false,
        explain: false,
      });
      searchMs.push(performance.now() - t0);
      if (page.results.some((hit) => hit.id === thread.id)) found++;
    }
    const p50 = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const p90 = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.9)];
    console.log(JSON.stringify(
      {
        nodes: nodesCount,
        threads: threadsCount,
        found_by_network_search: found,
        get_ms: { p50: round(p50(getMs)), p90: round(p90(getMs)) },
        search_ms: { p50: round(p50(searchMs)), p90: round(p90(searchMs)) },
        search_over_get_p50: round(p50(searchMs) / p50(getMs)),
        load_average: Deno.loadavg(),
        target: { search_over_get_p50_max: 2 },
      },
      null,
      2,
    ));
  },
);

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
