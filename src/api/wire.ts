/**
 * The control API's wire forms and their one mapping to the typed requests: JSON bodies with
 * only known fields of the right types, IDs and keys in hex, page sizes and cursors in range,
 * file paths absolute, each parsed into a domain value ({@link NodeId}s, camelCase) and
 * formatted back. The server parses with it and the client formats with it, so the two cannot
 * drift. The checks run before any handler, so a malformed request changes nothing and reaches
 * nothing; the content rules (sizes, UTF-8 lines, times, signatures) are the discussion
 * service's, and a snapshot's soundness is the import's. The CLI parses what people type with
 * the same functions.
 *
 * @module
 */

import { isAbsolute } from "node:path";
import { fromHex, toHex } from "../core/bytes.ts";
import { ED25519_PUBLIC_KEY_BYTES } from "../core/crypto.ts";
import { InvalidInputError } from "../core/errors.ts";
import { NODE_ID_BYTES, NodeId } from "../core/node_id.ts";
import type {
  NewThreadRequest,
  PostRequest,
  ProfileRequest,
  ThreadListRequest,
  ThreadOrder,
  ThreadShowRequest,
  VoteDirection,
  VoteRequest,
} from "../services/discussion/requests.ts";
import type { NodeStatus } from "../node/node.ts";
import {
  messagePageDefault,
  messagePageMax,
  threadPageDefault,
  threadPageMax,
} from "../services/discussion/mod.ts";
import { AUTHOR_NAME_PATTERN } from "../node/data_dir/author_keys.ts";

/**
 * Longest cursor: the service's cursors are a few dozen base64url characters; 256 leaves room
 * while keeping a pasted paragraph out of the service. Longer, or not base64url: 400.
 */
export const cursorLengthMax = 256;

/**
 * Longest snapshot path `POST /v1/snapshots/import` accepts, in characters: Linux's `PATH_MAX`
 * (4,096 bytes), beyond which no system call would take it anyway. Longer: 400.
 */
export const snapshotPathLengthMax = 4096;

/**
 * Largest `ttl` a put accepts: ten years, the largest TTL any configuration allows. The node
 * still caps it by its record classes (`store.<class>.ttl_s`). Larger: 400.
 */
export const controlTtlSecondsMax = 10 * 365 * 86_400;

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

/** The body of `POST /v1/snapshots/import`. */
export interface SnapshotImportRequest {
  /**
   * The snapshot file, as an absolute path on the node's machine: the node reads it itself, so
   * a path relative to the caller's working directory would name another file.
   */
  path: string;
}

/** The orders `thread list` reads. */
export const THREAD_ORDERS: readonly ThreadOrder[] = ["recent", "popular"];

/** A JSON object as parsed, before its fields are checked. */
type JsonObject = Record<string, unknown>;

/**
 * Parses an ID (thread, message, record key) typed by a person or found in a URL path.
 *
 * @param text The ID, in hex of any case.
 * @param what What it is, for the message ("thread ID").
 * @returns The ID.
 * @throws {InvalidInputError} When it is not {@link NODE_ID_BYTES} bytes of hex.
 */
export function parseIdHex(text: string, what: string): NodeId {
  const id = NodeId.fromHexText(text);
  if (id === undefined) {
    throw new InvalidInputError(
      `Cannot read the ${what}: expected ${NODE_ID_BYTES * 2} hex digits, got "${clip(text)}"`,
    );
  }
  return id;
}

/**
 * The fewest hex digits a prefix given for an ID may have: fewer match too many IDs to be a
 * useful name. The CLI prints 10.
 */
export const idPrefixDigitsMin = 4;

/**
 * Parses the start of a thread or message ID or an author's key, as listings print them
 * (`3f2a9c1b7d`).
 *
 * @param text Hex digits of any case, {@link idPrefixDigitsMin} to 64 (an author's key).
 * @returns The prefix in lower case.
 * @throws {InvalidInputError} When it is not that.
 */
export function parseIdPrefix(text: string): string {
  // An author's key is the longest ID a prefix may name.
  const digitsMax = 64;
  if (!/^[0-9a-fA-F]+$/.test(text) || text.length < idPrefixDigitsMin || text.length > digitsMax) {
    throw new InvalidInputError(
      `Cannot read the ID prefix: expected ${idPrefixDigitsMin} to ${digitsMax} hex digits, ` +
        `got "${clip(text)}"`,
    );
  }
  return text.toLowerCase();
}

/**
 * Parses a content key given in hex (`get`, `GET /v1/get/<key>`).
 *
 * @param text The key as typed or as found in a URL.
 * @returns The key.
 * @throws {InvalidInputError} When it is not {@link NODE_ID_BYTES} bytes of hex.
 */
export function parseKeyHex(text: string): NodeId {
  return parseIdHex(text, "key");
}

