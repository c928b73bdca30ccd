/**
 * Authored documents (threads and messages) and profiles: what a person writes, signed by their
 * author key (an Ed25519 key separate from any node's identity, so a person can post from any
 * node). Layouts in docs/records.md.
 *
 * A document travels as the payload of an immutable record: {@link DOC_MAGIC} followed by one
 * MessagePack array, so its ID is the record's key (the hash of its encoding). Strings are
 * MessagePack binaries holding UTF-8, decoded strictly: MessagePack's own string type would be
 * decoded leniently (bad bytes replaced), and then two different payloads could show the same
 * text. A payload must be in canonical form (exactly what this module encodes for its values), so
 * one signed document has exactly one ID.
 *
 * Every check exists twice over the same rules: publishing refuses bad fields with a
 * `ContentError` (`CONTENT_INVALID`), and accepting a record from anyone refuses them with a
 * `RecordError` (`RECORD_INVALID`).
 *
 * @module
 */

import { bytesEqual, concatBytes, toHex, utf8Encode } from "../core/bytes.ts";
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  type Ed25519KeyPair,
  ed25519Sign,
  ed25519Verify,
} from "../core/crypto.ts";
import { Unpackr } from "msgpackr";
import { ContentError } from "../core/errors.ts";
import { NODE_ID_BYTES, NodeId } from "../core/node_id.ts";
import { type CanonicalValue, decodeCanonical, encodeCanonical } from "./canonical.ts";
import {
  describeValue,
  type DhtRecord,
  type ImmutableRecord,
  mutableKey,
  type MutableRecord,
  RecordError,
  recordKey,
  RecordKind,
  signMutable,
} from "./records.ts";

/**
 * The first bytes of every document payload: "RHZDOC1\n". Tells a document from a raw immutable
 * payload (the DHT's `put` of arbitrary bytes) without decoding; the "1" is the document format
 * version, and the newline stops a text tool from running the header into the binary that
 * follows.
 */
export const DOC_MAGIC: Uint8Array = utf8Encode("RHZDOC1\n");

/**
 * Longest thread title, in UTF-8 bytes. A title is one line in a listing: 200 bytes is two lines
 * of a terminal in English and still a full sentence in scripts of three bytes per character.
 * At the limit: publishing fails with `CONTENT_INVALID`; a record carrying more is refused.
 */
export const titleBytesMax = 200;

/**
 * Longest body of a thread or message, in UTF-8 bytes. 16 KiB is a long essay; with its metadata a
 * document stays far below the 64 KiB record limit and moves in one stream frame. At the limit:
 * `CONTENT_INVALID` on publish; a record carrying more is refused.
 */
export const bodyBytesMax: number = 16 * 1024;

/**
 * Most tags on a thread. Tags are for finding threads, not for prose; eight covers a topic and its
 * neighbours. At the limit: `CONTENT_INVALID`; a record carrying more is refused.
 */
export const tagsMax = 8;

/**
 * Longest tag, in bytes (tags are ASCII: `^[a-z0-9][a-z0-9-]*$`). Long enough for a
 * hyphenated phrase, short enough to list eight on one line. At the limit: `CONTENT_INVALID`; a
 * record carrying more is refused.
 */
export const tagBytesMax = 32;

/**
 * Longest display name in a profile, in UTF-8 bytes: one line beside every post. At the limit:
 * `CONTENT_INVALID`; a profile carrying more is refused.
 */
export const profileNameBytesMax = 64;

/**
 * Longest "about" text in a profile, in UTF-8 bytes: a short paragraph. At the limit:
 * `CONTENT_INVALID`; a profile carrying more is refused.
 */
export const profileAboutBytesMax = 1024;

/**
 * Most other keys a profile may list (the same person's keys on other devices, or older keys).
 * Eight covers a person's devices; more would be a key list, not a profile. At the limit:
 * `CONTENT_INVALID`; a profile carrying more is refused.
 */
export const profileKeysMax = 8;

