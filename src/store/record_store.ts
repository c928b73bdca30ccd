/**
 * The record store: one LMDB environment in the data directory holding the records a node keeps,
 * keyed by their DHT key. Every write is verified by the {@link RecordRules} and acknowledged
 * only once its transaction is committed and flushed. Every read checks the record's integrity
 * hash; a record that fails is moved to quarantine and not served. Quotas come from the node
 * type's profile; the eviction order is in `eviction.ts`.
 *
 * Databases in the environment:
 * - `records`: key (20 bytes) → record bytes;
 * - `meta`: key → {@link RecordMeta} (small, so scans never touch records);
 * - `expiry`: expiresAtMs (8 bytes, big-endian) ‖ key → nothing, for the sweep;
 * - `quarantine`: key → MessagePack `[atMs, reason, bytes]`;
 * - `info`: `format` → the store format, checked at open.
 *
 * A second process may open the same file read-only (LMDB readers never block the writer):
 * `rhizome snapshot export` reads a node's store while it runs. Such a reader unmaps the pages
 * its reads mapped every 128 reads, so a walk of the whole store keeps its memory flat
 * (`mapped_pages.ts`).
 *
 * @module
 */

import { type Database, open, type RootDatabase } from "lmdb";
import { Packr } from "msgpackr";
import { getRandomValues } from "node:crypto";
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { assert, AssertionError } from "../core/assert.ts";
import { bytesEqual, toHex } from "../core/bytes.ts";
import type { Clock } from "../core/clock.ts";
import { RECORD_CLASSES, type RecordClass, type RecordClassPolicy } from "../core/config_schema.ts";
import { sha256 } from "../core/crypto.ts";
import { RhizomeError, StoreError } from "../core/errors.ts";
import {
  evictionSampleMax,
  evictionSlackFraction,
  quarantineMax,
  recordOverheadBytes,
  storeDiskFreeBytesMin,
  sweepBatchesMax,
  sweepBatchMax,
  verifyYieldEveryMs,
} from "../core/limits.ts";
import type { Log } from "../core/log.ts";
import { NODE_ID_BYTES, NodeId } from "../core/node_id.ts";
import { describeOsError } from "../core/os_error.ts";
import {
  classScore,
  type EvictionCandidate,
  planEviction,
  type RecordScore,
  type Room,
} from "./eviction.ts";
import { classOfWrite, expiryAfterRead, expiryAfterWrite } from "./lifetime.ts";
import { MappedFilePages } from "./mapped_pages.ts";
import { decodeMeta, encodeMeta, type RecordMeta } from "./record_meta.ts";
import type { RecordRules, VerifiedRecord } from "./record_rules.ts";
import type {
  StoredValue,
  StoreObserver,
  ValueStore,
  ValueStoreStats,
  ValueWrite,
  ValueWritten,
} from "./value_store.ts";

/**
 * How long closing waits for LMDB after a failed commit. Closing normally takes milliseconds; a
 * disk that fails every write could keep lmdb waiting for a flush that never comes, and a node
 * that is stopping must not hang on it.
 */
const storeCloseWaitMs = 5000;

/**
 * The on-disk format this build reads and writes. 2: records of record format 2 (canonical
 * integers); a store of format 1 holds records no node accepts now, and is refused at open.
 */
export const STORE_FORMAT = "rhizome-store/2";

/** What a {@link RecordStore} is opened with. */
export interface RecordStoreOptions {
  /** The LMDB file (its lock file sits beside it, with `-lock` appended). */
  path: string;
  /** How records verify and merge. */
  rules: RecordRules;
  /** The only source of time. */
  clock: Clock;
  /** Each record class's lifetimes (the config's `[store]` tables). */
  classes: Record<RecordClass, RecordClassPolicy>;
  /** The node type's budgets. */
  quota: { bytesMax: number; recordsMax: number };
  /** The value of a record when choosing what to evict; by class when absent. */
  score?: RecordScore;
  /** Open for reading only (a second process beside the running node). */
  readOnly?: boolean;
  /** Where to report quarantined records and failed writes. */
  log?: Log;
  /**
   * Free disk a put must leave on the store's file system, in bytes; {@link storeDiskFreeBytesMin}
   * when absent, 0 for no check (then only a failing commit refuses).
   */
  diskFreeBytesMin?: number;
  /**
   * Measures the free disk, in bytes, or `undefined` when it cannot; `statfs` of the store's
   * directory when absent. Tests inject a full disk here.
   */
  diskFreeBytes?: () => number | undefined;
}

/** How to store a record. */
export interface PutOptions {
  /** Its class; when absent, the held record's, else `personal` if published, else `normal`. */
  class?: RecordClass;
  /**
   * Its lifetime from now, capped at the class's `ttl_max_s` (a restored record), or at its
   * `ttl_s` for a write from the network; the class's `ttl_s` when absent.
   */
  ttlMs?: number;
  /**
   * A write from the DHT (a STORE, a publish, a republish): its lifetime is capped at the class's
   * `ttl_s`, so a copy lives longer only when read or written again.
   */
  fromNetwork?: boolean;
  /** Whether this node publishes it (and republishes it). */
  published?: boolean;
}

/** One record for {@link RecordStore.putRecords}. */
export interface RecordPut {
  /** The record's key. */
  key: NodeId;
  /** The record. */
  bytes: Uint8Array;
  /** Class, lifetime, publisher. */
  options?: PutOptions;
}

/** What a put did. */
export interface PutOutcome {
  /** `stored` (new), `replaced` (newer version or merged set), `renewed` (same bytes kept). */
  status: "stored" | "replaced" | "renewed";
  /** When the record now expires. */
  expiresAtMs: number;
  /** The bytes now held: the incoming ones, the held ones, or both merged. */
  bytes: Uint8Array;
  /** Records evicted to make room. */
  evicted: number;
}

/** A record with everything the store knows of it. */
export interface StoredRecord extends StoredValue {
  /** The kind's name. */
  readonly kind: string;
  /** Its class. */
  readonly class: RecordClass;
  /** When it was last stored or read. */
  readonly activityMs: number;
}

/** A record as {@link RecordStore.readTransactionSnapshot} yields it. */
export interface ExportedRecord {
  /** Its 20-byte key. */
  readonly key: Uint8Array;
  /** The kind's name. */
  readonly kind: string;
  /** Its class. */
  readonly class: RecordClass;
  /** When it was first stored here. */
  readonly storedAtMs: number;
  /** When it expires. */
  readonly expiresAtMs: number;
  /** Whether this node published it. */
  readonly published: boolean;
  /** Its bytes exactly as stored (integrity-checked). */
  readonly bytes: Uint8Array;
}

