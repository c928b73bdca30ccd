/**
 * `rhizome completion bash|zsh`.
 *
 * @module
 */

import { UsageError } from "../../core/errors.ts";
import type { Command } from "../command.ts";
import {
  bashCompletion,
  COMPLETION_SHELLS,
  completionModel,
  type CompletionShell,
  zshCompletion,
} from "../completion.ts";
import { OK } from "../output.ts";

/**
 * The completion command, which completes `commands`.
 *
 * @param commands Every command, this one included.
 * @returns The command.
 */
export function completionCommand(commands: () => readonly Command[]): Command {
  return {
    name: "completion",
    summary: "Print a shell completion script for bash or zsh",
    usage: "completion bash|zsh",
    description: [
      "Prints a script that completes rhizome's commands, subcommands, flags and their values",
      "(file names, log levels, snapshot scopes) in bash or zsh; it is generated from this",
      'build\'s command table. With --json: {"shell", "script"}.',
      "bash  source <(rhizome completion bash), or save it as",
      "      ~/.local/share/bash-completion/completions/rhizome",
      "zsh   source <(rhizome completion zsh) after compinit, or save it as _rhizome in a",
      "      directory on $fpath",
    ].join("\n"),
    examples: [
      "source <(rhizome completion bash)",
      "rhizome completion zsh > ~/.zfunc/_rhizome",
    ],
    flags: {},
    positionals: { min: 1, max: 1 },
    run(context) {
      const shell = context.positionals[0];
      if (!(COMPLETION_SHELLS as readonly string[]).includes(shell)) {
        throw new UsageError(
          `no completion for "${shell}": choose ${COMPLETION_SHELLS.join(" or ")}`,
        );
      }
      const model = completionModel(commands());
      const script = (shell as CompletionShell) === "bash"
        ? bashCompletion(model)
        : zshCompletion(model);
      if (context.output.json) context.output.result("", { shell, script });
      else context.output.text(script.replace(/\n$/, ""));
      return Promise.resolve(OK);
    },
  };
}
