/**
 * Popularity across ten real `rhizome run` processes, three of them seeds publishing a ranking
 * every 10 s: threads read by more nodes rank higher in `thread list --popular` on a node that
 * read none of them, by the seeds' global ranking (median rank over their signed rankings), within
 * two ranking periods of the reads (a holder's report comes at its next period, a seed's ranking
 * at the seed's next); `--local` reads the node's own ranking; `--explain` shows
 * the score's parts; `rhizome popularity KEY` shows a thread's metrics, and refuses a key no
 * read reached in one line (exit 1).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { controlRoutes } from "../../src/api/routes.ts";
import type { PopularityReport } from "../../src/api/routes.ts";
import type { PublishReport, ThreadList } from "../../src/services/discussion/reports.ts";
import { nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { rhizomeJson, runProcess, withTempDir } from "../_rhizome.ts";

const nodesCount = 10;
const seedsCount = 3;
const rankingPeriodS = 10;

const rhizome = rhizomeJson;

Deno.test({
  name: "10 nodes, 3 seeds: thread list --popular lists by the seeds' global ranking of the reads",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      const start = async (index: number, args: string[]) => {
        const dir = nodeDir(root, index);
        await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
        await Deno.writeTextFile(
          join(dir, "config.toml"),
          `[popularity]\nranking_period_s = ${rankingPeriodS}\n`,
        );
        return await startNode(dir, args, 60_000);
      };
      try {
        nodes.push(await start(0, ["--seed"]));
        const rest = [];
        for (let i = 1; i < nodesCount; i++) {
          const type = i < seedsCount ? ["--seed"] : ["--full"];
          rest.push(start(i, [...type, "--bootstrap", nodes[0].contact]));
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        nodes.push(...await Promise.all(rest));
        for (const [index, node] of nodes.entries()) {
          await waitFor(`node ${index} to know peers`, async () => {
            const status = await (await node.client()).call(controlRoutes.status);
            return (status.contacts as number) >= 5;
          }, 30_000);
        }
        const author = nodes[3].dataDir;
        assert.equal((await rhizome(author, "author", "new", "ann")).status, 0);
        const ids: string[] = [];
        for (const title of ["Quiet", "Warm", "Hot"]) {
          const made = await rhizome<PublishReport>(author, "thread", "new", "--title", title, "x");
          assert.equal(made.status, 0, made.stderr);
          ids.push(made.json!.id);
        }
        const [quiet, warm, hot] = ids;
        // Readers: six nodes read "Hot", three read "Warm", nobody reads "Quiet".
        const readers = [3, 4, 5, 6, 7, 8];
        for (const [index, reader] of readers.entries()) {
          const targets = index < 3 ? [hot, warm] : [hot];
          for (const target of targets) {
            const shown = await rhizome(nodes[reader].dataDir, "thread", "show", target);
            assert.equal(shown.status, 0, shown.stderr);
          }
        }
        const readsDoneMs = Date.now();
        // Node 9 read nothing: its listing comes from the seeds.
        const viewer = nodes[9].dataDir;
        let list: ThreadList | undefined;
        await waitFor("the global ranking to list Hot, then Warm", async () => {
          list = (await rhizome<ThreadList>(viewer, "thread", "list", "--popular")).json;
          const order = list?.threads.map((thread) => thread.id) ?? [];
          return list?.ranking === "global" && order[0] === hot && order[1] === warm;
        }, 4 * rankingPeriodS * 1000).catch(async (error) => {
          const seeds = [];
          for (let i = 0; i < seedsCount; i++) {
            for (const id of ids) {
              const report = await rhizome<PopularityReport>(nodes[i].dataDir, "popularity", id);
              seeds.push(
                `seed ${i} ${id.slice(0, 6)}: ${report.json?.explained.score ?? report.stderr}`,
              );
            }
          }
          throw new Error(
            `${error}\nlast list: ${JSON.stringify(list)}\nids ${ids}\n${seeds.join("\n")}`,
          );
        });
        const listedAfterS = (Date.now() - readsDoneMs) / 1000;
        console.log(
          `global ranking listed the reads ${listedAfterS.toFixed(1)} s after them ` +
            `(ranking period ${rankingPeriodS} s, CLI runs included)`,
        );
        assert.ok(!list!.threads.slice(0, 2).some((thread) => thread.id === quiet));

        // A reader's own ranking, with the score's parts.
        const local = await rhizome<ThreadList>(
          nodes[4].dataDir,
          "thread",
          "list",
          "--popular",
          "--local",
          "--explain",
        );
        assert.equal(local.status, 0, local.stderr);
        assert.equal(local.json!.ranking, "local");
        assert.ok(local.json!.threads.length >= 1);
        assert.ok(local.json!.threads.every((thread) => thread.explain !== undefined));
        const text = await runProcess([
          "thread",
          "list",
          "--popular",
          "--local",
          "--explain",
          "--data-dir",
          nodes[4].dataDir,
        ]);
        assert.equal(text.status, 0, text.stderr);
        assert.match(text.stdout, /^ranking: local/);
        assert.match(text.stdout, /request_rate/);

        // One thread's metrics on a node that read it (its own reads of records it holds count).
        const shown = await rhizome<PopularityReport>(nodes[4].dataDir, "popularity", hot);
        assert.equal(shown.status, 0, shown.stderr);
        assert.ok(shown.json!.explained.score > 0);
        assert.ok(shown.json!.metrics.audience_size >= 1);
        const none = await rhizome(nodes[0].dataDir, "popularity", "ab".repeat(20));
        assert.equal(none.status, 1);
        assert.match(none.stderr, /served no reads/);
        assert.equal(none.stderr.trim().split("\n").length, 1);
        const bad = await rhizome(nodes[0].dataDir, "thread", "list", "--local");
        assert.notEqual(bad.status, 0);
        assert.match(bad.stderr, /--local and --explain are for/);
      } finally {
        await Promise.all(nodes.map(async (node) => {
          try {
            node.child.kill("SIGTERM");
          } catch {
            // Already gone.
          }
          await node.exited;
        }));
      }
    });
  },
});
