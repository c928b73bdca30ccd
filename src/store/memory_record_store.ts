/**
 * A record store in memory, for a node that keeps nothing on disk (a node embedded in another
 * program, a test): the same {@link RecordRules} as the LMDB store verify and merge every record
 * written, and a quota bounds what it holds. Writes are "durable" at once, and everything is lost
 * when the process ends.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import { RhizomeError, StoreError } from "../core/errors.ts";
import type { NodeId } from "../core/node_id.ts";
import type { RecordRules } from "./record_rules.ts";
import type { StoredValue, ValueStore, ValueStoreStats } from "./value_store.ts";

/**
 * Memory a record takes besides its bytes, counted against the quota: its key as hex text (40
 * characters), the bookkeeping object and the map entry, about 200 bytes in V8, rounded up. So a
 * quota in bytes bounds the memory held even when the records are tiny.
 */
export const memoryRecordOverheadBytes = 256;

/** The budgets of a {@link MemoryRecordStore}. */
export interface MemoryStoreQuota {
  /** Bytes it may hold in all, each record counting {@link memoryRecordOverheadBytes} more. */
  bytesMax: number;
  /** Records it may hold. */
  recordsMax: number;
}

/** What a {@link MemoryRecordStore} is made with. */
export interface MemoryRecordStoreOptions {
  /** How records verify and merge. */
  rules: RecordRules;
  /** The only source of time: a record whose expiry has passed is no longer served. */
  clock: Clock;
  /** Its budgets; a write beyond them is refused with `STORE_FULL`. */
  quota: MemoryStoreQuota;
}

/**
 * Records in a `Map` keyed by the hex form of their key. Unlike the LMDB store it evicts nothing:
 * a write past the quota is refused (memory has no cheaper tier to fall back on, and a program
 * that embeds a node chooses its budget), and record classes are not kept (a copy lives as long
 * as the DHT's put or STORE asked, which the DHT caps).
 */
export class MemoryRecordStore implements ValueStore {
  readonly #options: MemoryRecordStoreOptions;
  readonly #records = new Map<string, StoredValue>();
  #quota: MemoryStoreQuota;
  #bytes = 0;
  #closed = false;

  /** @param options Rules, clock and quota. */
  constructor(options: MemoryRecordStoreOptions) {
    this.#options = options;
    this.#quota = { ...options.quota };
  }

  /**
   * The live record under `key`.
   *
   * @param key The key.
   * @returns The stored record, or `undefined` (also once it expired, or the store closed).
   */
  get(key: NodeId): StoredValue | undefined {
    const held = this.#records.get(key.toHex());
    if (held === undefined || held.expiresAtMs <= this.#options.clock.nowMs()) return undefined;
    return held;
  }

  /**
   * Verifies a record under its key, merges it with the version held, and keeps it; `done` runs
   * before this returns.
   *
   * @param entry The record and its bookkeeping.
   * @param done Called once: without an error when kept, else with the refusal: the rules'
   *   (`RECORD_INVALID`, `CONTENT_INVALID`) or a {@link StoreError} (`RECORD_STALE`,
   *   `STORE_FULL`, `STORE_UNUSABLE` once closed).
   */
  put(entry: StoredValue, done: (error?: Error) => void): void {
    let error: RhizomeError | undefined;
    try {
      this.#put(entry);
    } catch (caught) {
      // The rules' own refusals (RECORD_INVALID, CONTENT_INVALID) pass as they are, as in the
      // LMDB store.
      error = caught instanceof RhizomeError ? caught : new StoreError(
        "RECORD_INVALID",
        `Cannot accept record ${entry.key.toHex()}: ${
          caught instanceof Error ? caught.message : String(caught)
        }`,
        { cause: caught },
      );
    }
    done(error);
  }

  #put(entry: StoredValue): void {
    const hex = entry.key.toHex();
    if (this.#closed) throw new StoreError("STORE_UNUSABLE", `Cannot store ${hex}: store closed`);
    const { rules, clock } = this.#options;
    if (entry.value.length > rules.recordBytesMax) {
      throw new StoreError(
        "RECORD_INVALID",
        `Cannot accept record: ${entry.value.length} bytes, the limit is ${rules.recordBytesMax}`,
      );
    }
    const held = this.get(entry.key);
    const verified = rules.verify(entry.key, entry.value, () => held?.value);
    let bytes = entry.value;
    if (held !== undefined) {
      const merged = rules.merge(held.value, verified, clock.nowMs());
      if (merged.outcome === "stale") {
        throw new StoreError("RECORD_STALE", `Cannot store ${hex}: ${merged.reason}`);
      }
      bytes = merged.outcome === "replace" ? merged.bytes : held.value;
    }
    const heldBytes = this.#records.get(hex)?.value.length;
    const recordsAfter = this.#records.size + (heldBytes === undefined ? 1 : 0);
    const bytesAfter = this.#bytes - (heldBytes ?? 0) + bytes.length;
    const memoryBytes = bytesAfter + recordsAfter * memoryRecordOverheadBytes;
    if (recordsAfter > this.#quota.recordsMax || memoryBytes > this.#quota.bytesMax) {
      throw new StoreError(
        "STORE_FULL",
        `Cannot store ${hex}: the memory store would hold ${recordsAfter} records in ` +
          `${memoryBytes} bytes, its quota is ${this.#quota.recordsMax} records in ` +
          `${this.#quota.bytesMax} bytes`,
      );
    }
    this.#records.set(hex, {
      key: entry.key,
      value: bytes,
      // A renewal never shortens a copy's life, as in the LMDB store.
      expiresAtMs: Math.max(entry.expiresAtMs, held?.expiresAtMs ?? 0),
      storedAtMs: held?.storedAtMs ?? entry.storedAtMs,
      published: entry.published || (held?.published ?? false),
    });
    this.#bytes = bytesAfter;
  }

  /**
   * Forgets a record.
   *
   * @param key The key.
   */
  delete(key: NodeId): void {
    const hex = key.toHex();
    const held = this.#records.get(hex);
    if (held === undefined) return;
    this.#bytes -= held.value.length;
    this.#records.delete(hex);
  }

  /**
   * Every record held, expired ones included until swept (a copy, so changes during the walk are
   * safe).
   *
   * @returns The records.
   */
  values(): Iterable<StoredValue> {
    return [...this.#records.values()];
  }

  /**
   * Counts for metrics.
   *
   * @returns Records held, and their bytes (without the overhead the quota counts).
   */
  stats(): ValueStoreStats {
    return { values: this.#records.size, bytes: this.#bytes };
  }

  /**
   * Changes the budgets; records already held stay, and writes are refused until below them.
   *
   * @param quota The new budgets.
   */
  setQuota(quota: MemoryStoreQuota): void {
    this.#quota = { ...quota };
  }

  /**
   * Removes the records whose expiry has passed.
   *
   * @returns How many were removed.
   */
  sweep(): Promise<number> {
    const nowMs = this.#options.clock.nowMs();
    let removed = 0;
    for (const held of this.values()) {
      if (held.expiresAtMs > nowMs) continue;
      this.delete(held.key);
      removed++;
    }
    return Promise.resolve(removed);
  }

  /**
   * Forgets every record and refuses writes from now on.
   *
   * @returns When closed.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#records.clear();
    this.#bytes = 0;
    return Promise.resolve();
  }
}
