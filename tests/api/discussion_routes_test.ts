/**
 * The control API's discussion routes and their client: every route reached with good input,
 * every malformed request refused with 400 (413 when too large) before any handler runs, exact
 * routing beside the path-parameter routes, and the discussion error codes mapped to their HTTP
 * statuses and relayed by the client.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CONTROL_API_FILES,
  ControlApi,
  controlBodyBytesMax,
  cursorLengthMax,
  messagePageDefault,
  messagePageMax,
  threadPageDefault,
  threadPageMax,
} from "../../src/api/control_api.ts";
import { ControlApiError, ControlClient } from "../../src/api/control_client.ts";
import {
  ContentError,
  InvalidInputError,
  type RhizomeError,
  StoreError,
} from "../../src/core/errors.ts";
import { withTempDir } from "../_rhizome.ts";
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
} from "./_fake_handlers.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { fromHex } from "../../src/core/bytes.ts";
import { parseAuthorKeyHex, parseIdHex } from "../../src/api/wire.ts";

interface Fixture {
  api: ControlApi;
  node: FakeHandlers;
  client: ControlClient;
  /** Sends one authorized request. */
  send(path: string, options?: SendOptions): Promise<Answer>;
}

interface SendOptions {
  method?: string;
  /** Sent as JSON (with its content type) unless it is bytes or a string. */
  json?: unknown;
  body?: Uint8Array | string;
  contentType?: string;
}

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

async function withApi(test: (fixture: Fixture) => Promise<void>): Promise<void> {
  await withTempDir(async (dataDir) => {
    const node = new FakeHandlers();
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: node,
    });
    try {
      const token = (await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.token))).trim();
      const send = async (path: string, options: SendOptions = {}): Promise<Answer> => {
        const headers: Record<string, string> = { authorization: `Bearer ${token}` };
        let body = options.body;
        if (options.json !== undefined) {
          body = JSON.stringify(options.json);
          headers["content-type"] = "application/json";
        }
        if (options.contentType !== undefined) headers["content-type"] = options.contentType;
        const response = await fetch(api.url + path, {
          method: options.method ?? (body === undefined ? "GET" : "POST"),
          headers,
          body: body as Uint8Array<ArrayBuffer> | string | undefined,
        });
        return {
          status: response.status,
          headers: response.headers,
          body: JSON.parse(await response.text()),
        };
      };
      await test({ api, node, client: await ControlClient.fromDataDir(dataDir), send });
    } finally {
      await api.close();
    }
  });
}

function assertError(answer: Answer, status: number, code: string, pattern: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  const body = answer.body as { error: { code: string; message: string } };
  assert.equal(body.error.code, code);
  assert.match(body.error.message, pattern);
  assert.ok(!body.error.message.includes("\n"), "the message is one line");
}

const goodThread = { title: "Hello", body: "First post", tags: ["intro"], author: "alice" };
const goodPost = { thread: threadId, reply_to: messageId, body: "Me too", author: "bob" };
/** {@link goodPost} as the node gets it. */
const goodPostRequest = {
  thread: NodeId.fromHex(threadId),
  replyTo: NodeId.fromHex(messageId),
  body: "Me too",
  author: "bob",
};
const goodVote = { target: threadId, direction: "up", author: "alice" };
const goodProfile = { name: "Alice", about: "Gardener", keys: [authorKey], author: "alice" };

Deno.test("the client reaches every discussion route and gets the handler's report", async () => {
  await withApi(async ({ client, node }) => {
    assert.deepEqual(
      await client.call(controlRoutes.newThread, goodThread),
      publishReport("thread"),
    );
    assert.deepEqual(
      await client.call(controlRoutes.listThreads, {
        order: "popular",
        limit: 7,
        cursor: nextCursor,
      }),
      threadList,
    );
    assert.deepEqual(
      await client.call(controlRoutes.showThread, { thread: NodeId.fromHex(threadId), limit: 3 }),
      threadView,
    );
    assert.deepEqual(
      await client.call(controlRoutes.post, goodPostRequest),
      publishReport("message", messageId),
    );
    assert.deepEqual(
      await client.call(controlRoutes.vote, {
        target: NodeId.fromHex(threadId),
        direction: "down",
      }),
      publishReport("vote", "5a".repeat(20)),
    );
    assert.deepEqual(
      await client.call(controlRoutes.setProfile, {}),
      publishReport("profile", "6b".repeat(20)),
    );
    assert.deepEqual(
      await client.call(controlRoutes.showProfile, fromHex(authorKey)),
      profileView,
    );
    const record = new Uint8Array([1, 2, 3, 0, 255]);
    assert.deepEqual(
      await client.call(controlRoutes.publishRecord, {
        key: NodeId.fromHex(threadId),
        record,
      }),
      {
        id: threadId,
        kind: "record",
        stored: 2,
        holders: 3,
        quorum: 2,
        indexes: {},
      },
    );
    assert.deepEqual(node.received, [
      ["newThread", goodThread],
      ["listThreads", { order: "popular", limit: 7, cursor: nextCursor }],
      ["showThread", { thread: NodeId.fromHex(threadId), limit: 3 }],
      ["post", goodPostRequest],
      ["vote", { target: NodeId.fromHex(threadId), direction: "down" }],
      ["setProfile", {}],
      ["showProfile", fromHex(authorKey)],
      ["publishRecord", NodeId.fromHex(threadId), record],
    ]);
  });
});

