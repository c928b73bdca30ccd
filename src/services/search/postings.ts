/**
 * The network index's postings: which terms of a thread are published (its tags, then its
 * highest-weighted words), the weight each gets, and the check a querying node makes on a
 * document it fetched (does it really hold every term of the query?). Pure functions over
 * documents; `network_search.ts` publishes and reads them.
 *
 * A term's weight in a thread is BM25's term part with the thread's own statistics and this
 * node's document frequencies:
 *
 *   w(t) = idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·len/avg_len)),  tf = 3·tf_title + tf_body
 *
 * (tf counted at most {@link termRepeatsMax} per field), scaled so {@link weightScaleMax} maps
 * to 255, at least 1. Tags are terms `tag:<name>` of weight 255. A writer may claim any weight;
 * the querying node re-scores every document it fetched, so a claimed weight only decides which
 * postings a full set keeps (two per writer, docs/search.md "Spam").
 *
 * @module
 */

import { postingTermBytes, postingTermsMax, searchTermHash } from "../../content/key_schema.ts";
import type { SearchQuery } from "./query.ts";
import type { IndexedDoc } from "./search_index.ts";
import { spacelessPairs, termCounts, termRepeatsMax, words } from "./text.ts";

/** BM25's k1 (term frequency saturation), as FTS5 uses. */
export const bm25K1 = 1.2;
/** BM25's b (length normalisation), as FTS5 uses. */
export const bm25B = 0.75;
/** Document length (words) assumed average when no statistics exist. */
export const averageDocWords = 120;
/** The term weight that maps to 255: a title word with an idf of about 6 (one thread in 400). */
export const weightScaleMax = 12;
/** Tags a thread is posted under (weight 255), besides its `postingTermsMax` words. */
export const postingTagsMax = 3;
/** Field weights of the JavaScript scorer, as the FTS5 index's `bm25()` call: title, tags, body. */
const titleWeight = 3;
const tagWeight = 2;

/** Words too common to be worth a posting (a small index cannot tell them by idf yet). */
const stopWords = new Set(
  ("a an and are as at be but by for from has have i if in into is it its of on or our so " +
    "that the their then there these they this to was we were what when which who will with " +
    "you your le la les de des du un une et est en il elle der die das und ist ein eine el los y")
    .split(" "),
);

/** Document statistics for weights: how many documents, and how many hold a word. */
export interface TermStatistics {
  /** Documents known. */
  documents: number;
  /** Documents holding a word. */
  frequency(word: string): number;
}

/** A term chosen for a thread's postings. */
export interface PostingTerm {
  /** The term: a folded word, or `tag:<name>`. */
  term: string;
  /** 1..255. */
  weight: number;
}

/**
 * The terms a thread is posted under, and their weights: up to {@link postingTagsMax} tags, then
 * the `postingTermsMax` highest-weighted words (spaceless pairs count as words).
 *
 * @param doc The thread.
 * @param stats Document frequencies (this node's index), for idf.
 * @returns The terms, tags first, then by weight.
 */
export function postingTerms(doc: IndexedDoc, stats: TermStatistics): PostingTerm[] {
  const tags = doc.tags.slice(0, postingTagsMax).map((tag) => ({
    term: `tag:${tag}`,
    weight: 255,
  }));
  const title = termCounts([...words(doc.title), ...spacelessPairs(doc.title)]);
  const body = termCounts([...words(doc.body), ...spacelessPairs(doc.body)]);
  const length = [...title.values(), ...body.values()].reduce((sum, n) => sum + n, 0);
  const candidates: PostingTerm[] = [];
  for (const term of new Set([...title.keys(), ...body.keys()])) {
    if (stopWords.has(term)) continue;
    if (/^[a-z0-9]$/.test(term)) continue;
    const tf = titleWeight * (title.get(term) ?? 0) + (body.get(term) ?? 0);
    const raw = idf(stats, term) * saturated(tf, length);
    candidates.push({
      term,
      weight: Math.max(1, Math.min(255, Math.round(raw / weightScaleMax * 255))),
    });
  }
  // Ties (a small index gives every word the same idf) go to the longer, more specific word.
  candidates.sort((a, b) =>
    b.weight - a.weight || b.term.length - a.term.length || (a.term < b.term ? -1 : 1)
  );
  return [...tags, ...candidates.slice(0, postingTermsMax)];
}