/**
 * How far in the future a document's creation time may lie when a node stores it, and how far
 * from the node's clock it may lie when published. Five minutes absorbs ordinary clock drift
 * between machines without letting anyone date a post days ahead to keep it on top of "recent".
 * At the limit: the record is refused (`RECORD_INVALID`).
 */
export const clockSkewMs: number = 5 * 60_000;

/**
 * How far ahead of the checking node's clock a profile's `seq` and `updatedMs` may lie. A higher
 * `seq` always replaces a profile, so without a bound one record with `seq` 2^53 - 1 (signed by
 * the owner in error, or by a leaked key once) could never be replaced. Publishers set `seq` =
 * max(previous + 1, now in ms), which an honest clock keeps within {@link clockSkewMs} of any
 * other; the same margin as documents, so a profile ahead by it is replaceable minutes later.
 * At the limit: the record is refused (`RECORD_INVALID`).
 */
export const profileAheadMsMax: number = clockSkewMs;

/** A thread: its title, opening post and tags, signed by its author. */
export interface ThreadDoc {
  /** The kind of document. */
  type: "thread";
  /** The author's Ed25519 public key (32 bytes). */
  author: Uint8Array;
  /** When the author says it was written, in ms since the epoch. */
  createdMs: number;
  /** One line, 1..`titleBytesMax` bytes of UTF-8. */
  title: string;
  /** The opening post, 0..`bodyBytesMax` bytes of UTF-8. */
  body: string;
  /** At most `tagsMax` distinct tags matching `^[a-z0-9][a-z0-9-]*$`. */
  tags: string[];
  /** The author's Ed25519 signature over the fields above. */
  signature: Uint8Array;
}

/** A message in a thread, signed by its author. */
export interface MessageDoc {
  /** The kind of document. */
  type: "message";
  /** The author's Ed25519 public key (32 bytes). */
  author: Uint8Array;
  /** When the author says it was written, in ms since the epoch. */
  createdMs: number;
  /** The thread's ID. */
  thread: NodeId;
  /** The message replied to; equal to `thread` for a top-level post. */
  parent: NodeId;
  /** The text, 1..`bodyBytesMax` bytes of UTF-8. */
  body: string;
  /** The author's Ed25519 signature over the fields above. */
  signature: Uint8Array;
}

/** Any authored document. */
export type AuthoredDoc = ThreadDoc | MessageDoc;

/** A profile: what an author says about themselves. */
export interface Profile {
  /** Display name, one line, 0..`profileNameBytesMax` bytes of UTF-8. */
  name: string;
  /** A few words, 0..`profileAboutBytesMax` bytes of UTF-8. */
  about: string;
  /** Other public keys of the same person (32 bytes each, distinct), at most `profileKeysMax`. */
  keys: Uint8Array[];
  /** When the author last changed it, in ms since the epoch. */
  updatedMs: number;
}

/**
 * The name of every author's profile record ("profile"): with the author key it gives the
 * profile's key, so anyone who knows an author finds their profile.
 */
export const PROFILE_NAME: Uint8Array = utf8Encode("profile");

/** A document's fields before it is signed. */
type UnsignedDoc = Omit<ThreadDoc, "signature"> | Omit<MessageDoc, "signature">;

/** The document type numbers on the wire. */
const DocType = { thread: 1, message: 2 } as const;

/** Domain separation: an author's document signature can never be taken for another signature. */
const docDomain = utf8Encode("rhizome/doc/v1");

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const tagPattern = /^[a-z0-9][a-z0-9-]*$/;

/**
 * Checks a thread's fields and signs them.
 *
 * @param author The author's key pair.
 * @param fields The creation time (ms since the epoch), title, opening post and tags.
 * @returns The signed thread.
 * @throws {ContentError} `CONTENT_INVALID`, naming the field and the limit, when a field breaks
 *   the rules.
 */
