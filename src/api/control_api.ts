/**
 * The local control API: HTTP on a loopback address, for the CLI commands that talk to a running
 * node (`status`, `peers`, `put`, `get`, `stop`, `thread`, `post`, `vote`, `profile`,
 * `snapshot import`, `top`). Every
 * request must carry the bearer token the node wrote to `api.token` (mode 0600) in its data
 * directory, except the open routes (`GET /metrics`, `GET /v1/metrics`, `GET /dashboard`: read-only
 * counters, see docs/observability.md), which answer without it when the request's `Host` names a
 * loopback address; `api.json` beside the token says where the API listens, so `--data-dir` is
 * all the CLI needs to find the node.
 *
 * The routes are declared once, in src/api/routes.ts ({@link controlRoutes}): method, path,
 * query, timeout and how each request is parsed and answered; this module serves them.
 *
 * Answers are 200 unless marked. Every request must answer within {@link controlRequestTimeoutMs}
 * except `/v1/snapshots/import`, which has {@link controlImportTimeoutMs}: the node reads the
 * named snapshot file (an absolute path on its machine) itself, twice, and a large one takes
 * minutes. Routes match exactly: `/v1/threads` lists (GET) or starts
 * (POST) threads, `/v1/threads/<id>` (one more path segment) shows one. JSON bodies need
 * `Content-Type: application/json` and may hold only the request's fields, with the right types
 * (src/api/wire.ts); IDs and keys in a body are lower-case hex, in a path or query any
 * case. Query: `order` is `recent` (default) or `popular`; `limit` is 1 to {@link threadPageMax}
 * threads (default {@link threadPageDefault}) or 1 to {@link messagePageMax} messages (default
 * {@link messagePageDefault}); `cursor` is a page's `next_cursor`. A malformed request answers
 * 400 and reaches no handler.
 *
 * `GET /v1/threads` and `GET /v1/threads/<id>` answer within the reader's time budget
 * (`readBudgetMs` in src/services/discussion/reader.ts, 1.5 s) whatever the network does: a page whose
 * pieces did not all answer in time is still 200, with what was read and, in `missing`, one line
 * per piece left out or shown from this node's own copy (`"<piece>: <why>"`); its `next_cursor`
 * resumes at the first index piece that did not answer. `GET /v1/threads/<id>` is 503
 * `UNAVAILABLE` when the thread itself could not be read in time.
 *
 * Every failure is `{ "error": { "code", "message" } }`: `code` is a Rhizome {@link ErrorCode}
 * (so the CLI can relay it and pick the exit status), the HTTP status tells the cases apart:
 * 400 `INVALID_INPUT` (malformed request), 404 `NOT_FOUND` (no such thread, message or profile),
 * 409 `VOTE_REPEATED` or `RECORD_STALE`, 413 (body over {@link controlBodyBytesMax}), 422
 * `CONTENT_INVALID`, `RECORD_INVALID`, `AUTHOR_MISSING` or `SNAPSHOT_INVALID` (well-formed but
 * refused), 503 `UNAVAILABLE` (also: an import already running), 504 (past the route's timeout),
 * 507 `STORE_FULL`; any other code (`STORE_UNUSABLE`, …) is 500.
 *
 * A write (`put`, `threads`, `posts`, `votes`, `profile`, `records`) answers 200 only once its
 * record is durable on this node (unless the node is a DHT client) and acknowledged by
 * `dht.write_quorum` holders; its answer says how many (`stored`: other nodes; `holders`: copies
 * counted, this node's own when it is one of the k closest; `quorum`: copies needed). Short of
 * that it fails: 507 `STORE_FULL` (this node's store has no room, its disk is full or failed the
 * write: nothing new is kept here), 503 `NOT_REPLICATED` (kept and republished by this node, but
 * too few holders acknowledged it; safe to retry) or 503 `NOT_STORED` (kept nowhere that counts).
 *
 * Connections (src/api/http_server.ts, not `Deno.serve`, which has no header timeout or
 * connection cap and exits the process when `accept` fails): HTTP/1.1, one request per
 * connection (every answer says `Connection: close`), bodies by `Content-Length` or chunked.
 * The request line and headers must arrive within {@link controlHeaderTimeoutMs} of connecting
 * (else the connection closes without an answer) and fit in {@link controlHeaderBytesMax} (else
 * 431); malformed framing is 400, an unsupported `Transfer-Encoding` 501, another HTTP version
 * 505. At most {@link controlConnectionsMax} connections are held: beyond it the one that has
 * waited longest for its request is closed for the newcomer, so idle or slow-header connections,
 * however many a local program opens, never lock the CLI out. A failed accept (out of file
 * descriptors) is logged, closes an idle connection to free a descriptor, and never stops the
 * API. The client sends a GET once more when the connection closed before any answer.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { concatBytes, toBase64Url } from "../core/bytes.ts";
import { sha256 } from "../core/crypto.ts";
import { DataDirError, type ErrorCode, InvalidInputError, RhizomeError } from "../core/errors.ts";
import { recordBytesMax } from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { describeOsError } from "../core/os_error.ts";
import { writeFileAtomic } from "../core/fs.ts";
import { HttpServer, type HttpServerStats } from "./http_server.ts";
import {
  type AnyRoute,
  type ControlHandlers,
  controlRoutes,
  type ControlRouteTable,
  type RouteInput,
  routeLine,
  type RouteReply,
} from "./routes.ts";

export {
  messagePageDefault,
  messagePageMax,
  threadPageDefault,
  threadPageMax,
} from "../services/discussion/mod.ts";
export {
  controlTtlSecondsMax,
  cursorLengthMax,
  type JsonValue,
  type PeerReport,
  type PutReport,
  type SnapshotImportRequest,
  snapshotPathLengthMax,
  type StatusReport,
} from "./wire.ts";
export type { ControlHandlers } from "./routes.ts";
export type { ImportReport } from "../node/snapshot_import.ts";
export type { HttpServerStats } from "./http_server.ts";

/** Names of the control API's files inside the data directory. */
export const CONTROL_API_FILES = {
  /** `{ "url": "http://127.0.0.1:PORT", "pid": N }`: where the running node's API listens. */
  address: "api.json",
  /** The bearer token (base64url, mode 0600). Whoever can read it controls the node. */
  token: "api.token",
} as const;

