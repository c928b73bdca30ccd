/**
 * The key schema: which keys discussions live under (ROADMAP §4.1), and what the entries of each
 * index set hold. Documents (threads, messages) are immutable records, profiles and the seeds'
 * rankings (`ranking_records.ts`) mutable ones
 * (src/content/documents.ts); everything that lists or counts them is a set, one kind per index:
 *
 * - global: `recent`, `threadsByHour`, `threadHours`, `popular`, `seeds`;
 * - per thread: `threadIndex` (pages of its messages), `threadPopular`, `threadStats`;
 * - per message (or thread): `refs` (its replies), `votes`;
 * - per author: `authorThreads`, `reputation`;
 * - per search term: `searchTerm` (postings of the threads holding it).
 *
 * A set's name is one tag byte followed by the fields that place it (an hour, a thread, an
 * author). Its policy is fixed per kind and is part of the key, so nobody can open a second set
 * of a kind under a different policy: {@link addressOfSet} refuses one. Each entry's payload is a
 * MessagePack array in canonical form. Layouts in docs/records.md.
 *
 * @module
 */

import { bytesEqual, toHex, utf8Encode } from "../core/bytes.ts";
import { ED25519_PUBLIC_KEY_BYTES, type Ed25519KeyPair, sha256 } from "../core/crypto.ts";
import { contactUriProblem, parseContactUri } from "../core/contact_uri.ts";
import { contactUriLengthMax } from "../core/limits.ts";
import { NODE_ID_BYTES, NodeId } from "../core/node_id.ts";
import { type CanonicalValue, decodeCanonical, encodeCanonical } from "./canonical.ts";
import { decodeRanking, RANKING_NAME } from "./ranking_records.ts";
import { decodeReport, REPORT_NAME } from "./popularity_reports.ts";
import {
  checkDocTime,
  clockSkewMs,
  decodeProfile,
  docOfRecord,
  PROFILE_NAME,
  profileAheadMsMax,
} from "./documents.ts";
import {
  describeValue,
  type DhtRecord,
  type MutableRecord,
  RecordError,
  recordKey,
  RecordKind,
  setKey,
  type SetMergeOrder,
  type SetPolicy,
  type SetRecord,
  signSetEntry,
} from "./records.ts";

/** A thread in a listing. */
export interface ThreadRef {
  /** The thread's ID. */
  thread: NodeId;
  /** Its creation time (ms since the epoch), as its author signed it. */
  createdMs: number;
}

/** A message in a thread's index or among a message's replies. */
export interface MessageRef {
  /** The message's ID. */
  message: NodeId;
  /** The message it replies to (the thread's ID for a top-level post). */
  parent: NodeId;
  /** Its creation time (ms since the epoch), as its author signed it. */
  createdMs: number;
}

/** One event of activity on a thread or message (a post, a reply, a vote), for popularity. */
export interface Activity {
  /** The thread or message. */
  target: NodeId;
  /** How much it counts: a whole number, -1..2. */
  weight: number;
}

/** One author's count of posts in a thread. */
export interface ThreadStats {
  /** The author's posts in the thread. */
  posts: number;
  /** When the author last posted there (ms since the epoch). */
  lastPostMs: number;
}

/** One voter's vote on a thread or message. */
export interface Vote {
  /** Up or down. */
  direction: 1 | -1;
}

/** A seed node announcing where it can be reached. */
export interface SeedEntry {
  /** The seed's contact URI (its key must be the entry's writer). */
  contact: string;
}

/** An hour of a day in which threads were created. */
export interface ThreadHour {
  /** The hour of the day, 0..23 (UTC). */
  hour: number;
}

/** A score given to an author (reserved for the popularity issue). */
export interface Reputation {
  /** The score: a whole number. */
  score: number;
}

/**
 * A thread's posting under a search term: the thread, how much the term weighs in it, and the
 * thread's other important terms, so a query of several terms is answered from one posting list
 * and the rest checked there (docs/search.md, "Network index").
 */
export interface TermPosting {
  /** The thread's ID. */
  thread: NodeId;
  /** Its creation time (ms since the epoch), as its author signed it. */
  createdMs: number;
  /** The term's weight in the thread, 1..255 (docs/search.md gives the formula). */
  weight: number;
  /**
   * The thread's important terms (this one included), each 5 bytes: the first 4 bytes of the
   * term's hash ({@link searchTermHash}) and its weight; at most {@link postingTermsMax}.
   */
  terms: Uint8Array;
}

