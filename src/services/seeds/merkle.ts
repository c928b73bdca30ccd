/**
 * A Merkle tree over a seed's held records, for storage proofs: leaf i is
 * SHA-256(`00` ‖ key ‖ SHA-256(record)) of the i-th held record in key order, an inner node
 * SHA-256(`01` ‖ left ‖ right), and a level of odd length carries its last node up unchanged.
 * The domain bytes keep a leaf from passing for an inner node. A path is the siblings from the
 * leaf up, so its length is ⌈log2 count⌉ at most.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";
import { bytesEqual } from "../../core/bytes.ts";
import { sha256 } from "../../core/crypto.ts";

const LEAF = new Uint8Array([0]);
const INNER = new Uint8Array([1]);

/**
 * Leaves a tree holds at most: 2^24 records (16.7 million), so a path has at most 24 siblings
 * (768 bytes) and a proof stays under 1 KiB. A seed holding more commits to its records in parts.
 */
export const MERKLE_LEAVES_MAX: number = 2 ** 24;

/**
 * A leaf.
 *
 * @param key The record's 20-byte key.
 * @param recordHash SHA-256 of the record's bytes.
 * @returns The leaf hash.
 */
export function merkleLeaf(key: Uint8Array, recordHash: Uint8Array): Uint8Array {
  return sha256(LEAF, key, recordHash);
}

function inner(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(INNER, left, right);
}

/** A tree, all levels kept (2 × 32 bytes a leaf), so any path is read without hashing. */
export class MerkleTree {
  readonly #levels: Uint8Array[][];

  /**
   * Builds the tree.
   *
   * @param leaves 1..{@link MERKLE_LEAVES_MAX} leaf hashes, in order.
   */
  constructor(leaves: readonly Uint8Array[]) {
    assert(leaves.length >= 1 && leaves.length <= MERKLE_LEAVES_MAX, "Merkle leaves in range");
    const levels: Uint8Array[][] = [[...leaves]];
    while (levels[levels.length - 1].length > 1) {
      const below = levels[levels.length - 1];
      const above: Uint8Array[] = [];
      for (let i = 0; i < below.length; i += 2) {
        above.push(i + 1 < below.length ? inner(below[i], below[i + 1]) : below[i]);
      }
      levels.push(above);
    }
    this.#levels = levels;
  }

  /** Leaves. */
  get count(): number {
    return this.#levels[0].length;
  }

  /** The root. */
  get root(): Uint8Array {
    return this.#levels[this.#levels.length - 1][0];
  }

  /**
   * The siblings from leaf `index` up to the root (a level where the node has none adds nothing).
   *
   * @param index 0..count-1.
   * @returns The path.
   */
  path(index: number): Uint8Array[] {
    assert(Number.isInteger(index) && index >= 0 && index < this.count, "leaf index in range");
    const path: Uint8Array[] = [];
    let position = index;
    for (let level = 0; level < this.#levels.length - 1; level++) {
      const nodes = this.#levels[level];
      const sibling = position ^ 1;
      if (sibling < nodes.length) path.push(nodes[sibling]);
      position >>= 1;
    }
    return path;
  }
}

/**
 * Whether `leaf` is leaf `index` of a tree of `count` leaves with this root.
 *
 * @param root The root.
 * @param count The tree's leaves.
 * @param index The leaf's position.
 * @param leaf The leaf hash.
 * @param path Its siblings, from the leaf up.
 * @returns `true` when the path leads to the root exactly.
 */
export function verifyMerklePath(
  root: Uint8Array,
  count: number,
  index: number,
  leaf: Uint8Array,
  path: readonly Uint8Array[],
): boolean {
  if (!Number.isInteger(count) || count < 1 || count > MERKLE_LEAVES_MAX) return false;
  if (!Number.isInteger(index) || index < 0 || index >= count) return false;
  let hash = leaf;
  let position = index;
  let width = count;
  let used = 0;
  while (width > 1) {
    const sibling = position ^ 1;
    if (sibling < width) {
      const next = path[used++];
      if (next === undefined || next.length !== 32) return false;
      hash = (position & 1) === 0 ? inner(hash, next) : inner(next, hash);
    }
    position >>= 1;
    width = Math.ceil(width / 2);
  }
  return used === path.length && bytesEqual(hash, root);
}