export function signThread(
  author: Ed25519KeyPair,
  fields: { createdMs: number; title: string; body: string; tags: string[] },
): ThreadDoc {
  const problem = threadProblem(fields.createdMs, fields.title, fields.body, fields.tags);
  if (problem) throw new ContentError("CONTENT_INVALID", `Cannot publish thread: ${problem}`);
  const unsigned: Omit<ThreadDoc, "signature"> = {
    type: "thread",
    author: new Uint8Array(author.publicKey),
    createdMs: fields.createdMs,
    title: fields.title,
    body: fields.body,
    tags: [...fields.tags],
  };
  return { ...unsigned, signature: ed25519Sign(author, signedBytes(unsigned)) };
}

/**
 * Checks a message's fields and signs them.
 *
 * @param author The author's key pair.
 * @param fields The creation time (ms since the epoch), the thread, the message replied to (the
 *   thread itself for a top-level post) and the text.
 * @returns The signed message.
 * @throws {ContentError} `CONTENT_INVALID`, naming the field and the limit, when a field breaks
 *   the rules.
 */
export function signMessage(
  author: Ed25519KeyPair,
  fields: { createdMs: number; thread: NodeId; parent: NodeId; body: string },
): MessageDoc {
  const problem = messageProblem(fields.createdMs, fields.body);
  if (problem) throw new ContentError("CONTENT_INVALID", `Cannot publish message: ${problem}`);
  const unsigned: Omit<MessageDoc, "signature"> = {
    type: "message",
    author: new Uint8Array(author.publicKey),
    createdMs: fields.createdMs,
    thread: fields.thread,
    parent: fields.parent,
    body: fields.body,
  };
  return { ...unsigned, signature: ed25519Sign(author, signedBytes(unsigned)) };
}

/**
 * The immutable record that carries a document.
 *
 * @param doc The document.
 * @returns The record (its key is the document's ID).
 */
export function docRecord(doc: AuthoredDoc): ImmutableRecord {
  const fields = [...docFields(doc), doc.signature];
  return {
    kind: RecordKind.immutable,
    payload: concatBytes(DOC_MAGIC, encodeCanonical(fields)),
  };
}

/**
 * A document's ID: the key of its record.
 *
 * @param doc The document.
 * @returns The ID.
 */
export function docId(doc: AuthoredDoc): NodeId {
  return recordKey(docRecord(doc));
}

/**
 * Whether an immutable record's payload claims to be a document (starts with {@link DOC_MAGIC}).
 *
 * @param payload The payload.
 * @returns `true` when it starts with the header; it may still be malformed.
 */
export function isDocPayload(payload: Uint8Array): boolean {
  return payload.length >= DOC_MAGIC.length &&
    bytesEqual(payload.subarray(0, DOC_MAGIC.length), DOC_MAGIC);
}

/**
 * Decodes a document and checks everything about it but its time: header, shape, limits, UTF-8,
 * canonical form, then the author's signature.
 *
 * @param payload An immutable record's payload.
 * @returns The document.
 * @throws {RecordError} Saying what is wrong.
 */
export function decodeDoc(payload: Uint8Array): AuthoredDoc {
  if (!isDocPayload(payload)) refuse("the payload is not a document (no RHZDOC1 header)");
  const fields = unpackArray(payload.subarray(DOC_MAGIC.length), "the document");
  const doc = docOf(fields);
  if (!bytesEqual(docRecord(doc).payload, payload)) {
    refuse("the document is not in canonical form");
  }
  if (!ed25519Verify(doc.author, signedBytes(doc), doc.signature)) {
    refuse("the author's signature does not verify");
  }
  return doc;
}

/**
 * The document in a record the store already verified, decoded for speed: msgpackr reads the
 * bytes and nothing is checked again (signature, canonical form and limits were when the record
 * was stored). For derived data built from held records, such as the search index, which reads
 * every record once at a rebuild: one Ed25519 check per record stays the store's.
 *
 * @param bytes A record exactly as a store holds it.
 * @returns The document, or `undefined` when the record carries none (or is not a record).
 */
