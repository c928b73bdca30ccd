/**
 * `rhizome help [COMMAND]`.
 *
 * @module
 */

import { UsageError } from "../../core/errors.ts";
import type { Command } from "../command.ts";
import { commandHelp, overviewHelp } from "../help.ts";
import { OK } from "../output.ts";

/**
 * The help command, which lists `commands`.
 *
 * @param commands Every command, this one included.
 * @returns The command.
 */
export function helpCommand(commands: () => readonly Command[]): Command {
  return {
    name: "help",
    summary: "Show the command list, or one command's flags and examples",
    usage: "help [COMMAND]",
    description: "Without a command, lists every command, the global flags and the exit statuses.",
    examples: ["rhizome help", "rhizome help init"],
    flags: {},
    positionals: { min: 0, max: 1 },
    run(context) {
      const [name] = context.positionals;
      if (name === undefined) {
        context.output.text(overviewHelp(commands()));
        return Promise.resolve(OK);
      }
      const command = commands().find((candidate) => candidate.name === name);
      if (!command) {
        throw new UsageError(`unknown command "${name}" (run 'rhizome help' for the list)`);
      }
      context.output.text(commandHelp(command));
      return Promise.resolve(OK);
    },
  };
}
