/**
 * How a challenger watches one seed, without I/O: it challenges at a steady pace with a random
 * leaf of the seed's commitment; a wrong proof (or "I cannot prove it") is evidence of lost data
 * and demotes at once; silence is not evidence: the seed is marked contained and re-challenged on
 * the same leaf, with growing gaps, and demoted only when it stays silent on that leaf for
 * {@link CONTAINED_MS_MAX}. An honest seed that stalls for minutes answers a re-challenge once it
 * is back and returns to good standing; a seed that dropped the record can never answer it.
 *
 * Figures (measured by `scripts/sim_storage_challenges.ts`, `docs/seeds.md`): with one challenge
 * every {@link CHALLENGE_INTERVAL_MS}, a seed that dropped 1% of its records is demoted within a
 * day with probability 1 − 0.99^564 ≈ 99.65% (564 challenges land before the last 30 minutes),
 * and a stall of up to 10 minutes ends containment after at most 10 min + 5 min + the answer
 * time.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";
import { randomInt, type Rng } from "../../core/rng.ts";

/**
 * Time between challenges to one seed: 576 a day. A 1% loss is caught within a day when one of the
 * challenges sent before the day's last {@link CONTAINED_MS_MAX} hits a dropped record: 564 of
 * them, so 1 − 0.99^564 ≈ 99.65% (459 would give exactly 99%; the margin absorbs the variance of
 * where the first challenge falls). The load stays negligible: one 52-byte challenge and a proof of
 * at most 853 bytes every 2.5 minutes.
 */
export const CHALLENGE_INTERVAL_MS = 150_000;

/**
 * Time a seed has to answer: a proof is one read and one hash, so 10 s covers a busy disk and a
 * slow path. At the limit: the challenge counts as unanswered (the seed is contained).
 */
export const CHALLENGE_ANSWER_MS = 10_000;

/** Gaps between re-challenges of a contained seed: 1, 2, 4 minutes, then every 5. */
export const RECHALLENGE_DELAYS_MS: readonly number[] = [60_000, 120_000, 240_000, 300_000];

/**
 * How long a seed may stay silent on one challenged leaf before it is demoted: three times the
 * 10-minute stalls an honest seed is allowed, so no such stall ever demotes (the last re-challenge
 * before the limit comes at most 5 minutes after the stall ends). At the limit: demoted.
 */
export const CONTAINED_MS_MAX = 30 * 60_000;

/** A seed's standing with one challenger. */
export type SeedStanding = "good" | "contained" | "demoted";

/** A challenge to send now. */
export interface ChallengeDue {
  /** The leaf to ask for. */
  readonly index: number;
  /** Whether it repeats a leaf the seed has not answered. */
  readonly repeat: boolean;
}

/** One challenger's view of one seed. */
export class SeedWatch {
  readonly #rng: Rng;
  #count: number;
  #standing: SeedStanding = "good";
  #nextAtMs: number;
  #pending: { index: number; sentAtMs: number } | undefined;
  #containedSinceMs = 0;
  #containedIndex = 0;
  #rechallenges = 0;
  #reason = "";

  /**
   * Starts watching.
   *
   * @param count Leaves in the seed's commitment.
   * @param nowMs Now.
   * @param rng Chooses the leaves.
   */
  constructor(count: number, nowMs: number, rng: Rng) {
    assert(count >= 1, "a commitment has leaves");
    this.#count = count;
    this.#rng = rng;
    this.#nextAtMs = nowMs + randomInt(rng, CHALLENGE_INTERVAL_MS);
  }

  /** The standing now. */
  get standing(): SeedStanding {
    return this.#standing;
  }

  /** Why the seed was demoted, once it is. */
  get reason(): string {
    return this.#reason;
  }

  /** When {@link poll} next has something to do. */
  get nextWakeupMs(): number {
    if (this.#standing === "demoted") return Infinity;
    return this.#pending ? this.#pending.sentAtMs + CHALLENGE_ANSWER_MS : this.#nextAtMs;
  }

  /**
   * A new commitment from the seed (it recommitted): later challenges use its leaf count.
   *
   * @param count Its leaves.
   */
  recommitted(count: number): void {
    assert(count >= 1, "a commitment has leaves");
    this.#count = count;
  }

  /**
   * Advances to `nowMs`: an answer overdue makes the seed contained (or demoted after
   * {@link CONTAINED_MS_MAX}); a challenge due is returned for the caller to send.
   *
   * @param nowMs Now.
   * @returns The challenge to send now, if one is due.
   */
  poll(nowMs: number): ChallengeDue | undefined {
    if (this.#standing === "demoted") return undefined;
    if (this.#pending && nowMs >= this.#pending.sentAtMs + CHALLENGE_ANSWER_MS) {
      this.#unanswered(this.#pending.index, this.#pending.sentAtMs);
      this.#pending = undefined;
      if (this.standing === "demoted") return undefined;
    }
    if (this.#pending || nowMs < this.#nextAtMs) return undefined;
    const repeat = this.#standing === "contained";
    const index = repeat ? this.#containedIndex : randomInt(this.#rng, this.#count);
    this.#pending = { index, sentAtMs: nowMs };
    return { index, repeat };
  }

  /**
   * The seed answered the pending challenge.
   *
   * @param nowMs Now.
   * @param verdict `ok` for a proof that verified; `failed` for one that did not, or a refusal.
   */
  answered(nowMs: number, verdict: "ok" | "failed"): void {
    if (!this.#pending || this.#standing === "demoted") return;
    this.#pending = undefined;
    if (verdict === "failed") {
      this.#standing = "demoted";
      this.#reason = "a storage proof failed: the seed does not hold a record it committed to";
      return;
    }
    this.#standing = "good";
    this.#rechallenges = 0;
    this.#nextAtMs = nowMs + CHALLENGE_INTERVAL_MS;
  }

  #unanswered(index: number, sentAtMs: number): void {
    if (this.#standing === "good") {
      this.#standing = "contained";
      this.#containedSinceMs = sentAtMs;
      this.#containedIndex = index;
      this.#rechallenges = 0;
    }
    const deadlineMs = sentAtMs + CHALLENGE_ANSWER_MS;
    if (deadlineMs - this.#containedSinceMs >= CONTAINED_MS_MAX) {
      this.#standing = "demoted";
      this.#reason = `silent on a challenged record for ${CONTAINED_MS_MAX / 60_000} minutes`;
      return;
    }
    const delay =
      RECHALLENGE_DELAYS_MS[Math.min(this.#rechallenges, RECHALLENGE_DELAYS_MS.length - 1)];
    this.#rechallenges++;
    this.#nextAtMs = Math.min(
      deadlineMs + delay,
      this.#containedSinceMs + CONTAINED_MS_MAX - CHALLENGE_ANSWER_MS,
    );
  }
}