/** One read transaction's view of the store; see {@link RecordStore.readTransactionSnapshot}. */
export interface RecordStoreSnapshot {
  /** Live records by kind name, counted in the same transaction as `records`. */
  readonly countsByKind: Record<string, number>;
  /** The live, intact records in key order. */
  readonly records: Iterator<ExportedRecord>;
  /**
   * Walks the live, intact records again, in the same transaction (so the same records).
   *
   * @returns A fresh walk in key order.
   */
  walk(): Iterator<ExportedRecord>;
  /**
   * The kind of a live record in this transaction.
   *
   * @param key A 20-byte key.
   * @returns Its kind's name, or `undefined` when it is absent or expired.
   */
  kindOf(key: Uint8Array): string | undefined;
  /** Records left out so far because they failed their integrity check. */
  readonly damaged: number;
  /** Ends the read transaction; the walk yields nothing more. */
  close(): void;
}

/** Records and bytes of one group. */
export interface RecordCount {
  /** Records. */
  records: number;
  /** Bytes of records (without overhead). */
  bytes: number;
}

/** Counts for metrics. */
export interface RecordStoreStats extends ValueStoreStats {
  /** Bytes counted against the disk budget (record bytes plus overhead). */
  quotaBytes: number;
  /** The budgets. */
  quota: { bytesMax: number; recordsMax: number };
  /** By kind name. */
  byKind: Record<string, RecordCount>;
  /** By class. */
  byClass: Record<RecordClass, RecordCount>;
  /** Records evicted for room since open. */
  evicted: number;
  /** Records removed by the expiry sweep since open. */
  expired: number;
  /** Writes refused since open, by reason. */
  refused: { invalid: number; stale: number; full: number };
  /** Reads that failed the integrity check since open. */
  integrityFailures: number;
  /** Records in quarantine now. */
  quarantined: number;
}

/** A record that failed its integrity check. */
export interface QuarantinedRecord {
  /** Its key. */
  key: NodeId;
  /** When it was found. */
  atMs: number;
  /** What was wrong. */
  reason: string;
  /** Its bytes as found (empty when missing). */
  bytes: Uint8Array;
}

type Db = Database<Uint8Array, Uint8Array>;
type StoreChange = { key: Uint8Array; bytes?: Uint8Array };
type Applied = { outcome: PutOutcome } | { refused: StoreError };

const packr = new Packr({ useRecords: false, variableMapSize: true });
const binary = { encoding: "binary", keyEncoding: "binary" } as const;

