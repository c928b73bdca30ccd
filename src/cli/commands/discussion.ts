/**
 * The discussion commands, which talk to the running node through its control API: `thread
 * new|list|show`, `post`, `vote` and `profile set|show`. Publishing commands sign with an author
 * key from the data directory (`rhizome author`): the one `--author NAME` names, else the
 * current one. The CLI checks that key, and the body's size and UTF-8, before it sends anything.
 *
 * @module
 */

import { ControlClient } from "../../api/control_client.ts";
import { controlRoutes } from "../../api/routes.ts";
import { parseAuthorKeyHex, parseCursor, parsePageLimit } from "../../api/wire.ts";
import { utf8Encode } from "../../core/bytes.ts";
import { ContentError, UsageError } from "../../core/errors.ts";
import { getLog } from "../../core/log.ts";
import { bodyBytesMax } from "../../content/documents.ts";
import {
  messagePageDefault,
  messagePageMax,
  refuseBlankBody,
  threadPageDefault,
  threadPageMax,
} from "../../services/discussion/mod.ts";
import type {
  MessageView,
  PublishReport,
  ThreadList,
  ThreadView,
  VoteCount,
} from "../../services/discussion/reports.ts";
import type { ProfileRequest } from "../../services/discussion/requests.ts";
import { AuthorKeys } from "../../node/data_dir/author_keys.ts";
import type { Command, CommandContext, FlagSpec } from "../command.ts";
import { OK } from "../output.ts";
import { resolveAuthorKey, resolveId } from "../ids.ts";
import { relativeTime, shortId } from "../human.ts";
import { unknownActionError } from "../suggest.ts";
import { rankingText } from "./popularity.ts";

const authorFlag: FlagSpec = {
  type: "string",
  valueName: "NAME",
  description: "Sign with this author key (default: the current author)",
};

/** Each `thread` action's own flags; any other `thread` flag is refused with it. */
const threadActionFlags: Record<string, readonly string[]> = {
  new: ["title", "tag", "author"],
  list: ["recent", "popular", "local", "explain", "limit", "cursor"],
  show: ["limit", "cursor"],
};

/** `rhizome thread new|list|show`. */
export const threadCommand: Command = {
  name: "thread",
  summary: "Start a thread, list threads, or show one with its messages",
  usage: "thread new --title T [--tag X]... [--author NAME] [BODY|-] | " +
    "list [--recent|--popular [--local] [--explain]] [--limit N] [--cursor C] | " +
    "show ID [--limit N] [--cursor C]",
  description: [
    "new   publishes a thread: a one-line title (up to 200 bytes), an opening post (BODY, or",
    "      standard input with - or no BODY; UTF-8, up to 16 KiB) and up to 8 tags (lower-case",
    "      words). Prints its ID.",
    "list  one page of threads, newest first (--recent, the default) or by popularity",
    "      (--popular, with its score): short ID, age, votes, messages, title and author (by name",
    `      where one is published). --limit N threads (1..${threadPageMax}, default ${threadPageDefault});`,
    "      the next page with the printed --cursor C (none after the last page). --popular reads",
    "      the seeds' global ranking (this node's own without one; --local: this node's only);",
    "      --explain shows each score's parts (docs/popularity.md).",
    "show  the thread ID with one page of its messages as a tree of replies, and the votes.",
    "      Any ID may be given by its first 4 or more hex digits, as listings print it.",
    `      --limit N messages (1..${messagePageMax}, default ${messagePageDefault}); the next page`,
    "      with --cursor C. Pieces the network could not return are listed as missing.",
    "Needs a running node on the data directory. Exit 1 when the node refuses the content or",
    "cannot find the thread; exit 4 without an author key (see 'rhizome author').",
  ].join("\n"),
  examples: [
    'rhizome thread new --title "Hello" --tag intro "First post"',
    "cat notes.md | rhizome thread new --title Notes -",
    "rhizome thread list --popular --limit 10",
    "rhizome thread show $(rhizome thread list --json | jq -r '.threads[0].id')",
  ],
  routes: [controlRoutes.newThread, controlRoutes.listThreads, controlRoutes.showThread],
  flags: {
    title: { type: "string", valueName: "T", description: "new: the title (one line)" },
    tag: {
      type: "string",
      valueName: "X",
      multiple: true,
      description: "new: a tag; repeat for more",
    },
    author: { ...authorFlag, description: `new: ${authorFlag.description.toLowerCase()}` },
    recent: { type: "boolean", description: "list: newest first (the default)" },
    popular: { type: "boolean", description: "list: by popularity (the global ranking)" },
    local: { type: "boolean", description: "list --popular: this node's own ranking" },
    explain: { type: "boolean", description: "list --popular: each score's parts" },
    limit: { type: "string", valueName: "N", description: "list, show: items per page" },
    cursor: { type: "string", valueName: "C", description: "list, show: the next page" },
  },
  positionals: { min: 1, max: 2 },
  run(context) {
    const [action, argument] = context.positionals;
    const ownFlags = threadActionFlags[action];
    if (ownFlags === undefined) {
      throw unknownActionError("thread", action, Object.keys(threadActionFlags));
    }
    const misplaced = Object.keys(threadCommand.flags)
      .find((flag) => context.flags[flag] !== undefined && !ownFlags.includes(flag));
    if (misplaced) {
      throw new UsageError(`flag --${misplaced} is not for 'rhizome thread ${action}'`);
    }
    if (action === "new") return runNewThread(context, argument);
    if (argument !== undefined && action === "list") {
      throw new UsageError(`unexpected argument "${argument}" for 'rhizome thread list'`);
    }
    if (action === "list") return runListThreads(context);
    if (argument === undefined) throw new UsageError("'rhizome thread show' needs a thread ID");
    return runShowThread(context, argument);
  },
};

