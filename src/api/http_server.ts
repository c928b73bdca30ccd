/**
 * A small HTTP/1.1 server on `Deno.listen`, for the control API. `Deno.serve` (Deno 2.9) has no
 * header or idle timeout and no connection cap, so idle or slow-header connections pile up
 * without end, and when `accept` fails (out of file descriptors) it rejects a promise no caller
 * can catch, which ends the process. Here every connection has a deadline at each step, the
 * number held open is capped, and an accept error is counted, logged and survived.
 *
 * One request per connection: every answer says `Connection: close`. The CLI sends one request
 * per connection anyway, and without keep-alive no connection sits idle between requests and a
 * client never races the server's idle close by reusing a connection the server just dropped.
 * Bodies may be framed by `Content-Length` or `Transfer-Encoding: chunked`; `Expect:
 * 100-continue` is answered when the handler starts reading the body.
 *
 * Every connection ends for one reason, counted in {@link HttpServerStats}.
 *
 * @module
 */

import { concatBytes } from "../core/bytes.ts";
import { InvalidInputError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import { describeOsError } from "../core/os_error.ts";

/** Ceilings and deadlines of an {@link HttpServer}; the control API passes its named constants. */
export interface HttpServerLimits {
  /** Connections held open at once; at the limit the oldest idle one is closed for a new one. */
  connectionsMax: number;
  /** Time from accepting a connection until its request line and headers are in. */
  headerTimeoutMs: number;
  /** Largest request line and headers together; beyond it: 431. */
  headerBytesMax: number;
  /** Time to write an answer once the handler returned it. */
  responseTimeoutMs: number;
}

/** What an {@link HttpServer} has done since it started listening. */
export interface HttpServerStats {
  /** Connections accepted. */
  connectionsAccepted: number;
  /** Idle connections closed to make room for a new one or to free a descriptor. */
  connectionsEvicted: number;
  /** New connections closed at once because every open one was running a request. */
  connectionsRefused: number;
  /** Accepts the operating system failed (out of file descriptors, for example). */
  acceptErrors: number;
  /** Connections closed because their headers were not in within the header timeout. */
  headerTimeouts: number;
  /** Requests refused before the handler: malformed, too large or unsupported framing. */
  requestsRefused: number;
  /** Requests passed to the handler. */
  requestsHandled: number;
  /** Connections open now. */
  connections: number;
}

/**
 * Answers one request. Must not reject; if it does, the server answers 500.
 *
 * @param request The request; its body streams from the connection.
 * @param remoteAddr The caller's address.
 */
export type HttpHandler = (request: Request, remoteAddr: Deno.NetAddr) => Promise<Response>;

/** What {@link HttpServer.listen} needs besides the address and the handler. */
export interface HttpServerOptions {
  /** Ceilings and deadlines. */
  limits: HttpServerLimits;
  /** Makes the answer to a request refused before the handler (400, 408, 431, 500, 501, 505). */
  refusal: (status: number, message: string) => Response;
  /** Where accept errors are logged. */
  log?: Log;
}

/** Wait before retrying a failed accept when no idle connection could be closed to free a descriptor. */
const acceptRetryDelayMs = 100;

/**
 * Accepts made while evicting (a flood of connections) between two pauses of the accept loop.
 * The pause lets the event loop read what was accepted: a newcomer is evicted only after
 * {@link HttpServerLimits.connectionsMax} more such accepts, so 8 leaves its headers several
 * turns to arrive.
 */
const floodAcceptsPerYield = 8;

/** Accept errors are logged at most once per this period, with the count since the last line. */
const acceptErrorLogIntervalMs = 10_000;

/**
 * After the answer, the server stops sending and discards what the client still sends for up to
 * this long (and {@link lingerBytesMax}) before closing. Closing with unread bytes makes the
 * kernel reset the connection, which can destroy the answer before the client reads it (a 413
 * to a body still arriving). A client that read its answer closes within a round trip.
 */
const lingerMs = 2_000;

/** Bytes discarded while lingering; a client sending more has its connection closed anyway. */
const lingerBytesMax = 256 * 1024;

/** Bytes read from the connection at once. */
const readChunkBytes = 16 * 1024;

/** Longest chunk-size or trailer line of a chunked body. */
const chunkLineBytesMax = 1024;

/** Trailer lines accepted after a chunked body's last chunk. */
const chunkTrailersMax = 32;

/** The reason phrases of the statuses the control API answers; others get "Status". */
const reasonPhrases: Record<number, string> = {
  100: "Continue",
  200: "OK",
  202: "Accepted",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  422: "Unprocessable Content",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  507: "Insufficient Storage",
};

/** Headers the server sets itself; a handler's own values for them are dropped. */
const framingHeaders = new Set(["connection", "content-length", "transfer-encoding", "keep-alive"]);

const encoder = new TextEncoder();
const headEnd = encoder.encode("\r\n\r\n");

/** Where a connection is: only `head` and `linger` connections may be closed to make room. */
type Phase = "head" | "busy" | "linger";

/** A request refused before the handler. */
class Refusal {
  constructor(readonly status: number, readonly message: string) {}
}

/** An HTTP/1.1 server with bounded connections. */
export class HttpServer {
  /** The bound address (the real port when 0 was asked). */
  readonly addr: Deno.NetAddr;

  readonly #listener: Deno.TcpListener;
  readonly #handler: HttpHandler;
  readonly #options: HttpServerOptions;
  readonly #connections = new Map<ServedConnection, Promise<void>>();
  readonly #stats: Omit<HttpServerStats, "connections"> = {
    connectionsAccepted: 0,
    connectionsEvicted: 0,
    connectionsRefused: 0,
    acceptErrors: 0,
    headerTimeouts: 0,
    requestsRefused: 0,
    requestsHandled: 0,
  };
  readonly #acceptLoop: Promise<void>;
  #wakeAcceptLoop?: () => void;
  #closing?: Promise<void>;
  #acceptErrorsUnlogged = 0;
  #acceptsSinceYield = 0;
  #acceptErrorLoggedMs = -Infinity;

  private constructor(
    listener: Deno.TcpListener,
    handler: HttpHandler,
    options: HttpServerOptions,
  ) {
    this.addr = listener.addr;
    this.#listener = listener;
    this.#handler = handler;
    this.#options = options;
    this.#acceptLoop = this.#accept();
  }

  /**
   * Listens and starts accepting.
   *
   * @param listen The host (an IP address) and port (0 picks a free one).
   * @param handler Answers each request.
   * @param options Limits, the refusal answer and the log.
   * @returns The running server.
   * @throws What `Deno.listen` throws (`AddrInUse`, `PermissionDenied`, …).
   */
  static listen(
    listen: { hostname: string; port: number },
    handler: HttpHandler,
    options: HttpServerOptions,
  ): HttpServer {
    const listener = Deno.listen({
      hostname: listen.hostname,
      port: listen.port,
      transport: "tcp",
    });
    return new HttpServer(listener, handler, options);
  }

  /**
   * What the server has done so far.
   *
   * @returns A copy of the counters.
   */
  stats(): HttpServerStats {
    return { ...this.#stats, connections: this.#openCount() };
  }

  /**
   * Stops accepting, closes idle connections at once and waits for the requests in flight to be
   * answered (each within its handler's time and {@link HttpServerLimits.responseTimeoutMs}).
   * Calling it again returns the same promise.
   *
   * @returns Resolves once the socket and every connection are closed.
   */
  shutdown(): Promise<void> {
    this.#closing ??= (async () => {
      this.#wakeAcceptLoop?.();
      try {
        this.#listener.close();
      } catch {
        // Already closed: nothing to release.
      }
      for (const connection of this.#connections.keys()) {
        if (connection.phase !== "busy") connection.close();
      }
      await this.#acceptLoop;
      await Promise.all(this.#connections.values());
    })();
    return this.#closing;
  }

  async #accept(): Promise<void> {
    while (this.#closing === undefined) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing !== undefined) return;
        this.#acceptFailed(error);
        // Out of descriptors, one held by an idle connection is the quickest to free; the
        // connection waiting in the kernel's queue is then accepted at once.
        if (!this.#evictOldestIdle()) await this.#pause(acceptRetryDelayMs);
        else await this.#yieldUnderFlood();
        continue;
      }
      if (this.#closing !== undefined) {
        conn.close();
        return;
      }
      const full = this.#openCount() >= this.#options.limits.connectionsMax;
      if (full && !this.#evictOldestIdle()) {
        this.#stats.connectionsRefused++;
        conn.close();
        continue;
      }
      this.#stats.connectionsAccepted++;
      const connection = new ServedConnection(conn);
      const served = this.#serve(connection)
        .catch((error: unknown) => {
          this.#options.log?.error("control API connection failed: {error}", { error });
        })
        .finally(() => {
          connection.close();
          this.#connections.delete(connection);
        });
      this.#connections.set(connection, served);
      // Under a flood of connections, the reads of those just accepted get their turn every few
      // accepts: a caller's headers are then read long before it could be evicted.
      if (full) await this.#yieldUnderFlood();
    }
  }

  #acceptFailed(error: unknown): void {
    this.#stats.acceptErrors++;
    this.#acceptErrorsUnlogged++;
    const nowMs = Date.now();
    if (nowMs - this.#acceptErrorLoggedMs < acceptErrorLogIntervalMs) return;
    this.#options.log?.warning(
      "control API cannot accept connections: {reason} ({count} times; {open} open)",
      {
        reason: describeOsError(error),
        count: this.#acceptErrorsUnlogged,
        open: this.#openCount(),
      },
    );
    this.#acceptErrorsUnlogged = 0;
    this.#acceptErrorLoggedMs = nowMs;
  }

  /** Connections not yet closed (a closed one leaves the map once its serving has wound down). */
  #openCount(): number {
    let open = 0;
    for (const connection of this.#connections.keys()) if (!connection.closed) open++;
    return open;
  }

  /** Closes the connection idle longest (in insertion order, the oldest first). */
  #evictOldestIdle(): boolean {
    for (const connection of this.#connections.keys()) {
      if (connection.phase === "busy" || connection.closed) continue;
      connection.close();
      this.#stats.connectionsEvicted++;
      return true;
    }
    return false;
  }

  /**
   * Lets the event loop run once every {@link floodAcceptsPerYield} calls. Only a turn, not a
   * rate limit: accepting slower would leave the kernel's accept queue full, where a caller's
   * connection attempt is dropped and retried after 1, 3, 7, … s while flooders take the slots.
   */
  async #yieldUnderFlood(): Promise<void> {
    if (++this.#acceptsSinceYield < floodAcceptsPerYield) return;
    this.#acceptsSinceYield = 0;
    await this.#pause(0);
  }

  /** Waits `ms`, or less when the server shuts down. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(wake, ms);
      function wake() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeAcceptLoop = wake;
    });
  }

  /** Serves the connection's one request. */
  async #serve(connection: ServedConnection): Promise<void> {
    const { limits } = this.#options;
    const headerTimer = setTimeout(() => {
      if (connection.closed) return;
      this.#stats.headerTimeouts++;
      connection.close();
    }, limits.headerTimeoutMs);
    let head: Uint8Array | Refusal | undefined;
    try {
      head = await connection.readHead(limits.headerBytesMax);
    } finally {
      clearTimeout(headerTimer);
    }
    if (head === undefined) return;
    connection.phase = "busy";
    const parsed = head instanceof Refusal ? head : parseHead(head, connection);
    let response: Response;
    let method = "GET";
    if (parsed instanceof Refusal) {
      this.#stats.requestsRefused++;
      response = this.#options.refusal(parsed.status, parsed.message);
    } else {
      this.#stats.requestsHandled++;
      method = parsed.method;
      response = await this.#handler(parsed, connection.remoteAddr).catch((error: unknown) => {
        this.#options.log?.error("control API handler failed: {error}", { error });
        return this.#options.refusal(500, "Cannot answer: internal error in the node");
      });
    }
    if (!await connection.writeResponse(response, method, limits.responseTimeoutMs)) return;
    connection.phase = "linger";
    await connection.linger();
  }
}

