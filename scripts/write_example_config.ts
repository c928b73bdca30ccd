/**
 * Writes `config/rhizome.toml`, the example config file shipped beside the program: the embedded
 * defaults with every setting commented out, exactly what `rhizome init` writes.
 *
 * Usage: deno run --allow-write=config scripts/write_example_config.ts
 *
 * @module
 */

import { commentedDefaultConfigToml } from "../src/core/config_defaults.ts";

/** Where the example config lives in the repository. */
export const EXAMPLE_CONFIG_PATH = new URL("../config/rhizome.toml", import.meta.url);

if (import.meta.main) {
  await Deno.writeTextFile(EXAMPLE_CONFIG_PATH, commentedDefaultConfigToml());
  console.error(`wrote ${EXAMPLE_CONFIG_PATH.pathname}`);
}
