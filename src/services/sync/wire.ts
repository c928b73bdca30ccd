/**
 * The sync's messages on the wire (`docs/protocol.md`, "Sync messages"): each request and each
 * response is one plaintext of the stream transport, so at most {@link SYNC_FRAME_BYTES_MAX}
 * bytes. Decoding is strict and never throws: anything malformed is a one-line reason.
 *
 * Request: `"RHS" ‖ version ‖ type ‖ session (8) ‖ idBytes ‖ filter ‖ body`.
 * Response: `"RHS" ‖ version ‖ type ‖ body`.
 *
 * @module
 */

import { compareBytes, utf8Decode, utf8Encode } from "../../core/bytes.ts";
import { NODE_ID_BYTES } from "../../core/node_id.ts";
import { recordBytesMax } from "../../core/limits.ts";
import { SYNC_CATEGORIES } from "./record_facts.ts";
import { ID_BYTES_MAX, ID_BYTES_MIN } from "./reconcile.ts";
import { ByteReader, ByteWriter, encodeVarint } from "./varint.ts";

/** "RHS": the first bytes of every sync message (the DHT's start "RHZ"). */
export const SYNC_PROTOCOL_ID: Uint8Array = new Uint8Array([0x52, 0x48, 0x53]);

/** The sync wire version this build speaks; another is answered with an error response. */
export const SYNC_VERSION = 1;

/**
 * Largest request or response: the stream transport's plaintext limit (a 64 KiB record and 1 KiB
 * around it), so one record of the largest size always fits one response. Over it: a request is
 * refused before sending, a response is never built larger.
 */
export const SYNC_FRAME_BYTES_MAX: number = recordBytesMax + 1024;

/** Bytes of a session ID: drawn at random by the client, names the server's cached item set. */
export const SESSION_ID_BYTES = 8;

/** Request and response types. */
export const SyncType = {
  /** A reconciliation message; answered by {@link SyncType.reconciled}. */
  reconcile: 1,
  /** Records by ID; answered by {@link SyncType.records}. */
  fetch: 2,
  /** The server's next reconciliation message and the records it pushes. */
  reconciled: 0x81,
  /** Records asked for. */
  records: 0x82,
  /** The request was refused: a reason follows. */
  error: 0xff,
} as const;

/** Which records a sync covers: all of them, or those matching every part given. */
export interface SyncFilter {
  /** Keys from `low` to `high`, both included. */
  readonly keys?: { readonly low: Uint8Array; readonly high: Uint8Array };
  /** Record times in `[fromS, toS)`. */
  readonly time?: { readonly fromS: number; readonly toS: number };
  /** A bit mask over {@link SYNC_CATEGORIES}. */
  readonly categories?: number;
}

/** A decoded request. */
export interface SyncRequest {
  /** {@link SyncType.reconcile} or {@link SyncType.fetch}. */
  readonly type: typeof SyncType.reconcile | typeof SyncType.fetch;
  /** The client's session. */
  readonly session: Uint8Array;
  /** Bytes of each ID in ID lists and fetches: 8..32. */
  readonly idBytes: number;
  /** What the session covers. */
  readonly filter: SyncFilter;
  /** Reconcile: the ranges' bytes. Fetch: the ID prefixes. */
  readonly body: Uint8Array;
}

/** A record with its key. */
export interface KeyedRecord {
  /** 20 bytes. */
  readonly key: Uint8Array;
  /** The record. */
  readonly bytes: Uint8Array;
}

/** A decoded response. */
export type SyncResponse =
  | {
    readonly type: typeof SyncType.reconciled;
    readonly message: Uint8Array;
    records: KeyedRecord[];
  }
  | { readonly type: typeof SyncType.records; readonly records: KeyedRecord[] }
  | { readonly type: typeof SyncType.error; readonly reason: string };

const FILTER_KEYS = 1;
const FILTER_TIME = 2;
const FILTER_CATEGORIES = 4;
const categoriesAll = (1 << SYNC_CATEGORIES.length) - 1;

/**
 * Bytes a record takes in a response: its key, its length as a varint, its bytes.
 *
 * @param bytes The record's length.
 * @returns The framed size.
 */
export function framedRecordBytes(bytes: number): number {
  return NODE_ID_BYTES + encodeVarint(bytes).length + bytes;
}

/**
 * Encodes a request.
 *
 * @param request The request.
 * @returns Its bytes.
 */
export function encodeRequest(request: SyncRequest): Uint8Array {
  const out = new ByteWriter();
  out.push(SYNC_PROTOCOL_ID);
  out.byte(SYNC_VERSION);
  out.byte(request.type);
  out.push(request.session);
  out.byte(request.idBytes);
  const { keys, time, categories } = request.filter;
  out.byte(
    (keys ? FILTER_KEYS : 0) | (time ? FILTER_TIME : 0) |
      (categories !== undefined ? FILTER_CATEGORIES : 0),
  );
  if (keys) {
    out.push(keys.low);
    out.push(keys.high);
  }
  if (time) {
    out.varint(time.fromS);
    out.varint(time.toS);
  }
  if (categories !== undefined) out.varint(categories);
  out.push(request.body);
  return out.finish();
}

/**
 * Decodes a request strictly.
 *
 * @param bytes A stream plaintext starting "RHS".
 * @returns The request, or a one-line reason.
 */
