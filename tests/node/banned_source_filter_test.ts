/**
 * A real node bans a flooding source and hands it to the kernel (issue 14): once banned, the
 * source's datagrams are dropped before the node reads them (`udp.kernel_filter_sources`, the
 * kernel's drop count grows, the node's read count does not), and another node still joins
 * through it.
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { at } from "../_address.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";

/** Junk datagrams sent at most to get the source banned (1,000 penalty points, one each). */
const junkMax = 5_000;
/** Sent at once before a pause, so the socket's buffer never overflows on its own. */
const junkBatch = 100;
/** Sent after the ban, all to be dropped by the kernel. */
const afterBan = 300;

Deno.test({
  name: "a banned source is dropped by the kernel, unread; other nodes still join",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      const junk = createSocket("udp4");
      await new Promise<void>((resolve) => junk.bind(0, "127.0.0.1", resolve));
      try {
        nodes.push(await startNode(nodeDir(root, 0)));
        const api = await nodes[0].client();
        const status = () => api.call(controlRoutes.status);
        const { host, port } = at((await status()).listen as string);
        const send = (bytes: Uint8Array) =>
          new Promise<void>((resolve) => junk.send(bytes, port, host, () => resolve()));
        const udp = async () => (await status()).udp as Record<string, number | string | null>;
        let sent = 0;
        while ((await udp()).kernel_filter_sources === 0) {
          assert.ok(sent < junkMax, `not banned after ${sent} junk datagrams`);
          for (let i = 0; i < junkBatch; i++) {
            await send(crypto.getRandomValues(new Uint8Array(64)));
          }
          sent += junkBatch;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const before = await udp();
        assert.equal(before.kernel_filter_problem, null);
        const guard = (await status()).guard as { penalties: { banned: number } };
        assert.ok(guard.penalties.banned >= 1);
        for (let i = 0; i < afterBan; i++) await send(crypto.getRandomValues(new Uint8Array(64)));
        await waitFor(
          "the kernel to drop the banned source's datagrams",
          async () =>
            ((await udp()).kernel_receive_drops as number) >=
              (before.kernel_receive_drops as number) + afterBan,
          20_000,
        );
        // The node read none of them (its own probes and API-driven traffic aside: fewer).
        const read = ((await udp()).datagrams_received as number) -
          (before.datagrams_received as number);
        assert.ok(read < afterBan / 2, `the node read ${read} datagrams after the ban`);

        // Another node joins through it all the same.
        nodes.push(await startNode(nodeDir(root, 1), ["--bootstrap", nodes[0].contact]));
        const joiner = await nodes[1].client();
        await waitFor(
          "the new node to know the flooded one",
          async () => (await joiner.call(controlRoutes.status)).contacts >= 1,
          20_000,
        );
      } finally {
        await new Promise<void>((resolve) => junk.close(() => resolve()));
        await Promise.all(nodes.map((node) => killNode(node)));
      }
    });
  },
});
