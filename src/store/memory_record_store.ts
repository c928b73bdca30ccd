/**
 * A {@link ValueStore} in memory that keeps records as the record store does: each put verified
 * by the {@link RecordRules} and merged with the live version held (a set gains the incoming
 * entries, a mutable record takes only a higher sequence), the lifetime never shortened. For the
 * simulator, whose nodes must hold discussion indexes as real ones do: a plain memory store
 * would let each one-entry set replace the whole set held.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import { RhizomeError, StoreError } from "../core/errors.ts";
import { MemoryValueStore } from "./memory_value_store.ts";
import type { RecordRules } from "./record_rules.ts";
import type { StoredValue } from "./value_store.ts";

/** Records in memory, verified and merged on every put. */
export class MemoryRecordStore extends MemoryValueStore {
  readonly #rules: RecordRules;
  readonly #clock: Clock;

  /**
   * Makes an empty store.
   *
   * @param rules How records verify and merge.
   * @param clock The time held versions expire and set entries lapse at.
   */
  constructor(rules: RecordRules, clock: Clock) {
    super();
    this.#rules = rules;
    this.#clock = clock;
  }

  /**
   * Verifies a record and stores it, merged with the live version held; `done` runs before this
   * returns.
   *
   * @param entry The record and its lifetime.
   * @param done Called once: without an error when stored (or the held version already had it
   *   all), else with a `StoreError`: `RECORD_INVALID` (it does not verify under its key) or
   *   `RECORD_STALE` (older than the version held). Nothing changes then.
   */
  override put(entry: StoredValue, done: (error?: Error) => void): void {
    const nowMs = this.#clock.nowMs();
    const previous = this.get(entry.key);
    const held = previous !== undefined && previous.expiresAtMs > nowMs ? previous : undefined;
    let verified;
    try {
      verified = this.#rules.verify(entry.key, entry.value, () => held?.value);
    } catch (error) {
      if (!(error instanceof RhizomeError)) throw error;
      return done(
        new StoreError(
          "RECORD_INVALID",
          `Cannot store record ${entry.key.toHex()}: ${error.message}`,
        ),
      );
    }
    if (held === undefined) return super.put(entry, done);
    const merged = this.#rules.merge(held.value, verified, nowMs);
    if (merged.outcome === "stale") {
      return done(
        new StoreError(
          "RECORD_STALE",
          `Cannot store record ${entry.key.toHex()}: ${merged.reason}`,
        ),
      );
    }
    super.put({
      key: entry.key,
      value: merged.outcome === "keep" ? held.value : merged.bytes,
      expiresAtMs: Math.max(held.expiresAtMs, entry.expiresAtMs),
      storedAtMs: held.storedAtMs,
      published: held.published || entry.published,
    }, done);
  }
}
