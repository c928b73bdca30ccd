/**
 * `rhizome completion bash|zsh`: the scripts are generated from the command table and complete
 * commands, subcommands, flags and flag values. The bash script is sourced in `bash` and its
 * function called with COMP_WORDS set, as bash does on Tab; the zsh script is sourced in `zsh -f`
 * with zsh's completion builtins replaced by functions that print what they were given.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/main.ts";
import { commandForms, completionModel, placeholderCompletion } from "../../src/cli/completion.ts";
import { runInProcess, withTempDir } from "../_rhizome.ts";

const bashScript = (await runInProcess(["completion", "bash"])).stdout;
const zshScript = (await runInProcess(["completion", "zsh"])).stdout;
const hasZsh = (() => {
  try {
    return new Deno.Command("zsh", { args: ["-fc", "true"] }).outputSync().success;
  } catch {
    return false;
  }
})();

/** The words bash offers for the command line `line` (the cursor at its end), sorted. */
async function bashComplete(line: string, cwd?: string): Promise<string[]> {
  const words = line.split(" ");
  const program = [
    bashScript,
    `COMP_WORDS=(${words.map((word) => `'${word}'`).join(" ")})`,
    `COMP_CWORD=${words.length - 1}`,
    "_rhizome",
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join("\n");
  const result = await new Deno.Command("bash", {
    args: ["--norc", "--noprofile", "-c", program],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  assert.ok(result.success, stderr);
  assert.equal(stderr, "");
  return new TextDecoder().decode(result.stdout).split("\n").filter((word) => word !== "").sort();
}

Deno.test("completion prints a bash and a zsh script; other shells are a usage error", async () => {
  assert.match(bashScript, /^# bash completion for rhizome/);
  assert.match(bashScript, /\ncomplete -F _rhizome rhizome\n$/);
  assert.match(zshScript, /^#compdef rhizome\n/);
  const json = await runInProcess(["completion", "bash", "--json"]);
  assert.equal(json.status, 0);
  assert.deepEqual(JSON.parse(json.stdout), { shell: "bash", script: bashScript });
  const fish = await runInProcess(["completion", "fish"]);
  assert.equal(fish.status, 2);
  assert.equal(fish.stderr, 'rhizome: no completion for "fish": choose bash or zsh\n');
  assert.equal(fish.stdout, "");
  const none = await runInProcess(["completion"]);
  assert.equal(none.status, 2);
});

Deno.test("completionModel() reads subcommands and positionals from the usage lines", () => {
  const forms = Object.fromEntries(
    completionModel(COMMANDS).commands.map((command) => [
      command.name,
      command.forms.map((form) =>
        [form.name, ...form.positionals.map((value) => value.kind)].join(" ")
      ),
    ]),
  );
  assert.deepEqual(forms.snapshot, ["export", "verify files", "import files", "list directories"]);
  assert.deepEqual(forms.thread, ["new none", "list", "show none"]);
  assert.deepEqual(forms.author, ["new none", "list", "use none"]);
  assert.deepEqual(forms.config, ["show", "validate", "path"]);
  assert.deepEqual(forms.profile, ["set", "show none"]);
  assert.deepEqual(forms.vote, [" none words"]);
  assert.deepEqual(forms.help, [" commands"]);
  assert.deepEqual(forms.run, [""]);
  assert.deepEqual(forms.completion, ["bash", "zsh"]);
  assert.deepEqual(placeholderCompletion("PATH|DIR|-"), { kind: "files" });
  assert.deepEqual(placeholderCompletion("[DIR]"), { kind: "directories" });
  assert.deepEqual(placeholderCompletion("up|down"), { kind: "words", words: ["up", "down"] });
  assert.deepEqual(placeholderCompletion("BODY|-"), { kind: "none" });
  // Every command of the table is completed, with every flag it declares.
  const model = completionModel(COMMANDS);
  assert.deepEqual(model.commands.map((command) => command.name), COMMANDS.map((c) => c.name));
  for (const command of COMMANDS) {
    assert.ok(commandForms(command).length > 0, command.name);
    for (const flag of Object.keys(command.flags)) {
      assert.ok(bashScript.includes(`--${flag}`), `bash completes --${flag} of ${command.name}`);
      assert.ok(zshScript.includes(`--${flag}`), `zsh completes --${flag} of ${command.name}`);
    }
  }
});

Deno.test("bash completes commands, subcommands, flags and their values", async () => {
  const commands = COMMANDS.map((command) => command.name).sort();
  assert.deepEqual(await bashComplete("rhizome "), commands);
  assert.deepEqual(await bashComplete("rhizome sn"), ["snapshot"]);
  assert.deepEqual(await bashComplete("rhizome snapshot "), ["export", "import", "list", "verify"]);
  assert.deepEqual(await bashComplete("rhizome --data-dir /srv/x snapshot v"), ["verify"]);
  assert.deepEqual(await bashComplete("rhizome snapshot export --sc"), ["--scope"]);
  assert.deepEqual(await bashComplete("rhizome snapshot export --scope "), ["all", "global"]);
  assert.deepEqual(await bashComplete("rhizome --log-level w"), ["warning"]);
  assert.deepEqual(await bashComplete("rhizome --log-format "), ["json", "text"]);
  assert.deepEqual(await bashComplete("rhizome config "), ["path", "show", "validate"]);
  assert.deepEqual(await bashComplete("rhizome thread new --title Hello "), []);
  assert.deepEqual(await bashComplete("rhizome vote 3f2a "), ["down", "up"]);
  assert.deepEqual(await bashComplete("rhizome help sn"), ["snapshot"]);
  assert.deepEqual(await bashComplete("rhizome completion "), ["bash", "zsh"]);
  const runFlags = await bashComplete("rhizome run --");
  for (const flag of ["--seed", "--listen", "--bootstrap", "--data-dir", "--json"]) {
    assert.ok(runFlags.includes(flag), flag);
  }
  assert.ok(!runFlags.includes("--scope"), "another command's flag is not offered");
});

Deno.test("bash completes file names for snapshot files and directories for --data-dir", async () => {
  await withTempDir(async (directory) => {
    await Deno.writeTextFile(join(directory, "a.snapshot.gz"), "");
    await Deno.mkdir(join(directory, "node-data"));
    assert.deepEqual(await bashComplete("rhizome snapshot verify ", directory), [
      "a.snapshot.gz",
      "node-data",
    ]);
    assert.deepEqual(await bashComplete("rhizome --data-dir ", directory), ["node-data"]);
    assert.deepEqual(await bashComplete("rhizome snapshot import a.", directory), [
      "a.snapshot.gz",
    ]);
  });
});

Deno.test({
  name: "zsh completes commands, subcommands, flag values and files",
  ignore: !hasZsh,
  async fn() {
    const stubs = [
      "compdef() { :; }",
      'compadd() { [[ $1 == -- ]] && shift; print -r -- "words $*"; }',
      '_describe() { local a; shift 3; for a in "$@"; do [[ $a == -- ]] && continue; ' +
      'print -r -- "described ${(j: :)${(@)${(P)a}%%:*}}"; done; }',
      '_files() { print -r -- "files $*"; }',
    ].join("\n");
    const cases: [string[], string][] = [
      [["rhizome", ""], `described ${COMMANDS.map((command) => command.name).join(" ")}`],
      [["rhizome", "snapshot", ""], "words export verify import list"],
      [["rhizome", "--log-level", "w"], "words trace debug info warning error fatal"],
      [["rhizome", "vote", "3f2a", ""], "words up down"],
      [["rhizome", "snapshot", "verify", ""], "files"],
      [["rhizome", "--data-dir", ""], "files -/"],
      [["rhizome", "--config", "x", "snapshot", "export", "--scope", ""], "words all global"],
    ];
    for (const [words, expected] of cases) {
      const quoted = words.map((word) => `'${word}'`).join(" ");
      const program = [
        stubs,
        zshScript,
        `words=(${quoted}) CURRENT=${words.length} PREFIX='${words.at(-1)}'`,
        "_rhizome",
      ].join("\n");
      const result = await new Deno.Command("zsh", { args: ["-fc", program], stdout: "piped" })
        .output();
      assert.ok(result.success, words.join(" "));
      assert.equal(new TextDecoder().decode(result.stdout).trim(), expected, words.join(" "));
    }
  },
});
