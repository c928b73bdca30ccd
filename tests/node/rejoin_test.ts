/**
 * A node never loses its last contact for good (issue 14): a client whose only contact stops
 * answering drops it (its table empties), and once that contact is back on the same address it
 * rejoins on its own, through its bootstrap contact, within seconds.
 *
 * Method: two real `rhizome run` processes on loopback; the client is told by its config to
 * drop a contact after one failed request without retries, so the table empties quickly; the
 * target is killed, the client driven to notice, then the target restarted on its old port.
 * Every wait is bounded.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { NodeId } from "../../src/core/node_id.ts";

Deno.test("a client whose only contact went away rejoins when it is back", async () => {
  await withTempDir(async (root) => {
    const nodes: NodeProcess[] = [];
    try {
      const targetDir = nodeDir(root, 0);
      const target = await startNode(targetDir, ["--full"]);
      nodes.push(target);
      const clientDir = nodeDir(root, 1);
      await Deno.mkdir(clientDir, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(
        join(clientDir, "config.toml"),
        "[dht]\npeer_failures_max = 1\nrpc_retries_max = 0\nrpc_timeout_ms = 200\n",
      );
      const client = await startNode(clientDir, ["--mobile", "--bootstrap", target.contact]);
      nodes.push(client);
      const api = await client.client();
      await waitFor(
        "the client to know the target",
        async () => (await api.call(controlRoutes.status)).contacts >= 1,
      );
      const targetApi = await target.client();
      const listen = (await targetApi.call(controlRoutes.status)).listen as string;
      const { key } = await targetApi.call(controlRoutes.put, {
        value: new TextEncoder().encode("held by the target"),
      });

      await killNode(target);
      // The dead target stays in the client's table as a suspect (no standby can replace it), so
      // what shows the client is cut off is that nobody answers it: it starts rejoining.
      await waitFor("the client to start rejoining", async () => {
        await api.call(controlRoutes.get, NodeId.fromHex("00".repeat(20))).catch(() => undefined);
        return ((await api.call(controlRoutes.status)).rejoins as number) >= 1;
      }, 60_000);

      nodes[0] = await startNode(targetDir, ["--full", "--listen", listen]);
      // Its old session with the target is dead, and is given up only after it went unanswered
      // for sessionUnansweredMs (15 s); then the next rejoin attempt (at most 8 s apart) works.
      let value: Uint8Array | undefined;
      await waitFor("the client to read through the target again", async () => {
        value = await api.call(controlRoutes.get, NodeId.fromHex(key)).catch(() => undefined);
        return value !== undefined;
      }, 45_000);
      assert.ok(((await api.call(controlRoutes.status)).contacts as number) >= 1);
      assert.equal(new TextDecoder().decode(value!), "held by the target");
    } catch (error) {
      for (const [index, node] of nodes.entries()) {
        console.error(
          `--- node ${index} stderr ---\n${
            node.stderr().split("\n").filter((l) => !l.includes("DEBUG")).join("\n").slice(-3000)
          }`,
        );
      }
      throw error;
    } finally {
      await Promise.all(nodes.map((node) => killNode(node)));
    }
  });
});