/**
 * Important words a thread is posted under, and that each of its postings lists. Twelve covers a
 * title and the body's main words: in the network model (docs/search.md) eight found 80 % of what
 * a central index finds for two-word queries, twelve 94 %. Each costs 5 bytes in every posting of
 * the thread and a publish. More: the entry is refused.
 */
export const postingTermsMax = 12;

/** Bytes of one term in a posting's `terms`: 4 of its hash, 1 of its weight. */
export const postingTermBytes = 5;

/**
 * Postings one term's set keeps: the highest-weighted first. 32 postings of about 200 bytes are
 * 6.4 KB, so a query reads one set within its 8 KB budget. A thread below the 32nd for every one
 * of its terms is found by the network only through its other terms (or locally).
 */
export const termPostingsMax = 32;

/**
 * Postings one writer (an author key) keeps in one term's set: two, so an author's two threads on
 * a subject both show, and a flood from one key takes two places, not thirty-two.
 */
export const termPostingsPerWriterMax = 2;

/** What an entry of each kind of index holds. */
export interface EntryValues {
  /** Threads created lately. */
  recent: ThreadRef;
  /** Threads created in one hour (a lasting, paged listing of all threads). */
  threadsByHour: ThreadRef;
  /** The hours of one day whose `threadsByHour` shard holds threads, so listings skip the rest. */
  threadHours: ThreadHour;
  /** Activity on threads, for the global popularity listing. */
  popular: Activity;
  /** Seed nodes' contacts. */
  seeds: SeedEntry;
  /** A page of a thread's messages. */
  threadIndex: MessageRef;
  /** Activity on a thread's messages. */
  threadPopular: Activity;
  /** Per-author post counts in a thread. */
  threadStats: ThreadStats;
  /** Replies to a message. */
  refs: MessageRef;
  /** Votes on a thread or message, one per voter. */
  votes: Vote;
  /** An author's threads (written by that author only). */
  authorThreads: ThreadRef;
  /** Scores given to an author, one per scorer. */
  reputation: Reputation;
  /** Threads holding a search term, the highest-weighted kept. */
  searchTerm: TermPosting;
}

/** The kinds of index set. */
export type IndexKind = keyof EntryValues;

/** Where an index lives: its kind, key, name and policy. */
export interface SetAddress<K extends IndexKind = IndexKind> {
  /** The kind of index. */
  kind: K;
  /** The set's key. */
  key: NodeId;
  /** The set's name: the kind's tag byte, then its fields. */
  name: Uint8Array;
  /** The kind's policy. */
  policy: SetPolicy;
}

/**
 * Messages a thread-index page holds by convention: publishers add to page p until it holds this
 * many, then start page p + 1. 256 message references are about 45 KB, so a page (and the set
 * holding it) moves in one stream frame, and a reader gets 256 messages per lookup.
 */
export const threadIndexPageSize = 256;

/**
 * Pages a thread index may have: the page number is a big-endian u16 in the set's name. 65,536
 * pages of 256 are 16.7 million messages, more than any thread will hold. Beyond it: the address
 * cannot be made (`RangeError`).
 */
export const threadIndexPagesMax = 65_536;

/**
 * How long an index entry lives after it is written, in seconds: 90 days, the longest any record
 * class lives, so an index never outlives what it lists by much and never drops it early.
 * Republishing renews it. Entries of `threadsByHour`, `threadIndex`, `threadStats`, `refs`,
 * `votes`, `authorThreads` and `reputation` live this long.
 */
export const entryLifetimeS: number = 90 * 86400;

/**
 * How much longer than its kind's lifetime a received entry may live, in seconds: one day. The
 * check is the whole set's: a set holding one entry past the limit is refused by the node checking
 * it, so a slack as small as the clock skew would let a writer at the limit make the set unreadable
 * to every node whose clock is a second behind the holder's. A day covers any honest clock; an
 * entry living a day longer harms nothing.
 */
export const entryExpirySlackS: number = 86400;

/**
 * How long an entry of `recent`, `popular` or `threadPopular` lives, in seconds: 7 days. These
 * listings show what is happening now; a week-old event has stopped counting.
 */
export const activityLifetimeS: number = 7 * 86400;

/**
 * How long a `seeds` entry lives, in seconds: one day. A seed republishes its contact daily, so a
 * seed that left the network drops out of the list within a day.
 */
export const seedEntryLifetimeS = 86400;

