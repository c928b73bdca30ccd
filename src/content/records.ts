/**
 * Records that verify themselves: any node checks a record against its key without trusting the
 * sender. Three kinds (layouts in docs/records.md):
 *
 * 1. immutable: key = the first 160 bits of SHA-256(encoded record);
 * 2. mutable: key derived from the owner's public key and a name; signed by the owner; carries a
 *    sequence number, and a higher sequence replaces a lower one;
 * 3. set: a multi-writer collection under one key; each entry is signed by its writer and has its
 *    own expiry; sets merge by union, keep one entry per writer when the set's policy says so,
 *    and hold at most the policy's count (the lowest-value entries go first).
 *
 * Every record is one MessagePack array after a format version, at most `recordBytesMax` bytes,
 * checked before decoding, in its canonical encoding (`canonical.ts`): bytes that are not exactly
 * the encoding of what they decode to are refused, so a key names one byte string.
 *
 * @module
 */

import { bytesEqual, compareBytes, concatBytes, toHex, utf8Encode } from "../core/bytes.ts";
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  type Ed25519KeyPair,
  ed25519Sign,
  ed25519Verify,
  sha256,
} from "../core/crypto.ts";
import { recordBytesMax, setEntriesMax } from "../core/limits.ts";
import { NODE_ID_BYTES, NodeId } from "../core/node_id.ts";
import { type CanonicalValue, decodeCanonical, encodeCanonical, RecordError } from "./canonical.ts";

export { RecordError };

/**
 * A decoded value from a peer, for an error message: short, and never throwing whatever a peer
 * sent.
 *
 * @param value Anything decoded.
 * @returns A short description.
 */
export function describeValue(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 40 ? `${text.slice(0, 40)}…` : text;
  } catch {
    return typeof value;
  }
}

/**
 * The record format version this build writes and reads. 2: every integer in its shortest
 * MessagePack form (format 1 wrote integers ≥ 2^32 as float64) and only canonical bytes accepted.
 */
export const RECORD_VERSION = 2;

/** The kinds of record. */
export const RecordKind = { immutable: 0, mutable: 1, set: 2 } as const;

/** Longest name of a mutable record or a set, in bytes. */
export const recordNameBytesMax = 64;

/** An immutable record: its key is the hash of its encoding. */
export interface ImmutableRecord {
  /** The kind. */
  kind: typeof RecordKind.immutable;
  /** The content. */
  payload: Uint8Array;
}

/** A mutable record: one owner, a name, a sequence number, the owner's signature. */
export interface MutableRecord {
  /** The kind. */
  kind: typeof RecordKind.mutable;
  /** The owner's Ed25519 public key. */
  owner: Uint8Array;
  /** The record's name under its owner (1..64 bytes). */
  name: Uint8Array;
  /** Higher replaces lower. */
  seq: number;
  /** The content. */
  payload: Uint8Array;
  /** The owner's signature over everything above. */
  signature: Uint8Array;
}

/** One writer's signed entry in a set. */
export interface SetEntry {
  /** The writer's Ed25519 public key. */
  writer: Uint8Array;
  /** The writer's sequence number: with one entry per writer, the higher one wins. */
  seq: number;
  /** When the entry expires, in seconds since the epoch. */
  expiresAtS: number;
  /** The content. */
  payload: Uint8Array;
  /** The writer's signature over the set's key and the fields above. */
  signature: Uint8Array;
}

/** How a set behaves; part of its key, so no writer can change it. */
export interface SetPolicy {
  /** Keep only the highest-sequence entry of each writer (votes), or every entry (indexes). */
  onePerWriter: boolean;
  /** Entries kept at most (1..`setEntriesMax`). */
  entriesMax: number;
}

/** A multi-writer set. */
export interface SetRecord {
  /** The kind. */
  kind: typeof RecordKind.set;
  /** The set's name (1..64 bytes). */
  name: Uint8Array;
  /** Its policy. */
  policy: SetPolicy;
  /** The entries, in canonical order (writer, then sequence). */
  entries: SetEntry[];
}

/** Any record. */
export type DhtRecord = ImmutableRecord | MutableRecord | SetRecord;

const mutableDomain = utf8Encode("rhizome/mutable/v1");
const setDomain = utf8Encode("rhizome/set/v1");
const setEntryDomain = utf8Encode("rhizome/set-entry/v1");