/** `rhizome post`. */
export const postCommand: Command = {
  name: "post",
  summary: "Post a message in a thread, or a reply to one of its messages",
  usage: "post THREAD_ID [--reply-to MSG_ID] [--author NAME] BODY|-",
  description: [
    "Publishes a message in the thread THREAD_ID: BODY, or standard input with - (UTF-8, 1 byte",
    "to 16 KiB). --reply-to makes it a reply to that message of the thread. The thread's index,",
    "the parent's replies and the author's list are updated on the nodes responsible for them.",
    "Prints the message's ID. Exit 1 when the thread or the parent cannot be found or the body",
    "is refused; exit 4 without an author key.",
  ].join("\n"),
  examples: [
    'rhizome post 3f2a… "I agree"',
    "rhizome post 3f2a… --reply-to 9c1b… - < reply.txt",
    "rhizome post 3f2a… --author bob --json 'Hello' | jq -r .id",
  ],
  routes: [controlRoutes.post],
  flags: {
    "reply-to": { type: "string", valueName: "MSG_ID", description: "Reply to this message" },
    author: authorFlag,
  },
  positionals: { min: 2, max: 2 },
  async run(context) {
    const [threadText, word] = context.positionals;
    const api = lazyClient(context);
    const thread = await resolveId(api, threadText, "thread ID", ["thread"]);
    const replyText = context.flags["reply-to"];
    const replyTo = typeof replyText === "string"
      ? await resolveId(api, replyText, "message ID", ["message"])
      : undefined;
    const body = await readBody(context, word, "post the message", "message");
    const author = await signingAuthor(context);
    const report = await (await api()).call(controlRoutes.post, {
      thread,
      ...(replyTo === undefined ? {} : { replyTo }),
      body,
      author,
    });
    context.output.result(publishedLine(report), report);
    return OK;
  },
};

