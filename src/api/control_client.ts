/**
 * The client side of the control API: finds a running node through its data directory
 * (`api.json` and `api.token`) and calls its routes, each as the route table
 * (src/api/routes.ts) declares it, turning every failure into a one-line {@link RhizomeError}.
 *
 * @module
 */

import { join } from "node:path";
import {
  DataDirError,
  type ErrorCode,
  exitStatusOf,
  InvalidInputError,
  RhizomeError,
} from "../core/errors.ts";
import { describeOsError } from "../core/os_error.ts";
import {
  CONTROL_API_FILES,
  type ControlAddress,
  controlBodyBytesMax,
  controlImportTimeoutMs,
  controlRequestTimeoutMs,
  isLoopbackHost,
  readBytesLimited,
} from "./control_api.ts";
import { type ControlRoute, controlRoutes, type RouteResponse } from "./routes.ts";

/**
 * How long the client waits for an answer: the server's own timeout plus a margin, so a slow
 * request ends with the server's 504 and its message rather than the client's.
 */
export const controlClientTimeoutMs: number = controlRequestTimeoutMs + 5_000;

/**
 * How long the client waits for a snapshot import: the server's import timeout plus the same
 * margin, for the same reason.
 */
export const controlClientImportTimeoutMs: number = controlImportTimeoutMs + 5_000;

/**
 * Largest answer read. The biggest real ones are a value (at most {@link controlBodyBytesMax})
 * and a peer list (a few thousand contacts, well under 1 MiB); 8 MiB stops a wrong process on
 * the port from filling memory. Larger: `UNAVAILABLE`.
 */
export const controlResponseBytesMax = 8 * 1024 * 1024;

/**
 * Tries of a GET whose connection failed before any answer. The control API closes a connection
 * without answering only before it has read the request (the connection was idle past the
 * header timeout, or evicted for a newer one while a local program floods the port), so a GET
 * is sent again; other methods are not, since the client cannot tell that case from a node that
 * failed mid-request. Under a flood of reconnecting connections a caller starved of CPU can lose
 * the race for a slot several times in a row (CI saw 1 in 5 status calls fail with two tries);
 * four tries, spaced by {@link controlGetRetryDelayMs} doubling, ride that out within a second.
 */
export const controlGetAttemptsMax = 4;

/**
 * Wait before the second try of a GET, doubled before each later one (50, 100, 200 ms), with up
 * to half of it again added at random so callers evicted together do not return together.
 */
export const controlGetRetryDelayMs = 50;

/**
 * Largest `api.json` or `api.token` read. Both are under 100 bytes; anything big is not ours.
 */
const controlFileBytesMax = 4 * 1024;

/**
 * Keeps `fetch` from sending control calls to an HTTP proxy. Deno's fetch takes `HTTP_PROXY` for
 * every host not in `NO_PROXY` and reads both at each request, so on a machine with a proxy set a
 * loopback call went to the proxy, which cannot reach this machine's loopback ("Cannot reach the
 * node"). Adding the API's loopback host to `NO_PROXY` is the one switch a fetch honours; without
 * permission to change the environment the call goes as before.
 */