/**
 * Largest request body: a put's value, a raw record, or a JSON request. Equal to the record
 * limit, because a larger value or record could never be stored, and a JSON request holds at
 * most one body of `bodyBytesMax` (16 KiB) with its escapes; refusing it before reading keeps a
 * runaway `put -` from filling memory. Beyond it: 413, nothing read further, the handler not
 * called.
 */
export const controlBodyBytesMax: number = recordBytesMax;

/**
 * Requests served at once. Callers are the CLI and local scripts, one request each at a time;
 * 16 covers scripts running in parallel while capping the lookups API callers can start (each
 * put and get is one) so they cannot crowd out the node's own traffic. Beyond it: 503 with
 * `Retry-After`. A request keeps its slot until its handler settles, even after a timeout.
 */
export const controlConcurrentRequestsMax = 16;

/**
 * Longest a request may take, body included. A put or get is one bounded lookup, normally done
 * in seconds; 30 s leaves room for a slow network and keeps a stuck caller or handler from
 * holding the CLI forever. At the limit: 504; the handler is not cancelled but its answer is
 * dropped.
 */
export const controlRequestTimeoutMs = 30_000;

/**
 * Longest `POST /v1/snapshots/import` may take, instead of {@link controlRequestTimeoutMs}. An
 * import reads the file twice and writes every record: a 1 GB snapshot takes one to two
 * minutes, a slow disk or a busy node several times that. One hour covers any snapshot a node's
 * disk quota admits while still ending a request that is truly stuck. At the limit: 504, and the
 * import goes on in the node (its records are stored; the summary is lost).
 */
export const controlImportTimeoutMs = 60 * 60_000;