/**
 * The day a time falls in, as `threadHours` names it.
 *
 * @param ms A time in ms since the epoch.
 * @returns Whole days since the epoch (UTC).
 */
export function dayOf(ms: number): number {
  return Math.floor(ms / 86_400_000);
}

/**
 * The hour a time falls in, as `threadsByHour` names it.
 *
 * @param ms A time in ms since the epoch.
 * @returns Whole hours since the epoch.
 */
export function hourOf(ms: number): number {
  return Math.floor(ms / 3_600_000);
}

/** One kind of index: its tag byte, policy, entry lifetime and entry codec. */
interface IndexSchema<V> {
  /** The first byte of the set's name. */
  tag: number;
  /** Bytes of name after the tag. */
  fieldBytes: number;
  /** Fields in an entry's payload array. */
  fieldCount: number;
  /** The fixed policy. */
  policy: SetPolicy;
  /** How long an entry lives after it is written, in seconds. */
  lifetimeS: number;
  /** The entry's value as MessagePack fields. */
  fields(value: V): CanonicalValue[];
  /** The value of decoded fields, or why they are not one. */
  parse(fields: readonly unknown[]): V | string;
}

// entriesMax: a full set of maximum-size entries (the largest numbers and payloads) must encode
// within recordBytesMax; tests/content/key_schema_test.ts checks every kind. An entry costs about
// 120 bytes of writer, sequence, expiry and signature plus its payload: a thread reference 153
// bytes in all, a message reference 175, a vote 123, a seed's contact up to 444.
const schema: { [K in IndexKind]: IndexSchema<EntryValues[K]> } = {
  recent: threadRefIndex(1, 0, activityLifetimeS),
  threadsByHour: threadRefIndex(2, 4, entryLifetimeS),
  popular: activityIndex(3, 0),
  seeds: {
    tag: 4,
    fieldBytes: 0,
    fieldCount: 1,
    policy: { onePerWriter: true, entriesMax: 128 },
    lifetimeS: seedEntryLifetimeS,
    fields: (value) => [utf8Encode(value.contact)],
    parse: ([contact]) => {
      if (!(contact instanceof Uint8Array)) return "holds no contact";
      if (contact.length > contactUriLengthMax) {
        return `holds a contact of ${contact.length} bytes, the limit is ${contactUriLengthMax}`;
      }
      let text: string;
      try {
        text = strictUtf8.decode(contact);
      } catch {
        return "holds a contact that is not valid UTF-8";
      }
      const problem = contactUriProblem(text);
      if (problem) return `holds a contact that does not parse (${problem})`;
      return { contact: text };
    },
  },
  threadIndex: messageRefIndex(5, NODE_ID_BYTES + 2),
  threadPopular: activityIndex(6, NODE_ID_BYTES),
  threadStats: {
    tag: 7,
    fieldBytes: NODE_ID_BYTES,
    fieldCount: 2,
    policy: { onePerWriter: true, entriesMax: 400 },
    lifetimeS: entryLifetimeS,
    fields: (value) => [value.posts, value.lastPostMs],
    parse: ([posts, lastPostMs]) => {
      if (!isWholeNumber(posts)) return "holds a post count that is not a whole number";
      if (!isWholeNumber(lastPostMs)) return "holds a post time that is not a whole number";
      return { posts, lastPostMs };
    },
  },
  refs: messageRefIndex(8, NODE_ID_BYTES),
  votes: {
    tag: 9,
    fieldBytes: NODE_ID_BYTES,
    fieldCount: 1,
    policy: { onePerWriter: true, entriesMax: 512 },
    lifetimeS: entryLifetimeS,
    fields: (value) => [value.direction],
    parse: ([direction]) =>
      direction === 1 || direction === -1
        ? { direction }
        : `holds direction ${describeValue(direction)} (expected 1 or -1)`,
  },
  authorThreads: threadRefIndex(10, ED25519_PUBLIC_KEY_BYTES, entryLifetimeS),
  threadHours: {
    tag: 12,
    fieldBytes: 4,
    fieldCount: 1,
    // One entry per writer and hour (its seq is the hour since the epoch): a full set means a
    // busy day, whose hours a reader then walks all.
    policy: { onePerWriter: false, entriesMax: 480 },
    lifetimeS: entryLifetimeS,
    fields: (value) => [value.hour],
    parse: ([hour]) =>
      Number.isInteger(hour) && (hour as number) >= 0 && (hour as number) <= 23
        ? { hour: hour as number }
        : `holds hour ${describeValue(hour)} (expected 0..23)`,
  },
  searchTerm: {
    tag: 13,
    fieldBytes: NODE_ID_BYTES,
    fieldCount: 4,
    policy: { onePerWriter: false, entriesMax: termPostingsMax },
    lifetimeS: entryLifetimeS,
    fields: (value) => [value.thread.toBytes(), value.createdMs, value.weight, value.terms],
    parse: ([thread, createdMs, weight, terms]) => {
      if (!isId(thread)) return "holds a thread ID that is not 20 bytes";
      if (!isWholeNumber(createdMs)) return "holds a creation time that is not a whole number";
      if (!Number.isInteger(weight) || (weight as number) < 1 || (weight as number) > 255) {
        return `holds weight ${describeValue(weight)} (expected 1..255)`;
      }
      if (
        !(terms instanceof Uint8Array) || terms.length % postingTermBytes !== 0 ||
        terms.length > postingTermsMax * postingTermBytes
      ) {
        return `holds terms that are not up to ${postingTermsMax} groups of ${postingTermBytes} bytes`;
      }
      return { thread: NodeId.fromBytes(thread), createdMs, weight: weight as number, terms };
    },
  },
  reputation: {
    tag: 11,
    fieldBytes: ED25519_PUBLIC_KEY_BYTES,
    fieldCount: 1,
    policy: { onePerWriter: true, entriesMax: 480 },
    lifetimeS: entryLifetimeS,
    fields: (value) => [value.score],
    parse: ([score]) =>
      Number.isSafeInteger(score)
        ? { score: score as number }
        : "holds a score that is not a whole number",
  },
};

