/**
 * `rhizome run` failing to start: a UDP port in use and a data dir already in use each give one
 * clear line on stderr and a non-zero exit, and leave nothing running.
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { ExitStatus } from "../../src/core/errors.ts";
import { killNode, nodeDir, startNode } from "../_node_process.ts";
import { linesOf, runProcess, withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";

Deno.test("a UDP port in use is one line and exit 1", async () => {
  await withTempDir(async (root) => {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    const port = socket.address().port;
    try {
      const run = await runProcess([
        "run",
        "--data-dir",
        root,
        "--listen",
        `127.0.0.1:${port}`,
        "--api",
        "127.0.0.1:0",
      ]);
      assert.equal(run.status, ExitStatus.failure, run.stderr);
      const errors = linesOf(run.stderr).filter((line) => line.startsWith("rhizome: "));
      assert.deepEqual(errors, [`rhizome: Cannot listen on 127.0.0.1:${port}: the port is in use`]);
    } finally {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  });
});

Deno.test("a data dir in use by another node is one line and exit 5", async () => {
  await withTempDir(async (root) => {
    const first = await startNode(nodeDir(root, 0));
    try {
      const run = await runProcess([
        "run",
        "--data-dir",
        nodeDir(root, 0),
        "--listen",
        "127.0.0.1:0",
        "--api",
        "127.0.0.1:0",
      ]);
      assert.equal(run.status, ExitStatus.dataDir, run.stderr);
      assert.match(run.stderr, /rhizome: Cannot use data directory .*another rhizome \(pid \d+\)/);
      const status = await (await first.client()).call(controlRoutes.status);
      assert.equal(status.node_id, first.nodeId, "the first node still runs");
    } finally {
      await killNode(first);
    }
  });
});
