/**
 * The control API's routes, each declared once: its method, path, path parameter, query,
 * timeout and action text, how the server parses a request into a typed value and which
 * handler it calls, how the answer goes back, and how the client sends the typed value and
 * reads the answer. The server (src/api/control_api.ts), the client (src/api/control_client.ts)
 * and the CLI's help all read this table, so adding a route is one entry here and one handler
 * in the node (`RhizomeNode` implements {@link ControlHandlers}).
 *
 * The JSON ↔ typed mapping of each request is src/api/wire.ts; this table only picks it.
 *
 * | Route                            | Body in                       | Answer                      |
 * | -------------------------------- | ----------------------------- | --------------------------- |
 * | GET `/v1/status`                 |                               | {@link StatusReport}        |
 * | GET `/v1/peers`                  |                               | `{ "peers": PeerReport[] }` |
 * | POST `/v1/put?ttl=S`             | the value's bytes             | {@link PutReport}           |
 * | GET `/v1/get/<hex key>`          |                               | the value (404: absent)     |
 * | POST `/v1/stop`                  |                               | 202 `{ "stopping": true }`  |
 * | POST `/v1/threads`               | {@link NewThreadRequest}      | {@link PublishReport}       |
 * | GET `/v1/threads?order&…`        |                               | {@link ThreadList}          |
 * | GET `/v1/threads/<id>?limit&…`   |                               | {@link ThreadView}          |
 * | POST `/v1/posts`                 | {@link PostRequest}           | {@link PublishReport}       |
 * | POST `/v1/votes`                 | {@link VoteRequest}           | {@link PublishReport}       |
 * | POST `/v1/profile`               | {@link ProfileRequest}        | {@link PublishReport}       |
 * | GET `/v1/profiles/<author key>`  |                               | {@link ProfileView}         |
 * | POST `/v1/records?key=<hex key>` | an encoded record             | {@link PublishReport}       |
 * | POST `/v1/snapshots/import`      | {@link SnapshotImportRequest} | {@link ImportReport}        |
 * | POST `/v1/sync`                  | {@link SyncCommand}           | {@link SyncOutcomeReport}   |
 * | GET `/v1/sync`                   |                               | {@link SyncStateReport}     |
 * | GET `/metrics` (open)            |                               | Prometheus text             |
 * | GET `/v1/metrics` (open)         |                               | {@link MetricsReport}       |
 * | GET `/dashboard` (open)          |                               | the dashboard's HTML page   |
 * | GET `/v1/ids?prefix=HEX`         |                               | `{ "prefix", "matches" }`   |
 * | GET `/v1/popularity/<hex key>`   |                               | {@link PopularityReport}    |
 * | GET `/v1/search?q&limit&…`       |                               | {@link SearchPage}          |
 * | POST `/v1/search/reindex`        |                               | {@link ReindexReport}       |
 *
 * A request type in "Body in" travels as its JSON form (snake_case, IDs in lower-case hex).
 * Routes marked open answer without the bearer token (see {@link ControlRoute.open}).
 *
 * @module
 */

import type { ErrorCode } from "../core/errors.ts";
import type { NodeId } from "../core/node_id.ts";
import type {
  ProfileView,
  PublishReport,
  ThreadList,
  ThreadView,
} from "../services/discussion/reports.ts";
import type {
  NewThreadRequest,
  PostRequest,
  ProfileRequest,
  ThreadListRequest,
  ThreadShowRequest,
  VoteRequest,
} from "../services/discussion/requests.ts";
import { type ImportReport, importReport, type ImportSummary } from "../node/snapshot_import.ts";
import type { IdMatch } from "../node/known_ids.ts";
import type { KeyPopularity } from "../services/popularity/mod.ts";