/** One accepted connection: its reads, writes and phase. */
class ServedConnection {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  phase: Phase = "head";
  #conn: Deno.TcpConn;
  #closed = false;
  /** Bytes read past what was consumed (the start of the body after the headers). */
  #pending: Uint8Array = new Uint8Array(0);

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.remoteAddr = conn.remoteAddr;
    this.localAddr = conn.localAddr;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the connection now, interrupting any read or write. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
  }

  /**
   * The request line and headers up to the blank line; `undefined` when the connection ended
   * (or was closed) first, a 431 refusal when they are longer than `bytesMax`.
   */
  async readHead(bytesMax: number): Promise<Uint8Array | Refusal | undefined> {
    let head: Uint8Array = new Uint8Array(0);
    for (;;) {
      const chunk = await this.#readRaw(readChunkBytes);
      if (chunk === null) return undefined;
      const searchFrom = Math.max(0, head.length - headEnd.length + 1);
      head = concatBytes(head, chunk);
      const end = indexOf(head, headEnd, searchFrom);
      if (end >= 0 && end + headEnd.length <= bytesMax) {
        this.#pending = head.subarray(end + headEnd.length);
        return head.subarray(0, end);
      }
      if (head.length > bytesMax) {
        return new Refusal(431, `Cannot read the request: its headers exceed ${bytesMax} bytes`);
      }
    }
  }

  /** Up to `bytesMax` bytes of the body: the pending ones first. `null` at the end. */
  async read(bytesMax: number): Promise<Uint8Array | null> {
    if (this.#pending.length > 0) {
      const taken = this.#pending.subarray(0, bytesMax);
      this.#pending = this.#pending.subarray(taken.length);
      return taken;
    }
    return await this.#readRaw(bytesMax);
  }

  /** One line ending in CRLF (without it), at most `bytesMax` long; `null` when it ends first. */
  async readLine(bytesMax: number): Promise<string | null> {
    let line: Uint8Array = new Uint8Array(0);
    for (;;) {
      const end = indexOf(line, encoder.encode("\r\n"), 0);
      if (end >= 0) {
        this.#pending = concatBytes(line.subarray(end + 2), this.#pending);
        return new TextDecoder().decode(line.subarray(0, end));
      }
      if (line.length > bytesMax) return null;
      const chunk = await this.read(readChunkBytes);
      if (chunk === null) return null;
      line = concatBytes(line, chunk);
    }
  }

  /** Writes all of `bytes`; `false` when the connection failed or was closed first. */
  async write(bytes: Uint8Array): Promise<boolean> {
    let written = 0;
    try {
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
    } catch {
      return false;
    }
    return true;
  }

  /** Writes the answer within `timeoutMs`, closing the connection if the client does not take it. */
  async writeResponse(response: Response, method: string, timeoutMs: number): Promise<boolean> {
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      const body = method === "HEAD"
        ? new Uint8Array(0)
        : new Uint8Array(await response.arrayBuffer());
      const status = response.status;
      let head = `HTTP/1.1 ${status} ${reasonPhrases[status] ?? "Status"}\r\n`;
      for (const [name, value] of response.headers) {
        if (!framingHeaders.has(name)) head += `${name}: ${value}\r\n`;
      }
      head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
      return await this.write(concatBytes(encoder.encode(head), body));
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops sending and discards what the client still sends until it closes, for at most
   * {@link lingerMs} and {@link lingerBytesMax}.
   */
  async linger(): Promise<void> {
    const timer = setTimeout(() => this.close(), lingerMs);
    try {
      await this.#conn.closeWrite();
      let discarded = 0;
      while (discarded <= lingerBytesMax) {
        const chunk = await this.#readRaw(readChunkBytes);
        if (chunk === null) return;
        discarded += chunk.length;
      }
    } catch {
      // Reset or closed by the timer: the connection is done either way.
    } finally {
      clearTimeout(timer);
    }
  }

  /** One read from the socket; `null` at the end, on an error, or once closed. */
  async #readRaw(bytesMax: number): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    const buffer = new Uint8Array(bytesMax);
    try {
      const count = await this.#conn.read(buffer);
      return count === null ? null : buffer.subarray(0, count);
    } catch {
      return null;
    }
  }
}

