/**
 * The search index on SQLite's FTS5 (Deno's built-in `node:sqlite`): a file beside the record
 * store in the data directory (`search.sqlite`), or memory for a node without one. Derived data:
 * a file of another format, or one that does not open, is deleted and rebuilt from the store.
 *
 * Tables: `docs` (one row per document: ID, thread, author, time, title, excerpt, tags, when
 * indexed), `fts` (FTS5, contentless with deletes: title, tags, body, author name, pairs;
 * `unicode61 remove_diacritics 2`, prefix indexes of 2 and 3 characters), `authors` (published
 * names). BM25 weights the title 3, tags 2, body 1, author name 1, pairs 1.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { NodeId } from "../core/node_id.ts";
import {
  excerptOf,
  type IndexedDoc,
  type IndexedFields,
  type IndexMatch,
  type MatchOptions,
  type SearchIndex,
} from "../services/search/mod.ts";

/**
 * Matches of one author a query reads: their best by BM25. The ranking counts an author's third
 * hit half and each further one half again, so the 16th weighs 1/16,000 of the first and more
 * would only take the place of other authors' documents among the candidates.
 */
export const authorMatchesMax = 16;

/**
 * SQLite's page cache for the index, in KiB: 32 MiB holds the FTS5 segments a rebuild of 100,000
 * posts keeps touching (it rebuilds 40 % faster than with the 2 MiB default, measured); SQLite
 * uses it only as the index grows to need it.
 */
export const searchCacheKiB = 32 * 1024;

/** The index's format; a file of another is rebuilt. */
export const SEARCH_INDEX_FORMAT = "rhizome-search/1";

const schema = `
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs(
  rowid INTEGER PRIMARY KEY,
  id BLOB NOT NULL UNIQUE,
  kind INTEGER NOT NULL,
  thread BLOB NOT NULL,
  author BLOB NOT NULL,
  created_ms INTEGER NOT NULL,
  indexed_ms INTEGER NOT NULL,
  title TEXT NOT NULL,
  excerpt TEXT NOT NULL,
  tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_author ON docs(author);
CREATE TABLE IF NOT EXISTS authors(author BLOB PRIMARY KEY, name TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
  title, tags, body, author, pairs,
  content='', contentless_delete=1,
  tokenize='unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab(fts, row);
`;

/** SQLite FTS5 implementation of the search service's {@link SearchIndex}. */
export class SqliteSearchIndex implements SearchIndex {
  readonly #db: DatabaseSync;
  readonly #statements: Record<string, StatementSync>;
  #depth = 0;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    const prepare = (sql: string) => db.prepare(sql);
    this.#statements = {
      rowOf: prepare("SELECT rowid FROM docs WHERE id = ?"),
      insertDoc: prepare(
        "INSERT INTO docs(id, kind, thread, author, created_ms, indexed_ms, title, excerpt, tags) " +
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      deleteDoc: prepare("DELETE FROM docs WHERE rowid = ?"),
      insertFts: prepare(
        "INSERT INTO fts(rowid, title, tags, body, author, pairs) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      deleteFts: prepare("DELETE FROM fts WHERE rowid = ?"),
      authorName: prepare("SELECT name FROM authors WHERE author = ?"),
      setAuthor: prepare("INSERT OR REPLACE INTO authors(author, name) VALUES (?, ?)"),
      authorDocs: prepare("SELECT id FROM docs WHERE author = ? LIMIT ?"),
      count: prepare("SELECT count(*) AS n FROM docs"),
      frequency: prepare("SELECT doc FROM fts_vocab WHERE term = ?"),
      // An author's best matches only (authorMatchesMax): a flood from a few keys cannot push
      // everyone else out of the candidates the ranking sees.
      match: prepare(
        "WITH m AS MATERIALIZED (SELECT d.rowid AS r, d.author AS author, " +
          "bm25(fts, 3.0, 2.0, 1.0, 1.0, 1.0) AS score FROM fts JOIN docs d ON d.rowid = fts.rowid " +
          "WHERE fts MATCH ? AND d.indexed_ms <= ?), " +
          "ranked AS (SELECT r, score, row_number() OVER (PARTITION BY author ORDER BY score) AS n " +
          "FROM m) " +
          "SELECT d.id, d.kind, d.thread, d.author, d.created_ms, d.title, d.excerpt, d.tags, " +
          "ranked.score AS score FROM ranked JOIN docs d ON d.rowid = ranked.r " +
          "WHERE ranked.n <= ? ORDER BY ranked.score LIMIT ?",
      ),
    };
  }