/** Records on LMDB. Implements the DHT's {@link ValueStore}. */
export class RecordStore implements ValueStore {
  readonly #options: RecordStoreOptions;
  readonly #root: RootDatabase;
  readonly #records: Db;
  readonly #meta: Db;
  readonly #expiry: Db;
  readonly #quarantine: Db;
  readonly #score: RecordScore;
  readonly #retentionMs: Record<RecordClass, number>;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #quarantining = new Set<string>();
  #counts = emptyCounts([]);
  #quota: { bytesMax: number; recordsMax: number };
  #closed = false;
  /** Whether the latest write transaction failed to commit (see {@link close}). */
  #lastCommitFailed = false;
  /** A read-only store's releaser of mapped pages; undefined when writable or unsupported. */
  readonly #mappedPages: MappedFilePages | undefined;
  #releaseMissWarned = false;
  /** Told of changes after each commit; see {@link setObserver}. */
  #observer: StoreObserver | undefined;
  /** The changes of the transaction running now (set only inside {@link #write}'s action). */
  #changes: StoreChange[] | undefined;
  readonly #events = {
    evicted: 0,
    expired: 0,
    refused: { invalid: 0, stale: 0, full: 0 },
    integrityFailures: 0,
  };

  private constructor(options: RecordStoreOptions, root: RootDatabase) {
    this.#options = options;
    this.#root = root;
    this.#records = root.openDB<Uint8Array, Uint8Array>({ name: "records", ...binary });
    this.#meta = root.openDB<Uint8Array, Uint8Array>({ name: "meta", ...binary });
    this.#expiry = root.openDB<Uint8Array, Uint8Array>({ name: "expiry", ...binary });
    this.#quarantine = root.openDB<Uint8Array, Uint8Array>({ name: "quarantine", ...binary });
    this.#score = options.score ?? classScore;
    this.#mappedPages = options.readOnly ? this.#openMappedPages() : undefined;
    this.#quota = { ...options.quota };
    this.#retentionMs = Object.fromEntries(
      RECORD_CLASSES.map((name) => [name, options.classes[name].retention_s * 1000]),
    ) as Record<RecordClass, number>;
  }

  /**
   * Opens (creating when writable) the store.
   *
   * @param options Where, with which rules, budgets and classes.
   * @returns The open store.
   * @throws {StoreError} `STORE_UNUSABLE` when the file cannot be opened or has another format.
   */
  static open(options: RecordStoreOptions): RecordStore {
    const readOnly = options.readOnly ?? false;
    let root: RootDatabase;
    try {
      // No event-turn batching: with it, lmdb starts each batch with a commit promise of its own
      // that nobody awaits, so a commit that fails (disk full) ends the process with an
      // unhandled "Commit failed". Without it, writes made in one turn still share a transaction
      // (lmdb commits them on the next setImmediate), and every commit's promise is a caller's.
      root = open({
        path: options.path,
        maxDbs: 8,
        noSubdir: true,
        readOnly,
        eventTurnBatching: false,
      });
    } catch (error) {
      throw new StoreError(
        "STORE_UNUSABLE",
        `Cannot open the record store ${options.path}: ${describeOsError(error)}`,
        { cause: error },
      );
    }
    try {
      const info = root.openDB({ name: "info", encoding: "string" });
      const format = info.get("format");
      if (format === undefined && !readOnly) {
        info.putSync("format", STORE_FORMAT);
      } else if (format === "rhizome-store/1") {
        // No network of format 1 was deployed: nothing to migrate, so say how to start again.
        throw new StoreError(
          "STORE_UNUSABLE",
          `Cannot open the record store ${options.path}: it holds record format 1 ` +
            `(rhizome-store/1), this rhizome reads format 2 (${STORE_FORMAT}): move it aside ` +
            `and start fresh`,
        );
      } else if (format !== STORE_FORMAT) {
        throw new StoreError(
          "STORE_UNUSABLE",
          `Cannot open the record store ${options.path}: its format is ${
            JSON.stringify(format ?? "missing")
          }, this build reads ${STORE_FORMAT}`,
        );
      }
      const store = new RecordStore(options, root);
      // A read-only store counts when asked (`stats`), since another process writes.
      if (!readOnly) store.#recount();
      return store;
    } catch (error) {
      void root.close();
      if (error instanceof RhizomeError) throw error;
      throw new StoreError(
        "STORE_UNUSABLE",
        `Cannot open the record store ${options.path}: ${describeOsError(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * The rules this store verifies and merges by.
   *
   * @returns The rules it was opened with.
   */
  get rules(): RecordRules {
    return this.#options.rules;
  }

  // --- reads ---

  /**
   * The record under `key`, if held, not expired and intact.
   *
   * @param key The key.
   * @returns The record with its bookkeeping, or `undefined`.
   */
  getRecord(key: NodeId): StoredRecord | undefined {
    this.#assertOpen();
    const keyBytes = key.toBytes();
    const found = this.#readChecked(keyBytes);
    if (!found || found.meta.expiresAtMs <= this.#options.clock.nowMs()) return undefined;
    return this.#storedRecord(key, found.meta, found.bytes);
  }

  /**
   * The value under `key` (the DHT's view of {@link getRecord}).
   *
   * @param key The key.
   * @returns The stored value, or `undefined`.
   */
  get(key: NodeId): StoredValue | undefined {
    return this.getRecord(key);
  }

  /**
   * Every record held, from its metadata only (one snapshot: writes meanwhile do not disturb the
   * walk). Expired records not yet swept are included, as the DHT expects: its upkeep deletes the
   * expired values it meets (check `expiresAtMs`). A record's bytes are read, and checked against
   * their integrity hash, only when its `value` is read: walking a large store costs no hashing.
   *
   * @returns The records, in key order.
   * @throws {StoreError} `STORE_UNUSABLE` from reading `value` when the record is gone or damaged
   *   (then quarantined) since the walk began; use {@link getRecord} to get `undefined` instead.
   */
  *values(): Iterable<StoredRecord> {
    this.#assertOpen();
    for (const { key, value } of this.#meta.getRange({})) {
      const meta = decodeMeta(value);
      const keyBytes = plain(key).slice();
      if (!meta) {
        this.#readChecked(keyBytes); // damaged metadata: reported and quarantined
        continue;
      }
      const recordKey = NodeId.fromBytes(keyBytes);
      const read = () => this.#readChecked(keyBytes);
      yield {
        ...this.#storedRecord(recordKey, meta, new Uint8Array(0)),
        get value(): Uint8Array {
          const found = read();
          if (!found) {
            throw new StoreError(
              "STORE_UNUSABLE",
              `Cannot read record ${recordKey.toHex()}: it is gone or failed its integrity check`,
            );
          }
          return found.bytes;
        },
      };
    }
  }

  /**
   * Every live record with its bookkeeping, all from ONE LMDB read transaction: a consistent
   * point in time however long the caller takes, while another process (the node) keeps
   * writing; LMDB readers never block the writer. Records expired at `nowMs` and records that
   * fail their integrity check are left out (the latter counted in `damaged`; not quarantined
   * here, since a read-only store cannot write). Call `close()` when done: an open read
   * transaction keeps the pages it sees from being reused, so the file grows while it is held.
   *
   * @param nowMs The time that decides what has expired.
   * @returns The counts by kind name and a walk over the records in key order.
   */
  readTransactionSnapshot(nowMs: number): RecordStoreSnapshot {
    this.#assertOpen();
    const transaction = this.#root.useReadTransaction();
    const kindNames = this.#options.rules.kindNames;
    const countsByKind: Record<string, number> = {};
    for (const name of kindNames) countsByKind[name] = 0;
    for (const { value } of this.#meta.getRange({ transaction })) {
      this.#afterRead();
      const meta = decodeMeta(value);
      if (!meta || meta.expiresAtMs <= nowMs) continue;
      const name = kindNames[meta.kind] ?? `kind ${meta.kind}`;
      countsByKind[name] = (countsByKind[name] ?? 0) + 1;
    }
    // By key: a record left out of several walks counts once.
    const damaged = new Set<string>();
    const records = this.#records;
    const metaDb = this.#meta;
    const afterRead = () => this.#afterRead();
    let closed = false;
    function* walk(): Generator<ExportedRecord> {
      for (const { key, value } of metaDb.getRange({ transaction })) {
        if (closed) return;
        const meta = decodeMeta(value);
        if (meta && meta.expiresAtMs <= nowMs) continue;
        const found = records.get(key, { transaction });
        const bytes = found === undefined ? undefined : plain(found).slice();
        afterRead();
        if (
          !meta || !bytes || bytes.length !== meta.bytes || !bytesEqual(sha256(bytes), meta.hash)
        ) {
          damaged.add(toHex(plain(key)));
          continue;
        }
        yield {
          key: plain(key).slice(),
          kind: kindNames[meta.kind] ?? `kind ${meta.kind}`,
          class: meta.class,
          storedAtMs: meta.storedAtMs,
          expiresAtMs: meta.expiresAtMs,
          published: meta.published,
          bytes,
        };
      }
    }
    return {
      countsByKind,
      records: walk(),
      walk,
      kindOf(key: Uint8Array): string | undefined {
        if (closed) return undefined;
        const found = metaDb.get(key, { transaction });
        afterRead();
        const meta = found === undefined ? undefined : decodeMeta(found);
        if (!meta || meta.expiresAtMs <= nowMs) return undefined;
        return kindNames[meta.kind] ?? `kind ${meta.kind}`;
      },
      get damaged() {
        return damaged.size;
      },
      close() {
        if (closed) return;
        closed = true;
        transaction.done();
      },
    };
  }

  /**
   * Records in quarantine.
   *
   * @returns Them, in key order.
   */
  quarantined(): QuarantinedRecord[] {
    this.#assertOpen();
    const found: QuarantinedRecord[] = [];
    for (const { key, value } of this.#quarantine.getRange({})) {
      const [atMs, reason, bytes] = packr.unpack(value) as [number, string, Uint8Array];
      found.push({ key: NodeId.fromBytes(plain(key)), atMs, reason, bytes: new Uint8Array(bytes) });
    }
    return found;
  }

  /**
   * Counts for metrics. A read-only store counts afresh, since another process writes.
   *
   * @returns The counts now.
   */
  stats(): RecordStoreStats {
    this.#assertOpen();
    if (this.#options.readOnly) this.#recount();
    const counts = this.#counts;
    return {
      values: counts.records,
      bytes: counts.bytes,
      quotaBytes: counts.bytes + counts.records * recordOverheadBytes,
      quota: { ...this.#quota },
      byKind: structuredClone(counts.byKind),
      byClass: structuredClone(counts.byClass),
      evicted: this.#events.evicted,
      expired: this.#events.expired,
      refused: { ...this.#events.refused },
      integrityFailures: this.#events.integrityFailures,
      quarantined: this.#quarantine.getCount(),
    };
  }

  // --- writes ---

  /**
   * Verifies a record and stores it, merged with the version held. Resolves once the write is
   * committed and flushed to disk.
   *
   * @param key The record's key.
   * @param bytes The record.
   * @param options Class, lifetime, publisher.
   * @returns What the put did.
   * @throws {StoreError} `RECORD_INVALID` (does not verify), `RECORD_STALE` (older than the held
   *   version), `STORE_FULL` (no room in the quota and nothing evictable, less free disk than
   *   the store keeps, or the disk failed the commit), `STORE_UNUSABLE` (closed, read-only).
   *   Nothing is changed then.
   */
  async putRecord(key: NodeId, bytes: Uint8Array, options: PutOptions = {}): Promise<PutOutcome> {
    this.#assertWritable();
    const verified = this.#verifyForPut({ key, bytes, options });
    const noRoom = this.#diskRefusal(`store record ${key.toHex()}`, verified.bytes.length);
    if (noRoom) {
      this.#events.refused.full++;
      throw noRoom;
    }
    const applied = await this.#write(() => this.#apply(key.toBytes(), verified, options));
    return this.#settled(applied);
  }

  /**
   * {@link putRecord} for many records in one transaction, which costs far less per record than
   * a transaction each (a snapshot import stores hundreds at a time). Each record is verified and
   * applied on its own: one refused does not refuse the others. Resolves once the transaction is
   * committed and flushed to disk. Verifying a batch of signed records takes a while (a set may
   * carry hundreds of signatures), so it yields to the event loop every
   * {@link verifyYieldEveryMs} ms: a running node keeps answering meanwhile.
   *
   * @param puts The records, applied in this order.
   * @returns For each record, what its put did, or the error that refused it: a
   *   {@link StoreError} (`RECORD_INVALID`, `RECORD_STALE`, `STORE_FULL`) or the content rules'
   *   `CONTENT_INVALID`. Less free disk than the store keeps refuses every record `STORE_FULL`.
   * @throws {StoreError} `STORE_FULL` when the disk failed the commit, `STORE_UNUSABLE` (closed,
   *   read-only): nothing is stored then.
   */
  async putRecords(puts: readonly RecordPut[]): Promise<(PutOutcome | RhizomeError)[]> {
    this.#assertWritable();
    const results: (PutOutcome | RhizomeError)[] = [];
    const verified: (VerifiedRecord | undefined)[] = [];
    let sliceStartedMs = performance.now();
    for (const [index, put] of puts.entries()) {
      if (performance.now() - sliceStartedMs >= verifyYieldEveryMs) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        this.#assertWritable();
        sliceStartedMs = performance.now();
      }
      try {
        verified[index] = this.#verifyForPut(put);
      } catch (error) {
        results[index] = error as RhizomeError;
      }
    }
    const batchBytes = verified.reduce((sum, record) => sum + (record?.bytes.length ?? 0), 0);
    const noRoom = this.#diskRefusal(`store ${puts.length} records`, batchBytes);
    if (noRoom) {
      verified.forEach((record, index) => {
        if (!record) return;
        this.#events.refused.full++;
        results[index] = noRoom;
      });
      return results;
    }
    const applied = await this.#write(() =>
      puts.map((put, index) => {
        const record = verified[index];
        return record && this.#apply(put.key.toBytes(), record, put.options ?? {});
      })
    );
    applied.forEach((outcome, index) => {
      if (outcome === undefined) return;
      try {
        results[index] = this.#settled(outcome);
      } catch (refusal) {
        results[index] = refusal as StoreError;
      }
    });
    return results;
  }

  /**
   * The checks of a put before its transaction; throws `RECORD_INVALID` or the content rules'
   * `CONTENT_INVALID`, counted.
   */
  #verifyForPut({ key, bytes, options = {} }: RecordPut): VerifiedRecord {
    const { rules } = this.#options;
    try {
      if (options.ttlMs !== undefined && !(options.ttlMs > 0)) {
        throw new StoreError(
          "RECORD_INVALID",
          `Cannot store record ${key.toHex()}: its TTL is not positive`,
        );
      }
      if (options.class !== undefined && !RECORD_CLASSES.includes(options.class)) {
        throw new StoreError(
          "RECORD_INVALID",
          `Cannot store record ${key.toHex()}: its class ${
            JSON.stringify(options.class)
          } is not one of ${RECORD_CLASSES.join(", ")}`,
        );
      }
      if (bytes.length > rules.recordBytesMax) {
        throw new StoreError(
          "RECORD_INVALID",
          `Cannot accept record: ${bytes.length} bytes, the limit is ${rules.recordBytesMax}`,
        );
      }
      const held = this.#readChecked(key.toBytes());
      // The very bytes held were verified when stored (and hash-checked just now): a renewal or
      // a replica arriving again costs no signature check.
      if (held && bytesEqual(held.bytes, bytes)) return { kind: held.meta.kind, bytes };
      return rules.verify(key, bytes, () => held?.bytes, this.#options.clock.nowMs());
    } catch (error) {
      this.#events.refused.invalid++;
      if (error instanceof RhizomeError) throw error;
      throw new StoreError("RECORD_INVALID", `Cannot accept record: ${String(error)}`);
    }
  }

  /**
   * A committed put's outcome, counted: its evictions (only once committed, so a transaction
   * rolled back counts none), or its refusal, thrown.
   */
  #settled(applied: Applied): PutOutcome {
    if ("refused" in applied) {
      if (applied.refused.code === "RECORD_STALE") this.#events.refused.stale++;
      if (applied.refused.code === "STORE_FULL") this.#events.refused.full++;
      throw applied.refused;
    }
    this.#events.evicted += applied.outcome.evicted;
    return applied.outcome;
  }

  /**
   * Stores a value for the DHT: {@link putRecord} of a write from the network.
   *
   * @param write The value and the lifetime asked for.
   * @param done Called once the write is durable, with what is held; or with the error that
   *   stopped it.
   */
  put(write: ValueWrite, done: (error?: Error, written?: ValueWritten) => void): void {
    const options = { ttlMs: write.ttlMs, published: write.published, fromNetwork: true };
    this.putRecord(write.key, write.value, options).then(
      (outcome) => done(undefined, { value: outcome.bytes, expiresAtMs: outcome.expiresAtMs }),
      (error: Error) => done(error),
    );
  }

  /**
   * Notes a read for the DHT: {@link touch} in the background; a failure is logged.
   *
   * @param key The record's key.
   */
  noteRead(key: NodeId): void {
    this.touch(key).catch((error) =>
      this.#options.log?.warning("cannot extend record {key} for a read: {error}", {
        key: key.toHex(),
        error: describeOsError(error),
      })
    );
  }

  /**
   * Records activity on a record: its expiry moves out by its class's extension, never past the
   * class's cap counted from when it was stored. Writes only when the expiry or the activity time
   * moves by a quarter of the extension, so a hot record's reads stay reads.
   *
   * @param key The record's key.
   * @returns Whether the record is held (and live).
   */
  async touch(key: NodeId): Promise<boolean> {
    this.#assertWritable();
    return await this.#write(() => {
      const keyBytes = key.toBytes();
      const meta = this.#metaAt(keyBytes);
      const nowMs = this.#options.clock.nowMs();
      if (!meta || meta.expiresAtMs <= nowMs) return false;
      const policy = this.#options.classes[meta.class];
      const extensionMs = policy.extension_s * 1000;
      const expiresAtMs = expiryAfterRead(policy, nowMs, meta.storedAtMs, meta.expiresAtMs);
      const moved = Math.max(expiresAtMs - meta.expiresAtMs, nowMs - meta.activityMs);
      if (moved >= extensionMs / 4) {
        this.#writeMeta(keyBytes, meta, { ...meta, expiresAtMs, activityMs: nowMs });
      }
      return true;
    });
  }

  /**
   * Moves a record to another class (the popularity service marks records popular or active).
   *
   * @param key The record's key.
   * @param recordClass The new class.
   * @returns Whether the record is held.
   */
  async setClass(key: NodeId, recordClass: RecordClass): Promise<boolean> {
    this.#assertWritable();
    return await this.#write(() => {
      const keyBytes = key.toBytes();
      const meta = this.#metaAt(keyBytes);
      if (!meta) return false;
      if (meta.class !== recordClass) {
        this.#writeMeta(keyBytes, meta, { ...meta, class: recordClass });
      }
      return true;
    });
  }

  /**
   * Changes the budgets (the node changed type). A smaller budget is reached by evicting as
   * writes come, in the usual order; nothing is evicted at once.
   *
   * @param quota The new budgets.
   */
  setQuota(quota: { bytesMax: number; recordsMax: number }): void {
    this.#quota = { ...quota };
  }

  /**
   * Sets who is told of each stored and removed record once its transaction committed (one
   * observer; `undefined` for none). Changes of a transaction that failed are never told.
   *
   * @param observer The observer.
   */
  setObserver(observer: StoreObserver | undefined): void {
    this.#observer = observer;
  }

  /**
   * Removes a record; resolves once durable.
   *
   * @param key The record's key.
   * @returns Whether it was held.
   */
  async remove(key: NodeId): Promise<boolean> {
    this.#assertWritable();
    return await this.#write(() => {
      const keyBytes = key.toBytes();
      const meta = this.#metaAt(keyBytes);
      this.#removeInTxn(keyBytes, meta);
      return meta !== undefined;
    });
  }

  /**
   * Forgets a value (the DHT's expiry). The removal commits in the background; a failure is
   * logged.
   *
   * @param key The key.
   */
  delete(key: NodeId): void {
    this.remove(key).catch((error) =>
      this.#options.log?.warning("cannot remove record {key}: {error}", {
        key: key.toHex(),
        error: describeOsError(error),
      })
    );
  }

  /**
   * Deletes expired records, oldest expiry first, in batches of {@link sweepBatchMax}; reads and
   * writes go on between batches. At most {@link sweepBatchesMax} batches per call.
   *
   * @returns How many records were removed.
   */
  async sweep(): Promise<number> {
    this.#assertWritable();
    let removed = 0;
    for (let batch = 0; batch < sweepBatchesMax && !this.#closed; batch++) {
      const nowMs = this.#options.clock.nowMs();
      const keys = [...this.#expiry.getKeys({ end: expiryKey(nowMs + 1), limit: sweepBatchMax })];
      if (keys.length === 0) break;
      removed += await this.#write(() => {
        let count = 0;
        for (const indexKey of keys) {
          const keyBytes = plain(indexKey).slice(8);
          const meta = this.#metaAt(keyBytes);
          // Renewed since the batch was listed: its old index entry goes, the record stays.
          if (meta && meta.expiresAtMs > nowMs) {
            if (!bytesEqual(expiryKey(meta.expiresAtMs, keyBytes), plain(indexKey))) {
              this.#expiry.remove(indexKey);
            }
            continue;
          }
          this.#expiry.remove(indexKey);
          // An index entry whose record is gone already (deleted by the DHT's upkeep) is only
          // tidied, not counted.
          if (!meta) continue;
          this.#removeInTxn(keyBytes, meta);
          count++;
        }
        this.#events.expired += count;
        return count;
      });
    }
    return removed;
  }

  /**
   * Waits for pending writes, then closes the environment.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Closed to new calls at once; writes already started finish first.
    this.#closed = true;
    await Promise.allSettled([...this.#pending]);
    // lmdb's close waits for the last commit's flush, which never comes when that commit failed
    // (a full disk): an empty transaction (it writes only the meta page, already on disk) becomes
    // the last one. Should that fail too, the wait is bounded and the process ends regardless.
    if (this.#lastCommitFailed) await this.#root.transaction(() => {}).catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const closed = await Promise.race([
      this.#root.close().then(() => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), storeCloseWaitMs)),
    ]);
    clearTimeout(timer);
    if (!closed) {
      this.#options.log?.warning(
        "the record store {path} did not close within {ms} ms after a failed write",
        { path: this.#options.path, ms: storeCloseWaitMs },
      );
    }
  }

  // --- internals ---

  /**
   * Runs `action` in a child of the next batched write transaction, so an action that throws
   * undoes its own writes and no one else's; resolves after commit and flush.
   */
  async #write<T>(action: () => T): Promise<T> {
    const changes: StoreChange[] = [];
    const observed = () => {
      this.#changes = changes;
      try {
        return action();
      } finally {
        this.#changes = undefined;
      }
    };
    const done = (async () => {
      let result: T;
      try {
        result = await this.#root.childTransaction(observed);
        await this.#root.flushed;
        this.#lastCommitFailed = false;
      } catch (error) {
        this.#lastCommitFailed = true;
        // The transaction's counts were applied in memory but not committed: count afresh.
        this.#recount();
        // A broken invariant is a bug, not a refusal: it must not pass for a full disk.
        if (error instanceof AssertionError) throw error;
        throw await this.#writeFailure(error);
      }
      this.#tell(changes);
      return result;
    })();
    this.#pending.add(done);
    try {
      return await done;
    } finally {
      this.#pending.delete(done);
    }
  }

  /** Tells the observer of a committed transaction's changes; its failures are logged. */
  #tell(changes: readonly StoreChange[]): void {
    const observer = this.#observer;
    if (!observer) return;
    for (const change of changes) {
      try {
        const key = NodeId.fromBytes(change.key);
        if (change.bytes) observer.stored(key, change.bytes);
        else observer.removed(key);
      } catch (error) {
        this.#options.log?.warning("the store's observer failed: {error}", {
          error: String(error),
        });
      }
    }
  }

  /**
   * The refusal of a failed write transaction. A commit that fails (disk full, I/O error) rejects
   * each write with lmdb's "Commit failed" and keeps the real error in a second promise,
   * `commitError`, which rejects too: it is taken here, or it would escape as an unhandled
   * rejection and end the process. Such a failure is `STORE_FULL`, a refusal like a full quota:
   * nothing was written, LMDB rolled the transaction back, and reads and later writes go on.
   */
  async #writeFailure(error: unknown): Promise<StoreError> {
    const commitError = (error as { commitError?: Promise<unknown> } | undefined)?.commitError;
    let cause: unknown = error;
    if (commitError instanceof Promise) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      // lmdb rejects it in the same callback as the writes; the timer only bounds the wait.
      cause = await Promise.race([
        commitError.then(() => error, (reason) => reason),
        new Promise((resolve) => timer = setTimeout(() => resolve(error), 0)),
      ]);
      clearTimeout(timer);
    }
    const path = this.#options.path;
    if (this.#closed) {
      return new StoreError(
        "STORE_UNUSABLE",
        `Cannot write to the record store ${path}: it is closed`,
        { cause },
      );
    }
    const freeBytes = this.#diskFreeBytes();
    const reason = freeBytes !== undefined && freeBytes < storeDiskFreeBytesMin
      ? `the disk is full (${freeBytes} bytes free)`
      : `the disk failed the write (${describeOsError(cause)})`;
    this.#options.log?.warning("record store write refused: {reason}", { reason });
    return new StoreError("STORE_FULL", `Cannot write to the record store ${path}: ${reason}`, {
      cause,
    });
  }

  /**
   * The refusal of a write of `bytes` that would leave less free disk than the store keeps
   * ({@link storeDiskFreeBytesMin}), or `undefined` when there is room or free disk is unknown.
   */
  #diskRefusal(action: string, bytes: number): StoreError | undefined {
    const reserveBytes = this.#diskFreeBytesMin();
    if (reserveBytes <= 0) return undefined;
    const freeBytes = this.#diskFreeBytes();
    if (freeBytes === undefined || freeBytes - bytes >= reserveBytes) return undefined;
    return new StoreError(
      "STORE_FULL",
      `Cannot ${action}: the disk is full (${freeBytes} bytes free at ${
        dirname(this.#options.path)
      }, the store keeps ${reserveBytes} free)`,
    );
  }

  #diskFreeBytesMin(): number {
    return this.#options.diskFreeBytesMin ?? storeDiskFreeBytesMin;
  }

  /** Free disk on the store's file system, or `undefined` when it cannot be measured. */
  #diskFreeBytes(): number | undefined {
    if (this.#options.diskFreeBytes) return this.#options.diskFreeBytes();
    try {
      const stats = statfsSync(dirname(this.#options.path));
      const free = stats.bavail * stats.bsize;
      return Number.isSafeInteger(free) ? free : undefined;
    } catch {
      // No statfs here (or no permission): only a failing commit refuses.
      return undefined;
    }
  }

  /**
   * The write of a verified record, inside the transaction. Refusals are returned, never thrown;
   * only a broken invariant of the store's own throws (an `AssertionError`).
   */
  #apply(keyBytes: Uint8Array, verified: VerifiedRecord, options: PutOptions): Applied {
    const nowMs = this.#options.clock.nowMs();
    const hex = toHex(keyBytes);
    let held = this.#metaAt(keyBytes);
    let heldBytes = held ? this.#recordAt(keyBytes) : undefined;
    if (held && (!heldBytes || !bytesEqual(sha256(heldBytes), held.hash))) {
      // A damaged held version is replaced by the verified incoming one: that is its repair.
      if (!this.#quarantining.has(hex)) this.#events.integrityFailures++;
      this.#quarantineInTxn(
        keyBytes,
        "its bytes do not match their integrity hash",
        heldBytes,
        held,
      );
      held = undefined;
      heldBytes = undefined;
    }
    let bytes = verified.bytes;
    let status: PutOutcome["status"] = "stored";
    if (held && heldBytes && bytesEqual(heldBytes, verified.bytes)) {
      status = "renewed";
    } else if (held && heldBytes) {
      let merged;
      try {
        merged = this.#options.rules.merge(heldBytes, verified, nowMs);
      } catch (error) {
        return {
          refused: new StoreError("RECORD_INVALID", `Cannot merge record ${hex}: ${String(error)}`),
        };
      }
      if (merged.outcome === "stale") {
        return {
          refused: new StoreError("RECORD_STALE", `Cannot store record ${hex}: ${merged.reason}`),
        };
      }
      status = merged.outcome === "keep" ? "renewed" : "replaced";
      bytes = merged.outcome === "keep" ? heldBytes : merged.bytes;
    }
    const recordClass = classOfWrite(options.class, held?.class, options.published ?? false);
    const policy = this.#options.classes[recordClass];
    const cap = options.fromNetwork ? "ttl" : "ttl_max";
    const meta: RecordMeta = {
      kind: verified.kind,
      class: recordClass,
      storedAtMs: held?.storedAtMs ?? nowMs,
      expiresAtMs: expiryAfterWrite(policy, nowMs, options.ttlMs, cap, held?.expiresAtMs),
      activityMs: nowMs,
      bytes: bytes.length,
      hash: status === "renewed" && held ? held.hash : sha256(bytes),
      published: (options.published ?? false) || (held?.published ?? false),
    };
    const quota = this.#quota;
    const counts = this.#counts;
    const need: Room = {
      bytes: counts.bytes + counts.records * recordOverheadBytes + quotaBytes(meta) -
        (held ? quotaBytes(held) : 0) - quota.bytesMax,
      records: counts.records + (held ? 0 : 1) - quota.recordsMax,
    };
    let evicted = 0;
    if (need.bytes > 0 || need.records > 0) {
      const victims = planEviction({
        candidates: this.#evictionCandidates(keyBytes, nowMs),
        need: { bytes: Math.max(0, need.bytes), records: Math.max(0, need.records) },
        // Slack only where the quota is exceeded: a full record count frees records, not bytes.
        want: {
          bytes: need.bytes > 0
            ? need.bytes + Math.floor(quota.bytesMax * evictionSlackFraction)
            : 0,
          records: need.records > 0
            ? need.records + Math.floor(quota.recordsMax * evictionSlackFraction)
            : 0,
        },
        nowMs,
        retentionMs: this.#retentionMs,
        score: this.#score,
        quotaBytes,
      });
      if (!victims) {
        return {
          refused: new StoreError(
            "STORE_FULL",
            `Cannot store record ${hex}: the store is full (${counts.records} of ${quota.recordsMax} records, ${
              counts.bytes + counts.records * recordOverheadBytes
            } of ${quota.bytesMax} bytes) and every other record is inside its guaranteed retention`,
          ),
        };
      }
      for (const victim of victims) this.#removeInTxn(victim.key, victim.meta);
      evicted = victims.length;
    }
    if (status !== "renewed") this.#records.put(keyBytes, bytes);
    this.#writeMeta(keyBytes, held, meta);
    if (status !== "renewed") this.#changes?.push({ key: keyBytes.slice(), bytes });
    // Paired with the integrity check of every read (#readChecked): what was just written, read
    // back in the same transaction, is what the metadata's hash promises. A renewal wrote no
    // bytes, and the held ones were checked above.
    if (status !== "renewed") {
      const written = this.#recordAt(keyBytes);
      assert(
        written !== undefined && written.length === meta.bytes &&
          bytesEqual(sha256(written), meta.hash),
        `the record ${hex} just written matches its metadata's length and hash`,
      );
    }
    return { outcome: { status, expiresAtMs: meta.expiresAtMs, bytes, evicted } };
  }

  /** Expired records first (from the index), then a sample of the rest; never `exclude`. */
  #evictionCandidates(exclude: Uint8Array, nowMs: number): EvictionCandidate[] {
    const seen = new Set<string>([toHex(exclude)]);
    const candidates: EvictionCandidate[] = [];
    const consider = (keyBytes: Uint8Array, meta: RecordMeta | undefined) => {
      const hex = toHex(keyBytes);
      if (!meta || seen.has(hex)) return;
      seen.add(hex);
      candidates.push({ key: keyBytes, meta });
    };
    const expiredKeys = this.#expiry.getKeys({
      end: expiryKey(nowMs + 1),
      limit: evictionSampleMax,
    });
    for (const indexKey of expiredKeys) {
      const keyBytes = plain(indexKey).slice(8);
      consider(keyBytes, this.#metaAt(keyBytes));
    }
    const start = this.#counts.records > evictionSampleMax
      ? getRandomValues(new Uint8Array(NODE_ID_BYTES))
      : undefined;
    const ranges = start ? [{ start }, { end: start }] : [{}];
    for (const range of ranges) {
      for (const { key, value } of this.#meta.getRange({ ...range, limit: evictionSampleMax })) {
        if (candidates.length >= 2 * evictionSampleMax) return candidates;
        consider(plain(key).slice(), decodeMeta(value));
      }
    }
    return candidates;
  }

  /** Writes a record's metadata and expiry index entry, and updates the counts. In a transaction. */
  #writeMeta(keyBytes: Uint8Array, old: RecordMeta | undefined, meta: RecordMeta): void {
    if (old && old.expiresAtMs !== meta.expiresAtMs) {
      this.#expiry.remove(expiryKey(old.expiresAtMs, keyBytes));
    }
    this.#expiry.put(expiryKey(meta.expiresAtMs, keyBytes), new Uint8Array(0));
    this.#meta.put(keyBytes, encodeMeta(meta));
    if (old) this.#count(old, -1);
    this.#count(meta, 1);
    // Paired with the sweep, which trusts the expiry index to find every record: each meta has
    // its entry there, and the meta reads back as written.
    assert(
      this.#expiry.getBinary(expiryKey(meta.expiresAtMs, keyBytes)) !== undefined,
      "every record's metadata has its expiry index entry",
    );
    assert(
      decodeMeta(this.#meta.getBinary(keyBytes)!)?.expiresAtMs === meta.expiresAtMs,
      "a record's metadata reads back as written",
    );
  }

  /** Removes a record with its metadata and index entry. In a transaction. */
  #removeInTxn(keyBytes: Uint8Array, meta: RecordMeta | undefined): void {
    if (meta) this.#changes?.push({ key: keyBytes.slice() });
    this.#records.remove(keyBytes);
    this.#meta.remove(keyBytes);
    if (meta) {
      this.#expiry.remove(expiryKey(meta.expiresAtMs, keyBytes));
      this.#count(meta, -1);
    }
    assert(
      this.#meta.getBinary(keyBytes) === undefined &&
        this.#records.getBinary(keyBytes) === undefined,
      "a removed record leaves neither bytes nor metadata",
    );
  }

  /** Reads a record and checks it against its metadata; quarantines it when damaged. */
  #readChecked(keyBytes: Uint8Array): { meta: RecordMeta; bytes: Uint8Array } | undefined {
    const metaBytes = this.#meta.getBinary(keyBytes);
    if (metaBytes === undefined) return undefined;
    const meta = decodeMeta(metaBytes);
    const bytes = this.#recordAt(keyBytes);
    let problem: string | undefined;
    if (!meta) problem = "its metadata is damaged";
    else if (!bytes) problem = "its bytes are missing";
    else if (bytes.length !== meta.bytes || !bytesEqual(sha256(bytes), meta.hash)) {
      problem = "its bytes do not match their integrity hash";
    }
    if (problem === undefined) return { meta: meta!, bytes: bytes! };
    this.#quarantineLater(keyBytes, problem, bytes);
    return undefined;
  }

  /** Moves a damaged record to quarantine in the background (once per record); counts it. */
  #quarantineLater(keyBytes: Uint8Array, reason: string, bytes: Uint8Array | undefined): void {
    const hex = toHex(keyBytes);
    if (this.#quarantining.has(hex)) return;
    this.#events.integrityFailures++;
    this.#options.log?.error("record {key} failed its integrity check: {reason}; quarantined", {
      key: hex,
      reason,
    });
    if (this.#options.readOnly || this.#closed) return;
    this.#quarantining.add(hex);
    this.#write(() => {
      const meta = this.#metaAt(keyBytes);
      // Rewritten meanwhile by a put that repaired it: nothing to quarantine.
      const current = this.#recordAt(keyBytes);
      if (meta && current && bytesEqual(sha256(current), meta.hash)) return;
      this.#quarantineInTxn(keyBytes, reason, bytes, meta);
    }).catch((error) =>
      this.#options.log?.error("cannot quarantine record {key}: {error}", {
        key: hex,
        error: describeOsError(error),
      })
    ).finally(() => this.#quarantining.delete(hex));
  }

  /** Keeps a damaged record's bytes in quarantine (while there is room) and removes it. */
  #quarantineInTxn(
    keyBytes: Uint8Array,
    reason: string,
    bytes: Uint8Array | undefined,
    meta: RecordMeta | undefined,
  ): void {
    if (this.#quarantine.getCount() < quarantineMax) {
      const entry = packr.pack([this.#options.clock.nowMs(), reason, bytes ?? new Uint8Array(0)]);
      this.#quarantine.put(keyBytes, entry);
    }
    this.#removeInTxn(keyBytes, meta);
  }

  #metaAt(keyBytes: Uint8Array): RecordMeta | undefined {
    const bytes = this.#meta.getBinary(keyBytes);
    return bytes === undefined ? undefined : decodeMeta(bytes);
  }

  #recordAt(keyBytes: Uint8Array): Uint8Array | undefined {
    const bytes = this.#records.getBinary(keyBytes);
    return bytes === undefined ? undefined : plain(bytes);
  }

  #storedRecord(key: NodeId, meta: RecordMeta, bytes: Uint8Array): StoredRecord {
    return {
      key,
      value: bytes,
      expiresAtMs: meta.expiresAtMs,
      storedAtMs: meta.storedAtMs,
      published: meta.published,
      kind: this.#options.rules.kindNames[meta.kind] ?? `kind ${meta.kind}`,
      class: meta.class,
      activityMs: meta.activityMs,
    };
  }

  #count(meta: RecordMeta, sign: 1 | -1): void {
    const counts = this.#counts;
    const kindName = this.#options.rules.kindNames[meta.kind] ?? `kind ${meta.kind}`;
    counts.byKind[kindName] ??= { records: 0, bytes: 0 };
    for (const group of [counts, counts.byKind[kindName], counts.byClass[meta.class]]) {
      group.records += sign;
      group.bytes += sign * meta.bytes;
      // Paired with #recount, which rebuilds the counts from the metadata after a failed write.
      assert(group.records >= 0 && group.bytes >= 0, "record and byte counts are never negative");
    }
  }

  #openMappedPages(): MappedFilePages | undefined {
    try {
      return MappedFilePages.open(this.#options.path);
    } catch (error) {
      // Expected where there is no /proc/self/maps; on Linux it means memory grows with reads.
      if (Deno.build.os === "linux") {
        this.#options.log?.warning(
          "cannot release the mapped pages of {path} ({problem}): a walk of the whole store " +
            "keeps them all resident",
          { path: this.#options.path, problem: (error as Error).message ?? String(error) },
        );
      }
      return undefined;
    }
  }

  /** After a read of a read-only store: its mapped pages are released every so many reads. */
  #afterRead(): void {
    if (this.#mappedPages?.afterRead() !== 0 || this.#releaseMissWarned) return;
    this.#releaseMissWarned = true;
    this.#options.log?.warning(
      "found no mapping of {path} to release (moved or replaced while open?): a walk of the " +
        "whole store keeps its pages resident",
      { path: this.#options.path },
    );
  }

  /** Counts every record afresh from the metadata. */
  #recount(): void {
    this.#counts = emptyCounts(this.#options.rules.kindNames);
    for (const { value } of this.#meta.getRange({})) {
      this.#afterRead();
      const meta = decodeMeta(value);
      if (meta) this.#count(meta, 1);
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new StoreError(
        "STORE_UNUSABLE",
        `Cannot use the record store ${this.#options.path}: it is closed`,
      );
    }
  }

  #assertWritable(): void {
    this.#assertOpen();
    if (this.#options.readOnly) {
      throw new StoreError(
        "STORE_UNUSABLE",
        `Cannot write to the record store ${this.#options.path}: it is open read-only`,
      );
    }
  }
}

interface Counts extends RecordCount {
  byKind: Record<string, RecordCount>;
  byClass: Record<RecordClass, RecordCount>;
}

function emptyCounts(kindNames: readonly string[]): Counts {
  return {
    records: 0,
    bytes: 0,
    byKind: Object.fromEntries(kindNames.map((name) => [name, { records: 0, bytes: 0 }])),
    byClass: Object.fromEntries(
      RECORD_CLASSES.map((name) => [name, { records: 0, bytes: 0 }]),
    ) as Record<
      RecordClass,
      RecordCount
    >,
  };
}

/** What a record counts against the disk budget. */
function quotaBytes(meta: RecordMeta): number {
  return meta.bytes + recordOverheadBytes;
}

/** The expiry index key: time (8 bytes, big-endian) then the record's key (absent: the earliest). */
function expiryKey(atMs: number, keyBytes: Uint8Array = new Uint8Array(0)): Uint8Array {
  const bytes = new Uint8Array(8 + keyBytes.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(atMs))));
  bytes.set(keyBytes, 8);
  return bytes;
}

/** A plain `Uint8Array` view of a Node `Buffer` (no copy). */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}
