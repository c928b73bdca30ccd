/**
 * Configuration in layers: the embedded defaults, then the config file, then `RHIZOME_*`
 * environment variables, then command-line flags. The merged result is validated as a whole, and
 * every problem names the field path, what was expected, what was found and where it came from:
 *
 * `dht.k: expected an integer 1..64, got "x" (from RHIZOME_DHT_K)`
 *
 * TOML is the file format: it has comments (the default file documents every setting), no
 * significant indentation for an operator to break over SSH, and typed integers and booleans.
 *
 * @module
 */

import { parse as parseToml, TomlError } from "smol-toml";
import { checkConfigSchema, type Config, crossFieldRules } from "./config_schema.ts";
import { DEFAULT_CONFIG_TOML } from "./config_defaults.ts";
import { ConfigError } from "./errors.ts";
import { configFileBytesMax } from "./limits.ts";
import { describeOsError } from "./os_error.ts";

/** A plain table of settings, as TOML or the environment produce it. */
export type ConfigTable = { [key: string]: unknown };

/** One setting set from the command line. */
export interface ConfigOverride {
  /** The setting's dotted path, for example `log.level`. */
  path: string;
  /** The value, checked by the schema like any other. */
  value: unknown;
  /** Where it came from, for messages: the flag, for example `--log-level`. */
  origin: string;
}

/** Everything a configuration is made from, apart from the embedded defaults. */
export interface ConfigSources {
  /** The config file: its path (for messages) and text. */
  file?: { path: string; text: string };
  /** The environment; only `RHIZOME_*` variables are read. */
  env?: Record<string, string>;
  /** Settings from flags, applied last. */
  overrides?: readonly ConfigOverride[];
}

/** A validated configuration and where each setting came from. */
export interface ResolvedConfig {
  /** The configuration. */
  config: Config;
  /** For each setting path that was not left at its default: the file path, variable or flag. */
  origins: ReadonlyMap<string, string>;
}

/** Environment variables that name no setting but are read elsewhere (data dir, config path). */
export const ENV_NOT_SETTINGS: readonly string[] = ["RHIZOME_DATA_DIR", "RHIZOME_CONFIG"];
/** Short names for settings operators set often from scripts. */
export const ENV_ALIASES: Readonly<Record<string, string>> = {
  RHIZOME_BOOTSTRAP: "node.bootstrap",
};

let defaultTable: ConfigTable | undefined;

/**
 * The embedded defaults, parsed once.
 *
 * @returns A fresh deep copy, safe to change.
 */
export function defaultConfigTable(): ConfigTable {
  defaultTable ??= parseToml(DEFAULT_CONFIG_TOML) as ConfigTable;
  return structuredClone(defaultTable);
}

/**
 * Every setting path (dotted) and the environment variable that sets it.
 *
 * @returns Pairs of `[variable, path]`, aliases included.
 */
export function settingEnvironmentNames(): Map<string, string> {
  const names = new Map<string, string>();
  for (const path of leafPaths(defaultConfigTable())) {
    names.set(`RHIZOME_${path.replaceAll(".", "_").toUpperCase()}`, path);
  }
  for (const [name, path] of Object.entries(ENV_ALIASES)) names.set(name, path);
  return names;
}

/**
 * Builds and validates the configuration from its layers.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * const { config } = resolveConfig({ env: { RHIZOME_DHT_K: "24" } });
 * if (config.dht.k !== 24) throw new Error("the variable did not apply");
 * ```
 *
 * @param sources The file, environment and flags.
 * @returns The configuration and the origin of each non-default setting.
 * @throws {ConfigError} `CONFIG_INVALID`, one line per problem, when a layer does not parse or
 *   the merged result breaks the schema.
 */
export function resolveConfig(sources: ConfigSources = {}): ResolvedConfig {
  const merged = defaultConfigTable();
  const origins = new Map<string, string>();
  if (sources.file) {
    mergeInto(
      merged,
      parseConfigText(sources.file.path, sources.file.text),
      sources.file.path,
      "",
      origins,
    );
  }
  for (const [name, path, value] of environmentSettings(sources.env ?? {})) {
    mergeInto(merged, nest(path, value), name, "", origins);
  }
  for (const override of sources.overrides ?? []) {
    mergeInto(merged, nest(override.path, override.value), override.origin, "", origins);
  }
  const config = validate(merged, origins);
  return { config, origins };
}

/**
 * Reads a config file, refusing one too large to be a config before reading it whole.
 *
 * @param path The file.
 * @returns The text.
 * @throws {ConfigError} `CONFIG_UNREADABLE` when it cannot be read or is too large.
 */
export async function readConfigFile(path: string): Promise<string> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) {
      throw new ConfigError("CONFIG_UNREADABLE", `Cannot read config ${path}: it is not a file`);
    }
    if (info.size > configFileBytesMax) {
      throw new ConfigError(
        "CONFIG_UNREADABLE",
        `Cannot read config ${path}: it is ${info.size} bytes, the limit is ${configFileBytesMax}`,
      );
    }
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      "CONFIG_UNREADABLE",
      `Cannot read config ${path}: ${describeOsError(error)}`,
      { cause: error },
    );
  }
}

