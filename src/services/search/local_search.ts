/**
 * Search over the documents this node holds: the index is kept in step with the record store
 * (each stored document is indexed, each removed one dropped, each profile names its author's
 * documents), ranked by {@link rank}, paged by {@link SearchCursor}s over a kept ranking.
 * Sans-I/O: the index, the clock and the loader of held records are injected.
 *
 * @module
 */

import { bytesEqual, toHex } from "../../core/bytes.ts";
import type { Clock } from "../../core/clock.ts";
import { isoTimeOf } from "../../core/format.ts";
import { InvalidInputError } from "../../core/errors.ts";
import type { NodeId } from "../../core/node_id.ts";
import {
  type AuthoredDoc,
  decodeProfile,
  heldDocOf,
  PROFILE_NAME,
} from "../../content/documents.ts";
import { decodeStoredRecord, type DhtRecord, RecordKind } from "../../content/records.ts";
import { ftsExpression, parseQuery, type SearchQuery } from "./query.ts";
import { rank, type RankedMatch, type RankingWeights } from "./ranking.ts";
import {
  decodeSearchCursor,
  encodeSearchCursor,
  queryHashOf,
  type SearchCursor,
} from "./search_cursor.ts";
import type { IndexedDoc, IndexedFields, SearchIndex } from "./search_index.ts";
import { indexableText, words } from "./text.ts";
import type { SearchHit, SearchPage } from "./search_report.ts";

/**
 * Most matches a query ranks: the most relevant by BM25, then ordered by the combined score.
 * Bounds the rows a query reads (and a kept ranking's size); a document below the 1,000th by
 * relevance is not found by that query, however fresh.
 */
export const searchCandidatesMax = 1000;

/** Most results on one page. More: refused with one line. */
export const searchPageMax = 100;

/** Results on a page when the caller does not say. */
export const searchPageDefault = 10;

/**
 * Rankings kept for paging. Each is at most {@link searchCandidatesMax} IDs and scores (about
 * 200 KB); 32 is 6 MB at most. The oldest is dropped first; a cursor whose ranking is gone ranks
 * again as of its time.
 */
export const searchSnapshotsMax = 32;

/** How long a kept ranking serves its cursors, in ms: ten minutes of reading pages. */
export const searchSnapshotLifetimeMs: number = 10 * 60_000;

/**
 * Documents of one author re-indexed when the author's published name changes; beyond it, older
 * documents keep the old name until re-indexed (`rhizome search --reindex`). Bounds the work one
 * profile can cause.
 */
export const authorReindexMax = 1000;

/**
 * Store changes held before they are written to the index in one transaction: a transaction per
 * record costs about ten times a batched one. At the limit the batch is written at once; a query
 * writes it first, so it never misses a held document.
 */
export const pendingChangesMax = 512;

/** Characters of a document's text shown with a result. */
export const excerptCharsMax = 160;

/** What {@link LocalSearch} is made with. */
export interface LocalSearchOptions {
  /** The index (SQLite FTS5 on a node). */
  index: SearchIndex;
  /** The time. */
  clock: Clock;
  /** The ranking's weights (the config's `[search]`). */
  weights: RankingWeights;
  /** A thread's popularity score (≥ 0); 0 for every thread when absent. */
  popularity?: (threadHex: string) => number;
  /** The bytes of a held record, to re-index an author's documents when their name changes. */
  load?: (key: NodeId) => Uint8Array | undefined;
}

/** A request for one page of results. */
export interface SearchRequest {
  /** The query as typed. */
  query: string;
  /** Results on the page, 1..{@link searchPageMax}. */
  limit: number;
  /** Where the previous page ended. */
  cursor?: string;
  /** Whether each result carries its score's parts. */
  explain?: boolean;
}

/** A kept ranking: what the pages of one query are cut from. */
interface Snapshot {
  /** Its number, in the cursors. */
  number: number;
  /** The query's hash. */
  queryHash: number;
  /** The time it ranks as of. */
  asOfMs: number;
  /** When it was made (it is dropped {@link searchSnapshotLifetimeMs} later). */
  madeMs: number;
  /** The ranking, best first. */
  ranked: RankedMatch[];
  /** This node's index alone, or with the network's. */
  source: "local" | "network";
  /** The query as understood. */
  canonical: string;
}

/** The local search: index upkeep and queries. */
export class LocalSearch {
  readonly #options: LocalSearchOptions;
  readonly #snapshots = new Map<number, Snapshot>();
  #snapshotNumber = 0;
  #indexedMs = 0;
  /** Changes not yet written: bytes stored, or `undefined` for removed; in arrival order. */
  readonly #pending = new Map<string, { key: NodeId; bytes: Uint8Array | undefined }>();
  #flushFailures = 0;

