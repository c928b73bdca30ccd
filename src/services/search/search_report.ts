/**
 * What the search service answers, in the shape the control API sends it: plain JSON, IDs and
 * keys in lower-case hex, times as ISO 8601 strings in UTC, field names in snake_case.
 *
 * @module
 */

/** The parts of a result's score (`--explain`); docs/search.md gives the formula. */
export interface ScoreExplain {
  /** BM25 as the index computed it. */
  bm25: number;
  /** BM25 over the best among the candidates, 0..1. */
  relevance: number;
  /** 2^(−age / half life), 0..1. */
  freshness: number;
  /** p / (p + 1) of the popularity score p, 0..1. */
  popularity: number;
  /** 0.5 per hit of the same author beyond the first two. */
  author_factor: number;
}

/** One result. */
export interface SearchHit {
  /** The document's ID. */
  id: string;
  /** A thread or a message. */
  kind: "thread" | "message";
  /** The thread it belongs to (its own ID for a thread). */
  thread: string;
  /** The title (empty for a message). */
  title: string;
  /** The first characters of its text. */
  excerpt: string;
  /** The author's public key. */
  author: string;
  /** The author's published name, when known. */
  author_name?: string;
  /** When the author says it was written. */
  created_at: string;
  /** The thread's tags. */
  tags: string[];
  /** The combined score. */
  score: number;
  /** The score's parts, with `explain`. */
  explain?: ScoreExplain;
}

/** One page of results. */
export interface SearchPage {
  /** The query as understood (folded, canonical). */
  query: string;
  /** Where the results came from: this node's index, or it and the network's. */
  source: "local" | "network";
  /** The results, best first. */
  results: SearchHit[];
  /** Documents matched and ranked (at most `searchCandidatesMax`). */
  matched: number;
  /** The time the ranking was made as of. */
  as_of: string;
  /** Pass as `cursor` for the next page; `null` at the end. */
  next_cursor: string | null;
  /** What the network part could not read in time. */
  missing: string[];
}

/** What a rebuild of the index did. */
export interface ReindexReport {
  /** Documents indexed. */
  documents: number;
  /** Profiles whose names were indexed. */
  profiles: number;
  /** How long it took, in ms. */
  elapsed_ms: number;
}