export function heldDocOf(bytes: Uint8Array): AuthoredDoc | undefined {
  let fields: unknown;
  try {
    const record = heldUnpackr.unpack(bytes) as unknown[];
    if (!Array.isArray(record) || record[1] !== RecordKind.immutable) return undefined;
    const payload = record[2];
    if (!(payload instanceof Uint8Array) || !isDocPayload(payload)) return undefined;
    fields = heldUnpackr.unpack(payload.subarray(DOC_MAGIC.length));
  } catch {
    return undefined;
  }
  if (!Array.isArray(fields) || fields.length !== 7) return undefined;
  const [type, author, createdMs] = fields;
  const signed = {
    author: new Uint8Array(author as Uint8Array),
    createdMs: Number(createdMs),
    signature: new Uint8Array(fields[6] as Uint8Array),
  };
  if (type === DocType.thread) {
    return {
      type: "thread",
      ...signed,
      title: looseUtf8.decode(fields[3] as Uint8Array),
      body: looseUtf8.decode(fields[4] as Uint8Array),
      tags: (fields[5] as Uint8Array[]).map((tag) => looseUtf8.decode(tag)),
    };
  }
  if (type !== DocType.message) return undefined;
  return {
    type: "message",
    ...signed,
    thread: NodeId.fromBytes(fields[3] as Uint8Array),
    parent: NodeId.fromBytes(fields[4] as Uint8Array),
    body: looseUtf8.decode(fields[5] as Uint8Array),
  };
}

const heldUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: false });
/** Held text was checked strict when stored: no need to check it again. */
const looseUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The document a record carries, if it carries one.
 *
 * @param record A record.
 * @returns The document for an immutable record whose payload is one; `undefined` for a raw
 *   immutable payload and for mutable records and sets.
 * @throws {RecordError} When the payload has the document header but is not a valid document.
 */
export function docOfRecord(record: DhtRecord): AuthoredDoc | undefined {
  if (record.kind !== RecordKind.immutable || !isDocPayload(record.payload)) return undefined;
  return decodeDoc(record.payload);
}

/**
 * Refuses a document dated too far in the future (see {@link clockSkewMs}). A document from the
 * past is fine: the network keeps old threads.
 *
 * @param doc The document.
 * @param nowMs The checking node's time.
 * @throws {RecordError} When `createdMs` is more than `clockSkewMs` after `nowMs`.
 */
export function checkDocTime(doc: AuthoredDoc, nowMs: number): void {
  if (doc.createdMs > nowMs + clockSkewMs) {
    const aheadS = Math.ceil((doc.createdMs - nowMs) / 1000);
    refuse(`it was written ${aheadS} s in the future (clock skew limit ${clockSkewMs / 1000} s)`);
  }
}

/**
 * The key of an author's profile.
 *
 * @param author The author's public key.
 * @returns The mutable record key of (author, "profile").
 */
export function profileKey(author: Uint8Array): NodeId {
  return mutableKey(author, PROFILE_NAME);
}

/**
 * Checks a profile and signs it as the author's mutable "profile" record.
 *
 * @param author The author's key pair.
 * @param seq The sequence number: higher than the one published before.
 * @param profile The profile.
 * @returns The record, under {@link profileKey} of the author.
 * @throws {ContentError} `CONTENT_INVALID` when a field breaks the rules.
 */
export function signProfile(
  author: Ed25519KeyPair,
  seq: number,
  profile: Profile,
): MutableRecord {
  const problem = isWholeNumber(seq)
    ? profileProblem(profile)
    : "the sequence number must be a whole number, at least 0";
  if (problem) throw new ContentError("CONTENT_INVALID", `Cannot publish profile: ${problem}`);
  return signMutable(author, PROFILE_NAME, seq, profilePayload(profile));
}

/**
 * Decodes a profile record's payload and checks its limits, UTF-8 and canonical form.
 *
 * @param payload The mutable record's payload (its signature is the record's).
 * @returns The profile.
 * @throws {RecordError} Saying what is wrong.
 */
