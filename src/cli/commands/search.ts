/**
 * `rhizome search`: full-text search through the running node's control API (its own index, and
 * the network's unless `--local`), and `--reindex` to rebuild the index from the store.
 *
 * @module
 */

import { ControlClient } from "../../api/control_client.ts";
import { controlRoutes } from "../../api/routes.ts";
import { parseCursor, parsePageLimit } from "../../api/wire.ts";
import { UsageError } from "../../core/errors.ts";
import { getLog } from "../../core/log.ts";
import {
  queryCharsMax,
  type SearchHit,
  type SearchPage,
  searchPageDefault,
  searchPageMax,
} from "../../services/search/mod.ts";
import type { Command, CommandContext } from "../command.ts";
import { OK } from "../output.ts";

/** `rhizome search`. */
export const searchCommand: Command = {
  name: "search",
  summary: "Find threads and messages by their words, on this node and across the network",
  usage: "search QUERY [--limit N] [--cursor C] [--local] [--explain] | search --reindex",
  description: [
    "Finds documents holding every term of QUERY, best first: BM25 relevance with freshness",
    "(and popularity), weighted by the config's [search] table; at most two results per author",
    'count in full. Terms: word, prefix* (2 characters or more), "words in a row", tag:name.',
    "Case and accents are ignored; Chinese, Japanese and Thai words are found without spaces.",
    `A query is at most ${queryCharsMax} characters and 8 terms. --limit N results per page`,
    `(1..${searchPageMax}, default ${searchPageDefault}); the next page with the printed --cursor C`,
    "(pages stay stable while new posts arrive). --local asks only this node's index; otherwise",
    "the network's postings are read too, and what they could not read in time is listed as",
    "missing. --explain shows each part of every score. --reindex rebuilds this node's index",
    "from its store. Needs a running node. Exit 2 for a bad query (one line saying why).",
  ].join("\n"),
  examples: [
    "rhizome search tomatoes",
    'rhizome search "\\"green house\\" tag:garden" --limit 20',
    "rhizome search 'bicy*' --local --explain --json",
    "rhizome search --reindex",
  ],
  routes: [controlRoutes.search, controlRoutes.reindexSearch],
  flags: {
    limit: { type: "string", valueName: "N", description: "Results per page" },
    cursor: { type: "string", valueName: "C", description: "The next page" },
    local: { type: "boolean", description: "Only this node's index" },
    explain: { type: "boolean", description: "Show each part of every score" },
    reindex: { type: "boolean", description: "Rebuild this node's index from its store" },
  },
  positionals: { min: 0, max: 1 },
  async run(context) {
    const [query] = context.positionals;
    if (context.flags.reindex === true) {
      if (query !== undefined) throw new UsageError("'rhizome search --reindex' takes no query");
      const misplaced = ["limit", "cursor", "local", "explain"]
        .find((flag) => context.flags[flag] !== undefined);
      if (misplaced) throw new UsageError(`flag --${misplaced} is not for --reindex`);
      const report = await (await client(context)).call(controlRoutes.reindexSearch);
      context.output.result(
        `reindexed ${report.documents} documents and ${report.profiles} profiles in ${report.elapsed_ms} ms`,
        report,
      );
      return OK;
    }
    if (query === undefined) throw new UsageError("'rhizome search' needs a QUERY (or --reindex)");
    const { limit, cursor } = context.flags;
    const page = await (await client(context)).call(controlRoutes.search, {
      query,
      limit: typeof limit === "string" ? parsePageLimit(limit, searchPageMax) : searchPageDefault,
      ...(typeof cursor === "string" ? { cursor: parseCursor(cursor) } : {}),
      local: context.flags.local === true,
      explain: context.flags.explain === true,
    });
    if (!context.output.json && page.missing.length > 0) {
      getLog("cli").warning("missing {count}: {what}", {
        count: page.missing.length,
        what: page.missing.slice(0, 3).join("; "),
      });
    }
    context.output.result(pageText(page), page);
    return OK;
  },
};

function client(context: CommandContext): Promise<ControlClient> {
  return ControlClient.fromDataDir(context.dataDir().path);
}

function pageText(page: SearchPage): string {
  const lines = page.results.flatMap(hitLines);
  if (lines.length === 0) lines.push("(no results)");
  if (page.next_cursor !== null) lines.push(`next: --cursor ${page.next_cursor}`);
  return lines.join("\n");
}

function hitLines(hit: SearchHit): string[] {
  const title = hit.kind === "thread" ? line(hit.title) : `(message in ${hit.thread})`;
  const lines = [`${hit.id}  ${hit.created_at}  ${hit.score.toFixed(3)}  ${title}`];
  if (hit.excerpt) lines.push(`    ${line(hit.excerpt)}`);
  if (hit.explain) {
    const e = hit.explain;
    lines.push(
      `    bm25 ${e.bm25} relevance ${e.relevance} freshness ${e.freshness} ` +
        `popularity ${e.popularity} author_factor ${e.author_factor}`,
    );
  }
  return lines;
}

/** On one line, control characters replaced: peers' text never moves the terminal. */
function line(text: string): string {
  return text.replace(/\p{Cc}/gu, "\uFFFD");
}
