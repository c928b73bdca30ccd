/**
 * The iterative lookup as a state machine: which peers to ask next and when the answer is
 * complete. The node feeds it replies and failures and sends what it asks for; the lookup itself
 * never touches the network or the clock.
 *
 * Rules (Kademlia, with the Mainline DHT remedies of Jimenez et al.):
 * - keep `alpha` requests in flight to the closest candidates not yet asked;
 * - when a reply brings no candidate closer than the closest already known, ask all of the k
 *   closest not yet asked at once;
 * - a request whose first attempt timed out ("stalled") frees its slot but keeps its retries:
 *   its reply (to any attempt) still counts; a stall, like a reply with nothing closer, sends
 *   requests to all of the k closest not yet asked;
 * - the lookup ends when the k closest candidates that did not fail or stall have all
 *   answered. A stalled candidate closer than those is waited for (until it answers or fails
 *   after its retries) only while fewer than k candidates can settle the lookup: then its late
 *   answer may be the one that matters (the only holder, behind a lossy link), so one lost
 *   datagram never ends a lookup before the retries (issue 14). Once k others answered, a silent
 *   peer holds no lookup: otherwise every put near a silent identity would wait out its retries.
 *   It also ends when nothing is left to ask, or when `lookupQueriesMax` requests were sent and
 *   none is in flight; the node's `lookup_timeout_ms` bounds its time;
 * - while no candidate has answered, one of the node's own contacts (hop 1) that failed after
 *   its retries is asked again, up to {@link lookupReasksMax} times ({@link LookupState.reask}):
 *   a node whose only contacts sit behind a moment of loss (a flooded peer, before it bans the
 *   flooder) gets through within the lookup's time instead of failing after one request's
 *   retries (issue 14). Once anybody answered, a failed candidate stays failed.
 *
 * @module
 */

import { lookupCandidatesMax, lookupQueriesMax } from "../core/limits.ts";
import type { NodeId } from "../core/node_id.ts";
import type { Contact } from "./types.ts";

/**
 * Times one of the node's own contacts is asked again after failing, while no candidate of the
 * lookup has answered. Two more requests (each with its resends, about 1.8 s on a measured
 * loopback round trip and up to 7 s unmeasured) fit in the default `lookup_timeout_ms` (10 s),
 * which still bounds the lookup. At the limit the candidate fails for good.
 */
export const lookupReasksMax = 2;

/**
 * Closest known candidates a get's first round draws from ({@link LookupState.nextSpread}).
 * Drawing from all k = 20 spread a hot key's reads best, but a first request to the 20th closest
 * known node costs an extra hop more often: the median post in a 100-node network went from 117 to
 * 133 requests, over issue 16's 120. Eight keeps the post under it (117) and still spreads the
 * first round over more than twice the α = 3 nearest.
 */
export const getSpreadWidth = 8;

/** Where a candidate stands. */
export type CandidateState = "new" | "asking" | "stalled" | "answered" | "failed";

/** A peer the lookup knows of. */
export interface Candidate {
  /** Who. */
  readonly contact: Contact;
  /** Round trips from the lookup's start to this peer: 1 for contacts the node already knew. */
  hop: number;
  /** Where it stands. */
  state: CandidateState;
  /** Times it was asked again after failing ({@link LookupState.reask}). */
  reasks?: number;
  /** The write token from its reply, for a STORE that follows the lookup. */
  token?: Uint8Array;
}

/** One lookup's state. */
export class LookupState {
  /** The ID looked up. */
  readonly target: NodeId;
  readonly #self: NodeId;
  readonly #k: number;
  readonly #alpha: number;
  /** Sorted by distance to the target, nearest first; at most `lookupCandidatesMax`. */
  readonly #candidates: Candidate[] = [];
  #queries = 0;
  #parallelism: number;
  readonly #skip: ((id: NodeId) => boolean) | undefined;

  /**
   * Starts a lookup.
   *
   * @param target The ID to find the closest nodes to.
   * @param self This node's ID (never a candidate).
   * @param k How many closest nodes the lookup settles.
   * @param alpha Requests in flight.
   * @param skip Peers not to take as candidates when others name them (presumed dead).
   */
  constructor(
    target: NodeId,
    self: NodeId,
    k: number,
    alpha: number,
    skip?: (id: NodeId) => boolean,
  ) {
    this.target = target;
    this.#self = self;
    this.#k = k;
    this.#alpha = alpha;
    this.#parallelism = alpha;
    this.#skip = skip;
  }

  /**
   * Requests sent so far (one per candidate asked; resends are not queries).
   *
   * @returns The count.
   */
  get queries(): number {
    return this.#queries;
  }

