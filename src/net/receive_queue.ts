/**
 * The bounded receive queue: datagrams read from the socket wait here, by priority class, until
 * the node has time to process them. Reading is cheap and processing is not, so under load the
 * socket is drained at once (the kernel drops nothing it could have read) and what cannot be
 * processed is shed here, in a decided order: the lowest class first, and within a class the
 * oldest first (the likeliest to have timed out at its sender already).
 *
 * Classes, highest first ({@link ReceivePriority}): replies to our own handshakes and DATA on
 * sessions awaiting our answers (they end work we started), then DATA on other known sessions
 * (requests from known peers), then INITs from addresses we hold a session with, then INITs
 * from strangers.
 *
 * Pure data structure: no clock, no I/O.
 *
 * @module
 */

/**
 * Datagrams queued at once across all classes. At the 30,000 datagrams a second one process
 * reads on a loaded core, 4096 is about 140 ms of input, so a burst is absorbed without
 * queueing work that will be stale when reached; at most 5 MB of datagrams. At the limit: the
 * oldest datagram of the lowest class at or below the newcomer's is shed, or the newcomer when
 * everything queued ranks above it; counted by class.
 */
export const receiveQueueDatagramsMax = 4096;

/** Priority classes, highest first. */
export const ReceivePriority = {
  /** A handshake RESPONSE, or DATA on a session where we await an answer. */
  reply: 0,
  /** DATA on any other known session. */
  knownPeer: 1,
  /** An INIT from an address we hold a session with. */
  knownHandshake: 2,
  /** An INIT from an address we do not know. */
  strangerHandshake: 3,
} as const;

/** A priority class: 0 (highest) to 3. */
export type ReceivePriority = typeof ReceivePriority[keyof typeof ReceivePriority];

/** Classes there are. */
export const receivePriorityCount = 4;

/** A first-in first-out list with O(1) shift. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** What {@link ReceiveQueue.push} did. */
export type PushOutcome =
  /** Queued, nothing shed. */
  | { queued: true; shed: undefined }
  /** Queued, and an older datagram of class `shed` was dropped for it. */
  | { queued: true; shed: ReceivePriority }
  /** Not queued: everything queued ranks above it. */
  | { queued: false; shed: ReceivePriority };

/** Datagrams waiting to be processed, by priority. */
export class ReceiveQueue<T> {
  readonly #classes: Fifo<T>[] = Array.from({ length: receivePriorityCount }, () => new Fifo());
  readonly #capacity: number;
  #size = 0;

  /**
   * @param capacity Items held at once across all classes.
   * @throws {RangeError} When `capacity` is not a positive integer.
   */
  constructor(capacity: number = receiveQueueDatagramsMax) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot use a receive queue of ${capacity}: expected a positive integer`,
      );
    }
    this.#capacity = capacity;
  }

  /** Items queued now. */
  get size(): number {
    return this.#size;
  }

  /**
   * Queues an item, shedding one of the same or a lower class when full.
   *
   * @param priority Its class.
   * @param item The item.
   * @returns Whether it was queued, and which class lost an item for it.
   */
  push(priority: ReceivePriority, item: T): PushOutcome {
    if (this.#size < this.#capacity) {
      this.#classes[priority].push(item);
      this.#size++;
      return { queued: true, shed: undefined };
    }
    for (let victim = receivePriorityCount - 1; victim >= priority; victim--) {
      const fifo = this.#classes[victim];
      if (fifo.length === 0) continue;
      fifo.shift();
      this.#classes[priority].push(item);
      return { queued: true, shed: victim as ReceivePriority };
    }
    return { queued: false, shed: priority };
  }

  /**
   * Takes the next item to process: the oldest of the highest class.
   *
   * @returns It, or `undefined` when the queue is empty.
   */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    for (const fifo of this.#classes) {
      if (fifo.length > 0) {
        this.#size--;
        return fifo.shift();
      }
    }
    return undefined;
  }
}
