/**
 * The control API and its client: loopback only, a 0600 token in the data dir, every route, no
 * handler call without the right token, one-line JSON errors with the right status, bounded
 * bodies, concurrency and time, and files that appear on start and go on close.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DataDirError, InvalidInputError, RhizomeError } from "../../src/core/errors.ts";
import { recordBytesMax } from "../../src/core/limits.ts";
import {
  CONTROL_API_FILES,
  ControlApi,
  type ControlApiLimits,
  type ControlHandlers,
  isLoopbackHost,
  type PeerReport,
  type PutReport,
  type StatusReport,
} from "../../src/api/control_api.ts";
import { ControlApiError, ControlClient } from "../../src/api/control_client.ts";
import { withTempDir } from "../_rhizome.ts";
import { FakeHandlers, withControlApi } from "./_fake_handlers.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { parseKeyHex } from "../../src/api/wire.ts";

const status: StatusReport = {
  node_id: "ab".repeat(20),
  contact: "rhz://example@127.0.0.1:7447",
  node_type: "full",
  uptime_s: 12,
  contacts: 3,
  stored_records: 5,
  version: "0.1.0",
};
const peers: PeerReport[] = [{ node_id: "cd".repeat(20), address: "192.0.2.7:7447" }];
const storedKey = "0123456789abcdef0123456789abcdef01234567";
const storedValue = new Uint8Array([0, 1, 2, 255]);

/**
 * Fake handlers that count every call, so a test can prove a handler was not reached (the
 * discussion handlers record theirs in `received`).
 */
class FakeNode extends FakeHandlers implements ControlHandlers {
  calls = 0;
  puts: { value: Uint8Array; ttlS?: number }[] = [];
  gets: string[] = [];
  stops = 0;
  /** What the next calls wait for before answering; resolved when set to undefined. */
  gate?: Promise<void>;
  /** Thrown by put, when set. */
  putError?: unknown;
  /** Run by stop, when set. */
  onStop?: () => Promise<void>;

  override async status(): Promise<StatusReport> {
    this.calls++;
    await this.gate;
    return status;
  }
  override peers(): Promise<PeerReport[]> {
    this.calls++;
    return Promise.resolve(peers);
  }
  override put(value: Uint8Array, ttlS?: number): Promise<PutReport> {
    this.calls++;
    if (this.putError) return Promise.reject(this.putError);
    this.puts.push({ value, ttlS });
    return Promise.resolve({ key: storedKey, stored: 2, holders: 3, quorum: 2 });
  }
  override get(key: NodeId): Promise<Uint8Array | undefined> {
    this.calls++;
    this.gets.push(key.toHex());
    return Promise.resolve(key.toHex() === storedKey ? storedValue : undefined);
  }
  override async stop(): Promise<void> {
    this.calls++;
    this.stops++;
    await this.onStop?.();
  }
}

interface Fixture {
  api: ControlApi;
  node: FakeNode;
  dataDir: string;
  token: string;
  client: ControlClient;
}

function withApi(
  test: (fixture: Fixture) => Promise<void>,
  limits: Partial<ControlApiLimits> = {},
): Promise<void> {
  const node = new FakeNode();
  return withControlApi(node, (running) => test({ ...running, node }), limits);
}

interface RawAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** One request with a chosen Authorization header (none when `token` is undefined). */
async function send(
  api: ControlApi,
  path: string,
  options: { method?: string; token?: string; authorization?: string; body?: Uint8Array } = {},
): Promise<RawAnswer> {
  const headers: Record<string, string> = {};
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(api.url + path, {
    method: options.method ?? "GET",
    headers,
    body: options.body as Uint8Array<ArrayBuffer> | undefined,
  });
  const text = await response.text();
  let body: unknown = text;
  if (response.headers.get("content-type") === "application/json") body = JSON.parse(text);
  return { status: response.status, headers: response.headers, body };
}

/** Asserts an error answer: the status, the code, and a one-line message matching `pattern`. */
function assertError(answer: RawAnswer, status: number, code: string, pattern: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  const body = answer.body as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.equal(body.error.code, code);
  assert.match(body.error.message, pattern);
  assert.ok(!body.error.message.includes("\n"), "the message is one line");
}

