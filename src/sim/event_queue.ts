/**
 * The simulator's agenda: a binary min-heap of events ordered by time, then by the order they were
 * pushed, so events due at the same moment always pop in the same order and one seed gives one
 * run. It has a fixed capacity: a queue that keeps growing is a liveness bug (a node scheduling
 * without end), and it is better found as an exception than as an exhausted machine.
 *
 * @module
 */

import { assert } from "../core/assert.ts";

/** One entry of an {@link EventQueue}. */
export interface QueuedEvent<T> {
  /** When the event is due, in ms of the virtual clock. */
  readonly timeMs: number;
  /** Push order, unique per queue: breaks ties between equal times. */
  readonly sequence: number;
  /** What the event carries. */
  readonly payload: T;
}

/**
 * A bounded min-heap of events by `(timeMs, sequence)`.
 *
 * @example
 * ```ts
 * import { EventQueue } from "./event_queue.ts";
 * const queue = new EventQueue<string>(8);
 * queue.push(20, "late");
 * queue.push(10, "first");
 * queue.push(10, "second");
 * const order = [queue.pop()?.payload, queue.pop()?.payload, queue.pop()?.payload];
 * if (order.join() !== "first,second,late") throw new Error(`wrong order: ${order}`);
 * ```
 */
export class EventQueue<T> {
  readonly #heap: QueuedEvent<T>[] = [];
  readonly #eventsMax: number;
  #sequenceNext = 0;

  /**
   * Makes an empty queue.
   *
   * @param eventsMax Most events held at once (a positive integer).
   * @throws {RangeError} When `eventsMax` is not a positive integer.
   */
  constructor(eventsMax: number) {
    if (!Number.isSafeInteger(eventsMax) || eventsMax < 1) {
      throw new RangeError(`Cannot make an event queue: eventsMax is ${eventsMax}`);
    }
    this.#eventsMax = eventsMax;
  }

  /** Events held now. */
  get size(): number {
    return this.#heap.length;
  }

  /**
   * When the earliest event is due.
   *
   * @returns Its time, or `Infinity` when the queue is empty.
   */
  peekTimeMs(): number {
    return this.#heap.length === 0 ? Infinity : this.#heap[0].timeMs;
  }

  /**
   * Adds an event.
   *
   * @param timeMs When it is due (finite).
   * @param payload What it carries.
   * @throws {AssertionError} When `timeMs` is not finite.
   * @throws {RangeError} When the queue already holds `eventsMax` events: a liveness bug.
   */
  push(timeMs: number, payload: T): void {
    assert(Number.isFinite(timeMs), `an event's time must be finite, got ${timeMs}`);
    if (this.#heap.length >= this.#eventsMax) {
      throw new RangeError(
        `Cannot queue an event: the queue holds ${this.#heap.length} events, limit is ${this.#eventsMax}`,
      );
    }
    const heap = this.#heap;
    const event: QueuedEvent<T> = { timeMs, sequence: this.#sequenceNext++, payload };
    // Sift up: move parents down until the new event's place is found.
    let index = heap.length;
    heap.push(event);
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      if (!before(event, heap[parentIndex])) break;
      heap[index] = heap[parentIndex];
      index = parentIndex;
    }
    heap[index] = event;
  }

  /**
   * Removes the earliest event (the first pushed among equal times).
   *
   * @returns The event, or `undefined` when the queue is empty.
   */
  pop(): QueuedEvent<T> | undefined {
    const heap = this.#heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length === 0) return top;
    // Sift down: move the smaller child up until the last event's place is found.
    const count = heap.length;
    let index = 0;
    for (;;) {
      const leftIndex = 2 * index + 1;
      if (leftIndex >= count) break;
      const rightIndex = leftIndex + 1;
      const childIndex = rightIndex < count && before(heap[rightIndex], heap[leftIndex])
        ? rightIndex
        : leftIndex;
      if (!before(heap[childIndex], last)) break;
      heap[index] = heap[childIndex];
      index = childIndex;
    }
    heap[index] = last;
    assert(top.timeMs <= heap[0].timeMs, "the heap lost its order");
    return top;
  }
}

function before<T>(a: QueuedEvent<T>, b: QueuedEvent<T>): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.sequence < b.sequence);
}
