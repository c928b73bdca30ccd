/**
 * `rhizome config show|validate|path`.
 *
 * @module
 */

import { stringify as toToml } from "smol-toml";
import { ConfigError } from "../../core/errors.ts";
import { exists } from "../../core/fs.ts";
import type { Command, CommandContext } from "../command.ts";
import { OK } from "../output.ts";
import { unknownActionError } from "../suggest.ts";

const actions = ["show", "validate", "path"];

/** Shows, checks or locates the configuration. */
export const configCommand: Command = {
  name: "config",
  summary: "Show the effective configuration, validate it, or print the config file's path",
  usage: "config show|validate|path",
  description: [
    "show      prints the configuration in effect (defaults < file < RHIZOME_* < flags), as",
    "          TOML, with the origin of every setting that is not a default.",
    "validate  checks the file, the environment and the flags together; prints every problem",
    "          (field path, what was expected, what was found, where it came from) and exits 3",
    "          if there is one.",
    "path      prints which config file is used and whether it exists.",
  ].join("\n"),
  examples: [
    "rhizome config show",
    "rhizome config validate --config ./rhizome.toml",
    "RHIZOME_DHT_K=24 rhizome config show --json | jq .config.dht.k",
    "rhizome config path",
  ],
  flags: {},
  positionals: { min: 1, max: 1 },
  run(context) {
    const [action] = context.positionals;
    if (action === "show") return show(context);
    if (action === "validate") return validate(context);
    if (action === "path") return path(context);
    throw unknownActionError("config", action, actions);
  },
};

async function show(context: CommandContext): Promise<number> {
  const { config, origins } = await context.resolvedConfig();
  const location = context.configLocation();
  const fileExists = await exists(location.path);
  const header = [
    `# The configuration in effect. Config file: ${location.path}${fileExists ? "" : " (absent)"}`,
    ...[...origins].map(([setting, origin]) => `# ${setting} from ${origin}`),
  ];
  context.output.result(`${header.join("\n")}\n\n${toToml(config)}`, {
    config,
    origins: Object.fromEntries(origins),
    file: fileExists ? location.path : null,
  });
  return OK;
}

async function validate(context: CommandContext): Promise<number> {
  const location = context.configLocation();
  try {
    await context.config();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return context.output.error(error, { allLines: true });
  }
  const fileExists = await exists(location.path);
  context.output.result(
    `config is valid: ${fileExists ? location.path : "built-in defaults (no config file)"}`,
    { valid: true, file: fileExists ? location.path : null },
  );
  return OK;
}

async function path(context: CommandContext): Promise<number> {
  const location = context.configLocation();
  const fileExists = await exists(location.path);
  context.output.result(
    `${location.path}${fileExists ? "" : " (does not exist: defaults apply)"}`,
    {
      path: location.path,
      exists: fileExists,
      source: location.source,
    },
  );
  return OK;
}
