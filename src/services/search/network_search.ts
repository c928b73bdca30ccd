/**
 * Search across the network: each thread is published under its important terms as postings
 * (`searchTerm` sets in the DHT, signed by the thread's author), each posting carrying the
 * thread's other important terms (the eSearch idea), so a query of several terms reads one
 * posting list and ranks it by the rest there. A query reads the list of its rarest term, puts
 * first the postings that list every other term, fetches the best documents, checks each against its ID
 * (the network does) and against the query (here: the posting's claims are the writer's), ranks
 * them with this node's own matches and returns a page. Sans-I/O: the network is injected.
 *
 * @module
 */

import type { Clock } from "../../core/clock.ts";
import type { Ed25519KeyPair } from "../../core/crypto.ts";
import type { NodeId } from "../../core/node_id.ts";
import {
  entryLifetimeS,
  entrySeqOf,
  liveEntries,
  searchTermIndex,
  signedEntrySet,
  type TermPosting,
  termPostingsMax,
} from "../../content/key_schema.ts";
import { docOfRecord, type ThreadDoc } from "../../content/documents.ts";
import { RecordKind } from "../../content/records.ts";
import type { RecordNetwork } from "../discussion/mod.ts";
import { indexedDocOf, type LocalSearch, type SearchRequest } from "./local_search.ts";
import {
  bm25Of,
  docMatches,
  networkTermOf,
  packPostingTerms,
  postingTerms,
  postingWeightOf,
  type TermStatistics,
} from "./postings.ts";
import type { SearchQuery } from "./query.ts";
import { rank, type RankedMatch, type RankingWeights } from "./ranking.ts";
import type { IndexedDoc, IndexMatch } from "./search_index.ts";
import type { SearchPage } from "./search_report.ts";
import { excerptOf } from "./local_search.ts";

/**
 * Posting lists one query reads: the rarest term's, and the next one's when the first leaves the
 * page short. Two lists of at most 32 postings are about 13 KB; the usual query reads one.
 */
export const postingListsPerQueryMax = 2;

/**
 * Documents one query fetches from the network to check and rank: a page of the best postings.
 * Each is one lookup and about 600 bytes; in the network model (100,000 posts) fifteen raised
 * recall@10 from 0.944 to 0.965 and the bytes a query reads from 11.9 KB to 15.2 KB.
 */
export const networkDocsPerQueryMax = 10;

/**
 * Postings listing every term of the query that make a second posting list not worth reading:
 * a page's worth.
 */
export const completePostingsEnough = 10;

/**
 * How long a query waits for a posting list or a document, in ms. What is not read by then is
 * named in the page's `missing`, and the page is what arrived.
 */
export const networkReadWaitMs = 4000;

/** What {@link NetworkSearch} is made with. */
export interface NetworkSearchOptions {
  /** Records in and out (the discussion service's DHT adapter on a node). */
  network: RecordNetwork;
  /** This node's index and its rankings. */
  local: LocalSearch;
  /** The time. */
  clock: Clock;
  /** The ranking's weights. */
  weights: RankingWeights;
  /** Waits for one read, in ms ({@link networkReadWaitMs} when absent). */
  readWaitMs?: number;
}

/** What publishing a thread's postings did. */
export interface PostingReport {
  /** Terms the thread was posted under. */
  terms: number;
  /** Postings at least one remote holder acknowledged. */
  stored: number;
}

/** The network part of the search service. */
export class NetworkSearch {
  readonly #options: NetworkSearchOptions;

  /**
   * Makes it.
   *
   * @param options Network, local search, clock, weights.
   */
  constructor(options: NetworkSearchOptions) {
    this.#options = options;
  }