const kindByTag = new Map(
  (Object.keys(schema) as IndexKind[]).map((kind) => [schema[kind].tag, kind]),
);

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The global index of threads created lately.
 *
 * @returns Its address.
 */
export function recentIndex(): SetAddress<"recent"> {
  return address("recent", new Uint8Array(0));
}

/**
 * The index of the threads created in one hour.
 *
 * @param hour Whole hours since the epoch (see {@link hourOf}), 0..2^32 - 1.
 * @returns Its address.
 * @throws {RangeError} When the hour is not a u32.
 */
export function threadsByHourIndex(hour: number): SetAddress<"threadsByHour"> {
  if (!Number.isInteger(hour) || hour < 0 || hour > 0xffff_ffff) {
    throw new RangeError(`Cannot make the hourly thread index: hour ${hour} is outside 0..2^32-1`);
  }
  const fields = new Uint8Array(4);
  new DataView(fields.buffer).setUint32(0, hour);
  return address("threadsByHour", fields);
}

/**
 * The index of the hours of one day in which threads were created.
 *
 * @param day Whole days since the epoch ({@link dayOf}).
 * @returns Its address.
 * @throws {RangeError} When `day` is not a whole number in 0..2^32-1.
 */
export function threadHoursIndex(day: number): SetAddress<"threadHours"> {
  if (!Number.isInteger(day) || day < 0 || day > 0xffff_ffff) {
    throw new RangeError(`Cannot make the thread hours index: day ${day} is outside 0..2^32-1`);
  }
  const fields = new Uint8Array(4);
  new DataView(fields.buffer).setUint32(0, day);
  return address("threadHours", fields);
}

/**
 * The global index of activity on threads.
 *
 * @returns Its address.
 */
export function popularIndex(): SetAddress<"popular"> {
  return address("popular", new Uint8Array(0));
}

/**
 * The set where seed nodes announce their contacts.
 *
 * @returns Its address.
 */
export function seedsIndex(): SetAddress<"seeds"> {
  return address("seeds", new Uint8Array(0));
}

/**
 * One page of a thread's messages.
 *
 * @param thread The thread's ID.
 * @param page The page, 0..`threadIndexPagesMax` - 1.
 * @returns Its address.
 * @throws {RangeError} When the page is out of range.
 */
export function threadIndex(thread: NodeId, page: number): SetAddress<"threadIndex"> {
  if (!Number.isInteger(page) || page < 0 || page >= threadIndexPagesMax) {
    throw new RangeError(
      `Cannot make the thread index address: page ${page} is outside 0..${threadIndexPagesMax - 1}`,
    );
  }
  const fields = new Uint8Array(NODE_ID_BYTES + 2);
  thread.writeTo(fields, 0);
  new DataView(fields.buffer).setUint16(NODE_ID_BYTES, page);
  return address("threadIndex", fields);
}