/** The request line and headers made into a `Request` whose body streams from the connection. */
function parseHead(head: Uint8Array, connection: ServedConnection): Request | Refusal {
  // Header bytes beyond ASCII are kept as Latin-1, as browsers send them; Headers refuses
  // what is not a valid value.
  const lines = new TextDecoder("latin1").decode(head).split("\r\n");
  const requestLine = /^([A-Z]{1,16}) (\/[!-~]*) HTTP\/1\.([01])$/.exec(lines[0]);
  if (requestLine === null) {
    if (/^[A-Z]{1,16} \S+ HTTP\/[0-9.]+$/.test(lines[0])) {
      return new Refusal(
        505,
        "Cannot read the request: only HTTP/1.1 and origin-form paths are served",
      );
    }
    return new Refusal(400, "Cannot read the request: malformed request line");
  }
  const [, method, target] = requestLine;
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const field = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (field === null) return new Refusal(400, "Cannot read the request: malformed header line");
    try {
      headers.append(field[1], field[2]);
    } catch {
      return new Refusal(400, `Cannot read the request: invalid value of header ${field[1]}`);
    }
  }
  const body = bodyOf(headers, connection);
  if (body instanceof Refusal) return body;
  const url = `http://${hostOf(connection)}${target}`;
  const hasBody = method !== "GET" && method !== "HEAD" && body !== null;
  try {
    return new Request(url, { method, headers, body: hasBody ? body : null });
  } catch {
    // A method fetch forbids (CONNECT, TRACE) or a path the URL parser refuses.
    return new Refusal(
      400,
      `Cannot read the request: ${method} ${target.slice(0, 64)} is not served`,
    );
  }
}