/**
 * The key a record is stored under.
 *
 * @param record The record.
 * @returns Its 160-bit key.
 */
export function recordKey(record: DhtRecord): NodeId {
  switch (record.kind) {
    case RecordKind.immutable:
      return hashKey(encodeRecord(record));
    case RecordKind.mutable:
      return mutableKey(record.owner, record.name);
    case RecordKind.set:
      return setKey(record.name, record.policy);
  }
}

/**
 * The key of an owner's mutable record.
 *
 * @param owner The owner's public key.
 * @param name The record's name.
 * @returns SHA-256("rhizome/mutable/v1" ‖ owner ‖ name) cut to 160 bits.
 */
export function mutableKey(owner: Uint8Array, name: Uint8Array): NodeId {
  return hashKey(mutableDomain, owner, name);
}

/**
 * The key of a set.
 *
 * @param name The set's name.
 * @param policy Its policy (part of the key).
 * @returns SHA-256("rhizome/set/v1" ‖ policy ‖ name) cut to 160 bits.
 */
export function setKey(name: Uint8Array, policy: SetPolicy): NodeId {
  const policyBytes = new Uint8Array([
    policy.onePerWriter ? 1 : 0,
    policy.entriesMax >> 8,
    policy.entriesMax & 0xff,
  ]);
  return hashKey(setDomain, policyBytes, name);
}

/**
 * Makes a signed mutable record.
 *
 * @param owner The owner's key pair.
 * @param name The record's name (1..64 bytes).
 * @param seq The sequence number.
 * @param payload The content.
 * @returns The record.
 */
export function signMutable(
  owner: Ed25519KeyPair,
  name: Uint8Array,
  seq: number,
  payload: Uint8Array,
): MutableRecord {
  const unsigned = { owner: owner.publicKey, name, seq, payload };
  return {
    kind: RecordKind.mutable,
    ...unsigned,
    signature: ed25519Sign(owner, mutableSigned(owner.publicKey, name, seq, payload)),
  };
}

/**
 * Makes a signed set entry.
 *
 * @param writer The writer's key pair.
 * @param key The set's key.
 * @param seq The writer's sequence number.
 * @param expiresAtS When the entry expires (seconds since the epoch).
 * @param payload The content.
 * @returns The entry.
 */
export function signSetEntry(
  writer: Ed25519KeyPair,
  key: NodeId,
  seq: number,
  expiresAtS: number,
  payload: Uint8Array,
): SetEntry {
  const signed = setEntrySigned(key, writer.publicKey, seq, expiresAtS, payload);
  return {
    writer: writer.publicKey,
    seq,
    expiresAtS,
    payload,
    signature: ed25519Sign(writer, signed),
  };
}

/**
 * The bytes of a record.
 *
 * @param record The record.
 * @returns Its encoding.
 * @throws {RecordError} When it would exceed `recordBytesMax`.
 */
export function encodeRecord(record: DhtRecord): Uint8Array {
  let fields: CanonicalValue[];
  switch (record.kind) {
    case RecordKind.immutable:
      fields = [RECORD_VERSION, record.kind, record.payload];
      break;
    case RecordKind.mutable:
      fields = [
        RECORD_VERSION,
        record.kind,
        record.owner,
        record.name,
        record.seq,
        record.payload,
        record.signature,
      ];
      break;
    case RecordKind.set:
      fields = setFields(record);
      break;
  }
  const bytes = encodeCanonical(fields);
  if (bytes.length > recordBytesMax) {
    throw new RecordError(
      `Cannot encode record: ${bytes.length} bytes, the limit is ${recordBytesMax}`,
    );
  }
  return bytes;
}

/**
 * Decodes a record and checks it against the key it was found under: the size before anything
 * else, then the version, the shape, the key and every signature. Nothing about the sender is
 * trusted.
 *
 * @param key The key the record was stored or found under.
 * @param bytes The record's bytes.
 * @param known A version of this set already verified: its identical entries are not checked
 *   again.
 * @returns The record.
 * @throws {RecordError} Saying what is wrong.
 */
export function decodeRecord(key: NodeId, bytes: Uint8Array, known?: DhtRecord): DhtRecord {
  const record = decodeStoredRecord(bytes);
  checkRecord(key, record, known);
  return record;
}