/**
 * Connections held open at once. Each costs a file descriptor, and the CLI opens one per
 * command; 64 is four times {@link controlConcurrentRequestsMax}, so callers turned away with 503
 * still get their answer, and keeps the API's share of a 1,024-descriptor limit small. At the
 * limit: the connection that has waited longest for its request (or is closing) is closed to
 * make room, so idle connections, however many, never lock callers out; when every connection
 * is running a request, the new one is closed at once.
 */
export const controlConnectionsMax = 64;

/**
 * Time from a connection's accept until its request line and headers are in. The CLI sends them
 * in its first segment, within a millisecond; 10 s leaves room for a machine under heavy load,
 * and no more, because an idle or trickling connection holds a descriptor until then. At the
 * limit: the connection is closed without an answer. (There is no keep-alive, so no other idle
 * time: every answer closes its connection.)
 */
export const controlHeaderTimeoutMs = 10_000;

/**
 * Largest request line and headers together. A CLI request's are under 300 bytes; 16 KiB is
 * what Node.js allows by default. Beyond it: 431, the handler not called.
 */
export const controlHeaderBytesMax = 16 * 1024;

/**
 * Time to hand an answer to a caller, once the handler has it. The largest answer is a 64 KiB
 * value, written to a loopback socket in microseconds; 10 s covers a caller that reads slowly
 * while freeing the connection of one that never reads. At the limit: the connection is closed.
 */
export const controlResponseTimeoutMs = 10_000;

/** Random bytes in the bearer token: 256 bits, beyond guessing. */
export const controlTokenBytes = 32;

/** Limits a test may lower; the defaults are the named constants. */
export interface ControlApiLimits {
  /**
   * Requests served at once.
   * @default {@link controlConcurrentRequestsMax}
   */
  concurrentRequestsMax: number;
  /**
   * Longest a request may take, in ms.
   * @default {@link controlRequestTimeoutMs}
   */
  requestTimeoutMs: number;
  /**
   * Longest `POST /v1/snapshots/import` may take, in ms.
   * @default {@link controlImportTimeoutMs}
   */
  importTimeoutMs: number;
  /**
   * Connections held open at once.
   * @default {@link controlConnectionsMax}
   */
  connectionsMax: number;
  /**
   * Time for a connection's headers to arrive, in ms.
   * @default {@link controlHeaderTimeoutMs}
   */
  headerTimeoutMs: number;
}

/**
 * What {@link ControlApi.start} needs. `Handlers` is what the routes call: the node, or for
 * tests anything that implements {@link ControlHandlers} and whatever routes of their own need.
 */
export interface ControlApiOptions<Handlers extends ControlHandlers = ControlHandlers> {
  /** A loopback host (`127.x.y.z`, `::1` or `localhost`) and a port (0 picks a free one). */
  listen: { host: string; port: number };
  /** The node's data directory; `api.json` and `api.token` go there. */
  dataDirPath: string;
  /** What the node does for each route. */
  handlers: Handlers;
  /**
   * The routes served, in the order they are matched.
   * @default {@link controlRoutes}
   */
  routes?: ControlRouteTable<Handlers>;
  /** Where to log; nothing is logged when absent. */
  log?: Log;
  /** Lower limits, for tests. */
  limits?: Partial<ControlApiLimits>;
}

/** The body of every error answer. */
export interface ControlErrorBody {
  /** The stable code and a one-line sentence ("Cannot <action>: <reason>"). */
  error: { code: ErrorCode; message: string };
}

/** The content of `api.json`. */
export interface ControlAddress {
  /** `http://127.0.0.1:PORT` or `http://[::1]:PORT`. */
  url: string;
  /** The node's process ID. */
  pid: number;
}