Deno.test("start() writes a 0600 token and api.json with the real port and pid", async () => {
  await withApi(async ({ api, dataDir, token }) => {
    assert.notEqual(api.port, 0);
    assert.equal(api.url, `http://127.0.0.1:${api.port}`);
    const tokenPath = join(dataDir, CONTROL_API_FILES.token);
    assert.equal((await Deno.stat(tokenPath)).mode! & 0o777, 0o600);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/, "32 random bytes in base64url");
    const address = JSON.parse(await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.address)));
    assert.deepEqual(address, { url: api.url, pid: Deno.pid });
    const names = [];
    for await (const entry of Deno.readDir(dataDir)) names.push(entry.name);
    assert.deepEqual(names.sort(), ["api.json", "api.token"], "no temporary files left");
  });
});

Deno.test("each start() makes a new token", async () => {
  const tokens = new Set<string>();
  for (let i = 0; i < 2; i++) {
    await withApi(({ token }) => {
      tokens.add(token);
      return Promise.resolve();
    });
  }
  assert.equal(tokens.size, 2);
});

Deno.test("the client reaches every route", async () => {
  await withApi(async ({ client, node }) => {
    assert.deepEqual(await client.call(controlRoutes.status), status);
    assert.deepEqual(await client.call(controlRoutes.peers), peers);
    assert.deepEqual(await client.call(controlRoutes.put, { value: storedValue, ttlS: 600 }), {
      key: storedKey,
      stored: 2,
      holders: 3,
      quorum: 2,
    });
    assert.deepEqual(await client.call(controlRoutes.put, { value: new Uint8Array(0) }), {
      key: storedKey,
      stored: 2,
      holders: 3,
      quorum: 2,
    });
    assert.deepEqual(node.puts, [
      { value: storedValue, ttlS: 600 },
      { value: new Uint8Array(0), ttlS: undefined },
    ]);
    assert.deepEqual(
      await client.call(controlRoutes.get, NodeId.fromHex(storedKey.toUpperCase())),
      storedValue,
    );
    assert.equal(await client.call(controlRoutes.get, NodeId.fromHex("ff".repeat(20))), undefined);
    assert.deepEqual(node.gets, [storedKey, "ff".repeat(20)], "keys reach the node lower-case");
    await client.call(controlRoutes.stop);
    await client.call(controlRoutes.stop);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(node.stops, 1, "a second stop request does not stop twice");
  });
});

Deno.test("a put of the largest value is accepted whole", async () => {
  await withApi(async ({ client, node }) => {
    const value = new Uint8Array(recordBytesMax).fill(7);
    await client.call(controlRoutes.put, { value: value });
    assert.deepEqual(node.puts[0].value, value);
  });
});

Deno.test("without the right token every route answers 401 and no handler runs", async () => {
  await withApi(async ({ api, node, token }) => {
    const routes = [
      ["GET", "/v1/status"],
      ["GET", "/v1/peers"],
      ["POST", "/v1/put?ttl=60"],
      ["GET", `/v1/get/${storedKey}`],
      ["POST", "/v1/stop"],
      ["GET", "/v1/nothing"],
      ["DELETE", "/v1/status"],
      ["POST", "/v1/threads"],
      ["GET", "/v1/threads"],
      ["GET", `/v1/threads/${storedKey}`],
      ["POST", "/v1/posts"],
      ["POST", "/v1/votes"],
      ["POST", "/v1/profile"],
      ["GET", `/v1/profiles/${"ab".repeat(32)}`],
      ["POST", `/v1/records?key=${storedKey}`],
    ];
    const wrongTokens = [
      {},
      { token: "" },
      { token: token.slice(0, -1) },
      { token: token + "x" },
      { token: token.slice(0, -1) + (token.endsWith("A") ? "B" : "A") },
      { authorization: `Basic ${token}` },
      { authorization: token },
    ];
    for (const [method, path] of routes) {
      for (const credentials of wrongTokens) {
        const answer = await send(api, path, { method, ...credentials, body: undefined });
        assertError(answer, 401, "UNAVAILABLE", /missing or wrong bearer token/);
        assert.match(answer.headers.get("www-authenticate") ?? "", /^Bearer/);
      }
    }
    assert.equal(node.calls, 0);
    assert.deepEqual(node.received, []);
    const wrongClient = new ControlClient(api.url, token.slice(1) + "x");
    await assert.rejects(wrongClient.call(controlRoutes.status), (error: unknown) => {
      assert.ok(error instanceof ControlApiError);
      assert.equal(error.httpStatus, 401);
      assert.equal(error.code, "UNAVAILABLE");
      return true;
    });
    assert.equal(node.calls, 0);
  });
});

