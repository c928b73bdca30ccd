/**
 * Where a DHT node keeps the values it holds: an interface with reads that answer at once and
 * writes that report when they are durable, so a STORE is acknowledged only after its write
 * committed. The in-memory implementation serves the simulator and tests; the LMDB one, nodes.
 *
 * @module
 */

import type { NodeId } from "../core/node_id.ts";

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

/** Counts for metrics. */
export interface ValueStoreStats {
  /** Values held. */
  values: number;
  /** Bytes of values held. */
  bytes: number;
}

/** A node's values. */
export interface ValueStore {
  /**
   * The value under `key`, if held and not known to be expired.
   *
   * @param key The key.
   * @returns The stored value, or `undefined`.
   */
  get(key: NodeId): StoredValue | undefined;

  /**
   * Stores or replaces a value; `done` runs once the write is durable, or with the error that
   * stopped it (then nothing changed).
   *
   * @param entry The value and its bookkeeping.
   * @param done Called exactly once.
   */
  put(entry: StoredValue, done: (error?: Error) => void): void;

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
