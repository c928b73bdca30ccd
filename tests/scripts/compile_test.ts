/**
 * `deno task compile`: it grants exactly the `rhizome` task's permissions, validates its
 * arguments, honours DENORT_BIN, and turns every `deno compile` failure into one line and a
 * non-zero exit. (A successful build needs a denort base binary, which this test cannot assume.)
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import denoConfig from "../../deno.json" with { type: "json" };
import {
  CHECKSUMS_FILE,
  explainFailure,
  hostTarget,
  permissionFlags,
  TARGETS,
  writeChecksums,
} from "../../scripts/compile.ts";

const scriptPath = new URL("../../scripts/compile.ts", import.meta.url).pathname;
const root = new URL("../..", import.meta.url).pathname;

async function compile(args: string[], env: Record<string, string> = {}) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      scriptPath,
      ...args,
    ],
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { status: result.code, stderr: new TextDecoder().decode(result.stderr) };
}

Deno.test("permissionFlags() takes the permission words of the rhizome task, no -A", () => {
  const flags = permissionFlags(denoConfig.tasks.rhizome);
  assert.deepEqual(flags, [
    "--no-prompt",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    "--allow-net",
    "--allow-sys",
  ]);
  assert.ok(!denoConfig.tasks.rhizome.includes(" -A"));
  assert.ok(!denoConfig.tasks.rhizome.includes("--allow-all"));
});

Deno.test("every target name maps to a deno compile target triple", () => {
  assert.deepEqual(Object.keys(TARGETS), [
    "linux-x64",
    "linux-arm64",
    "macos-x64",
    "macos-arm64",
    "windows-x64",
  ]);
  assert.ok(hostTarget() === undefined || hostTarget()! in TARGETS);
});

Deno.test("explainFailure() names DENORT_BIN or the failed download in one line", () => {
  const missing = explainFailure(
    "linux-x64",
    "error: Writing deno compile executable\n\nCaused by:\n    0: Could not find denort at '/x/denort'\n",
  );
  assert.equal(
    missing,
    "Cannot compile for linux-x64: DENORT_BIN names /x/denort, which does not exist",
  );
  const offline = explainFailure(
    "macos-arm64",
    "Download https://dl.deno.land/release/v2.9.6/denort-aarch64-apple-darwin.zip\nerror: Writing\n  0: Setting up base binary.\n",
  );
  assert.match(
    offline,
    /^Cannot compile for macos-arm64: the denort base binary could not be downloaded; set DENORT_BIN/,
  );
  assert.equal(
    explainFailure("linux-x64", "Check main.ts\nerror: Type checking failed.\n"),
    "Cannot compile for linux-x64: Type checking failed.",
  );
  for (const line of [missing, offline]) assert.ok(!line.includes("\n"));
});

Deno.test("compile with DENORT_BIN naming no file fails with one line and status 1", async () => {
  const run = await compile(["--out-dir", await Deno.makeTempDir()], {
    DENORT_BIN: "/nonexistent/denort",
  });
  assert.equal(run.status, 1);
  assert.equal(
    run.stderr,
    `Cannot compile for ${hostTarget()}: DENORT_BIN names /nonexistent/denort, which does not exist\n`,
  );
});

Deno.test("compile refuses unknown targets, several targets with DENORT_BIN, and bad flags", async () => {
  const unknown = await compile(["--target", "beos-x64"]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^compile: unknown target "beos-x64"; expected linux-x64, /);
  const several = await compile(["--target", "linux-x64,macos-x64"], { DENORT_BIN: "/x" });
  assert.equal(several.status, 2);
  assert.match(several.stderr, /pass exactly one --target/);
  const flag = await compile(["--frob"]);
  assert.equal(flag.status, 2);
  assert.equal(flag.stderr.split("\n").filter(Boolean).length, 1);
});

Deno.test("writeChecksums() writes SHA256SUMS for our executables, which sha256sum -c accepts", async () => {
  const outDir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(outDir, "rhizome-linux-x64"), "linux binary");
    await Deno.writeTextFile(join(outDir, "rhizome-windows-x64.exe"), "windows binary");
    await Deno.writeTextFile(join(outDir, "notes.txt"), "not ours");
    const sums = await writeChecksums(outDir);
    assert.deepEqual(sums.map((sum) => sum.file), ["rhizome-linux-x64", "rhizome-windows-x64.exe"]);
    assert.equal(
      sums[0].sha256,
      createHash("sha256").update("linux binary").digest("hex"),
    );
    const text = await Deno.readTextFile(join(outDir, CHECKSUMS_FILE));
    assert.equal(text, sums.map((sum) => `${sum.sha256}  ${sum.file}\n`).join(""));
    const check = await new Deno.Command("sha256sum", {
      args: ["-c", CHECKSUMS_FILE],
      cwd: outDir,
      stdout: "piped",
    }).output();
    assert.ok(check.success);
    assert.equal(
      new TextDecoder().decode(check.stdout),
      "rhizome-linux-x64: OK\nrhizome-windows-x64.exe: OK\n",
    );
    await Deno.writeTextFile(join(outDir, "rhizome-linux-x64"), "tampered");
    const tampered = await new Deno.Command("sha256sum", {
      args: ["-c", "--quiet", CHECKSUMS_FILE],
      cwd: outDir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(!tampered.success, "a changed binary fails the check");
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});
