/**
 * A node stopped gracefully (SIGTERM) tells its contacts it is leaving: three real `rhizome run`
 * processes on loopback join; one is stopped; the other two drop it from their routing tables
 * within seconds (issue 14: they listed it for minutes).
 */

import assert from "node:assert/strict";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";

Deno.test({
  name: "a node stopped with SIGTERM is dropped from its contacts' tables at once (LEAVE)",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        nodes.push(await startNode(nodeDir(root, 0)));
        const bootstrap = ["--bootstrap", nodes[0].contact];
        nodes.push(await startNode(nodeDir(root, 1), bootstrap, 60_000));
        nodes.push(await startNode(nodeDir(root, 2), bootstrap, 60_000));
        const contacts = async (node: NodeProcess) =>
          (await (await node.client()).call(controlRoutes.status)).contacts as number;
        for (const [index, node] of nodes.entries()) {
          await waitFor(`node ${index} to know both others`, async () => {
            return await contacts(node) === 2;
          }, 60_000);
        }
        nodes[2].child.kill("SIGTERM");
        assert.equal(await nodes[2].exited, 0, nodes[2].stderr());
        for (const index of [0, 1]) {
          await waitFor(`node ${index} to drop the stopped node`, async () => {
            return await contacts(nodes[index]) === 1;
          }, 5_000);
        }
      } catch (error) {
        for (const [index, node] of nodes.entries()) {
          console.error(`--- node ${index} stderr (last lines) ---\n${node.stderr().slice(-2000)}`);
        }
        throw error;
      } finally {
        await Promise.all(nodes.map((node) => killNode(node)));
      }
    });
  },
});
