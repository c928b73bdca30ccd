/**
 * Values too large for a datagram travel over the stream transport between real nodes: a 60 KiB
 * value put on one of five processes is stored by stream at the other four, and a mobile node
 * (which holds nothing for others) gets it back whole: VALUE_REF by datagram, then the value by
 * stream, as the holders' stream counters show.
 */

import assert from "node:assert/strict";
import { bytesEqual } from "../../src/core/bytes.ts";
import { Prng, randomBytes } from "../../src/core/rng.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { NodeId } from "../../src/core/node_id.ts";

Deno.test("a 60 KiB value is stored and found through the stream transport", async () => {
  await withTempDir(async (root) => {
    const nodes: NodeProcess[] = [];
    try {
      nodes.push(await startNode(nodeDir(root, 0)));
      for (let i = 1; i < 5; i++) {
        nodes.push(await startNode(nodeDir(root, i), ["--bootstrap", nodes[0].contact]));
      }
      for (const node of nodes) {
        await waitFor("every node to know the others", async () => {
          const status = await (await node.client()).call(controlRoutes.status);
          return (status.contacts as number) >= 4;
        });
      }
      const value = randomBytes(new Prng(60), new Uint8Array(60 * 1024));
      const put = await (await nodes[2].client()).call(controlRoutes.put, { value: value });
      assert.equal(put.stored, 4, "every other node acknowledged it");
      const accepted = async () => {
        const counts = await Promise.all(nodes.map(async (node) => {
          const status = await (await node.client()).call(controlRoutes.status);
          return (status.stream as { connections_accepted: number }).connections_accepted;
        }));
        return counts.reduce((a, b) => a + b, 0);
      };
      assert.ok(await accepted() >= 4, "the STOREs went by stream");

      const mobile = await startNode(nodeDir(root, 5), [
        "--mobile",
        "--bootstrap",
        nodes[0].contact,
      ]);
      nodes.push(mobile);
      await waitFor("the mobile node to know peers", async () => {
        const status = await (await mobile.client()).call(controlRoutes.status);
        return (status.contacts as number) >= 4;
      });
      const before = await accepted();
      const got = await (await mobile.client()).call(controlRoutes.get, NodeId.fromHex(put.key));
      assert.ok(got && bytesEqual(got, value), "the mobile node got the whole value");
      assert.ok(await accepted() > before, "it came by stream");
      const mobileStatus = await (await mobile.client()).call(controlRoutes.status);
      assert.equal(mobileStatus.stored_records, 0, "a mobile node keeps no copy for others");
    } catch (error) {
      for (const [index, node] of nodes.entries()) {
        console.error(`--- node ${index} stderr ---\n${node.stderr().slice(-2000)}`);
      }
      throw error;
    } finally {
      await Promise.all(nodes.map((node) => killNode(node)));
    }
  });
});
