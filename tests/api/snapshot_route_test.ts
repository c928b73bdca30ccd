/**
 * `POST /v1/snapshots/import` and its client: a good request reaches the handler with the path
 * and answers its report; a malformed body, a relative, empty or overlong path answer 400 and
 * reach nothing; the import errors map to their statuses; the route has its own, longer
 * timeout; and on a real store a missing or corrupt file answers 422 in one line, importing
 * nothing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CONTROL_API_FILES,
  ControlApi,
  type ControlApiLimits,
  snapshotPathLengthMax,
} from "../../src/api/control_api.ts";
import { ControlApiError, ControlClient } from "../../src/api/control_client.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import {
  InvalidInputError,
  RhizomeError,
  SnapshotError,
  StoreError,
} from "../../src/core/errors.ts";
import { importSnapshotInto, type ImportSummary } from "../../src/node/snapshot_import.ts";
import type { RecordStore } from "../../src/store/record_store.ts";
import { runInProcess, withTempDir } from "../_rhizome.ts";
import { immutable, openStore } from "../store/_store.ts";
import { FakeHandlers, importReportFor } from "./_fake_handlers.ts";
import { controlRoutes } from "../../src/api/routes.ts";

const route = "/v1/snapshots/import";

/** Fake handlers whose import can wait for a gate, or be replaced. */
class FakeImporter extends FakeHandlers {
  /** What the import waits for before answering. */
  gate?: Promise<void>;
  /** What status waits for before answering. */
  statusGate?: Promise<void>;
  /** Replaces the import, when set. */
  importer?: (path: string) => Promise<ImportSummary>;

  override async status() {
    await this.statusGate;
    return await super.status();
  }

  override async importSnapshot(path: string): Promise<ImportSummary> {
    await this.gate;
    if (this.importer) return await this.importer(path);
    return await super.importSnapshot(path);
  }
}

interface Fixture {
  api: ControlApi;
  node: FakeImporter;
  client: ControlClient;
  dataDir: string;
  /** Sends one authorized request; `json` goes as a JSON body. */
  send(path: string, options?: { method?: string; json?: unknown; body?: string }): Promise<Answer>;
}

interface Answer {
  status: number;
  body: unknown;
}

async function withApi(
  test: (fixture: Fixture) => Promise<void>,
  limits: Partial<ControlApiLimits> = {},
): Promise<void> {
  await withTempDir(async (dataDir) => {
    const node = new FakeImporter();
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: node,
      limits,
    });
    try {
      const token = (await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.token))).trim();
      const send: Fixture["send"] = async (path, options = {}) => {
        const headers: Record<string, string> = { authorization: `Bearer ${token}` };
        let body = options.body;
        if (options.json !== undefined) {
          body = JSON.stringify(options.json);
          headers["content-type"] = "application/json";
        }
        const response = await fetch(api.url + path, {
          method: options.method ?? "POST",
          headers,
          body,
        });
        return { status: response.status, body: JSON.parse(await response.text()) };
      };
      const client = await ControlClient.fromDataDir(dataDir);
      await test({ api, node, client, dataDir, send });
    } finally {
      await api.close();
    }
  });
}

function assertError(answer: Answer, status: number, code: string, pattern: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  const body = answer.body as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.equal(body.error.code, code);
  assert.match(body.error.message, pattern);
  assert.ok(!body.error.message.includes("\n"), "the message is one line");
}

Deno.test("POST /v1/snapshots/import passes the path and answers the report", async () => {
  await withApi(async ({ client, node, send }) => {
    const path = "/srv/backups/s.snapshot.gz";
    assert.deepEqual(
      await client.call(controlRoutes.importSnapshot, { path: path }),
      importReportFor(path),
    );
    const raw = await send(route, { json: { path } });
    assert.equal(raw.status, 200);
    assert.deepEqual(Object.keys(raw.body as object), [
      "path",
      "node_id",
      "records",
      "imported",
      "unchanged",
      "expired",
      "kept_newer",
      "refused_full",
    ]);
    assert.deepEqual(node.received, [["importSnapshot", path], ["importSnapshot", path]]);
  });
});