/** One record's popularity as this node measures it (`rhizome popularity KEY`). */
export type PopularityReport = KeyPopularity;
import {
  formatNewThreadRequest,
  formatPostRequest,
  formatProfileRequest,
  formatSnapshotImportRequest,
  formatThreadListQuery,
  formatThreadShowQuery,
  formatVoteRequest,
  type JsonValue,
  parseAuthorKeyHex,
  parseIdHex,
  parseIdPrefix,
  parseKeyHex,
  parseNewThreadRequest,
  parsePostRequest,
  parseProfileRequest,
  parseSnapshotImportRequest,
  parseThreadListQuery,
  parseThreadShowQuery,
  parseTtlSeconds,
  parseVoteRequest,
  type PeerReport,
  type PutReport,
  type SnapshotImportRequest,
  type StatusReport,
} from "./wire.ts";
import { InvalidInputError } from "../core/errors.ts";
import { toHex, utf8Decode } from "../core/bytes.ts";
import type { ReindexReport, SearchPage } from "../services/search/mod.ts";
import { formatSearchQuery, parseSearchQuery, type SearchApiRequest } from "./search_wire.ts";
import { NODE_ID_BYTES } from "../core/node_id.ts";
import type { NodeMetrics } from "../node/metrics_snapshot.ts";
import {
  metricFamilies,
  type MetricsReport,
  metricsReport,
  prometheusContentType,
  prometheusText,
} from "./metrics.ts";
import { dashboardHtml } from "./dashboard.ts";
import type { SyncCommand, SyncOutcome, SyncState } from "../node/node_sync.ts";
import {
  formatSyncCommand,
  parseSyncCommand,
  type SyncOutcomeReport,
  syncOutcomeReport,
  type SyncStateReport,
  syncStateReport,
} from "./sync_wire.ts";

/** A value now or later: handlers may answer at once (status, peers) or after I/O. */
export type Awaitable<T> = T | Promise<T>;

/**
 * What the node does for each route; the API only authenticates, checks and relays.
 * `RhizomeNode` implements it: its methods take the typed requests the routes parse.
 */