Deno.test("listing and showing fill in the default order and page sizes", async () => {
  await withApi(async ({ node, send }) => {
    assert.equal((await send("/v1/threads")).status, 200);
    assert.equal((await send(`/v1/threads/${threadId.toUpperCase()}`)).status, 200);
    assert.equal((await send(`/v1/threads?limit=${threadPageMax}`)).status, 200);
    assert.equal((await send(`/v1/threads/${threadId}?limit=${messagePageMax}`)).status, 200);
    const longest = "A".repeat(cursorLengthMax);
    assert.equal((await send(`/v1/threads?order=recent&cursor=${longest}`)).status, 200);
    assert.deepEqual(node.received, [
      ["listThreads", { order: "recent", limit: threadPageDefault }],
      ["showThread", { thread: NodeId.fromHex(threadId), limit: messagePageDefault }],
      ["listThreads", { order: "recent", limit: threadPageMax }],
      ["showThread", { thread: NodeId.fromHex(threadId), limit: messagePageMax }],
      ["listThreads", { order: "recent", limit: threadPageDefault, cursor: longest }],
    ]);
  });
});

Deno.test("a JSON body may name its charset and optional fields may be left out", async () => {
  await withApi(async ({ node, send }) => {
    const answer = await send("/v1/threads", {
      body: JSON.stringify({ title: "T", body: "" }),
      contentType: "Application/JSON; charset=utf-8",
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((await send("/v1/posts", { json: { thread: threadId, body: "x" } })).status, 200);
    assert.deepEqual(node.received, [
      ["newThread", { title: "T", body: "" }],
      ["post", { thread: NodeId.fromHex(threadId), body: "x" }],
    ]);
  });
});

Deno.test("malformed JSON bodies answer 400 and reach no handler", async () => {
  await withApi(async ({ node, send }) => {
    const cases: [string, unknown, RegExp][] = [
      ["/v1/threads", [], /the body must be a JSON object/],
      ["/v1/threads", null, /the body must be a JSON object/],
      ["/v1/threads", "text", /the body must be a JSON object/],
      ["/v1/threads", { body: "b" }, /field "title" is missing/],
      ["/v1/threads", { title: "t" }, /field "body" is missing/],
      ["/v1/threads", { ...goodThread, title: 7 }, /field "title" must be a string/],
      ["/v1/threads", { ...goodThread, tags: "intro" }, /field "tags" must be an array/],
      ["/v1/threads", { ...goodThread, tags: ["a", 1] }, /field "tags" must be an array/],
      ["/v1/threads", { ...goodThread, author: "Alice" }, /field "author" must be an author/],
      ["/v1/threads", { ...goodThread, author: "../x" }, /field "author" must be an author/],
      ["/v1/threads", { ...goodThread, author: null }, /field "author" must be a string/],
      ["/v1/threads", { ...goodThread, extra: 1 }, /unknown field "extra" \(expected title,/],
      ["/v1/posts", { body: "b" }, /field "thread" is missing/],
      ["/v1/posts", { ...goodPost, thread: threadId.toUpperCase() }, /40 lower-case hex/],
      ["/v1/posts", { ...goodPost, thread: threadId.slice(1) }, /field "thread" must be 40/],
      ["/v1/posts", { ...goodPost, reply_to: "x" }, /field "reply_to" must be 40/],
      ["/v1/posts", { ...goodPost, reply_to: null }, /field "reply_to" must be a string/],
      ["/v1/posts", { thread: threadId }, /field "body" is missing/],
      ["/v1/posts", { ...goodPost, body: ["b"] }, /field "body" must be a string/],
      ["/v1/posts", { ...goodPost, parent: messageId }, /unknown field "parent"/],
      ["/v1/votes", { target: threadId }, /field "direction" is missing/],
      ["/v1/votes", { ...goodVote, direction: "sideways" }, /must be "up" or "down"/],
      ["/v1/votes", { ...goodVote, direction: 1 }, /field "direction" must be a string/],
      ["/v1/votes", { direction: "up" }, /field "target" is missing/],
      ["/v1/votes", { ...goodVote, target: "zz".repeat(20) }, /field "target" must be 40/],
      ["/v1/profile", { ...goodProfile, name: 1 }, /field "name" must be a string/],
      ["/v1/profile", { ...goodProfile, about: false }, /field "about" must be a string/],
      ["/v1/profile", { ...goodProfile, keys: authorKey }, /field "keys" must be an array/],
      ["/v1/profile", { keys: [authorKey.slice(2)] }, /field "keys" item 0 must be 64/],
      ["/v1/profile", { keys: [authorKey, authorKey.toUpperCase()] }, /item 1 must be 64/],
      ["/v1/profile", { seq: 3 }, /unknown field "seq"/],
    ];
    for (const [path, json, pattern] of cases) {
      const answer = await send(path, { json });
      assertError(answer, 400, "INVALID_INPUT", pattern);
      assert.match((answer.body as { error: { message: string } }).error.message, /^Cannot /);
    }
    assert.deepEqual(node.received, []);
  });
});

Deno.test("a body that is not JSON, not UTF-8 or not labelled JSON answers 400", async () => {
  await withApi(async ({ node, send }) => {
    const json = JSON.stringify(goodThread);
    for (const path of ["/v1/threads", "/v1/posts", "/v1/votes", "/v1/profile"]) {
      assertError(
        await send(path, { body: "{title:", contentType: "application/json" }),
        400,
        "INVALID_INPUT",
        /^Cannot read the request: the body is not valid JSON$/,
      );
      assertError(
        await send(path, { body: "", contentType: "application/json" }),
        400,
        "INVALID_INPUT",
        /the body is not valid JSON/,
      );
      assertError(
        await send(path, {
          body: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]),
          contentType: "application/json",
        }),
        400,
        "INVALID_INPUT",
        /the body is not UTF-8/,
      );
      assertError(
        await send(path, { body: json, contentType: "text/plain" }),
        400,
        "INVALID_INPUT",
        /the body must be JSON \(Content-Type: application\/json\), got "text\/plain"/,
      );
      assertError(
        await send(path, { body: new TextEncoder().encode(json) }),
        400,
        "INVALID_INPUT",
        /got no Content-Type/,
      );
    }
    assert.deepEqual(node.received, []);
  });
});

Deno.test("bad IDs, keys, limits, orders and cursors answer 400 and reach no handler", async () => {
  await withApi(async ({ node, send }) => {
    const cases: [string, RegExp][] = [
      ["/v1/threads?order=newest", /^Cannot read the order: expected recent or popular/],
      ["/v1/threads?limit=0", /^Cannot read the limit: expected a whole number from 1 to 100/],
      [`/v1/threads?limit=${threadPageMax + 1}`, /from 1 to 100, got "101"/],
      ["/v1/threads?limit=abc", /Cannot read the limit/],
      ["/v1/threads?limit=1.5", /Cannot read the limit/],
      ["/v1/threads?limit=-1", /Cannot read the limit/],
      ["/v1/threads?limit=", /Cannot read the limit/],
      ["/v1/threads?cursor=", /^Cannot read the cursor: expected 1 to 256 base64url/],
      ["/v1/threads?cursor=abc%3D", /Cannot read the cursor/],
      ["/v1/threads?cursor=a%2Bb", /Cannot read the cursor/],
      [`/v1/threads?cursor=${"A".repeat(cursorLengthMax + 1)}`, /Cannot read the cursor/],
      [
        "/v1/threads?sort=recent",
        /unknown parameter "sort" \(expected order, limit, cursor, source, explain\)/,
      ],
      ["/v1/threads?limit=5&limit=6", /parameter "limit" is repeated/],
      ["/v1/threads?order=popular&source=seeds", /ranking source: expected global or local/],
      ["/v1/threads?order=popular&explain=yes", /^Cannot read explain: expected true or false/],
      ["/v1/threads?source=local", /source and explain are for the popular order/],
      ["/v1/popularity/abc", /^Cannot read the key: expected 40 hex digits, got "abc"$/],
      ["/v1/threads/abc", /^Cannot read the thread ID: expected 40 hex digits, got "abc"$/],
      ["/v1/threads/", /^Cannot read the thread ID: expected 40 hex digits, got ""$/],
      [`/v1/threads/${"g".repeat(40)}`, /Cannot read the thread ID/],
      [`/v1/threads/${threadId}?limit=${messagePageMax + 1}`, /from 1 to 200, got "201"/],
      [`/v1/threads/${threadId}?order=recent`, /unknown parameter "order"/],
      [`/v1/profiles/${authorKey.slice(1)}`, /^Cannot read the author key: expected 64 hex/],
      [`/v1/profiles/${threadId}`, /Cannot read the author key/],
      [`/v1/profiles/${authorKey}?seq=1`, /unknown parameter "seq" \(none expected\)/],
    ];
    for (const [path, pattern] of cases) {
      assertError(await send(path), 400, "INVALID_INPUT", pattern);
    }
    const record = new Uint8Array([1, 2, 3]);
    const recordCases: [string, RegExp][] = [
      ["/v1/records", /parameter "key" is missing/],
      ["/v1/records?key=xyz", /^Cannot read the record key: expected 40 hex digits/],
      [`/v1/records?key=${threadId}&ttl=5`, /unknown parameter "ttl" \(expected key\)/],
    ];
    for (const [path, pattern] of recordCases) {
      assertError(await send(path, { body: record }), 400, "INVALID_INPUT", pattern);
    }
    assertError(
      await send("/v1/threads?x=1", { json: goodThread }),
      400,
      "INVALID_INPUT",
      /unknown parameter "x" \(none expected\)/,
    );
    assert.deepEqual(node.received, []);
  });
});

Deno.test("bodies over the limit answer 413 on every posting route", async () => {
  await withApi(async ({ client, node, send }) => {
    const huge = JSON.stringify({ ...goodThread, body: "x".repeat(controlBodyBytesMax) });
    for (const path of ["/v1/threads", "/v1/posts", "/v1/votes", "/v1/profile"]) {
      assertError(
        await send(path, { body: huge, contentType: "application/json" }),
        413,
        "INVALID_INPUT",
        /is larger than 65536 bytes$/,
      );
    }
    assertError(
      await send(`/v1/records?key=${threadId}`, { body: new Uint8Array(controlBodyBytesMax + 1) }),
      413,
      "INVALID_INPUT",
      /^Cannot publish the record: it is larger than 65536 bytes$/,
    );
    await assert.rejects(
      client.call(controlRoutes.newThread, { title: "t", body: "x".repeat(controlBodyBytesMax) }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidInputError);
        assert.match(error.message, /^Cannot send the request: it is \d+ bytes, the limit/);
        return true;
      },
    );
    await assert.rejects(
      client.call(controlRoutes.publishRecord, {
        key: NodeId.fromHex(threadId),
        record: new Uint8Array(controlBodyBytesMax + 1),
      }),
      InvalidInputError,
    );
    assert.deepEqual(node.received, []);
    const largest = new Uint8Array(controlBodyBytesMax).fill(9);
    await client.call(controlRoutes.publishRecord, {
      key: NodeId.fromHex(threadId),
      record: largest,
    });
    assert.deepEqual(node.received, [["publishRecord", NodeId.fromHex(threadId), largest]]);
  });
});

