/**
 * Values too large for a datagram travel over the stream transport between real nodes: a 60 KiB
 * value put on one of five processes is got back whole from every other, and the stream
 * listener's counters show the connections.
 */

import assert from "node:assert/strict";
import { bytesEqual } from "../../src/core/bytes.ts";
import { Prng, randomBytes } from "../../src/core/rng.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";

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
          const status = await (await node.client()).status();
          return (status.contacts as number) >= 4;
        });
      }
      const value = randomBytes(new Prng(60), new Uint8Array(60 * 1024));
      const put = await (await nodes[2].client()).put(value);
      assert.equal(put.stored, 4, "every other node acknowledged it");
      for (const [index, node] of nodes.entries()) {
        const got = await (await node.client()).get(put.key);
        assert.ok(got && bytesEqual(got, value), `node ${index} got the whole value`);
      }
      const streams = await Promise.all(
        nodes.map(async (node) =>
          ((await (await node.client()).status()).stream as { connectionsAccepted: number })
            .connectionsAccepted
        ),
      );
      assert.ok(streams.reduce((a, b) => a + b, 0) >= 4, `stream connections: ${streams}`);
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