/**
 * The activity on a thread's messages.
 *
 * @param thread The thread's ID.
 * @returns Its address.
 */
export function threadPopularIndex(thread: NodeId): SetAddress<"threadPopular"> {
  return address("threadPopular", thread.toBytes());
}

/**
 * Per-author post counts in a thread.
 *
 * @param thread The thread's ID.
 * @returns Its address.
 */
export function threadStatsIndex(thread: NodeId): SetAddress<"threadStats"> {
  return address("threadStats", thread.toBytes());
}

/**
 * The replies to a message.
 *
 * @param message The message's ID.
 * @returns Its address.
 */
export function refsIndex(message: NodeId): SetAddress<"refs"> {
  return address("refs", message.toBytes());
}

/**
 * The votes on a thread or message.
 *
 * @param target The thread's or message's ID.
 * @returns Its address.
 */
export function votesIndex(target: NodeId): SetAddress<"votes"> {
  return address("votes", target.toBytes());
}

/**
 * An author's threads.
 *
 * @param author The author's public key (32 bytes).
 * @returns Its address.
 * @throws {RangeError} When the key is not 32 bytes.
 */
export function authorThreadsIndex(author: Uint8Array): SetAddress<"authorThreads"> {
  return address("authorThreads", authorBytes(author));
}

/**
 * The scores given to an author.
 *
 * @param author The author's public key (32 bytes).
 * @returns Its address.
 * @throws {RangeError} When the key is not 32 bytes.
 */
export function reputationIndex(author: Uint8Array): SetAddress<"reputation"> {
  return address("reputation", authorBytes(author));
}

/**
 * The hash that names a search term: SHA-256 of a domain and the folded term, 20 bytes.
 *
 * @param term A folded word (as the search service cuts text).
 * @returns The hash.
 */
export function searchTermHash(term: string): Uint8Array {
  return sha256(searchTermDomain, term).subarray(0, NODE_ID_BYTES);
}

const searchTermDomain = utf8Encode("rhizome/search-term/v1");

/**
 * The postings of one search term.
 *
 * @param term A folded word.
 * @returns Its address.
 */
export function searchTermIndex(term: string): SetAddress<"searchTerm"> {
  return address("searchTerm", searchTermHash(term));
}

/**
 * How a set's entries rank when merged: search postings by weight, each writer capped at
 * {@link termPostingsPerWriterMax}; `undefined` for every other kind (latest expiry first).
 *
 * @param record A set.
 * @returns The order, or `undefined`.
 */
export function setMergeOrderOf(record: SetRecord): SetMergeOrder | undefined {
  if (record.name[0] !== schema.searchTerm.tag) return undefined;
  return {
    rank: (entry) => {
      try {
        return decodeEntry("searchTerm", entry.payload).weight;
      } catch {
        return 0;
      }
    },
    writerEntriesMax: termPostingsPerWriterMax,
  };
}

/**
 * How long an entry of a kind lives after it is written.
 *
 * @param kind The kind of index.
 * @returns Seconds: `activityLifetimeS`, `seedEntryLifetimeS` or `entryLifetimeS`.
 */
export function entryLifetimeSOf(kind: IndexKind): number {
  return schema[kind].lifetimeS;
}

/**
 * The payload of an entry.
 *
 * @param kind The kind of index.
 * @param value The entry's value.
 * @returns Its canonical MessagePack encoding.
 * @throws {RangeError} When the value breaks the kind's rules (a bug of the caller).
 */
export function encodeEntry<K extends IndexKind>(kind: K, value: EntryValues[K]): Uint8Array {
  const fields = schema[kind].fields(value);
  const parsed = schema[kind].parse(fields);
  if (typeof parsed === "string") {
    throw new RangeError(`Cannot encode ${kind} entry: it ${parsed}`);
  }
  return encodeCanonical(fields);
}

/**
 * Decodes an entry's payload and checks it.
 *
 * @param kind The kind of index it was found in.
 * @param payload The payload.
 * @returns The value.
 * @throws {RecordError} When the payload is not a canonical, valid entry of this kind.
 */
