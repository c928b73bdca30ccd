/**
 * Pinned identities end to end: a real `rhizome run` process given a bootstrap URI whose key is
 * not the key of the node at that address refuses to join through it, says so in one line, and
 * counts it; the node at the address learns nothing of it.
 */

import assert from "node:assert/strict";
import { controlRoutes } from "../../src/api/routes.ts";
import { formatContactUri, makeContact, parseContactUri } from "../../src/core/contact_uri.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";

Deno.test({
  name: "a node refuses to join through a bootstrap URI whose key is not the node's at its address",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        nodes.push(await startNode(nodeDir(root, 0)));
        const real = parseContactUri(nodes[0].contact);
        const otherKey = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(7)).publicKey;
        const wrong = formatContactUri(makeContact(otherKey, real.host, real.port));
        const wrongId = NodeId.fromPublicKey(otherKey).toHex();
        nodes.push(await startNode(nodeDir(root, 1), ["--bootstrap", wrong], 60_000));
        const refusal = () =>
          nodes[1].stderr().split("\n").find((line) =>
            line.includes("not joining through bootstrap contact")
          );
        await waitFor("the joining node to report the wrong identity", () => {
          return Promise.resolve(refusal() !== undefined);
        }, 30_000);
        const line = refusal()!;
        for (const part of [wrong, nodes[0].nodeId, wrongId, `${real.host}:${real.port}`]) {
          assert.ok(line.includes(part), `the line names ${part}: ${line}`);
        }
        await waitFor("the join failure to name it", () => {
          return Promise.resolve(
            nodes[1].stderr().split("\n").some((text) =>
              text.includes("no bootstrap contact answered as the node its key names") &&
              text.includes(wrong)
            ),
          );
        }, 30_000);
        const status = await (await nodes[1].client()).call(controlRoutes.status);
        const channel = status.channel as { wrong_identity: number };
        const dht = status.dht as { rpc: { wrong_identity: number } };
        assert.equal(status.contacts, 0, "nothing learnt from the node that is not the contact");
        assert.ok(channel.wrong_identity >= 1, "counted by the secure channel");
        assert.ok(dht.rpc.wrong_identity >= 1, "counted by the DHT");
        const seen = await (await nodes[0].client()).call(controlRoutes.status);
        assert.equal(seen.contacts, 0, "the node at the address never heard a DHT message");
      } catch (error) {
        for (const [index, node] of nodes.entries()) {
          console.error(`--- node ${index} stderr (last lines) ---\n${node.stderr().slice(-3000)}`);
        }
        throw error;
      } finally {
        await Promise.all(nodes.map((node) => killNode(node)));
      }
    });
  },
});
