/**
 * A {@link ValueStore} in memory: for the simulator and tests. Writes are "durable" at once.
 *
 * @module
 */

import type { NodeId } from "../core/node_id.ts";
import type { StoredValue, ValueStore, ValueStoreStats } from "./value_store.ts";

/** Values in a `Map` keyed by the hex form of their key. */
export class MemoryValueStore implements ValueStore {
  readonly #values = new Map<string, StoredValue>();
  #bytes = 0;

  /**
   * The value under `key`.
   *
   * @param key The key.
   * @returns The stored value, or `undefined`.
   */
  get(key: NodeId): StoredValue | undefined {
    return this.#values.get(key.toHex());
  }

  /**
   * Stores or replaces a value; `done` runs before this returns.
   *
   * @param entry The value.
   * @param done Called once, without an error.
   */
  put(entry: StoredValue, done: (error?: Error) => void): void {
    const hex = entry.key.toHex();
    const previous = this.#values.get(hex);
    if (previous) this.#bytes -= previous.value.length;
    this.#values.set(hex, entry);
    this.#bytes += entry.value.length;
    done();
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
  }

  /**
   * Every value held (a snapshot, so changes during the walk are safe).
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
}
