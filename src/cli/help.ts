/**
 * Help text: the command list and each command's page.
 *
 * @module
 */

import { routeLine } from "../api/routes.ts";
import { type Command, type FlagSpec, GLOBAL_FLAGS } from "./command.ts";

/** The exit statuses, as help and the README list them. */
export const EXIT_STATUS_HELP = `Exit status:
  0   success
  1   failure (the operation failed or found nothing, the content was refused; or the
      command is not in this build)
  2   usage error (unknown command or flag, bad argument)
  3   invalid or unreadable configuration
  4   identity or author key missing, unreadable or corrupt
  5   data directory cannot be created, read or written
  6   init refused: the data directory already holds an identity
  7   store full: this node's store refused the write (no room, or the disk failed it)
  8   not replicated: kept on this node, fewer holders than dht.write_quorum acknowledged
  9   not stored: kept nowhere that counts (fewer holders than dht.write_quorum)
  70  internal error (a bug: please report it)`;

/**
 * The overview `rhizome help` prints.
 *
 * @param commands Every command.
 * @returns The text.
 */
export function overviewHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  const list = commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return [
    "rhizome: an anonymous peer-to-peer discussion network on a Kademlia DHT",
    "",
    "Usage: rhizome <command> [flags]",
    "",
    "Commands:",
    ...list,
    "",
    "Global flags (every command):",
    ...flagLines(GLOBAL_FLAGS),
    "",
    EXIT_STATUS_HELP,
    "",
    "Run 'rhizome help <command>' for a command's flags and examples.",
  ].join("\n");
}

/**
 * The page `rhizome help <command>` prints.
 *
 * @param command The command.
 * @returns The text.
 */
export function commandHelp(command: Command): string {
  const own = Object.keys(command.flags).length > 0
    ? ["", "Flags:", ...flagLines(command.flags)]
    : [];
  const routes = command.routes === undefined || command.routes.length === 0
    ? []
    : ["", `Control API: ${command.routes.map(routeLine).join(", ")}`];
  return [
    `Usage: rhizome ${command.usage}`,
    "",
    command.description,
    ...routes,
    ...own,
    "",
    "Global flags:",
    ...flagLines(GLOBAL_FLAGS),
    "",
    "Examples:",
    ...command.examples.map((example) => `  ${example}`),
  ].join("\n");
}

function flagLines(flags: Record<string, FlagSpec>): string[] {
  const labels = Object.entries(flags).map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : "    ";
    const value = spec.type === "string" ? ` ${spec.valueName ?? "VALUE"}` : "";
    return [`${short}--${name}${value}`, spec.description];
  });
  const width = Math.max(...labels.map(([label]) => label.length));
  return labels.map(([label, description]) => `  ${label.padEnd(width)}  ${description}`);
}
