/**
 * The local control API: HTTP on a loopback address, for the CLI commands that talk to a running
 * node (`status`, `peers`, `put`, `get`, `stop`, `thread`, `post`, `vote`, `profile`,
 * `snapshot import`). Every
 * request must carry the bearer token the node wrote to `api.token` (mode 0600) in its data
 * directory; `api.json` beside it says where the API listens, so `--data-dir` is all the CLI
 * needs to find the node.
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
 *
 * Answers are 200 unless marked. Every request must answer within {@link controlRequestTimeoutMs}
 * except `/v1/snapshots/import`, which has {@link controlImportTimeoutMs}: the node reads the
 * named snapshot file (an absolute path on its machine) itself, twice, and a large one takes
 * minutes. Routes match exactly: `/v1/threads` lists (GET) or starts
 * (POST) threads, `/v1/threads/<id>` (one more path segment) shows one. JSON bodies need
 * `Content-Type: application/json` and may hold only the request's fields, with the right types
 * (src/api/request_shapes.ts); IDs and keys in a body are lower-case hex, in a path or query any
 * case. Query: `order` is `recent` (default) or `popular`; `limit` is 1 to {@link threadPageMax}
 * threads (default {@link threadPageDefault}) or 1 to {@link messagePageMax} messages (default
 * {@link messagePageDefault}); `cursor` is a page's `next_cursor`. A malformed request answers
 * 400 and reaches no handler.
 *
 * `GET /v1/threads` and `GET /v1/threads/<id>` answer within the reader's time budget
 * (`readBudgetMs` in src/discussion/reader.ts, 1.5 s) whatever the network does: a page whose
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
import { NODE_ID_BYTES, NodeId } from "../core/node_id.ts";
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
} from "../discussion/reports.ts";
import type { NodeStatus } from "../node/node.ts";
import type { ImportReport } from "../node/snapshot_import.ts";
import { writeFileAtomic } from "../store/atomic_file.ts";
import { HttpServer, type HttpServerStats } from "./http_server.ts";
import {
  parseAuthorKeyHex,
  parseIdHex,
  parseNewThreadRequest,
  parsePostRequest,
  parseProfileRequest,
  parseSnapshotImportRequest,
  parseThreadListQuery,
  parseThreadShowQuery,
  parseVoteRequest,
  type SnapshotImportRequest,
} from "./request_shapes.ts";

export {
  messagePageDefault,
  messagePageMax,
  threadPageDefault,
  threadPageMax,
} from "../discussion/mod.ts";
export { cursorLengthMax, snapshotPathLengthMax } from "./request_shapes.ts";
export type { SnapshotImportRequest } from "./request_shapes.ts";
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

/**
 * Largest `ttl` a put accepts: ten years, the largest TTL any configuration allows. The node
 * still clamps it to its own `record_ttl_max_s`. Larger: 400.
 */
export const controlTtlSecondsMax = 10 * 365 * 86_400;

/** The routes, for the server and the client alike. */
export const CONTROL_ROUTES = {
  /** GET: the node's {@link StatusReport}. */
  status: "/v1/status",
  /** GET: `{ "peers": PeerReport[] }`. */
  peers: "/v1/peers",
  /** POST the value's bytes, `?ttl=S` optional: a {@link PutReport}. */
  put: "/v1/put",
  /** GET, followed by the key in hex: the value's bytes, or 404. */
  get: "/v1/get/",
  /** POST: the node stops after answering 202. */
  stop: "/v1/stop",
  /** POST a JSON {@link NewThreadRequest}: a {@link PublishReport}. */
  newThread: "/v1/threads",
  /** GET, `?order=recent|popular&limit=N&cursor=C` optional: a {@link ThreadList}. */
  listThreads: "/v1/threads",
  /** GET, followed by the thread's ID, `?limit=N&cursor=C` optional: a {@link ThreadView}. */
  showThread: "/v1/threads/",
  /** POST a JSON {@link PostRequest}: a {@link PublishReport}. */
  post: "/v1/posts",
  /** POST a JSON {@link VoteRequest}: a {@link PublishReport}. */
  vote: "/v1/votes",
  /** POST a JSON {@link ProfileRequest}: a {@link PublishReport}. */
  setProfile: "/v1/profile",
  /** GET, followed by the author's public key in hex: a {@link ProfileView}, or 404. */
  showProfile: "/v1/profiles/",
  /** POST an encoded record, `?key=<hex>` required: a {@link PublishReport}. */
  publishRecord: "/v1/records",
  /** POST a JSON {@link SnapshotImportRequest}: an {@link ImportReport}. */
  importSnapshot: "/v1/snapshots/import",
} as const;

