/**
 * Where a DHT node keeps the values it holds: an interface with reads that answer at once and
 * writes that report when they are durable, so a STORE is acknowledged only after its write
 * committed. A store is the only verifier of what is written (by its {@link RecordRules}) and the
 * only keeper of lifetimes (its record classes, `lifetime.ts`). The in-memory implementation
 * serves the simulator and tests; the LMDB one, nodes.
 *
 * @module
 */

import type { NodeId } from "../core/node_id.ts";
import type { RecordRules } from "./record_rules.ts";

/** A value held by a node, with the bookkeeping the DHT needs. */
export interface StoredValue {
  /** The value's key. */
  readonly key: NodeId;
  /** The value's bytes. */
  readonly value: Uint8Array;
  /** When the value expires unless republished or read, in ms since the epoch. */
  readonly expiresAtMs: number;
  /** When the value was first stored here. */
  readonly storedAtMs: number;
  /** Whether this node is the value's original publisher (it republishes it). */
  readonly published: boolean;
}

/** A write of a value: the store verifies it, merges it with the held version and dates it. */
export interface ValueWrite {
  /** The value's key. */
  readonly key: NodeId;
  /** The value's bytes, unverified. */
  readonly value: Uint8Array;
  /**
   * The lifetime asked for, in ms (a STORE's remaining lifetime); the store caps it at its
   * class's `ttl_s`, and uses that when absent. A write never shortens an expiry.
   */
  readonly ttlMs?: number;
  /** Whether this node publishes the value (and republishes it). */
  readonly published: boolean;
}

/** What a write left held. */
export interface ValueWritten {
  /** The bytes now held: the incoming ones, the held ones, or both merged. */
  readonly value: Uint8Array;
  /** When they expire. */
  readonly expiresAtMs: number;
}

/** Counts for metrics. */
export interface ValueStoreStats {
  /** Values held. */
  values: number;
  /** Bytes of values held. */
  bytes: number;
}

/**
 * Told of each change to what a store holds, once it is durable: derived data (the search
 * index) follows the store through it. Called synchronously after the commit; an observer that
 * throws is logged by the store and changes nothing in it.
 */
export interface StoreObserver {
  /**
   * A value was stored or replaced (a merged set, a newer mutable record); not called for a
   * renewal that kept the same bytes.
   *
   * @param key The key.
   * @param value The bytes now held.
   */
  stored(key: NodeId, value: Uint8Array): void;
  /**
   * A value is gone: expired, evicted, deleted or quarantined.
   *
   * @param key The key.
   */
  removed(key: NodeId): void;
}

/** A node's values. */
export interface ValueStore {
  /** The rules the store verifies and merges by; the DHT checks its gets' answers by them. */
  readonly rules: RecordRules;

  /**
   * The value under `key`, if held and not known to be expired.
   *
   * @param key The key.
   * @returns The stored value, or `undefined`.
   */
  get(key: NodeId): StoredValue | undefined;

  /**
   * Verifies a value (unless the very same bytes are held: they verified when stored), merges it
   * with the version held and stores the result; `done` runs once the write is durable, or with
   * the error that stopped it (then nothing changed): `RECORD_INVALID` (does not verify),
   * `RECORD_STALE` (older than the held version), `STORE_FULL`, `STORE_UNUSABLE`.
   *
   * @param write The value and how long it should live.
   * @param done Called exactly once.
   */
  put(write: ValueWrite, done: (error?: Error, written?: ValueWritten) => void): void;

  /**
   * Notes a read of a held value: its lifetime is extended by its class's policy, in the
   * background, without verifying anything again; a failure is logged.
   *
   * @param key The key.
   */
  noteRead(key: NodeId): void;

  /**
   * Forgets a value (expired, or evicted).
   *
   * @param key The key.
   */
  delete(key: NodeId): void;

  /**
   * Every value held, in no particular order. The DHT walks this for replication and expiry, so
   * it must tolerate `put` and `delete` between steps. The walk reads only the bookkeeping; the
   * DHT fetches a value with {@link get} when it sends it, so a store may load `value` lazily.
   *
   * @returns The values.
   */
  values(): Iterable<StoredValue>;

  /**
   * Counts for metrics.
   *
   * @returns The counts.
   */
  stats(): ValueStoreStats;
}