/** `127.0.0.1:PORT` or `[::1]:PORT`: the URL's authority is the server's, whatever Host says. */
function hostOf(connection: ServedConnection): string {
  const { hostname, port } = connection.localAddr;
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/** The body as the headers frame it; refuses ambiguous or unsupported framing. */
function bodyOf(
  headers: Headers,
  connection: ServedConnection,
): ReadableStream<Uint8Array> | null | Refusal {
  const transferEncoding = headers.get("transfer-encoding");
  const contentLength = headers.get("content-length");
  const expectContinue = headers.get("expect")?.toLowerCase() === "100-continue";
  if (transferEncoding !== null) {
    // Both framings at once is how requests are smuggled past proxies: refused, as RFC 9112 allows.
    if (contentLength !== null) {
      return new Refusal(400, "Cannot read the request: both Content-Length and Transfer-Encoding");
    }
    if (transferEncoding.toLowerCase() !== "chunked") {
      return new Refusal(
        501,
        `Cannot read the request: Transfer-Encoding "${
          transferEncoding.slice(0, 32)
        }" is not supported`,
      );
    }
    return chunkedBody(connection, expectContinue);
  }
  if (contentLength === null) return null;
  // Repeated headers arrive joined with ", ", so a second Content-Length fails this test.
  if (!/^[0-9]{1,15}$/.test(contentLength)) {
    return new Refusal(400, "Cannot read the request: Content-Length is not a number");
  }
  return lengthBody(connection, Number(contentLength), expectContinue);
}

/** Sends the interim 100 answer once, when the handler first reads the body. */
function continuer(connection: ServedConnection, expectContinue: boolean): () => Promise<void> {
  let sent = !expectContinue;
  return async () => {
    if (sent) return;
    sent = true;
    await connection.write(encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
  };
}

function truncatedBody(): InvalidInputError {
  return new InvalidInputError("Cannot read the request: the connection closed inside the body");
}

/** Exactly `length` bytes. */
function lengthBody(
  connection: ServedConnection,
  length: number,
  expectContinue: boolean,
): ReadableStream<Uint8Array> {
  let remaining = length;
  const sendContinue = continuer(connection, expectContinue);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (remaining === 0) return controller.close();
      await sendContinue();
      const chunk = await connection.read(Math.min(remaining, readChunkBytes));
      if (chunk === null) return controller.error(truncatedBody());
      remaining -= chunk.length;
      controller.enqueue(chunk);
      if (remaining === 0) controller.close();
    },
  });
}