  /**
   * Opens (creating) the index file; a file of another format, or one SQLite cannot read, is
   * deleted and made anew, and `created` says the index must be rebuilt from the store.
   *
   * @param path The file, or `:memory:`.
   * @returns The index, and whether it is new (empty).
   */
  static open(path: string): { index: SqliteSearchIndex; created: boolean } {
    const attempt = (): { index: SqliteSearchIndex; created: boolean } | undefined => {
      const db = new DatabaseSync(path);
      try {
        db.exec(
          `PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-${searchCacheKiB};`,
        );
        const hasMeta = db.prepare(
          "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        ).get() as { n: number };
        const format = hasMeta.n > 0
          ? (db.prepare("SELECT v FROM meta WHERE k = 'format'").get() as { v: string } | undefined)
            ?.v
          : undefined;
        if (hasMeta.n > 0 && format !== SEARCH_INDEX_FORMAT) {
          db.close();
          return undefined;
        }
        db.exec(schema);
        db.prepare("INSERT OR REPLACE INTO meta(k, v) VALUES ('format', ?)").run(
          SEARCH_INDEX_FORMAT,
        );
        return { index: new SqliteSearchIndex(db), created: format === undefined };
      } catch (error) {
        db.close();
        if (path === ":memory:") throw error;
        return undefined;
      }
    };
    const opened = attempt();
    if (opened) return opened;
    for (const suffix of ["", "-wal", "-shm"]) {
      try {
        Deno.removeSync(path + suffix);
      } catch {
        // Absent already.
      }
    }
    const fresh = attempt();
    if (!fresh) throw new Error(`Cannot open the search index ${path}`);
    return { index: fresh.index, created: true };
  }

  put(doc: IndexedDoc, fields: IndexedFields, indexedMs: number, fresh = false): void {
    this.batch(() => {
      if (!fresh) this.remove(doc.id);
      const { lastInsertRowid } = this.#statements.insertDoc.run(
        doc.id.toBytes(),
        doc.kind === "thread" ? 1 : 2,
        doc.thread.toBytes(),
        doc.author,
        doc.createdMs,
        indexedMs,
        doc.title,
        excerptOf(doc.body),
        doc.tags.join(" "),
      );
      this.#statements.insertFts.run(
        lastInsertRowid,
        fields.title,
        fields.tags,
        fields.body,
        fields.author,
        fields.pairs,
      );
    });
  }

  remove(id: NodeId): boolean {
    const row = this.#statements.rowOf.get(id.toBytes()) as { rowid: number } | undefined;
    if (!row) return false;
    this.batch(() => {
      this.#statements.deleteFts.run(row.rowid);
      this.#statements.deleteDoc.run(row.rowid);
    });
    return true;
  }

  has(id: NodeId): boolean {
    return this.#statements.rowOf.get(id.toBytes()) !== undefined;
  }

  setAuthorName(author: Uint8Array, name: string): boolean {
    if (this.authorName(author) === name) return false;
    this.#statements.setAuthor.run(author, name);
    return true;
  }

  authorName(author: Uint8Array): string | undefined {
    const row = this.#statements.authorName.get(author) as { name: string } | undefined;
    return row?.name || undefined;
  }

  authorDocs(author: Uint8Array, limit: number): NodeId[] {
    const rows = this.#statements.authorDocs.all(author, limit) as { id: Uint8Array }[];
    return rows.map((row) => NodeId.fromBytes(row.id));
  }

  match(expression: string, options: MatchOptions): IndexMatch[] {
    const rows = this.#statements.match.all(
      expression,
      options.asOfMs,
      authorMatchesMax,
      options.limit,
    ) as {
      id: Uint8Array;
      kind: number;
      thread: Uint8Array;
      author: Uint8Array;
      created_ms: number;
      title: string;
      excerpt: string;
      tags: string;
      score: number;
    }[];
    return rows.map((row) => ({
      id: NodeId.fromBytes(row.id),
      kind: row.kind === 1 ? "thread" : "message",
      thread: NodeId.fromBytes(row.thread),
      author: new Uint8Array(row.author),
      createdMs: row.created_ms,
      title: row.title,
      excerpt: row.excerpt,
      tags: row.tags === "" ? [] : row.tags.split(" "),
      bm25: -row.score,
    }));
  }

  count(): number {
    if (!this.#db.isOpen) return 0;
    return (this.#statements.count.get() as { n: number }).n;
  }

  documentFrequency(word: string): number {
    const row = this.#statements.frequency.get(word) as { doc: number } | undefined;
    return row?.doc ?? 0;
  }

  clear(): void {
    this.batch(() => {
      this.#db.exec(
        "INSERT INTO fts(fts) VALUES('delete-all'); DELETE FROM docs; DELETE FROM authors;",
      );
    });
  }

  batch(changes: () => void): void {
    if (this.#depth > 0) return changes();
    this.#depth++;
    this.#db.exec("BEGIN");
    try {
      changes();
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    } finally {
      this.#depth--;
    }
  }

  /** Closes the file. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
