/**
 * The discussion commands run in this process against a real control API with fake handlers:
 * `author new|list|use` (local files, no node), `thread new|list|show`, `post`, `vote` and
 * `profile set|show`. What each sends, what it prints for people and with `--json`, and that
 * every refusal is one line with the code's exit status and sends nothing.
 */

import assert from "node:assert/strict";
import { ControlApi } from "../../src/api/control_api.ts";
import { fromHex } from "../../src/core/bytes.ts";
import { ContentError } from "../../src/core/errors.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { ExitStatus } from "../../src/core/errors.ts";
import { bodyBytesMax } from "../../src/content/documents.ts";
import { runCli } from "../../src/cli/main.ts";
import type { ThreadList } from "../../src/services/discussion/reports.ts";
import { type CliRun, linesOf, withTempDir } from "../_rhizome.ts";
import {
  authorKey,
  FakeHandlers,
  messageId,
  nextCursor,
  popularKey,
  popularReport,
  profileView,
  publishReport,
  replyId,
  threadId,
  threadList,
  threadView,
} from "../api/_fake_handlers.ts";

interface Fixture {
  node: FakeHandlers;
  dataDir: string;
  /** Runs `rhizome ARGS --data-dir DIR`, with `stdin` as standard input when given. */
  rhizome(args: string[], stdin?: Uint8Array | string): Promise<CliRun>;
}

async function run(
  dataDir: string,
  args: string[],
  stdin?: Uint8Array | string,
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const bytes = typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin;
  const status = await runCli([...args, "--data-dir", dataDir], {
    env: {},
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    ...(bytes === undefined
      ? {}
      : { readStdin: (limit: number) => Promise.resolve(bytes.subarray(0, limit + 1)) }),
  });
  return { status, stdout, stderr };
}

/** A data dir with a node (fake handlers behind a real API) and, unless `noAuthor`, alice. */
async function withNode(
  test: (fixture: Fixture) => Promise<void>,
  options: { noAuthor?: boolean } = {},
): Promise<void> {
  await withTempDir(async (dataDir) => {
    const node = new FakeHandlers();
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: node,
    });
    try {
      if (!options.noAuthor) {
        assert.equal((await run(dataDir, ["author", "new", "alice"])).status, 0);
      }
      await test({ node, dataDir, rhizome: (args, stdin) => run(dataDir, args, stdin) });
    } finally {
      await api.close();
    }
  });
}

/** Asserts a refusal: the status, one line on stderr matching `pattern`, nothing on stdout. */
function assertRefused(run: CliRun, status: number, pattern: RegExp): void {
  assert.equal(run.status, status, run.stderr);
  assert.equal(run.stdout, "");
  const lines = linesOf(run.stderr);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], pattern);
}

Deno.test("author new, list and use work on files, without a node", async () => {
  await withTempDir(async (dataDir) => {
    const created = await run(dataDir, ["author", "new", "alice"]);
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, /^created author alice \(current\): [0-9a-f]{64}\n$/);
    const bob = JSON.parse((await run(dataDir, ["author", "new", "bob", "--json"])).stdout);
    assert.equal(bob.name, "bob");
    assert.equal(bob.current, false);
    const list = await run(dataDir, ["author", "list"]);
    assert.equal(list.status, 0);
    const lines = linesOf(list.stdout);
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^\* alice {2}[0-9a-f]{64} {2}\d{4}-\d\d-\d\dT/);
    assert.match(lines[1], new RegExp(`^  bob    ${bob.public_key}  `));
    const used = await run(dataDir, ["author", "use", "bob", "--json"]);
    assert.deepEqual(JSON.parse(used.stdout), { ...bob, current: true });
    const json = JSON.parse((await run(dataDir, ["author", "list", "--json"])).stdout);
    assert.deepEqual(
      json.authors.map((author: { name: string; current: boolean }) => [
        author.name,
        author.current,
      ]),
      [["alice", false], ["bob", true]],
    );
  });
});

