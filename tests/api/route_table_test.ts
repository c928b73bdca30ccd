/**
 * The route table is the one place a control route is declared: a route added by a test, with
 * one table entry and one handler, is served (routing, query check, 400 before the handler,
 * errors relayed, listed in the 404 message) and called by the client like the node's own. The
 * node's table itself: paths and names unique, every route's handler a method of the node.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CONTROL_API_FILES, ControlApi } from "../../src/api/control_api.ts";
import { ControlApiError, ControlClient } from "../../src/api/control_client.ts";
import { controlRoutes, defineRoute, routeLine } from "../../src/api/routes.ts";
import { parsePageLimit } from "../../src/api/wire.ts";
import { ContentError, InvalidInputError } from "../../src/core/errors.ts";
import { RhizomeNode } from "../../src/node/node.ts";
import { withTempDir } from "../_rhizome.ts";
import { FakeHandlers } from "./_fake_handlers.ts";

/** Most repeats the fixture route allows: small, so a test can go past it. */
const echoTimesMax = 3;

/** The fixture's request: a word from the path, a count from the query. */
interface EchoRequest {
  word: string;
  times: number;
}

/** The one handler the new route needs, beside the node's own. */
class EchoHandlers extends FakeHandlers {
  readonly echoed: EchoRequest[] = [];

  echo(request: EchoRequest): Promise<{ echoed: string }> {
    this.echoed.push(request);
    if (request.word === "missing") {
      return Promise.reject(new ContentError("NOT_FOUND", "Cannot echo: missing is not here"));
    }
    return Promise.resolve({ echoed: Array(request.times).fill(request.word).join(" ") });
  }
}

/** The one table entry: `GET /v1/echo/<WORD>?times=N`. */
const echoRoute = defineRoute<EchoHandlers, EchoRequest, { echoed: string }>({
  method: "GET",
  path: "/v1/echo/",
  parameter: "WORD",
  query: ["times"],
  action: "echo the word",
  parse: (input) => {
    if (!/^[a-z]{1,16}$/.test(input.parameter)) {
      throw new InvalidInputError(`Cannot read the word: got "${input.parameter}"`);
    }
    const times = input.query.get("times");
    return Promise.resolve({
      word: input.parameter,
      times: times === null ? 1 : parsePageLimit(times, echoTimesMax),
    });
  },
  call: (handlers, request) => handlers.echo(request),
  send: (request) => ({
    parameter: request.word,
    query: new URLSearchParams({ times: String(request.times) }),
  }),
  read: async (response) => {
    const body = await response.json();
    if (typeof body !== "object" || body === null || !("echoed" in body)) {
      throw response.malformed("echo", "no echoed");
    }
    return body as { echoed: string };
  },
});

const routes = { ...controlRoutes, echo: echoRoute };

interface Fixture {
  handlers: EchoHandlers;
  client: ControlClient;
  /** Sends one authorized GET and returns the status and parsed body. */
  get(path: string): Promise<{ status: number; body: { error?: { message: string } } }>;
}

async function withEchoApi(test: (fixture: Fixture) => Promise<void>): Promise<void> {
  await withTempDir(async (dataDir) => {
    const handlers = new EchoHandlers();
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers,
      routes,
    });
    try {
      const token = (await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.token))).trim();
      const get = async (path: string) => {
        const response = await fetch(api.url + path, {
          headers: { authorization: `Bearer ${token}` },
        });
        return { status: response.status, body: JSON.parse(await response.text()) };
      };
      await test({ handlers, client: await ControlClient.fromDataDir(dataDir), get });
    } finally {
      await api.close();
    }
  });
}

Deno.test("a route added by one table entry and one handler is served and called", async () => {
  await withEchoApi(async ({ handlers, client }) => {
    assert.deepEqual(await client.call(echoRoute, { word: "hi", times: 3 }), {
      echoed: "hi hi hi",
    });
    assert.deepEqual(handlers.echoed, [{ word: "hi", times: 3 }]);
    // The node's own routes are served beside it.
    assert.equal((await client.call(controlRoutes.status)).node_type, "full");
  });
});

Deno.test("the added route's bad input answers 400 and reaches no handler", async () => {
  await withEchoApi(async ({ handlers, get }) => {
    const cases: [string, RegExp][] = [
      ["/v1/echo/HI", /^Cannot read the word: got "HI"$/],
      [`/v1/echo/hi?times=${echoTimesMax + 1}`, /^Cannot read the limit: expected a whole/],
      [
        "/v1/echo/hi?count=2",
        /^Cannot read the request: unknown parameter "count" \(expected times\)$/,
      ],
      ["/v1/echo/hi?times=1&times=2", /parameter "times" is repeated/],
    ];
    for (const [path, message] of cases) {
      const answer = await get(path);
      assert.equal(answer.status, 400, path);
      assert.match(answer.body.error!.message, message);
    }
    assert.deepEqual(handlers.echoed, []);
    assert.deepEqual(handlers.received, []);
  });
});

Deno.test("the added route's errors are relayed and it is listed with the others", async () => {
  await withEchoApi(async ({ client, get }) => {
    await assert.rejects(
      client.call(echoRoute, { word: "missing", times: 1 }),
      (error: unknown) => {
        assert.ok(error instanceof ControlApiError);
        assert.equal(error.httpStatus, 404);
        assert.equal(error.code, "NOT_FOUND");
        assert.equal(error.message, "Cannot echo: missing is not here");
        return true;
      },
    );
    const unknown = await get("/v1/nothing");
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error!.message, /, GET \/v1\/echo\/WORD$/);
    assert.equal((await get("/v1/echo/hi/there")).status, 404, "one segment after the path");
  });
});

Deno.test("the node's table: unique routes, each handler a method of RhizomeNode", () => {
  const lines = Object.values(controlRoutes).map(routeLine);
  assert.equal(new Set(lines).size, lines.length);
  assert.ok(lines.includes("GET /v1/threads/ID"));
  assert.ok(lines.includes("POST /v1/snapshots/import"));
  const nodeMethods = Object.getOwnPropertyNames(RhizomeNode.prototype);
  for (const [name, route] of Object.entries(controlRoutes)) {
    // The open routes (metrics as text or JSON, the dashboard) all render the node's `metrics`.
    const handler = route.open ? "metrics" : name;
    assert.ok(nodeMethods.includes(handler), `RhizomeNode has no handler for the route ${name}`);
    assert.match(route.action, /^[a-z]/, `${name}: the action continues "Cannot …"`);
  }
});
