/**
 * `rhizome version`.
 *
 * @module
 */

import denoConfig from "../../../deno.json" with { type: "json" };
import type { Command } from "../command.ts";
import { OK } from "../output.ts";

/** This build's version (from `deno.json`). */
export const RHIZOME_VERSION: string = denoConfig.version;

/** Prints the version of Rhizome and of the runtime under it. */
export const versionCommand: Command = {
  name: "version",
  summary: "Print the version of rhizome and of its runtime",
  usage: "version",
  description: "Prints rhizome's version, the Deno, V8 and TypeScript versions it runs on, and " +
    "the operating system and architecture.",
  examples: ["rhizome version", "rhizome version --json"],
  flags: {},
  positionals: { min: 0, max: 0 },
  run(context) {
    const info = {
      version: RHIZOME_VERSION,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
      os: Deno.build.os,
      arch: Deno.build.arch,
    };
    context.output.result(
      `rhizome ${info.version} (deno ${info.deno}, ${info.os} ${info.arch})`,
      info,
    );
    return Promise.resolve(OK);
  },
};
