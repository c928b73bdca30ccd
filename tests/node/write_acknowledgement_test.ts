/**
 * "Acknowledged means durable", end to end with real `rhizome` processes: a node filled past its
 * quota, a node whose only peer is full, and a node on a small tmpfs filled past full (when the
 * tests run as root), through the control API and the CLI. Every put that succeeded is readable
 * afterwards, also after a restart; every one that did not says so with its own code, HTTP status
 * and exit status (STORE_FULL 507/7, NOT_REPLICATED 503/8). The node never crashes, and restarts
 * on a disk full to the last byte.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ControlApiError } from "../../src/api/control_client.ts";
import { bytesEqual, utf8Encode } from "../../src/core/bytes.ts";
import { ExitStatus } from "../../src/core/errors.ts";
import { recordKey, RecordKind } from "../../src/content/records.ts";
import { killNode, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { runInProcess, runProcess, withTempDir } from "../_rhizome.ts";
import { tmpfsUnavailable, withTmpfs } from "../_tmpfs.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { NodeId } from "../../src/core/node_id.ts";

const tmpfsSkipped = await tmpfsUnavailable();
if (tmpfsSkipped) console.log(`skipping the full-disk node test: ${tmpfsSkipped}`);

/** What one put ended with. */
type Outcome =
  | { ok: true; key: string; value: Uint8Array; holders: number; quorum: number }
  | { ok: false; code: string; status: number; key: string; value: Uint8Array };

/** A distinct value of `bytes` bytes of text. */
function valueText(index: number, bytes: number): string {
  const head = `value ${index} `;
  return head + "v".repeat(bytes - head.length);
}

/** A value with the key `put` gives it. */
function keyed(value: Uint8Array): { key: string; value: Uint8Array } {
  return { key: recordKey({ kind: RecordKind.immutable, payload: value }).toHex(), value };
}

/** A put through the control API. */
async function apiPut(node: NodeProcess, text: string): Promise<Outcome> {
  const value = utf8Encode(text);
  try {
    const report = await (await node.client()).call(controlRoutes.put, { value: value });
    return { ok: true, key: report.key, value, holders: report.holders, quorum: report.quorum };
  } catch (error) {
    if (!(error instanceof ControlApiError)) throw error;
    assert.ok(!error.message.includes("\n"), "one line");
    return { ok: false, code: error.code, status: error.httpStatus, ...keyed(value) };
  }
}

/** A put through the CLI: in this process (fast), or as a real process. */
async function cliPut(node: NodeProcess, text: string, process = false): Promise<Outcome> {
  const args = ["put", text, "--json", "--data-dir", node.dataDir];
  const run = process ? await runProcess(args) : await runInProcess(args);
  const answer = JSON.parse(run.stdout);
  if (run.status === ExitStatus.ok) {
    const { key, holders, quorum } = answer;
    return { ok: true, key, value: utf8Encode(text), holders, quorum };
  }
  assert.equal(run.stderr.trim().split("\n").length, 1, `one line: ${run.stderr}`);
  assert.equal(answer.error.exit_status, run.status);
  return { ok: false, code: answer.error.code, status: run.status, ...keyed(utf8Encode(text)) };
}

/** Puts values until `refusalsWanted` were refused (at most `putsMax`), alternating API and CLI. */
async function fill(
  node: NodeProcess,
  valueBytes: number,
  putsMax: number,
  refusalsWanted: number,
): Promise<{ acknowledged: Outcome[]; refused: Outcome[] }> {
  const acknowledged: Outcome[] = [];
  const refused: Outcome[] = [];
  for (let index = 0; index < putsMax && refused.length < refusalsWanted; index++) {
    const text = valueText(index, valueBytes);
    const outcome = index % 2 === 0 ? await apiPut(node, text) : await cliPut(node, text);
    (outcome.ok ? acknowledged : refused).push(outcome);
  }
  console.log(`${acknowledged.length} puts acknowledged, ${refused.length} refused`);
  return { acknowledged, refused };
}

/** Checks that every value put is readable through the node. */
async function assertReadable(node: NodeProcess, outcomes: Outcome[]): Promise<void> {
  const client = await node.client();
  for (const outcome of outcomes) {
    const found = await client.call(controlRoutes.get, NodeId.fromHex(outcome.key));
    assert.ok(found && bytesEqual(found, outcome.value), `${outcome.key} is readable`);
  }
}

/** Every refusal is STORE_FULL: 507 from the API, exit 7 from the CLI. */
function assertStoreFull(refused: Outcome[]): void {
  for (const outcome of refused) {
    assert.ok(!outcome.ok);
    assert.equal(outcome.code, "STORE_FULL");
    assert.ok(
      outcome.status === 507 || outcome.status === ExitStatus.storeFull,
      `${outcome.status}`,
    );
  }
}

async function stopNode(node: NodeProcess): Promise<void> {
  await (await node.client()).call(controlRoutes.stop);
  assert.equal(await node.exited, 0, node.stderr());
}

async function writeConfig(dataDir: string, toml: string): Promise<void> {
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.writeTextFile(join(dataDir, "config.toml"), toml);
}

