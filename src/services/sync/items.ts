/**
 * The items a sync reconciles, sorted, with the range fingerprints of range-based set
 * reconciliation (the negentropy protocol's): an item is a (time, ID) pair, items sort by time
 * then by ID bytes, and the fingerprint of a range is SHA-256 over the sum of its IDs modulo
 * 2^256 (little-endian) and its item count (a varint), cut to 16 bytes. Sums are additive, so
 * a prefix-sum table gives any range's fingerprint in O(1) after an O(n) build.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";
import { compareBytes } from "../../core/bytes.ts";
import { sha256 } from "../../core/crypto.ts";
import { encodeVarint } from "./varint.ts";

/** Bytes of an item's ID: SHA-256 of the record's bytes, so each version of a record is one ID. */
export const SYNC_ID_BYTES = 32;

/** Bytes of a range fingerprint (negentropy's size: 2^-128 for two differing ranges to match). */
export const FINGERPRINT_BYTES = 16;

/** One record as the sync sees it. */
export interface SyncItem {
  /** The record's time, in seconds since the epoch (0 when it carries none). */
  readonly timeS: number;
  /** SHA-256 of the record's bytes. */
  readonly id: Uint8Array;
  /** The record's 20-byte DHT key. */
  readonly key: Uint8Array;
}

/**
 * A point in the item order: items below it have a lower time, or the same time and an ID below
 * `idPrefix` padded with zero bytes. `timeS` Infinity is the end of the order.
 */
export interface Bound {
  /** Time, or `Infinity` for the end. */
  readonly timeS: number;
  /** 0..32 bytes of ID. */
  readonly idPrefix: Uint8Array;
}

/** The bound before every item. */
export const BOUND_START: Bound = Object.freeze({ timeS: 0, idPrefix: new Uint8Array(0) });
/** The bound after every item. */
export const BOUND_END: Bound = Object.freeze({ timeS: Infinity, idPrefix: new Uint8Array(0) });

/**
 * The order of items: by time, then by ID bytes.
 *
 * @param a One item.
 * @param b Another.
 * @returns Negative, zero or positive.
 */
export function compareItems(a: SyncItem, b: SyncItem): number {
  return a.timeS !== b.timeS ? (a.timeS < b.timeS ? -1 : 1) : compareBytes(a.id, b.id);
}

/**
 * Whether an item lies below a bound.
 *
 * @param item The item.
 * @param bound The bound.
 * @returns `true` when the item sorts before the bound.
 */
export function itemBelow(item: SyncItem, bound: Bound): boolean {
  if (item.timeS !== bound.timeS) return item.timeS < bound.timeS;
  const prefix = bound.idPrefix;
  for (let i = 0; i < prefix.length; i++) {
    if (item.id[i] !== prefix[i]) return item.id[i] < prefix[i];
  }
  // Equal over the prefix: the bound pads with zeros, so the item is not below it.
  return false;
}

/**
 * The shortest bound that lies above `prev` and at or below `next` (two adjacent items): the
 * next item's time alone when the times differ, else as many ID bytes as tell them apart.
 *
 * @param prev The last item of a range.
 * @param next The first item of the next.
 * @returns The bound between them.
 */
export function boundBetween(prev: SyncItem, next: SyncItem): Bound {
  if (prev.timeS !== next.timeS) return { timeS: next.timeS, idPrefix: new Uint8Array(0) };
  let shared = 0;
  while (shared < SYNC_ID_BYTES && prev.id[shared] === next.id[shared]) shared++;
  assert(shared < SYNC_ID_BYTES, "two items in a sync set have the same ID");
  return { timeS: next.timeS, idPrefix: next.id.slice(0, shared + 1) };
}

/** Items sorted, deduplicated by ID, with a prefix-sum table for fingerprints. */
export class SyncItemSet {
  readonly #items: SyncItem[];
  /** Word i of prefix sum j is at `j * 8 + i`: eight u32 words, least significant first. */
  readonly #sums: Uint32Array;

  /**
   * Sorts and indexes items (a second copy of one ID is dropped).
   *
   * @param items The items, in any order.
   */
  constructor(items: Iterable<SyncItem>) {
    const sorted = [...items].sort(compareItems);
    const unique: SyncItem[] = [];
    for (const item of sorted) {
      assert(item.id.length === SYNC_ID_BYTES, "a sync item's ID is 32 bytes");
      const last = unique[unique.length - 1];
      if (last && compareBytes(last.id, item.id) === 0) continue;
      unique.push(item);
    }
    this.#items = unique;
    this.#sums = new Uint32Array((unique.length + 1) * 8);
    for (let j = 0; j < unique.length; j++) {
      const id = unique[j].id;
      let carry = 0;
      for (let w = 0; w < 8; w++) {
        const o = w * 4;
        const word = id[o] | (id[o + 1] << 8) | (id[o + 2] << 16) | (id[o + 3] << 24);
        const total = this.#sums[j * 8 + w] + (word >>> 0) + carry;
        this.#sums[(j + 1) * 8 + w] = total >>> 0;
        carry = total > 0xffffffff ? 1 : 0;
      }
    }
  }

  /** Items held. */
  get size(): number {
    return this.#items.length;
  }

  /**
   * The item at an index.
   *
   * @param index 0..size-1.
   * @returns The item.
   */
  at(index: number): SyncItem {
    const item = this.#items[index];
    assert(item !== undefined, `sync item index ${index} out of range`);
    return item;
  }

  /**
   * The first index at or after `from` whose item is not below `bound`.
   *
   * @param from Where to start (items before it are known to be below).
   * @param bound The bound.
   * @returns An index in from..size.
   */
  lowerBound(from: number, bound: Bound): number {
    let lo = from;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (itemBelow(this.#items[mid], bound)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The fingerprint of the items in `[lower, upper)`.
   *
   * @param lower First index.
   * @param upper One past the last.
   * @returns 16 bytes.
   */
  fingerprint(lower: number, upper: number): Uint8Array {
    assert(0 <= lower && lower <= upper && upper <= this.#items.length, "fingerprint range");
    const sum = new Uint8Array(32);
    let borrow = 0;
    for (let w = 0; w < 8; w++) {
      let diff = this.#sums[upper * 8 + w] - this.#sums[lower * 8 + w] - borrow;
      borrow = diff < 0 ? 1 : 0;
      if (diff < 0) diff += 0x100000000;
      sum[w * 4] = diff & 0xff;
      sum[w * 4 + 1] = (diff >>> 8) & 0xff;
      sum[w * 4 + 2] = (diff >>> 16) & 0xff;
      sum[w * 4 + 3] = (diff >>> 24) & 0xff;
    }
    return sha256(sum, encodeVarint(upper - lower)).subarray(0, FINGERPRINT_BYTES);
  }
}
