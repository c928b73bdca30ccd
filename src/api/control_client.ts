/**
 * The client side of the control API: finds a running node through its data directory
 * (`api.json` and `api.token`) and calls its routes, turning every failure into a one-line
 * {@link RhizomeError}.
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
import type {
  NewThreadRequest,
  PostRequest,
  ProfileRequest,
  ProfileView,
  PublishReport,
  ThreadList,
  ThreadListRequest,
  ThreadShowRequest,
  ThreadView,
  VoteRequest,
} from "../services/discussion/reports.ts";
import {
  CONTROL_API_FILES,
  CONTROL_ROUTES,
  type ControlAddress,
  controlBodyBytesMax,
  controlImportTimeoutMs,
  controlRequestTimeoutMs,
  type ImportReport,
  isLoopbackHost,
  parseKeyHex,
  type PeerReport,
  type PutReport,
  readBytesLimited,
  type StatusReport,
} from "./control_api.ts";
import { parseAuthorKeyHex, parseIdHex, parseSnapshotImportRequest } from "./request_shapes.ts";

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
 * is sent again once; other methods are not, since the client cannot tell that case from a
 * node that failed mid-request.
 */
export const controlGetAttemptsMax = 2;

/**
 * Largest `api.json` or `api.token` read. Both are under 100 bytes; anything big is not ours.
 */
