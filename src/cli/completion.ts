/**
 * Shell completion scripts for bash and zsh, generated from the command table (names, summaries,
 * flags and usage lines), so a command or flag added to the CLI completes without further work.
 *
 * Subcommands and positional arguments are read from a command's usage line: alternatives are
 * separated by " | " (`author new NAME | list | use NAME`) or by "|" inside one word
 * (`config show|validate|path`); a lower-case word is a literal to complete, FILE, DIR and PATH
 * complete file names, COMMAND completes command names, other capitals (ID, BODY) nothing.
 *
 * @module
 */

import { LOG_FORMATS, LOG_LEVELS } from "../core/config_schema.ts";
import { type Command, type FlagSpec, GLOBAL_FLAGS } from "./command.ts";

/** The shells a script can be generated for. */
export const COMPLETION_SHELLS = ["bash", "zsh"] as const;

/** A shell completion can be generated for. */
export type CompletionShell = typeof COMPLETION_SHELLS[number];

/** What completes in one place: literal words, file names, directory names, or nothing. */
export type ValueCompletion =
  | { kind: "words"; words: readonly string[] }
  | { kind: "files" }
  | { kind: "directories" }
  | { kind: "commands" }
  | { kind: "none" };

/** A flag as completion sees it. */
export interface CompletionFlag {
  /** Long name without dashes. */
  name: string;
  /** One-letter form, if any. */
  short?: string;
  /** Whether it takes a value (the next word). */
  takesValue: boolean;
  /** What its value completes to. */
  value: ValueCompletion;
  /** One line for zsh's listing. */
  description: string;
}

/** A subcommand (`snapshot verify`) or the command itself when it has none. */
export interface CompletionForm {
  /** The subcommand's word; empty for a command without subcommands. */
  name: string;
  /** What each positional argument after it completes to, in order. */
  positionals: readonly ValueCompletion[];
}

/** A command as completion sees it. */
export interface CompletionCommand {
  /** The command word. */
  name: string;
  /** One line for zsh's listing. */
  summary: string;
  /** Its own flags (global ones are separate). */
  flags: readonly CompletionFlag[];
  /** Its subcommands, or one form named "" when it has none. */
  forms: readonly CompletionForm[];
}

/** Everything a script completes. */
export interface CompletionModel {
  /** The commands, in help's order. */
  commands: readonly CompletionCommand[];
  /** The flags every command accepts. */
  globalFlags: readonly CompletionFlag[];
}

const NONE: ValueCompletion = { kind: "none" };

/** Value completion for a placeholder such as `FILE`, `PATH|DIR|-`, `up|down` or `COMMAND`. */
export function placeholderCompletion(placeholder: string): ValueCompletion {
  const alternatives = placeholder.replace(/^\[|\]\.*$|\.\.\.$/g, "").split("|")
    .filter((word) => word !== "-" && word !== "");
  if (alternatives.length === 0) return NONE;
  if (alternatives.every((word) => /^[a-z][a-z0-9-]*$/.test(word))) {
    return { kind: "words", words: alternatives };
  }
  if (alternatives.some((word) => word === "FILE" || word === "PATH")) return { kind: "files" };
  if (alternatives.includes("DIR")) return { kind: "directories" };
  if (alternatives.includes("COMMAND")) return { kind: "commands" };
  return NONE;
}

/**
 * The words of one usage alternative, with flags and their values removed: what is left are the
 * positional placeholders (`verify FILE` → `verify`, `FILE`).
 */
function positionalWords(usage: string): string[] {
  const words = usage.trim().split(/\s+/).filter((word) => word !== "");
  const kept: string[] = [];
  let depth = 0;
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const opens = (word.match(/\[/g) ?? []).length;
    const closes = (word.match(/\]/g) ?? []).length;
    if (depth > 0 || word.startsWith("[-")) {
      depth += opens - closes;
      continue;
    }
    if (word.startsWith("-")) {
      // "--title T": the flag's value is the next word when it is a placeholder.
      if (i + 1 < words.length && !words[i + 1].startsWith("-") && !words[i + 1].startsWith("[")) {
        if (/^[A-Z]/.test(words[i + 1])) i++;
      }
      continue;
    }
    kept.push(word);
  }
  return kept;
}

