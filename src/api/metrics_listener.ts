/**
 * The optional separate metrics listener (`node.metrics`, `rhizome run --metrics HOST:PORT`): an
 * HTTP server that answers only the control API's open routes (`GET /metrics`, `GET
 * /v1/metrics`, `GET /dashboard`) and nothing that reads content or changes the node. The
 * control API itself answers those on loopback already; this listener is for a Prometheus on
 * another host, so it may bind any address the operator chooses (a firewall's job to limit).
 * It never answers with the control API's token or any route that needs it.
 *
 * @module
 */

import type { Log } from "../core/log.ts";
import { describeOsError } from "../core/os_error.ts";
import { InvalidInputError, RhizomeError } from "../core/errors.ts";
import { isLoopbackHost, textReplyHeaders } from "./control_api.ts";
import { HttpServer } from "./http_server.ts";
import { type AnyRoute, type ControlHandlers, controlRoutes, routeLine } from "./routes.ts";

/**
 * Connections held at once. A scraper opens one per scrape and a dashboard one per refresh; 16
 * serves several of each while keeping a listener open to a network from holding many
 * descriptors. At the limit the connection that has waited longest for its request is closed.
 */
export const metricsConnectionsMax = 16;

/**
 * Time for a connection's request line and headers. A scraper sends them at once; 5 s covers a
 * slow network and frees a descriptor held by an idle or trickling connection soon. At the limit
 * the connection is closed without an answer.
 */
export const metricsHeaderTimeoutMs = 5_000;

/** Largest request line and headers: a scrape's are a few hundred bytes. Beyond it: 431. */
export const metricsHeaderBytesMax = 8 * 1024;

/**
 * Time to write an answer (at most a few tens of KB). At the limit the connection is closed.
 */
export const metricsResponseTimeoutMs = 10_000;

/**
 * Longest a handler may take: a snapshot of counters takes microseconds, so 5 s means the node
 * is stuck. At the limit: 504.
 */
export const metricsRequestTimeoutMs = 5_000;

/** What {@link MetricsListener.start} needs. */
export interface MetricsListenerOptions {
  /** Where to listen (any host; port 0 picks a free one). */
  listen: { host: string; port: number };
  /** The node. */
  handlers: ControlHandlers;
  /** Where to log; nothing is logged when absent. */
  log?: Log;
}

/** A running metrics listener. */
export class MetricsListener {
  /** Where it listens: `http://HOST:PORT` (the real port when 0 was asked). */
  readonly url: string;
  readonly #server: HttpServer;

  private constructor(server: HttpServer, host: string) {
    this.#server = server;
    this.url = `http://${host.includes(":") ? `[${host}]` : host}:${server.addr.port}`;
  }

  /**
   * Listens.
   *
   * @param options Where, and the node.
   * @returns The running listener.
   * @throws {InvalidInputError} When the port is out of range.
   * @throws {RhizomeError} `UNAVAILABLE` when the address cannot be listened on.
   */
  static start(options: MetricsListenerOptions): MetricsListener {
    const { host: requestedHost, port } = options.listen;
    const shown = `${requestedHost}:${port}`;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new InvalidInputError(
        `Cannot listen for metrics on ${shown}: the port must be 0 to 65535`,
      );
    }
    const bare = requestedHost.replace(/^\[(.*)\]$/, "$1");
    const host = bare.toLowerCase() === "localhost" ? "127.0.0.1" : bare;
    const routes = Object.values(controlRoutes).filter((route) => route.open === true);
    let server: HttpServer;
    try {
      server = HttpServer.listen(
        { hostname: host, port },
        (request) => answer(routes, options.handlers, request, options.log),
        {
          limits: {
            connectionsMax: metricsConnectionsMax,
            headerTimeoutMs: metricsHeaderTimeoutMs,
            headerBytesMax: metricsHeaderBytesMax,
            responseTimeoutMs: metricsResponseTimeoutMs,
          },
          refusal: (status, message) => textResponse(status, message),
          log: options.log,
        },
      );
    } catch (error) {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot listen for metrics on ${shown}: ${describeOsError(error)}` +
          (error instanceof Deno.errors.AddrInUse ? " (change node.metrics)" : ""),
        { cause: error },
      );
    }
    const listener = new MetricsListener(server, host);
    options.log?.info("metrics listening on {url} ({routes})", {
      url: listener.url,
      routes: routes.map(routeLine).join(", "),
    });
    if (!isLoopbackHost(host)) {
      options.log?.warning(
        "the metrics listener on {url} answers anyone who can reach that address; " +
          "limit it with a firewall",
        { url: listener.url },
      );
    }
    return listener;
  }

  /**
   * Stops listening, waiting for answers in flight. Safe to call more than once.
   *
   * @returns When closed.
   */
  close(): Promise<void> {
    return this.#server.shutdown();
  }
}

/** Answers one request from the open routes; everything else is 404 or 405. Never rejects. */
async function answer(
  routes: readonly AnyRoute<ControlHandlers>[],
  handlers: ControlHandlers,
  request: Request,
  log: Log | undefined,
): Promise<Response> {
  const url = new URL(request.url);
  const route = routes.find((candidate) => candidate.path === url.pathname);
  if (route === undefined) {
    return textResponse(404, `Not found: this listener serves ${routes.map(routeLine).join(", ")}`);
  }
  if (request.method !== "GET") {
    return new Response("Only GET is served here\n", {
      status: 405,
      headers: { allow: "GET", "content-type": "text/plain; charset=utf-8" },
    });
  }
  if ([...url.searchParams.keys()].length > 0) {
    return textResponse(400, "This listener takes no query parameters");
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), metricsRequestTimeoutMs);
    });
    const outcome = await Promise.race([route.call(handlers, undefined), late]);
    if (outcome === "late") return textResponse(504, "The node did not answer in time");
    const reply = route.reply(outcome, undefined);
    if ("text" in reply) {
      return new Response(reply.text, {
        status: reply.status,
        headers: textReplyHeaders(reply.contentType),
      });
    }
    if ("json" in reply) {
      return new Response(JSON.stringify(reply.json) + "\n", {
        status: reply.status,
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    }
    return textResponse(500, "The route answered in a form this listener does not serve");
  } catch (error) {
    log?.error("metrics {path} failed: {error}", { path: url.pathname, error });
    return textResponse(500, "The node could not report its metrics (see its log)");
  } finally {
    clearTimeout(timer);
  }
}

function textResponse(status: number, message: string): Response {
  return new Response(message + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