/** `rhizome vote`. */
export const voteCommand: Command = {
  name: "vote",
  summary: "Vote a thread or a message up or down",
  usage: "vote ID up|down [--author NAME]",
  description: [
    "Publishes the author's vote on the thread or message ID. One vote per author and target:",
    "a new vote replaces the author's earlier one; casting the same vote again is refused",
    "(VOTE_REPEATED, exit 1) and changes nothing. Exit 1 when the target cannot be found.",
  ].join("\n"),
  examples: ["rhizome vote 3f2a… up", "rhizome vote 9c1b… down --author bob --json"],
  routes: [controlRoutes.vote],
  flags: { author: authorFlag },
  positionals: { min: 2, max: 2 },
  async run(context) {
    const [targetText, direction] = context.positionals;
    if (direction !== "up" && direction !== "down") {
      throw new UsageError(`'rhizome vote' takes up or down, got "${direction}"`);
    }
    const api = lazyClient(context);
    const target = await resolveId(api, targetText, "vote target ID");
    const author = await signingAuthor(context);
    const report = await (await api()).call(controlRoutes.vote, {
      target,
      direction,
      author,
    });
    context.output.result(
      publishedLine(report, `vote ${direction} on ${shortId(target.toHex())}`),
      report,
    );
    return OK;
  },
};

/** `rhizome profile set|show`. */
export const profileCommand: Command = {
  name: "profile",
  summary: "Publish your author profile, or show anyone's",
  usage: "profile set [--name N] [--about A] [--key HEX]... [--author NAME] | " +
    "show [AUTHOR_KEY_HEX]",
  description: [
    "set   publishes the author's profile: a display name (up to 64 bytes), a few words about",
    "      the author (up to 1 KiB) and other public keys of the same person (64 hex digits",
    "      each, up to 8). Fields not given keep their published value.",
    "show  the profile of the author with that public key (64 hex digits); the current",
    "      author's when none is given. Exit 1 when the author has published none.",
  ].join("\n"),
  examples: [
    'rhizome profile set --name "Alice" --about "Gardener, Lyon"',
    "rhizome profile show",
    "rhizome profile show 5d41… --json | jq -r .name",
  ],
  routes: [controlRoutes.setProfile, controlRoutes.showProfile],
  flags: {
    name: { type: "string", valueName: "N", description: "set: the display name" },
    about: { type: "string", valueName: "A", description: "set: a few words about the author" },
    key: {
      type: "string",
      valueName: "HEX",
      multiple: true,
      description: "set: another public key of the same person; repeat for more",
    },
    author: { ...authorFlag, description: `set: ${authorFlag.description.toLowerCase()}` },
  },
  positionals: { min: 1, max: 2 },
  run(context) {
    const [action, argument] = context.positionals;
    if (action === "set") {
      if (argument !== undefined) {
        throw new UsageError(
          `unexpected argument "${argument}" for 'rhizome profile set' (use --name, --about)`,
        );
      }
      return runSetProfile(context);
    }
    if (action === "show") {
      const misplaced = Object.keys(profileCommand.flags)
        .find((flag) => context.flags[flag] !== undefined);
      if (misplaced) throw new UsageError(`flag --${misplaced} is for 'rhizome profile set'`);
      return runShowProfile(context, argument);
    }
    throw unknownActionError("profile", action, ["set", "show"]);
  },
};

async function runNewThread(context: CommandContext, word: string | undefined): Promise<number> {
  const title = context.flags.title;
  if (typeof title !== "string") {
    throw new UsageError("'rhizome thread new' needs --title T");
  }
  const tags = context.flags.tag;
  const body = await readBody(context, word, "start the thread", "thread");
  const author = await signingAuthor(context);
  const report = await (await client(context)).call(controlRoutes.newThread, {
    title,
    body,
    ...(Array.isArray(tags) ? { tags } : {}),
    author,
  });
  context.output.result(publishedLine(report), report);
  return OK;
}

