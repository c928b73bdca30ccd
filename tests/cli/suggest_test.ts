/**
 * "Did you mean": the edit distance, the closest known word, and the suggestion in the one line
 * a mistyped command, flag or action gets (exit 2 all the same).
 */

import assert from "node:assert/strict";
import { closestWord, editDistance } from "../../src/cli/suggest.ts";
import { ExitStatus } from "../../src/core/errors.ts";
import { linesOf, runInProcess, withTempDir } from "../_rhizome.ts";

Deno.test("editDistance() counts insertions, deletions, substitutions and swaps", () => {
  assert.equal(editDistance("status", "status"), 0);
  assert.equal(editDistance("stauts", "status"), 1, "two neighbours swapped");
  assert.equal(editDistance("stats", "status"), 1);
  assert.equal(editDistance("", "put"), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
});

Deno.test("closestWord() suggests only a word close enough, or one the typo starts", () => {
  const commands = ["run", "status", "peers", "put", "get", "stop", "thread", "post", "vote"];
  assert.equal(closestWord("stauts", commands), "status");
  assert.equal(closestWord("pots", commands), "post");
  assert.equal(closestWord("thraed", commands), "thread");
  assert.equal(closestWord("stat", commands), "status", "a prefix");
  assert.equal(closestWord("xyzzy", commands), undefined);
  assert.equal(closestWord("", commands), undefined);
  assert.equal(closestWord("x".repeat(1000), commands), undefined);
});

Deno.test("a mistyped command, flag or action is one line with a suggestion, exit 2", async () => {
  await withTempDir(async (dataDir) => {
    const cases: [string[], string][] = [
      [
        ["stauts"],
        `rhizome: unknown command "stauts"; did you mean 'status'? ` +
        "(run 'rhizome help' for the list)",
      ],
      [
        ["status", "--jsno"],
        "rhizome: unknown flag --jsno for 'rhizome status'; did you mean " +
        "--json? (see 'rhizome help status')",
      ],
      [
        ["snapshot", "export", "--kep", "3"],
        "rhizome: unknown flag --kep for 'rhizome " +
        "snapshot'; did you mean --keep? (see 'rhizome help snapshot')",
      ],
      [
        ["thread", "lsit"],
        `rhizome: unknown action "lsit" for 'rhizome thread': expected one ` +
        "of new, list, show; did you mean 'list'?",
      ],
      [["xyzzy"], `rhizome: unknown command "xyzzy" (run 'rhizome help' for the list)`],
    ];
    for (const [args, line] of cases) {
      const run = await runInProcess([...args, "--data-dir", dataDir]);
      assert.equal(run.status, ExitStatus.usage, run.stderr);
      assert.deepEqual(linesOf(run.stderr), [line]);
    }
  });
});
