/**
 * The release workflow (.github/workflows/release.yml). GitHub runs it, so here it is checked as
 * text: it runs on version tags, pins this Deno, builds all five targets with `deno task compile`,
 * checks SHA256SUMS and publishes the executables with it. Its smoke-test step is then run for
 * real, with a launcher of this checkout standing in for the compiled Linux executable.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import denoConfig from "../../deno.json" with { type: "json" };
import { permissionFlags } from "../../scripts/compile.ts";
import { posixLauncher } from "../../scripts/install.ts";
import { withTempDir } from "../_rhizome.ts";

const root = new URL("../..", import.meta.url).pathname;
const workflow = await Deno.readTextFile(join(root, ".github/workflows/release.yml"));
const ciRun = await Deno.readTextFile(join(root, ".ci/run"));

/** The steps: name (or uses) → the text of the step, `run: |` blocks unindented. */
function steps(text: string): Map<string, { run: string; block: string }> {
  const found = new Map<string, { run: string; block: string }>();
  const blocks = text.split(/\n {6}- /).slice(1);
  for (const block of blocks) {
    const title = /^(?:name|uses): (.*)$/m.exec(block)?.[1] ?? "";
    const lines = block.split("\n");
    const start = lines.findIndex((line) => /^\s*run: /.test(line));
    let run = "";
    if (start >= 0) {
      const inline = lines[start].replace(/^\s*run: /, "");
      if (inline !== "|") run = inline;
      else {
        const body = lines.slice(start + 1);
        const end = body.findIndex((line) => line.trim() !== "" && !line.startsWith("          "));
        run = body.slice(0, end < 0 ? undefined : end).map((line) => line.slice(10)).join("\n");
      }
    }
    found.set(title, { run, block });
  }
  return found;
}

const workflowSteps = steps(workflow);

Deno.test("the release workflow builds all five targets with this Deno and publishes checksums", () => {
  assert.ok(!workflow.includes("\t"), "no tabs in YAML");
  for (const line of workflow.split("\n")) {
    const indent = line.length - line.trimStart().length;
    assert.equal(indent % 2, 0, `indentation of: ${line}`);
  }
  assert.match(workflow, /^on:\n {2}push:\n {4}tags: \["v\*"\]$/m);
  assert.match(workflow, /^permissions:\n {2}contents: write$/m);
  const deno = /deno-version: (\S+)/.exec(workflow)?.[1];
  assert.equal(deno, Deno.version.deno, "the Deno the tests run on");
  assert.equal(/^DENO_VERSION=(\S+)$/m.exec(ciRun)?.[1], deno, "the Deno CI installs");
  const build = workflowSteps.get("Build the five targets and SHA256SUMS");
  assert.equal(build?.run, "deno task compile --out-dir dist", "no --target: every target");
  const check = workflowSteps.get("Check the checksums");
  assert.equal(check?.run, "sha256sum -c SHA256SUMS");
  assert.match(check!.block, /working-directory: dist/);
  const publish = workflowSteps.get("Publish the release");
  assert.match(
    publish!.run,
    /gh release create "\$GITHUB_REF_NAME" dist\/rhizome-\* dist\/SHA256SUMS/,
  );
  assert.match(publish!.block, /if: startsWith\(github\.ref, 'refs\/tags\/v'\)/);
  assert.match(
    workflowSteps.get("Check that the tag names deno.json's version")!.run,
    /deno\.json/,
  );
  assert.ok(workflowSteps.has("actions/upload-artifact@v4"));
});

Deno.test("the workflow's smoke test starts, asks and stops a node (run here on the sources)", async () => {
  const smoke = workflowSteps.get("Start, ask and stop a node with the Linux x64 executable");
  assert.ok(smoke, "the smoke-test step");
  await withTempDir(async (directory) => {
    const launcher = join(directory, "rhizome");
    await Deno.writeTextFile(
      launcher,
      posixLauncher({
        denoPath: Deno.execPath(),
        repository: root,
        permissions: permissionFlags(denoConfig.tasks.rhizome),
        denoVersion: Deno.version.deno,
      }),
      { mode: 0o755 },
    );
    await Deno.chmod(launcher, 0o755);
    const script = smoke.run.replace("bin=./dist/rhizome-linux-x64", `bin='${launcher}'`);
    assert.notEqual(script, smoke.run);
    const result = await new Deno.Command("bash", {
      args: ["-eo", "pipefail", "-c", script],
      cwd: directory,
      env: { NO_COLOR: "1", HOME: directory, TMPDIR: directory },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    assert.equal(JSON.parse(stdout.split("\n")[0]).version, denoConfig.version);
    assert.match(stdout, /stopped/);
  });
});
