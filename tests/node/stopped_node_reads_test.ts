/**
 * Issue 14's stopped-node reproduction, with real `rhizome` processes: a seed, a full and a light
 * node with a few threads; a fourth node joins with `--bootstrap` and is stopped (SIGINT) two
 * seconds later. Every lookup of a versioned record then waited on the gone node's retries, and
 * `thread list` on the full node failed with "no answer within 30 s" for minutes (it walked the
 * days' thread hours one lookup after another). Now `thread list` and `thread show` answer within
 * the reader's budget on every remaining node, every try, naming what they could not read.
 *
 * The times (CLI process included: starting Deno is a few hundred ms of it) are printed; the
 * assertion is a generous 5 s, so a loaded machine does not fail it, against the 2 s target.
 */

import assert from "node:assert/strict";
import type {
  PublishReport,
  ThreadList,
  ThreadView,
} from "../../src/services/discussion/reports.ts";
import { nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { runProcess, withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";

/** Tries of each read on each node after the fourth node stopped. */
const triesPerNode = 3;

/** The bound asserted for one CLI run: the target is 2 s; the rest is room for a loaded machine. */
const answerMsMax = 5_000;

/** Runs `rhizome ARGS --json --data-dir DIR`, timing it. */
async function rhizome<T>(dir: string, ...args: string[]) {
  const beganMs = performance.now();
  const run = await runProcess([...args, "--json", "--data-dir", dir]);
  const tookMs = Math.round(performance.now() - beganMs);
  const json = run.status === 0 ? JSON.parse(run.stdout) as T : undefined;
  return { ...run, json, tookMs };
}

Deno.test({
  name: "a node that joined and stopped leaves thread list and show answering within the budget",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        const seed = await startNode(nodeDir(root, 0), ["--seed"]);
        nodes.push(seed);
        nodes.push(await startNode(nodeDir(root, 1), ["--full", "--bootstrap", seed.contact]));
        nodes.push(await startNode(nodeDir(root, 2), ["--light", "--bootstrap", seed.contact]));
        for (const [index, node] of nodes.entries()) {
          await waitFor(`node ${index} to know the others`, async () => {
            const status = await (await node.client()).call(controlRoutes.status);
            return (status.contacts as number) >= 2;
          }, 30_000);
        }
        const full = nodes[1].dataDir;
        const author = await rhizome(full, "author", "new", "alice");
        assert.equal(author.status, 0, author.stderr);
        const threads: string[] = [];
        for (let i = 0; i < 3; i++) {
          const made = await rhizome<PublishReport>(full, "thread", "new", "--title", `T${i}`, "x");
          assert.equal(made.status, 0, made.stderr);
          threads.push(made.json!.id);
        }
        const replied = await rhizome<PublishReport>(full, "post", threads[0], "A reply");
        assert.equal(replied.status, 0, replied.stderr);

        const fourth = await startNode(nodeDir(root, 3), ["--bootstrap", seed.contact]);
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        fourth.child.kill("SIGINT");
        assert.equal(await fourth.exited, 0, fourth.stderr());

        const listMs: number[] = [];
        const showMs: number[] = [];
        const apiListMs: number[] = [];
        for (let attempt = 0; attempt < triesPerNode; attempt++) {
          for (const [index, node] of nodes.entries()) {
            const listed = await rhizome<ThreadList>(node.dataDir, "thread", "list");
            listMs.push(listed.tookMs);
            assert.equal(listed.status, 0, `node ${index}: ${listed.stderr}`);
            assert.ok(listed.tookMs < answerMsMax, `node ${index} listed in ${listed.tookMs} ms`);
            const ids = listed.json!.threads.map((thread) => thread.id);
            assert.ok(
              ids.every((id) => threads.includes(id)),
              `node ${index} listed ${ids.join(", ")}`,
            );
            if (node.dataDir === full) {
              assert.deepEqual(ids, threads.toReversed(), "the full node holds the listing");
            }
            const shown = await rhizome<ThreadView>(node.dataDir, "thread", "show", threads[0]);
            showMs.push(shown.tookMs);
            assert.ok(shown.tookMs < answerMsMax, `node ${index} showed in ${shown.tookMs} ms`);
            // A thread that cannot be read in time is UNAVAILABLE (exit 1), never a wrong answer.
            assert.ok(shown.status === 0 || shown.status === 1, shown.stderr);
            if (shown.status === 0) assert.equal(shown.json!.thread.id, threads[0]);
            // The node's own answer time, without the CLI process around it.
            const client = await node.client();
            const beganMs = performance.now();
            await client.call(controlRoutes.listThreads, { order: "recent", limit: 20 });
            apiListMs.push(Math.round(performance.now() - beganMs));
            if (attempt === 0) {
              console.log(
                `node ${index}: listed ${ids.length} threads, missing ${
                  listed.json!.missing.length
                }` +
                  `; show exit ${shown.status}, missing ${shown.json?.missing.length ?? "-"}`,
              );
              if (index === 1) console.log(`node 1's missing: ${listed.json!.missing.join("; ")}`);
            }
          }
        }
        console.log(`thread list ms (3 nodes x ${triesPerNode} tries): ${listMs.join(" ")}`);
        console.log(`thread show ms (3 nodes x ${triesPerNode} tries): ${showMs.join(" ")}`);
        console.log(`GET /v1/threads ms, API only: ${apiListMs.join(" ")}`);
        // Not asserted: once stopped nodes are dropped fast, reads may never run late at all.
        const warned = nodes[1].stderr().split("\n").find((line) =>
          line.includes("Reads are running late")
        );
        console.log(`the full node's log: ${warned ?? "(no late-read warning)"}`);
      } finally {
        for (const node of nodes) {
          try {
            node.child.kill("SIGINT");
          } catch {
            // Already gone.
          }
          await node.exited;
        }
      }
    });
  },
});
