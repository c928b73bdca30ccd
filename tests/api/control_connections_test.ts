/**
 * The control API's connections: idle and slow-header connections are closed at the header
 * timeout or evicted for newcomers, so however many a local program opens the CLI is still
 * answered; the request line and headers are bounded and checked; both body framings and
 * `Expect: 100-continue` work over raw sockets; shutdown does not wait for idle connections.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CONTROL_API_FILES,
  ControlApi,
  type ControlApiLimits,
  controlHeaderBytesMax,
} from "../../src/api/control_api.ts";
import type { ControlClient } from "../../src/api/control_client.ts";
import type { Log } from "../../src/core/log.ts";
import { withTempDir } from "../_rhizome.ts";
import { FakeHandlers, withControlApi } from "./_fake_handlers.ts";
import { controlRoutes } from "../../src/api/routes.ts";

/** Generous: a shared machine may stall for a second. */
const WAIT_MS_MAX = 5_000;

/** Fake handlers whose status waits for `gate` and whose put records the value. */
class GatedNode extends FakeHandlers {
  gate?: Promise<void>;
  values: Uint8Array[] = [];

  override async status() {
    await this.gate;
    return await super.status();
  }

  override put(value: Uint8Array) {
    this.values.push(value);
    return Promise.resolve({ key: "01".repeat(20), stored: 1, holders: 2, quorum: 2 });
  }
}

interface Fixture {
  api: ControlApi;
  node: GatedNode;
  token: string;
  client: ControlClient;
}

function withApi(
  test: (fixture: Fixture) => Promise<void>,
  limits: Partial<ControlApiLimits> = {},
): Promise<void> {
  const node = new GatedNode();
  return withControlApi(node, (running) => test({ ...running, node }), limits);
}

function connect(api: ControlApi): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: api.port });
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Everything the server sends until it closes (bounded by {@link WAIT_MS_MAX}). */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const timer = setTimeout(() => conn.close(), WAIT_MS_MAX);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const count = await conn.read(buffer).catch(() => null);
      if (count === null) break;
      chunks.push(buffer.slice(0, count));
    }
  } finally {
    clearTimeout(timer);
  }
  return new TextDecoder().decode(await new Blob(chunks).bytes());
}

/** Sends `text` on a new connection and returns the whole answer. */
async function exchange(api: ControlApi, text: string | Uint8Array): Promise<string> {
  const conn = await connect(api);
  try {
    await writeAll(conn, typeof text === "string" ? new TextEncoder().encode(text) : text);
    return await readToEnd(conn);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by readToEnd's timer.
    }
  }
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS_MAX;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`waited ${WAIT_MS_MAX} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("idle and slow-header connections beyond the cap are evicted; the client is answered", async () => {
  await withApi(async ({ api, client }) => {
    const held: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const conn = await connect(api);
        // Half send nothing, half the start of a request and no more.
        if (i % 2 === 1) {
          await writeAll(conn, new TextEncoder().encode("GET /v1/status HTTP/1.1\r\n"));
        }
        held.push(conn);
      }
      await waitUntil(() => api.connectionStats().connectionsAccepted === 40, "40 accepted");
      const status = await client.call(controlRoutes.status);
      assert.equal(status.node_type, "full");
      // Evicted connections leave the count once their serving has wound down.
      await waitUntil(() => api.connectionStats().connections <= 8, "at most 8 connections");
      const stats = api.connectionStats();
      assert.ok(stats.connectionsEvicted >= 33, JSON.stringify(stats));
    } finally {
      for (const conn of held) conn.close();
    }
  }, { connectionsMax: 8 });
});

Deno.test("a connection whose headers do not arrive in time is closed without an answer", async () => {
  await withApi(async ({ api }) => {
    const idle = await connect(api);
    const slow = await connect(api);
    try {
      await writeAll(slow, new TextEncoder().encode("GET /v1/status HTTP/1.1\r\nHost: x\r\n"));
      assert.equal(await readToEnd(idle), "");
      assert.equal(await readToEnd(slow), "");
      await waitUntil(() => api.connectionStats().headerTimeouts === 2, "two header timeouts");
      assert.equal(api.connectionStats().connections, 0);
    } finally {
      idle.close();
      slow.close();
    }
  }, { headerTimeoutMs: 100 });
});

Deno.test("with every connection running a request, a new one is closed at once", async () => {
  await withApi(async ({ api, node, client }) => {
    let release = () => {};
    node.gate = new Promise((resolve) => release = resolve);
    const busy = [client.call(controlRoutes.status), client.call(controlRoutes.status)];
    await waitUntil(() => api.connectionStats().requestsHandled === 2, "two requests running");
    assert.equal(await exchange(api, "GET /v1/status HTTP/1.1\r\n\r\n"), "");
    assert.equal(api.connectionStats().connectionsRefused, 1);
    release();
    node.gate = undefined;
    for (const status of busy) assert.equal((await status).node_type, "full");
    assert.equal((await client.call(controlRoutes.status)).node_type, "full");
  }, { connectionsMax: 2 });
});

Deno.test("malformed, oversized or unsupported requests are refused before the handler", async () => {
  await withApi(async ({ api, node, token }) => {
    const auth = `Authorization: Bearer ${token}\r\n`;
    const cases: [string, RegExp][] = [
      ["NONSENSE\r\n\r\n", /^HTTP\/1\.1 400 .*malformed request line/s],
      ["GET /v1/status HTTP/2.0\r\n\r\n", /^HTTP\/1\.1 505 /],
      ["GET /v1/status HTTP/1.1\r\nbad header\r\n\r\n", /^HTTP\/1\.1 400 .*malformed header/s],
      [
        `POST /v1/put HTTP/1.1\r\n${auth}Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
        /^HTTP\/1\.1 400 .*both Content-Length and Transfer-Encoding/s,
      ],
      [
        `POST /v1/put HTTP/1.1\r\n${auth}Transfer-Encoding: gzip\r\n\r\n`,
        /^HTTP\/1\.1 501 /,
      ],
      [
        `POST /v1/put HTTP/1.1\r\n${auth}Content-Length: 1, 2\r\n\r\nx`,
        /^HTTP\/1\.1 400 .*Content-Length/s,
      ],
      [
        `GET /v1/status HTTP/1.1\r\nX-Pad: ${"a".repeat(controlHeaderBytesMax)}\r\n\r\n`,
        /^HTTP\/1\.1 431 .*exceed 16384 bytes/s,
      ],
      [`TRACE /v1/status HTTP/1.1\r\n${auth}\r\n`, /^HTTP\/1\.1 400 /],
    ];
    for (const [request, expected] of cases) {
      const answer = await exchange(api, request);
      assert.match(answer, expected, request.slice(0, 80));
      assert.match(answer, /\r\nconnection: close\r\n/);
      assert.match(answer, /"code":"(INVALID_INPUT|UNAVAILABLE)"/);
    }
    assert.equal(node.values.length, 0);
    assert.equal(api.connectionStats().requestsRefused, cases.length);
  });
});