Deno.test("a node past its quota: every put it acknowledged is readable, every other is STORE_FULL", async () => {
  await withTempDir(async (root) => {
    const dataDir = join(root, "node");
    await writeConfig(
      dataDir,
      '[node]\ntype = "full"\n[profiles.full]\ndisk_bytes_max = "1 MiB"\n',
    );
    let node = await startNode(dataDir);
    try {
      const { acknowledged, refused } = await fill(node, 40_000, 60, 12);
      assert.ok(acknowledged.length >= 10, `${acknowledged.length} acknowledged`);
      assert.equal(refused.length, 12);
      assertStoreFull(refused);
      // A lone node: its own durable copy is the one holder there can be.
      for (const outcome of acknowledged) {
        assert.ok(outcome.ok && outcome.holders === 1 && outcome.quorum === 1);
      }
      const byProcess = await cliPut(node, valueText(1000, 40_000), true);
      assert.equal(!byProcess.ok && byProcess.status, ExitStatus.storeFull);
      assertStoreFull([byProcess]);
      await assertReadable(node, acknowledged);
      await stopNode(node);

      node = await startNode(dataDir);
      await assertReadable(node, acknowledged);
      assertStoreFull([await apiPut(node, valueText(1001, 40_000))]);
    } finally {
      await killNode(node);
    }
  });
});

Deno.test("a put whose only other holder is full is NOT_REPLICATED (503, exit 8) and kept here", async () => {
  await withTempDir(async (root) => {
    const publisher = await startNode(join(root, "publisher"));
    const fullDir = join(root, "full");
    await writeConfig(
      fullDir,
      '[node]\ntype = "full"\n[profiles.full]\ndisk_bytes_max = "1 MiB"\n',
    );
    const full = await startNode(fullDir, ["--bootstrap", publisher.contact]);
    try {
      const client = await publisher.client();
      await waitFor(
        "the publisher to know its peer",
        async () => (await client.call(controlRoutes.peers)).length > 0,
      );
      const { acknowledged, refused } = await fill(publisher, 40_000, 60, 6);
      // Replicated while the peer had room (its copies are outside their retention only after
      // an hour, so it refuses rather than evicts once full).
      assert.ok(acknowledged.length >= 10, `${acknowledged.length} acknowledged`);
      for (const outcome of acknowledged) {
        assert.ok(outcome.ok && outcome.holders === 2 && outcome.quorum === 2);
      }
      for (const outcome of refused) {
        assert.ok(!outcome.ok);
        assert.equal(outcome.code, "NOT_REPLICATED");
        assert.ok(outcome.status === 503 || outcome.status === ExitStatus.notReplicated);
      }
      const byProcess = await cliPut(publisher, valueText(1000, 40_000), true);
      assert.equal(byProcess.ok, false);
      assert.equal(!byProcess.ok && byProcess.code, "NOT_REPLICATED");
      assert.equal(!byProcess.ok && byProcess.status, ExitStatus.notReplicated);
      // Not replicated, but durable here: the publisher serves every one of them.
      await assertReadable(publisher, [...acknowledged, ...refused, byProcess]);
      // The full holder keeps running and serving what it holds.
      await assertReadable(full, acknowledged.slice(0, 3));
    } finally {
      await killNode(full);
      await killNode(publisher);
    }
  });
});

Deno.test({
  name: "a node on a small disk filled past full refuses with STORE_FULL, never crashes, restarts",
  ignore: tmpfsSkipped !== undefined,
  async fn() {
    await withTmpfs(20 * 1024 * 1024, async (directory) => {
      const dataDir = join(directory, "node");
      // The default quota (20 GiB) is far beyond the disk: the disk is what fills.
      await writeConfig(dataDir, '[node]\ntype = "full"\n');
      let node = await startNode(dataDir);
      try {
        const { acknowledged, refused } = await fill(node, 60_000, 400, 6);
        // 20 MiB less the 4 MiB free-space floor and the 1 MiB reserve file holds about 250 of
        // these values in LMDB's pages (253 seen here); far fewer would mean refusals come too
        // early.
        assert.ok(acknowledged.length >= 200, `${acknowledged.length} acknowledged`);
        assert.equal(refused.length, 6);
        assertStoreFull(refused);
        await assertReadable(node, acknowledged);

        // Another program takes the rest of the disk: the commit itself fails, still a refusal.
        const ballast = join(directory, "ballast");
        await new Deno.Command("dd", {
          args: ["if=/dev/zero", `of=${ballast}`, "bs=64k"],
          stdout: "null",
          stderr: "null",
        }).output();
        assertStoreFull([await apiPut(node, valueText(2000, 60_000))]);
        assertStoreFull([await cliPut(node, valueText(2001, 60_000), true)]);
        await assertReadable(node, acknowledged.slice(-5));

        // A restart on the disk full to the last byte: the node releases its reserve file to
        // write its lock and API files, serves every record, and refuses writes.
        await stopNode(node);
        node = await startNode(dataDir);
        await assertReadable(node, acknowledged);
        assertStoreFull([await apiPut(node, valueText(2002, 60_000))]);
        assert.match(node.stderr(), /released the reserve/);
        await Deno.remove(ballast);
      } finally {
        await killNode(node);
      }
    });
  },
});
