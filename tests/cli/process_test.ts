/**
 * The `rhizome` program as operators run it: real child processes granted only the permissions of
 * the `rhizome` task in deno.json, checked against the foundation's acceptance criteria (stable ID,
 * init refusing to overwrite, corrupt keys refused, bad config named) and the exit statuses.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ExitStatus } from "../../src/core/errors.ts";
import { linesOf, runProcess, withTempDir } from "../_rhizome.ts";

Deno.test("rhizome init then id --json prints the same ID every time", async () => {
  await withTempDir(async (directory) => {
    const dataDir = join(directory, "a");
    const init = await runProcess(["init", "--data-dir", dataDir, "--json"]);
    assert.equal(init.status, 0, init.stderr);
    const nodeId = JSON.parse(init.stdout).node_id;
    for (let i = 0; i < 3; i++) {
      const id = await runProcess(["id", "--data-dir", dataDir, "--json"]);
      assert.equal(id.status, 0, id.stderr);
      assert.equal(JSON.parse(id.stdout).node_id, nodeId);
    }
  });
});

Deno.test("a second rhizome init without --force refuses and changes nothing", async () => {
  await withTempDir(async (dataDir) => {
    assert.equal((await runProcess(["init", "--data-dir", dataDir])).status, 0);
    const before = await snapshotDirectory(dataDir);
    const again = await runProcess(["init", "--data-dir", dataDir]);
    assert.equal(again.status, ExitStatus.exists);
    assert.equal(linesOf(again.stderr).length, 1);
    assert.deepEqual(await snapshotDirectory(dataDir), before);
  });
});

Deno.test("rhizome id on a corrupted key file exits non-zero with one line, file untouched", async () => {
  await withTempDir(async (dataDir) => {
    await runProcess(["init", "--data-dir", dataDir]);
    const keyPath = join(dataDir, "identity.key");
    const bytes = await Deno.readFile(keyPath);
    bytes[100] ^= 0x01;
    await Deno.writeFile(keyPath, bytes);
    const id = await runProcess(["id", "--data-dir", dataDir]);
    assert.equal(id.status, ExitStatus.identity);
    assert.equal(linesOf(id.stderr).length, 1, id.stderr);
    assert.match(id.stderr, /^rhizome: Cannot use identity key /);
    assert.deepEqual(await Deno.readFile(keyPath), bytes);
  });
});

Deno.test("rhizome config validate --config bad.toml names the bad field and exits 3", async () => {
  await withTempDir(async (directory) => {
    const bad = join(directory, "bad.toml");
    await Deno.writeTextFile(bad, '[dht]\nk = "x"\n');
    const run = await runProcess(["config", "validate", "--config", bad]);
    assert.equal(run.status, ExitStatus.config);
    assert.equal(run.stderr, `rhizome: dht.k: expected an integer 1..64, got "x" (from ${bad})\n`);
  });
});

Deno.test("RHIZOME_* variables reach the real program", async () => {
  await withTempDir(async (dataDir) => {
    const run = await runProcess(["config", "show", "--json"], {
      RHIZOME_DATA_DIR: dataDir,
      RHIZOME_DHT_K: "30",
      RHIZOME_LOG_FORMAT: "json",
    });
    assert.equal(run.status, 0, run.stderr);
    const shown = JSON.parse(run.stdout);
    assert.equal(shown.config.dht.k, 30);
    assert.equal(shown.config.log.format, "json");
  });
});

Deno.test("rhizome with an unknown flag exits 2 as a process too", async () => {
  const run = await runProcess(["version", "--verbose"]);
  assert.equal(run.status, ExitStatus.usage);
  assert.equal(
    run.stderr,
    "rhizome: unknown flag --verbose for 'rhizome version' (see 'rhizome help version')\n",
  );
});

/** Every file in `directory` with its bytes and modification time. */
async function snapshotDirectory(directory: string): Promise<Record<string, unknown>> {
  const files: Record<string, unknown> = {};
  for await (const entry of Deno.readDir(directory)) {
    const path = join(directory, entry.name);
    files[entry.name] = {
      bytes: Array.from(await Deno.readFile(path)),
      mtime: (await Deno.stat(path)).mtime?.getTime(),
    };
  }
  return files;
}