Deno.test("routes match exactly beside the path-parameter routes", async () => {
  await withApi(async ({ node, send }) => {
    for (const path of ["/v1/threadsx", `/v1/threads/${threadId}/x`, "/v1/profiles", "/v1/post"]) {
      assertError(await send(path), 404, "USAGE", /^Cannot find .*: the control API has /);
    }
    const wrongMethods: [string, string, string][] = [
      ["DELETE", "/v1/threads", "POST, GET"],
      ["POST", `/v1/threads/${threadId}`, "GET"],
      ["GET", "/v1/posts", "POST"],
      ["GET", "/v1/votes", "POST"],
      ["GET", "/v1/profile", "POST"],
      ["POST", `/v1/profiles/${authorKey}`, "GET"],
      ["GET", `/v1/records?key=${threadId}`, "POST"],
    ];
    for (const [method, path, allowed] of wrongMethods) {
      const answer = await send(path, { method });
      assertError(answer, 405, "USAGE", new RegExp(`: use ${allowed.replace(", ", " or ")}$`));
      assert.equal(answer.headers.get("allow"), allowed);
    }
    assert.deepEqual(node.received, []);
  });
});

Deno.test("discussion error codes map to their HTTP statuses and the client relays them", async () => {
  await withApi(async ({ client, node }) => {
    const cases: [RhizomeError, number][] = [
      [new ContentError("CONTENT_INVALID", "Cannot start the thread: the title is too long"), 422],
      [new ContentError("AUTHOR_MISSING", "Cannot sign: no author key in /x"), 422],
      [new ContentError("NOT_FOUND", "Cannot post: thread 1f1f is not found"), 404],
      [new ContentError("VOTE_REPEATED", "Cannot vote: the same vote is cast already"), 409],
      [new StoreError("RECORD_INVALID", "Cannot publish the record: bad signature"), 422],
      [new InvalidInputError("Cannot list threads: the cursor is malformed"), 400],
    ];
    for (const [error, status] of cases) {
      node.error = error;
      await assert.rejects(client.call(controlRoutes.newThread, goodThread), (thrown: unknown) => {
        assert.ok(thrown instanceof ControlApiError);
        assert.equal(thrown.httpStatus, status);
        assert.equal(thrown.code, error.code);
        assert.equal(thrown.message, error.message);
        return true;
      });
    }
  });
});