export interface ControlHandlers {
  /** The node's state. */
  status(): Awaitable<StatusReport>;
  /** The routing table's contacts. */
  peers(): Awaitable<PeerReport[]>;
  /**
   * Stores a value in the network.
   *
   * @param value At most `controlBodyBytesMax` bytes.
   * @param ttlS Seconds to keep it (1 to `controlTtlSecondsMax`); the node's default when
   *   absent.
   * @returns The key and the acknowledgements: answered only once the value is durable on this
   *   node (unless it is a DHT client) and `quorum` holders acknowledged it.
   * @throws {RhizomeError} `INVALID_INPUT` (400), `RECORD_INVALID` (422), `STORE_FULL` (507:
   *   this node's store has no room or its disk failed; nothing new kept here), `NOT_REPLICATED`
   *   (503: kept here, fewer holders than the quorum), `NOT_STORED` (503: kept nowhere that
   *   counts), `UNAVAILABLE` (503); anything else is answered 500.
   */
  put(value: Uint8Array, ttlS?: number): Promise<PutReport>;
  /**
   * Finds a value.
   *
   * @param key The key.
   * @returns The value, or `undefined` when the network does not hold it.
   */
  get(key: NodeId): Promise<Uint8Array | undefined>;
  /**
   * Stops the node. Called after the answer is decided and not awaited by the request, so it
   * may close the API (whose shutdown waits for requests in flight).
   *
   * @param reason Why, for the node's log.
   */
  stop(reason: string): Promise<void>;
  /**
   * Starts a thread.
   *
   * @param request Checked for shape; the content rules are the handler's.
   * @returns What was published.
   * @throws {RhizomeError} `CONTENT_INVALID` or `AUTHOR_MISSING` (422), `UNAVAILABLE` (503); as
   *   every write, `STORE_FULL` (507), `NOT_REPLICATED` or `NOT_STORED` (503).
   */
  newThread(request: NewThreadRequest): Promise<PublishReport>;
  /**
   * Lists threads.
   *
   * @param request The order, a limit of 1 to `threadPageMax` and the cursor.
   * @returns One page, within the reader's time budget: what could not be read in time is named
   *   in its `missing`.
   */
  listThreads(request: ThreadListRequest): Promise<ThreadList>;
  /**
   * Reads a thread.
   *
   * @param request The thread, a limit of 1 to `messagePageMax` and the cursor.
   * @returns The thread and one page of its messages, within the reader's time budget: what
   *   could not be read in time is named in its `missing`.
   * @throws {RhizomeError} `NOT_FOUND` (404) when the thread is not on the network;
   *   `UNAVAILABLE` (503) when it could not be read in time.
   */
  showThread(request: ThreadShowRequest): Promise<ThreadView>;
  /**
   * Posts a message or a reply.
   *
   * @param request Checked for shape; the content rules are the handler's.
   * @returns What was published.
   * @throws {RhizomeError} `NOT_FOUND` (404) for a missing thread or parent, `CONTENT_INVALID`
   *   or `AUTHOR_MISSING` (422); as every write, `STORE_FULL` (507), `NOT_REPLICATED` or
   *   `NOT_STORED` (503).
   */
  post(request: PostRequest): Promise<PublishReport>;
  /**
   * Votes on a thread or message.
   *
   * @param request Checked for shape.
   * @returns What was published.
   * @throws {RhizomeError} `NOT_FOUND` (404), `VOTE_REPEATED` (409), `AUTHOR_MISSING` (422); as
   *   every write, `STORE_FULL` (507), `NOT_REPLICATED` or `NOT_STORED` (503).
   */
  vote(request: VoteRequest): Promise<PublishReport>;
  /**
   * Publishes the author's profile.
   *
   * @param request Checked for shape; the content rules are the handler's.
   * @returns What was published.
   * @throws {RhizomeError} `CONTENT_INVALID` or `AUTHOR_MISSING` (422); as every write,
   *   `STORE_FULL` (507), `NOT_REPLICATED` or `NOT_STORED` (503).
   */
  setProfile(request: ProfileRequest): Promise<PublishReport>;
  /**
   * Reads an author's profile.
   *
   * @param author The author's Ed25519 public key.
   * @returns The profile.
   * @throws {RhizomeError} `NOT_FOUND` (404) when the author has none.
   */
  showProfile(author: Uint8Array): Promise<ProfileView>;
  /**
   * One record's popularity as this node measures it: the raw counters, the score and its parts.
   *
   * @param key The record's key.
   * @returns The report.
   * @throws {RhizomeError} `NOT_FOUND` (404) when this node tracks no reads of the key.
   */
  popularity(key: NodeId): Promise<PopularityReport>;
  /**
   * Publishes a record signed elsewhere (any kind).
   *
   * @param key The record's key.
   * @param record The encoded record, at most `controlBodyBytesMax` bytes.
   * @returns What was published.
   * @throws {RhizomeError} `RECORD_INVALID` (422) when it does not verify under the key; as every
   *   write, `STORE_FULL` (507), `NOT_REPLICATED` or `NOT_STORED` (503).
   */
  publishRecord(key: NodeId, record: Uint8Array): Promise<PublishReport>;
  /**
   * Imports a snapshot file into the node's store. May take minutes: the route's timeout is
   * `controlImportTimeoutMs`.
   *
   * @param path The file, an absolute path of at most `snapshotPathLengthMax` characters.
   * @returns What happened to its records.
   * @throws {RhizomeError} `SNAPSHOT_INVALID` (422, nothing imported), `UNAVAILABLE` (503,
   *   another import is running), `STORE_FULL` (507); `STORE_UNUSABLE` and anything else 500.
   */
  importSnapshot(path: string): Promise<ImportSummary>;
  /**
   * Syncs this node's store from a peer (`docs/sync.md`). May take minutes: the route's timeout
   * is `controlImportTimeoutMs`.
   *
   * @param command The peer (or the node's peers in turn) and what to sync.
   * @returns What moved.
   * @throws {RhizomeError} `UNAVAILABLE` (503: another sync runs, no peer answered),
   *   `INVALID_INPUT` (400).
   */
  sync(command: SyncCommand): Promise<SyncOutcome>;
  /** The sync running now, if any, with its progress. */
  syncState(): Awaitable<SyncState>;
  /**
   * Every counter of the node at this moment, for the metrics routes and the dashboard.
   *
   * @returns The snapshot.
   */
  metrics(): Awaitable<NodeMetrics>;
  /**
   * The thread and message IDs the node published or showed that start with a prefix (absent:
   * none known).
   */
  resolveIds?(prefix: string): Awaitable<IdMatch[]>;
  /**
   * Searches this node's index, and the network's unless `local`.
   *
   * @param request The query, page size, cursor, explain, local.
   * @returns One page of results.
   * @throws {RhizomeError} `INVALID_INPUT` (400) for a bad query, limit or cursor.
   */
  search(request: SearchApiRequest): Promise<SearchPage>;
  /**
   * Rebuilds the search index from the records the store holds.
   *
   * @returns What was indexed.
   */
  reindexSearch(): Promise<ReindexReport>;
}

