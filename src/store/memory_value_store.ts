/**
 * A {@link ValueStore} in memory: for the simulator, tests and an embedded node without a disk.
 * It verifies, merges and dates values by the same rules and lifetime policy as the record store,
 * refuses writes past its quota; writes are "durable" at once, and lost with the process.
 *
 * @module
 */

import { bytesEqual } from "../core/bytes.ts";
import type { Clock } from "../core/clock.ts";
import type { RecordClass, RecordClassPolicy } from "../core/config_schema.ts";
import { RhizomeError, StoreError } from "../core/errors.ts";
import type { NodeId } from "../core/node_id.ts";
import { classOfWrite, expiryAfterRead, expiryAfterWrite } from "./lifetime.ts";
import { contentAddressedRules, type RecordRules } from "./record_rules.ts";
import type {
  StoredValue,
  StoreObserver,
  ValueStore,
  ValueStoreStats,
  ValueWrite,
  ValueWritten,
} from "./value_store.ts";

/**
 * What each value costs the quota beyond its bytes: the map entry, its key, the bookkeeping
 * object; about what V8 spends on them, so the quota bounds memory, not just payload.
 */
export const memoryValueOverheadBytes = 256;

/** The budgets of a {@link MemoryValueStore}. */
export interface MemoryStoreQuota {
  /** Bytes it may hold in all, each value counting {@link memoryValueOverheadBytes} more. */
  bytesMax: number;
  /** Values it may hold. */
  recordsMax: number;
}

/** What a {@link MemoryValueStore} is made with. */
export interface MemoryValueStoreOptions {
  /** The only source of time. */
  clock: Clock;
  /** Each record class's lifetimes (the config's `[store]` tables). */
  classes: Record<RecordClass, RecordClassPolicy>;
  /** How values verify and merge; content addressing when absent. */
  rules?: RecordRules;
  /** Its budgets; a write beyond them is refused with `STORE_FULL`. Unbounded when absent. */
  quota?: MemoryStoreQuota;
}

interface Held extends StoredValue {
  readonly class: RecordClass;
}

/** Values in a `Map` keyed by the hex form of their key. */
export class MemoryValueStore implements ValueStore {
  readonly rules: RecordRules;
  readonly #options: MemoryValueStoreOptions;
  readonly #values = new Map<string, Held>();
  #bytes = 0;
  #quota: MemoryStoreQuota;
  #closed = false;
  #observer: StoreObserver | undefined;

  /**
   * Makes an empty store.
   *
   * @param options Clock, record classes and rules.
   */
  constructor(options: MemoryValueStoreOptions) {
    this.#options = options;
    this.rules = options.rules ?? contentAddressedRules;
    this.#quota = options.quota ?? { bytesMax: Infinity, recordsMax: Infinity };
  }

  /**
   * The value under `key`, unless expired.
   *
   * @param key The key.
   * @returns The stored value, or `undefined`.
   */
  get(key: NodeId): StoredValue | undefined {
    const held = this.#values.get(key.toHex());
    return held && held.expiresAtMs > this.#options.clock.nowMs() ? held : undefined;
  }

