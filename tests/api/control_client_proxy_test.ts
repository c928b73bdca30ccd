/**
 * A machine with `HTTP_PROXY` set (issue 19): the control client's loopback calls must reach the
 * node directly, never the proxy, which cannot see this machine's loopback.
 */

import assert from "node:assert/strict";
import { controlRoutes } from "../../src/api/routes.ts";
import { FakeHandlers, withControlApi } from "./_fake_handlers.ts";

Deno.test("control calls bypass an HTTP proxy named in the environment", async () => {
  // A "proxy" that answers every request with 502, so a call sent to it cannot pass for the node.
  const proxy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let proxied = 0;
  const serving = (async () => {
    for await (const connection of proxy) {
      proxied++;
      await connection.write(
        new TextEncoder().encode("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n"),
      ).catch(() => {});
      connection.close();
    }
  })();
  const saved = new Map(
    ["HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"].map((name) => [name, Deno.env.get(name)]),
  );
  try {
    Deno.env.set("HTTP_PROXY", `http://127.0.0.1:${(proxy.addr as Deno.NetAddr).port}`);
    Deno.env.set("NO_PROXY", "example.org");
    Deno.env.delete("no_proxy");
    await withControlApi(new FakeHandlers(), async ({ client }) => {
      const status = await client.call(controlRoutes.status);
      assert.equal(typeof status.node_id, "string");
    });
    assert.equal(proxied, 0, "no call went through the proxy");
    assert.deepEqual(Deno.env.get("NO_PROXY")?.split(","), ["example.org", "127.0.0.1"]);
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
    proxy.close();
    await serving.catch(() => {});
  }
});