/** What the server hands a route's {@link ControlRoute.parse}: the request's pieces. */
export interface RouteInput {
  /** The path segment after a parameter route's path, as sent; `""` for other routes. */
  parameter: string;
  /** The query (unknown and repeated parameters are refused before parse runs). */
  query: URLSearchParams;
  /** Reads the body (413 past `controlBodyBytesMax`); read it after the cheap checks. */
  bytes(): Promise<Uint8Array>;
  /** Reads the body as JSON (it must say so in `Content-Type` and be UTF-8). */
  json(): Promise<unknown>;
}

/** What a route's {@link ControlRoute.reply} answers: JSON, bytes, text of a type, or an error. */
export type RouteReply =
  | { status: number; json: unknown }
  | { status: number; bytes: Uint8Array }
  | { status: number; text: string; contentType: string }
  | { status: number; error: ErrorCode; message: string };

/** What the client sends for a request: the path parameter, the query and the body. */
export interface RouteRequest {
  /** Appended to a parameter route's path. */
  parameter?: string;
  /** The query. */
  query?: URLSearchParams;
  /** A body of raw bytes (sent as is) or JSON (sent with `Content-Type: application/json`). */
  body?: { bytes: Uint8Array } | { json: JsonValue };
}

/** The answer as the client received it, for a route's {@link ControlRoute.read}. */
export interface RouteResponse {
  /** The HTTP status. */
  status: number;
  /** The body as JSON; rejects with the node's error when the status is not 2xx. */
  json(): Promise<unknown>;
  /** The body's bytes; rejects with the node's error when the status is not 2xx. */
  bytes(): Promise<Uint8Array>;
  /** The node's error answer, whatever the status. */
  error(): Promise<Error & { code: ErrorCode }>;
  /** An error saying the answer is not what a rhizome node sends. */
  malformed(what: string, problem: string): Error;
}

/**
 * One route of the control API. `Handlers` is what its {@link call} needs (the node
 * implements {@link ControlHandlers}), `Request` the typed request, `Answer` the handler's
 * answer.
 */
export interface ControlRoute<Handlers, Request, Answer> {
  /** The HTTP method. */
  readonly method: "GET" | "POST";
  /** The path; a route with a {@link parameter} takes exactly one more segment after it. */
  readonly path: string;
  /** The path parameter's name in messages and help (`KEY`), for routes that take one. */
  readonly parameter?: string;
  /** The query parameters accepted; any other, or one repeated, is refused with 400. */
  readonly query: readonly string[];
  /** Which limit bounds the request's time. */
  readonly timeout: "requestTimeoutMs" | "importTimeoutMs";
  /** What it does, for "Cannot <action>: …" messages. */
  readonly action: string;
  /**
   * Runs the handler after answering, at most once per API, its failure logged, instead of
   * before: for `stop`, whose handler closes the API that is answering.
   */
  readonly detached?: boolean;
  /**
   * Answers without the bearer token: for read-only GETs of counters (metrics, the dashboard),
   * which a Prometheus scraper or a browser on this machine asks for without the token that
   * changes at every start. The API still answers loopback callers only, and only requests
   * whose `Host` names a loopback address (a web page that rebinds its own name to 127.0.0.1
   * cannot read them).
   */
  readonly open?: boolean;
  /**
   * Server: the typed request from the HTTP request.
   *
   * @throws {InvalidInputError} When it is malformed (400; no handler runs).
   */
  parse(input: RouteInput): Promise<Request>;
  /** Server: runs the request on the handlers. */
  call(handlers: Handlers, request: Request): Promise<Answer>;
  /** Server: the answer as HTTP (200 JSON unless the route says otherwise). */
  reply(answer: Answer, request: Request): RouteReply;
  /**
   * Client: the typed request as HTTP.
   *
   * @throws {InvalidInputError} When the node would refuse it (nothing is sent).
   */
  send(request: Request): RouteRequest;
  /** Client: the typed answer from the node's answer. */
  read(response: RouteResponse): Promise<Answer>;
}

/** Any route whose handlers `Handlers` provides. */
// deno-lint-ignore no-explicit-any -- a table holds routes of every request and answer type.
export type AnyRoute<Handlers> = ControlRoute<Handlers, any, any>;