function parseConfigText(path: string, text: string): ConfigTable {
  try {
    return parseToml(text) as ConfigTable;
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const reason = error.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    throw new ConfigError(
      "CONFIG_INVALID",
      `${path}:${error.line}:${error.column}: invalid TOML: ${reason}`,
      { cause: error },
    );
  }
}

/** Settings from `RHIZOME_*` variables, typed after the default they replace. */
function environmentSettings(env: Record<string, string>): [string, string, unknown][] {
  const names = settingEnvironmentNames();
  const defaults = defaultConfigTable();
  const settings: [string, string, unknown][] = [];
  const unknown: string[] = [];
  const setBy = new Map<string, string>();
  for (const [name, text] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith("RHIZOME_") || ENV_NOT_SETTINGS.includes(name)) continue;
    const path = names.get(name);
    if (path === undefined) {
      unknown.push(`${name}: unknown setting (see 'rhizome config show' for the names)`);
      continue;
    }
    const other = setBy.get(path);
    if (other !== undefined) {
      unknown.push(`${name}: ${other} sets ${path} too; set only one of them`);
      continue;
    }
    setBy.set(path, name);
    settings.push([name, path, typedFromText(text, valueAt(defaults, path))]);
  }
  if (unknown.length > 0) throw new ConfigError("CONFIG_INVALID", unknown.join("\n"));
  return settings;
}

/** Reads environment text as the type of the setting's default; the schema judges the result. */
function typedFromText(text: string, example: unknown): unknown {
  if (Array.isArray(example)) {
    return text.split(",").map((item) => item.trim()).filter((item) => item !== "");
  }
  if (typeof example === "boolean") {
    if (text === "true" || text === "1") return true;
    if (text === "false" || text === "0") return false;
    return text;
  }
  if (typeof example === "number" || typeof example === "string") {
    if (/^-?[0-9]+(\.[0-9]+)?$/.test(text.trim())) return Number(text.trim());
  }
  return text;
}

function validate(merged: ConfigTable, origins: Map<string, string>): Config {
  const result = checkConfigSchema(merged);
  if ("issues" in result) {
    const problems = result.issues.map((issue) => {
      const found = issue.unknownSetting
        ? ""
        : `, got ${describeValue(valueAt(merged, issue.path))}`;
      return `${issue.path || "(top level)"}: ${issue.message}${found}${
        originNote(issue.path, origins)
      }`;
    });
    throw new ConfigError("CONFIG_INVALID", unique(problems).join("\n"));
  }
  const config = result.config;
  const broken = crossFieldRules.filter((rule) => !rule.holds(config));
  if (broken.length > 0) {
    const problems = broken.map((rule) =>
      `${rule.path}: ${rule.expected}, got ${describeValue(valueAt(merged, rule.path))}${
        originNote(rule.path, origins)
      }`
    );
    throw new ConfigError("CONFIG_INVALID", problems.join("\n"));
  }
  return config;
}

function originNote(path: string, origins: ReadonlyMap<string, string>): string {
  for (let prefix = path; prefix !== ""; prefix = prefix.replace(/(\[[0-9]+\]|\.[^.[]*)$/, "")) {
    const origin = origins.get(prefix);
    if (origin !== undefined) return ` (from ${origin})`;
    if (!/[.[]/.test(prefix)) break;
  }
  return "";
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string"
    ? JSON.stringify(value)
    : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function unique(lines: string[]): string[] {
  return [...new Set(lines)];
}

function isTable(value: unknown): value is ConfigTable {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** Merges `source` into `target`; tables merge key by key, anything else replaces. */
function mergeInto(
  target: ConfigTable,
  source: ConfigTable,
  origin: string,
  prefix: string,
  origins: Map<string, string>,
): void {
  for (const [key, value] of Object.entries(source)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isTable(value) && isTable(target[key])) {
      mergeInto(target[key] as ConfigTable, value, origin, path, origins);
    } else {
      target[key] = value;
      origins.set(path, origin);
    }
  }
}

function nest(path: string, value: unknown): ConfigTable {
  const keys = path.split(".");
  let table: ConfigTable = { [keys[keys.length - 1]]: value };
  for (let i = keys.length - 2; i >= 0; i--) table = { [keys[i]]: table };
  return table;
}

function valueAt(table: ConfigTable, path: string): unknown {
  let value: unknown = table;
  for (const key of path.split(/\.|(?=\[)/)) {
    if (key.startsWith("[")) {
      value = Array.isArray(value) ? value[Number(key.slice(1, -1))] : undefined;
    } else {
      value = isTable(value) ? value[key] : undefined;
    }
  }
  return value;
}

function leafPaths(table: ConfigTable, prefix = ""): string[] {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(table)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isTable(value)) paths.push(...leafPaths(value, path));
    else paths.push(path);
  }
  return paths;
}