async function runListThreads(context: CommandContext): Promise<number> {
  if (context.flags.recent === true && context.flags.popular === true) {
    throw new UsageError("Choose one order, not --recent and --popular");
  }
  const popular = context.flags.popular === true;
  const local = context.flags.local === true;
  const explain = context.flags.explain === true;
  if (!popular && (local || explain)) {
    throw new UsageError("--local and --explain are for 'rhizome thread list --popular'");
  }
  const limitText = context.flags.limit;
  const cursorText = context.flags.cursor;
  const order = popular ? "popular" : "recent";
  const limit = typeof limitText === "string"
    ? parsePageLimit(limitText, threadPageMax)
    : threadPageDefault;
  let cursor = typeof cursorText === "string" ? parseCursor(cursorText) : undefined;
  const api = await client(context);
  // The node may answer a short page before the end (it reads at most a few hour shards per
  // call): the CLI asks on, so a page is full or the last, and the last has no cursor.
  const list: ThreadList = { threads: [], next_cursor: null, missing: [] };
  for (let calls = 0; calls < listCallsMax; calls++) {
    const page = await api.call(controlRoutes.listThreads, {
      order,
      limit: limit - list.threads.length,
      ...(cursor === undefined ? {} : { cursor }),
      ...(local ? { source: "local" as const } : {}),
      ...(explain ? { explain: true } : {}),
    });
    const listed = new Set(list.threads.map((thread) => thread.id));
    list.threads.push(...page.threads.filter((thread) => !listed.has(thread.id)));
    list.missing.push(...page.missing.filter((line) => !list.missing.includes(line)));
    list.next_cursor = page.next_cursor;
    if (page.ranking !== undefined) list.ranking = page.ranking;
    // A cursor that did not move would only repeat the page.
    if (page.next_cursor === null || page.next_cursor === cursor) break;
    if (list.threads.length >= limit) break;
    cursor = page.next_cursor;
  }
  warnMissing(context, list.missing);
  const listing = threadListText(list, Date.now(), popular);
  context.output.result(popular ? rankingText(list, listing, explain) : listing, list);
  return OK;
}

async function runShowThread(context: CommandContext, idText: string): Promise<number> {
  const limit = context.flags.limit;
  const cursor = context.flags.cursor;
  const request = {
    limit: typeof limit === "string" ? parsePageLimit(limit, messagePageMax) : messagePageDefault,
    ...(typeof cursor === "string" ? { cursor: parseCursor(cursor) } : {}),
  };
  const api = lazyClient(context);
  const thread = await resolveId(api, idText, "thread ID", ["thread"]);
  const view = await (await api()).call(controlRoutes.showThread, { thread, ...request });
  warnMissing(context, view.missing);
  context.output.result(threadViewText(view, Date.now()), view);
  return OK;
}

/**
 * Calls one `thread list` makes at most to fill its page. A quiet network's listing ends within
 * three (the reader's test says so); each call is bounded by the node's read budget (1.5 s).
 */
const listCallsMax = 4;

/** Missing pieces a warning names before it says how many more there are. */
const missingNamedMax = 3;

/**
 * One warning line on stderr when a page is partial: how many pieces could not be read, the
 * first few, and where the rest are. The page itself is still the result (exit status 0). With
 * `--json` the object's `missing` says it all and nothing is printed.
 */
function warnMissing(context: CommandContext, missing: string[]): void {
  if (context.output.json || missing.length === 0) return;
  const named = missing.slice(0, missingNamedMax).map(printableLine).join("; ");
  const more = missing.length > missingNamedMax
    ? `; and ${missing.length - missingNamedMax} more (--json lists them)`
    : "";
  getLog("cli").warning("missing {count}: {what}", {
    count: missing.length,
    what: `${named}${more}`,
  });
}

async function runSetProfile(context: CommandContext): Promise<number> {
  const { name, about, key } = context.flags;
  if (name === undefined && about === undefined && key === undefined) {
    throw new UsageError("'rhizome profile set' needs --name, --about or --key");
  }
  const request: ProfileRequest = {
    ...(typeof name === "string" ? { name } : {}),
    ...(typeof about === "string" ? { about } : {}),
    ...(Array.isArray(key) ? { keys: key.map(parseAuthorKeyHex) } : {}),
    author: await signingAuthor(context),
  };
  const report = await (await client(context)).call(controlRoutes.setProfile, request);
  context.output.result(publishedLine(report, `the profile of ${request.author}`), report);
  return OK;
}