/**
 * Parses an author's public key typed by a person or found in a URL path.
 *
 * @param text The key, in hex of any case.
 * @returns The key's bytes.
 * @throws {InvalidInputError} When it is not {@link ED25519_PUBLIC_KEY_BYTES} bytes of hex.
 */
export function parseAuthorKeyHex(text: string): Uint8Array {
  return fromHex(checkHex(text, ED25519_PUBLIC_KEY_BYTES, "author key"));
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
 * Checks a page size.
 *
 * @param text Decimal digits.
 * @param limitMax The largest size allowed.
 * @returns The size.
 * @throws {InvalidInputError} When it is not a whole number from 1 to `limitMax`.
 */
export function parsePageLimit(text: string, limitMax: number): number {
  const limit = /^[0-9]{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(limit >= 1 && limit <= limitMax)) {
    throw new InvalidInputError(
      `Cannot read the limit: expected a whole number from 1 to ${limitMax}, got "${clip(text)}"`,
    );
  }
  return limit;
}

/**
 * Checks a cursor (a page's `next_cursor`, passed back).
 *
 * @param text The cursor.
 * @returns The cursor.
 * @throws {InvalidInputError} When it is empty, longer than {@link cursorLengthMax} or not
 *   base64url.
 */
export function parseCursor(text: string): string {
  if (!new RegExp(`^[A-Za-z0-9_-]{1,${cursorLengthMax}}$`).test(text)) {
    throw new InvalidInputError(
      `Cannot read the cursor: expected 1 to ${cursorLengthMax} base64url characters ` +
        `(a page's next_cursor), got "${clip(text)}"`,
    );
  }
  return text;
}

/**
 * Parses the query of `GET /v1/threads`: `order` (default `recent`), `limit` (default
 * {@link threadPageDefault}), `cursor`, and for the popular order `source` (`global`, the
 * default, or `local`) and `explain` (`true` or `false`).
 *
 * @param params The query parameters (unknown ones are refused by the caller).
 * @returns The request.
 * @throws {InvalidInputError} When a parameter is malformed.
 */
export function parseThreadListQuery(params: URLSearchParams): ThreadListRequest {
  const order = params.get("order") ?? "recent";
  if (!(THREAD_ORDERS as readonly string[]).includes(order)) {
    throw new InvalidInputError(
      `Cannot read the order: expected ${THREAD_ORDERS.join(" or ")}, got "${clip(order)}"`,
    );
  }
  const limit = params.get("limit");
  const cursor = params.get("cursor");
  const source = params.get("source");
  const explain = params.get("explain");
  if (source !== null && source !== "global" && source !== "local") {
    throw new InvalidInputError(
      `Cannot read the ranking source: expected global or local, got "${clip(source)}"`,
    );
  }
  if (explain !== null && explain !== "true" && explain !== "false") {
    throw new InvalidInputError(
      `Cannot read explain: expected true or false, got "${clip(explain)}"`,
    );
  }
  if (order !== "popular" && (source !== null || explain !== null)) {
    throw new InvalidInputError(
      "Cannot list threads: source and explain are for the popular order",
    );
  }
  return {
    order: order as ThreadOrder,
    limit: limit === null ? threadPageDefault : parsePageLimit(limit, threadPageMax),
    ...(cursor === null ? {} : { cursor: parseCursor(cursor) }),
    ...(source === null ? {} : { source }),
    ...(explain === "true" ? { explain: true } : {}),
  };
}

/**
 * The query of `GET /v1/threads` for a request ({@link parseThreadListQuery} reads it back).
 *
 * @param request The listing asked for.
 * @returns `order`, `limit` and, when set, `cursor`.
 */
export function formatThreadListQuery(request: ThreadListRequest): URLSearchParams {
  const query = new URLSearchParams({ order: request.order, limit: String(request.limit) });
  if (request.cursor !== undefined) query.set("cursor", request.cursor);
  if (request.source !== undefined) query.set("source", request.source);
  if (request.explain === true) query.set("explain", "true");
  return query;
}

/**
 * Parses `GET /v1/threads/<id>`: the ID, `limit` (default {@link messagePageDefault}) and
 * `cursor`.
 *
 * @param thread The ID from the path (any case).
 * @param params The query parameters (unknown ones are refused by the caller).
 * @returns The request.
 * @throws {InvalidInputError} When the ID or a parameter is malformed.
 */
export function parseThreadShowQuery(thread: string, params: URLSearchParams): ThreadShowRequest {
  const limit = params.get("limit");
  const cursor = params.get("cursor");
  return {
    thread: parseIdHex(thread, "thread ID"),
    limit: limit === null ? messagePageDefault : parsePageLimit(limit, messagePageMax),
    ...(cursor === null ? {} : { cursor: parseCursor(cursor) }),
  };
}

/**
 * The query of `GET /v1/threads/<id>` for a request (the ID goes in the path).
 *
 * @param request The page asked for.
 * @returns `limit` and, when set, `cursor`.
 */
export function formatThreadShowQuery(request: ThreadShowRequest): URLSearchParams {
  const query = new URLSearchParams({ limit: String(request.limit) });
  if (request.cursor !== undefined) query.set("cursor", request.cursor);
  return query;
}

/**
 * Parses the body of `POST /v1/threads`.
 *
 * @param value The parsed JSON.
 * @returns The request.
 * @throws {InvalidInputError} On an unknown, missing or mistyped field.
 */
export function parseNewThreadRequest(value: unknown): NewThreadRequest {
  const fields = objectWith(value, ["title", "body", "tags", "author"]);
  return {
    title: required(fields, "title", stringValue),
    body: required(fields, "body", stringValue),
    ...optional(fields, "tags", stringArray),
    ...optional(fields, "author", authorName),
  };
}

/**
 * The body of `POST /v1/threads` for a request.
 *
 * @param request The thread.
 * @returns The JSON.
 */
export function formatNewThreadRequest(request: NewThreadRequest): JsonValue {
  return {
    title: request.title,
    body: request.body,
    ...(request.tags === undefined ? {} : { tags: request.tags }),
    ...authorField(request.author),
  };
}

/**
 * Parses the body of `POST /v1/posts`.
 *
 * @param value The parsed JSON.
 * @returns The request.
 * @throws {InvalidInputError} On an unknown, missing or mistyped field.
 */
export function parsePostRequest(value: unknown): PostRequest {
  const fields = objectWith(value, ["thread", "reply_to", "body", "author"]);
  const replyTo = optional(fields, "reply_to", idValue).reply_to;
  return {
    thread: required(fields, "thread", idValue),
    ...(replyTo === undefined ? {} : { replyTo }),
    body: required(fields, "body", stringValue),
    ...optional(fields, "author", authorName),
  };
}

/**
 * The body of `POST /v1/posts` for a request.
 *
 * @param request The message.
 * @returns The JSON.
 */
export function formatPostRequest(request: PostRequest): JsonValue {
  return {
    thread: request.thread.toHex(),
    ...(request.replyTo === undefined ? {} : { reply_to: request.replyTo.toHex() }),
    body: request.body,
    ...authorField(request.author),
  };
}

/**
 * Parses the body of `POST /v1/votes`.
 *
 * @param value The parsed JSON.
 * @returns The request.
 * @throws {InvalidInputError} On an unknown, missing or mistyped field.
 */
export function parseVoteRequest(value: unknown): VoteRequest {
  const fields = objectWith(value, ["target", "direction", "author"]);
  return {
    target: required(fields, "target", idValue),
    direction: required(fields, "direction", directionValue),
    ...optional(fields, "author", authorName),
  };
}

/**
 * The body of `POST /v1/votes` for a request.
 *
 * @param request The vote.
 * @returns The JSON.
 */
export function formatVoteRequest(request: VoteRequest): JsonValue {
  return {
    target: request.target.toHex(),
    direction: request.direction,
    ...authorField(request.author),
  };
}

/**
 * Parses the body of `POST /v1/profile`.
 *
 * @param value The parsed JSON.
 * @returns The request.
 * @throws {InvalidInputError} On an unknown or mistyped field.
 */
export function parseProfileRequest(value: unknown): ProfileRequest {
  const fields = objectWith(value, ["name", "about", "keys", "author"]);
  return {
    ...optional(fields, "name", stringValue),
    ...optional(fields, "about", stringValue),
    ...optional(fields, "keys", (field, item) =>
      stringArray(field, item).map((key, i) => {
        if (!lowerHex(ED25519_PUBLIC_KEY_BYTES).test(key)) {
          throw new InvalidInputError(
            `Cannot read the request: field "keys" item ${i} must be ` +
              `${ED25519_PUBLIC_KEY_BYTES * 2} lower-case hex digits, got "${clip(key)}"`,
          );
        }
        return fromHex(key);
      })),
    ...optional(fields, "author", authorName),
  };
}

/**
 * The body of `POST /v1/profile` for a request.
 *
 * @param request The fields to change.
 * @returns The JSON.
 */
export function formatProfileRequest(request: ProfileRequest): JsonValue {
  return {
    ...(request.name === undefined ? {} : { name: request.name }),
    ...(request.about === undefined ? {} : { about: request.about }),
    ...(request.keys === undefined ? {} : { keys: request.keys.map(toHex) }),
    ...authorField(request.author),
  };
}

/**
 * Parses the body of `POST /v1/snapshots/import`: only `path`, a non-empty absolute path of at
 * most {@link snapshotPathLengthMax} characters, without NUL (which no path can hold).
 *
 * @param value The parsed JSON.
 * @returns The request.
 * @throws {InvalidInputError} On an unknown, missing or mistyped field, or a path that is empty,
 *   relative or too long.
 */
export function parseSnapshotImportRequest(value: unknown): SnapshotImportRequest {
  const fields = objectWith(value, ["path"]);
  const path = required(fields, "path", stringValue);
  if (path === "" || path.length > snapshotPathLengthMax || path.includes("\0")) {
    throw new InvalidInputError(
      `Cannot read the request: field "path" must be a file path of 1 to ` +
        `${snapshotPathLengthMax} characters without NUL, got ${path.length} characters`,
    );
  }
  if (!isAbsolute(path)) {
    throw new InvalidInputError(
      `Cannot read the request: field "path" must be an absolute path (the node reads the ` +
        `file itself, from its own working directory), got "${clip(path)}"`,
    );
  }
  return { path };
}

/**
 * The body of `POST /v1/snapshots/import` for a request, checked as the node will check it.
 *
 * @param request The snapshot's path.
 * @returns The JSON.
 * @throws {InvalidInputError} When the node would refuse the path (empty, relative, too long).
 */
export function formatSnapshotImportRequest(request: SnapshotImportRequest): JsonValue {
  return { ...parseSnapshotImportRequest({ path: request.path }) };
}

/** The text, when it is `bytes` bytes of hex (any case). */
function checkHex(text: string, bytes: number, what: string): string {
  if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(text)) {
    throw new InvalidInputError(
      `Cannot read the ${what}: expected ${bytes * 2} hex digits, got "${clip(text)}"`,
    );
  }
  return text;
}