  /**
   * Adds peers the lookup may ask. Known ones keep their state; the smaller hop count wins.
   *
   * @param contacts The peers.
   * @param hop Their round-trip distance from the start.
   * @returns Whether one of them is closer than every candidate known before.
   */
  add(contacts: readonly Contact[], hop: number): boolean {
    const nearestBefore = this.#candidates[0]?.contact.nodeId;
    let closer = false;
    for (const contact of contacts) {
      if (contact.nodeId.equals(this.#self)) continue;
      // The node's own contacts (hop 1) are never skipped: its table already keeps failing ones
      // last, and an only contact behind a lossy link must stay reachable.
      if (hop > 1 && this.#skip?.(contact.nodeId)) continue;
      // At most lookupCandidatesMax candidates: a scan is cheaper than hashing every ID.
      const known = this.#candidates.find((c) => c.contact.nodeId.equals(contact.nodeId));
      if (known) {
        if (hop < known.hop && known.state === "new") known.hop = hop;
        continue;
      }
      if (!nearestBefore || this.target.compareDistance(contact.nodeId, nearestBefore) < 0) {
        closer = true;
      }
      this.#insert({ contact, hop, state: "new" });
    }
    return closer;
  }

  /**
   * The candidates to ask now; they become "asking".
   *
   * @returns Up to the free slots' worth, nearest first.
   */
  next(): Candidate[] {
    let active = 0;
    for (const candidate of this.#candidates) if (candidate.state === "asking") active++;
    const chosen: Candidate[] = [];
    let rank = 0;
    for (const candidate of this.#candidates) {
      if (candidate.state === "failed" || candidate.state === "stalled") continue;
      if (rank++ >= this.#k) break;
      if (active + chosen.length >= this.#parallelism || this.#queries >= lookupQueriesMax) break;
      if (candidate.state !== "new") continue;
      candidate.state = "asking";
      this.#queries++;
      chosen.push(candidate);
    }
    return chosen;
  }

  /**
   * The first round of a get, spread: `alpha` candidates drawn at random from the `width` closest
   * known (they become "asking"), not the `alpha` closest. Every reader of a key otherwise starts
   * at the few nodes nearest to it that everyone knows, and a popular key's many copies further
   * out serve nothing; drawn at random, the first round lands on any of them. Later rounds go by
   * distance as usual (`next`).
   *
   * @param width How many of the closest known candidates to draw from.
   * @param pick Returns a whole number in [0, n): the caller's randomness.
   * @returns The candidates to ask now.
   */
  nextSpread(width: number, pick: (n: number) => number): Candidate[] {
    const pool = this.#candidates
      .filter((candidate) => candidate.state === "new")
      .slice(0, Math.max(0, width));
    const chosen: Candidate[] = [];
    while (chosen.length < this.#alpha && pool.length > 0 && this.#queries < lookupQueriesMax) {
      const [candidate] = pool.splice(Math.min(pool.length - 1, Math.max(0, pick(pool.length))), 1);
      candidate.state = "asking";
      this.#queries++;
      chosen.push(candidate);
    }
    return chosen;
  }

  /**
   * Records a reply naming more peers.
   *
   * @param candidate Who answered.
   * @param contacts The peers it named.
   * @param token Its write token.
   */
  answered(candidate: Candidate, contacts: readonly Contact[], token?: Uint8Array): void {
    candidate.state = "answered";
    candidate.token = token;
    const closer = this.add(contacts, candidate.hop + 1);
    // A reply that brings nothing closer: ask all of the k closest not yet asked.
    this.#parallelism = closer ? this.#alpha : this.#k;
  }

  /**
   * Records that a candidate's request stalled (its first attempt timed out).
   *
   * @param candidate The candidate.
   */
  stalled(candidate: Candidate): void {
    if (candidate.state !== "asking") return;
    candidate.state = "stalled";
    // A stall is a round that brought nothing: as for a reply with nothing closer, ask all of the
    // k closest not yet asked. The lookup must hear from each of them before it ends anyway, and
    // when several are silent their timeouts then run side by side, not one after another.
    this.#parallelism = this.#k;
  }

  /**
   * A candidate's request failed after its retries: asks it again when it is one of the node's
   * own contacts (hop 1), was asked again fewer than {@link lookupReasksMax} times, and no
   * candidate has answered yet (nothing else can settle the lookup); the query budget
   * (`lookupQueriesMax`) applies as to any request.
   *
   * @param candidate The candidate whose request failed.
   * @returns `true` when it will be asked again; else the caller marks it {@link failed}.
   */
  reask(candidate: Candidate): boolean {
    if (candidate.hop !== 1 || (candidate.reasks ?? 0) >= lookupReasksMax) return false;
    if (candidate.state !== "asking" && candidate.state !== "stalled") return false;
    if (this.#candidates.some((other) => other.state === "answered")) return false;
    candidate.reasks = (candidate.reasks ?? 0) + 1;
    candidate.state = "new";
    return true;
  }

  /**
   * Records that a candidate failed (no reply at all, or a reply that did not verify).
   *
   * @param candidate The candidate.
   */
  failed(candidate: Candidate): void {
    candidate.state = "failed";
  }

  /**
   * Whether the lookup is over: the k closest candidates that did not fail or stall all
   * answered, or nothing more can be asked and nothing is in flight. A stalled candidate nearer
   * than those holds the lookup (its retries are still running) only while there are fewer than
   * k of them.
   *
   * @returns `true` when done.
   */
  isDone(): boolean {
    let rank = 0;
    let waiting = false;
    let stalledNearer = false;
    for (const candidate of this.#candidates) {
      if (candidate.state === "failed") continue;
      if (rank >= this.#k) break;
      // A stalled request no longer holds a slot (next() looks past it); whether its answer is
      // still awaited depends on how many others settle the lookup (below).
      if (candidate.state === "stalled") {
        stalledNearer = true;
        continue;
      }
      rank++;
      if (candidate.state === "asking") return false;
      if (candidate.state === "new") waiting = true;
    }
    if (waiting && this.#queries < lookupQueriesMax) return false;
    return rank >= this.#k || !stalledNearer;
  }

  /**
   * The candidates that answered, nearest first.
   *
   * @param count How many at most.
   * @returns The candidates.
   */
  closestAnswered(count: number): Candidate[] {
    const answered: Candidate[] = [];
    for (const candidate of this.#candidates) {
      if (candidate.state !== "answered") continue;
      answered.push(candidate);
      if (answered.length >= count) break;
    }
    return answered;
  }

  #insert(candidate: Candidate): void {
    const list = this.#candidates;
    let low = 0;
    let high = list.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.target.compareDistance(list[middle].contact.nodeId, candidate.contact.nodeId) < 0) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    if (low >= lookupCandidatesMax) return;
    list.splice(low, 0, candidate);
    if (list.length > lookupCandidatesMax) list.pop();
  }
}