Deno.test("malformed import requests answer 400 and reach no handler", async () => {
  await withApi(async ({ node, send }) => {
    const cases: [unknown, RegExp][] = [
      [[], /the body must be a JSON object/],
      [null, /the body must be a JSON object/],
      ["/srv/s.gz", /the body must be a JSON object/],
      [{}, /field "path" is missing/],
      [{ path: 7 }, /field "path" must be a string/],
      [{ path: ["/srv/s.gz"] }, /field "path" must be a string/],
      [{ path: "/srv/s.gz", out: "/tmp" }, /unknown field "out" \(expected path\)/],
      [{ path: "" }, /field "path" must be a file path of 1 to 4096 characters/],
      [{ path: "/" + "a".repeat(snapshotPathLengthMax) }, /of 1 to 4096 characters/],
      [{ path: "/srv/s\u0000.gz" }, /without NUL/],
      [{ path: "s.snapshot.gz" }, /field "path" must be an absolute path .*"s\.snapshot\.gz"$/],
      [{ path: "./backups/s.gz" }, /must be an absolute path/],
      [{ path: "../s.gz" }, /must be an absolute path/],
    ];
    for (const [json, pattern] of cases) {
      assertError(await send(route, { json }), 400, "INVALID_INPUT", pattern);
    }
    assertError(
      await send(route, { body: '{"path":"/srv/s.gz"}' }),
      400,
      "INVALID_INPUT",
      /the body must be JSON \(Content-Type: application\/json\)/,
    );
    assertError(
      await send(route + "?path=/srv/s.gz", { json: { path: "/srv/s.gz" } }),
      400,
      "INVALID_INPUT",
      /unknown parameter "path" \(none expected\)/,
    );
    assertError(await send(route, { method: "GET" }), 405, "USAGE", /use POST/);
    // The longest path allowed is accepted.
    const longest = "/" + "a".repeat(snapshotPathLengthMax - 1);
    assert.equal((await send(route, { json: { path: longest } })).status, 200);
    assert.deepEqual(node.received, [["importSnapshot", longest]]);
  });
});

Deno.test("the client refuses a relative or empty path before sending it", async () => {
  await withApi(async ({ client, node }) => {
    for (const path of ["s.snapshot.gz", "", "./s.gz"]) {
      await assert.rejects(
        client.call(controlRoutes.importSnapshot, { path: path }),
        InvalidInputError,
      );
    }
    assert.deepEqual(node.received, []);
  });
});

Deno.test("import errors map to their HTTP statuses and the client relays them", async () => {
  await withApi(async ({ client, node }) => {
    const cases: [RhizomeError, number][] = [
      [new SnapshotError("SNAPSHOT_INVALID", "Snapshot /s.gz is refused: it is truncated"), 422],
      [new RhizomeError("UNAVAILABLE", "Cannot import /s.gz: this node is importing /t.gz"), 503],
      [new StoreError("STORE_FULL", "Cannot store record 00: the store is full"), 507],
      [new StoreError("STORE_UNUSABLE", "Cannot use the record store /x: it is closed"), 500],
    ];
    for (const [error, status] of cases) {
      node.error = error;
      await assert.rejects(
        client.call(controlRoutes.importSnapshot, { path: "/s.gz" }),
        (thrown: unknown) => {
          assert.ok(thrown instanceof ControlApiError);
          assert.equal(thrown.httpStatus, status);
          assert.equal(thrown.code, error.code);
          assert.equal(thrown.message, error.message);
          return true;
        },
      );
    }
  });
});