  /**
   * Makes the service over an index (which may already hold documents).
   *
   * @param options Index, clock, weights, popularity and loader.
   */
  constructor(options: LocalSearchOptions) {
    this.#options = options;
  }

  /** The index. */
  get index(): SearchIndex {
    return this.#options.index;
  }

  /**
   * Takes in a record the store now holds: a document is indexed, a profile names its author.
   * Anything else is ignored. Bytes that do not decode are ignored too (the store verified them,
   * so that would be a bug elsewhere, not a reason to stop). The change waits with others until
   * {@link flush} (the node calls it shortly after), a query, or {@link pendingChangesMax}.
   *
   * @param key The record's key.
   * @param bytes The record as stored.
   */
  noteStored(key: NodeId, bytes: Uint8Array): void {
    this.#queue(key, bytes);
  }

  /**
   * Forgets a record the store no longer holds (queued as {@link noteStored} is).
   *
   * @param key The record's key.
   */
  noteRemoved(key: NodeId): void {
    this.#queue(key, undefined);
  }

  /** Whether changes wait to be written ({@link flush}). */
  get pendingChanges(): number {
    return this.#pending.size;
  }

  /**
   * Writes the waiting changes to the index, in one transaction. When the index cannot take them
   * (its disk is full, its file damaged), they are dropped and counted in {@link flushFailures}:
   * queries go on over what the index holds, and `rhizome search --reindex` brings it back in
   * step with the store.
   *
   * @returns Whether the changes were written.
   */
  flush(): boolean {
    if (this.#pending.size === 0) return true;
    const changes = [...this.#pending.values()];
    this.#pending.clear();
    try {
      this.#options.index.batch(() => {
        for (const { key, bytes } of changes) {
          if (bytes) this.#apply(key, bytes);
          else this.#options.index.remove(key);
        }
      });
      return true;
    } catch {
      this.#flushFailures++;
      return false;
    }
  }

  /** Batches of store changes the index could not take since start (see {@link flush}). */
  get flushFailures(): number {
    return this.#flushFailures;
  }

  #queue(key: NodeId, bytes: Uint8Array | undefined): void {
    const hex = key.toHex();
    // A later change of the same key goes after the others: the order of the store's is kept.
    this.#pending.delete(hex);
    this.#pending.set(hex, { key, bytes });
    if (this.#pending.size >= pendingChangesMax) this.flush();
  }

  #apply(key: NodeId, bytes: Uint8Array): void {
    const doc = heldDocOf(bytes);
    if (doc) return this.#put(indexedDocOf(key, doc));
    let record: DhtRecord;
    try {
      record = decodeStoredRecord(bytes);
    } catch {
      return;
    }
    if (record.kind === RecordKind.mutable && bytesEqual(record.name, PROFILE_NAME)) {
      let name: string;
      try {
        name = decodeProfile(record.payload).name;
      } catch {
        return;
      }
      if (this.#options.index.setAuthorName(record.owner, name)) this.#reindexAuthor(record.owner);
    }
  }

  /**
   * Rebuilds the index from every record held: empties it, then indexes profiles first (so
   * documents carry their authors' names), then documents, in one batch.
   *
   * @param records Every record held.
   * @returns How many documents and profiles were indexed.
   */
  rebuild(records: Iterable<{ key: NodeId; bytes: Uint8Array }>): {
    documents: number;
    profiles: number;
  } {
    const { index } = this.#options;
    let documents = 0;
    let profiles = 0;
    const docs: IndexedDoc[] = [];
    this.#pending.clear();
    index.batch(() => {
      index.clear();
      for (const { key, bytes } of records) {
        const doc = heldDocOf(bytes);
        if (doc) {
          docs.push(indexedDocOf(key, doc));
          continue;
        }
        let record: DhtRecord;
        try {
          record = decodeStoredRecord(bytes);
        } catch {
          continue;
        }
        if (record.kind === RecordKind.mutable && bytesEqual(record.name, PROFILE_NAME)) {
          try {
            index.setAuthorName(record.owner, decodeProfile(record.payload).name);
            profiles++;
          } catch {
            // A profile that does not decode names nobody.
          }
        }
      }
      for (const doc of docs) {
        this.#put(doc, true);
        documents++;
      }
    });
    this.#snapshots.clear();
    return { documents, profiles };
  }