Deno.test("a thread or profile that is not there is a 404 NOT_FOUND", async () => {
  await withApi(async ({ client }) => {
    const missing = "99".repeat(20);
    await assert.rejects(
      client.call(controlRoutes.showThread, { thread: NodeId.fromHex(missing), limit: 5 }),
      (error: unknown) => {
        assert.ok(error instanceof ControlApiError);
        assert.equal(error.httpStatus, 404);
        assert.equal(error.code, "NOT_FOUND");
        assert.match(error.message, /it is not found/);
        return true;
      },
    );
    await assert.rejects(
      client.call(controlRoutes.showProfile, fromHex("77".repeat(32))),
      (error: unknown) => {
        assert.ok(error instanceof ControlApiError);
        assert.equal(error.code, "NOT_FOUND");
        return true;
      },
    );
  });
});

Deno.test("the popular listing's source and explain travel to the node, and a key's popularity comes back", async () => {
  await withApi(async ({ client, node }) => {
    await client.call(controlRoutes.listThreads, {
      order: "popular",
      limit: 5,
      source: "local",
      explain: true,
    });
    await client.call(controlRoutes.listThreads, { order: "popular", limit: 5, source: "global" });
    assert.deepEqual(await client.call(controlRoutes.popularity, popularKey), popularReport);
    assert.deepEqual(node.received, [
      ["listThreads", { order: "popular", limit: 5, source: "local", explain: true }],
      ["listThreads", { order: "popular", limit: 5, source: "global" }],
      ["popularity", popularKey],
    ]);
    await assert.rejects(
      client.call(controlRoutes.popularity, NodeId.fromHex("99".repeat(20))),
      (error: unknown) => {
        assert.ok(error instanceof ControlApiError);
        assert.equal(error.httpStatus, 404);
        assert.equal(error.code, "NOT_FOUND");
        return true;
      },
    );
  });
});

