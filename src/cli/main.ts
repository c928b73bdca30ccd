/**
 * The `rhizome` command line: finds the command, parses flags strictly, sets up logging and
 * configuration, runs the command and turns any error into one line and a stable exit status.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { resolve } from "node:path";
import {
  type ConfigOverride,
  readConfigFile,
  resolveConfig,
  type ResolvedConfig,
} from "../core/config.ts";
import {
  type Config,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
} from "../core/config_schema.ts";
import { InvalidInputError, UsageError } from "../core/errors.ts";
import { configureLogging, flushLogging } from "../core/log.ts";
import { DataDir, defaultDataDirPath } from "../node/data_dir/paths.ts";
import {
  type Command,
  type CommandContext,
  type ConfigLocation,
  type FlagSpec,
  GLOBAL_FLAGS,
  type GlobalFlags,
} from "./command.ts";
import { authorCommand } from "./commands/author.ts";
import { completionCommand } from "./commands/completion.ts";
import { configCommand } from "./commands/config.ts";
import { postCommand, profileCommand, threadCommand, voteCommand } from "./commands/discussion.ts";
import { popularityCommand } from "./commands/popularity.ts";
import { helpCommand } from "./commands/help.ts";
import { idCommand } from "./commands/id.ts";
import { initCommand } from "./commands/init.ts";
import {
  getCommand,
  peersCommand,
  putCommand,
  statusCommand,
  stopCommand,
} from "./commands/node_commands.ts";
import { runCommand } from "./commands/run.ts";
import { searchCommand } from "./commands/search.ts";
import { snapshotCommand } from "./commands/snapshot.ts";
import { syncCommand } from "./commands/sync.ts";
import { topCommand } from "./commands/top.ts";
import { versionCommand } from "./commands/version.ts";
import { commandHelp, overviewHelp } from "./help.ts";
import { type CliIo, Output } from "./output.ts";
import { closestWord } from "./suggest.ts";

export type { CliIo } from "./output.ts";

/** Every command, in the order help lists them. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  statusCommand,
  peersCommand,
  topCommand,
  putCommand,
  getCommand,
  stopCommand,
  threadCommand,
  postCommand,
  voteCommand,
  profileCommand,
  popularityCommand,
  searchCommand,
  authorCommand,
  initCommand,
  idCommand,
  configCommand,
  snapshotCommand,
  syncCommand,
  versionCommand,
  completionCommand(() => COMMANDS),
  helpCommand(() => COMMANDS),
];

/**
 * Runs the CLI.
 *
 * @param args The arguments after the program name.
 * @param io The environment and output streams.
 * @returns The exit status.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const wantsJson = args.includes("--json");
  const jsonErrors = args.includes("--log-format=json") ||
    args.some((arg, i) => arg === "--log-format" && args[i + 1] === "json");
  let output = new Output(io, { json: wantsJson, jsonErrors });
  try {
    if (args.length === 0 || (args.length === 1 && ["--help", "-h"].includes(args[0]))) {
      output.text(overviewHelp(COMMANDS));
      return 0;
    }
    if (args.length === 1 && args[0] === "--version") args = ["version"];
    const command = findCommand(args);
    const parsed = parseFlags(command, args);
    const global: GlobalFlags = {
      dataDir: parsed.values["data-dir"] as string | undefined,
      config: parsed.values.config as string | undefined,
      logLevel: parsed.values["log-level"] as string | undefined,
      logFormat: parsed.values["log-format"] as string | undefined,
      json: parsed.values.json === true,
    };
    output = new Output(io, { json: global.json, jsonErrors: global.logFormat === "json" });
    if (parsed.values.help === true) {
      output.text(commandHelp(command));
      return 0;
    }
    const positionals = parsed.positionals.slice(1);
    checkPositionals(command, positionals);
    configureLogging(earlyLogSettings(global, io));
    const context = makeContext(command, parsed.values, positionals, global, io, output);
    return await command.run(context);
  } catch (error) {
    return output.error(error);
  } finally {
    flushLogging();
  }
}

/** The command named by the first word that is neither a flag nor a global flag's value. */
function findCommand(args: readonly string[]): Command {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") break;
    if (arg.startsWith("-")) {
      const name = arg.replace(/^--?/, "");
      if (GLOBAL_FLAGS[name]?.type === "string") i++;
      continue;
    }
    const command = COMMANDS.find((candidate) => candidate.name === arg);
    if (!command) {
      const guess = closestWord(arg, COMMANDS.map((candidate) => candidate.name));
      throw new UsageError(
        `unknown command "${arg}"` +
          (guess ? `; did you mean '${guess}'?` : "") + " (run 'rhizome help' for the list)",
      );
    }
    return command;
  }
  throw new UsageError("no command given (run 'rhizome help' for the list)");
}