  /**
   * One page of results for a query.
   *
   * @param request The query, the page size, the cursor.
   * @returns The page.
   * @throws {InvalidInputError} For a bad query, limit or cursor (one line; nothing read).
   */
  search(request: SearchRequest): SearchPage {
    const prepared = this.#prepare(request);
    if ("kept" in prepared) return this.#page(prepared.kept, prepared.offset, request, []);
    const ranked = this.rankQuery(prepared.query, prepared.asOfMs);
    const snapshot = this.#keep(
      prepared.query.canonical,
      prepared.queryHash,
      prepared.asOfMs,
      ranked,
      "local",
    );
    return this.#page(snapshot, 0, request, []);
  }

  /**
   * {@link search} with another ranking: the network search ranks this index's matches with
   * what it found elsewhere. Pages come from the kept ranking as for a local search.
   *
   * @param request The query, page size, cursor.
   * @param ranker Ranks the query as of a time; names what it could not read.
   * @returns The page.
   * @throws {InvalidInputError} For a bad query, limit or cursor.
   */
  async searchWith(
    request: SearchRequest,
    ranker: (
      query: SearchQuery,
      asOfMs: number,
    ) => Promise<{ ranked: RankedMatch[]; missing: string[] }>,
  ): Promise<SearchPage> {
    const prepared = this.#prepare(request);
    if ("kept" in prepared) return this.#page(prepared.kept, prepared.offset, request, []);
    const { ranked, missing } = await ranker(prepared.query, prepared.asOfMs);
    const snapshot = this.#keep(
      prepared.query.canonical,
      prepared.queryHash,
      prepared.asOfMs,
      ranked,
      "network",
    );
    return this.#page(snapshot, 0, request, missing);
  }

  #prepare(request: SearchRequest):
    | { kept: Snapshot; offset: number }
    | { query: SearchQuery; queryHash: number; asOfMs: number } {
    const query = parseQuery(request.query);
    checkLimit(request.limit);
    this.flush();
    const queryHash = queryHashOf(query.canonical);
    const cursor = request.cursor === undefined ? undefined : decodeSearchCursor(request.cursor);
    if (cursor && cursor.queryHash !== queryHash) {
      throw new InvalidInputError("Cannot search: the cursor belongs to another query");
    }
    const nowMs = this.#options.clock.nowMs();
    this.#dropOldSnapshots(nowMs);
    if (cursor) {
      const kept = this.#snapshots.get(cursor.snapshot);
      if (kept && kept.queryHash === queryHash && kept.asOfMs === cursor.asOfMs) {
        return { kept, offset: cursor.offset };
      }
      // The ranking is gone: rank again as of the cursor's time, and go on from its offset.
      const ranked = this.rankQuery(query, cursor.asOfMs);
      const again = this.#keep(query.canonical, queryHash, cursor.asOfMs, ranked, "local");
      return { kept: again, offset: cursor.offset };
    }
    return { query, queryHash, asOfMs: Math.max(nowMs, this.#indexedMs) };
  }

  #keep(
    canonical: string,
    queryHash: number,
    asOfMs: number,
    ranked: RankedMatch[],
    source: "local" | "network",
  ): Snapshot {
    this.#snapshotNumber = (this.#snapshotNumber % 0xffff_fffe) + 1;
    const snapshot: Snapshot = {
      number: this.#snapshotNumber,
      queryHash,
      asOfMs,
      madeMs: this.#options.clock.nowMs(),
      ranked: ranked.slice(0, searchCandidatesMax),
      source,
      canonical,
    };
    this.#snapshots.set(snapshot.number, snapshot);
    while (this.#snapshots.size > searchSnapshotsMax) {
      this.#snapshots.delete(this.#snapshots.keys().next().value!);
    }
    return snapshot;
  }

  #page(snapshot: Snapshot, offset: number, request: SearchRequest, missing: string[]): SearchPage {
    const page = snapshot.ranked.slice(offset, offset + request.limit);
    const nextOffset = offset + page.length;
    const next: SearchCursor | undefined = nextOffset < snapshot.ranked.length
      ? {
        snapshot: snapshot.number,
        asOfMs: snapshot.asOfMs,
        offset: nextOffset,
        queryHash: snapshot.queryHash,
      }
      : undefined;
    return {
      query: snapshot.canonical,
      source: snapshot.source,
      results: page.map((match) => this.#hit(match, request.explain ?? false)),
      matched: snapshot.ranked.length,
      as_of: isoTimeOf(snapshot.asOfMs),
      next_cursor: next ? encodeSearchCursor(next) : null,
      missing,
    };
  }

  /**
   * Ranks a parsed query against the index as of a time, without paging: the network search
   * merges this with what it found elsewhere.
   *
   * @param query The query.
   * @param asOfMs The as-of time.
   * @returns The ranking, best first.
   */
  rankQuery(query: SearchQuery, asOfMs: number): RankedMatch[] {
    this.flush();
    const matches = this.#options.index.match(ftsExpression(query), {
      asOfMs,
      limit: searchCandidatesMax,
    }).filter((match) => query.tags.every((tag) => match.tags.includes(tag)));
    return rank(matches, this.#options.weights, asOfMs, this.#options.popularity ?? (() => 0));
  }

  /**
   * A result as the API shows it.
   *
   * @param match A ranked match.
   * @param explain Whether to include the score's parts.
   * @returns The hit.
   */
  #hit(match: RankedMatch, explain: boolean): SearchHit {
    return hitOf(match, this.#options.index.authorName(match.author), explain);
  }

  #dropOldSnapshots(nowMs: number): void {
    for (const [number, snapshot] of this.#snapshots) {
      if (nowMs - snapshot.madeMs <= searchSnapshotLifetimeMs) break;
      this.#snapshots.delete(number);
    }
  }

  /** Indexes a document; `fresh` when the index cannot hold it yet (a rebuild after clear). */
  #put(doc: IndexedDoc, fresh = false): void {
    const { index, clock } = this.#options;
    // Never earlier than the last: a document indexed after a ranking's as-of time stays out.
    const indexedMs = Math.max(clock.nowMs(), this.#indexedMs);
    this.#indexedMs = indexedMs;
    index.put(doc, fieldsOf(doc, index.authorName(doc.author) ?? ""), indexedMs, fresh);
  }

  #reindexAuthor(author: Uint8Array): void {
    const { index, load } = this.#options;
    if (!load) return;
    const ids = index.authorDocs(author, authorReindexMax);
    index.batch(() => {
      for (const id of ids) {
        const bytes = load(id);
        if (bytes === undefined) continue;
        const doc = heldDocOf(bytes);
        if (doc) this.#put(indexedDocOf(id, doc));
      }
    });
  }
}

