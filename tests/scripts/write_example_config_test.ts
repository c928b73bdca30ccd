/** The shipped example config must stay exactly what `rhizome init` writes. */

import assert from "node:assert/strict";
import { commentedDefaultConfigToml } from "../../src/core/config_defaults.ts";
import { EXAMPLE_CONFIG_PATH } from "../../scripts/write_example_config.ts";

Deno.test("config/rhizome.toml equals the commented embedded defaults", async () => {
  assert.equal(
    await Deno.readTextFile(EXAMPLE_CONFIG_PATH),
    commentedDefaultConfigToml(),
    "regenerate it: deno run --allow-write=config scripts/write_example_config.ts",
  );
});