async function runShowProfile(context: CommandContext, keyText?: string): Promise<number> {
  const api = await client(context);
  const author = keyText === undefined
    ? (await authorKeys(context).load()).keyPair.publicKey
    : await resolveAuthorKey(api, keyText);
  const profile = await api.call(controlRoutes.showProfile, author);
  const lines = [
    `name     ${printableLine(profile.name)}`,
    `about    ${printable(profile.about).replaceAll("\n", "\n         ")}`,
    ...profile.keys.map((key) => `key      ${key}`),
    `author   ${profile.author}`,
    `updated  ${timeText(profile.updated_at, Date.now())}`,
  ];
  context.output.result(lines.map((line) => line.trimEnd()).join("\n"), profile);
  return OK;
}

async function client(context: CommandContext): Promise<ControlClient> {
  return await ControlClient.fromDataDir(context.dataDir().path);
}

/** The control API client, found on first use and kept. */
function lazyClient(context: CommandContext): () => Promise<ControlClient> {
  let found: Promise<ControlClient> | undefined;
  return () => found ??= client(context);
}

function authorKeys(context: CommandContext): AuthorKeys {
  return new AuthorKeys(context.dataDir().authorsPath);
}

/**
 * The name of the author to sign with: `--author`, else the current one. Loaded here, so a
 * missing or damaged key is reported before the node is asked anything.
 */
async function signingAuthor(context: CommandContext): Promise<string> {
  const flag = context.flags.author;
  return (await authorKeys(context).load(typeof flag === "string" ? flag : undefined)).name;
}

/**
 * A body: the word itself, or standard input for `-` or no word. Refused before any request
 * when over {@link bodyBytesMax} or (from standard input) not UTF-8.
 */
async function readBody(
  context: CommandContext,
  word: string | undefined,
  action: string,
  kind: "thread" | "message",
): Promise<string> {
  if (word !== undefined && word !== "-") {
    const length = utf8Encode(word).length;
    if (length > bodyBytesMax) {
      throw new ContentError(
        "CONTENT_INVALID",
        `Cannot ${action}: the body is ${length} bytes, the limit is ${bodyBytesMax}`,
      );
    }
    refuseBlankBody(word, kind);
    return word;
  }
  if (context.stdinIsTerminal()) {
    // Otherwise a forgotten BODY looks like a command that hangs.
    context.output.note(
      "rhizome: reading the body from standard input; end it with Ctrl-D (Ctrl-C cancels)",
    );
  }
  const text = await readStdinBody(context, action);
  refuseBlankBody(text, kind);
  return text;
}

async function readStdinBody(context: CommandContext, action: string): Promise<string> {
  const bytes = await context.readStdin(bodyBytesMax);
  if (bytes.length > bodyBytesMax) {
    throw new ContentError(
      "CONTENT_INVALID",
      `Cannot ${action}: standard input holds more than ${bodyBytesMax} bytes (the body limit)`,
    );
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ContentError(
      "CONTENT_INVALID",
      `Cannot ${action}: standard input is not valid UTF-8 text`,
    );
  }
}

/**
 * One line saying what a publish did, for people: what, its ID (whole, to copy), and how many
 * nodes hold it. The indexes it was announced in are counted here and named in `--json`.
 */
function publishedLine(report: PublishReport, what?: string): string {
  const indexes = Object.keys(report.indexes).length;
  const copies = `held by ${report.holders} node${report.holders === 1 ? "" : "s"} ` +
    `(${report.quorum} needed)`;
  const announced = indexes > 0
    ? `, announced in ${indexes} ${indexes === 1 ? "index" : "indexes"}`
    : "";
  const subject = what ?? `${report.kind} ${report.id}`;
  return `published ${subject}: ${copies}${announced}`;
}

/** An author for people: the published name and the key's start, or the key's start alone. */
function authorText(key: string, name: string | undefined): string {
  const short = key.slice(0, authorKeyDigitsShown);
  return name === undefined ? short : `${printableLine(name)} (${short})`;
}

/**
 * Hex digits of an author's key shown beside a name: two authors may pick one name, so the
 * key's start tells them apart.
 */
const authorKeyDigitsShown = 8;

