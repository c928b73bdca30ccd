/**
 * Paging cursors: where one page of a listing or of a thread ended, handed to the caller as an
 * opaque base64url string and handed back for the next page. A cursor is a fixed binary layout
 * (a tag byte, then fixed-width fields), so decoding a hostile one is a length and range check;
 * anything else is refused with `INVALID_INPUT`.
 *
 * Positions, not offsets, mark where a page ended: entries added to an index while a reader
 * pages through it land before or after the position, so no entry is shown twice.
 *
 * @module
 */

import { fromBase64Url, toBase64Url } from "../../core/bytes.ts";
import { InvalidInputError } from "../../core/errors.ts";
import { NODE_ID_BYTES, NodeId } from "../../core/node_id.ts";

/** A place in an ordered index: an entry's time, then its ID to break ties. */
export interface Position {
  /** The entry's creation time (ms since the epoch). */
  createdMs: number;
  /** The entry's record ID. */
  id: NodeId;
}

/** Where a `thread list --recent` page ended, while the pages still come from the recent set. */
export interface RecentSetCursor {
  /** Which index the next page reads first. */
  source: "recent";
  /** The last thread listed. */
  after: Position;
}

/** Where a `thread list --recent` page ended, once the pages come from the hourly shards. */
export interface HourShardCursor {
  /** Which index the next page reads first. */
  source: "hours";
  /** The last thread listed (or {@link listStart} when none was yet). */
  after: Position;
  /** The next hour shard to read (hours since the epoch); it may hold more threads. */
  hour: number;
}

/** Where a `thread list --popular` page ended. */
export interface PopularCursor {
  /** Which index. */
  source: "popular";
  /** Threads of the ranking already listed. */
  offset: number;
}

/** Any listing cursor. */
export type ListCursor = RecentSetCursor | HourShardCursor | PopularCursor;

/** Where a `thread show` page ended. */
export interface ThreadCursor {
  /** The thread index page to read next. */
  page: number;
  /** The last message shown on that page (or {@link threadStart}). */
  after: Position;
}

/** The position before every thread of a newest-first listing. */
export const listStart: Position = {
  createdMs: Number.MAX_SAFE_INTEGER,
  id: NodeId.fromBytes(new Uint8Array(NODE_ID_BYTES)),
};

/** The position before every message of an oldest-first thread page. */
export const threadStart: Position = {
  createdMs: 0,
  id: NodeId.fromBytes(new Uint8Array(NODE_ID_BYTES)),
};

const tagRecent = 1;
const tagHours = 2;
const tagPopular = 3;
const tagThread = 4;
/** Tag, time (8 bytes), ID. */
const positionCursorBytes = 1 + 8 + NODE_ID_BYTES;
const twoTo32 = 2 ** 32;

/**
 * Encodes a listing cursor.
 *
 * @param cursor The cursor.
 * @returns Base64url text.
 */
export function encodeListCursor(cursor: ListCursor): string {
  switch (cursor.source) {
    case "recent":
      return toBase64Url(positionBytes(tagRecent, cursor.after, 0));
    case "hours": {
      const bytes = positionBytes(tagHours, cursor.after, 4);
      new DataView(bytes.buffer).setUint32(positionCursorBytes, cursor.hour);
      return toBase64Url(bytes);
    }
    case "popular": {
      const bytes = new Uint8Array(5);
      bytes[0] = tagPopular;
      new DataView(bytes.buffer).setUint32(1, cursor.offset);
      return toBase64Url(bytes);
    }
  }
}

/**
 * Decodes a listing cursor.
 *
 * @param text What a previous page returned as `next_cursor`.
 * @returns The cursor.
 * @throws {InvalidInputError} When the text is not a cursor this build wrote.
 */
export function decodeListCursor(text: string): ListCursor {
  const malformed = () => new InvalidInputError("Cannot list threads: the cursor is malformed");
  const bytes = cursorBytes(text, malformed);
  const view = new DataView(bytes.buffer);
  if (bytes[0] === tagRecent && bytes.length === positionCursorBytes) {
    return { source: "recent", after: positionOf(bytes, malformed) };
  }
  if (bytes[0] === tagHours && bytes.length === positionCursorBytes + 4) {
    const hour = view.getUint32(positionCursorBytes);
    return { source: "hours", after: positionOf(bytes, malformed), hour };
  }
  if (bytes[0] === tagPopular && bytes.length === 5) {
    return { source: "popular", offset: view.getUint32(1) };
  }
  throw malformed();
}

/**
 * Encodes a thread page cursor.
 *
 * @param cursor The cursor.
 * @returns Base64url text.
 */
export function encodeThreadCursor(cursor: ThreadCursor): string {
  const bytes = positionBytes(tagThread, cursor.after, 2);
  new DataView(bytes.buffer).setUint16(positionCursorBytes, cursor.page);
  return toBase64Url(bytes);
}

/**
 * Decodes a thread page cursor.
 *
 * @param text What a previous page returned as `next_cursor`.
 * @returns The cursor.
 * @throws {InvalidInputError} When the text is not a cursor this build wrote.
 */
export function decodeThreadCursor(text: string): ThreadCursor {
  const malformed = () => new InvalidInputError("Cannot show thread: the cursor is malformed");
  const bytes = cursorBytes(text, malformed);
  if (bytes[0] !== tagThread || bytes.length !== positionCursorBytes + 2) throw malformed();
  const page = new DataView(bytes.buffer).getUint16(positionCursorBytes);
  return { page, after: positionOf(bytes, malformed) };
}

function cursorBytes(text: string, malformed: () => InvalidInputError): Uint8Array {
  try {
    return fromBase64Url(text);
  } catch {
    throw malformed();
  }
}

/** Tag, creation time as two 32-bit words (JavaScript integers reach 2^53), ID, `extra` bytes. */
function positionBytes(tag: number, position: Position, extra: number): Uint8Array {
  const bytes = new Uint8Array(positionCursorBytes + extra);
  const view = new DataView(bytes.buffer);
  bytes[0] = tag;
  view.setUint32(1, Math.floor(position.createdMs / twoTo32));
  view.setUint32(5, position.createdMs % twoTo32);
  position.id.writeTo(bytes, 9);
  return bytes;
}

function positionOf(bytes: Uint8Array, malformed: () => InvalidInputError): Position {
  const view = new DataView(bytes.buffer);
  const createdMs = view.getUint32(1) * twoTo32 + view.getUint32(5);
  if (!Number.isSafeInteger(createdMs)) throw malformed();
  return { createdMs, id: NodeId.fromBytesAt(bytes, 9) };
}
