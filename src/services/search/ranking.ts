/**
 * Ranking: a document's score for a query is a weighted sum of three parts in 0..1, then a
 * penalty for an author's repeated hits:
 *
 *   score = (w_r · relevance + w_f · freshness + w_p · popularity) · 0.5^max(0, n − h)
 *
 * - relevance = bm25 / bm25_max, the document's BM25 over the best among the candidates;
 * - freshness = 2^(−age / half_life), age counted from the query's as-of time;
 * - popularity = p / (p + 1) for the popularity service's score p ≥ 0 (0 until it lands);
 * - n is the document's place among its author's hits (0 for the best), h =
 *   {@link authorHitsFull}: an author's third hit counts half, the fourth a quarter, so one author
 *   cannot fill a page.
 *
 * Weights come from the config's `[search]` table (percent). The parts are returned with each
 * hit, so `--explain` shows them.
 *
 * @module
 */

import { toHex } from "../../core/bytes.ts";
import type { IndexMatch } from "./search_index.ts";

/** The weights of the parts, from the config (whole percent, 0..1000). */
export interface RankingWeights {
  /** Weight of BM25 relevance. */
  relevance: number;
  /** Weight of freshness. */
  freshness: number;
  /** Weight of popularity. */
  popularity: number;
  /** Age at which freshness is one half, in seconds. */
  freshnessHalfLifeS: number;
}

/**
 * An author's hits that count in full; each further hit counts half the one before. Two lets an
 * author with two good answers show both; the flood of one author sinks after them.
 */
export const authorHitsFull = 2;

/** The parts of a hit's score. */
export interface ScoreParts {
  /** BM25 as the index computed it. */
  bm25: number;
  /** bm25 over the best bm25 among the candidates, 0..1. */
  relevance: number;
  /** 0..1. */
  freshness: number;
  /** 0..1. */
  popularity: number;
  /** The author-repeat factor, 0..1. */
  authorFactor: number;
  /** The final score. */
  score: number;
}

/** A ranked match. */
export interface RankedMatch extends IndexMatch {
  /** How its score was made. */
  parts: ScoreParts;
}

/**
 * Ranks matches.
 *
 * @param matches The candidates, any order.
 * @param weights The weights.
 * @param asOfMs The time ages are counted from.
 * @param popularity The popularity score of a thread (≥ 0); 0 when unknown.
 * @returns The matches, best first; ties broken by ID, so the order is total.
 */
export function rank(
  matches: readonly IndexMatch[],
  weights: RankingWeights,
  asOfMs: number,
  popularity: (thread: string) => number,
): RankedMatch[] {
  const bm25Max = matches.reduce((best, match) => Math.max(best, match.bm25), 0);
  const halfLifeMs = Math.max(1, weights.freshnessHalfLifeS * 1000);
  const scored = matches.map((match) => {
    const relevance = bm25Max > 0 ? Math.max(0, match.bm25) / bm25Max : 0;
    const ageMs = Math.max(0, asOfMs - match.createdMs);
    const freshness = Math.pow(2, -ageMs / halfLifeMs);
    const pop = Math.max(0, popularity(match.thread.toHex()));
    const popularityPart = pop / (pop + 1);
    const base = (weights.relevance * relevance + weights.freshness * freshness +
      weights.popularity * popularityPart) / 100;
    return {
      ...match,
      parts: {
        bm25: match.bm25,
        relevance,
        freshness,
        popularity: popularityPart,
        authorFactor: 1,
        score: base,
      },
    };
  });
  scored.sort(byScore);
  // An author's hits beyond the first few count less; then the order is settled once more.
  const seen = new Map<string, number>();
  for (const hit of scored) {
    const author = toHex(hit.author);
    const place = seen.get(author) ?? 0;
    seen.set(author, place + 1);
    const factor = Math.pow(0.5, Math.max(0, place + 1 - authorHitsFull));
    hit.parts.authorFactor = factor;
    hit.parts.score *= factor;
  }
  scored.sort(byScore);
  return scored;
}

function byScore(a: RankedMatch, b: RankedMatch): number {
  return b.parts.score - a.parts.score || a.id.compare(b.id);
}