  /**
   * Verifies, merges and stores a value; `done` runs before this returns.
   *
   * @param write The value.
   * @param done Called once: with what is held, or the refusal.
   */
  put(write: ValueWrite, done: (error?: Error, written?: ValueWritten) => void): void {
    const nowMs = this.#options.clock.nowMs();
    const hex = write.key.toHex();
    const live = this.get(write.key) as Held | undefined;
    let value = write.value;
    try {
      if (this.#closed) {
        throw new StoreError("STORE_UNUSABLE", `Cannot store record ${hex}: the store is closed`);
      }
      if (value.length > this.rules.recordBytesMax) {
        throw new StoreError(
          "RECORD_INVALID",
          `Cannot accept record: ${value.length} bytes, the limit is ${this.rules.recordBytesMax}`,
        );
      }
      // The same bytes as held verified when they were stored: a renewal costs no check.
      if (!live || !bytesEqual(live.value, value)) {
        const verified = this.rules.verify(write.key, value, () => live?.value, nowMs);
        if (live) {
          const merged = this.rules.merge(live.value, verified, nowMs);
          if (merged.outcome === "stale") {
            throw new StoreError("RECORD_STALE", `Cannot store record ${hex}: ${merged.reason}`);
          }
          value = merged.outcome === "keep" ? live.value : merged.bytes;
        }
      }
    } catch (error) {
      return done(
        error instanceof RhizomeError
          ? error
          : new StoreError("RECORD_INVALID", `Cannot accept record: ${String(error)}`),
      );
    }
    const previous = this.#values.get(hex);
    const recordsAfter = this.#values.size + (previous ? 0 : 1);
    const bytesAfter = this.#bytes - (previous?.value.length ?? 0) + value.length;
    const memoryBytes = bytesAfter + recordsAfter * memoryValueOverheadBytes;
    if (recordsAfter > this.#quota.recordsMax || memoryBytes > this.#quota.bytesMax) {
      return done(
        new StoreError(
          "STORE_FULL",
          `Cannot store record ${hex}: the memory store would hold ${recordsAfter} records in ` +
            `${memoryBytes} bytes, its quota is ${this.#quota.recordsMax} records in ` +
            `${this.#quota.bytesMax} bytes`,
        ),
      );
    }
    const recordClass = classOfWrite(undefined, live?.class, write.published);
    const policy = this.#options.classes[recordClass];
    const held: Held = {
      key: write.key,
      value,
      class: recordClass,
      storedAtMs: live?.storedAtMs ?? nowMs,
      expiresAtMs: expiryAfterWrite(policy, nowMs, write.ttlMs, "ttl", live?.expiresAtMs),
      published: write.published || (live?.published ?? false),
    };
    this.#values.set(hex, held);
    this.#bytes = bytesAfter;
    if (!previous || !bytesEqual(previous.value, value)) this.#tell(write.key, value);
    done(undefined, { value, expiresAtMs: held.expiresAtMs });
  }

  /**
   * Extends a held value's lifetime for a read, by its class's policy.
   *
   * @param key The key.
   */
  noteRead(key: NodeId): void {
    const held = this.get(key) as Held | undefined;
    if (!held) return;
    const policy = this.#options.classes[held.class];
    const nowMs = this.#options.clock.nowMs();
    const expiresAtMs = expiryAfterRead(policy, nowMs, held.storedAtMs, held.expiresAtMs);
    this.#values.set(key.toHex(), { ...held, expiresAtMs });
  }

  /**
   * Forgets a value.
   *
   * @param key The key.
   */
  delete(key: NodeId): void {
    const hex = key.toHex();
    const previous = this.#values.get(hex);
    if (!previous) return;
    this.#bytes -= previous.value.length;
    this.#values.delete(hex);
    this.#tell(key, undefined);
  }

  /**
   * Sets who is told of each stored and removed value (one observer; `undefined` for none).
   *
   * @param observer The observer.
   */
  setObserver(observer: StoreObserver | undefined): void {
    this.#observer = observer;
  }

  /** Tells the observer of a change; an observer that throws changes nothing here. */
  #tell(key: NodeId, value: Uint8Array | undefined): void {
    try {
      if (value) this.#observer?.stored(key, value);
      else this.#observer?.removed(key);
    } catch {
      // The observer keeps derived data; the store stays as it is.
    }
  }

  /**
   * Every value held, expired ones included (the DHT's upkeep deletes them): a snapshot, so
   * changes during the walk are safe.
   *
   * @returns The values.
   */
  values(): Iterable<StoredValue> {
    return [...this.#values.values()];
  }

  /**
   * Counts for metrics.
   *
   * @returns Values and bytes held.
   */
  stats(): ValueStoreStats {
    return { values: this.#values.size, bytes: this.#bytes };
  }

  /**
   * Changes the budgets; values already held stay, and writes are refused until below them.
   *
   * @param quota The new budgets.
   */
  setQuota(quota: MemoryStoreQuota): void {
    this.#quota = { ...quota };
  }

  /**
   * Removes the values whose expiry has passed.
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
   * Forgets every value and refuses writes from now on.
   *
   * @returns When closed.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#values.clear();
    this.#bytes = 0;
    return Promise.resolve();
  }
}
