/**
 * Staying in the network: a node never loses its last contacts for good. When its routing table
 * empties (every contact failed its requests and was dropped, as a flood or a network outage can
 * make happen), or none of its requests has been answered for {@link unansweredRejoinMs} while
 * some timed out (its contacts are there but silent), the node goes back to the contacts it knew last, its saved peers (`peers.json`)
 * and its bootstrap contacts, and joins again, backing off from {@link rejoinBackoffMsMin} to
 * {@link rejoinBackoffMsMax} while attempts keep failing. A node that started a new network (no
 * bootstrap contacts, no saved peers, nobody known yet) has nobody to go back to and waits to be
 * found.
 *
 * {@link RejoinPolicy} decides when; the node does the joining. Sans-I/O: the clock is injected.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { Contact } from "../dht/types.ts";

/**
 * How often the node looks at its routing table: a cheap call, so an empty table is found
 * within two seconds.
 */
export const rejoinCheckIntervalMs = 2_000;

/**
 * How long a node may go without any answer to its requests, while some of them time out,
 * before it counts as cut off although its table is not empty. Thirty seconds is many request
 * timeouts: not one slow peer but a node nobody answers.
 */
export const unansweredRejoinMs = 30_000;

/** What the node's requests have come to so far (the DHT's RPC counters). */
export interface RequestOutcomes {
  /** Replies matched to a request. */
  replies: number;
  /** Requests that failed after every attempt. */
  timeouts: number;
}

/** Wait after the first failed rejoin; it doubles after each further failure. */
export const rejoinBackoffMsMin = 1_000;

/**
 * Longest wait between two rejoin attempts. A node cut off by a flood or an outage is back
 * within this plus {@link rejoinCheckIntervalMs} of its contacts answering again (the issue's
 * target: 10 s), and a node alone costs each contact it knows one request every 8 s.
 */
export const rejoinBackoffMsMax = 8_000;

/**
 * Contacts remembered from the routing table to rejoin through, nearest first: as many as a
 * start takes from `peers.json`, enough that some survive churn.
 */
export const rememberedContactsMax = 16;

/** Decides when a node with an empty routing table joins again. */
export class RejoinPolicy {
  readonly #clock: Clock;
  #remembered: Contact[] = [];
  #attempting = false;
  #nextAttemptMs = -Infinity;
  #backoffMs = rejoinBackoffMsMin;
  #attempts = 0;
  #replies = 0;
  #answeredMs: number;
  #timeoutsWhenAnswered = 0;

  /** @param clock The only source of time. */
  constructor(clock: Clock) {
    this.#clock = clock;
    this.#answeredMs = clock.nowMs();
  }

  /** Rejoin attempts started so far. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The contacts last seen in the table (node ID and address), nearest first. */
  get remembered(): readonly Contact[] {
    return this.#remembered;
  }

  /**
   * Looks at the table and the requests: remembers the table's nearest contacts while they
   * answer, and says whether a rejoin should start now when the table is empty or nobody has
   * answered for {@link unansweredRejoinMs}. A `true` answer counts as an attempt started;
   * report its end with {@link finished}.
   *
   * @param nearest The table's nearest contacts (at most {@link rememberedContactsMax} used).
   * @param requests The node's request counters so far; without them only an empty table counts.
   * @returns Whether to rejoin now.
   */
  check(nearest: readonly Contact[], requests?: RequestOutcomes): boolean {
    const nowMs = this.#clock.nowMs();
    let silent = false;
    if (requests !== undefined) {
      if (requests.replies !== this.#replies) {
        this.#replies = requests.replies;
        this.#answeredMs = nowMs;
        this.#timeoutsWhenAnswered = requests.timeouts;
      }
      silent = nowMs - this.#answeredMs >= unansweredRejoinMs &&
        requests.timeouts > this.#timeoutsWhenAnswered;
    }
    if (nearest.length > 0 && !silent) {
      this.#remembered = nearest.slice(0, rememberedContactsMax);
      this.#backoffMs = rejoinBackoffMsMin;
      this.#nextAttemptMs = -Infinity;
      return false;
    }
    if (this.#attempting || nowMs < this.#nextAttemptMs) return false;
    this.#attempting = true;
    this.#attempts++;
    return true;
  }

  /**
   * Ends the attempt {@link check} started. The next one waits the backoff either way: a join
   * that worked but left the table empty again is no reason to hammer the same contacts.
   *
   * @param ok Whether any contact answered.
   */
  finished(ok: boolean): void {
    this.#attempting = false;
    this.#nextAttemptMs = this.#clock.nowMs() + this.#backoffMs;
    this.#backoffMs = ok ? rejoinBackoffMsMin : Math.min(2 * this.#backoffMs, rejoinBackoffMsMax);
  }
}
