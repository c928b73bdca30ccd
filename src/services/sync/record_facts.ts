/**
 * What the sync needs to know of a record beyond its bytes: its time (for the item order and for
 * a time window) and its category (for a partial sync of one kind of data). Read from a record
 * this node verified when it stored it, so nothing is verified again here: a record that does
 * not parse is "other" of its kind at time 0.
 *
 * Times, in seconds since the epoch: a thread or message document, its `createdMs`; a profile,
 * its `updatedMs`; an index set, when its newest entry was written (its latest expiry less its
 * kind's entry lifetime); anything else 0. Every holder of the same bytes computes the same time,
 * which the reconciliation needs (an item is the pair of time and ID).
 *
 * @module
 */

import { Unpackr } from "msgpackr";
import { bytesEqual, utf8Encode } from "../../core/bytes.ts";
import { DOC_MAGIC } from "../../content/documents.ts";
import { addressOfSet, entryLifetimeSOf, type IndexKind } from "../../content/key_schema.ts";
import { RecordKind } from "../../content/records.ts";

/**
 * The categories a partial sync can name, in their wire order: bit i of a filter's category mask
 * is `SYNC_CATEGORIES[i]`. Appending keeps old masks meaning the same; never reorder.
 */
export const SYNC_CATEGORIES = [
  "thread",
  "message",
  "immutable",
  "profile",
  "mutable",
  "set",
  "recent",
  "threadsByHour",
  "threadHours",
  "popular",
  "seeds",
  "threadIndex",
  "threadPopular",
  "threadStats",
  "refs",
  "votes",
  "authorThreads",
  "reputation",
] as const;

/** A category's name. */
export type SyncCategory = typeof SYNC_CATEGORIES[number];

const indexKinds: readonly IndexKind[] = SYNC_CATEGORIES.slice(6) as IndexKind[];
const profileName = utf8Encode("profile");
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: "number" });

/** A record's time and category. */
export interface RecordFacts {
  /** Seconds since the epoch, or 0. */
  readonly timeS: number;
  /** Index into {@link SYNC_CATEGORIES}. */
  readonly category: number;
}

/**
 * The time and category of a stored record.
 *
 * @param bytes A record that verified when it was stored.
 * @returns Its facts; "other" at time 0 when it does not parse.
 */
export function recordFacts(bytes: Uint8Array): RecordFacts {
  let fields: unknown;
  try {
    fields = unpackr.unpack(bytes);
  } catch {
    return { timeS: 0, category: SYNC_CATEGORIES.indexOf("immutable") };
  }
  if (!Array.isArray(fields)) return { timeS: 0, category: SYNC_CATEGORIES.indexOf("immutable") };
  switch (fields[1]) {
    case RecordKind.mutable:
      return mutableFacts(fields);
    case RecordKind.set:
      return setFacts(fields);
    default:
      return immutableFacts(fields);
  }
}

function immutableFacts(fields: unknown[]): RecordFacts {
  const other = { timeS: 0, category: SYNC_CATEGORIES.indexOf("immutable") };
  const payload = fields[2];
  if (!(payload instanceof Uint8Array) || payload.length < DOC_MAGIC.length) return other;
  if (!bytesEqual(payload.subarray(0, DOC_MAGIC.length), DOC_MAGIC)) return other;
  try {
    const doc = unpackr.unpack(payload.subarray(DOC_MAGIC.length));
    if (!Array.isArray(doc) || typeof doc[2] !== "number") return other;
    const timeS = seconds(doc[2]);
    if (doc[0] === 1) return { timeS, category: SYNC_CATEGORIES.indexOf("thread") };
    if (doc[0] === 2) return { timeS, category: SYNC_CATEGORIES.indexOf("message") };
  } catch {
    // not a document after all
  }
  return other;
}

function mutableFacts(fields: unknown[]): RecordFacts {
  const other = { timeS: 0, category: SYNC_CATEGORIES.indexOf("mutable") };
  const [, , , name, , payload] = fields;
  if (!(name instanceof Uint8Array) || !bytesEqual(name, profileName)) return other;
  if (!(payload instanceof Uint8Array)) return other;
  try {
    const profile = unpackr.unpack(payload);
    if (!Array.isArray(profile) || typeof profile[3] !== "number") return other;
    return { timeS: seconds(profile[3]), category: SYNC_CATEGORIES.indexOf("profile") };
  } catch {
    return other;
  }
}

function setFacts(fields: unknown[]): RecordFacts {
  const other = { timeS: 0, category: SYNC_CATEGORIES.indexOf("set") };
  const [, , name, onePerWriter, entriesMax, entries] = fields;
  if (!(name instanceof Uint8Array) || typeof onePerWriter !== "boolean") return other;
  if (typeof entriesMax !== "number" || !Array.isArray(entries)) return other;
  let kind: IndexKind;
  try {
    kind = addressOfSet({
      kind: RecordKind.set,
      name,
      policy: { onePerWriter, entriesMax },
      entries: [],
    }).kind;
  } catch {
    return other;
  }
  let latestExpiryS = 0;
  for (const entry of entries) {
    if (Array.isArray(entry) && typeof entry[2] === "number" && entry[2] > latestExpiryS) {
      latestExpiryS = entry[2];
    }
  }
  const timeS = Math.max(0, latestExpiryS - entryLifetimeSOf(kind));
  return { timeS: Number.isSafeInteger(timeS) ? timeS : 0, category: 6 + indexKinds.indexOf(kind) };
}

function seconds(ms: number): number {
  const timeS = Math.floor(ms / 1000);
  return Number.isSafeInteger(timeS) && timeS >= 0 ? timeS : 0;
}