  /**
   * Publishes a thread's postings: one entry in the set of each of its important terms, signed
   * by its author, living as long as index entries do.
   *
   * @param author The thread's author (the signer).
   * @param id The thread's ID.
   * @param thread The thread.
   * @returns How many terms, and how many postings were stored elsewhere.
   */
  async publishThread(
    author: Ed25519KeyPair,
    id: NodeId,
    thread: ThreadDoc,
  ): Promise<PostingReport> {
    const doc = indexedDocOf(id, thread);
    const terms = postingTerms(doc, this.#statistics());
    const packed = packPostingTerms(terms);
    const expiresAtS = Math.floor(this.#options.clock.nowMs() / 1000) + entryLifetimeS;
    const results = await Promise.allSettled(terms.map((term) => {
      const value: TermPosting = {
        thread: id,
        createdMs: thread.createdMs,
        weight: term.weight,
        terms: packed,
      };
      const set = signedEntrySet(
        author,
        searchTermIndex(term.term),
        entrySeqOf(id),
        expiresAtS,
        value,
      );
      return this.#options.network.publish(set);
    }));
    const stored =
      results.filter((result) => result.status === "fulfilled" && result.value.stored > 0).length;
    return { terms: terms.length, stored };
  }

  /**
   * One page of results from this node's index and the network's.
   *
   * @param request The query, page size, cursor, explain.
   * @returns The page; `missing` names the reads that did not answer in time.
   * @throws {InvalidInputError} For a bad query, limit or cursor.
   */
  search(request: SearchRequest): Promise<SearchPage> {
    return this.#options.local.searchWith(request, (query, asOfMs) => this.#rank(query, asOfMs));
  }

  async #rank(query: SearchQuery, asOfMs: number): Promise<{
    ranked: RankedMatch[];
    missing: string[];
  }> {
    const { local, weights } = this.#options;
    const localRanked = local.rankQuery(query, asOfMs);
    const known = new Set(localRanked.map((match) => match.id.toHex()));
    const missing: string[] = [];
    const postings = await this.#postings(query, missing);
    const wanted = postings.filter((posting) => !known.has(posting.thread.toHex()))
      .slice(0, networkDocsPerQueryMax);
    const docs = await this.#documents(wanted.map((posting) => posting.thread), missing);
    const stats = this.#statistics();
    const found: IndexMatch[] = docs
      .filter((doc) => doc.createdMs <= asOfMs && docMatches(doc, query))
      .map((doc) => ({
        id: doc.id,
        kind: doc.kind,
        thread: doc.thread,
        author: doc.author,
        createdMs: doc.createdMs,
        title: doc.title,
        excerpt: excerptOf(doc.body),
        tags: doc.tags,
        bm25: bm25Of(doc, query, stats),
      }));
    if (found.length === 0) return { ranked: localRanked, missing };
    // One ranking over both: the local matches keep their index's BM25.
    const all: IndexMatch[] = [...localRanked, ...found];
    return { ranked: rank(all, weights, asOfMs, () => 0), missing };
  }

  /** The postings that list every term of the query, best first, from one or two lists. */
  async #postings(query: SearchQuery, missing: string[]): Promise<TermPosting[]> {
    const terms = networkTerms(query);
    if (terms.length === 0) return [];
    const stats = this.#statistics();
    terms.sort((a, b) => stats.frequency(a) - stats.frequency(b) || b.length - a.length);
    const byThread = new Map<string, { posting: TermPosting; score: number }>();
    const nowS = Math.floor(this.#options.clock.nowMs() / 1000);
    for (const term of terms.slice(0, postingListsPerQueryMax)) {
      const address = searchTermIndex(term);
      let record;
      try {
        const read = await this.#options.network.fetchWithin(address.key, this.#readWaitMs());
        if (!read.complete) missing.push(`postings of "${term}"`);
        record = read.record;
      } catch {
        missing.push(`postings of "${term}"`);
        continue;
      }
      if (!record || record.kind !== RecordKind.set) continue;
      let entries;
      try {
        entries = liveEntries(record, "searchTerm", nowS);
      } catch {
        continue;
      }
      for (const { value } of entries) {
        // The other terms' weights as the posting lists them: a thread listing every term comes
        // first. One that lists fewer may still hold them (a posting lists 8 terms): the
        // document's own check decides.
        const weights = terms.map((other) => postingWeightOf(value.terms, other));
        const listed = weights.filter((weight) => weight > 0).length;
        const score = listed * 256 + weights.reduce((sum, weight) => sum + weight, 0);
        const known = byThread.get(value.thread.toHex());
        if (!known || known.score < score) {
          byThread.set(value.thread.toHex(), { posting: value, score });
        }
      }
      // A set that is not full was never cut: it holds every thread posted under its term, so
      // every thread holding all the terms is here, and the next list adds nothing.
      if (entries.length < termPostingsMax) break;
      // Enough postings that list every term: the next list would cost bytes and add little.
      const complete = [...byThread.values()].filter((entry) =>
        entry.score >= terms.length * 256
      ).length;
      if (complete >= completePostingsEnough) break;
    }
    return [...byThread.values()]
      .sort((a, b) => b.score - a.score || b.posting.createdMs - a.posting.createdMs)
      .map((entry) => entry.posting);
  }

  /** The threads named, fetched in parallel and decoded; the network checked each against its ID. */
  async #documents(ids: NodeId[], missing: string[]): Promise<IndexedDoc[]> {
    const reads = await Promise.all(ids.map(async (id) => {
      try {
        const read = await this.#options.network.fetchWithin(id, this.#readWaitMs());
        if (!read.record) {
          missing.push(`thread ${id.toHex()}`);
          return undefined;
        }
        const doc = read.record.kind === RecordKind.immutable
          ? docOfRecord(read.record)
          : undefined;
        return doc?.type === "thread" ? indexedDocOf(id, doc) : undefined;
      } catch {
        missing.push(`thread ${id.toHex()}`);
        return undefined;
      }
    }));
    return reads.filter((doc): doc is IndexedDoc => doc !== undefined);
  }

  #statistics(): TermStatistics {
    const index = this.#options.local.index;
    return { documents: index.count(), frequency: (word) => index.documentFrequency(word) };
  }

  #readWaitMs(): number {
    return this.#options.readWaitMs ?? networkReadWaitMs;
  }
}

/**
 * The network terms of a query: each word or phrase's longest word, and each tag as `tag:name`;
 * prefixes have none (they are answered by the local index only).
 *
 * @param query The query.
 * @returns The terms, without repeats.
 */
export function networkTerms(query: SearchQuery): string[] {
  const terms = query.terms.map(networkTermOf).filter((term): term is string => term !== undefined);
  return [...new Set([...terms, ...query.tags.map((tag) => `tag:${tag}`)])];
}