/** A chunked body: chunk-size lines (extensions ignored), data, and trailers that are dropped. */
function chunkedBody(
  connection: ServedConnection,
  expectContinue: boolean,
): ReadableStream<Uint8Array> {
  let chunkRemaining = 0;
  const sendContinue = continuer(connection, expectContinue);
  const malformed = () => new InvalidInputError("Cannot read the request: malformed chunked body");
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      await sendContinue();
      if (chunkRemaining === 0) {
        const line = await connection.readLine(chunkLineBytesMax);
        if (line === null) return controller.error(truncatedBody());
        const size = /^([0-9a-fA-F]{1,8})(?:[ \t]*;.*)?$/.exec(line);
        if (size === null) return controller.error(malformed());
        chunkRemaining = parseInt(size[1], 16);
        if (chunkRemaining === 0) {
          for (let i = 0; i <= chunkTrailersMax; i++) {
            const trailer = await connection.readLine(chunkLineBytesMax);
            if (trailer === null) return controller.error(truncatedBody());
            if (trailer === "") return controller.close();
          }
          return controller.error(malformed());
        }
      }
      const chunk = await connection.read(Math.min(chunkRemaining, readChunkBytes));
      if (chunk === null) return controller.error(truncatedBody());
      chunkRemaining -= chunk.length;
      controller.enqueue(chunk);
      if (chunkRemaining === 0 && await connection.readLine(2) !== "") {
        controller.error(malformed());
      }
    },
  });
}

/** The first index of `needle` in `haystack` at or after `from`, or -1. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