/**
 * Checks a decoded record against its key: the key itself, then every signature.
 *
 * @param key The key the record was stored or found under.
 * @param record The decoded record.
 * @param known A version of this set already verified: its identical entries are not checked
 *   again.
 * @throws {RecordError} Saying what is wrong.
 */
export function checkRecord(key: NodeId, record: DhtRecord, known?: DhtRecord): void {
  if (!recordKey(record).equals(key)) {
    throw new RecordError("Cannot accept record: it does not belong under this key");
  }
  verifySignatures(key, record, known?.kind === RecordKind.set ? known : undefined);
}

/**
 * Decodes a record without checking its key or signatures: for bytes this node verified when it
 * stored them (and whose integrity hash it has checked since). Size, version and shape are
 * still checked.
 *
 * @param bytes The record's bytes.
 * @returns The record.
 * @throws {RecordError} When the bytes are not a well-formed record.
 */
export function decodeStoredRecord(bytes: Uint8Array): DhtRecord {
  if (bytes.length > recordBytesMax) {
    throw new RecordError(
      `Cannot accept record: ${bytes.length} bytes, the limit is ${recordBytesMax}`,
    );
  }
  const fields = decodeCanonical(bytes, "the record");
  if (!Array.isArray(fields) || fields.length < 3) {
    throw new RecordError("Cannot accept record: it is not a record array");
  }
  if (fields[0] !== RECORD_VERSION) {
    throw new RecordError(
      `Cannot accept record: version ${
        describeValue(fields[0])
      } is not supported (expected ${RECORD_VERSION})`,
    );
  }
  const record = recordOf(fields);
  // Every value was in its shortest form and the shape is exact, so this holds; checked anyway,
  // since a key must never name two byte strings.
  if (!bytesEqual(encodeRecord(record), bytes)) {
    throw new RecordError(
      "Cannot accept record: the record is not canonical: it re-encodes otherwise",
    );
  }
  return record;
}

/**
 * Whether `incoming` may replace `held` under the same key: a mutable record needs a higher
 * sequence number; an immutable one is never replaced (it is the same record); sets merge
 * instead (see {@link mergeSets}).
 *
 * @param held The record already stored.
 * @param incoming The new one, already verified.
 * @returns `true` when the incoming record should be stored.
 */
export function replaces(held: MutableRecord, incoming: MutableRecord): boolean {
  return incoming.seq > held.seq;
}

/**
 * The union of two versions of a set, both verified: expired entries dropped, one entry per
 * writer when the policy says so (the highest sequence wins; at equal sequence, the later expiry),
 * exact duplicates removed, and at
 * most `entriesMax` entries in at most `recordBytesMax` bytes, the ones that expire first going first.
 *
 * With an `order` (a kind that ranks its entries, such as search postings), each writer keeps at
 * most its `writerEntriesMax` highest-ranked entries, and the highest-ranked go first instead of
 * the latest to expire.
 *
 * @param a One version.
 * @param b The other (same key, so the same name and policy).
 * @param nowS The time, in seconds since the epoch.
 * @param order How the kind ranks its entries, when it does.
 * @returns The merged set.
 */
export function mergeSets(
  a: SetRecord,
  b: SetRecord,
  nowS: number,
  order?: SetMergeOrder,
): SetRecord {
  const byId = new Map<string, SetEntry>();
  for (const entry of [...a.entries, ...b.entries]) {
    if (entry.expiresAtS <= nowS) continue;
    const writer = toHex(entry.writer);
    const id = a.policy.onePerWriter ? writer : `${writer}:${entry.seq}`;
    const known = byId.get(id);
    // A higher sequence replaces; the same entry signed again with a later expiry renews it;
    // two that differ in nothing else are ordered by signature, so every holder keeps the same.
    if (
      !known || entry.seq > known.seq ||
      (entry.seq === known.seq && entry.expiresAtS > known.expiresAtS) ||
      (entry.seq === known.seq && entry.expiresAtS === known.expiresAtS &&
        compareBytes(entry.signature, known.signature) > 0)
    ) {
      byId.set(id, entry);
    }
  }
  let entries = [...byId.values()];
  if (order) {
    entries = rankedEntries(entries, order);
  } else {
    // Latest expiry first: what is cut to fit goes in the order it would expire anyway.
    entries.sort((x, y) => y.expiresAtS - x.expiresAtS || compareSetEntries(x, y));
  }
  entries = entries.slice(0, a.policy.entriesMax);
  // Two sets that each fit may not fit together: cut by estimated size, then check exactly.
  let bytes = encodeCanonical(setFields({ ...a, entries })).length;
  while (bytes > recordBytesMax) {
    let excess = bytes - recordBytesMax;
    while (excess > 0 && entries.length > 0) excess -= entryBytesEstimate(entries.pop()!);
    bytes = encodeCanonical(setFields({ ...a, entries })).length;
  }
  entries.sort(compareSetEntries);
  return { ...a, entries };
}

