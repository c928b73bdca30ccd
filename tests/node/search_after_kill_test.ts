/**
 * The search index is derived data that takes the store's changes in batches: a node killed
 * mid-batch leaves it behind the store. The next start finds the data dir's lock stale and
 * rebuilds the index, so nothing the store holds stays unfindable.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { NodeId } from "../../src/core/node_id.ts";
import { SqliteSearchIndex } from "../../src/node/search_index_sqlite.ts";
import type { SearchPage } from "../../src/services/search/mod.ts";
import { killNode, nodeDir, startNode } from "../_node_process.ts";
import { rhizomeJson, withTempDir } from "../_rhizome.ts";

Deno.test({
  name: "a node killed with its index behind the store rebuilds the index at its next start",
  sanitizeResources: false,
  async fn() {
    await withTempDir(async (root) => {
      const dir = nodeDir(root, 0);
      let node = await startNode(dir);
      let id = "";
      try {
        assert.equal((await rhizomeJson(dir, "author", "new", "alice")).status, 0);
        // Alone in its network the node keeps the thread but cannot replicate it (exit 8).
        await rhizomeJson(dir, "thread", "new", "--title", "Balcony gardening", "On a windowsill");
        const found = await rhizomeJson<SearchPage>(dir, "search", "windowsill", "--local");
        assert.equal(found.status, 0, found.stderr);
        assert.equal(found.json!.results.length, 1);
        id = found.json!.results[0].id;
      } finally {
        await killNode(node);
      }
      // What a kill between the store's commit and the index's batch leaves: the record held,
      // the index without it.
      const { index } = SqliteSearchIndex.open(join(dir, "search.sqlite"));
      try {
        assert.ok(index.remove(NodeId.fromHex(id)));
      } finally {
        index.close();
      }
      node = await startNode(dir);
      try {
        const found = await rhizomeJson<SearchPage>(dir, "search", "windowsill", "--local");
        assert.equal(found.status, 0, found.stderr);
        assert.deepEqual(
          found.json!.results.map((result) => result.id),
          [id],
        );
        assert.match(node.stderr(), /search index rebuilt/);
      } finally {
        await killNode(node);
      }
    });
  },
});