/**
 * A decoded document as the index keeps it.
 *
 * @param id Its ID.
 * @param doc The document.
 * @returns The indexed form.
 */
export function indexedDocOf(id: NodeId, doc: AuthoredDoc): IndexedDoc {
  return doc.type === "thread"
    ? {
      id,
      kind: "thread",
      thread: id,
      author: doc.author,
      createdMs: doc.createdMs,
      title: doc.title,
      tags: doc.tags,
      body: doc.body,
    }
    : {
      id,
      kind: "message",
      thread: doc.thread,
      author: doc.author,
      createdMs: doc.createdMs,
      title: "",
      tags: [],
      body: doc.body,
    };
}

/**
 * The indexable columns of a document.
 *
 * @param doc The document.
 * @param authorName Its author's published name ("" when unknown).
 * @returns The columns.
 */
export function fieldsOf(doc: IndexedDoc, authorName: string): IndexedFields {
  const title = indexableText(doc.title);
  const body = indexableText(doc.body);
  return {
    title: title.words,
    tags: doc.tags.map((tag) => tag.replaceAll("-", " ")).join(" "),
    body: body.words,
    author: words(authorName).join(" "),
    pairs: [title.pairs, body.pairs].filter((text) => text !== "").join(" "),
  };
}

/**
 * The first characters of a text, on one line.
 *
 * @param text A document's body.
 * @returns At most {@link excerptCharsMax} characters.
 */
export function excerptOf(text: string): string {
  // Only the start is looked at: two code units per character at most, and spaces collapse.
  const head = text.slice(0, excerptCharsMax * 4).replace(/\s+/g, " ").trim();
  const chars = [...head];
  const cut = chars.length > excerptCharsMax || text.length > excerptCharsMax * 4;
  return cut ? `${chars.slice(0, excerptCharsMax).join("")}…` : head;
}

/**
 * A ranked match as the API shows it.
 *
 * @param match The match.
 * @param authorName The author's published name, if known.
 * @param explain Whether to include the score's parts.
 * @returns The hit.
 */
export function hitOf(
  match: RankedMatch,
  authorName: string | undefined,
  explain: boolean,
): SearchHit {
  const { parts } = match;
  return {
    id: match.id.toHex(),
    kind: match.kind,
    thread: match.thread.toHex(),
    title: match.title,
    excerpt: match.excerpt,
    author: toHex(match.author),
    ...(authorName ? { author_name: authorName } : {}),
    created_at: isoTimeOf(match.createdMs),
    tags: match.tags,
    score: round(parts.score),
    ...(explain
      ? {
        explain: {
          bm25: round(parts.bm25),
          relevance: round(parts.relevance),
          freshness: round(parts.freshness),
          popularity: round(parts.popularity),
          author_factor: round(parts.authorFactor),
        },
      }
      : {}),
  };
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > searchPageMax) {
    throw new InvalidInputError(
      `Cannot search: the limit must be 1..${searchPageMax}, got ${limit}`,
    );
  }
}