function lowerHex(bytes: number): RegExp {
  return new RegExp(`^[0-9a-f]{${bytes * 2}}$`);
}

/** The value as an object holding only `known` fields. */
function objectWith(value: unknown, known: readonly string[]): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidInputError("Cannot read the request: the body must be a JSON object");
  }
  const unknown = Object.keys(value).find((field) => !known.includes(field));
  if (unknown !== undefined) {
    throw new InvalidInputError(
      `Cannot read the request: unknown field "${clip(unknown)}" (expected ${known.join(", ")})`,
    );
  }
  return value as JsonObject;
}

/** `{ [field]: checked value }` when the field is present, `{}` when it is absent. */
function optional<T, F extends string>(
  fields: JsonObject,
  field: F,
  check: (field: string, value: unknown) => T,
): { [K in F]?: T } {
  if (!Object.hasOwn(fields, field)) return {};
  return { [field]: check(field, fields[field]) } as { [K in F]?: T };
}

/** The checked value of a field that must be present. */
function required<T>(
  fields: JsonObject,
  field: string,
  check: (field: string, value: unknown) => T,
): T {
  if (!Object.hasOwn(fields, field)) {
    throw new InvalidInputError(`Cannot read the request: field "${field}" is missing`);
  }
  return check(field, fields[field]);
}

