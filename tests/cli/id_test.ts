/**
 * `rhizome id` takes the contact URI from the node running on the data dir (its bound port),
 * and from the configuration only when no node answers, saying which in its output.
 */

import assert from "node:assert/strict";
import type { StatusReport } from "../../src/api/control_api.ts";
import { runInProcess, withTempDir } from "../_rhizome.ts";
import { FakeHandlers, withControlApi } from "../api/_fake_handlers.ts";

/** A node whose status names `nodeId` and `contact`, as a running node reports them. */
class RunningNode extends FakeHandlers {
  nodeId = "";
  contact = "";

  override async status(): Promise<StatusReport> {
    return { ...(await super.status()), node_id: this.nodeId, contact: this.contact };
  }
}

Deno.test("id prints the running node's contact URI, with the port it is bound to", async () => {
  const node = new RunningNode();
  await withControlApi(node, async ({ dataDir }) => {
    const init = JSON.parse((await runInProcess(["init", "--data-dir", dataDir, "--json"])).stdout);
    node.nodeId = init.node_id;
    node.contact = `rhz://${init.public_key}@127.0.0.1:40123`;
    const run = await runInProcess(["id", "--data-dir", dataDir, "--json"]);
    assert.equal(run.status, 0, run.stderr);
    const id = JSON.parse(run.stdout);
    assert.equal(id.contact, node.contact);
    assert.equal(id.contact_source, "running node");
    assert.equal(run.stderr, "");
    const text = await runInProcess(["id", "--data-dir", dataDir]);
    assert.match(text.stdout, /^address from {4}the running node$/m);
  });
});

Deno.test("id ignores a running node with another identity and falls back to the config", async () => {
  const node = new RunningNode();
  await withControlApi(node, async ({ dataDir }) => {
    const init = JSON.parse((await runInProcess(["init", "--data-dir", dataDir, "--json"])).stdout);
    node.nodeId = "cd".repeat(20);
    node.contact = `rhz://${init.public_key}@127.0.0.1:40123`;
    const id = JSON.parse((await runInProcess(["id", "--data-dir", dataDir, "--json"])).stdout);
    assert.equal(id.contact, `rhz://${init.public_key}@127.0.0.1:7447`);
    assert.equal(id.contact_source, "config");
  });
});

Deno.test("id with no node running says the address comes from the configuration", async () => {
  await withTempDir(async (dataDir) => {
    await runInProcess(["init", "--data-dir", dataDir]);
    const run = await runInProcess(["id", "--data-dir", dataDir]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stdout,
      /^address from {4}the configuration \(no node answered on this data dir\)$/m,
    );
    const id = JSON.parse((await runInProcess(["id", "--data-dir", dataDir, "--json"])).stdout);
    assert.equal(id.contact_source, "config");
  });
});