export function decodeEntry<K extends IndexKind>(kind: K, payload: Uint8Array): EntryValues[K] {
  const refuse = (problem: string): never => {
    throw new RecordError(`Cannot accept record: a ${kind} entry ${problem}`);
  };
  const fields = decodeCanonical(payload, `a ${kind} entry`);
  if (!Array.isArray(fields) || fields.length !== schema[kind].fieldCount) {
    return refuse(`is not a ${schema[kind].fieldCount}-field array`);
  }
  const value = schema[kind].parse(fields);
  if (typeof value === "string") return refuse(value);
  if (!bytesEqual(encodeCanonical(schema[kind].fields(value)), payload)) {
    return refuse("is not in canonical form");
  }
  return value;
}

/**
 * The sequence number of an entry referring to a record, for sets with several entries per
 * writer: one writer's entries for different records never collide, and republishing one entry
 * replaces nothing.
 *
 * @param id The referenced record's ID.
 * @returns Its first 48 bits as an unsigned integer.
 */
export function entrySeqOf(id: NodeId): number {
  let seq = 0;
  for (let i = 0; i < 6; i++) seq = seq * 256 + id.byteAt(i);
  return seq;
}

/**
 * A set holding one signed entry, ready to publish (the nodes holding the set merge it in).
 *
 * @param writer The writer's key pair (the author's, or the node's for `seeds`).
 * @param address Where the entry goes.
 * @param seq The entry's sequence number ({@link entrySeqOf} of the referenced record, or a
 *   counter for one-per-writer sets).
 * @param expiresAtS When the entry expires, in seconds since the epoch.
 * @param value The entry's value.
 * @returns The set record.
 * @throws {RangeError} When the value breaks the kind's rules.
 */
export function signedEntrySet<K extends IndexKind>(
  writer: Ed25519KeyPair,
  address: SetAddress<K>,
  seq: number,
  expiresAtS: number,
  value: EntryValues[K],
): SetRecord {
  const payload = encodeEntry(address.kind, value);
  return {
    kind: RecordKind.set,
    name: new Uint8Array(address.name),
    policy: { ...address.policy },
    entries: [signSetEntry(writer, address.key, seq, expiresAtS, payload)],
  };
}

/**
 * Which index a set is, from its name, checked against the schema.
 *
 * @param record A set.
 * @returns Its address.
 * @throws {RecordError} For an unknown tag, a name of the wrong length, or a policy other than the
 *   kind's.
 */
export function addressOfSet(record: SetRecord): SetAddress {
  const kind = kindByTag.get(record.name[0]);
  if (kind === undefined) {
    throw new RecordError(`Cannot accept record: set tag ${record.name[0]} is unknown`);
  }
  const { fieldBytes, policy } = schema[kind];
  if (record.name.length !== 1 + fieldBytes) {
    throw new RecordError(
      `Cannot accept record: a ${kind} set's name must be ${
        1 + fieldBytes
      } bytes, got ${record.name.length}`,
    );
  }
  if (
    record.policy.onePerWriter !== policy.onePerWriter ||
    record.policy.entriesMax !== policy.entriesMax
  ) {
    throw new RecordError(
      `Cannot accept record: a ${kind} set's policy must be onePerWriter=${policy.onePerWriter}, entriesMax=${policy.entriesMax}`,
    );
  }
  return address(kind, record.name.subarray(1));
}

/**
 * The entries of a set that have not expired, decoded.
 *
 * @param record A set that verified (so every entry decodes).
 * @param kind The kind of index it is.
 * @param nowS The time, in seconds since the epoch.
 * @returns Writer, sequence, expiry and value of each live entry, in the set's order.
 * @throws {RecordError} When the set is not of this kind or an entry does not decode (a bug:
 *   records are checked when they enter the node).
 */
export function liveEntries<K extends IndexKind>(
  record: SetRecord,
  kind: K,
  nowS: number,
): { writer: Uint8Array; seq: number; expiresAtS: number; value: EntryValues[K] }[] {
  const found = addressOfSet(record).kind;
  if (found !== kind) {
    throw new RecordError(`Cannot read set: it is a ${found} set, not a ${kind} set`);
  }
  return record.entries.filter((entry) => entry.expiresAtS > nowS).map((entry) => ({
    writer: entry.writer,
    seq: entry.seq,
    expiresAtS: entry.expiresAtS,
    value: decodeEntry(kind, entry.payload),
  }));
}