/** A table of routes by name, in the order they are matched and listed. */
export type ControlRouteTable<Handlers> = Readonly<Record<string, AnyRoute<Handlers>>>;

/** The parts {@link defineRoute} fills in when a route leaves them out. */
export type RouteDefaults = "query" | "timeout" | "parse" | "reply" | "send" | "read";

/**
 * A route, with the common case filled in: no query, the request timeout, no request, a 200
 * JSON answer read back as JSON.
 *
 * @param route The route's own parts.
 * @returns The whole route.
 */
export function defineRoute<Handlers, Request = void, Answer = unknown>(
  route:
    & Omit<ControlRoute<Handlers, Request, Answer>, RouteDefaults>
    & Partial<Pick<ControlRoute<Handlers, Request, Answer>, RouteDefaults>>,
): ControlRoute<Handlers, Request, Answer> {
  return {
    query: [],
    timeout: "requestTimeoutMs",
    parse: () => Promise.resolve(undefined as Request),
    reply: (answer) => ({ status: 200, json: answer }),
    send: () => ({}),
    read: async (response) => await response.json() as Answer,
    ...route,
  };
}

/** A publishing route's answer, checked for the fields every report has. */
async function readPublishReport(response: RouteResponse): Promise<PublishReport> {
  const body = await response.json();
  if (
    !isObject(body) || typeof body.id !== "string" || typeof body.kind !== "string" ||
    typeof body.stored !== "number" || !isObject(body.indexes)
  ) {
    throw response.malformed("publish", "no publish report");
  }
  return body as unknown as PublishReport;
}

/** The request body of a route that takes JSON: read, then parsed by the wire mapping. */
function jsonBody<Request>(
  parse: (value: unknown) => Request,
): (input: RouteInput) => Promise<Request> {
  return async (input) => parse(await input.json());
}

