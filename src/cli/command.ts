/**
 * What a CLI command is: its name, help text, flags and the function that runs it. The global
 * flags every command accepts are defined here too.
 *
 * @module
 */

import type { AnyRoute } from "../api/routes.ts";
import type { Config } from "../core/config_schema.ts";
import type { ConfigOverride, ResolvedConfig } from "../core/config.ts";
import type { DataDir } from "../node/data_dir/paths.ts";
import type { Output } from "./output.ts";

/** A flag: its `node:util` `parseArgs` shape plus what help shows. */
export interface FlagSpec {
  /** `boolean` for switches, `string` for flags that take a value. */
  type: "boolean" | "string";
  /** One-letter form, if any. */
  short?: string;
  /** The value's placeholder in help, for string flags. */
  valueName?: string;
  /** A string flag that may be given more than once; its value is then every one, in order. */
  multiple?: boolean;
  /** One line for help. */
  description: string;
}

/** The flags every command accepts. */
export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  "data-dir": {
    type: "string",
    valueName: "DIR",
    description: "The node's data directory (default: $RHIZOME_DATA_DIR, else ~/.rhizome)",
  },
  config: {
    type: "string",
    valueName: "FILE",
    description: "The config file (default: $RHIZOME_CONFIG, else DIR/config.toml)",
  },
  "log-level": {
    type: "string",
    valueName: "LEVEL",
    description: "trace, debug, info, warning, error or fatal (default: from config, info)",
  },
  "log-format": {
    type: "string",
    valueName: "FORMAT",
    description: "text or json: how log lines on stderr look (default: from config, text)",
  },
  json: { type: "boolean", description: "Print one JSON object on stdout instead of text" },
  help: { type: "boolean", short: "h", description: "Show help for the command" },
};

/** The global flags' values. */
export interface GlobalFlags {
  /** `--data-dir`. */
  dataDir?: string;
  /** `--config`. */
  config?: string;
  /** `--log-level`. */
  logLevel?: string;
  /** `--log-format`. */
  logFormat?: string;
  /** `--json`. */
  json: boolean;
}

/** Everything a command's `run` gets. */
export interface CommandContext {
  /** The command's own flags, by long name (an array for {@link FlagSpec.multiple} ones). */
  flags: Record<string, string | boolean | string[] | undefined>;
  /** Words after the command name. */
  positionals: string[];
  /** The global flags. */
  global: GlobalFlags;
  /** The environment. */
  env: Record<string, string>;
  /** Where results go. */
  output: Output;
  /** The data directory chosen by `--data-dir` or the environment. */
  dataDir(): DataDir;
  /** Where the config file is and who chose it. */
  configLocation(): ConfigLocation;
  /** The validated configuration (loaded once, on first call). */
  config(): Promise<Config>;
  /** The configuration with the origin of each setting (loaded once). */
  resolvedConfig(): Promise<ResolvedConfig>;
  /**
   * Reads the configuration again (file, environment, flags), applies its log settings, and
   * makes it the one {@link CommandContext.config} answers: for `run` on SIGHUP.
   *
   * @throws {ConfigError} When it is now invalid; the one in effect is kept.
   */
  reloadConfig(): Promise<ResolvedConfig>;
  /**
   * Standard input, read to its end or until `limit` bytes.
   *
   * @param limit Most bytes read.
   */
  readStdin(limit: number): Promise<Uint8Array>;
  /** Whether standard input is a terminal, where a person types (and may not know to). */
  stdinIsTerminal(): boolean;
}

/** Where the config file is, and why there. */
export interface ConfigLocation {
  /** The file's absolute path. */
  path: string;
  /** What chose it: the `--config` flag, `RHIZOME_CONFIG`, or the data directory. */
  source: "flag" | "env" | "data-dir";
}

/** A CLI command. */
export interface Command {
  /** The word that selects it, for example `init`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Synopsis after `rhizome`, for example `init [--force]`. */
  usage: string;
  /** A paragraph for `rhizome help <name>`. */
  description: string;
  /** Example command lines. */
  examples: string[];
  /** The command's own flags, beside the global ones. */
  flags: Record<string, FlagSpec>;
  /** The control API routes it calls on a running node (src/api/routes.ts), for help. */
  routes?: readonly AnyRoute<never>[];
  /** How many words may follow the command name. */
  positionals: { min: number; max: number };
  /** Settings the command's flags override (validated with the rest of the configuration). */
  configOverrides?(
    flags: Record<string, string | boolean | string[] | undefined>,
  ): ConfigOverride[];
  /**
   * Runs the command.
   *
   * @returns The exit status.
   */
  run(context: CommandContext): Promise<number>;
}
