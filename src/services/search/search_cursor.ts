/**
 * Search cursors: where a page of results ended, as an opaque base64url string. A fixed binary
 * layout (version, snapshot number, as-of time, offset, query hash), so decoding a hostile one is
 * a length and range check; anything else is refused with `INVALID_INPUT`.
 *
 * Stable while documents arrive: the first page ranks the query once, as of its time, and keeps
 * that ranking (the snapshot) for the next pages; a cursor whose snapshot was dropped ranks again
 * with only the documents indexed by its as-of time and freshness counted from it, so new
 * documents never push results onto the next page twice.
 *
 * @module
 */

import { fromBase64Url, toBase64Url } from "../../core/bytes.ts";
import { InvalidInputError } from "../../core/errors.ts";

/** Where a page ended. */
export interface SearchCursor {
  /** The ranking kept for the query (0 when none). */
  snapshot: number;
  /** The time the ranking was made as of (ms since the epoch). */
  asOfMs: number;
  /** Results already shown. */
  offset: number;
  /** A hash of the query's canonical form: a cursor only continues its own query. */
  queryHash: number;
}

const version = 1;
const cursorBytes = 1 + 4 + 8 + 4 + 4;

/**
 * Encodes a cursor.
 *
 * @param cursor The place.
 * @returns The opaque text.
 */
export function encodeSearchCursor(cursor: SearchCursor): string {
  const bytes = new Uint8Array(cursorBytes);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, version);
  view.setUint32(1, cursor.snapshot);
  view.setFloat64(5, cursor.asOfMs);
  view.setUint32(13, cursor.offset);
  view.setUint32(17, cursor.queryHash);
  return toBase64Url(bytes);
}

/**
 * Decodes a cursor.
 *
 * @param text What the caller handed back.
 * @returns The place.
 * @throws {InvalidInputError} When it is not a search cursor.
 */
export function decodeSearchCursor(text: string): SearchCursor {
  const refuse = (): never => {
    throw new InvalidInputError(
      "Cannot search: the cursor is not one a search returned (start again without --cursor)",
    );
  };
  if (text.length > 64 || !/^[A-Za-z0-9_-]+$/.test(text)) return refuse();
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text);
  } catch {
    return refuse();
  }
  if (bytes.length !== cursorBytes || bytes[0] !== version) return refuse();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const asOfMs = view.getFloat64(5);
  if (!Number.isSafeInteger(asOfMs) || asOfMs < 0) return refuse();
  return {
    snapshot: view.getUint32(1),
    asOfMs,
    offset: view.getUint32(13),
    queryHash: view.getUint32(17),
  };
}

/**
 * A 32-bit hash of text (FNV-1a), to tie a cursor to its query. Not a security measure: a cursor
 * handed to another query is refused as a mistake, not an attack.
 *
 * @param text The text.
 * @returns The hash.
 */
export function queryHashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