/**
 * Whether `host` is a loopback host: `localhost`, `127.0.0.0/8`, `::1` (bracketed or not) or an
 * IPv4-mapped `::ffff:127.x.y.z`.
 *
 * @param host A host name or IP address.
 * @returns `true` for loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (bare === "localhost" || bare === "::1") return true;
  const v4 = /^(?:::ffff:)?127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.exec(bare);
  return v4 !== null && v4.slice(1).every((octet) => Number(octet) <= 255);
}

/**
 * Reads a body, stopping as soon as it is longer than `bytesMax`.
 *
 * @param body The stream (`null` reads as empty).
 * @param bytesMax The most bytes accepted.
 * @param signal Cancels the read (the stream is cancelled, the promise rejects).
 * @returns The bytes, or `undefined` when there were more than `bytesMax` (the rest unread).
 */
export async function readBytesLimited(
  body: ReadableStream<Uint8Array> | null,
  bytesMax: number,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    const chunks: Uint8Array[] = [];
    let length = 0;
    for (;;) {
      const { done, value } = await reader.read();
      // A cancelled stream reads as ended: the bytes so far are not the whole body.
      signal?.throwIfAborted();
      if (done) return concatBytes(...chunks);
      length += value.length;
      if (length > bytesMax) {
        await reader.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}

/**
 * The HTTP status for a handler's {@link RhizomeError}: the caller's fault is 4xx, the node's
 * state 5xx.
 */
function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case "USAGE":
    case "INVALID_INPUT":
      return 400;
    case "NOT_FOUND":
      return 404;
    case "RECORD_STALE":
    case "VOTE_REPEATED":
      return 409;
    case "RECORD_INVALID":
    case "CONTENT_INVALID":
    case "AUTHOR_MISSING":
    case "SNAPSHOT_INVALID":
      return 422;
    case "STORE_FULL":
      return 507;
    case "UNAVAILABLE":
    case "NOT_REPLICATED":
    case "NOT_STORED":
      return 503;
    default:
      return 500;
  }
}

/**
 * A running control API.
 *
 * @example Serving a node
 * ```ts ignore
 * const api = await ControlApi.start({
 *   listen: { host: "127.0.0.1", port: 7448 },
 *   dataDirPath: dataDir.path,
 *   handlers: node,
 *   log: getLog("api"),
 * });
 * // … later, when the node stops:
 * await api.close();
 * ```
 */
export class ControlApi {
  /** Where the API listens: `http://127.0.0.1:PORT` (the real port when 0 was asked). */
  readonly url: string;
  /** The port listened on. */
  readonly port: number;

  readonly #server: HttpServer;
  readonly #state: RequestState<ControlHandlers>;
  readonly #addressPath: string;
  readonly #tokenPath: string;
  readonly #addressText: string;
  #closing?: Promise<void>;

  private constructor(
    server: HttpServer,
    state: RequestState<ControlHandlers>,
    dataDirPath: string,
    host: string,
  ) {
    this.#server = server;
    this.#state = state;
    this.port = server.addr.port;
    this.url = `http://${host.includes(":") ? `[${host}]` : host}:${this.port}`;
    this.#addressPath = join(dataDirPath, CONTROL_API_FILES.address);
    this.#tokenPath = join(dataDirPath, CONTROL_API_FILES.token);
    const address: ControlAddress = { url: this.url, pid: Deno.pid };
    this.#addressText = JSON.stringify(address) + "\n";
  }