/**
 * Checks a record against the content rules (beyond its signatures, which
 * `checkRecord` checks): an immutable record is a valid document or a raw payload; a mutable
 * record is a profile; a set is an index of the schema, every entry valid for its kind, an
 * `authorThreads` entry written by that author, a `seeds` entry carrying its writer's own contact.
 * With the time: no document dated more than `clockSkewMs` ahead, no profile whose `seq` or
 * `updatedMs` is more than `profileAheadMsMax` ahead, no entry expiring later than its kind's
 * lifetime (plus `clockSkewMs`) from now.
 *
 * @param key The key the record is stored under.
 * @param record The decoded record.
 * @param nowMs The checking node's time; without it the time rules are skipped (the store's
 *   check has no time; the DHT's has).
 * @throws {RecordError} Saying what is wrong.
 */
export function checkContent(key: NodeId, record: DhtRecord, nowMs?: number): void {
  if (!recordKey(record).equals(key)) {
    throw new RecordError("Cannot accept record: it does not belong under this key");
  }
  switch (record.kind) {
    case RecordKind.immutable: {
      const doc = docOfRecord(record);
      if (doc && nowMs !== undefined) checkDocTime(doc, nowMs);
      return;
    }
    case RecordKind.mutable:
      if (bytesEqual(record.name, RANKING_NAME)) return checkRanking(record, nowMs);
      if (bytesEqual(record.name, REPORT_NAME)) return checkReport(record, nowMs);
      if (!bytesEqual(record.name, PROFILE_NAME)) {
        throw new RecordError(
          'Cannot accept record: a mutable record must be a "profile", a "ranking" or a "report"',
        );
      }
      checkProfileTime(record.seq, decodeProfile(record.payload).updatedMs, nowMs);
      return;
    case RecordKind.set:
      return checkSetContent(record, nowMs);
  }
}

/**
 * A seed's ranking: its payload a ranking record ({@link decodeRanking}) signed by the record's
 * owner, its time and sequence no more than {@link profileAheadMsMax} ahead.
 */
function checkRanking(record: MutableRecord, nowMs: number | undefined): void {
  const ranking = decodeRanking(record.payload);
  if (typeof ranking === "string") throw new RecordError(`Cannot accept record: ${ranking}`);
  if (!bytesEqual(ranking.seed, record.owner)) {
    throw new RecordError(
      "Cannot accept record: the ranking is signed by another key than its owner's",
    );
  }
  if (nowMs === undefined) return;
  if (record.seq > nowMs + profileAheadMsMax || ranking.atMs > nowMs + profileAheadMsMax) {
    throw new RecordError(
      `Cannot accept record: the ranking is dated more than ${profileAheadMsMax / 1000} s ahead`,
    );
  }
}

/** A holder's report: its payload a popularity report, its time no more than skew ahead. */
function checkReport(record: MutableRecord, nowMs: number | undefined): void {
  const report = decodeReport(record.payload);
  if (typeof report === "string") throw new RecordError(`Cannot accept record: ${report}`);
  if (nowMs === undefined) return;
  if (record.seq > nowMs + profileAheadMsMax || report.atMs > nowMs + profileAheadMsMax) {
    throw new RecordError(
      `Cannot accept record: the report is dated more than ${profileAheadMsMax / 1000} s ahead`,
    );
  }
}

/** A profile's `seq` or `updatedMs` more than {@link profileAheadMsMax} ahead: refused. */
function checkProfileTime(seq: number, updatedMs: number, nowMs: number | undefined): void {
  if (nowMs === undefined) return;
  for (const [what, value] of [["sequence number", seq], ["update time", updatedMs]] as const) {
    if (value > nowMs + profileAheadMsMax) {
      throw new RecordError(
        `Cannot accept record: the profile's ${what} is ${
          Math.ceil((value - nowMs) / 1000)
        } s ahead of this node's clock (limit ${profileAheadMsMax / 1000} s)`,
      );
    }
  }
}

