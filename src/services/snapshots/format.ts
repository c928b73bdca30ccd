/**
 * The snapshot file format (`docs/snapshots.md`): a gzip stream of length-prefixed frames, each a
 * big-endian u32 length then one MessagePack array. A header frame, one frame per record, and a
 * trailer frame with the record count, the SHA-256 of every uncompressed byte before the trailer,
 * and the exporting node's Ed25519 signature over that hash.
 *
 * gzip because Deno ships it (`CompressionStream`) and every system has the tools to look inside
 * (`zcat`, `gzip -t`); records are mostly signatures and keys, so a stronger codec would gain
 * little. Writing and reading are streamed one frame at a time: memory stays flat whatever the
 * size of the store.
 *
 * Each frame has exactly one encoding: integers, byte strings, booleans and arrays take the
 * canonical forms of records (`src/content/canonical.ts`: shortest unsigned integer whatever its
 * size, shortest headers), and the two things records never hold, `str` (tags, scope, class) and
 * the one map (`countsByKind`, `str` keys), take their shortest headers. The reader re-encodes
 * every frame and refuses one whose bytes differ.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { Packr } from "msgpackr";
import { bytesEqual, concatBytes, toHex, utf8Encode } from "../../core/bytes.ts";
import { RECORD_CLASSES, type RecordClass } from "../../core/config_schema.ts";
import { ed25519Sign, ed25519Verify } from "../../core/crypto.ts";
import { SnapshotError } from "../../core/errors.ts";
import type { Identity } from "../../core/identity.ts";
import { recordBytesMax } from "../../core/limits.ts";
import { NODE_ID_BYTES, NodeId } from "../../core/node_id.ts";
import { type CanonicalValue, encodeCanonical } from "../../content/canonical.ts";

/** The first field of every snapshot's header. */
export const SNAPSHOT_MAGIC = "rhizome-snapshot";
/**
 * The format version this build writes and reads. 3: integers of 2^32 and above (the times) are
 * uint 64, as in records, not float64, and every frame is in its one canonical encoding. Version 2
 * wrote those times as float64; version 1 held format-1 records, which no node accepts now.
 */
export const SNAPSHOT_VERSION = 3;
/** What the trailer's signature covers, before the hash: binds it to this use. */
export const SNAPSHOT_SIGNATURE_CONTEXT = "rhizome/snapshot/v1";
/** The scopes a snapshot may have. */
export const SNAPSHOT_SCOPES = ["all", "global"] as const;
/** What a snapshot holds: every record, or the global indexes and what they reference. */
export type SnapshotScope = typeof SNAPSHOT_SCOPES[number];

/** Largest header frame: a few fixed fields and counts for a handful of kinds. */
export const headerFrameBytesMax: number = 4096;
/** Largest frame after the header: a record plus its key, class, times and framing. */
export const recordFrameBytesMax: number = recordBytesMax + 256;

const FRAME_RECORD = "r";
const FRAME_TRAILER = "t";
const LENGTH_BYTES = 4;

// Decoding only (frames are written by `encodeFrame`): uint 64 as a number, so a time decodes
// to the number that re-encodes to the same bytes.
const packr = new Packr({ useRecords: false, int64AsType: "number" });

/** What a frame holds: record values, plus the `str` tags and the one map of counts. */
type FrameValue = CanonicalValue | string | Record<string, number> | readonly FrameValue[];

/** Header bytes of a length-prefixed MessagePack family: the fix form, then 8/16/32 bits. */
interface HeaderForms {
  fix: number;
  fixMax: number;
  u8?: number;
  u16: number;
  u32: number;
}
const strForms: HeaderForms = { fix: 0xa0, fixMax: 31, u8: 0xd9, u16: 0xda, u32: 0xdb };
const mapForms: HeaderForms = { fix: 0x80, fixMax: 15, u16: 0xde, u32: 0xdf };
const arrayForms: HeaderForms = { fix: 0x90, fixMax: 15, u16: 0xdc, u32: 0xdd };