/** How a kind of set ranks its entries when merging (see {@link mergeSets}). */
export interface SetMergeOrder {
  /** An entry's rank: higher is kept first. Must be a pure function of the entry. */
  rank(entry: SetEntry): number;
  /** Most entries one writer keeps in the set. */
  writerEntriesMax: number;
}

/** Entries best-ranked first, each writer cut to its cap; ties by later expiry, then bytes. */
function rankedEntries(entries: SetEntry[], order: SetMergeOrder): SetEntry[] {
  const ranks = new Map(entries.map((entry) => [entry, order.rank(entry)]));
  entries.sort((x, y) =>
    ranks.get(y)! - ranks.get(x)! || y.expiresAtS - x.expiresAtS || compareSetEntries(x, y)
  );
  const perWriter = new Map<string, number>();
  return entries.filter((entry) => {
    const writer = toHex(entry.writer);
    const count = (perWriter.get(writer) ?? 0) + 1;
    perWriter.set(writer, count);
    return count <= order.writerEntriesMax;
  });
}

/** An entry's encoded size, at least: its byte fields, two numbers and the array header. */
function entryBytesEstimate(entry: SetEntry): number {
  return entry.writer.length + entry.payload.length + entry.signature.length + 8;
}

function setFields(record: SetRecord): CanonicalValue[] {
  return [
    RECORD_VERSION,
    record.kind,
    record.name,
    record.policy.onePerWriter,
    record.policy.entriesMax,
    record.entries.map((e) => [e.writer, e.seq, e.expiresAtS, e.payload, e.signature]),
  ];
}

function recordOf(fields: readonly unknown[]): DhtRecord {
  const fail = (what: string): never => {
    throw new RecordError(`Cannot accept record: ${what}`);
  };
  switch (fields[1]) {
    case RecordKind.immutable:
      if (fields.length !== 3 || !isBytes(fields[2])) fail("malformed immutable record");
      return { kind: RecordKind.immutable, payload: copy(fields[2] as Uint8Array) };
    case RecordKind.mutable: {
      const [, , owner, name, seq, payload, signature] = fields;
      if (fields.length !== 7) fail("malformed mutable record");
      if (!isBytes(owner, ED25519_PUBLIC_KEY_BYTES)) fail("the owner key is not 32 bytes");
      if (!isName(name)) fail(`the name must be 1..${recordNameBytesMax} bytes`);
      if (!isSeq(seq)) fail("the sequence number is not a whole number");
      if (!isBytes(payload)) fail("the payload is not bytes");
      if (!isBytes(signature, ED25519_SIGNATURE_BYTES)) fail("the signature is not 64 bytes");
      return {
        kind: RecordKind.mutable,
        owner: copy(owner as Uint8Array),
        name: copy(name as Uint8Array),
        seq: seq as number,
        payload: copy(payload as Uint8Array),
        signature: copy(signature as Uint8Array),
      };
    }
    case RecordKind.set: {
      const [, , name, onePerWriter, entriesMax, entries] = fields;
      if (fields.length !== 6) fail("malformed set record");
      if (!isName(name)) fail(`the name must be 1..${recordNameBytesMax} bytes`);
      if (typeof onePerWriter !== "boolean") fail("the policy is malformed");
      if (
        !Number.isInteger(entriesMax) || (entriesMax as number) < 1 ||
        (entriesMax as number) > setEntriesMax
      ) {
        fail(`the set's entry limit must be 1..${setEntriesMax}`);
      }
      if (!Array.isArray(entries) || entries.length > (entriesMax as number)) {
        fail("the set holds more entries than its limit");
      }
      const parsed = (entries as unknown[]).map((entry) => setEntryOf(entry, fail));
      // Canonical, as every merge leaves it: ordered by writer then sequence, no entry twice, one
      // per writer when the policy says so. Otherwise one writer's entry could count many times.
      for (let i = 1; i < parsed.length; i++) {
        const order = compareSetEntries(parsed[i - 1], parsed[i]);
        const sameWriter = bytesEqual(parsed[i - 1].writer, parsed[i].writer);
        if (order >= 0 || (onePerWriter && sameWriter)) {
          fail(
            order > 0
              ? "the set's entries are out of order"
              : "the set holds a writer's entry twice",
          );
        }
      }
      return {
        kind: RecordKind.set,
        name: copy(name as Uint8Array),
        policy: { onePerWriter: onePerWriter as boolean, entriesMax: entriesMax as number },
        entries: parsed,
      };
    }
    default:
      return fail(`kind ${describeValue(fields[1])} is unknown`);
  }
}

