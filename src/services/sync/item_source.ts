/**
 * A store's records as sync items: the live records a filter selects, each with its ID (SHA-256
 * of its bytes) and its time. Built once per session from the store's own walk; both sides build
 * theirs by the same filter, so they reconcile the same subset.
 *
 * @module
 */

import { compareBytes } from "../../core/bytes.ts";
import { sha256 } from "../../core/crypto.ts";
import { RhizomeError } from "../../core/errors.ts";
import type { ValueStore } from "../../store/value_store.ts";
import { type SyncItem, SyncItemSet } from "./items.ts";
import { recordFacts } from "./record_facts.ts";
import type { SyncFilter } from "./wire.ts";

/**
 * Items one session holds. Each costs about 250 bytes of memory (two byte arrays and an object),
 * so a million cost about 250 MB; a store with more live records is synced in parts (a key range
 * each). At the limit: the session is refused with a one-line reason naming the limit.
 */
export const SYNC_ITEMS_MAX = 1_000_000;

/**
 * The sync items of a store's live records that `filter` selects.
 *
 * @param store The store.
 * @param filter What the session covers.
 * @param nowMs Records expired by then are left out.
 * @returns The items, sorted.
 * @throws {RhizomeError} `INVALID_INPUT` over {@link SYNC_ITEMS_MAX} items.
 */
export function collectItems(store: ValueStore, filter: SyncFilter, nowMs: number): SyncItemSet {
  const items: SyncItem[] = [];
  for (const held of store.values()) {
    if (held.expiresAtMs <= nowMs) continue;
    const key = held.key.toBytes();
    if (filter.keys) {
      if (compareBytes(key, filter.keys.low) < 0 || compareBytes(key, filter.keys.high) > 0) {
        continue;
      }
    }
    let bytes: Uint8Array;
    try {
      bytes = held.value;
    } catch {
      continue; // gone or damaged since the walk began: the store quarantined it
    }
    const facts = recordFacts(bytes);
    if (filter.time && (facts.timeS < filter.time.fromS || facts.timeS >= filter.time.toS)) {
      continue;
    }
    if (filter.categories !== undefined && (filter.categories & (1 << facts.category)) === 0) {
      continue;
    }
    if (items.length >= SYNC_ITEMS_MAX) {
      throw new RhizomeError(
        "INVALID_INPUT",
        `Cannot sync: over ${SYNC_ITEMS_MAX} records match; sync a key range at a time`,
      );
    }
    items.push({ timeS: facts.timeS, id: sha256(bytes), key });
  }
  return new SyncItemSet(items);
}

/**
 * Whether a record falls inside a filter (the client checks every record it receives: a server
 * must not widen the session).
 *
 * @param key The record's key.
 * @param bytes The record.
 * @param filter The session's filter.
 * @returns `true` when it matches.
 */
export function matchesFilter(key: Uint8Array, bytes: Uint8Array, filter: SyncFilter): boolean {
  if (filter.keys) {
    if (compareBytes(key, filter.keys.low) < 0 || compareBytes(key, filter.keys.high) > 0) {
      return false;
    }
  }
  if (!filter.time && filter.categories === undefined) return true;
  const facts = recordFacts(bytes);
  if (filter.time && (facts.timeS < filter.time.fromS || facts.timeS >= filter.time.toS)) {
    return false;
  }
  return filter.categories === undefined || (filter.categories & (1 << facts.category)) !== 0;
}