Deno.test("chunked bodies and Expect: 100-continue work over a raw connection", async () => {
  await withApi(async ({ api, node, token }) => {
    const head = `POST /v1/put HTTP/1.1\r\nAuthorization: Bearer ${token}\r\n`;
    const chunked = await exchange(
      api,
      `${head}Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n`,
    );
    assert.match(chunked, /^HTTP\/1\.1 200 OK\r\n/);
    const conn = await connect(api);
    try {
      await writeAll(
        conn,
        new TextEncoder().encode(`${head}Content-Length: 3\r\nExpect: 100-continue\r\n\r\n`),
      );
      const interim = new Uint8Array(64);
      const count = await conn.read(interim);
      assert.equal(
        new TextDecoder().decode(interim.subarray(0, count ?? 0)),
        "HTTP/1.1 100 Continue\r\n\r\n",
      );
      await writeAll(conn, new TextEncoder().encode("xyz"));
      assert.match(await readToEnd(conn), /^HTTP\/1\.1 200 OK\r\n/);
    } finally {
      conn.close();
    }
    assert.deepEqual(node.values.map((value) => new TextDecoder().decode(value)), ["abcde", "xyz"]);
    const halfClosed = await connect(api);
    try {
      await writeAll(halfClosed, new TextEncoder().encode(`${head}Content-Length: 10\r\n\r\nabc`));
      await halfClosed.closeWrite();
      assert.match(await readToEnd(halfClosed), /^HTTP\/1\.1 400 .*closed inside the body/s);
    } finally {
      halfClosed.close();
    }
    assert.equal(node.values.length, 2);
  });
});

Deno.test("close() does not wait for idle connections", async () => {
  await withTempDir(async (dataDir) => {
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: new GatedNode(),
    });
    const idle = await connect(api);
    try {
      await waitUntil(() => api.connectionStats().connections === 1, "one connection");
      const started = performance.now();
      await api.close();
      assert.ok(performance.now() - started < WAIT_MS_MAX, "closed before any timeout");
      assert.equal(await readToEnd(idle), "");
    } finally {
      idle.close();
    }
  });
});

Deno.test("a request past its timeout is logged at info, what the abort made fail at debug", async () => {
  const lines: { level: string; message: string }[] = [];
  const record = (level: string) => (message: string) => void lines.push({ level, message });
  const log: Log = {
    trace: record("trace"),
    debug: record("debug"),
    info: record("info"),
    warning: record("warning"),
    error: record("error"),
    fatal: record("fatal"),
  };
  await withTempDir(async (dataDir) => {
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: new GatedNode(),
      log,
      limits: { requestTimeoutMs: 100 },
    });
    const conn = await connect(api);
    try {
      const token = (await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.token))).trim();
      // A body that never finishes: the read is aborted at the timeout.
      await writeAll(
        conn,
        new TextEncoder().encode(
          `POST /v1/put HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 10\r\n\r\nabc`,
        ),
      );
      assert.match(await readFirst(conn), /^HTTP\/1\.1 504 /);
      await waitUntil(() => lines.some((line) => line.level === "debug"), "the debug line");
    } finally {
      conn.close();
      await api.close();
    }
  });
  assert.ok(lines.some((line) => line.level === "info" && /\(504\)/.test(line.message)));
  assert.deepEqual(lines.filter((line) => line.level === "error"), []);
});

/** The first bytes the server sends. */
async function readFirst(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  const count = await conn.read(buffer);
  return new TextDecoder().decode(buffer.subarray(0, count ?? 0));
}