/** The forms of a command: its subcommands with their positionals, read from its usage line. */
export function commandForms(command: Command): CompletionForm[] {
  const usage = command.usage.startsWith(`${command.name} `)
    ? command.usage.slice(command.name.length + 1)
    : command.usage === command.name
    ? ""
    : command.usage;
  const alternatives = usage.split(" | ");
  const forms: CompletionForm[] = [];
  for (const alternative of alternatives) {
    const [first, ...rest] = positionalWords(alternative);
    const names = first?.split("|") ?? [];
    const literal = names.length > 0 && names.every((name) => /^[a-z][a-z0-9-]*$/.test(name));
    if (!literal) {
      if (alternatives.length > 1) continue;
      const positionals = first === undefined ? [] : [first, ...rest];
      return [{ name: "", positionals: positionals.map(placeholderCompletion) }];
    }
    for (const name of names) forms.push({ name, positionals: rest.map(placeholderCompletion) });
  }
  return forms.length > 0 ? forms : [{ name: "", positionals: [] }];
}

/** What the value of `--name` completes to, from its spec and the usage line. */
function flagValue(name: string, spec: FlagSpec, usage: string): ValueCompletion {
  if (spec.type === "boolean") return NONE;
  if (name === "log-level") return { kind: "words", words: LOG_LEVELS };
  if (name === "log-format") return { kind: "words", words: LOG_FORMATS };
  const inUsage = new RegExp(`--${name} ([^\\s\\]]+)`).exec(usage)?.[1];
  const fromUsage = inUsage === undefined ? NONE : placeholderCompletion(inUsage);
  if (fromUsage.kind !== "none") return fromUsage;
  return placeholderCompletion(spec.valueName ?? "VALUE");
}

function completionFlags(
  flags: Record<string, FlagSpec>,
  usage: string,
): CompletionFlag[] {
  return Object.entries(flags).map(([name, spec]) => ({
    name,
    ...(spec.short ? { short: spec.short } : {}),
    takesValue: spec.type === "string",
    value: flagValue(name, spec, usage),
    description: spec.description,
  }));
}

/**
 * What completes, from the command table.
 *
 * @param commands Every command.
 * @returns The model both scripts are generated from.
 */
export function completionModel(commands: readonly Command[]): CompletionModel {
  return {
    commands: commands.map((command) => ({
      name: command.name,
      summary: command.summary,
      flags: completionFlags(command.flags, command.usage),
      forms: commandForms(command),
    })),
    globalFlags: completionFlags(GLOBAL_FLAGS, ""),
  };
}

/** Shell single quoting (the same in bash and zsh). */
function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function flagWords(flags: readonly CompletionFlag[]): string {
  return flags.map((flag) => `--${flag.name}`).join(" ");
}

/** A bash statement that sets COMPREPLY for `value` and returns. */
function bashValue(value: ValueCompletion): string {
  switch (value.kind) {
    case "words":
      return `COMPREPLY=($(compgen -W ${quote(value.words.join(" "))} -- "$cur")); return`;
    case "files":
      return `compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return`;
    case "directories":
      return `compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return`;
    case "commands":
      return `COMPREPLY=($(compgen -W "$commands" -- "$cur")); return`;
    case "none":
      return "COMPREPLY=(); return";
  }
}

/** The value flags of every command and the global ones, as `case` patterns `cmd:--flag`. */
function valueFlagPatterns(model: CompletionModel): string {
  const patterns = model.globalFlags.filter((flag) => flag.takesValue)
    .map((flag) => `*:--${flag.name}`);
  for (const command of model.commands) {
    for (const flag of command.flags.filter((flag) => flag.takesValue)) {
      patterns.push(`${command.name}:--${flag.name}`);
    }
  }
  return patterns.join("|");
}

/**
 * The bash completion script.
 *
 * @param model What completes.
 * @returns The script: source it, or put it in a bash-completion directory.
 */