  /**
   * Listens, then writes a fresh token and the address into the data directory (token first, so
   * a client that finds the address also finds the token).
   *
   * @param options Where to listen, the data directory, the handlers.
   * @returns The running API.
   * @throws {InvalidInputError} When the host is not loopback or the port is out of range.
   * @throws {RhizomeError} `UNAVAILABLE` when the address cannot be listened on.
   * @throws {DataDirError} When the files cannot be written (the API is shut down again).
   */
  static async start<Handlers extends ControlHandlers>(
    options: ControlApiOptions<Handlers>,
  ): Promise<ControlApi> {
    const { host: requestedHost, port } = options.listen;
    const shown = `${requestedHost}:${port}`;
    if (!isLoopbackHost(requestedHost)) {
      throw new InvalidInputError(
        `Cannot start the control API on ${shown}: the host must be loopback ` +
          `(127.0.0.1, ::1 or localhost) so only this machine can reach it`,
      );
    }
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new InvalidInputError(
        `Cannot start the control API on ${shown}: the port must be 0 to 65535`,
      );
    }
    // "localhost" could resolve to anything /etc/hosts says; bind the address it means.
    const bareHost = requestedHost.replace(/^\[(.*)\]$/, "$1").toLowerCase();
    const host = bareHost === "localhost" ? "127.0.0.1" : bareHost;
    const token = toBase64Url(crypto.getRandomValues(new Uint8Array(controlTokenBytes)));
    const state = new RequestState(token, options);
    let server: HttpServer;
    try {
      server = HttpServer.listen(
        { hostname: host, port },
        (request, remoteAddr) => state.answer(request, remoteAddr),
        {
          limits: {
            connectionsMax: options.limits?.connectionsMax ?? controlConnectionsMax,
            headerTimeoutMs: options.limits?.headerTimeoutMs ?? controlHeaderTimeoutMs,
            headerBytesMax: controlHeaderBytesMax,
            responseTimeoutMs: controlResponseTimeoutMs,
          },
          refusal: (status, message) =>
            errorResponse(status, status >= 500 ? "UNAVAILABLE" : "INVALID_INPUT", message),
          log: options.log,
        },
      );
    } catch (error) {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot start the control API on ${shown}: ${describeOsError(error)}` +
          (error instanceof Deno.errors.AddrInUse ? " (another node? change node.api)" : ""),
        { cause: error },
      );
    }
    const api = new ControlApi(server, state, options.dataDirPath, host);
    try {
      await writeFileAtomic(api.#tokenPath, token + "\n", { mode: 0o600 });
      await writeFileAtomic(api.#addressPath, api.#addressText, { mode: 0o600 });
    } catch (error) {
      await server.shutdown();
      await api.#removeOwnFiles();
      throw new DataDirError(
        `Cannot write the control API files into ${options.dataDirPath}: ` +
          describeOsError(error),
        { cause: error },
      );
    }
    options.log?.info("control API listening on {url}", { url: api.url });
    return api;
  }

  /**
   * Removes `api.json` and `api.token` (when they are still this API's), then stops listening,
   * waiting for requests in flight (each answers within the request timeout). Safe to call more
   * than once, including from {@link ControlHandlers.stop}.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#removeOwnFiles();
      await this.#server.shutdown();
    })();
    return this.#closing;
  }

  /**
   * What the API's connections have done: accepted, evicted, timed out, refused.
   *
   * @returns A copy of the counters.
   */
  connectionStats(): HttpServerStats {
    return this.#server.stats();
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Removes the address, then the token, each only if it is still the one this API wrote. */
  async #removeOwnFiles(): Promise<void> {
    const owned: [string, string][] = [
      [this.#addressPath, this.#addressText],
      [this.#tokenPath, this.#state.token + "\n"],
    ];
    for (const [path, text] of owned) {
      try {
        // A node started since (after this one hung) owns the files now; leave them.
        if (await Deno.readTextFile(path) === text) await Deno.remove(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        this.#state.log?.warning("cannot remove {path}: {reason}", {
          path,
          reason: describeOsError(error),
        });
      }
    }
  }
}

/** Everything a request needs: the token, the routes, the limits and the in-flight count. */
class RequestState<Handlers extends ControlHandlers> {
  readonly token: string;
  readonly log?: Log;
  readonly #tokenDigest: Uint8Array;
  readonly #handlers: Handlers;
  readonly #routes: readonly AnyRoute<Handlers>[];
  /** Each route's name in the table, for the log. */
  readonly #names: ReadonlyMap<AnyRoute<Handlers>, string>;
  readonly #routeList: string;
  readonly #limits: ControlApiLimits;
  #inFlight = 0;
  /** The detached runs started (`stop`), by route: each runs at most once per API. */
  readonly #detached = new Map<AnyRoute<Handlers>, Promise<void>>();

  constructor(token: string, options: ControlApiOptions<Handlers>) {
    this.token = token;
    this.#tokenDigest = sha256(token);
    this.#handlers = options.handlers;
    const table: ControlRouteTable<Handlers> = options.routes ?? controlRoutes;
    this.#routes = Object.values(table);
    this.#names = new Map(Object.entries(table).map(([name, route]) => [route, name]));
    this.#routeList = this.#routes.map(routeLine).join(", ");
    this.log = options.log;
    this.#limits = {
      concurrentRequestsMax: options.limits?.concurrentRequestsMax ??
        controlConcurrentRequestsMax,
      requestTimeoutMs: options.limits?.requestTimeoutMs ?? controlRequestTimeoutMs,
      importTimeoutMs: options.limits?.importTimeoutMs ?? controlImportTimeoutMs,
      connectionsMax: options.limits?.connectionsMax ?? controlConnectionsMax,
      headerTimeoutMs: options.limits?.headerTimeoutMs ?? controlHeaderTimeoutMs,
    };
  }

  /** Checks caller, token and load, then routes under the timeout. Never rejects. */
  async answer(request: Request, remoteAddr: Deno.NetAddr): Promise<Response> {
    const response = await this.#checkedAnswer(request, remoteAddr);
    this.log?.debug("control API {method} {path}: {status}", {
      method: request.method,
      path: new URL(request.url).pathname,
      status: response.status,
    });
    return response;
  }

  async #checkedAnswer(request: Request, remoteAddr: Deno.NetAddr): Promise<Response> {
    // The listener is loopback-only already; this guards against a mistaken bind.
    const caller = remoteAddr.hostname;
    if (!isLoopbackHost(caller)) {
      return errorResponse(
        403,
        "UNAVAILABLE",
        `Cannot serve ${clip(caller)}: the control API answers this machine only`,
      );
    }
    const open = this.#isOpen(request);
    if (open && !isLoopbackHost(hostOfHeader(request.headers.get("host") ?? ""))) {
      return errorResponse(
        403,
        "UNAVAILABLE",
        "Cannot serve the request: its Host header must name a loopback address " +
          "(127.0.0.1, [::1] or localhost)",
      );
    }
    if (!open && !this.#authorized(request)) {
      return errorResponse(
        401,
        "UNAVAILABLE",
        "Cannot run the request: missing or wrong bearer token (see api.token in the data dir)",
        { "www-authenticate": 'Bearer realm="rhizome"' },
      );
    }
    if (this.#inFlight >= this.#limits.concurrentRequestsMax) {
      return errorResponse(
        503,
        "UNAVAILABLE",
        `Cannot run the request: the node is serving ${this.#inFlight} already; retry shortly`,
        { "retry-after": "1" },
      );
    }
    this.#inFlight++;
    const timeoutMs = this.#timeoutMsOf(request);
    const abort = new AbortController();
    const routed = this.#route(request, abort.signal).finally(() => this.#inFlight--);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<Response>((resolve) => {
      timer = setTimeout(() => {
        abort.abort();
        // An expected outcome (a slow network, a large import), not a fault of the node.
        this.log?.info("control API {method} {path}: no answer within {timeoutMs} ms (504)", {
          method: request.method,
          path: new URL(request.url).pathname,
          timeoutMs,
        });
        resolve(errorResponse(
          504,
          "UNAVAILABLE",
          `Cannot finish the request: no answer within ${timeoutMs / 1000} s`,
        ));
      }, timeoutMs);
    });
    try {
      return await Promise.race([routed, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The request's timeout: its route's own, else {@link ControlApiLimits.requestTimeoutMs}. */
  #timeoutMsOf(request: Request): number {
    const path = new URL(request.url).pathname;
    const route = this.#routesAt(path).find((candidate) => candidate.method === request.method);
    return this.#limits[route?.timeout ?? "requestTimeoutMs"];
  }

  /** Whether the request is for an open route ({@link ControlRoute.open}): no token needed. */
  #isOpen(request: Request): boolean {
    const path = new URL(request.url).pathname;
    const route = this.#routesAt(path).find((candidate) => candidate.method === request.method);
    return route?.open === true;
  }

  /** Compares digests, so the comparison takes the same time whatever the length presented. */
  #authorized(request: Request): boolean {
    const header = request.headers.get("authorization") ?? "";
    const presented = /^Bearer +(\S+)$/i.exec(header.trim())?.[1];
    if (presented === undefined) return false;
    return timingSafeEqual(sha256(presented), this.#tokenDigest);
  }

  /**
   * The routes at a path, in table order. A route with a parameter takes exactly one more
   * segment (`/v1/threads/<id>`, not `/v1/threads/<id>/x`); any other matches only its path,
   * so `/v1/threads` and `/v1/threads/<id>` never meet.
   */
  #routesAt(path: string): AnyRoute<Handlers>[] {
    return this.#routes.filter((route) => {
      if (route.parameter === undefined) return path === route.path;
      return path.startsWith(route.path) && !path.slice(route.path.length).includes("/");
    });
  }

  /** Finds the route and runs it. Never rejects: failures become error answers. */
  async #route(request: Request, signal: AbortSignal): Promise<Response> {
    const url = new URL(request.url);
    const candidates = this.#routesAt(url.pathname);
    if (candidates.length === 0) {
      return errorResponse(
        404,
        "USAGE",
        `Cannot find ${clip(url.pathname)}: the control API has ${this.#routeList}`,
      );
    }
    const route = candidates.find((candidate) => candidate.method === request.method);
    if (route === undefined) {
      const methods = candidates.map((candidate) => candidate.method);
      return errorResponse(
        405,
        "USAGE",
        `Cannot ${request.method.slice(0, 10)} ${candidates[0].path}: ` +
          `use ${methods.join(" or ")}`,
        { allow: methods.join(", ") },
      );
    }
    try {
      checkQuery(url, route.query);
      return await this.#run(route, request, url, signal);
    } catch (error) {
      // After a timeout the caller has its 504 already; what the abort made fail is no fault.
      if (signal.aborted && !(error instanceof RhizomeError)) {
        this.log?.debug("control API {route} ended after its timeout: {error}", {
          route: this.#names.get(route),
          error,
        });
        return errorResponse(504, "UNAVAILABLE", `Cannot ${route.action}: timed out`);
      }
      return this.#failure(route, error);
    }
  }

  /** Parses the request, calls the handler (or starts it, when detached) and answers. */
  async #run(
    route: AnyRoute<Handlers>,
    request: Request,
    url: URL,
    signal: AbortSignal,
  ): Promise<Response> {
    const input: RouteInput = {
      parameter: route.parameter === undefined ? "" : url.pathname.slice(route.path.length),
      query: url.searchParams,
      bytes: () => readBody(route, request, signal),
      json: () => readJson(route, request, signal),
    };
    const parsed = await route.parse(input);
    if (route.detached) {
      this.#startDetached(route, parsed);
      return responseOf(route.reply(undefined, parsed));
    }
    return responseOf(route.reply(await route.call(this.#handlers, parsed), parsed));
  }

  /**
   * Starts a detached route's handler once per API, after this request has its answer: the
   * handler may close this API, whose closing waits for this very request.
   */
  #startDetached(route: AnyRoute<Handlers>, request: unknown): void {
    if (this.#detached.has(route)) return;
    this.#detached.set(
      route,
      Promise.resolve()
        .then(() => route.call(this.#handlers, request))
        .then(
          () => {},
          (error) =>
            this.log?.error("control API {route} failed: {error}", {
              route: this.#names.get(route),
              error,
            }),
        ),
    );
  }

  #failure(route: AnyRoute<Handlers>, error: unknown): Response {
    if (error instanceof BodyTooLargeError) {
      return errorResponse(413, error.code, error.message);
    }
    if (error instanceof RhizomeError) {
      return errorResponse(httpStatusOf(error.code), error.code, error.message);
    }
    this.log?.error("control API {route} failed: {error}", {
      route: this.#names.get(route),
      error,
    });
    const reason = error instanceof Error ? error.message : String(error);
    return errorResponse(
      500,
      "UNAVAILABLE",
      `Cannot ${route.action}: internal error in the node (${reason})`,
    );
  }
}

/**
 * Refuses unknown or repeated query parameters, so a typo (`?tll=60`) or a second value is not
 * silently ignored.
 */
function checkQuery(url: URL, allowed: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of url.searchParams.keys()) {
    if (!allowed.includes(name)) {
      throw new InvalidInputError(
        `Cannot read the request: unknown parameter "${clip(name)}" ` +
          (allowed.length > 0 ? `(expected ${allowed.join(", ")})` : "(none expected)"),
      );
    }
    if (seen.has(name)) {
      throw new InvalidInputError(`Cannot read the request: parameter "${name}" is repeated`);
    }
    seen.add(name);
  }
}

/** A body over {@link controlBodyBytesMax}: answered 413. */
class BodyTooLargeError extends InvalidInputError {}

/** The whole body, refusing one over {@link controlBodyBytesMax} before reading it all. */
async function readBody(
  route: AnyRoute<never>,
  request: Request,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  const body = declared > controlBodyBytesMax
    ? undefined
    : await readBytesLimited(request.body, controlBodyBytesMax, signal);
  if (body === undefined) {
    throw new BodyTooLargeError(
      `Cannot ${route.action}: it is larger than ${controlBodyBytesMax} bytes`,
    );
  }
  return body;
}

/** The body parsed as JSON; it must say it is JSON and be UTF-8. Its shape is checked after. */
async function readJson(
  route: AnyRoute<never>,
  request: Request,
  signal: AbortSignal,
): Promise<unknown> {
  const type = request.headers.get("content-type");
  if (type === null || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new InvalidInputError(
      "Cannot read the request: the body must be JSON (Content-Type: application/json), got " +
        (type === null ? "no Content-Type" : `"${clip(type)}"`),
    );
  }
  const bytes = await readBody(route, request, signal);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidInputError("Cannot read the request: the body is not UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidInputError("Cannot read the request: the body is not valid JSON");
  }
}

/** A route's reply as HTTP. */
function responseOf(reply: RouteReply): Response {
  if ("error" in reply) return errorResponse(reply.status, reply.error, reply.message);
  if ("bytes" in reply) {
    return new Response(reply.bytes as Uint8Array<ArrayBuffer>, {
      status: reply.status,
      headers: { "content-type": "application/octet-stream" },
    });
  }
  if ("text" in reply) {
    return new Response(reply.text, {
      status: reply.status,
      headers: textReplyHeaders(reply.contentType),
    });
  }
  return jsonResponse(reply.status, reply.json);
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** An error answer; the message is cut to its first line. */
function errorResponse(
  status: number,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const body: ControlErrorBody = { error: { code, message: message.split("\n")[0] } };
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * The headers of a text answer (metrics, the dashboard): never cached, never sniffed, and a page
 * that runs no script but its own and loads nothing from elsewhere.
 *
 * @param contentType The answer's content type.
 * @returns The headers.
 */
export function textReplyHeaders(contentType: string): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": contentType,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
  if (contentType.startsWith("text/html")) {
    headers["content-security-policy"] = "default-src 'none'; script-src 'unsafe-inline'; " +
      "style-src 'unsafe-inline'; connect-src 'self'; img-src data:";
  }
  return headers;
}

/**
 * The host of a `Host` header (`127.0.0.1:7448` → `127.0.0.1`, `[::1]:7448` → `::1`).
 *
 * @param header The header's value.
 * @returns The host without port or brackets.
 */
export function hostOfHeader(header: string): string {
  const text = header.trim();
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(text);
  if (bracketed) return bracketed[1];
  return text.replace(/:\d+$/, "");
}

/** Caller-supplied text shown in a message, cut short so a message stays one short line. */
function clip(text: string): string {
  const oneLine = text.replace(/\p{Cc}/gu, "?");
  return oneLine.length > 64 ? `${oneLine.slice(0, 64)}…` : oneLine;
}