export function decodeProfile(payload: Uint8Array): Profile {
  const fields = unpackArray(payload, "the profile");
  if (fields.length !== 4) refuse("the profile is not a 4-field array");
  const [name, about, keys, updatedMs] = fields;
  if (!Array.isArray(keys) || !keys.every((key) => key instanceof Uint8Array)) {
    refuse("the profile's keys are not a list of byte strings");
  }
  const profile: Profile = {
    name: textOf(name, "the profile's name"),
    about: textOf(about, "the profile's about text"),
    keys: (keys as Uint8Array[]).map((key) => new Uint8Array(key)),
    updatedMs: updatedMs as number,
  };
  const problem = profileProblem(profile);
  if (problem) refuse(problem);
  if (!bytesEqual(profilePayload(profile), payload)) refuse("the profile is not in canonical form");
  return profile;
}

function profilePayload(profile: Profile): Uint8Array {
  const fields = [utf8Encode(profile.name), utf8Encode(profile.about), profile.keys];
  return encodeCanonical([...fields, profile.updatedMs]);
}

/** The signed fields of a document, in wire order, without the signature. */
function docFields(doc: UnsignedDoc): CanonicalValue[] {
  const head = [DocType[doc.type], doc.author, doc.createdMs];
  if (doc.type === "thread") {
    const tags = doc.tags.map(utf8Encode);
    return [...head, utf8Encode(doc.title), utf8Encode(doc.body), tags];
  }
  return [...head, doc.thread.toBytes(), doc.parent.toBytes(), utf8Encode(doc.body)];
}

function signedBytes(doc: UnsignedDoc): Uint8Array {
  return concatBytes(docDomain, encodeCanonical(docFields(doc)));
}

/** The document in decoded fields, checked for shape and limits (not canonical form or signature). */
function docOf(fields: readonly unknown[]): AuthoredDoc {
  const [type, author, createdMs] = fields;
  if (type !== DocType.thread && type !== DocType.message) {
    return refuse(`document type ${describeValue(type)} is unknown`);
  }
  if (fields.length !== 7) refuse("the document is not a 7-field array");
  if (!isBytes(author, ED25519_PUBLIC_KEY_BYTES)) refuse("the author key is not 32 bytes");
  const signature = fields[6];
  if (!isBytes(signature, ED25519_SIGNATURE_BYTES)) refuse("the signature is not 64 bytes");
  const signed = {
    author: new Uint8Array(author as Uint8Array),
    createdMs: createdMs as number,
    signature: new Uint8Array(signature as Uint8Array),
  };
  if (type === DocType.thread) {
    const [, , , title, body, tags] = fields;
    if (!Array.isArray(tags)) refuse("the thread's tags are not a list");
    const doc: ThreadDoc = {
      type: "thread",
      ...signed,
      title: textOf(title, "the title"),
      body: textOf(body, "the body"),
      tags: (tags as unknown[]).map((tag) => textOf(tag, "a tag")),
    };
    const problem = threadProblem(doc.createdMs, doc.title, doc.body, doc.tags);
    if (problem) refuse(problem);
    return doc;
  }
  const [, , , thread, parent, body] = fields;
  if (!isBytes(thread, NODE_ID_BYTES)) refuse("the thread ID is not 20 bytes");
  if (!isBytes(parent, NODE_ID_BYTES)) refuse("the parent ID is not 20 bytes");
  const doc: MessageDoc = {
    type: "message",
    ...signed,
    thread: NodeId.fromBytes(thread as Uint8Array),
    parent: NodeId.fromBytes(parent as Uint8Array),
    body: textOf(body, "the body"),
  };
  const problem = messageProblem(doc.createdMs, doc.body);
  if (problem) refuse(problem);
  return doc;
}

function threadProblem(
  createdMs: unknown,
  title: string,
  body: string,
  tags: string[],
): string | undefined {
  return timeProblem(createdMs) ?? lineProblem(title, "the title", 1, titleBytesMax) ??
    textProblem(body, "the body", 0, bodyBytesMax) ?? tagsProblem(tags);
}