export function bashCompletion(model: CompletionModel): string {
  // A command's own flag first: `case` takes the first pattern that matches.
  const flagValueCases: string[] = [];
  for (const command of model.commands) {
    for (const flag of command.flags.filter((flag) => flag.takesValue)) {
      flagValueCases.push(`    ${command.name}:--${flag.name}) ${bashValue(flag.value)} ;;`);
    }
  }
  for (const flag of model.globalFlags.filter((flag) => flag.takesValue)) {
    flagValueCases.push(`    *:--${flag.name}) ${bashValue(flag.value)} ;;`);
  }
  const commandCases: string[] = [];
  for (const command of model.commands) {
    const subcommands = command.forms.filter((form) => form.name !== "").map((form) => form.name);
    const positionalCases = command.forms.flatMap((form) =>
      form.positionals.map((value, index) =>
        `        ${form.name === "" ? "" : form.name}:${index}) ${bashValue(value)} ;;`
      )
    );
    commandCases.push(
      `    ${command.name})`,
      `      flags=${quote(flagWords(command.flags))}`,
      `      subcommands=${quote(subcommands.join(" "))}`,
      `      if [[ $cur == -* ]]; then`,
      `        COMPREPLY=($(compgen -W "$flags $global_flags" -- "$cur")); return`,
      "      fi",
      `      if [[ -n $subcommands && -z $sub ]]; then`,
      `        COMPREPLY=($(compgen -W "$subcommands" -- "$cur")); return`,
      "      fi",
      `      case "$sub:$npos" in`,
      ...positionalCases,
      "      esac",
      "      ;;",
    );
  }
  return [
    "# bash completion for rhizome: generated by `rhizome completion bash` from its command table.",
    "# Load it with: source <(rhizome completion bash)",
    "# or install it: rhizome completion bash > ~/.local/share/bash-completion/completions/rhizome",
    "_rhizome() {",
    "  local cur prev commands global_flags flags subcommands word cmd='' sub='' npos=0 i",
    '  cur="${COMP_WORDS[COMP_CWORD]}"',
    '  prev=""',
    '  [[ $COMP_CWORD -gt 0 ]] && prev="${COMP_WORDS[COMP_CWORD-1]}"',
    `  commands=${quote(model.commands.map((command) => command.name).join(" "))}`,
    `  global_flags=${quote(flagWords(model.globalFlags))}`,
    "  # The command, its subcommand and how many positionals precede the cursor; a flag's value",
    "  # is skipped.",
    "  for ((i = 1; i < COMP_CWORD; i++)); do",
    '    word="${COMP_WORDS[i]}"',
    '    case "$cmd:$word" in',
    `      ${valueFlagPatterns(model)}) i=$((i + 1)); continue ;;`,
    "      *:-*) continue ;;",
    "    esac",
    "    if [[ -z $cmd ]]; then",
    "      cmd=$word",
    '    elif [[ -z $sub && " $(_rhizome_subcommands "$cmd") " == *" $word "* ]]; then',
    "      sub=$word",
    "    else",
    "      npos=$((npos + 1))",
    "    fi",
    "  done",
    '  case "$cmd:$prev" in',
    ...flagValueCases,
    "  esac",
    "  if [[ -z $cmd ]]; then",
    "    if [[ $cur == -* ]]; then",
    '      COMPREPLY=($(compgen -W "$global_flags" -- "$cur"))',
    "    else",
    '      COMPREPLY=($(compgen -W "$commands" -- "$cur"))',
    "    fi",
    "    return",
    "  fi",
    '  case "$cmd" in',
    ...commandCases,
    "  esac",
    "  COMPREPLY=()",
    "}",
    "_rhizome_subcommands() {",
    '  case "$1" in',
    ...model.commands.filter((command) => command.forms.some((form) => form.name !== ""))
      .map((command) =>
        `    ${command.name}) echo ${quote(command.forms.map((form) => form.name).join(" "))} ;;`
      ),
    "  esac",
    "}",
    "complete -F _rhizome rhizome",
    "",
  ].join("\n");
}

/** `value` as a zsh completion action. */
function zshAction(value: ValueCompletion): string {
  switch (value.kind) {
    case "words":
      return `compadd -- ${value.words.map(quote).join(" ")}`;
    case "files":
      return "_files";
    case "directories":
      return "_files -/";
    case "commands":
      return "_describe -t commands 'rhizome command' commands";
    case "none":
      return ":";
  }
}