function stringValue(field: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new InvalidInputError(`Cannot read the request: field "${field}" must be a string`);
  }
  return value;
}

function stringArray(field: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new InvalidInputError(
      `Cannot read the request: field "${field}" must be an array of strings`,
    );
  }
  return value;
}

/** An ID in a body: lower-case hex only, as the API's own answers write it. */
function idValue(field: string, value: unknown): NodeId {
  const text = stringValue(field, value);
  const id = NodeId.fromHexText(text);
  if (id === undefined || id.toHex() !== text) {
    throw new InvalidInputError(
      `Cannot read the request: field "${field}" must be ${NODE_ID_BYTES * 2} lower-case hex ` +
        `digits, got "${clip(text)}"`,
    );
  }
  return id;
}

function authorField(author: string | undefined): { author?: string } {
  return author === undefined ? {} : { author };
}

function directionValue(field: string, value: unknown): VoteDirection {
  const text = stringValue(field, value);
  if (text !== "up" && text !== "down") {
    throw new InvalidInputError(
      `Cannot read the request: field "${field}" must be "up" or "down", got "${clip(text)}"`,
    );
  }
  return text;
}

function authorName(field: string, value: unknown): string {
  const text = stringValue(field, value);
  if (!AUTHOR_NAME_PATTERN.test(text)) {
    throw new InvalidInputError(
      `Cannot read the request: field "${field}" must be an author name (1 to 32 lower-case ` +
        `letters, digits, - or _), got "${clip(text)}"`,
    );
  }
  return text;
}

/** Caller-supplied text shown in a message, cut short so a message stays one short line. */
function clip(text: string): string {
  const oneLine = text.replace(/\p{Cc}/gu, "?");
  return oneLine.length > 64 ? `${oneLine.slice(0, 64)}…` : oneLine;
}
