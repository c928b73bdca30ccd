/**
 * Sync on a real network of four `rhizome` processes on loopback: three nodes hold records
 * published through them; a fresh node started with `--seed` (and no bootstrap contact, so the
 * DHT's own replication cannot fill it) runs `rhizome sync --from` against one of them through
 * the CLI, gets every record over the authenticated stream transport, each verified by its
 * store; a second sync moves nothing; a partial sync of half the key space into another fresh
 * node moves only that half. Four processes rather than ten keep the test within a shared
 * two-core machine's budget; the protocol is the same for any number of peers.
 */

import assert from "node:assert/strict";
import { utf8Encode } from "../../src/core/bytes.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { runProcess, withTempDir } from "../_rhizome.ts";

const records = 30;

Deno.test({
  name: "a fresh --seed node syncs every record from a running network, then is in step",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        nodes.push(await startNode(nodeDir(root, 0)));
        for (let i = 1; i < 3; i++) {
          nodes.push(await startNode(nodeDir(root, i), ["--bootstrap", nodes[0].contact]));
        }
        await waitFor("the network to join", async () => {
          const status = await (await nodes[2].client()).call(controlRoutes.status);
          return status.contacts >= 2;
        });
        const keys: string[] = [];
        for (let i = 0; i < records; i++) {
          const client = await nodes[1 + (i % 2)].client();
          const put = await client.call(controlRoutes.put, { value: utf8Encode(`record ${i}`) });
          keys.push(put.key);
        }
        const held = (await (await nodes[1].client()).call(controlRoutes.status)).stored_records;
        assert.ok(held >= records, `node 1 holds ${held} records`);

        nodes.push(await startNode(nodeDir(root, 3), ["--seed"]));
        const before = (await (await nodes[3].client()).call(controlRoutes.status)).stored_records;
        const run = await runProcess([
          "sync",
          "--data-dir",
          nodes[3].dataDir,
          "--from",
          nodes[1].contact,
          "--json",
        ]);
        assert.equal(run.status, 0, run.stderr);
        const report = JSON.parse(run.stdout);
        assert.equal(report.complete, true);
        assert.equal(report.peer_node_id, nodes[1].nodeId);
        assert.equal(report.records_refused, 0);
        assert.ok(report.records_stored >= records, JSON.stringify(report));
        const after = (await (await nodes[3].client()).call(controlRoutes.status)).stored_records;
        assert.ok(after - before >= records, `held ${before}, then ${after}`);

        const again = await (await nodes[3].client()).call(controlRoutes.sync, {
          from: nodes[2].contact,
        });
        assert.equal(again.records_stored, 0);
        assert.equal(again.complete, true);

        nodes.push(await startNode(nodeDir(root, 4)));
        const half = await runProcess([
          "sync",
          "--data-dir",
          nodes[4].dataDir,
          "--from",
          nodes[1].contact,
          "--partial",
          "keys:00..7f",
          "--json",
        ]);
        assert.equal(half.status, 0, half.stderr);
        const partial = JSON.parse(half.stdout);
        const inHalf = keys.filter((key) => parseInt(key.slice(0, 2), 16) <= 0x7f).length;
        assert.ok(partial.records_stored >= inHalf, JSON.stringify(partial));
        assert.ok(partial.records_stored < report.records_stored, "only half the key space");

        const bad = await runProcess([
          "sync",
          "--data-dir",
          nodes[4].dataDir,
          "--partial",
          "keys:zz..00",
        ]);
        assert.equal(bad.status, 2, bad.stderr);
        assert.match(bad.stderr, /--partial/);
      } finally {
        for (const node of nodes) node.child.kill("SIGTERM");
        await Promise.all(nodes.map((node) => node.exited));
      }
    });
  },
});