Deno.test("author refusals are one line with the right exit status", async () => {
  await withTempDir(async (dataDir) => {
    const empty = await run(dataDir, ["author", "list"]);
    assert.equal(empty.stdout, "(no authors; create one with `rhizome author new NAME`)\n");
    await run(dataDir, ["author", "new", "alice"]);
    const cases: [string[], number, RegExp][] = [
      [["author", "new", "alice"], ExitStatus.usage, /alice\.key already exists/],
      [["author", "new", "Alice"], ExitStatus.usage, /Cannot use author name "Alice"/],
      [["author", "use", "nobody"], ExitStatus.identity, /no author key nobody in /],
      [["author", "new"], ExitStatus.usage, /'rhizome author new' needs a NAME/],
      [["author", "list", "x"], ExitStatus.usage, /unexpected argument "x"/],
      [["author", "rename", "x"], ExitStatus.usage, /unknown action "rename"/],
    ];
    for (const [args, status, pattern] of cases) {
      assertRefused(await run(dataDir, args), status, pattern);
    }
  });
});

Deno.test("thread new sends title, body, tags and the current author; prints one line", async () => {
  await withNode(async ({ node, rhizome }) => {
    const text = await rhizome(["thread", "new", "--title", "Hi", "--tag", "a", "--tag", "b", "x"]);
    assert.equal(text.status, 0, text.stderr);
    assert.equal(
      text.stdout,
      `published thread ${threadId}: held by 4 nodes (2 needed), announced in 2 indexes\n`,
      "no internal index names for people: --json names them",
    );
    const json = await rhizome(["thread", "new", "--title", "Hi", "--json", "body"]);
    assert.deepEqual(JSON.parse(json.stdout), publishReport("thread"));
    assert.deepEqual(node.received, [
      ["newThread", { title: "Hi", body: "x", tags: ["a", "b"], author: "alice" }],
      ["newThread", { title: "Hi", body: "body", author: "alice" }],
    ]);
  });
});

Deno.test("a body comes from standard input with - or no BODY", async () => {
  await withNode(async ({ node, rhizome }) => {
    assert.equal((await rhizome(["thread", "new", "--title", "T", "-"], "from stdin")).status, 0);
    assert.equal((await rhizome(["thread", "new", "--title", "T"], "héllo\n")).status, 0);
    assert.equal((await rhizome(["post", threadId, "-"], "a reply")).status, 0);
    assert.deepEqual(node.received, [
      ["newThread", { title: "T", body: "from stdin", author: "alice" }],
      ["newThread", { title: "T", body: "héllo\n", author: "alice" }],
      ["post", { thread: NodeId.fromHex(threadId), body: "a reply", author: "alice" }],
    ]);
  });
});

Deno.test("a body that is not UTF-8 or too large is refused before any request", async () => {
  await withNode(async ({ node, rhizome }) => {
    const notUtf8 = new Uint8Array([0x68, 0xc3, 0x28]);
    assertRefused(
      await rhizome(["thread", "new", "--title", "T", "-"], notUtf8),
      ExitStatus.failure,
      /^rhizome: Cannot start the thread: standard input is not valid UTF-8 text$/,
    );
    assertRefused(
      await rhizome(["post", threadId, "-"], notUtf8),
      ExitStatus.failure,
      /^rhizome: Cannot post the message: standard input is not valid UTF-8 text$/,
    );
    assertRefused(
      await rhizome(["post", threadId, "-"], new Uint8Array(bodyBytesMax + 1).fill(0x61)),
      ExitStatus.failure,
      /standard input holds more than 16384 bytes \(the body limit\)$/,
    );
    assertRefused(
      await rhizome(["post", threadId, "é".repeat(bodyBytesMax / 2 + 1)]),
      ExitStatus.failure,
      /^rhizome: Cannot post the message: the body is 16386 bytes, the limit is 16384$/,
    );
    const json = await rhizome(["thread", "new", "--title", "T", "--json", "-"], notUtf8);
    assert.equal(JSON.parse(json.stdout).error.code, "CONTENT_INVALID");
    assert.deepEqual(node.received, []);
  });
});

