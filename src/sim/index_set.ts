/**
 * A set of small non-negative integers (node indexes) with O(1) add, delete and pick-by-position,
 * so the simulator can draw a uniformly random live node from its seeded generator without
 * scanning. Iteration order depends only on the sequence of operations: deterministic.
 *
 * @module
 */

import { assert } from "../core/assert.ts";

/**
 * A dense array of members plus each member's position in it; delete moves the last member into
 * the hole.
 *
 * @example
 * ```ts
 * import { IndexSet } from "./index_set.ts";
 * const set = new IndexSet();
 * set.add(3);
 * set.add(7);
 * set.delete(3);
 * if (set.size !== 1 || set.at(0) !== 7) throw new Error("wrong members");
 * ```
 */
export class IndexSet {
  readonly #members: number[] = [];
  readonly #positions = new Map<number, number>();

  /** Members now. */
  get size(): number {
    return this.#members.length;
  }

  /**
   * Whether `index` is a member.
   *
   * @param index The index.
   * @returns `true` when it is.
   */
  has(index: number): boolean {
    return this.#positions.has(index);
  }

  /**
   * Adds `index` (no effect when present).
   *
   * @param index A non-negative integer.
   */
  add(index: number): void {
    assert(Number.isSafeInteger(index) && index >= 0, `bad index ${index}`);
    if (this.#positions.has(index)) return;
    this.#positions.set(index, this.#members.length);
    this.#members.push(index);
  }

  /**
   * Removes `index` (no effect when absent).
   *
   * @param index The index.
   */
  delete(index: number): void {
    const position = this.#positions.get(index);
    if (position === undefined) return;
    const last = this.#members.pop()!;
    this.#positions.delete(index);
    if (last === index) return;
    this.#members[position] = last;
    this.#positions.set(last, position);
  }

  /**
   * The member at `position` of the current order.
   *
   * @param position 0 to `size - 1`.
   * @returns The member.
   * @throws {AssertionError} When `position` is out of range.
   */
  at(position: number): number {
    assert(position >= 0 && position < this.#members.length, `no member at ${position}`);
    return this.#members[position];
  }

  /**
   * The members in ascending order (a copy).
   *
   * @returns The members.
   */
  sorted(): number[] {
    return [...this.#members].sort((a, b) => a - b);
  }
}