function lengthHeader(n: number, forms: HeaderForms): Uint8Array {
  if (n <= forms.fixMax) return Uint8Array.of(forms.fix | n);
  if (forms.u8 !== undefined && n <= 0xff) return Uint8Array.of(forms.u8, n);
  if (n <= 0xffff) return Uint8Array.of(forms.u16, n >> 8, n & 0xff);
  const header = new Uint8Array(5);
  header[0] = forms.u32;
  new DataView(header.buffer).setUint32(1, n);
  return header;
}

/**
 * The one encoding of a frame's value.
 *
 * @throws {RangeError} For a number that is not a safe integer, or a value of no frame layout
 *   (what a decoded frame holding a float, nil or extension re-encodes to: not canonical).
 */
function encodeFrameValue(value: FrameValue, parts: Uint8Array[]): void {
  if (typeof value === "string") {
    const bytes = utf8Encode(value);
    parts.push(lengthHeader(bytes.length, strForms), bytes);
  } else if (Array.isArray(value)) {
    parts.push(lengthHeader(value.length, arrayForms));
    for (const item of value) encodeFrameValue(item, parts);
  } else if (typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
    const entries = Object.entries(value);
    parts.push(lengthHeader(entries.length, mapForms));
    for (const [name, count] of entries) {
      if (typeof count !== "number") throw new RangeError("a map value that is not a number");
      encodeFrameValue(name, parts);
      parts.push(encodeCanonical(count));
    }
  } else if (
    typeof value === "number" || typeof value === "boolean" || value instanceof Uint8Array
  ) {
    parts.push(encodeCanonical(value));
  } else {
    throw new RangeError(`a value of no frame layout (${typeof value})`);
  }
}

function encodeFrameBody(fields: readonly FrameValue[]): Uint8Array {
  const parts: Uint8Array[] = [];
  encodeFrameValue(fields, parts);
  return concatBytes(...parts);
}

/** Whether `body` is the one encoding of the values it decoded to. */
function isCanonicalFrame(fields: readonly unknown[], body: Uint8Array): boolean {
  try {
    return bytesEqual(encodeFrameBody(fields as readonly FrameValue[]), body);
  } catch {
    return false;
  }
}

/** The header: who made the snapshot, when, of what. */
export interface SnapshotHeader {
  /** Format version ({@link SNAPSHOT_VERSION}). */
  version: number;
  /** The exporting node's ID. */
  nodeId: NodeId;
  /** Its Ed25519 public key (hashes to `nodeId`). */
  publicKey: Uint8Array;
  /** When the export's read transaction began, ms since the epoch. */
  createdAtMs: number;
  /** What it holds. */
  scope: SnapshotScope;
  /** Records by kind name, counted in the export's read transaction. */
  countsByKind: Record<string, number>;
}

/** One record with the bookkeeping the exporting store kept for it. */
export interface SnapshotRecord {
  /** Its 20-byte key. */
  key: Uint8Array;
  /** Its class. */
  class: RecordClass;
  /** When the exporting node first stored it. */
  storedAtMs: number;
  /** When it expires. */
  expiresAtMs: number;
  /** Whether the exporting node published it. */
  published: boolean;
  /** Its bytes exactly as stored. */
  bytes: Uint8Array;
}

/** The trailer, checked by {@link SnapshotFrameReader}. */
export interface SnapshotTrailer {
  /** Record frames in the file. */
  recordCount: number;
  /** SHA-256 of every uncompressed byte before the trailer frame. */
  hash: Uint8Array;
  /** Ed25519 by the header's key over {@link SNAPSHOT_SIGNATURE_CONTEXT} ‖ `hash`. */
  signature: Uint8Array;
}

/** The message a snapshot's signature covers. */
export function signedMessage(hash: Uint8Array): Uint8Array {
  return concatBytes(utf8Encode(SNAPSHOT_SIGNATURE_CONTEXT), hash);
}