const controlFileBytesMax = 4 * 1024;

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
   * How long to wait for the answer to {@link ControlClient.importSnapshot}.
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
 * const status = await client.status();
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
   * `GET /v1/status`.
   *
   * @returns The node's status.
   * @throws {RhizomeError} When the node does not answer or answers with an error.
   */
  async status(): Promise<StatusReport> {
    const body = await this.#json("GET", CONTROL_ROUTES.status);
    if (!isObject(body) || typeof body.node_id !== "string") {
      throw this.#malformed("status", "no node_id");
    }
    return body as StatusReport;
  }

  /**
   * `GET /v1/peers`.
   *
   * @returns The routing table's contacts.
   * @throws {RhizomeError} When the node does not answer or answers with an error.
   */
  async peers(): Promise<PeerReport[]> {
    const body = await this.#json("GET", CONTROL_ROUTES.peers);
    if (!isObject(body) || !Array.isArray(body.peers) || !body.peers.every(isObject)) {
      throw this.#malformed("peers", "no list of peers");
    }
    return body.peers as PeerReport[];
  }

  /**
   * `POST /v1/put`.
   *
   * @param value At most {@link controlBodyBytesMax} bytes.
   * @param ttlS Seconds to keep it; the node's default when absent.
   * @returns The key (hex) and how many nodes stored the value (`stored`: others; `holders`:
   *   copies counted toward `quorum`).
   * @throws {InvalidInputError} When the value is too large (nothing is sent).
   * @throws {RhizomeError} When the node does not answer or refuses.
   */
  async put(value: Uint8Array, ttlS?: number): Promise<PutReport> {
    checkBodySize("put the value", value);
    const query = ttlS === undefined ? "" : `?ttl=${encodeURIComponent(String(ttlS))}`;
    const body = await this.#json("POST", CONTROL_ROUTES.put + query, value);
    if (!isObject(body) || typeof body.key !== "string" || typeof body.stored !== "number") {
      throw this.#malformed("put", "no key and count");
    }
    // An older node answers without the holder counts.
    const holders = typeof body.holders === "number" ? body.holders : body.stored;
    const quorum = typeof body.quorum === "number" ? body.quorum : 1;
    return { key: body.key, stored: body.stored, holders, quorum };
  }

  /**
   * `GET /v1/get/<key>`.
   *
   * @param key The key in hex.
   * @returns The value, or `undefined` when the network does not hold it.
   * @throws {InvalidInputError} When the key is not 40 hex digits (nothing is sent).
   * @throws {RhizomeError} When the node does not answer or answers with an error.
   */
  async get(key: string): Promise<Uint8Array | undefined> {
    const path = CONTROL_ROUTES.get + parseKeyHex(key);
    const response = await this.#send("GET", path);
    // 404 with USAGE means the route is unknown (an older node), not that the value is absent.
    if (response.status === 404) {
      const error = await this.#errorOf(response);
      if (error.code === "USAGE") throw error;
      return undefined;
    }
    if (!response.ok) throw await this.#errorOf(response);
    return await this.#bytesOf(response);
  }

  /**
   * `POST /v1/stop`: asks the node to stop. Returns once the node has accepted; the node then
   * shuts down on its own (see {@link waitUntilGone}).
   *
   * @throws {RhizomeError} When the node does not answer or answers with an error.
   */
  async stop(): Promise<void> {
    await this.#json("POST", CONTROL_ROUTES.stop);
  }

  /**
   * `POST /v1/threads`.
   *
   * @param request The thread.
   * @returns What was published.
   * @throws {InvalidInputError} When the request encodes to more than
   *   {@link controlBodyBytesMax} bytes (nothing is sent).
   * @throws {RhizomeError} When the node does not answer or refuses (`CONTENT_INVALID`,
   *   `AUTHOR_MISSING`, …).
   */
  async newThread(request: NewThreadRequest): Promise<PublishReport> {
    return this.#publishReport(await this.#postJson(CONTROL_ROUTES.newThread, request));
  }

  /**
   * `GET /v1/threads`.
   *
   * @param request The order, page size and cursor.
   * @returns One page of threads.
   * @throws {RhizomeError} When the node does not answer or refuses.
   */
  async listThreads(request: ThreadListRequest): Promise<ThreadList> {
    const query = new URLSearchParams({ order: request.order, limit: String(request.limit) });
    if (request.cursor !== undefined) query.set("cursor", request.cursor);
    const body = await this.#json("GET", `${CONTROL_ROUTES.listThreads}?${query}`);
    if (!isObject(body) || !Array.isArray(body.threads) || !Array.isArray(body.missing)) {
      throw this.#malformed("thread list", "no threads");
    }
    return body as unknown as ThreadList;
  }

  /**
   * `GET /v1/threads/<id>`.
   *
   * @param request The thread's ID, page size and cursor.
   * @returns The thread and one page of its messages.
   * @throws {InvalidInputError} When the ID is not 40 hex digits (nothing is sent).
   * @throws {RhizomeError} When the node does not answer or refuses (`NOT_FOUND`, …).
   */
  async showThread(request: ThreadShowRequest): Promise<ThreadView> {
    const id = parseIdHex(request.thread, "thread ID");
    const query = new URLSearchParams({ limit: String(request.limit) });
    if (request.cursor !== undefined) query.set("cursor", request.cursor);
    const body = await this.#json("GET", `${CONTROL_ROUTES.showThread}${id}?${query}`);
    if (!isObject(body) || !isObject(body.thread) || !Array.isArray(body.messages)) {
      throw this.#malformed("thread show", "no thread");
    }
    return body as unknown as ThreadView;
  }

  /**
   * `POST /v1/posts`.
   *
   * @param request The message.
   * @returns What was published.
   * @throws {InvalidInputError} When the request is too large (nothing is sent).
   * @throws {RhizomeError} When the node does not answer or refuses (`NOT_FOUND`,
   *   `CONTENT_INVALID`, `AUTHOR_MISSING`, …).
   */
  async post(request: PostRequest): Promise<PublishReport> {
    return this.#publishReport(await this.#postJson(CONTROL_ROUTES.post, request));
  }

  /**
   * `POST /v1/votes`.
   *
   * @param request The vote.
   * @returns What was published.
   * @throws {RhizomeError} When the node does not answer or refuses (`NOT_FOUND`,
   *   `VOTE_REPEATED`, `AUTHOR_MISSING`, …).
   */
  async vote(request: VoteRequest): Promise<PublishReport> {
    return this.#publishReport(await this.#postJson(CONTROL_ROUTES.vote, request));
  }

  /**
   * `POST /v1/profile`.
   *
   * @param request The fields to change.
   * @returns What was published.
   * @throws {InvalidInputError} When the request is too large (nothing is sent).
   * @throws {RhizomeError} When the node does not answer or refuses (`CONTENT_INVALID`,
   *   `AUTHOR_MISSING`, …).
   */
  async setProfile(request: ProfileRequest): Promise<PublishReport> {
    return this.#publishReport(await this.#postJson(CONTROL_ROUTES.setProfile, request));
  }

  /**
   * `GET /v1/profiles/<author>`.
   *
   * @param author The author's public key in hex.
   * @returns The profile.
   * @throws {InvalidInputError} When the key is not 64 hex digits (nothing is sent).
   * @throws {RhizomeError} When the node does not answer or refuses (`NOT_FOUND`, …).
   */
  async showProfile(author: string): Promise<ProfileView> {
    const body = await this.#json("GET", CONTROL_ROUTES.showProfile + parseAuthorKeyHex(author));
    if (!isObject(body) || typeof body.author !== "string") {
      throw this.#malformed("profile show", "no author");
    }
    return body as unknown as ProfileView;
  }

  /**
   * `POST /v1/records?key=<hex>`.
   *
   * @param key The record's key in hex.
   * @param record The encoded record, at most {@link controlBodyBytesMax} bytes.
   * @returns What was published.
   * @throws {InvalidInputError} When the key is malformed or the record too large (nothing is
   *   sent).
   * @throws {RhizomeError} When the node does not answer or refuses (`RECORD_INVALID`, …).
   */
  async publishRecord(key: string, record: Uint8Array): Promise<PublishReport> {
    const path = `${CONTROL_ROUTES.publishRecord}?key=${parseIdHex(key, "record key")}`;
    checkBodySize("publish the record", record);
    return this.#publishReport(await this.#json("POST", path, record));
  }

  /**
   * `POST /v1/snapshots/import`: the node imports the file into its own store. Waits up to the
   * import timeout (an hour by default); there is no progress report on the way.
   *
   * @param path The snapshot, an absolute path on the node's machine.
   * @returns What happened to its records.
   * @throws {InvalidInputError} When the path is relative, empty or too long (nothing is sent).
   * @throws {RhizomeError} When the node does not answer or refuses (`SNAPSHOT_INVALID`,
   *   `UNAVAILABLE` when another import runs, …).
   */
  async importSnapshot(path: string): Promise<ImportReport> {
    const request = parseSnapshotImportRequest({ path });
    const body = await this.#postJson(
      CONTROL_ROUTES.importSnapshot,
      request,
      this.#importTimeoutMs,
    );
    const counts = ["records", "imported", "unchanged", "expired", "kept_newer", "refused_full"];
    if (
      !isObject(body) || typeof body.path !== "string" || typeof body.node_id !== "string" ||
      !counts.every((field) => typeof body[field] === "number")
    ) {
      throw this.#malformed("snapshot import", "no import counts");
    }
    return body as unknown as ImportReport;
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
        await this.status();
      } catch (error) {
        if (error instanceof RhizomeError && !(error instanceof ControlApiError)) return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Sends `request` as a JSON body (checked for size first). */
  async #postJson(path: string, request: object, timeoutMs?: number): Promise<unknown> {
    const body = new TextEncoder().encode(JSON.stringify(request));
    checkBodySize("send the request", body);
    return await this.#json("POST", path, body, { "content-type": "application/json" }, timeoutMs);
  }

  async #json(
    method: string,
    path: string,
    body?: Uint8Array,
    headers: Record<string, string> = {},
    timeoutMs?: number,
  ): Promise<unknown> {
    const response = await this.#send(method, path, body, headers, timeoutMs);
    if (!response.ok) throw await this.#errorOf(response);
    const bytes = await this.#bytesOf(response);
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw this.#malformed(path, "not JSON");
    }
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

  /** The answer of a publishing route, checked for the fields every report has. */
  #publishReport(body: unknown): PublishReport {
    if (
      !isObject(body) || typeof body.id !== "string" || typeof body.kind !== "string" ||
      typeof body.stored !== "number" || !isObject(body.indexes)
    ) {
      throw this.#malformed("publish", "no publish report");
    }
    return body as unknown as PublishReport;
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