function messageProblem(createdMs: unknown, body: string): string | undefined {
  return timeProblem(createdMs) ?? textProblem(body, "the body", 1, bodyBytesMax);
}

function profileProblem(profile: Profile): string | undefined {
  const keys = profile.keys;
  if (keys.length > profileKeysMax) {
    return `there are ${keys.length} keys, the limit is ${profileKeysMax}`;
  }
  const badKey = keys.findIndex((key) => !isBytes(key, ED25519_PUBLIC_KEY_BYTES));
  if (badKey >= 0) return `key ${badKey + 1} is not 32 bytes`;
  if (new Set(keys.map(toHex)).size !== keys.length) return "a key is listed twice";
  if (!isWholeNumber(profile.updatedMs)) {
    return "the update time must be a whole number of milliseconds since the epoch";
  }
  return lineProblem(profile.name, "the name", 0, profileNameBytesMax) ??
    textProblem(profile.about, "the about text", 0, profileAboutBytesMax);
}

function tagsProblem(tags: string[]): string | undefined {
  if (tags.length > tagsMax) return `there are ${tags.length} tags, the limit is ${tagsMax}`;
  for (const tag of tags) {
    const problem = textProblem(tag, `the tag ${shown(tag)}`, 1, tagBytesMax);
    if (problem) return problem;
    if (!tagPattern.test(tag)) {
      return `the tag ${
        shown(tag)
      } must be lower-case letters, digits and hyphens, not starting with a hyphen`;
    }
  }
  const duplicate = tags.find((tag, i) => tags.indexOf(tag) !== i);
  return duplicate === undefined ? undefined : `the tag ${shown(duplicate)} is listed twice`;
}

function timeProblem(createdMs: unknown): string | undefined {
  return isWholeNumber(createdMs)
    ? undefined
    : "the creation time must be a whole number of milliseconds since the epoch";
}

/** Why `text` is not one line of `bytesMin..bytesMax` bytes. */
function lineProblem(
  text: string,
  what: string,
  bytesMin: number,
  bytesMax: number,
): string | undefined {
  return textProblem(text, what, bytesMin, bytesMax) ??
    (breaksLine(text) ? `${what} holds a control character or line break` : undefined);
}

/**
 * Whether `text` holds a C0 or C1 control character, DEL, or the Unicode line or paragraph
 * separator: none belongs in one line of a listing (and controls can move a terminal's cursor).
 */
function breaksLine(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) {
      return true;
    }
  }
  return false;
}

/** Why `text` is not `bytesMin..bytesMax` bytes of well-formed UTF-8. */
function textProblem(
  text: string,
  what: string,
  bytesMin: number,
  bytesMax: number,
): string | undefined {
  if (typeof text !== "string") return `${what} is not text`;
  // A lone surrogate would be encoded as U+FFFD: the signed text would not be the text given.
  if (loneSurrogate.test(text)) return `${what} is not valid UTF-8 (it holds a lone surrogate)`;
  const bytes = utf8Encode(text).length;
  if (bytes < bytesMin) return bytesMin === 1 ? `${what} is empty` : `${what} is too short`;
  if (bytes > bytesMax) return `${what} is ${bytes} bytes, the limit is ${bytesMax}`;
  return undefined;
}

/** Decodes a binary field holding UTF-8, strictly. */
function textOf(value: unknown, what: string): string {
  if (!(value instanceof Uint8Array)) return refuse(`${what} is not a byte string`);
  try {
    return strictUtf8.decode(value);
  } catch {
    return refuse(`${what} is not valid UTF-8`);
  }
}

function unpackArray(bytes: Uint8Array, what: string): readonly CanonicalValue[] {
  const value = decodeCanonical(bytes, what);
  if (!Array.isArray(value)) return refuse(`${what} is not an array`);
  return value;
}

/** A user's text for an error message: quoted, escaped and cut short. */
function shown(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

function isWholeNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function refuse(what: string): never {
  throw new RecordError(`Cannot accept record: ${what}`);
}
