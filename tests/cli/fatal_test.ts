/**
 * The fatal handler: a real process whose bug escapes every catch prints one `rhizome:` line
 * (the stack only in the debug log), runs its clean-ups and exits 70 (a RhizomeError keeps its
 * own status).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "../_rhizome.ts";

const fixture = new URL("./_fatal_fixture.ts", import.meta.url).pathname;

async function runFixture(how: string, marker: string, level = "info") {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-write", "--allow-read", "--allow-env", fixture, how, marker, level],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

for (const how of ["throw", "reject"]) {
  Deno.test(`an uncaught ${how} prints one rhizome: line, cleans up and exits 70`, async () => {
    await withTempDir(async (dir) => {
      const marker = join(dir, "marker");
      const { code, stderr } = await runFixture(how, marker);
      assert.equal(code, 70, stderr);
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0], /^rhizome: Internal error \(a bug in rhizome, please report it\): /);
      assert.doesNotMatch(stderr, /\bat /, "no stack at info level");
      assert.equal(await Deno.readTextFile(marker), "cleaned up\n");
    });
  });
}

Deno.test("at debug level the stack goes to the log, the rhizome: line stays one line", async () => {
  await withTempDir(async (dir) => {
    const { code, stderr } = await runFixture("throw", join(dir, "marker"), "debug");
    assert.equal(code, 70);
    assert.match(stderr, /DEBUG rhizome\.cli: fatal error: .*TypeError: boom/);
    assert.equal(stderr.split("\n").filter((line) => line.startsWith("rhizome: ")).length, 1);
  });
});

Deno.test("an unhandled RhizomeError keeps its message and exit status", async () => {
  await withTempDir(async (dir) => {
    const { code, stderr } = await runFixture("rhizome", join(dir, "marker"));
    // STORE_FULL's own exit status (README "Exit status").
    assert.equal(code, 7);
    assert.equal(stderr, "rhizome: Cannot store: full\n");
  });
});