/** A value JSON can carry. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [field: string]: JsonValue };

/**
 * What `GET /v1/status` answers: the node's own report (`RhizomeNode.status`). Among its
 * counters: `guard` (datagrams the receive guard refused before any decryption, by reason, and
 * its penalty box: graylistings, bans, peers graylisted and banned now), `rejoins` (times the
 * node rejoined after its routing table emptied), and in `udp` the receive queue (`receivesShed`
 * by priority class, `receivesRefused`, `receiveQueued`) and the kernel's count of datagrams it
 * dropped unread for this socket (`kernelReceiveDrops`, `kernelReceiveQueueBytes`; `null` where
 * `/proc/net/udp` cannot be read).
 */
export type StatusReport = NodeStatus;

/** One entry of `GET /v1/peers`. The node may add fields of its own. */
export interface PeerReport {
  /** The peer's node ID in hex. */
  node_id: string;
  /** The peer's `host:port`. */
  address: string;
  /** Anything else the node knows (last seen, bucket, round-trip time, …). */
  [field: string]: JsonValue;
}

/** What `POST /v1/put` answers. */
export interface PutReport {
  /** The value's key in hex. */
  key: string;
  /** How many other nodes acknowledged the value durably. */
  stored: number;
  /** Durable copies acknowledged: `stored`, plus this node's own when it is one of the holders. */
  holders: number;
  /** Holders the put needed (`dht.write_quorum`, fewer in a network that small). */
  quorum: number;
}

/** What the node does for each route; the API only authenticates, checks and relays. */
export interface ControlHandlers {
  /** The node's state. */
  status(): Promise<StatusReport>;
  /** The routing table's contacts. */
  peers(): Promise<PeerReport[]>;
  /**
   * Stores a value in the network.
   *
   * @param value At most {@link controlBodyBytesMax} bytes.
   * @param ttlS Seconds to keep it (1 to {@link controlTtlSecondsMax}); the node's default when
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
   * @param key 40 lower-case hex digits.
   * @returns The value, or `undefined` when the network does not hold it.
   */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Stops the node. Called after the answer is on its way and not awaited by the request, so it
   * may close this API (whose shutdown waits for requests in flight).
   */
  stop(): Promise<void>;
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
   * @param request The order, a limit of 1 to {@link threadPageMax} and the cursor.
   * @returns One page, within the reader's time budget: what could not be read in time is named
   *   in its `missing`.
   */
  listThreads(request: ThreadListRequest): Promise<ThreadList>;
  /**
   * Reads a thread.
   *
   * @param request The ID (lower case), a limit of 1 to {@link messagePageMax} and the cursor.
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
   * @param author The author's public key, 64 lower-case hex digits.
   * @returns The profile.
   * @throws {RhizomeError} `NOT_FOUND` (404) when the author has none.
   */
  showProfile(author: string): Promise<ProfileView>;
  /**
   * Publishes a record signed elsewhere (any kind).
   *
   * @param key The record's key, 40 lower-case hex digits.
   * @param record The encoded record, at most {@link controlBodyBytesMax} bytes.
   * @returns What was published.
   * @throws {RhizomeError} `RECORD_INVALID` (422) when it does not verify under the key; as every
   *   write, `STORE_FULL` (507), `NOT_REPLICATED` or `NOT_STORED` (503).
   */
  publishRecord(key: string, record: Uint8Array): Promise<PublishReport>;
  /**
   * Imports a snapshot file into the node's store (`RhizomeNode.importSnapshot`). May take
   * minutes: the route's timeout is {@link controlImportTimeoutMs}.
   *
   * @param path The file, an absolute path of at most {@link snapshotPathLengthMax} characters.
   * @returns What happened to its records.
   * @throws {RhizomeError} `SNAPSHOT_INVALID` (422, nothing imported), `UNAVAILABLE` (503,
   *   another import is running), `STORE_FULL` (507); `STORE_UNUSABLE` and anything else 500.
   */
  importSnapshot(path: string): Promise<ImportReport>;
}

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