function threadListText(list: ThreadList, nowMs: number, popular: boolean): string {
  const rows = list.threads.map((thread) => [
    shortId(thread.id),
    relativeTime(thread.created_at, nowMs),
    thread.votes === undefined ? "?" : votesText(thread.votes),
    thread.messages === undefined ? "?" : `${thread.messages}${thread.messages_more ? "+" : ""}`,
    ...(popular ? [thread.score === undefined ? "?" : String(thread.score)] : []),
    `${printableLine(thread.title)}  by ${authorText(thread.author, thread.author_name)}`,
  ]);
  if (rows.length === 0) return list.next_cursor === null ? "(no threads)" : nextLine(list);
  const header = ["id", "posted", "votes", "msgs", ...(popular ? ["score"] : []), "title"];
  const lines = table([header, ...rows]);
  if (popular) {
    lines.push("score: popularity points (docs/popularity.md; --explain shows the parts)");
  }
  if (list.next_cursor !== null) lines.push(nextLine(list));
  return lines.join("\n");
}

/** Where the next page is, as the command to type. */
function nextLine(page: { next_cursor: string | null }): string {
  return `next page: --cursor ${page.next_cursor}`;
}

/** Rows as columns: each cell padded to its column's widest, the last column as it is. */
function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) =>
    Math.max(...rows.map((row) => [...(row[column] ?? "")].length))
  );
  return rows.map((row) =>
    row.map((cell, column) =>
      column === row.length - 1 ? cell : cell + " ".repeat(widths[column] - [...cell].length)
    ).join("  ").trimEnd()
  );
}

function threadViewText(view: ThreadView, nowMs: number): string {
  const { thread } = view;
  const lines = [
    printableLine(thread.title),
    `  id        ${thread.id}`,
    `  author    ${authorText(thread.author, thread.author_name)}`,
    `  created   ${timeText(thread.created_at, nowMs)}`,
    ...(thread.tags.length > 0 ? [`  tags      ${thread.tags.map(printableLine).join(", ")}`] : []),
    `  votes     ${votesText(thread.votes)}`,
    `  messages  ${thread.messages}`,
  ];
  if (thread.body !== "") lines.push("", ...indented(thread.body, "  "));
  lines.push("");
  if (view.messages.length === 0) lines.push("(no messages on this page)");
  for (const message of view.messages) lines.push(...messageLines(message, "", nowMs));
  if (view.missing.length > 0) {
    lines.push("", ...view.missing.map((what) => `missing: ${printableLine(what)}`));
  }
  if (view.next_cursor !== null) lines.push("", nextLine(view));
  return lines.join("\n");
}

/** A time for people: how long ago, and the date and minute in UTC. */
function timeText(iso: string, nowMs: number): string {
  const relative = relativeTime(iso, nowMs);
  const exact = `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
  return relative.startsWith(iso.slice(0, 10)) ? exact : `${relative} (${exact})`;
}

/** A message, its body, then its replies one level deeper. */
function messageLines(message: MessageView, indent: string, nowMs: number): string[] {
  const orphan = message.parent_missing
    ? `  (reply to ${shortId(message.parent!)}, which could not be read)`
    : "";
  return [
    `${indent}- ${shortId(message.id)}  ${authorText(message.author, message.author_name)}  ` +
    `${relativeTime(message.created_at, nowMs)}  ${votesText(message.votes)}${orphan}`,
    ...indented(message.body, `${indent}  `),
    ...message.replies.flatMap((reply) => messageLines(reply, `${indent}  `, nowMs)),
  ];
}

function votesText(votes: VoteCount): string {
  return `+${votes.up} -${votes.down}`;
}

function indented(text: string, indent: string): string[] {
  return printable(text).split("\n").map((line) => indent + line);
}

/**
 * Text from the network, safe to print on a terminal: control characters other than newline
 * and tab (escape sequences could rewrite the screen or the title bar) become U+FFFD.
 */
function printable(text: string): string {
  return text.replace(/[^\P{Cc}\n\t]/gu, "\uFFFD");
}

/** {@link printable}, and on one line: for titles, names and tags. */
function printableLine(text: string): string {
  return text.replace(/\p{Cc}/gu, "\uFFFD");
}
