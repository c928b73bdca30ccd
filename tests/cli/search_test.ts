/**
 * `rhizome search` in this process against a real control API with fake handlers: what it sends
 * (query, limit, cursor, local, explain), what it prints for people and with `--json`,
 * `--reindex`, and that a bad limit, a misplaced flag or a missing query is refused with one
 * line, exit 2, and sends nothing.
 */

import assert from "node:assert/strict";
import { ControlApi } from "../../src/api/control_api.ts";
import { runCli } from "../../src/cli/main.ts";
import { type CliRun, linesOf, withTempDir } from "../_rhizome.ts";
import { FakeHandlers } from "../api/_fake_handlers.ts";

async function run(dataDir: string, args: string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const status = await runCli([...args, "--data-dir", dataDir], {
    env: {},
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
  });
  return { status, stdout, stderr };
}

async function withNode(
  test: (node: FakeHandlers, rhizome: (args: string[]) => Promise<CliRun>) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dataDir) => {
    const node = new FakeHandlers();
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: node,
    });
    try {
      await test(node, (args) => run(dataDir, args));
    } finally {
      await api.close();
    }
  });
}

Deno.test("rhizome search sends the query and its flags, and prints the page", async () => {
  await withNode(async (node, rhizome) => {
    const text = await rhizome(["search", "ferns tag:garden"]);
    assert.equal(text.status, 0, text.stderr);
    assert.equal(text.stdout, "(no results)\n");
    const json = await rhizome([
      "search",
      "fer*",
      "--limit",
      "25",
      "--cursor",
      "AQAAAAE",
      "--local",
      "--explain",
      "--json",
    ]);
    assert.equal(json.status, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).source, "local");
    assert.deepEqual(node.received, [
      ["search", { query: "ferns tag:garden", limit: 10, local: false, explain: false }],
      ["search", { query: "fer*", limit: 25, cursor: "AQAAAAE", local: true, explain: true }],
    ]);
    const reindex = await rhizome(["search", "--reindex", "--json"]);
    assert.equal(reindex.status, 0, reindex.stderr);
    assert.deepEqual(JSON.parse(reindex.stdout), { documents: 0, profiles: 0, elapsed_ms: 0 });
  });
});

Deno.test("rhizome search refuses bad usage with one line and sends nothing", async () => {
  await withNode(async (node, rhizome) => {
    for (
      const [args, pattern] of [
        [["search"], /needs a QUERY/],
        [["search", "x", "--limit", "0"], /limit/],
        [["search", "x", "--limit", "101"], /limit/],
        [["search", "x", "--cursor", "not a cursor!"], /cursor/],
        [["search", "x", "--reindex"], /takes no query/],
        [["search", "--reindex", "--local"], /not for --reindex/],
      ] as [string[], RegExp][]
    ) {
      const refused = await rhizome(args);
      assert.equal(refused.status, 2, `${args.join(" ")}: ${refused.stderr}`);
      assert.equal(refused.stdout, "");
      assert.equal(linesOf(refused.stderr).length, 1, refused.stderr);
      assert.match(refused.stderr, pattern);
    }
    assert.deepEqual(node.received, []);
  });
});