function checkSetContent(record: SetRecord, nowMs: number | undefined): void {
  const { kind, name } = addressOfSet(record);
  const expiresAtSMax = nowMs === undefined
    ? Infinity
    : Math.floor(nowMs / 1000) + entryExpirySlackS + schema[kind].lifetimeS;
  const createdMsMax = nowMs === undefined ? Infinity : nowMs + clockSkewMs;
  const writerCounts = new Map<string, number>();
  for (const entry of record.entries) {
    const value = decodeEntry(kind, entry.payload);
    // A reference dated ahead would pin its thread or message on top of every listing.
    const createdMs = (value as Partial<ThreadRef & MessageRef & ThreadStats>).createdMs ??
      (value as Partial<ThreadStats>).lastPostMs;
    if (createdMs !== undefined && createdMs > createdMsMax) {
      throw new RecordError(
        `Cannot accept record: a ${kind} entry is dated ${
          Math.round((createdMs - nowMs!) / 1000)
        } s in the future (clock skew limit ${clockSkewMs / 1000} s)`,
      );
    }
    if (kind === "authorThreads" && !bytesEqual(entry.writer, name.subarray(1))) {
      throw new RecordError(
        "Cannot accept record: an authorThreads entry is not written by the author it lists",
      );
    }
    if (kind === "searchTerm") {
      const writer = toHex(entry.writer);
      const count = (writerCounts.get(writer) ?? 0) + 1;
      writerCounts.set(writer, count);
      if (count > termPostingsPerWriterMax) {
        throw new RecordError(
          `Cannot accept record: a searchTerm set holds more than ${termPostingsPerWriterMax} entries of one writer`,
        );
      }
    }
    if (
      kind === "seeds" &&
      !bytesEqual(parseContactUri((value as SeedEntry).contact).publicKey, entry.writer)
    ) {
      throw new RecordError("Cannot accept record: a seeds entry carries another node's contact");
    }
    if (entry.expiresAtS > expiresAtSMax) {
      const aheadS = entry.expiresAtS - Math.floor(nowMs! / 1000);
      throw new RecordError(
        `Cannot accept record: a ${kind} entry expires ${aheadS} s from now, the limit is ${
          schema[kind].lifetimeS + entryExpirySlackS
        } s`,
      );
    }
  }
}

function address<K extends IndexKind>(kind: K, fields: Uint8Array): SetAddress<K> {
  const name = new Uint8Array(1 + fields.length);
  name[0] = schema[kind].tag;
  name.set(fields, 1);
  const policy = { ...schema[kind].policy };
  return { kind, key: setKey(name, policy), name, policy };
}

function threadRefIndex(
  tag: number,
  fieldBytes: number,
  lifetimeS: number,
): IndexSchema<ThreadRef> {
  return {
    tag,
    fieldBytes,
    fieldCount: 2,
    policy: { onePerWriter: false, entriesMax: 400 },
    lifetimeS,
    fields: (value) => [value.thread.toBytes(), value.createdMs],
    parse: ([thread, createdMs]) => {
      if (!isId(thread)) return "holds a thread ID that is not 20 bytes";
      if (!isWholeNumber(createdMs)) return "holds a creation time that is not a whole number";
      return { thread: NodeId.fromBytes(thread), createdMs };
    },
  };
}

function activityIndex(
  tag: number,
  fieldBytes: number,
): IndexSchema<Activity> {
  return {
    tag,
    fieldBytes,
    fieldCount: 2,
    policy: { onePerWriter: false, entriesMax: 400 },
    lifetimeS: activityLifetimeS,
    fields: (value) => [value.target.toBytes(), value.weight],
    parse: ([target, weight]) => {
      if (!isId(target)) return "holds a target ID that is not 20 bytes";
      if (!Number.isInteger(weight) || (weight as number) < -1 || (weight as number) > 2) {
        return `holds weight ${describeValue(weight)} (expected a whole number, -1..2)`;
      }
      return { target: NodeId.fromBytes(target), weight: weight as number };
    },
  };
}

function messageRefIndex(tag: number, fieldBytes: number): IndexSchema<MessageRef> {
  return {
    tag,
    fieldBytes,
    fieldCount: 3,
    // A thread-index page holds threadIndexPageSize messages; the rest is slack for writers
    // racing to fill the same page.
    policy: { onePerWriter: false, entriesMax: 320 },
    lifetimeS: entryLifetimeS,
    fields: (value) => [value.message.toBytes(), value.parent.toBytes(), value.createdMs],
    parse: ([message, parent, createdMs]) => {
      if (!isId(message)) return "holds a message ID that is not 20 bytes";
      if (!isId(parent)) return "holds a parent ID that is not 20 bytes";
      if (!isWholeNumber(createdMs)) return "holds a creation time that is not a whole number";
      return { message: NodeId.fromBytes(message), parent: NodeId.fromBytes(parent), createdMs };
    },
  };
}

function authorBytes(author: Uint8Array): Uint8Array {
  if (author.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new RangeError(
      `Cannot make an author's index address: the key is ${author.length} bytes, expected ${ED25519_PUBLIC_KEY_BYTES}`,
    );
  }
  return author;
}

function isId(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === NODE_ID_BYTES;
}

function isWholeNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