Deno.test("the bearer scheme is case-insensitive", async () => {
  await withApi(async ({ api, token }) => {
    const answer = await send(api, "/v1/status", { authorization: `bearer ${token}` });
    assert.equal(answer.status, 200);
  });
});

Deno.test("bad keys, TTLs and parameters answer 400 without a handler call", async () => {
  await withApi(async ({ api, node, token }) => {
    for (const key of ["", "abc", "g".repeat(40), "ab".repeat(21), "%20" + "a".repeat(37)]) {
      const answer = await send(api, `/v1/get/${key}`, { token });
      assertError(answer, 400, "INVALID_INPUT", /^Cannot read the key: expected 40 hex digits/);
    }
    for (const ttl of ["0", "-1", "abc", "1e3", "1.5", "", "315360001", "99999999999"]) {
      const answer = await send(api, `/v1/put?ttl=${ttl}`, { method: "POST", token });
      assertError(answer, 400, "INVALID_INPUT", /^Cannot read the TTL: expected whole seconds/);
    }
    assertError(
      await send(api, "/v1/put?tll=60", { method: "POST", token }),
      400,
      "INVALID_INPUT",
      /unknown parameter "tll" \(expected ttl\)/,
    );
    assertError(
      await send(api, "/v1/status?verbose=1", { token }),
      400,
      "INVALID_INPUT",
      /unknown parameter "verbose"/,
    );
    assert.equal(node.calls, 0);
  });
});

Deno.test("an unknown route answers 404 and a wrong method 405 with Allow", async () => {
  await withApi(async ({ api, node, token }) => {
    for (const path of ["/", "/v1", "/v1/status/", "/v2/status", "/v1/get"]) {
      assertError(await send(api, path, { token }), 404, "USAGE", /^Cannot find .*: the control/);
    }
    const wrongMethods = [
      ["POST", "/v1/status", "GET"],
      ["PUT", "/v1/peers", "GET"],
      ["GET", "/v1/put", "POST"],
      ["DELETE", `/v1/get/${storedKey}`, "GET"],
      ["GET", "/v1/stop", "POST"],
    ];
    for (const [method, path, allowed] of wrongMethods) {
      const answer = await send(api, path, { method, token });
      assertError(answer, 405, "USAGE", new RegExp(`: use ${allowed}$`));
      assert.equal(answer.headers.get("allow"), allowed);
    }
    assert.equal(node.calls, 0);
  });
});

Deno.test("a value over the record limit answers 413 and is not stored", async () => {
  await withApi(async ({ api, client, node, token }) => {
    const answer = await send(api, "/v1/put", {
      method: "POST",
      token,
      body: new Uint8Array(recordBytesMax + 1),
    });
    assertError(answer, 413, "INVALID_INPUT", /larger than 65536 bytes/);
    await assert.rejects(
      client.call(controlRoutes.put, { value: new Uint8Array(recordBytesMax + 1) }),
      InvalidInputError,
    );
    assert.equal(node.calls, 0);
  });
});