function setEntryOf(entry: unknown, fail: (what: string) => never): SetEntry {
  if (!Array.isArray(entry) || entry.length !== 5) return fail("a set entry is malformed");
  const [writer, seq, expiresAtS, payload, signature] = entry;
  if (!isBytes(writer, ED25519_PUBLIC_KEY_BYTES)) fail("a set entry's writer key is not 32 bytes");
  if (!isSeq(seq) || !isSeq(expiresAtS)) fail("a set entry's numbers are malformed");
  if (!isBytes(payload)) fail("a set entry's payload is not bytes");
  if (!isBytes(signature, ED25519_SIGNATURE_BYTES)) fail("a set entry's signature is not 64 bytes");
  return {
    writer: copy(writer),
    seq,
    expiresAtS,
    payload: copy(payload),
    signature: copy(signature),
  };
}

/**
 * Checks the owner's or every writer's signature. An entry of a set identical to one in `known`
 * (a version of the set this node verified before: same writer, sequence and signature bytes)
 * is not verified again, so merging a large set costs only its new entries.
 */
function verifySignatures(key: NodeId, record: DhtRecord, known?: SetRecord): void {
  if (record.kind === RecordKind.mutable) {
    const signed = mutableSigned(record.owner, record.name, record.seq, record.payload);
    if (!ed25519Verify(record.owner, signed, record.signature)) {
      throw new RecordError("Cannot accept record: the owner's signature does not verify");
    }
  }
  if (record.kind === RecordKind.set) {
    const verified = new Map(known?.entries.map((entry) => [toHex(entry.signature), entry]));
    for (const entry of record.entries) {
      if (sameEntry(entry, verified.get(toHex(entry.signature)))) continue;
      const signed = setEntrySigned(key, entry.writer, entry.seq, entry.expiresAtS, entry.payload);
      if (!ed25519Verify(entry.writer, signed, entry.signature)) {
        throw new RecordError("Cannot accept record: a set entry's signature does not verify");
      }
    }
  }
}

function mutableSigned(owner: Uint8Array, name: Uint8Array, seq: number, payload: Uint8Array) {
  return concatBytes(mutableDomain, encodeCanonical([owner, name, seq, payload]));
}

function setEntrySigned(
  key: NodeId,
  writer: Uint8Array,
  seq: number,
  expiresAtS: number,
  payload: Uint8Array,
): Uint8Array {
  const fields = encodeCanonical([key.toBytes(), writer, seq, expiresAtS, payload]);
  return concatBytes(setEntryDomain, fields);
}

function sameEntry(entry: SetEntry, other: SetEntry | undefined): boolean {
  return other !== undefined && entry.seq === other.seq && entry.expiresAtS === other.expiresAtS &&
    bytesEqual(entry.writer, other.writer) && bytesEqual(entry.payload, other.payload);
}

function hashKey(...parts: Uint8Array[]): NodeId {
  return NodeId.fromBytes(sha256(...parts).subarray(0, NODE_ID_BYTES));
}

/**
 * The canonical order of a set's entries: by writer key (bytes), then sequence. A set whose entries
 * are not strictly in this order is refused.
 *
 * @param x One entry.
 * @param y Another.
 * @returns Negative, zero or positive, as for `Array.prototype.sort`.
 */
export function compareSetEntries(x: SetEntry, y: SetEntry): number {
  // Byte order of the writer keys (the order of their hex, without a locale's say in it).
  const byWriter = compareBytes(x.writer, y.writer);
  return byWriter !== 0 ? byWriter : x.seq - y.seq;
}

function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function isBytes(value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.length === length);
}

function isName(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length >= 1 && value.length <= recordNameBytesMax;
}

function isSeq(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