Deno.test("the import route has its own timeout, longer than the others'", async () => {
  let open!: () => void;
  await withApi(async ({ client, node, send }) => {
    node.gate = new Promise((resolve) => open = resolve);
    const importing = client.call(controlRoutes.importSnapshot, { path: "/s.gz" });
    // Other routes keep the general timeout.
    node.statusGate = new Promise((resolve) => setTimeout(resolve, 150));
    assertError(
      await send("/v1/status", { method: "GET" }),
      504,
      "UNAVAILABLE",
      /no answer within 0.05 s/,
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    open();
    assert.deepEqual(await importing, importReportFor("/s.gz"), "past requestTimeoutMs, answered");
    node.gate = new Promise(() => {});
    assertError(
      await send(route, { json: { path: "/s.gz" } }),
      504,
      "UNAVAILABLE",
      /no answer within 0.5 s/,
    );
  }, { requestTimeoutMs: 50, importTimeoutMs: 500, concurrentRequestsMax: 4 });
});

Deno.test("the client waits for an import as long as its import timeout", async () => {
  let open!: () => void;
  await withApi(async ({ api, node, dataDir }) => {
    node.gate = new Promise((resolve) => open = resolve);
    const token = (await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.token))).trim();
    const client = new ControlClient(api.url, token, { timeoutMs: 20, importTimeoutMs: 60 });
    try {
      await assert.rejects(
        client.call(controlRoutes.importSnapshot, { path: "/s.gz" }),
        (error: unknown) => {
          assert.ok(error instanceof RhizomeError && !(error instanceof ControlApiError));
          assert.match(error.message, /did not answer within 0.06 s$/);
          return true;
        },
      );
    } finally {
      open();
    }
  });
});

/** A data dir with `count` immutable records, exported to `file`. */
async function exportedSnapshot(root: string, file: string, count: number): Promise<void> {
  const source = join(root, "source");
  assert.equal((await runInProcess(["init", "--data-dir", source])).status, 0);
  const { store } = openStore(source, { clock: new VirtualClock(Date.now()) });
  for (let index = 0; index < count; index++) {
    const record = immutable(`route ${index}`);
    await store.putRecord(record.key, record.bytes);
  }
  await store.close();
  const exported = await runInProcess(["snapshot", "export", "--data-dir", source, "--out", file]);
  assert.equal(exported.status, 0, exported.stderr);
}

Deno.test("on a real store: a sound file imports, a missing or corrupt one answers 422 and imports nothing", async () => {
  await withApi(async ({ client, node, send, dataDir }) => {
    const clock = new VirtualClock(Date.now());
    const { store } = openStore(join(dataDir, "node"), { clock });
    const records = (target: RecordStore) => target.stats().values;
    node.importer = (path) => importSnapshotInto(store, path, clock);
    try {
      const file = join(dataDir, "s.snapshot.gz");
      await exportedSnapshot(dataDir, file, 10);

      const missing = join(dataDir, "missing.snapshot.gz");
      assertError(
        await send(route, { json: { path: missing } }),
        422,
        "SNAPSHOT_INVALID",
        /^Cannot read snapshot .*missing\.snapshot\.gz: /,
      );
      assertError(
        await send(route, { json: { path: dataDir } }),
        422,
        "SNAPSHOT_INVALID",
        /it is not a file/,
      );
      assert.equal(records(store), 0);

      const bytes = await Deno.readFile(file);
      const corrupt = join(dataDir, "corrupt.snapshot.gz");
      // The gzip trailer's CRC: every frame reads, the stream fails at its very end.
      const damaged = bytes.slice();
      damaged[damaged.length - 6] ^= 0x01;
      await Deno.writeFile(corrupt, damaged);
      assertError(
        await send(route, { json: { path: corrupt } }),
        422,
        "SNAPSHOT_INVALID",
        /^Snapshot .*corrupt\.snapshot\.gz is refused: /,
      );
      assert.equal(records(store), 0);

      const report = await client.call(controlRoutes.importSnapshot, { path: file });
      assert.equal(report.path, file);
      assert.equal(report.records, 10);
      assert.equal(report.imported, 10);
      assert.equal(records(store), 10);
      const again = await client.call(controlRoutes.importSnapshot, { path: file });
      assert.equal(again.unchanged, 10);
      assert.equal(again.imported, 0);
      assert.equal(records(store), 10);
    } finally {
      await store.close();
    }
  });
});
