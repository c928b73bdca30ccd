/**
 * `rhizome author new|list|use`: the author keys in the data directory (`authors/`). They are
 * local files, so these commands need no running node.
 *
 * @module
 */

import { UsageError } from "../../core/errors.ts";
import { AuthorKeys } from "../../node/data_dir/author_keys.ts";
import type { AuthorReport } from "../../services/discussion/reports.ts";
import type { Command, CommandContext } from "../command.ts";
import { OK } from "../output.ts";
import { unknownActionError } from "../suggest.ts";

const actions = ["new", "list", "use"];

/** Makes, lists and chooses author keys. */
export const authorCommand: Command = {
  name: "author",
  summary: "Make, list or choose the author keys you sign posts with",
  usage: "author new NAME | list | use NAME",
  description: [
    "Author keys sign threads, posts, votes and profiles. They are separate from the node's",
    "identity, so a person can post from any node by copying DIR/authors/NAME.key there. They",
    "live in DIR/authors (mode 0700), one Ed25519 key per file (mode 0600); no node needs to run.",
    "new   makes a key named NAME (1 to 32 lower-case letters, digits, - or _); the first one",
    "      becomes the current author. Refuses a name that is taken.",
    "list  the keys: name, public key, when made; * marks the current one.",
    "use   makes NAME the current author, the one publishing commands sign with by default",
    "      (--author NAME picks another for one command).",
  ].join("\n"),
  examples: [
    "rhizome author new alice",
    "rhizome author list --json | jq -r '.authors[] | select(.current) | .public_key'",
    "rhizome author use bob",
  ],
  flags: {},
  positionals: { min: 1, max: 2 },
  async run(context) {
    const [action, name] = context.positionals;
    if (!actions.includes(action)) {
      throw unknownActionError("author", action, actions);
    }
    if (action === "list" && name !== undefined) {
      throw new UsageError(`unexpected argument "${name}" for 'rhizome author list'`);
    }
    if (action !== "list" && name === undefined) {
      throw new UsageError(`'rhizome author ${action}' needs a NAME`);
    }
    const authors = new AuthorKeys(context.dataDir().authorsPath);
    if (action === "new") {
      const report = await authors.create(name);
      context.output.result(
        `created author ${report.name}${report.current ? " (current)" : ""}: ${report.public_key}`,
        report,
      );
    } else if (action === "use") {
      const report = await authors.use(name);
      context.output.result(`current author: ${report.name} (${report.public_key})`, report);
    } else {
      await runList(context, await authors.list());
    }
    return OK;
  },
};

function runList(context: CommandContext, authors: AuthorReport[]): void {
  const width = Math.max(0, ...authors.map((author) => author.name.length));
  const lines = authors.map((author) =>
    `${author.current ? "*" : " "} ${author.name.padEnd(width)}  ${author.public_key}  ` +
    author.created_at
  );
  context.output.result(
    lines.length > 0 ? lines.join("\n") : "(no authors; create one with `rhizome author new NAME`)",
    { authors },
  );
}