/** The routes, for the server, the client and the help alike. */
export const controlRoutes = {
  /** GET: the node's {@link StatusReport}. */
  status: defineRoute<ControlHandlers, void, StatusReport>({
    method: "GET",
    path: "/v1/status",
    action: "report the node's status",
    call: async (node) => await node.status(),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || typeof body.node_id !== "string") {
        throw response.malformed("status", "no node_id");
      }
      return body as StatusReport;
    },
  }),
  /** GET: `{ "peers": PeerReport[] }`. */
  peers: defineRoute<ControlHandlers, void, PeerReport[]>({
    method: "GET",
    path: "/v1/peers",
    action: "list the node's peers",
    call: async (node) => await node.peers(),
    reply: (peers) => ({ status: 200, json: { peers } }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || !Array.isArray(body.peers) || !body.peers.every(isObject)) {
        throw response.malformed("peers", "no list of peers");
      }
      return body.peers as PeerReport[];
    },
  }),
  /** POST the value's bytes, `?ttl=S` optional: a {@link PutReport}. */
  put: defineRoute<ControlHandlers, { value: Uint8Array; ttlS?: number }, PutReport>({
    method: "POST",
    path: "/v1/put",
    query: ["ttl"],
    action: "put the value",
    parse: async (input) => {
      const ttlText = input.query.get("ttl");
      const ttlS = ttlText === null ? undefined : parseTtlSeconds(ttlText);
      return { value: await input.bytes(), ttlS };
    },
    call: (node, { value, ttlS }) => node.put(value, ttlS),
    send: ({ value, ttlS }) => ({
      query: new URLSearchParams(ttlS === undefined ? {} : { ttl: String(ttlS) }),
      body: { bytes: value },
    }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || typeof body.key !== "string" || typeof body.stored !== "number") {
        throw response.malformed("put", "no key and count");
      }
      // An older node answers without the holder counts.
      const holders = typeof body.holders === "number" ? body.holders : body.stored;
      const quorum = typeof body.quorum === "number" ? body.quorum : 1;
      return { key: body.key, stored: body.stored, holders, quorum };
    },
  }),
  /** GET, followed by the key in hex: the value's bytes, or 404. */
  get: defineRoute<ControlHandlers, NodeId, Uint8Array | undefined>({
    method: "GET",
    path: "/v1/get/",
    parameter: "KEY",
    action: "get the value",
    parse: (input) => Promise.resolve(parseKeyHex(input.parameter)),
    call: (node, key) => node.get(key),
    reply: (value, key) =>
      value === undefined
        ? {
          status: 404,
          error: "UNAVAILABLE",
          message: `Cannot get ${key.toHex()}: no value found`,
        }
        : { status: 200, bytes: value },
    send: (key) => ({ parameter: key.toHex() }),
    read: async (response) => {
      // 404 with USAGE means the route is unknown (an older node), not that the value is absent.
      if (response.status === 404) {
        const error = await response.error();
        if (error.code === "USAGE") throw error;
        return undefined;
      }
      return await response.bytes();
    },
  }),
  /** POST: the node stops after answering 202. */
  stop: defineRoute<ControlHandlers, void, void>({
    method: "POST",
    path: "/v1/stop",
    action: "stop the node",
    detached: true,
    call: (node) => node.stop("asked through the control API"),
    reply: () => ({ status: 202, json: { stopping: true } }),
    read: async (response) => void await response.json(),
  }),
  /** POST a JSON {@link NewThreadRequest}: a {@link PublishReport}. */
  newThread: defineRoute<ControlHandlers, NewThreadRequest, PublishReport>({
    method: "POST",
    path: "/v1/threads",
    action: "start the thread",
    parse: jsonBody(parseNewThreadRequest),
    call: (node, request) => node.newThread(request),
    send: (request) => ({ body: { json: formatNewThreadRequest(request) } }),
    read: readPublishReport,
  }),
  /**
   * GET, `?order=recent|popular&limit=N&cursor=C&source=global|local&explain=true` optional: a
   * {@link ThreadList}.
   */
  listThreads: defineRoute<ControlHandlers, ThreadListRequest, ThreadList>({
    method: "GET",
    path: "/v1/threads",
    query: ["order", "limit", "cursor", "source", "explain"],
    action: "list threads",
    parse: (input) => Promise.resolve(parseThreadListQuery(input.query)),
    call: (node, request) => node.listThreads(request),
    send: (request) => ({ query: formatThreadListQuery(request) }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || !Array.isArray(body.threads) || !Array.isArray(body.missing)) {
        throw response.malformed("thread list", "no threads");
      }
      return body as unknown as ThreadList;
    },
  }),
  /** GET, followed by the thread's ID, `?limit=N&cursor=C` optional: a {@link ThreadView}. */
  showThread: defineRoute<ControlHandlers, ThreadShowRequest, ThreadView>({
    method: "GET",
    path: "/v1/threads/",
    parameter: "ID",
    query: ["limit", "cursor"],
    action: "show the thread",
    parse: (input) => Promise.resolve(parseThreadShowQuery(input.parameter, input.query)),
    call: (node, request) => node.showThread(request),
    send: (request) => ({
      parameter: request.thread.toHex(),
      query: formatThreadShowQuery(request),
    }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || !isObject(body.thread) || !Array.isArray(body.messages)) {
        throw response.malformed("thread show", "no thread");
      }
      return body as unknown as ThreadView;
    },
  }),
  /** POST a JSON {@link PostRequest}: a {@link PublishReport}. */
  post: defineRoute<ControlHandlers, PostRequest, PublishReport>({
    method: "POST",
    path: "/v1/posts",
    action: "post the message",
    parse: jsonBody(parsePostRequest),
    call: (node, request) => node.post(request),
    send: (request) => ({ body: { json: formatPostRequest(request) } }),
    read: readPublishReport,
  }),
  /** POST a JSON {@link VoteRequest}: a {@link PublishReport}. */
  vote: defineRoute<ControlHandlers, VoteRequest, PublishReport>({
    method: "POST",
    path: "/v1/votes",
    action: "cast the vote",
    parse: jsonBody(parseVoteRequest),
    call: (node, request) => node.vote(request),
    send: (request) => ({ body: { json: formatVoteRequest(request) } }),
    read: readPublishReport,
  }),
  /** POST a JSON {@link ProfileRequest}: a {@link PublishReport}. */
  setProfile: defineRoute<ControlHandlers, ProfileRequest, PublishReport>({
    method: "POST",
    path: "/v1/profile",
    action: "set the profile",
    parse: jsonBody(parseProfileRequest),
    call: (node, request) => node.setProfile(request),
    send: (request) => ({ body: { json: formatProfileRequest(request) } }),
    read: readPublishReport,
  }),
  /** GET, followed by the author's public key in hex: a {@link ProfileView}, or 404. */
  showProfile: defineRoute<ControlHandlers, Uint8Array, ProfileView>({
    method: "GET",
    path: "/v1/profiles/",
    parameter: "AUTHOR",
    action: "show the profile",
    parse: (input) => Promise.resolve(parseAuthorKeyHex(input.parameter)),
    call: (node, author) => node.showProfile(author),
    send: (author) => ({ parameter: toHex(author) }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || typeof body.author !== "string") {
        throw response.malformed("profile show", "no author");
      }
      return body as unknown as ProfileView;
    },
  }),
  /** POST an encoded record, `?key=<hex>` required: a {@link PublishReport}. */
  publishRecord: defineRoute<ControlHandlers, { key: NodeId; record: Uint8Array }, PublishReport>(
    {
      method: "POST",
      path: "/v1/records",
      query: ["key"],
      action: "publish the record",
      parse: async (input) => {
        const keyText = input.query.get("key");
        if (keyText === null) {
          throw new InvalidInputError(
            'Cannot read the request: parameter "key" is missing (the record\'s key, ' +
              `${NODE_ID_BYTES * 2} hex digits)`,
          );
        }
        const key = parseIdHex(keyText, "record key");
        return { key, record: await input.bytes() };
      },
      call: (node, { key, record }) => node.publishRecord(key, record),
      send: ({ key, record }) => ({
        query: new URLSearchParams({ key: key.toHex() }),
        body: { bytes: record },
      }),
      read: readPublishReport,
    },
  ),
  /** GET, followed by the record's key: its {@link PopularityReport}. */
  popularity: defineRoute<ControlHandlers, NodeId, PopularityReport>({
    method: "GET",
    path: "/v1/popularity/",
    parameter: "KEY",
    action: "show the popularity",
    parse: (input) => Promise.resolve(parseKeyHex(input.parameter)),
    call: (node, key) => node.popularity(key),
    send: (key) => ({ parameter: key.toHex() }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || !isObject(body.metrics) || !isObject(body.explained)) {
        throw response.malformed("popularity", "no metrics");
      }
      return body as unknown as PopularityReport;
    },
  }),
  /** POST a JSON {@link SnapshotImportRequest}: an {@link ImportReport}. */
  importSnapshot: defineRoute<ControlHandlers, SnapshotImportRequest, ImportReport>({
    method: "POST",
    path: "/v1/snapshots/import",
    timeout: "importTimeoutMs",
    action: "import the snapshot",
    parse: jsonBody(parseSnapshotImportRequest),
    call: async (node, request) => importReport(await node.importSnapshot(request.path)),
    send: (request) => ({ body: { json: formatSnapshotImportRequest(request) } }),
    read: async (response) => {
      const body = await response.json();
      const counts = ["records", "imported", "unchanged", "expired", "kept_newer", "refused_full"];
      if (
        !isObject(body) || typeof body.path !== "string" || typeof body.node_id !== "string" ||
        !counts.every((field) => typeof body[field] === "number")
      ) {
        throw response.malformed("snapshot import", "no import counts");
      }
      return body as unknown as ImportReport;
    },
  }),
  /** POST a JSON {@link SyncCommand}: a {@link SyncOutcomeReport} once the sync ends. */
  sync: defineRoute<ControlHandlers, SyncCommand, SyncOutcomeReport>({
    method: "POST",
    path: "/v1/sync",
    timeout: "importTimeoutMs",
    action: "sync",
    parse: jsonBody(parseSyncCommand),
    call: async (node, command) => syncOutcomeReport(await node.sync(command)),
    send: (command) => ({ body: { json: formatSyncCommand(command) } }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || typeof body.peer !== "string" || typeof body.rounds !== "number") {
        throw response.malformed("sync", "no sync report");
      }
      return body as unknown as SyncOutcomeReport;
    },
  }),
  /** GET: the running sync's {@link SyncStateReport}. */
  syncState: defineRoute<ControlHandlers, void, SyncStateReport>({
    method: "GET",
    path: "/v1/sync",
    action: "report the sync",
    call: async (node) => syncStateReport(await node.syncState()),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || typeof body.running !== "boolean") {
        throw response.malformed("sync state", "no sync state");
      }
      return body as unknown as SyncStateReport;
    },
  }),
  /** GET, open: the metrics in the Prometheus text format (src/api/metrics.ts). */
  metrics: defineRoute<ControlHandlers, void, string>({
    method: "GET",
    path: "/metrics",
    action: "report the metrics",
    open: true,
    call: async (node) => prometheusText(metricFamilies(await node.metrics())),
    reply: (text) => ({ status: 200, text, contentType: prometheusContentType }),
    read: async (response) => utf8Decode(await response.bytes()),
  }),
  /** GET, open: the same metrics as JSON, a {@link MetricsReport}. */
  metricsJson: defineRoute<ControlHandlers, void, MetricsReport>({
    method: "GET",
    path: "/v1/metrics",
    action: "report the metrics",
    open: true,
    call: async (node) => metricsReport(await node.metrics()),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || typeof body.node_id !== "string" || !isObject(body.metrics)) {
        throw response.malformed("metrics", "no metrics");
      }
      return body as unknown as MetricsReport;
    },
  }),
  /** GET, open: the dashboard, one HTML page that reads `/v1/metrics` (src/api/dashboard.ts). */
  dashboard: defineRoute<ControlHandlers, void, string>({
    method: "GET",
    path: "/dashboard",
    action: "show the dashboard",
    open: true,
    call: () => Promise.resolve(dashboardHtml),
    reply: (text) => ({ status: 200, text, contentType: "text/html; charset=utf-8" }),
    read: async (response) => utf8Decode(await response.bytes()),
  }),
  /** GET `?prefix=HEX`: `{ "prefix", "matches": [{ "id", "kind" }] }`, most recent first. */
  resolveIds: defineRoute<ControlHandlers, string, IdMatch[]>({
    method: "GET",
    path: "/v1/ids",
    query: ["prefix"],
    action: "resolve the ID prefix",
    parse: (input) => Promise.resolve(parseIdPrefix(input.query.get("prefix") ?? "")),
    call: async (node, prefix) => await node.resolveIds?.(prefix) ?? [],
    reply: (matches, prefix) => ({ status: 200, json: { prefix, matches } }),
    send: (prefix) => ({ query: new URLSearchParams({ prefix }) }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || !Array.isArray(body.matches) || !body.matches.every(isObject)) {
        throw response.malformed("ID resolution", "no matches");
      }
      return body.matches as unknown as IdMatch[];
    },
  }),
  /** GET, `?q=QUERY` and `limit`, `cursor`, `local`, `explain` optional: a {@link SearchPage}. */
  search: defineRoute<ControlHandlers, SearchApiRequest, SearchPage>({
    method: "GET",
    path: "/v1/search",
    query: ["q", "limit", "cursor", "local", "explain"],
    action: "search",
    parse: (input) => Promise.resolve(parseSearchQuery(input.query)),
    call: (node, request) => node.search(request),
    send: (request) => ({ query: formatSearchQuery(request) }),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || !Array.isArray(body.results) || !Array.isArray(body.missing)) {
        throw response.malformed("search", "no results");
      }
      return body as unknown as SearchPage;
    },
  }),
  /** POST: rebuilds the search index; a {@link ReindexReport}. */
  reindexSearch: defineRoute<ControlHandlers, void, ReindexReport>({
    method: "POST",
    path: "/v1/search/reindex",
    timeout: "importTimeoutMs",
    action: "rebuild the search index",
    call: (node) => node.reindexSearch(),
    read: async (response) => {
      const body = await response.json();
      if (!isObject(body) || typeof body.documents !== "number") {
        throw response.malformed("reindex", "no document count");
      }
      return body as unknown as ReindexReport;
    },
  }),
} as const satisfies ControlRouteTable<ControlHandlers>;

/** A route's name, as in {@link controlRoutes}. */
export type ControlRouteName = keyof typeof controlRoutes;

/**
 * How a route reads in messages and help: `GET /v1/threads/ID`.
 *
 * @param route The route.
 * @returns Its method, path and parameter name.
 */
export function routeLine(route: AnyRoute<never>): string {
  return `${route.method} ${route.path}${route.parameter ?? ""}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