Deno.test("IDs and keys are parsed before any request: a malformed one cannot be sent", () => {
  assert.throws(() => parseIdHex("../status", "thread ID"), InvalidInputError);
  assert.throws(() => parseAuthorKeyHex(threadId), InvalidInputError);
  assert.throws(() => parseIdHex("xyz", "record key"), InvalidInputError);
  assert.ok(parseIdHex(threadId.toUpperCase(), "thread ID").equals(NodeId.fromHex(threadId)));
  assert.deepEqual(parseAuthorKeyHex(authorKey.toUpperCase()), fromHex(authorKey));
});

Deno.test("the client refuses an answer that is not the route's report", async () => {
  await withApi(async ({ client, node }) => {
    node.newThread = () => Promise.resolve({ ok: true } as never);
    node.listThreads = () => Promise.resolve({ threads: "none" } as never);
    node.showThread = () => Promise.resolve({ messages: [] } as never);
    node.showProfile = () => Promise.resolve({} as never);
    const malformed = (error: unknown) => {
      assert.ok(error instanceof Error && "code" in error);
      assert.equal(error.code, "UNAVAILABLE");
      assert.match(error.message, /^Cannot read the node's answer to .*is .* a rhizome node\?\)$/);
      return true;
    };
    await assert.rejects(client.call(controlRoutes.newThread, goodThread), malformed);
    await assert.rejects(
      client.call(controlRoutes.listThreads, { order: "recent", limit: 1 }),
      malformed,
    );
    await assert.rejects(
      client.call(controlRoutes.showThread, { thread: NodeId.fromHex(threadId), limit: 1 }),
      malformed,
    );
    await assert.rejects(client.call(controlRoutes.showProfile, fromHex(authorKey)), malformed);
  });
});