function parseFlags(command: Command, args: readonly string[]) {
  const options: ParseArgsConfig["options"] = {};
  const all: Record<string, FlagSpec> = { ...GLOBAL_FLAGS, ...command.flags };
  for (const [name, spec] of Object.entries(all)) {
    options[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(
      `${describeParseError(error, command)} (see 'rhizome help ${command.name}')`,
    );
  }
}

function describeParseError(error: unknown, command: Command): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  const flag = /'(-[^']*)'/.exec(message)?.[1] ?? /"(-[^"]*)"/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
    const name = flag.replace(/^--?/, "").split("=")[0];
    const guess = closestWord(name, [...Object.keys(command.flags), ...Object.keys(GLOBAL_FLAGS)]);
    return `unknown flag ${flag} for 'rhizome ${command.name}'` +
      (guess ? `; did you mean --${guess}?` : "");
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag) {
    const name = flag.replace(/^--?/, "").split(/[ =]/)[0];
    const spec = GLOBAL_FLAGS[name] ?? command.flags[name];
    return spec?.type === "boolean"
      ? `flag --${name} takes no value`
      : `flag --${name} needs a value (--${name} ${spec?.valueName ?? "VALUE"})`;
  }
  return message.split("\n")[0].replace(/\.$/, "");
}

function checkPositionals(command: Command, positionals: string[]): void {
  const { min, max } = command.positionals;
  if (positionals.length > max) {
    throw new UsageError(
      `unexpected argument "${
        positionals[max]
      }" for 'rhizome ${command.name}' (usage: rhizome ${command.usage})`,
    );
  }
  if (positionals.length < min) {
    throw new UsageError(
      `'rhizome ${command.name}' needs more arguments (usage: rhizome ${command.usage})`,
    );
  }
}

/**
 * Logging before the configuration is read: the flags' or environment's level and format when
 * they are valid (the configuration reports them otherwise), else the defaults.
 */
function earlyLogSettings(global: GlobalFlags, io: CliIo) {
  const level = global.logLevel ?? io.env.RHIZOME_LOG_LEVEL;
  const format = global.logFormat ?? io.env.RHIZOME_LOG_FORMAT;
  return {
    level: (LOG_LEVELS as readonly string[]).includes(level ?? "") ? level as LogLevel : "info",
    format: (LOG_FORMATS as readonly string[]).includes(format ?? "")
      ? format as LogFormat
      : "text",
    linesPerSecondMax: 50,
    write: io.stderr,
  };
}

function makeContext(
  command: Command,
  values: Record<string, string | boolean | (string | boolean)[] | undefined>,
  positionals: string[],
  global: GlobalFlags,
  io: CliIo,
  output: Output,
): CommandContext {
  let dataDir: DataDir | undefined;
  let resolved: Promise<ResolvedConfig> | undefined;
  const context: CommandContext = {
    flags: values as Record<string, string | boolean | string[] | undefined>,
    positionals,
    global,
    env: io.env,
    output,
    dataDir() {
      dataDir ??= new DataDir(global.dataDir ?? defaultDataDirPath(io.env));
      return dataDir;
    },
    configLocation(): ConfigLocation {
      if (global.config !== undefined) return { path: resolve(global.config), source: "flag" };
      if (io.env.RHIZOME_CONFIG) return { path: resolve(io.env.RHIZOME_CONFIG), source: "env" };
      return { path: context.dataDir().configPath, source: "data-dir" };
    },
    resolvedConfig() {
      const commandOverrides = command.configOverrides?.(context.flags) ?? [];
      resolved ??= loadConfig(context.configLocation(), global, io, commandOverrides);
      return resolved;
    },
    async reloadConfig() {
      const commandOverrides = command.configOverrides?.(context.flags) ?? [];
      const next = await loadConfig(context.configLocation(), global, io, commandOverrides);
      resolved = Promise.resolve(next);
      return next;
    },
    async readStdin(limit: number): Promise<Uint8Array> {
      if (!io.readStdin) throw new InvalidInputError("Cannot read standard input here");
      return await io.readStdin(limit);
    },
    stdinIsTerminal(): boolean {
      return io.stdinIsTerminal?.() ?? false;
    },
    async config(): Promise<Config> {
      return (await context.resolvedConfig()).config;
    },
  };
  return context;
}

async function loadConfig(
  location: ConfigLocation,
  global: GlobalFlags,
  io: CliIo,
  commandOverrides: readonly ConfigOverride[],
): Promise<ResolvedConfig> {
  let file: { path: string; text: string } | undefined;
  try {
    file = { path: location.path, text: await readConfigFile(location.path) };
  } catch (error) {
    // Only a file someone named must exist; the data directory's own one is optional.
    const absent = error instanceof Error && error.cause instanceof Deno.errors.NotFound;
    if (!(absent && location.source === "data-dir")) throw error;
  }
  const overrides = [];
  if (global.logLevel !== undefined) {
    overrides.push({ path: "log.level", value: global.logLevel, origin: "--log-level" });
  }
  if (global.logFormat !== undefined) {
    overrides.push({ path: "log.format", value: global.logFormat, origin: "--log-format" });
  }
  overrides.push(...commandOverrides);
  const result = resolveConfig({ file, env: io.env, overrides });
  configureLogging({
    level: result.config.log.level,
    format: result.config.log.format,
    linesPerSecondMax: result.config.log.lines_per_second_max,
    write: io.stderr,
  });
  return result;
}
