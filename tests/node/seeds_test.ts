/**
 * A seed announces itself in the global seeds index: a node started with `--seed` signs an entry
 * holding its contact URI with its node identity, and any other node finds it by reading the index
 * from the network. A node that is not a seed announces nothing.
 */

import assert from "node:assert/strict";
import { liveEntries, seedsIndex } from "../../src/content/key_schema.ts";
import { decodeStoredRecord, RecordKind } from "../../src/content/records.ts";
import { nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { NodeId } from "../../src/core/node_id.ts";

Deno.test({
  name: "a seed's contact is in the seeds index, read from any node; other nodes add none",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        nodes.push(await startNode(nodeDir(root, 0), ["--seed"]));
        for (let i = 1; i < 4; i++) {
          nodes.push(await startNode(nodeDir(root, i), ["--bootstrap", nodes[0].contact]));
        }
        const key = seedsIndex().key.toHex();
        let contacts: string[] = [];
        await waitFor("the seed in the seeds index, read from node 3", async () => {
          const bytes = await (await nodes[3].client()).call(
            controlRoutes.get,
            NodeId.fromHex(key),
          );
          if (bytes === undefined) return false;
          const record = decodeStoredRecord(bytes);
          assert.equal(record.kind, RecordKind.set);
          if (record.kind !== RecordKind.set) return false;
          const nowS = Math.floor(Date.now() / 1000);
          contacts = liveEntries(record, "seeds", nowS).map((entry) => entry.value.contact);
          return contacts.length > 0;
        }, 20_000);
        assert.deepEqual(contacts, [nodes[0].contact]);
      } finally {
        for (const node of nodes) node.child.kill("SIGTERM");
        await Promise.all(nodes.map((node) => node.exited));
      }
    });
  },
});
