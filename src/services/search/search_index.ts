/**
 * The full-text index as the search service sees it: an interface, so the service stays
 * sans-I/O. The node injects the SQLite FTS5 implementation (src/node/search_index_sqlite.ts);
 * tests may inject another. The index is derived data: everything in it comes from documents in
 * the record store and is rebuilt from them on demand.
 *
 * @module
 */

import type { NodeId } from "../../core/node_id.ts";

/** A document as the index keeps it. */
export interface IndexedDoc {
  /** The document's ID (its record's key). */
  id: NodeId;
  /** A thread or a message. */
  kind: "thread" | "message";
  /** The thread (the document itself for a thread). */
  thread: NodeId;
  /** The author's public key. */
  author: Uint8Array;
  /** When the author says it was written (ms since the epoch). */
  createdMs: number;
  /** The title (empty for a message). */
  title: string;
  /** The thread's tags (none for a message). */
  tags: string[];
  /** The text. */
  body: string;
}

/** The columns of a document as the index stores them: folded words and pairs. */
export interface IndexedFields {
  /** The title's words. */
  title: string;
  /** The tags, as words ("my-tag" → "my tag"). */
  tags: string;
  /** The body's words. */
  body: string;
  /** The author's published name's words. */
  author: string;
  /** The character pairs of title and body in scripts written without spaces. */
  pairs: string;
}

/** A document that matched, with its BM25 relevance. */
export interface IndexMatch {
  /** The document's ID. */
  id: NodeId;
  /** A thread or a message. */
  kind: "thread" | "message";
  /** Its thread. */
  thread: NodeId;
  /** Its author's public key. */
  author: Uint8Array;
  /** Its creation time (ms since the epoch). */
  createdMs: number;
  /** Its title (a message's is empty). */
  title: string;
  /** Its first characters, for a result line. */
  excerpt: string;
  /** The thread's tags. */
  tags: string[];
  /** BM25 relevance, higher is better (FTS5's `bm25()` negated). */
  bm25: number;
}

/** What {@link SearchIndex.match} reads. */
export interface MatchOptions {
  /** Only documents indexed at or before this time (ms), so pages stay stable. */
  asOfMs: number;
  /** Most matches returned, the most relevant first. */
  limit: number;
}

/** A full-text index of documents. */
export interface SearchIndex {
  /**
   * Adds a document, or replaces the one with its ID.
   *
   * @param doc The document.
   * @param fields Its indexable text.
   * @param indexedMs When it was indexed (ms).
   * @param fresh Whether the caller knows the ID is not indexed (a rebuild): no lookup first.
   */
  put(doc: IndexedDoc, fields: IndexedFields, indexedMs: number, fresh?: boolean): void;
  /**
   * Removes a document.
   *
   * @param id Its ID.
   * @returns Whether it was indexed.
   */
  remove(id: NodeId): boolean;
  /**
   * Whether a document is indexed.
   *
   * @param id Its ID.
   * @returns `true` when it is.
   */
  has(id: NodeId): boolean;
  /**
   * Records an author's published name.
   *
   * @param author The author's public key.
   * @param name The name ("" for none).
   * @returns Whether it changed.
   */
  setAuthorName(author: Uint8Array, name: string): boolean;
  /**
   * An author's published name, if known.
   *
   * @param author The author's public key.
   * @returns The name.
   */
  authorName(author: Uint8Array): string | undefined;
  /**
   * Some of an author's indexed documents.
   *
   * @param author The author's public key.
   * @param limit Most IDs returned.
   * @returns Their IDs.
   */
  authorDocs(author: Uint8Array, limit: number): NodeId[];
  /**
   * The documents matching an FTS5 expression made by `ftsExpression`, the most relevant first.
   *
   * @param expression The expression.
   * @param options The as-of time and the limit.
   * @returns The matches.
   */
  match(expression: string, options: MatchOptions): IndexMatch[];
  /**
   * How many documents are indexed.
   *
   * @returns The count.
   */
  count(): number;
  /**
   * How many indexed documents hold a word (for choosing a document's important terms).
   *
   * @param word A folded word.
   * @returns The count.
   */
  documentFrequency(word: string): number;
  /** Empties the index (before a rebuild). */
  clear(): void;
  /**
   * Runs many changes as one (a rebuild, a batch of arrivals); much faster than one at a time.
   *
   * @param changes The changes.
   */
  batch(changes: () => void): void;
}