Deno.test("an empty or blank body is refused before any request, from stdin too", async () => {
  await withNode(async ({ node, rhizome }) => {
    assertRefused(
      await rhizome(["thread", "new", "--title", "T"], ""),
      ExitStatus.failure,
      /^rhizome: Cannot publish thread: the body is empty$/,
    );
    assertRefused(
      await rhizome(["thread", "new", "--title", "T", "  \n\t"]),
      ExitStatus.failure,
      /^rhizome: Cannot publish thread: the body is only white space$/,
    );
    assertRefused(
      await rhizome(["post", threadId, "-"], "\n\n"),
      ExitStatus.failure,
      /^rhizome: Cannot publish message: the body is only white space$/,
    );
    assertRefused(
      await rhizome(["post", threadId, ""]),
      ExitStatus.failure,
      /^rhizome: Cannot publish message: the body is empty$/,
    );
    assert.deepEqual(node.received, []);
  });
});

Deno.test("a body read from a terminal is announced on stderr, never on stdout", async () => {
  await withNode(async ({ node, dataDir }) => {
    let stdout = "";
    let stderr = "";
    const status = await runCli(["thread", "new", "--title", "T", "--data-dir", dataDir], {
      env: {},
      stdout: (text) => stdout += text,
      stderr: (text) => stderr += text,
      readStdin: () => Promise.resolve(new TextEncoder().encode("typed\n")),
      stdinIsTerminal: () => true,
    });
    assert.equal(status, 0, stderr);
    assert.equal(
      stderr,
      "rhizome: reading the body from standard input; end it with Ctrl-D (Ctrl-C cancels)\n",
    );
    assert.doesNotMatch(stdout, /reading/);
    assert.deepEqual(node.received, [["newThread", {
      title: "T",
      body: "typed\n",
      author: "alice",
    }]]);
  });
});

Deno.test("without an author key, publishing stops at the CLI with exit 4", async () => {
  await withNode(async ({ node, dataDir, rhizome }) => {
    const commands = [
      ["thread", "new", "--title", "T", "body"],
      ["post", threadId, "body"],
      ["vote", threadId, "up"],
      ["profile", "set", "--name", "N"],
      ["profile", "show"],
    ];
    for (const args of commands) {
      assertRefused(
        await rhizome(args),
        ExitStatus.identity,
        new RegExp(
          `^rhizome: Cannot sign: no author key in ${dataDir}/authors; ` +
            "create one with `rhizome author new NAME`$",
        ),
      );
    }
    await rhizome(["author", "new", "bob"]);
    assertRefused(
      await rhizome(["vote", threadId, "up", "--author", "carol"]),
      ExitStatus.identity,
      /^rhizome: Cannot sign as carol: no author key carol in /,
    );
    assertRefused(
      await rhizome(["vote", threadId, "up", "--author", "Carol"]),
      ExitStatus.usage,
      /Cannot use author name "Carol"/,
    );
    assert.deepEqual(node.received, []);
    assert.equal((await rhizome(["vote", threadId, "up", "--author", "bob"])).status, 0);
    assert.deepEqual(node.received, [["vote", {
      target: NodeId.fromHex(threadId),
      direction: "up",
      author: "bob",
    }]]);
  }, { noAuthor: true });
});

