/**
 * The bookkeeping the store keeps beside each record: kind, class, times, size and integrity
 * hash. Kept in its own LMDB database so eviction and statistics scan small entries, never the
 * records themselves.
 *
 * Layout (MessagePack array): `[1, kind, class index, storedAtMs, expiresAtMs, activityMs,
 * bytes, sha256 (32 bytes), published]`.
 *
 * @module
 */

import { Packr } from "msgpackr";
import { RECORD_CLASSES, type RecordClass } from "../core/config_schema.ts";

/** What the store knows about a record besides its bytes. */
export interface RecordMeta {
  /** Kind index (see `RecordRules.kindNames`). */
  readonly kind: number;
  /** The class that decides its lifetime and eviction order. */
  readonly class: RecordClass;
  /** When it was first stored here, in ms since the epoch. */
  readonly storedAtMs: number;
  /** When it expires, in ms since the epoch. */
  readonly expiresAtMs: number;
  /** When it was last stored or read. */
  readonly activityMs: number;
  /** Length of the record's bytes. */
  readonly bytes: number;
  /** SHA-256 of the record's bytes, checked on every read. */
  readonly hash: Uint8Array;
  /** Whether this node published it (and republishes it). */
  readonly published: boolean;
}

const META_VERSION = 1;
const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * The bytes of a record's metadata.
 *
 * @param meta The metadata.
 * @returns Its encoding.
 */
export function encodeMeta(meta: RecordMeta): Uint8Array {
  return packr.pack([
    META_VERSION,
    meta.kind,
    RECORD_CLASSES.indexOf(meta.class),
    meta.storedAtMs,
    meta.expiresAtMs,
    meta.activityMs,
    meta.bytes,
    meta.hash,
    meta.published,
  ]);
}

/**
 * Decodes metadata written by {@link encodeMeta}.
 *
 * @param bytes The encoding.
 * @returns The metadata, or `undefined` when the bytes are not valid metadata (damaged).
 */
export function decodeMeta(bytes: Uint8Array): RecordMeta | undefined {
  let fields: unknown;
  try {
    fields = packr.unpack(bytes);
  } catch {
    return undefined;
  }
  if (!Array.isArray(fields) || fields.length !== 9 || fields[0] !== META_VERSION) return undefined;
  const [, kind, classIndex, storedAtMs, expiresAtMs, activityMs, length, hash, published] = fields;
  const recordClass = RECORD_CLASSES[classIndex];
  const numbers = [kind, storedAtMs, expiresAtMs, activityMs, length];
  if (
    recordClass === undefined || !numbers.every(Number.isSafeInteger) ||
    !(hash instanceof Uint8Array) || hash.length !== 32 || typeof published !== "boolean"
  ) {
    return undefined;
  }
  return {
    kind,
    class: recordClass,
    storedAtMs,
    expiresAtMs,
    activityMs,
    bytes: length,
    hash: new Uint8Array(hash),
    published,
  };
}
