/**
 * `rhizome id` prints a share string, and with `--qr` a QR code of it whose modules are exactly
 * the encoder's (read back from the drawing, quiet zone included), in colour or not; a node
 * started with `--bootstrap <share string>` joins through it.
 */

import assert from "node:assert/strict";
import { controlRoutes } from "../../src/api/routes.ts";
import { parseShareString } from "../../src/core/share_string.ts";
import { encodeQr, qrQuietZoneModules, readRenderedQr, renderQr } from "../../src/cli/qr.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { runInProcess, withTempDir } from "../_rhizome.ts";

Deno.test("renderQr() draws every module of the code inside a 4-module quiet zone", () => {
  const text = "RHZ1AQHHPLG3AKUHMYCEWGXAO4FP3ZMUIFBMHN7QAAABDULYKEGENE";
  const matrix = encodeQr(text);
  assert.equal(matrix.size, 29, "version 3: alphanumeric mode keeps it small");
  for (const color of [true, false]) {
    const rows = readRenderedQr(renderQr(matrix, { color }), { color });
    const span: number = matrix.size + 2 * qrQuietZoneModules;
    assert.ok(rows.length >= span);
    for (let r = 0; r < span; r++) {
      assert.equal(rows[r].length, span);
      for (let c = 0; c < span; c++) {
        const inside: boolean = r >= 4 && r < 4 + matrix.size && c >= 4 && c < 4 + matrix.size;
        assert.equal(rows[r][c], inside && matrix.dark(r - 4, c - 4), `module ${r},${c}`);
      }
    }
  }
  assert.throws(() => encodeQr("x".repeat(513)), /limit is 512/);
});

Deno.test("id prints a share string of its contact, and --qr its QR code", async () => {
  await withTempDir(async (dataDir) => {
    await runInProcess(["init", "--data-dir", dataDir]);
    const id = JSON.parse((await runInProcess(["id", "--data-dir", dataDir, "--json"])).stdout);
    const share = parseShareString(id.share_string);
    assert.equal(share.nodeId.toHex(), id.node_id);
    assert.equal(`${share.host}:${share.port}`, "127.0.0.1:7447");
    assert.equal(id.qr, undefined, "no QR code unless asked");
    const run = await runInProcess(["id", "--qr", "--data-dir", dataDir], { NO_COLOR: "1" });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^share string {4}${id.share_string}$`, "m"));
    const drawing = run.stdout.split("\n").filter((line) => /^[█▀▄ ]+$/.test(line));
    const expected = renderQr(encodeQr(id.share_string), { color: false }).split("\n");
    assert.deepEqual(drawing, expected);
    const json = JSON.parse(
      (await runInProcess(["id", "--qr", "--json", "--data-dir", dataDir], { NO_COLOR: "1" }))
        .stdout,
    );
    assert.equal(json.qr, expected.join("\n"));
  });
});

Deno.test({
  name: "a node started with --bootstrap <share string> joins through it",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        nodes.push(await startNode(nodeDir(root, 0)));
        const id = JSON.parse(
          (await runInProcess(["id", "--data-dir", nodeDir(root, 0), "--json"])).stdout,
        );
        assert.equal(id.contact, nodes[0].contact, "the running node's bound port");
        nodes.push(await startNode(nodeDir(root, 1), ["--bootstrap", id.share_string]));
        await waitFor("the second node to join through the share string", async () => {
          const status = await (await nodes[1].client()).call(controlRoutes.status);
          return status.contacts === 1;
        });
        assert.match(
          nodes[1].stderr(),
          /joined the network through 1 contacts from "the bootstrap contacts"/,
        );
      } finally {
        for (const node of nodes) await killNode(node);
      }
    });
  },
});