/** What {@link ControlApi.start} needs. */
export interface ControlApiOptions {
  /** A loopback host (`127.x.y.z`, `::1` or `localhost`) and a port (0 picks a free one). */
  listen: { host: string; port: number };
  /** The node's data directory; `api.json` and `api.token` go there. */
  dataDirPath: string;
  /** What the node does for each route. */
  handlers: ControlHandlers;
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
 * Checks a content key given in hex.
 *
 * @param text The key as typed or as found in a URL.
 * @returns The key in lower case.
 * @throws {InvalidInputError} When it is not {@link NODE_ID_BYTES} bytes of hex.
 */
export function parseKeyHex(text: string): string {
  const key = NodeId.fromHexText(text);
  if (key === undefined) {
    throw new InvalidInputError(
      `Cannot read the key: expected ${NODE_ID_BYTES * 2} hex digits, got "${clip(text)}"`,
    );
  }
  return key.toHex();
}

/**
 * Checks a TTL given in seconds.
 *
 * @param text Decimal digits.
 * @returns The TTL.
 * @throws {InvalidInputError} When it is not a whole number from 1 to
 *   {@link controlTtlSecondsMax}.
 */
export function parseTtlSeconds(text: string): number {
  const ttlS = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(ttlS >= 1 && ttlS <= controlTtlSecondsMax)) {
    throw new InvalidInputError(
      `Cannot read the TTL: expected whole seconds from 1 to ${controlTtlSecondsMax}, ` +
        `got "${clip(text)}"`,
    );
  }
  return ttlS;
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

/** A route's name, as in {@link CONTROL_ROUTES}. */
type RouteName = keyof typeof CONTROL_ROUTES;

const routeNames = Object.keys(CONTROL_ROUTES) as RouteName[];

const routeMethods: Record<RouteName, "GET" | "POST"> = {
  status: "GET",
  peers: "GET",
  put: "POST",
  get: "GET",
  stop: "POST",
  newThread: "POST",
  listThreads: "GET",
  showThread: "GET",
  post: "POST",
  vote: "POST",
  setProfile: "POST",
  showProfile: "GET",
  publishRecord: "POST",
  importSnapshot: "POST",
};

/** What each route does, for "Cannot <action>: …" messages. */
const routeActions: Record<RouteName, string> = {
  status: "report the node's status",
  peers: "list the node's peers",
  put: "put the value",
  get: "get the value",
  stop: "stop the node",
  newThread: "start the thread",
  listThreads: "list threads",
  showThread: "show the thread",
  post: "post the message",
  vote: "cast the vote",
  setProfile: "set the profile",
  showProfile: "show the profile",
  publishRecord: "publish the record",
  importSnapshot: "import the snapshot",
};

/** The query parameters each route accepts; any other is refused. */
const routeQueries: Record<RouteName, readonly string[]> = {
  status: [],
  peers: [],
  put: ["ttl"],
  get: [],
  stop: [],
  newThread: [],
  listThreads: ["order", "limit", "cursor"],
  showThread: ["limit", "cursor"],
  post: [],
  vote: [],
  setProfile: [],
  showProfile: [],
  publishRecord: ["key"],
  importSnapshot: [],
};

/**
 * Routes with a timeout of their own (the limit's name); the others have
 * {@link ControlApiLimits.requestTimeoutMs}.
 */
const routeTimeouts: Partial<Record<RouteName, "importTimeoutMs">> = {
  importSnapshot: "importTimeoutMs",
};

/** What follows a parameter route's prefix, for the route list in messages. */
const routeParameters: Partial<Record<RouteName, string>> = {
  get: "KEY",
  showThread: "ID",
  showProfile: "AUTHOR",
};

const routeList = routeNames
  .map((name) => `${routeMethods[name]} ${CONTROL_ROUTES[name]}${routeParameters[name] ?? ""}`)
  .join(", ");

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
  readonly #state: RequestState;
  readonly #addressPath: string;
  readonly #tokenPath: string;
  readonly #addressText: string;
  #closing?: Promise<void>;

