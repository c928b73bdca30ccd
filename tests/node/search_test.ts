/**
 * Search across ten real `rhizome run` processes, driven by real `rhizome` CLI processes: a
 * thread started on one node is found on others by a word of its body and by its tag, within one
 * publish (no waiting for replication): on a full node from its own index, and on a mobile node
 * (which stores nothing for others, so its index is empty) through the network's postings. A bad
 * query is refused with one line, and `--reindex` rebuilds the index from the store.
 */

import assert from "node:assert/strict";
import type { PublishReport } from "../../src/services/discussion/reports.ts";
import type { ReindexReport, SearchPage } from "../../src/services/search/mod.ts";
import { type NodeProcess, startNetwork } from "../_node_process.ts";
import { rhizomeJson, runProcess, withTempDir } from "../_rhizome.ts";

const nodesCount = 10;

const rhizome = rhizomeJson;

Deno.test({
  name: "10 nodes: a thread posted on one node is found by search on others, by body word and tag",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        await startNetwork(
          root,
          nodesCount,
          nodes,
          (i) => i === nodesCount - 1 ? ["--mobile"] : [],
        );
        const author = nodes[1].dataDir;
        const full = nodes[4].dataDir;
        const mobile = nodes[nodesCount - 1].dataDir;
        const made = await rhizome(author, "author", "new", "alice");
        assert.equal(made.status, 0, made.stderr);

        const created = await rhizome<PublishReport>(
          author,
          "thread",
          "new",
          "--title",
          "Balcony gardening",
          "--tag",
          "shadeplants",
          "Which ferns tolerate a windy north-facing balcony?",
        );
        assert.equal(created.status, 0, created.stderr);
        const id = created.json!.id;
        assert.ok((created.json!.indexes.search_terms ?? 0) > 0, "postings were published");

        // Right after the publish: no waiting, no retry.
        for (const [dir, where] of [[full, "full node"], [mobile, "mobile node"]] as const) {
          for (const query of ["ferns", "tag:shadeplants", "windy tag:shadeplants"]) {
            const found = await rhizome<SearchPage>(dir, "search", query);
            assert.equal(found.status, 0, found.stderr);
            const ids = found.json!.results.map((hit) => hit.id);
            assert.ok(ids.includes(id), `${where} finds the thread by "${query}": ${found.stdout}`);
          }
        }
        // The mobile node holds nothing for others: only the network's postings found it.
        const local = await rhizome<SearchPage>(mobile, "search", "ferns", "--local");
        assert.equal(local.status, 0, local.stderr);
        assert.deepEqual(local.json!.results, []);

        // A bad query: one line on stderr, exit 2, nothing on stdout.
        const bad = await runProcess(["search", '"unclosed', "--data-dir", full]);
        assert.equal(bad.status, 2, bad.stderr);
        assert.equal(bad.stdout, "");
        assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
        assert.match(bad.stderr, /quote is not closed/);

        const reindexed = await rhizome<ReindexReport>(full, "search", "--reindex");
        assert.equal(reindexed.status, 0, reindexed.stderr);
        assert.ok(reindexed.json!.documents >= 1);
        const again = await rhizome<SearchPage>(full, "search", "balcony", "--local", "--explain");
        assert.equal(again.json!.results[0].id, id);
        assert.ok(again.json!.results[0].explain!.bm25 > 0);
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
