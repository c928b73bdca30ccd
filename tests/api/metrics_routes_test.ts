/**
 * The open metric routes: `GET /metrics`, `GET /v1/metrics` and `GET /dashboard` answer loopback
 * callers without the bearer token (every other route still needs it), refuse a request whose
 * `Host` is not a loopback name (a DNS-rebinding page), and the client reads them like any route.
 * The dashboard is one page that loads nothing from elsewhere. The separate metrics listener
 * serves those three routes and nothing else.
 */

import assert from "node:assert/strict";
import { hostOfHeader } from "../../src/api/control_api.ts";
import { MetricsListener } from "../../src/api/metrics_listener.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { FakeHandlers, withControlApi } from "./_fake_handlers.ts";

/** Sends one GET with exactly these headers over a fresh connection; returns status and body. */
async function rawGet(
  url: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; head: string; body: string }> {
  const { hostname, port } = new URL(url);
  const connection = await Deno.connect({ hostname, port: Number(port) });
  try {
    const lines = [
      `GET ${path} HTTP/1.1`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await connection.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    // The server closes after one answer; at most 64 reads keeps the loop bounded.
    for (let reads = 0; reads < 64; reads++) {
      const count = await connection.read(buffer);
      if (count === null) break;
      chunks.push(buffer.slice(0, count));
    }
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((chunk) => [...chunk])));
    const [head, ...rest] = text.split("\r\n\r\n");
    return {
      status: Number(head.split(" ")[1]),
      head: head.toLowerCase(),
      body: rest.join("\r\n\r\n"),
    };
  } finally {
    connection.close();
  }
}

Deno.test("the metric routes answer without the token; other routes still need it", async () => {
  await withControlApi(new FakeHandlers(), async ({ api }) => {
    const metrics = await fetch(`${api.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(metrics.headers.get("cache-control"), "no-store");
    const text = await metrics.text();
    assert.match(text, /^# HELP rhizome_node_info /);
    assert.match(text, /^rhizome_peers 4$/m);

    const json = await fetch(`${api.url}/v1/metrics`);
    assert.equal(json.status, 200);
    const report = await json.json();
    assert.equal(report.metrics.rhizome_peers.samples[0].value, 4);

    const status = await fetch(`${api.url}/v1/status`);
    assert.equal(status.status, 401);
    await status.body?.cancel();
    const peers = await fetch(`${api.url}/v1/peers`);
    assert.equal(peers.status, 401);
    await peers.body?.cancel();
  });
});

Deno.test("the metric routes refuse a Host that is not loopback, and accept every loopback form", async () => {
  await withControlApi(new FakeHandlers(), async ({ api }) => {
    const port = new URL(api.url).port;
    const refused = await rawGet(api.url, "/metrics", { host: `attacker.example:${port}` });
    assert.equal(refused.status, 403);
    assert.match(refused.body, /Host header must name a loopback address/);
    const none = await rawGet(api.url, "/v1/metrics", {});
    assert.equal(none.status, 403);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "127.0.0.1"]) {
      const answer = await rawGet(api.url, "/v1/metrics", { host });
      assert.equal(answer.status, 200, host);
    }
    // A query is refused as on every route: nothing is silently ignored.
    const query = await fetch(`${api.url}/metrics?format=json`);
    assert.equal(query.status, 400);
    await query.body?.cancel();
    // A POST to an open path is the wrong method, whatever the token.
    const post = await fetch(`${api.url}/metrics`, { method: "POST" });
    assert.equal(post.status, 401);
    await post.body?.cancel();
  });
});

Deno.test("the client reads both metric forms like any route", async () => {
  await withControlApi(new FakeHandlers(), async ({ client }) => {
    const text = await client.call(controlRoutes.metrics);
    assert.match(text, /^rhizome_store_records 12$/m);
    const report = await client.call(controlRoutes.metricsJson);
    assert.equal(report.node_id, "ab".repeat(20));
    assert.equal(report.metrics.rhizome_store_records.samples[0].labels.class, undefined);
  });
});

Deno.test("the dashboard is one HTML page that loads nothing from elsewhere", async () => {
  await withControlApi(new FakeHandlers(), async ({ api }) => {
    const answer = await fetch(`${api.url}/dashboard`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(answer.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    const html = await answer.text();
    assert.match(html, /^<!doctype html>/);
    assert.ok(html.includes('fetch("/v1/metrics"'));
    assert.ok(!/\b(src|href)=/.test(html), "the page links or loads something");
    assert.ok(!/https?:\/\//.test(html), "the page names another site");
    for (const id of ["peers", "sent-rate", "received-rate", "lookups", "lookup-p95"]) {
      assert.ok(html.includes(`id="${id}"`), id);
    }
    for (const id of ["store-classes", "below-target", "errors", "banned", "lag"]) {
      assert.ok(html.includes(`id="${id}"`), id);
    }
  });
});

Deno.test("hostOfHeader() takes the port and brackets off", () => {
  assert.equal(hostOfHeader("127.0.0.1:7448"), "127.0.0.1");
  assert.equal(hostOfHeader("[::1]:7448"), "::1");
  assert.equal(hostOfHeader("localhost"), "localhost");
  assert.equal(hostOfHeader(" example.com:80 "), "example.com");
});

Deno.test("the metrics listener serves the three open routes and nothing else", async () => {
  const handlers = new FakeHandlers();
  const listener = MetricsListener.start({ listen: { host: "127.0.0.1", port: 0 }, handlers });
  try {
    const metrics = await fetch(`${listener.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^rhizome_peers 4$/m);
    const json = await fetch(`${listener.url}/v1/metrics`);
    assert.equal((await json.json()).node_type, "full");
    const dashboard = await fetch(`${listener.url}/dashboard`);
    assert.match(await dashboard.text(), /Rhizome node/);
    // Any host may ask (it is meant for a scraper elsewhere), but only for these three.
    const other = await rawGet(listener.url, "/metrics", { host: "scraper.example" });
    assert.equal(other.status, 200);
    for (const path of ["/v1/status", "/v1/peers", "/", "/metrics/x"]) {
      const answer = await fetch(`${listener.url}${path}`);
      assert.equal(answer.status, 404, path);
      await answer.body?.cancel();
    }
    const post = await fetch(`${listener.url}/v1/metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
    const query = await fetch(`${listener.url}/metrics?name=x`);
    assert.equal(query.status, 400);
    await query.body?.cancel();
    assert.deepEqual(
      handlers.received.map(([name]) => name),
      ["metrics", "metrics", "metrics"],
      "only the metrics handler ran",
    );
  } finally {
    await listener.close();
  }
});

Deno.test("MetricsListener.start() refuses a bad port and a port in use with one line", async () => {
  const handlers = new FakeHandlers();
  assert.throws(
    () => MetricsListener.start({ listen: { host: "127.0.0.1", port: 70_000 }, handlers }),
    /Cannot listen for metrics on 127.0.0.1:70000: the port must be 0 to 65535/,
  );
  const first = MetricsListener.start({ listen: { host: "127.0.0.1", port: 0 }, handlers });
  try {
    const port = Number(new URL(first.url).port);
    assert.throws(
      () => MetricsListener.start({ listen: { host: "127.0.0.1", port }, handlers }),
      /Cannot listen for metrics on 127.0.0.1:\d+: .*\(change node.metrics\)/,
    );
  } finally {
    await first.close();
  }
});