function bypassProxyFor(host: string): void {
  try {
    // An IPv6 hostname comes bracketed from URL; NO_PROXY may name it either way.
    const forms = [...new Set([host, host.replace(/^\[(.*)\]$/, "$1")])];
    for (const name of ["NO_PROXY", "no_proxy"]) {
      const hosts = (Deno.env.get(name) ?? "").split(",").map((entry) => entry.trim())
        .filter((entry) => entry !== "");
      const missing = forms.filter((form) => !hosts.includes(form));
      if (missing.length > 0) Deno.env.set(name, [...hosts, ...missing].join(","));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
  }
}

/** A failure the node answered with: its error code and message, and the HTTP status. */
export class ControlApiError extends RhizomeError {
  /** The HTTP status of the answer. */
  readonly httpStatus: number;

  /**
   * Makes the error for an error answer.
   *
   * @param httpStatus The HTTP status.
   * @param code The node's error code.
   * @param message The node's message.
   */
  constructor(httpStatus: number, code: ErrorCode, message: string) {
    super(code, message);
    this.httpStatus = httpStatus;
  }
}

/** Options of {@link ControlClient}. */
export interface ControlClientOptions {
  /**
   * How long to wait for each answer.
   * @default {@link controlClientTimeoutMs}
   */
  timeoutMs?: number;
  /**
   * How long to wait for the answer to a route with the import timeout
   * (`POST /v1/snapshots/import`).
   * @default {@link controlClientImportTimeoutMs}
   */
  importTimeoutMs?: number;
}

/**
 * Talks to a running node's control API.
 *
 * @example Asking a node for its status
 * ```ts ignore
 * const client = await ControlClient.fromDataDir("/var/lib/rhizome");
 * const status = await client.call(controlRoutes.status);
 * console.log(status.node_id, status.contacts);
 * ```
 */
export class ControlClient {
  /** The API's base URL. */
  readonly url: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #importTimeoutMs: number;

  /**
   * A client for the API at `url` (see {@link fromDataDir} to find it through a data dir).
   *
   * @param url The API's base URL (`http://127.0.0.1:PORT`); must be loopback.
   * @param token The bearer token.
   * @param options The answer timeout.
   * @throws {InvalidInputError} When the URL is not an `http:` URL on a loopback host.
   */
  constructor(url: string, token: string, options: ControlClientOptions = {}) {
    const problem = loopbackUrlProblem(url);
    if (problem) throw new InvalidInputError(`Cannot use control API URL "${url}": ${problem}`);
    this.url = url.replace(/\/+$/, "");
    bypassProxyFor(new URL(this.url).hostname);
    this.#token = token;
    this.#timeoutMs = options.timeoutMs ?? controlClientTimeoutMs;
    this.#importTimeoutMs = options.importTimeoutMs ?? controlClientImportTimeoutMs;
  }

  /**
   * A client for the node running with data directory `dataDirPath`.
   *
   * @param dataDirPath The node's data directory.
   * @param options The answer timeout.
   * @returns The client (nothing is sent yet).
   * @throws {RhizomeError} `UNAVAILABLE` when no node runs there (no `api.json`) or the file
   *   is not a control API address.
   * @throws {DataDirError} When `api.json` or `api.token` cannot be read.
   */
  static async fromDataDir(
    dataDirPath: string,
    options: ControlClientOptions = {},
  ): Promise<ControlClient> {
    const addressPath = join(dataDirPath, CONTROL_API_FILES.address);
    const tokenPath = join(dataDirPath, CONTROL_API_FILES.token);
    let addressText: string;
    try {
      addressText = await readSmallTextFile(addressPath);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new RhizomeError(
          "UNAVAILABLE",
          `Cannot reach the node: no node is running with data dir ${dataDirPath} ` +
            `(${CONTROL_API_FILES.address} missing)`,
          { cause: error },
        );
      }
      throw new DataDirError(`Cannot read ${addressPath}: ${describeOsError(error)}`, {
        cause: error,
      });
    }
    const address = parseAddress(addressText);
    if (typeof address === "string") {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot reach the node: ${addressPath} is not a control API address (${address})`,
      );
    }
    let token: string;
    try {
      token = (await readSmallTextFile(tokenPath)).trim();
    } catch (error) {
      throw new DataDirError(
        `Cannot read the control API token ${tokenPath}: ${describeOsError(error)}`,
        { cause: error },
      );
    }
    if (!/^[A-Za-z0-9_-]{16,256}$/.test(token)) {
      throw new DataDirError(
        `Cannot read the control API token ${tokenPath}: it is not a token (restart the node)`,
      );
    }
    return new ControlClient(address.url, token, options);
  }

  /**
   * Sends a request on one of the routes and reads its answer.
   *
   * @param route The route, from {@link controlRoutes} (or a table of one's own).
   * @param request The typed request, for routes that take one.
   * @returns The typed answer.
   * @throws {InvalidInputError} When the node would refuse the request (a body too large, a
   *   snapshot path not absolute): nothing is sent.
   * @throws {RhizomeError} When the node does not answer, answers with an error (a
   *   {@link ControlApiError}) or answers what a rhizome node would not.
   */
  async call<Request, Answer>(
    route: ControlRoute<never, Request, Answer>,
    ...request: Request extends void ? [] : [Request]
  ): Promise<Answer> {
    const typed = request[0] as Request;
    const { parameter, query, body } = route.send(typed);
    let bytes: Uint8Array | undefined;
    const headers: Record<string, string> = {};
    if (body !== undefined && "bytes" in body) {
      checkBodySize(route.action, body.bytes);
      bytes = body.bytes;
    } else if (body !== undefined) {
      bytes = new TextEncoder().encode(JSON.stringify(body.json));
      checkBodySize("send the request", bytes);
      headers["content-type"] = "application/json";
    }
    const search = query === undefined || query.size === 0 ? "" : `?${query}`;
    const path = route.path + (parameter ?? "") + search;
    const timeoutMs = route.timeout === "importTimeoutMs" ? this.#importTimeoutMs : undefined;
    const response = await this.#send(route.method, path, bytes, headers, timeoutMs);
    return await route.read(this.#responseOf(path, response));
  }

  /**
   * Waits until the API stops answering (its port refuses connections), polling.
   *
   * @param timeoutMs How long to wait.
   * @param pollMs Time between attempts.
   * @returns `true` when the node is gone, `false` when it still answered at the deadline.
   */
  async waitUntilGone(timeoutMs = 10_000, pollMs = 50): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.call(controlRoutes.status);
      } catch (error) {
        if (error instanceof RhizomeError && !(error instanceof ControlApiError)) return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** The answer, as a route reads it. */
  #responseOf(path: string, response: Response): RouteResponse {
    const bytes = async () => {
      if (!response.ok) throw await this.#errorOf(response);
      return await this.#bytesOf(response);
    };
    return {
      status: response.status,
      bytes,
      json: async () => {
        const body = await bytes();
        try {
          return JSON.parse(new TextDecoder().decode(body));
        } catch {
          throw this.#malformed(path, "not JSON");
        }
      },
      error: () => this.#errorOf(response),
      malformed: (what, problem) => this.#malformed(what, problem),
    };
  }

  /**
   * Sends one request, waiting `timeoutMs` (the client's timeout by default); a refused
   * connection or a timeout becomes `UNAVAILABLE`.
   */
  async #send(
    method: string,
    path: string,
    body?: Uint8Array,
    headers: Record<string, string> = {},
    timeoutMs = this.#timeoutMs,
  ): Promise<Response> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    const init = {
      method,
      headers: { ...headers, authorization: `Bearer ${this.#token}` },
      body: body as Uint8Array<ArrayBuffer> | undefined,
      signal: abort.signal,
    };
    try {
      for (let attempt = 1;; attempt++) {
        try {
          return await fetch(this.url + path, init);
        } catch (error) {
          const retry = method === "GET" && attempt < controlGetAttemptsMax &&
            !abort.signal.aborted && !(error instanceof Deno.errors.NotCapable) &&
            !(error instanceof TypeError && /refused/i.test(String(error.message)));
          if (!retry) throw error;
          const delayMs = controlGetRetryDelayMs * 2 ** (attempt - 1);
          await new Promise((resolve) => setTimeout(resolve, delayMs * (1 + Math.random() / 2)));
        }
      }
    } catch (error) {
      if (abort.signal.aborted) {
        throw new RhizomeError(
          "UNAVAILABLE",
          `Cannot reach the node: the node at ${this.url} did not answer within ` +
            `${timeoutMs / 1000} s`,
          { cause: error },
        );
      }
      if (error instanceof Deno.errors.NotCapable) {
        throw new RhizomeError(
          "UNAVAILABLE",
          `Cannot reach the node at ${this.url}: network access is not granted (--allow-net)`,
          { cause: error },
        );
      }
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot reach the node: the node at ${this.url} is not answering ` +
          `(stopped or crashed; a stale ${CONTROL_API_FILES.address} is left)`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** The response's bytes, refusing an answer larger than any real one. */
  async #bytesOf(response: Response): Promise<Uint8Array> {
    const bytes = await readBytesLimited(response.body, controlResponseBytesMax);
    if (bytes === undefined) {
      throw this.#malformed(new URL(response.url).pathname, "too large");
    }
    return bytes;
  }

  /** The node's error answer as a {@link ControlApiError}. */
  async #errorOf(response: Response): Promise<ControlApiError> {
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(await this.#bytesOf(response)));
    } catch {
      body = undefined;
    }
    const error = isObject(body) && isObject(body.error) ? body.error : {};
    const message = typeof error.message === "string" && error.message !== ""
      ? error.message.split("\n")[0]
      : `Cannot use the node at ${this.url}: it answered HTTP ${response.status}`;
    return new ControlApiError(response.status, knownCode(error.code), message);
  }

  #malformed(what: string, problem: string): RhizomeError {
    return new RhizomeError(
      "UNAVAILABLE",
      `Cannot read the node's answer to ${what}: ${problem} (is ${this.url} a rhizome node?)`,
    );
  }
}

/** Refuses a body the API would refuse, before sending it. */
function checkBodySize(action: string, body: Uint8Array): void {
  if (body.length > controlBodyBytesMax) {
    throw new InvalidInputError(
      `Cannot ${action}: it is ${body.length} bytes, the limit is ${controlBodyBytesMax}`,
    );
  }
}

/**
 * The code as an {@link ErrorCode}, or `UNAVAILABLE` for one this build does not know (a newer
 * node). `exitStatusOf` maps every known code, so it doubles as the membership test and stays
 * in step with core.
 */
function knownCode(code: unknown): ErrorCode {
  if (typeof code !== "string") return "UNAVAILABLE";
  const known = exitStatusOf(new RhizomeError(code as ErrorCode, "")) !== undefined;
  return known ? code as ErrorCode : "UNAVAILABLE";
}

/** `api.json` parsed and checked, or what is wrong with it. */
function parseAddress(text: string): ControlAddress | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  if (!isObject(value) || typeof value.url !== "string") return "no url";
  if (!Number.isInteger(value.pid)) return "no pid";
  const problem = loopbackUrlProblem(value.url);
  // A URL elsewhere would send the token off this machine.
  if (problem) return problem;
  return { url: value.url, pid: value.pid as number };
}

function loopbackUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL";
  }
  if (parsed.protocol !== "http:") return "not an http URL";
  if (!isLoopbackHost(parsed.hostname)) return "not a loopback address";
  return undefined;
}

async function readSmallTextFile(path: string): Promise<string> {
  const info = await Deno.stat(path);
  if (info.size > controlFileBytesMax) {
    throw new Error(`it is larger than ${controlFileBytesMax} bytes`);
  }
  return await Deno.readTextFile(path);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