Deno.test("a body sent without Content-Length is cut off at the limit", async () => {
  await withApi(async ({ api, node, token }) => {
    const chunk = new Uint8Array(16 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > recordBytesMax) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${api.url}/v1/put`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body,
    });
    const answer = {
      status: response.status,
      headers: response.headers,
      body: await response.json(),
    };
    assertError(answer, 413, "INVALID_INPUT", /larger than/);
    assert.equal(node.calls, 0);
  });
});

Deno.test("a handler's RhizomeError keeps its code; anything else is a 500", async () => {
  await withApi(async ({ api, client, node, token }) => {
    node.putError = new RhizomeError("STORE_FULL", "Cannot store the value: the store is full");
    await assert.rejects(
      client.call(controlRoutes.put, { value: storedValue }),
      (error: unknown) => {
        assert.ok(error instanceof ControlApiError);
        assert.equal(error.httpStatus, 507);
        assert.equal(error.code, "STORE_FULL");
        assert.equal(error.message, "Cannot store the value: the store is full");
        return true;
      },
    );
    node.putError = new InvalidInputError("Cannot put the value: bad\nsecond line");
    assertError(
      await send(api, "/v1/put", { method: "POST", token, body: storedValue }),
      400,
      "INVALID_INPUT",
      /^Cannot put the value: bad$/,
    );
    node.putError = new TypeError("x is undefined");
    assertError(
      await send(api, "/v1/put", { method: "POST", token, body: storedValue }),
      500,
      "UNAVAILABLE",
      /^Cannot put the value: internal error in the node \(x is undefined\)$/,
    );
  });
});

Deno.test("requests beyond the concurrency limit answer 503 at once", async () => {
  let open!: () => void;
  await withApi(async ({ api, client, node, token }) => {
    node.gate = new Promise((resolve) => open = resolve);
    const waiting = [client.call(controlRoutes.status), client.call(controlRoutes.status)];
    while (node.calls < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    const answer = await send(api, "/v1/peers", { token });
    assertError(answer, 503, "UNAVAILABLE", /serving 2 already/);
    assert.equal(answer.headers.get("retry-after"), "1");
    assert.equal(node.calls, 2);
    open();
    assert.deepEqual(await Promise.all(waiting), [status, status]);
    assert.deepEqual(await client.call(controlRoutes.peers), peers, "slots free again");
  }, { concurrentRequestsMax: 2 });
});

Deno.test("a request that outlasts the timeout answers 504", async () => {
  let open!: () => void;
  await withApi(async ({ api, client, node, token }) => {
    node.gate = new Promise((resolve) => open = resolve);
    assertError(
      await send(api, "/v1/status", { token }),
      504,
      "UNAVAILABLE",
      /no answer within 0.05 s/,
    );
    assertError(
      await send(api, "/v1/peers", { token }),
      503,
      "UNAVAILABLE",
      /serving 1 already/,
      // The timed-out handler still holds its slot until it settles.
    );
    open();
    await node.gate;
    await new Promise((resolve) => setTimeout(resolve, 1));
    assert.deepEqual(await client.call(controlRoutes.peers), peers);
  }, { requestTimeoutMs: 50, concurrentRequestsMax: 1 });
});

Deno.test("start() refuses a non-loopback host or a bad port and writes nothing", async () => {
  await withTempDir(async (dataDir) => {
    const hosts = ["0.0.0.0", "::", "[::]", "192.0.2.1", "example.com", "128.0.0.1", "127.0.0.256"];
    for (const host of hosts) {
      await assert.rejects(
        ControlApi.start({
          listen: { host, port: 0 },
          dataDirPath: dataDir,
          handlers: new FakeNode(),
        }),
        (error: unknown) => {
          assert.ok(error instanceof InvalidInputError);
          assert.match(
            error.message,
            /^Cannot start the control API on .*: the host must be loopback/,
          );
          assert.ok(!error.message.includes("\n"));
          return true;
        },
      );
    }
    for (const port of [-1, 65_536, 1.5]) {
      await assert.rejects(
        ControlApi.start({
          listen: { host: "127.0.0.1", port },
          dataDirPath: dataDir,
          handlers: new FakeNode(),
        }),
        /the port must be 0 to 65535/,
      );
    }
    assert.deepEqual([...Deno.readDirSync(dataDir)], []);
  });
});

Deno.test("start() accepts localhost and ::1", async () => {
  await withTempDir(async (dataDir) => {
    const api = await ControlApi.start({
      listen: { host: "localhost", port: 0 },
      dataDirPath: dataDir,
      handlers: new FakeNode(),
    });
    try {
      assert.match(api.url, /^http:\/\/127\.0\.0\.1:[0-9]+$/);
      assert.deepEqual(
        await (await ControlClient.fromDataDir(dataDir)).call(controlRoutes.status),
        status,
      );
    } finally {
      await api.close();
    }
  });
  await withTempDir(async (dataDir) => {
    let api: ControlApi;
    try {
      api = await ControlApi.start({
        listen: { host: "[::1]", port: 0 },
        dataDirPath: dataDir,
        handlers: new FakeNode(),
      });
    } catch (error) {
      // A host without IPv6 loopback (some containers) cannot bind ::1; nothing to test there.
      if (error instanceof RhizomeError && error.code === "UNAVAILABLE") return;
      throw error;
    }
    try {
      assert.match(api.url, /^http:\/\/\[::1\]:[0-9]+$/);
      assert.deepEqual(
        await (await ControlClient.fromDataDir(dataDir)).call(controlRoutes.peers),
        peers,
      );
    } finally {
      await api.close();
    }
  });
});

Deno.test("start() on a port in use fails and leaves the other API's files", async () => {
  await withApi(async ({ api, dataDir }) => {
    const before = await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.address));
    await assert.rejects(
      ControlApi.start({
        listen: { host: "127.0.0.1", port: api.port },
        dataDirPath: dataDir,
        handlers: new FakeNode(),
      }),
      (error: unknown) => {
        assert.ok(error instanceof RhizomeError);
        assert.equal(error.code, "UNAVAILABLE");
        assert.match(error.message, /^Cannot start the control API on 127\.0\.0\.1:[0-9]+: /);
        return true;
      },
    );
    assert.equal(await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.address)), before);
  });
});

Deno.test("start() into an unwritable data dir fails with DataDirError", async () => {
  await withTempDir(async (directory) => {
    const dataDir = join(directory, "missing");
    await assert.rejects(
      ControlApi.start({
        listen: { host: "127.0.0.1", port: 0 },
        dataDirPath: dataDir,
        handlers: new FakeNode(),
      }),
      (error: unknown) => {
        assert.ok(error instanceof DataDirError);
        assert.match(error.message, /^Cannot write the control API files into /);
        return true;
      },
    );
  });
});

Deno.test("close() removes both files, twice is harmless, then no node is found", async () => {
  await withTempDir(async (dataDir) => {
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: new FakeNode(),
    });
    await api.close();
    await api.close();
    assert.deepEqual([...Deno.readDirSync(dataDir)], []);
    await assert.rejects(ControlClient.fromDataDir(dataDir), (error: unknown) => {
      assert.ok(error instanceof RhizomeError);
      assert.equal(error.code, "UNAVAILABLE");
      assert.equal(
        error.message,
        `Cannot reach the node: no node is running with data dir ${dataDir} (api.json missing)`,
      );
      return true;
    });
  });
});

Deno.test("close() leaves files that another node has written since", async () => {
  await withTempDir(async (dataDir) => {
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: new FakeNode(),
    });
    const other = '{"url":"http://127.0.0.1:1","pid":1}\n';
    await Deno.writeTextFile(join(dataDir, CONTROL_API_FILES.address), other);
    await api.close();
    assert.equal(await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.address)), other);
    await assert.rejects(Deno.stat(join(dataDir, CONTROL_API_FILES.token)), Deno.errors.NotFound);
  });
});

Deno.test("POST /v1/stop lets the node close the API, which removes its files", async () => {
  await withTempDir(async (dataDir) => {
    const node = new FakeNode();
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: node,
    });
    let closed!: Promise<void>;
    node.onStop = () => closed = api.close();
    try {
      const client = await ControlClient.fromDataDir(dataDir);
      await client.call(controlRoutes.stop);
      assert.equal(await client.waitUntilGone(5_000), true);
      await closed;
      assert.equal(node.stops, 1);
      assert.deepEqual([...Deno.readDirSync(dataDir)], []);
    } finally {
      await api.close();
    }
  });
});

Deno.test("the client reports a node that is gone but left its files", async () => {
  await withTempDir(async (dataDir) => {
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: new FakeNode(),
    });
    const addressPath = join(dataDir, CONTROL_API_FILES.address);
    const tokenPath = join(dataDir, CONTROL_API_FILES.token);
    const saved = [await Deno.readTextFile(addressPath), await Deno.readTextFile(tokenPath)];
    await api.close();
    // What a crashed node leaves behind.
    await Deno.writeTextFile(addressPath, saved[0]);
    await Deno.writeTextFile(tokenPath, saved[1]);
    const client = await ControlClient.fromDataDir(dataDir);
    await assert.rejects(client.call(controlRoutes.status), (error: unknown) => {
      assert.ok(error instanceof RhizomeError && !(error instanceof ControlApiError));
      assert.equal(error.code, "UNAVAILABLE");
      assert.match(error.message, new RegExp(`the node at ${api.url} is not answering`));
      return true;
    });
    assert.equal(await client.waitUntilGone(0), true);
  });
});

Deno.test("the client refuses unreadable, corrupt or non-loopback files", async () => {
  await withTempDir(async (dataDir) => {
    const addressPath = join(dataDir, CONTROL_API_FILES.address);
    const tokenPath = join(dataDir, CONTROL_API_FILES.token);
    const token = "A".repeat(43);
    const cases: [string, string | undefined, RegExp, string][] = [
      [
        '{"url":"http://127.0.0.1:7448","pid":1}',
        undefined,
        /api\.token: it does not exist/,
        "DATA_DIR_UNUSABLE",
      ],
      [
        '{"url":"http://127.0.0.1:7448","pid":1}',
        "short",
        /api\.token: it is not a token/,
        "DATA_DIR_UNUSABLE",
      ],
      ["not json", token, /api\.json is not a control API address \(not JSON\)$/, "UNAVAILABLE"],
      ['{"pid":1}', token, /\(no url\)$/, "UNAVAILABLE"],
      ['{"url":"http://127.0.0.1:7448"}', token, /\(no pid\)$/, "UNAVAILABLE"],
      [
        '{"url":"http://192.0.2.1:7448","pid":1}',
        token,
        /\(not a loopback address\)$/,
        "UNAVAILABLE",
      ],
      ['{"url":"https://127.0.0.1:7448","pid":1}', token, /\(not an http URL\)$/, "UNAVAILABLE"],
      ["x".repeat(5000), token, /api\.json: it is larger than 4096 bytes$/, "DATA_DIR_UNUSABLE"],
    ];
    for (const [address, tokenText, pattern, code] of cases) {
      await Deno.writeTextFile(addressPath, address);
      await Deno.remove(tokenPath).catch(() => {});
      if (tokenText !== undefined) await Deno.writeTextFile(tokenPath, tokenText);
      await assert.rejects(ControlClient.fromDataDir(dataDir), (error: unknown) => {
        assert.ok(error instanceof RhizomeError);
        assert.equal(error.code, code, error.message);
        assert.match(error.message, pattern);
        assert.ok(!error.message.includes("\n"));
        return true;
      });
    }
  });
});

Deno.test("a key is parsed before anything is sent: a malformed one cannot be", () => {
  assert.throws(
    () => parseKeyHex("xyz"),
    (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.equal(error.message, 'Cannot read the key: expected 40 hex digits, got "xyz"');
      return true;
    },
  );
  assert.equal(parseKeyHex(storedKey.toUpperCase()).toHex(), storedKey);
});

Deno.test("isLoopbackHost() accepts 127/8, ::1 and localhost only", () => {
  const loopback = ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"];
  for (const host of loopback) assert.equal(isLoopbackHost(host), true, host);
  const remote = [
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "::ffff:10.0.0.1",
    "127.0.0.256",
    "127.0.0.1.example.com",
    "localhost.example.com",
    "",
  ];
  for (const host of remote) assert.equal(isLoopbackHost(host), false, host);
});

Deno.test("the client refuses a URL that would send the token off this machine", () => {
  for (const url of ["http://192.0.2.1:7448", "https://127.0.0.1:7448", "127.0.0.1:7448"]) {
    assert.throws(() => new ControlClient(url, "A".repeat(43)), InvalidInputError);
  }
});

Deno.test("the client gives up on a node that does not answer in time", async () => {
  let open!: () => void;
  await withApi(async ({ api, node, token }) => {
    node.gate = new Promise((resolve) => open = resolve);
    const client = new ControlClient(api.url, token, { timeoutMs: 50 });
    try {
      await assert.rejects(client.call(controlRoutes.status), (error: unknown) => {
        assert.ok(error instanceof RhizomeError && !(error instanceof ControlApiError));
        assert.equal(error.code, "UNAVAILABLE");
        assert.equal(
          error.message,
          `Cannot reach the node: the node at ${api.url} did not answer within 0.05 s`,
        );
        return true;
      });
    } finally {
      open();
    }
  });
});