Deno.test("thread list prints short IDs, the next cursor, and missing pieces as warnings", async () => {
  await withNode(async ({ node, rhizome }) => {
    const text = await rhizome(["thread", "list"]);
    assert.equal(text.status, 0, text.stderr);
    assert.deepEqual(linesOf(text.stdout), [
      "id          posted      votes  msgs  title",
      `${threadId.slice(0, 10)}  2027-01-15  ?      ?     Hello\uFFFD[2J world  by 4c4c4c4c`,
      `next page: --cursor ${nextCursor}`,
    ]);
    assert.match(text.stderr, /^\S+ WARN .*missing 1: .*thread 5b5b.* \(not found\)"\n$/);
    const json = await rhizome(["thread", "list", "--popular", "--limit", "5", "--cursor", "abc"]);
    assert.equal(json.status, 0, json.stderr);
    const scripted = await rhizome(["thread", "list", "--recent", "--json"]);
    assert.deepEqual(JSON.parse(scripted.stdout), threadList);
    assert.equal(scripted.stderr, "", "with --json the missing pieces are in the object only");
    // A short page asks on with its cursor; a cursor that does not move ends the asking.
    assert.deepEqual(node.received, [
      ["listThreads", { order: "recent", limit: 20 }],
      ["listThreads", { order: "recent", limit: 19, cursor: nextCursor }],
      ["listThreads", { order: "popular", limit: 5, cursor: "abc" }],
      ["listThreads", { order: "popular", limit: 4, cursor: nextCursor }],
      ["listThreads", { order: "recent", limit: 20 }],
      ["listThreads", { order: "recent", limit: 19, cursor: nextCursor }],
    ]);
  });
});

Deno.test("thread list shows when, votes, messages, names and scores; the last page has no cursor", async () => {
  await withNode(async ({ node, rhizome }) => {
    const nowMs = Date.now();
    const second = "6f".repeat(20);
    const pages: ThreadList[] = [
      {
        threads: [{
          id: threadId,
          title: "Hello",
          author: authorKey,
          author_name: "Alice",
          created_at: new Date(nowMs - 3 * 60_000 - 5_000).toISOString(),
          tags: [],
          votes: { up: 3, down: 1 },
          messages: 256,
          messages_more: true,
          score: 4,
        }],
        next_cursor: nextCursor,
        missing: [],
      },
      // The node's next page: one more thread, then the end.
      {
        threads: [{
          id: second,
          title: "Older",
          author: "9a".repeat(32),
          created_at: new Date(nowMs - 2 * 86_400_000 - 60_000).toISOString(),
          tags: [],
          votes: { up: 0, down: 0 },
          messages: 0,
          score: 2,
        }],
        next_cursor: null,
        missing: [],
      },
    ];
    node.listThreads = (request) => {
      node.received.push(["listThreads", request]);
      return Promise.resolve(pages[request.cursor === undefined ? 0 : 1]);
    };
    const text = await rhizome(["thread", "list", "--popular"]);
    assert.equal(text.status, 0, text.stderr);
    assert.deepEqual(linesOf(text.stdout), [
      "ranking: local (this node's measurements)",
      "id          posted      votes  msgs  score  title",
      `${threadId.slice(0, 10)}  3 min ago   +3 -1  256+  4      Hello  by Alice (4c4c4c4c)`,
      `${second.slice(0, 10)}  2 days ago  +0 -0  0     2      Older  by 9a9a9a9a`,
      "score: popularity points (docs/popularity.md; --explain shows the parts)",
    ]);
    assert.doesNotMatch(text.stdout, /next/, "the last page prints no cursor");
    const json = await rhizome(["thread", "list", "--json"]);
    const listed = JSON.parse(json.stdout);
    assert.equal(listed.next_cursor, null);
    assert.deepEqual(listed.threads, [...pages[0].threads, ...pages[1].threads]);
  });
});

Deno.test("thread list --popular passes --local and --explain and names the ranking; popularity KEY shows a record's score", async () => {
  await withNode(async ({ node, rhizome }) => {
    const text = await rhizome(["thread", "list", "--popular", "--local", "--explain"]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^ranking: local/);
    const shown = await rhizome(["popularity", popularKey.toHex()]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /^key {8}c{40}\nscore {6}\d/);
    assert.match(shown.stdout, /request_rate/);
    const json = await rhizome(["popularity", popularKey.toHex(), "--json"]);
    assert.deepEqual(JSON.parse(json.stdout), popularReport);
    const missing = await rhizome(["popularity", "99".repeat(20)]);
    assert.equal(missing.status, ExitStatus.failure);
    assert.match(missing.stderr, /served no reads/);
    assert.deepEqual(node.received, [
      ["listThreads", { order: "popular", limit: 20, source: "local", explain: true }],
      // The fake's page is short with a cursor: the CLI asks on for the rest of the page.
      ["listThreads", {
        order: "popular",
        limit: 19,
        cursor: nextCursor,
        source: "local",
        explain: true,
      }],
      ["popularity", popularKey],
      ["popularity", popularKey],
      ["popularity", NodeId.fromHex("99".repeat(20))],
    ]);
  });
});

Deno.test("thread list and show refuse bad flags and arguments before any request", async () => {
  await withNode(async ({ node, rhizome }) => {
    const cases: [string[], RegExp][] = [
      [["thread", "list", "--recent", "--popular"], /Choose one order, not --recent and --popular/],
      [["thread", "list", "--limit", "0"], /Cannot read the limit: expected .* 1 to 100, got "0"/],
      [["thread", "list", "--limit", "101"], /from 1 to 100/],
      [["thread", "list", "--cursor", "a=b"], /Cannot read the cursor/],
      [["thread", "list", "--title", "x"], /flag --title is not for 'rhizome thread list'/],
      [["thread", "list", "x"], /unexpected argument "x" for 'rhizome thread list'/],
      [["thread", "show"], /'rhizome thread show' needs a thread ID/],
      [["thread", "show", "abc"], /Cannot read the thread ID: expected 40 hex digits, got "abc"/],
      [["thread", "show", threadId, "--limit", "201"], /from 1 to 200/],
      [["thread", "show", threadId, "--popular"], /flag --popular is not for/],
      [
        ["thread", "list", "--local"],
        /--local and --explain are for 'rhizome thread list --popular'/,
      ],
      [["thread", "list", "--recent", "--explain"], /--local and --explain are for/],
      [["thread", "show", threadId, "--explain"], /flag --explain is not for/],
      [["popularity"], /'rhizome popularity' needs/],
      [["popularity", "xyz"], /Cannot read the key: expected 40 hex digits, got "xyz"/],
      [["thread", "new", "body"], /'rhizome thread new' needs --title T/],
      [["thread", "new", "--title", "T", "--limit", "2", "b"], /flag --limit is not for/],
      [["thread", "delete"], /unknown action "delete" for 'rhizome thread'/],
      [["thread"], /'rhizome thread' needs more arguments/],
    ];
    for (const [args, pattern] of cases) {
      assertRefused(await rhizome(args), ExitStatus.usage, pattern);
    }
    assert.deepEqual(node.received, []);
  });
});

Deno.test("thread show prints the thread, the reply tree, votes, missing pieces", async () => {
  await withNode(async ({ node, rhizome }) => {
    const text = await rhizome(["thread", "show", threadId.toUpperCase(), "--limit", "10"]);
    assert.equal(text.status, 0, text.stderr);
    assert.equal(
      text.stdout,
      [
        "Hello\uFFFD[2J world",
        `  id        ${threadId}`,
        "  author    4c4c4c4c",
        "  created   2027-01-15 12:00 UTC",
        "  tags      intro",
        "  votes     +3 -1",
        "  messages  2",
        "",
        "  Opening post",
        "  second line",
        "",
        `- ${messageId.slice(0, 10)}  4c4c4c4c  2027-01-15  +1 -0`,
        "  First reply",
        `  - ${"3d".repeat(5)}  4c4c4c4c  2027-01-15  +0 -2`,
        "    A reply to it",
        "",
        `missing: votes of ${messageId} (unreachable)`,
        "",
      ].join("\n"),
    );
    assert.match(text.stderr, /^\S+ WARN .*missing 1: "votes of [0-9a-f]{40} \(unreachable\)"\n$/);
    const json = await rhizome(["thread", "show", threadId, "--cursor", nextCursor, "--json"]);
    assert.deepEqual(JSON.parse(json.stdout), threadView);
    assert.deepEqual(node.received, [
      ["showThread", { thread: NodeId.fromHex(threadId), limit: 10 }],
      ["showThread", { thread: NodeId.fromHex(threadId), limit: 50, cursor: nextCursor }],
    ]);
  });
});

Deno.test("thread show of a thread the network lacks exits 1 with the node's line", async () => {
  await withNode(async ({ rhizome }) => {
    const missing = "99".repeat(20);
    assertRefused(
      await rhizome(["thread", "show", missing]),
      ExitStatus.failure,
      new RegExp(`^rhizome: Cannot show thread ${missing}: it is not found$`),
    );
    const json = await rhizome(["thread", "show", missing, "--json"]);
    assert.equal(JSON.parse(json.stdout).error.code, "NOT_FOUND");
  });
});

Deno.test("post sends the thread, the parent and the body; vote the direction", async () => {
  await withNode(async ({ node, rhizome }) => {
    const posted = await rhizome([
      "post",
      threadId.toUpperCase(),
      "--reply-to",
      messageId.toUpperCase(),
      "Me too",
    ]);
    assert.equal(posted.status, 0, posted.stderr);
    assert.equal(
      posted.stdout,
      `published message ${messageId}: held by 4 nodes (2 needed), announced in 2 indexes\n`,
    );
    const votedText = await rhizome(["vote", threadId, "up"]);
    assert.equal(
      votedText.stdout,
      `published vote up on ${threadId.slice(0, 10)}: held by 4 nodes (2 needed), ` +
        "announced in 2 indexes\n",
    );
    node.received.pop();
    const voted = await rhizome(["vote", messageId, "down", "--json"]);
    assert.deepEqual(JSON.parse(voted.stdout), publishReport("vote", "5a".repeat(20)));
    assert.deepEqual(node.received, [
      ["post", {
        thread: NodeId.fromHex(threadId),
        replyTo: NodeId.fromHex(messageId),
        body: "Me too",
        author: "alice",
      }],
      ["vote", { target: NodeId.fromHex(messageId), direction: "down", author: "alice" }],
    ]);
    const refusals: [string[], RegExp][] = [
      [["post", threadId], /'rhizome post' needs more arguments/],
      [["post", "xyz", "body"], /Cannot read the thread ID/],
      [["post", threadId, "--reply-to", "xyz", "body"], /Cannot read the message ID/],
      [["vote", threadId, "sideways"], /'rhizome vote' takes up or down, got "sideways"/],
      [["vote", "xyz", "up"], /Cannot read the vote target ID/],
    ];
    for (const [args, pattern] of refusals) {
      assertRefused(await rhizome(args), ExitStatus.usage, pattern);
    }
    assert.equal(node.received.length, 2);
  });
});

Deno.test("the node's refusals keep their codes and exit statuses", async () => {
  await withNode(async ({ node, rhizome }) => {
    const cases: [ContentError, number][] = [
      [new ContentError("VOTE_REPEATED", "Cannot vote: alice cast this vote already"), 1],
      [new ContentError("CONTENT_INVALID", "Cannot post: the body is empty"), 1],
      [new ContentError("NOT_FOUND", "Cannot vote: 1f1f is not found"), 1],
      [new ContentError("AUTHOR_MISSING", "Cannot sign: no author key in /x"), 4],
    ];
    for (const [error, status] of cases) {
      node.error = error;
      const run = await rhizome(["vote", threadId, "up"]);
      assertRefused(run, status, new RegExp(`^rhizome: ${error.message}$`));
      const json = JSON.parse((await rhizome(["vote", threadId, "up", "--json"])).stdout);
      assert.deepEqual(json.error, {
        code: error.code,
        message: error.message,
        exit_status: status,
      });
    }
  });
});

Deno.test("profile set sends the fields given; profile show reads anyone's", async () => {
  await withNode(async ({ node, rhizome }) => {
    const other = "ab".repeat(32);
    const set = await rhizome([
      "profile",
      "set",
      "--name",
      "Alice",
      "--about",
      "",
      "--key",
      other.toUpperCase(),
      "--key",
      authorKey,
    ]);
    assert.equal(set.status, 0, set.stderr);
    assert.equal(
      set.stdout,
      "published the profile of alice: held by 4 nodes (2 needed), announced in 2 indexes\n",
    );
    const shown = await rhizome(["profile", "show", authorKey]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.deepEqual(linesOf(shown.stdout), [
      "name     Alice",
      "about    Gardener",
      `author   ${authorKey}`,
      "updated  2027-01-15 12:00 UTC",
    ]);
    assert.doesNotMatch(shown.stdout, /version|seq/, "the internal sequence is for --json only");
    const json = await rhizome(["profile", "show", authorKey, "--json"]);
    assert.deepEqual(JSON.parse(json.stdout), profileView);
    assert.deepEqual(node.received.slice(0, 2), [
      ["setProfile", {
        name: "Alice",
        about: "",
        keys: [fromHex(other), fromHex(authorKey)],
        author: "alice",
      }],
      ["showProfile", fromHex(authorKey)],
    ]);
  });
});

Deno.test("profile show without a key asks for the current author's profile", async () => {
  await withNode(async ({ node, rhizome }) => {
    const alice = JSON.parse((await rhizome(["author", "list", "--json"])).stdout).authors[0];
    const run = await rhizome(["profile", "show"]);
    assertRefused(
      run,
      ExitStatus.failure,
      /^rhizome: Cannot show the profile of [0-9a-f]{64}: none/,
    );
    assert.deepEqual(node.received, [["showProfile", fromHex(alice.public_key)]]);
    const refusals: [string[], RegExp][] = [
      [["profile", "set"], /'rhizome profile set' needs --name, --about or --key/],
      [["profile", "set", "--key", "abc"], /Cannot read the author key: expected 64 hex digits/],
      [["profile", "set", "x"], /unexpected argument "x" for 'rhizome profile set'/],
      [["profile", "show", "--name", "x"], /flag --name is for 'rhizome profile set'/],
      [["profile", "show", "abc"], /Cannot read the author key/],
      [["profile", "get"], /unknown action "get" for 'rhizome profile'/],
    ];
    for (const [args, pattern] of refusals) {
      assertRefused(await rhizome(args), ExitStatus.usage, pattern);
    }
    assert.equal(node.received.length, 1);
  });
});

Deno.test("without a running node the discussion commands exit 1 naming the data dir", async () => {
  await withTempDir(async (dataDir) => {
    await run(dataDir, ["author", "new", "alice"]);
    for (const args of [["thread", "list"], ["thread", "new", "--title", "T", "b"]]) {
      assertRefused(
        await run(dataDir, args),
        ExitStatus.failure,
        new RegExp(`^rhizome: Cannot reach the node: no node is running with data dir ${dataDir}`),
      );
    }
  });
});

Deno.test("help lists the discussion commands and their flags", async () => {
  await withTempDir(async (dataDir) => {
    const overview = await run(dataDir, ["help"]);
    for (const name of ["thread", "post", "vote", "profile", "author"]) {
      assert.match(overview.stdout, new RegExp(`\\n  ${name} +\\S`));
    }
    const thread = await run(dataDir, ["help", "thread"]);
    assert.match(thread.stdout, /--tag X +new: a tag; repeat for more/);
    assert.match(thread.stdout, /^Usage: rhizome thread new --title T/);
  });
});

Deno.test("a partial page is exit 0 with one warning line naming the first pieces and the count", async () => {
  await withNode(async ({ node, rhizome }) => {
    const missing = [
      "recent index: only this node's copy (no complete answer within 1 s)",
      "thread hours of day 20787: no answer within 1 s",
      "threads of hour 498906: no answer within 1 s",
      `thread ${threadId}: no answer within 1.5 s`,
      "threads of hour 498905: no answer within 1 s",
    ];
    node.listThreads = () => Promise.resolve({ ...threadList, missing });
    const text = await rhizome(["thread", "list"]);
    assert.equal(text.status, 0, text.stderr);
    const lines = linesOf(text.stderr);
    assert.equal(lines.length, 1, text.stderr);
    assert.match(
      lines[0],
      /WARN .*missing 5: "recent index: only this node's copy .*; thread hours of day 20787: .*; threads of hour 498906: no answer within 1 s; and 2 more \(--json lists them\)"$/,
    );
    const json = await rhizome(["thread", "list", "--json"]);
    assert.equal(json.status, 0);
    assert.deepEqual(JSON.parse(json.stdout).missing, missing);
    assert.equal(json.stderr, "");
  });
});

Deno.test("an ID prefix names the one ID the node knows; none or several is one clear line", async () => {
  await withNode(async ({ node, rhizome }) => {
    const shown = await rhizome(["thread", "show", threadId.slice(0, 10).toUpperCase()]);
    assert.equal(shown.status, 0, shown.stderr);
    const posted = await rhizome(["post", "1f1f1f", "--reply-to", "2e2e2e2e", "Hi"]);
    assert.equal(posted.status, 0, posted.stderr);
    const voted = await rhizome(["vote", "3d3d", "up"]);
    assert.equal(voted.status, 0, voted.stderr);
    assert.deepEqual(node.received.filter(([name]) => name !== "resolveIds"), [
      ["showThread", { thread: NodeId.fromHex(threadId), limit: 50 }],
      ["post", {
        thread: NodeId.fromHex(threadId),
        replyTo: NodeId.fromHex(messageId),
        body: "Hi",
        author: "alice",
      }],
      ["vote", { target: NodeId.fromHex(replyId), direction: "up", author: "alice" }],
    ]);
    node.received.length = 0;

    // A thread ID's prefix does not name a message, nor the other way round.
    assertRefused(
      await rhizome(["thread", "show", "2e2e2e"]),
      ExitStatus.failure,
      /^rhizome: Cannot find the thread ID 2e2e2e: no thread this node listed, showed or published starts with it \(give all 40 digits\)$/,
    );
    node.knownIds.push({ id: "1f1f" + "00".repeat(18), kind: "thread" });
    assertRefused(
      await rhizome(["thread", "show", "1f1f"]),
      ExitStatus.usage,
      /^rhizome: Cannot read the thread ID 1f1f: 2 IDs start with it, 1f1f1f1f1f… \(thread\), 1f1f000000… \(thread\); give more digits$/,
    );
    assertRefused(
      await rhizome(["thread", "show", "1f1"]),
      ExitStatus.usage,
      /expected 40 hex digits, got "1f1"/,
    );
    assert.deepEqual(node.received.map(([name]) => name), ["resolveIds", "resolveIds"]);
  });
});

Deno.test("profile show takes the start of an author's key, as listings print it", async () => {
  await withNode(async ({ node, rhizome }) => {
    node.knownIds.push({ id: authorKey, kind: "author" });
    const shown = await rhizome(["profile", "show", authorKey.slice(0, 8)]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /^name +Alice$/m);
    assertRefused(
      await rhizome(["profile", "show", "9999"]),
      ExitStatus.failure,
      /^rhizome: Cannot find the author key 9999: no author of what this node listed or showed/,
    );
    // A thread's ID is no author.
    assertRefused(
      await rhizome(["profile", "show", "1f1f"]),
      ExitStatus.failure,
      /author key 1f1f/,
    );
  });
});
