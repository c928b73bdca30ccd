/**
 * `rhizome run`: the node daemon. This build has no DHT node yet, so the command says so plainly
 * and fails instead of pretending to serve.
 *
 * @module
 */

import { RhizomeError } from "../../core/errors.ts";
import type { Command } from "../command.ts";

/** Starts a node (not in this build: it reports that and exits 1). */
export const runCommand: Command = {
  name: "run",
  summary: "Start a node (not in this build yet: the node arrives with the DHT and node work)",
  usage: "run",
  description: [
    "Will start a node on the configured addresses and serve until SIGINT or SIGTERM. This",
    "build does not contain the node yet: the command exits with status 1 and says so. What",
    "works today: init, id, config, version, help.",
  ].join("\n"),
  examples: ["rhizome run", "deno task start"],
  flags: {},
  positionals: { min: 0, max: 0 },
  run() {
    throw new RhizomeError(
      "UNAVAILABLE",
      "Cannot run a node: this build has no DHT node yet; available now: init, id, config, version, help",
    );
  },
};