export function decodeRequest(bytes: Uint8Array): SyncRequest | string {
  if (bytes.length > SYNC_FRAME_BYTES_MAX) {
    return `the request is over ${SYNC_FRAME_BYTES_MAX} bytes`;
  }
  const reader = new ByteReader(bytes);
  const magic = reader.bytes(3);
  if (!magic || compareBytes(magic, SYNC_PROTOCOL_ID) !== 0) return "it is not a sync message";
  const version = reader.byte();
  if (version !== SYNC_VERSION) return `sync version ${version ?? "(none)"} is not ${SYNC_VERSION}`;
  const type = reader.byte();
  if (type !== SyncType.reconcile && type !== SyncType.fetch) {
    return `request type ${type ?? "(none)"} is unknown`;
  }
  const session = reader.bytes(SESSION_ID_BYTES);
  const idBytes = reader.byte();
  const flags = reader.byte();
  if (session === undefined || idBytes === undefined || flags === undefined) {
    return "the request header is truncated";
  }
  if (idBytes < ID_BYTES_MIN || idBytes > ID_BYTES_MAX) {
    return `the ID width ${idBytes} is outside ${ID_BYTES_MIN}..${ID_BYTES_MAX}`;
  }
  if ((flags & ~(FILTER_KEYS | FILTER_TIME | FILTER_CATEGORIES)) !== 0) {
    return `filter flags ${flags} name unknown parts`;
  }
  const filter: { -readonly [K in keyof SyncFilter]: SyncFilter[K] } = {};
  if (flags & FILTER_KEYS) {
    const low = reader.bytes(NODE_ID_BYTES);
    const high = reader.bytes(NODE_ID_BYTES);
    if (!low || !high) return "the key range is truncated";
    if (compareBytes(low, high) > 0) return "the key range's low key is above its high key";
    filter.keys = { low: low.slice(), high: high.slice() };
  }
  if (flags & FILTER_TIME) {
    const fromS = reader.varint();
    const toS = reader.varint();
    if (fromS === undefined || toS === undefined) return "the time window is malformed";
    if (fromS >= toS) return "the time window is empty";
    filter.time = { fromS, toS };
  }
  if (flags & FILTER_CATEGORIES) {
    const categories = reader.varint();
    if (categories === undefined || categories === 0 || (categories & ~categoriesAll) !== 0) {
      return "the category mask is empty or names unknown categories";
    }
    filter.categories = categories;
  }
  const body = reader.bytes(reader.remaining)!.slice();
  return { type, session: session.slice(), idBytes, filter, body };
}

/**
 * Encodes a response.
 *
 * @param response The response.
 * @returns Its bytes.
 */
export function encodeResponse(response: SyncResponse): Uint8Array {
  const out = new ByteWriter();
  out.push(SYNC_PROTOCOL_ID);
  out.byte(SYNC_VERSION);
  out.byte(response.type);
  if (response.type === SyncType.error) {
    const reason = utf8Encode(response.reason).subarray(0, 200);
    out.varint(reason.length);
    out.push(reason);
    return out.finish();
  }
  if (response.type === SyncType.reconciled) {
    out.varint(response.message.length);
    out.push(response.message);
  }
  out.varint(response.records.length);
  for (const record of response.records) {
    out.push(record.key);
    out.varint(record.bytes.length);
    out.push(record.bytes);
  }
  return out.finish();
}

/**
 * Decodes a response strictly.
 *
 * @param bytes The response.
 * @returns It, or a one-line reason.
 */
export function decodeResponse(bytes: Uint8Array): SyncResponse | string {
  if (bytes.length > SYNC_FRAME_BYTES_MAX) {
    return `the response is over ${SYNC_FRAME_BYTES_MAX} bytes`;
  }
  const reader = new ByteReader(bytes);
  const magic = reader.bytes(3);
  if (!magic || compareBytes(magic, SYNC_PROTOCOL_ID) !== 0) return "it is not a sync message";
  const version = reader.byte();
  if (version !== SYNC_VERSION) return `sync version ${version ?? "(none)"} is not ${SYNC_VERSION}`;
  const type = reader.byte();
  if (type === SyncType.error) {
    const length = reader.varint();
    const reason = length === undefined ? undefined : reader.bytes(length);
    if (reason === undefined || reader.remaining !== 0) return "the error response is malformed";
    return { type, reason: utf8Decode(reason) };
  }
  let message = new Uint8Array(0);
  if (type === SyncType.reconciled) {
    const length = reader.varint();
    const found = length === undefined ? undefined : reader.bytes(length);
    if (found === undefined) return "the reconciliation message is truncated";
    message = found.slice();
  } else if (type !== SyncType.records) {
    return `response type ${type ?? "(none)"} is unknown`;
  }
  const count = reader.varint();
  if (count === undefined) return "the record count is malformed";
  const records: KeyedRecord[] = [];
  for (let i = 0; i < count; i++) {
    const key = reader.bytes(NODE_ID_BYTES);
    const length = reader.varint();
    if (key === undefined || length === undefined || length > recordBytesMax) {
      return "a record is malformed";
    }
    const record = reader.bytes(length);
    if (record === undefined) return "a record is truncated";
    records.push({ key: key.slice(), bytes: record.slice() });
  }
  if (reader.remaining !== 0) return "bytes follow the last record";
  return type === SyncType.reconciled ? { type, message, records } : { type, records };
}

/**
 * Whether a request's bytes are a sync message (so a node routes them to the sync server).
 *
 * @param bytes A stream plaintext.
 * @returns `true` when it starts "RHS".
 */
export function isSyncMessage(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0x52 && bytes[1] === 0x48 && bytes[2] === 0x53;
}
