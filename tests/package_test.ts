/**
 * The package's public surface stays documented and its examples keep running: every `mod.ts`
 * under `src/` (those `deno.json` exports among them) is doc-linted by `deno task test`, and that task runs the `@example`
 * blocks of `src/` and the README's code with `deno test --doc`. Checked on the text of
 * `deno.json`, so adding an export without its lint fails here.
 */

import assert from "node:assert/strict";

const denoJson = JSON.parse(
  await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
) as { exports: Record<string, string>; tasks: Record<string, string> };

/** The commands of `deno task test`, split at `&&`. */
const testCommands = denoJson.tasks.test.split("&&").map((command) => command.trim());

/** Every `mod.ts` under `src/`, as `./src/…` paths. */
async function modFiles(directory = "src"): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(new URL(`../${directory}`, import.meta.url))) {
    const path = `${directory}/${entry.name}`;
    if (entry.isDirectory) found.push(...await modFiles(path));
    else if (entry.name === "mod.ts") found.push(`./${path}`);
  }
  return found.sort();
}

Deno.test("deno task test doc-lints every mod.ts, the exported ones included", async () => {
  const lint = testCommands.find((command) => command.startsWith("deno doc --lint"));
  assert.ok(lint, "the test task runs deno doc --lint");
  const linted = lint.split(/\s+/).slice(3).map((path) => `./${path}`);
  const exported = Object.values(denoJson.exports).filter((path) => path.endsWith("/mod.ts"));
  assert.ok(exported.includes("./src/node/mod.ts"), "the embedding API is exported");
  for (const path of exported) assert.ok(linted.includes(path), `${path} is exported, not linted`);
  assert.deepEqual(linted.sort(), await modFiles());
});

Deno.test("deno task test runs the @example blocks and the README's code", () => {
  const doc = testCommands.find((command) => command.startsWith("deno test --doc"));
  assert.ok(doc, "the test task runs deno test --doc");
  const paths = doc.split(/\s+/).filter((word) => !word.startsWith("-")).slice(2);
  assert.deepEqual(paths, ["src/", "README.md"]);
});