/**
 * Turns a snapshot into frames, hashing as it goes; sign with the node identity at the end.
 */
export class SnapshotFrameWriter {
  readonly #hash: Hash = createHash("sha256");
  readonly #identity: Identity;
  #records = 0;

  /**
   * A writer for one snapshot.
   *
   * @param identity The exporting node's identity, which signs the trailer.
   */
  constructor(identity: Identity) {
    this.#identity = identity;
  }

  /** Records framed so far. */
  get recordCount(): number {
    return this.#records;
  }

  /**
   * The header frame.
   *
   * @param header Scope, time and counts (node ID and key come from the identity).
   * @returns The frame's bytes.
   */
  header(header: Omit<SnapshotHeader, "version" | "nodeId" | "publicKey">): Uint8Array {
    return this.#hashed(frame([
      SNAPSHOT_MAGIC,
      SNAPSHOT_VERSION,
      this.#identity.nodeId.toBytes(),
      this.#identity.keyPair.publicKey,
      header.createdAtMs,
      header.scope,
      header.countsByKind,
    ]));
  }

  /**
   * One record's frame.
   *
   * @param record The record.
   * @returns The frame's bytes.
   */
  record(record: SnapshotRecord): Uint8Array {
    this.#records++;
    return this.#hashed(frame([
      FRAME_RECORD,
      record.key,
      record.class,
      record.storedAtMs,
      record.expiresAtMs,
      record.published,
      record.bytes,
    ]));
  }

  /**
   * The trailer frame: count, hash of everything before it, signature. Call last, once.
   *
   * @returns The frame's bytes.
   */
  trailer(): Uint8Array {
    const hash = new Uint8Array(this.#hash.digest());
    const signature = ed25519Sign(this.#identity.keyPair, signedMessage(hash));
    return frame([FRAME_TRAILER, this.#records, hash, signature]);
  }

  #hashed(bytes: Uint8Array): Uint8Array {
    this.#hash.update(bytes);
    return bytes;
  }
}

function frame(fields: readonly FrameValue[]): Uint8Array {
  const body = encodeFrameBody(fields);
  const bytes = new Uint8Array(LENGTH_BYTES + body.length);
  new DataView(bytes.buffer).setUint32(0, body.length);
  bytes.set(body, LENGTH_BYTES);
  return bytes;
}

/** What {@link SnapshotFrameReader.frames} yields, in file order. */
export type SnapshotFrame =
  | { type: "header"; header: SnapshotHeader }
  | { type: "record"; record: SnapshotRecord }
  | { type: "trailer"; trailer: SnapshotTrailer };

/**
 * Reads a snapshot frame by frame from a gzip stream, never holding more than one frame. It
 * checks framing, sizes (before decoding), the header's magic, version and key, key order, and at
 * the end the count, hash and signature: the trailer is yielded only when all of that holds. It
 * does not check the records themselves (the caller verifies each against its key).
 */
export class SnapshotFrameReader {
  readonly #source: ReadableStream<Uint8Array>;
  readonly #name: string;

  /**
   * A reader of one snapshot's frames.
   *
   * @param compressed The file's bytes (gzip).
   * @param name The file's name, for messages.
   */
  constructor(compressed: ReadableStream<Uint8Array>, name: string) {
    this.#source = compressed;
    this.#name = name;
  }

  /**
   * The frames, checked as described above.
   *
   * @throws {SnapshotError} `SNAPSHOT_INVALID` naming the first problem.
   */
  async *frames(): AsyncGenerator<SnapshotFrame> {
    const gunzip = new DecompressionStream("gzip") as unknown as TransformStream<
      Uint8Array,
      Uint8Array
    >;
    const bytes = new ChunkReader(this.#source.pipeThrough(gunzip));
    const hash = createHash("sha256");
    try {
      const headerBody = await this.#nextFrame(bytes, headerFrameBytesMax, "header");
      if (!headerBody) throw this.#invalid("it is empty");
      hash.update(headerBody.raw);
      const header = this.#decodeHeader(headerBody.body);
      yield { type: "header", header };
      let records = 0;
      let previousKey: Uint8Array | undefined;
      while (true) {
        const next = await this.#nextFrame(bytes, recordFrameBytesMax, "frame");
        if (!next) throw this.#invalid(`it ends after ${records} records without its trailer`);
        const fields = this.#unpack(next.body, `frame ${records + 1}`);
        this.#requireCanonical(fields, next.body, `frame ${records + 1}`);
        if (fields[0] === FRAME_TRAILER) {
          const trailer = this.#decodeTrailer(fields);
          if (trailer.recordCount !== records) {
            throw this.#invalid(
              `its trailer counts ${trailer.recordCount} records, the file holds ${records}`,
            );
          }
          const digest = new Uint8Array(hash.digest());
          if (toHex(digest) !== toHex(trailer.hash)) {
            throw this.#invalid("its hash does not match its contents (damaged or altered)");
          }
          if (!ed25519Verify(header.publicKey, signedMessage(digest), trailer.signature)) {
            throw this.#invalid(
              `its signature is not by node ${header.nodeId.toHex()} (forged or altered)`,
            );
          }
          if (await bytes.read(1)) throw this.#invalid("there are bytes after its trailer");
          yield { type: "trailer", trailer };
          return;
        }
        hash.update(next.raw);
        const record = this.#decodeRecord(fields, records + 1);
        if (previousKey && compareKeys(previousKey, record.key) >= 0) {
          throw this.#invalid(`record ${records + 1} is out of key order or repeated`);
        }
        previousKey = record.key;
        records++;
        yield { type: "record", record };
      }
    } catch (error) {
      if (error instanceof SnapshotError) throw error;
      // DecompressionStream reports a cut or damaged gzip stream as a TypeError.
      throw this.#invalid(
        `it is truncated or not a gzip stream (${String((error as Error).message ?? error)})`,
      );
    } finally {
      await bytes.cancel();
    }
  }

  async #nextFrame(
    bytes: ChunkReader,
    bytesMax: number,
    what: string,
  ): Promise<{ raw: Uint8Array; body: Uint8Array } | undefined> {
    const prefix = await bytes.read(LENGTH_BYTES);
    if (!prefix) return undefined;
    if (prefix.length < LENGTH_BYTES) throw this.#invalid(`it is truncated in a ${what} length`);
    const length = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_BYTES).getUint32(0);
    if (length > bytesMax) {
      throw this.#invalid(`a ${what} is ${length} bytes, the limit is ${bytesMax}`);
    }
    const body = await bytes.read(length);
    if (!body || body.length < length) throw this.#invalid(`it is truncated in a ${what}`);
    return { raw: concatBytes(prefix, body), body };
  }

  #unpack(body: Uint8Array, what: string): unknown[] {
    let fields: unknown;
    try {
      fields = packr.unpack(body);
    } catch {
      throw this.#invalid(`its ${what} is not valid MessagePack`);
    }
    if (!Array.isArray(fields)) throw this.#invalid(`its ${what} is not an array`);
    return fields;
  }

  #requireCanonical(fields: readonly unknown[], body: Uint8Array, what: string): void {
    if (!isCanonicalFrame(fields, body)) {
      throw this.#invalid(
        `its ${what} is not in its one encoding (integers in their shortest form, uint 64 from 2^32; shortest headers)`,
      );
    }
  }

  #decodeHeader(body: Uint8Array): SnapshotHeader {
    const fields = this.#unpack(body, "header");
    if (fields[0] !== SNAPSHOT_MAGIC) throw this.#invalid("it is not a rhizome snapshot");
    if (fields[1] !== SNAPSHOT_VERSION) {
      const older = typeof fields[1] === "number" && fields[1] < SNAPSHOT_VERSION;
      throw this.#invalid(
        `its format version is ${JSON.stringify(fields[1])}, this build reads ${SNAPSHOT_VERSION}${
          older
            ? " (an older build wrote it, and there is no converting: export a new snapshot with this build)"
            : ""
        }`,
      );
    }
    this.#requireCanonical(fields, body, "header");
    const [, version, nodeId, publicKey, createdAtMs, scope, counts] = fields;
    if (
      fields.length !== 7 || !isBytes(nodeId, NODE_ID_BYTES) || !isBytes(publicKey, 32) ||
      !Number.isSafeInteger(createdAtMs) ||
      !(SNAPSHOT_SCOPES as readonly unknown[]).includes(scope) || !isCounts(counts)
    ) {
      throw this.#invalid("its header is malformed");
    }
    const header: SnapshotHeader = {
      version: version as number,
      nodeId: NodeId.fromBytes(new Uint8Array(nodeId)),
      publicKey: new Uint8Array(publicKey),
      createdAtMs: createdAtMs as number,
      scope: scope as SnapshotScope,
      countsByKind: { ...counts },
    };
    if (!NodeId.fromPublicKey(header.publicKey).equals(header.nodeId)) {
      throw this.#invalid("its header's public key does not hash to its node ID");
    }
    return header;
  }

  #decodeRecord(fields: unknown[], index: number): SnapshotRecord {
    const [tag, key, recordClass, storedAtMs, expiresAtMs, published, bytes] = fields;
    if (
      tag !== FRAME_RECORD || fields.length !== 7 || !isBytes(key, NODE_ID_BYTES) ||
      !(RECORD_CLASSES as readonly unknown[]).includes(recordClass) ||
      !Number.isSafeInteger(storedAtMs) || !Number.isSafeInteger(expiresAtMs) ||
      typeof published !== "boolean" || !(bytes instanceof Uint8Array) ||
      bytes.length > recordBytesMax
    ) {
      throw this.#invalid(`record ${index} is malformed`);
    }
    return {
      key: new Uint8Array(key),
      class: recordClass as RecordClass,
      storedAtMs: storedAtMs as number,
      expiresAtMs: expiresAtMs as number,
      published,
      bytes: new Uint8Array(bytes),
    };
  }

  #decodeTrailer(fields: unknown[]): SnapshotTrailer {
    const [, recordCount, hash, signature] = fields;
    if (
      fields.length !== 4 || !Number.isSafeInteger(recordCount) || !isBytes(hash, 32) ||
      !isBytes(signature, 64)
    ) {
      throw this.#invalid("its trailer is malformed");
    }
    return {
      recordCount: recordCount as number,
      hash: new Uint8Array(hash),
      signature: new Uint8Array(signature),
    };
  }

  #invalid(reason: string): SnapshotError {
    return new SnapshotError("SNAPSHOT_INVALID", `Snapshot ${this.#name} is refused: ${reason}`);
  }
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

function isCounts(value: unknown): value is Record<string, number> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return entries.length <= 16 && entries.every(([, count]) => Number.isSafeInteger(count));
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** Reads exact byte counts from a stream of chunks, holding at most one frame's worth. */
class ChunkReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /**
   * The next `length` bytes; fewer when the stream ends first, `undefined` when it had ended.
   */
  async read(length: number): Promise<Uint8Array | undefined> {
    while (this.#buffered < length && !this.#ended) {
      const { value, done } = await this.#reader.read();
      if (done) this.#ended = true;
      else if (value.length > 0) {
        this.#chunks.push(value);
        this.#buffered += value.length;
      }
    }
    if (this.#buffered === 0 && length > 0) return undefined;
    const take = Math.min(length, this.#buffered);
    const out = new Uint8Array(take);
    let filled = 0;
    while (filled < take) {
      const chunk = this.#chunks[0];
      const part = Math.min(chunk.length, take - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(part);
    }
    this.#buffered -= take;
    return out;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