/** A zsh `_describe` array entry: `name:description` with colons escaped. */
function described(name: string, description: string): string {
  return quote(`${name.replaceAll(":", "\\:")}:${description}`);
}

/**
 * The zsh completion script.
 *
 * @param model What completes.
 * @returns The script: source it, or save it as `_rhizome` in a directory on `$fpath`.
 */
export function zshCompletion(model: CompletionModel): string {
  const flagValueCases: string[] = [];
  for (const command of model.commands) {
    for (const flag of command.flags.filter((flag) => flag.takesValue)) {
      flagValueCases.push(
        `    ${command.name}:--${flag.name}) ${zshAction(flag.value)}; return ;;`,
      );
    }
  }
  for (const flag of model.globalFlags.filter((flag) => flag.takesValue)) {
    flagValueCases.push(`    *:--${flag.name}) ${zshAction(flag.value)}; return ;;`);
  }
  const commandCases: string[] = [];
  for (const command of model.commands) {
    const subcommands = command.forms.filter((form) => form.name !== "");
    const positionalCases = command.forms.flatMap((form) =>
      form.positionals.map((value, index) =>
        `        ${form.name}:${index}) ${zshAction(value)}; return ;;`
      )
    );
    commandCases.push(
      `    ${command.name})`,
      `      flags=(${
        command.flags.map((flag) => described(`--${flag.name}`, flag.description)).join(" ")
      })`,
      `      subcommands=(${subcommands.map((form) => quote(form.name)).join(" ")})`,
      `      if [[ $PREFIX == -* ]]; then`,
      "        _describe -t flags 'flag' flags -- global_flags; return",
      "      fi",
      "      if (( ${#subcommands} )) && [[ -z $sub ]]; then",
      "        compadd -- $subcommands; return",
      "      fi",
      `      case "$sub:$npos" in`,
      ...positionalCases,
      "      esac",
      "      ;;",
    );
  }
  return [
    "#compdef rhizome",
    "# zsh completion for rhizome: generated by `rhizome completion zsh` from its command table.",
    "# Load it with: source <(rhizome completion zsh)   (after compinit)",
    "# or install it: rhizome completion zsh > ~/.zfunc/_rhizome  (with ~/.zfunc on $fpath)",
    "_rhizome() {",
    "  local -a commands global_flags flags subcommands",
    "  local cmd='' sub='' word prev npos=0 i",
    `  commands=(${
      model.commands.map((command) => described(command.name, command.summary)).join(" ")
    })`,
    `  global_flags=(${
      model.globalFlags.map((flag) => described(`--${flag.name}`, flag.description)).join(" ")
    })`,
    "  for ((i = 2; i < CURRENT; i++)); do",
    "    word=${words[i]}",
    '    case "$cmd:$word" in',
    `      ${valueFlagPatterns(model)}) i=$((i + 1)); continue ;;`,
    "      *:-*) continue ;;",
    "    esac",
    "    if [[ -z $cmd ]]; then",
    "      cmd=$word",
    '    elif [[ -z $sub && " $(_rhizome_subcommands $cmd) " == *" $word "* ]]; then',
    "      sub=$word",
    "    else",
    "      npos=$((npos + 1))",
    "    fi",
    "  done",
    "  prev=${words[CURRENT-1]}",
    '  case "$cmd:$prev" in',
    ...flagValueCases,
    "  esac",
    "  if [[ -z $cmd ]]; then",
    "    if [[ $PREFIX == -* ]]; then",
    "      _describe -t flags 'flag' global_flags",
    "    else",
    "      _describe -t commands 'rhizome command' commands",
    "    fi",
    "    return",
    "  fi",
    '  case "$cmd" in',
    ...commandCases,
    "  esac",
    "}",
    "_rhizome_subcommands() {",
    '  case "$1" in',
    ...model.commands.filter((command) => command.forms.some((form) => form.name !== ""))
      .map((command) =>
        `    ${command.name}) print -r -- ${
          quote(command.forms.map((form) => form.name).join(" "))
        } ;;`
      ),
    "  esac",
    "}",
    "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then",
    '  _rhizome "$@"',
    "else",
    "  compdef _rhizome rhizome",
    "fi",
    "",
  ].join("\n");
}