  private constructor(
    server: HttpServer,
    state: RequestState,
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
  static async start(options: ControlApiOptions): Promise<ControlApi> {
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

/** Everything a request needs: the token, the handlers, the limits and the in-flight count. */
class RequestState {
  readonly token: string;
  readonly log?: Log;
  readonly #tokenDigest: Uint8Array;
  readonly #handlers: ControlHandlers;
  readonly #limits: ControlApiLimits;
  #inFlight = 0;
  #stopping?: Promise<void>;

  constructor(token: string, options: ControlApiOptions) {
    this.token = token;
    this.#tokenDigest = sha256(token);
    this.#handlers = options.handlers;
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
    if (!this.#authorized(request)) {
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
    const name = routesAt(path).find((candidate) => routeMethods[candidate] === request.method);
    const limit = name === undefined ? undefined : routeTimeouts[name];
    return this.#limits[limit ?? "requestTimeoutMs"];
  }

  /** Compares digests, so the comparison takes the same time whatever the length presented. */
  #authorized(request: Request): boolean {
    const header = request.headers.get("authorization") ?? "";
    const presented = /^Bearer +(\S+)$/i.exec(header.trim())?.[1];
    if (presented === undefined) return false;
    return timingSafeEqual(sha256(presented), this.#tokenDigest);
  }

  /** Finds the route and runs it. Never rejects: failures become error answers. */
  async #route(request: Request, signal: AbortSignal): Promise<Response> {
    const url = new URL(request.url);
    const candidates = routesAt(url.pathname);
    if (candidates.length === 0) {
      return errorResponse(
        404,
        "USAGE",
        `Cannot find ${clip(url.pathname)}: the control API has ${routeList}`,
      );
    }
    const name = candidates.find((candidate) => routeMethods[candidate] === request.method);
    if (name === undefined) {
      const methods = candidates.map((candidate) => routeMethods[candidate]);
      return errorResponse(
        405,
        "USAGE",
        `Cannot ${request.method.slice(0, 10)} ${CONTROL_ROUTES[candidates[0]]}: ` +
          `use ${methods.join(" or ")}`,
        { allow: methods.join(", ") },
      );
    }
    try {
      checkQuery(url, routeQueries[name]);
      return await this.#run(name, request, url, signal);
    } catch (error) {
      // After a timeout the caller has its 504 already; what the abort made fail is no fault.
      if (signal.aborted && !(error instanceof RhizomeError)) {
        this.log?.debug("control API {route} ended after its timeout: {error}", {
          route: name,
          error,
        });
        return errorResponse(504, "UNAVAILABLE", `Cannot ${routeActions[name]}: timed out`);
      }
      return this.#failure(name, error);
    }
  }

  async #run(
    name: RouteName,
    request: Request,
    url: URL,
    signal: AbortSignal,
  ): Promise<Response> {
    switch (name) {
      case "status":
        return jsonResponse(200, await this.#handlers.status());
      case "peers":
        return jsonResponse(200, { peers: await this.#handlers.peers() });
      case "put": {
        const ttlText = url.searchParams.get("ttl");
        const ttlS = ttlText === null ? undefined : parseTtlSeconds(ttlText);
        const value = await readBody(name, request, signal);
        return jsonResponse(200, await this.#handlers.put(value, ttlS));
      }
      case "get": {
        const key = parseKeyHex(pathParameter(name, url));
        const value = await this.#handlers.get(key);
        if (value === undefined) {
          return errorResponse(404, "UNAVAILABLE", `Cannot get ${key}: no value found`);
        }
        return new Response(value as Uint8Array<ArrayBuffer>, {
          headers: { "content-type": "application/octet-stream" },
        });
      }
      case "stop":
        // Not awaited: stopping closes this API, and closing waits for this very request.
        this.#stopping ??= Promise.resolve()
          .then(() => this.#handlers.stop())
          .catch((error) => this.log?.error("stopping the node failed: {error}", { error }));
        return jsonResponse(202, { stopping: true });
      case "newThread": {
        const thread = parseNewThreadRequest(await readJson(name, request, signal));
        return jsonResponse(200, await this.#handlers.newThread(thread));
      }
      case "listThreads":
        return jsonResponse(
          200,
          await this.#handlers.listThreads(parseThreadListQuery(url.searchParams)),
        );
      case "showThread": {
        const show = parseThreadShowQuery(pathParameter(name, url), url.searchParams);
        return jsonResponse(200, await this.#handlers.showThread(show));
      }
      case "post": {
        const post = parsePostRequest(await readJson(name, request, signal));
        return jsonResponse(200, await this.#handlers.post(post));
      }
      case "vote": {
        const vote = parseVoteRequest(await readJson(name, request, signal));
        return jsonResponse(200, await this.#handlers.vote(vote));
      }
      case "setProfile": {
        const profile = parseProfileRequest(await readJson(name, request, signal));
        return jsonResponse(200, await this.#handlers.setProfile(profile));
      }
      case "showProfile": {
        const author = parseAuthorKeyHex(pathParameter(name, url));
        return jsonResponse(200, await this.#handlers.showProfile(author));
      }
      case "publishRecord": {
        const keyText = url.searchParams.get("key");
        if (keyText === null) {
          throw new InvalidInputError(
            'Cannot read the request: parameter "key" is missing (the record\'s key, ' +
              `${NODE_ID_BYTES * 2} hex digits)`,
          );
        }
        const key = parseIdHex(keyText, "record key");
        const record = await readBody(name, request, signal);
        return jsonResponse(200, await this.#handlers.publishRecord(key, record));
      }
      case "importSnapshot": {
        const body: SnapshotImportRequest = parseSnapshotImportRequest(
          await readJson(name, request, signal),
        );
        return jsonResponse(200, await this.#handlers.importSnapshot(body.path));
      }
    }
  }

  #failure(name: RouteName, error: unknown): Response {
    if (error instanceof BodyTooLargeError) {
      return errorResponse(413, error.code, error.message);
    }
    if (error instanceof RhizomeError) {
      return errorResponse(httpStatusOf(error.code), error.code, error.message);
    }
    this.log?.error("control API {route} failed: {error}", { route: name, error });
    const reason = error instanceof Error ? error.message : String(error);
    return errorResponse(
      500,
      "UNAVAILABLE",
      `Cannot ${routeActions[name]}: internal error in the node (${reason})`,
    );
  }
}

/**
 * The routes at a path, in {@link CONTROL_ROUTES} order. A path ending in `/` there takes
 * exactly one more segment (`/v1/threads/<id>`, not `/v1/threads/<id>/x`); any other matches
 * only itself, so `/v1/threads` and `/v1/threads/<id>` never meet.
 */
function routesAt(path: string): RouteName[] {
  return routeNames.filter((name) => {
    const route = CONTROL_ROUTES[name];
    if (!route.endsWith("/")) return path === route;
    return path.startsWith(route) && !path.slice(route.length).includes("/");
  });
}

/** The path segment after a parameter route's prefix. */
function pathParameter(name: RouteName, url: URL): string {
  return url.pathname.slice(CONTROL_ROUTES[name].length);
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
  name: RouteName,
  request: Request,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  const body = declared > controlBodyBytesMax
    ? undefined
    : await readBytesLimited(request.body, controlBodyBytesMax, signal);
  if (body === undefined) {
    throw new BodyTooLargeError(
      `Cannot ${routeActions[name]}: it is larger than ${controlBodyBytesMax} bytes`,
    );
  }
  return body;
}

/** The body parsed as JSON; it must say it is JSON and be UTF-8. Its shape is checked after. */
async function readJson(name: RouteName, request: Request, signal: AbortSignal): Promise<unknown> {
  const type = request.headers.get("content-type");
  if (type === null || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new InvalidInputError(
      "Cannot read the request: the body must be JSON (Content-Type: application/json), got " +
        (type === null ? "no Content-Type" : `"${clip(type)}"`),
    );
  }
  const bytes = await readBody(name, request, signal);
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

/** Caller-supplied text shown in a message, cut short so a message stays one short line. */
function clip(text: string): string {
  const oneLine = text.replace(/\p{Cc}/gu, "?");
  return oneLine.length > 64 ? `${oneLine.slice(0, 64)}…` : oneLine;
}