/**
 * A posting's `terms` field: each word's first 4 hash bytes and its weight (tags left out).
 *
 * @param all The thread's posting terms.
 * @returns The packed bytes.
 */
export function packPostingTerms(all: readonly PostingTerm[]): Uint8Array {
  // Tags are checked on the document itself; the places in a posting go to words.
  const terms = all.filter((term) => !term.term.startsWith("tag:")).slice(0, postingTermsMax);
  const bytes = new Uint8Array(terms.length * postingTermBytes);
  terms.forEach((term, i) => {
    bytes.set(searchTermHash(term.term).subarray(0, 4), i * postingTermBytes);
    bytes[i * postingTermBytes + 4] = term.weight;
  });
  return bytes;
}

/**
 * The weight a posting's `terms` gives a term, or 0 when it does not list it.
 *
 * @param packed The posting's `terms`.
 * @param term A term.
 * @returns 0..255.
 */
export function postingWeightOf(packed: Uint8Array, term: string): number {
  const hash = searchTermHash(term);
  for (let i = 0; i + postingTermBytes <= packed.length; i += postingTermBytes) {
    if (
      packed[i] === hash[0] && packed[i + 1] === hash[1] && packed[i + 2] === hash[2] &&
      packed[i + 3] === hash[3]
    ) return packed[i + 4];
  }
  return 0;
}

/**
 * The network term a query term is looked up under: a word as it is; a phrase by its rarest-
 * looking (longest) word; a prefix cannot be (`undefined`).
 *
 * @param term A query term.
 * @returns The network term, or `undefined`.
 */
export function networkTermOf(term: SearchQuery["terms"][number]): string | undefined {
  if (term.kind === "prefix") return undefined;
  return [...term.tokens].sort((a, b) => b.length - a.length || (a < b ? -1 : 1))[0];
}

/**
 * Whether a document holds every term and tag of a query: the check a querying node makes on a
 * document the network named, since a posting's claims are the writer's.
 *
 * @param doc The document (verified against its ID).
 * @param query The query.
 * @returns `true` when every term and tag is there.
 */
export function docMatches(doc: IndexedDoc, query: SearchQuery): boolean {
  if (!query.tags.every((tag) => doc.tags.includes(tag))) return false;
  const text = `${doc.title}\n${doc.body}`;
  const docWords = words(text);
  const docPairs = spacelessPairs(text);
  const tagWords = doc.tags.flatMap((tag) => tag.split("-"));
  return query.terms.every((term) => {
    const haystack = term.spaceless ? docPairs : [...docWords, ...tagWords];
    if (term.kind === "prefix") return haystack.some((word) => word.startsWith(term.tokens[0]));
    return containsRun(haystack, term.tokens);
  });
}

/**
 * BM25 of a document for a query, computed here (the network's documents are in no local
 * index): the same fields, weights, k1 and b as the FTS5 index, with this node's statistics.
 *
 * @param doc The document.
 * @param query The query.
 * @param stats Document frequencies.
 * @returns The relevance, higher is better.
 */
export function bm25Of(doc: IndexedDoc, query: SearchQuery, stats: TermStatistics): number {
  const title = termCounts([...words(doc.title), ...spacelessPairs(doc.title)]);
  const body = termCounts([...words(doc.body), ...spacelessPairs(doc.body)]);
  const tags = termCounts(doc.tags.flatMap((tag) => tag.split("-")));
  const length = [...title.values(), ...body.values()].reduce((sum, n) => sum + n, 0);
  let score = 0;
  for (const term of query.terms) {
    for (const token of term.kind === "prefix" ? [] : term.tokens) {
      const tf = titleWeight * (title.get(token) ?? 0) + tagWeight * (tags.get(token) ?? 0) +
        (body.get(token) ?? 0);
      score += idf(stats, token) * saturated(tf, length);
    }
  }
  return score;
}

function idf(stats: TermStatistics, term: string): number {
  const n = Math.max(1, stats.documents);
  const df = Math.min(n, stats.frequency(term));
  return Math.log(1 + (n - df + 0.5) / (df + 0.5));
}

function saturated(tf: number, length: number): number {
  const norm = 1 - bm25B + bm25B * length / averageDocWords;
  return (tf * (bm25K1 + 1)) / (tf + bm25K1 * norm);
}

function containsRun(haystack: readonly string[], needle: readonly string[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** Re-exported for the network search: repeats beyond this count once each. */
export { termRepeatsMax };
