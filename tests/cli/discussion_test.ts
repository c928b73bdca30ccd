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
      `published thread ${threadId}: stored by 3 nodes, 4 holders (2 needed); indexes recent 2, ` +
        "author_threads 1\n",
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

Deno.test("thread list prints full IDs, the next cursor, and missing pieces as warnings", async () => {
  await withNode(async ({ node, rhizome }) => {
    const text = await rhizome(["thread", "list"]);
    assert.equal(text.status, 0, text.stderr);
    assert.deepEqual(linesOf(text.stdout), [
      `${threadId}  2027-01-15T12:00:00.000Z  Hello\uFFFD[2J world`,
      `next: --cursor ${nextCursor}`,
    ]);
    assert.match(text.stderr, /^\S+ WARN .*missing 1: .*thread 5b5b.* \(not found\)"\n$/);
    const json = await rhizome(["thread", "list", "--popular", "--limit", "5", "--cursor", "abc"]);
    assert.equal(json.status, 0, json.stderr);
    const scripted = await rhizome(["thread", "list", "--recent", "--json"]);
    assert.deepEqual(JSON.parse(scripted.stdout), threadList);
    assert.equal(scripted.stderr, "", "with --json the missing pieces are in the object only");
    assert.deepEqual(node.received, [
      ["listThreads", { order: "recent", limit: 20 }],
      ["listThreads", { order: "popular", limit: 5, cursor: "abc" }],
      ["listThreads", { order: "recent", limit: 20 }],
    ]);
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
        `  author    ${authorKey}`,
        "  created   2027-01-15T12:00:00.000Z",
        "  tags      intro",
        "  votes     +3 -1",
        "  messages  2",
        "",
        "  Opening post",
        "  second line",
        "",
        `- ${messageId}  2027-01-15T12:01:00.000Z  +1 -0`,
        `  by ${authorKey}`,
        "  First reply",
        `  - ${"3d".repeat(20)}  2027-01-15T12:02:00.000Z  +0 -2`,
        `    by ${authorKey}`,
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
    assert.match(posted.stdout, new RegExp(`^published message ${messageId}: stored by 3 nodes`));
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
    assert.match(set.stdout, /^published profile 6b6b/);
    const shown = await rhizome(["profile", "show", authorKey]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.deepEqual(linesOf(shown.stdout), [
      "name     Alice",
      "about    Gardener",
      `author   ${authorKey}`,
      "updated  2027-01-15T12:00:00.000Z (version 7)",
    ]);
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
