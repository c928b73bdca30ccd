/**
 * The local search benchmark (issue 20): indexes a synthetic corpus of signed posts with the
 * search service over SQLite FTS5 (the node's index, in a file), then runs two-term queries, and
 * does the same with MiniSearch (a JavaScript engine) in the same run. Also builds FTS5's
 * trigram tokenizer over the same text, the alternative for scripts without spaces, for its size
 * and speed. Prints one JSON object.
 *
 * The corpus and queries are `_search_corpus.ts`'s, with 2,000 authors.
 *
 * Usage: deno task bench:search [--posts N] [--queries N] [--seed N]
 */

import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import { join } from "node:path";
import MiniSearch from "minisearch";
import { DatabaseSync } from "node:sqlite";
import { VirtualClock } from "../src/core/clock.ts";
import { ed25519KeyPairFromSecretKey } from "../src/core/crypto.ts";
import { docId, docRecord, signThread } from "../src/content/documents.ts";
import { encodeRecord } from "../src/content/records.ts";
import type { NodeId } from "../src/core/node_id.ts";
import { LocalSearch } from "../src/services/search/mod.ts";
import { SqliteSearchIndex } from "../src/node/search_index_sqlite.ts";
import { makeCorpus } from "./_search_corpus.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    posts: { type: "string", default: "100000" },
    queries: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
  },
});
const postsCount = Number(flags.posts);
const queriesCount = Number(flags.queries);
const authorsCount = 2000;
const authors = Array.from({ length: authorsCount }, (_, i) => {
  const secret = new Uint8Array(32);
  new DataView(secret.buffer).setUint32(0, i + 1);
  return ed25519KeyPairFromSecretKey(secret);
});

// --- the corpus (not timed) ---
const startMs = 1_700_000_000_000;
const made = performance.now();
const { posts, queries } = makeCorpus({
  posts: postsCount,
  queries: queriesCount,
  authors: authorsCount,
  seed: Number(flags.seed),
});
const records: { key: NodeId; bytes: Uint8Array }[] = [];
const texts: { id: number; title: string; body: string; tags: string }[] = [];
for (const post of posts) {
  const doc = signThread(authors[post.author], {
    createdMs: startMs - post.ageMs,
    title: post.title.join(" "),
    body: post.body.join(" "),
    tags: post.tags,
  });
  records.push({ key: docId(doc), bytes: encodeRecord(docRecord(doc)) });
  texts.push({ id: post.index, title: doc.title, body: doc.body, tags: doc.tags.join(" ") });
}
const corpusMs = performance.now() - made;

const directory = await Deno.makeTempDir({ prefix: "rhizome-bench-search-" });
try {
  // --- FTS5, through the search service ---
  const path = join(directory, "search.sqlite");
  const { index } = SqliteSearchIndex.open(path);
  const clock = new VirtualClock(startMs);
  const search = new LocalSearch({
    index,
    clock,
    weights: { relevance: 100, freshness: 25, popularity: 10, freshnessHalfLifeS: 7 * 86400 },
  });
  // New arrivals are posts the index has not seen (documents never change): keep some back.
  const arrivals = Math.min(5000, Math.floor(postsCount / 10));
  const initial = records.slice(0, postsCount - 2 * arrivals);
  let began = performance.now();
  let cpuBegan = cpuMs();
  const rebuilt = search.rebuild(initial);
  const rebuildMs = performance.now() - began;
  const rebuildCpuMs = cpuMs() - cpuBegan;

  // Arrivals as the store's observer feeds them: batched (the node writes every 50 ms or 512
  // changes), and one transaction each (the worst case: records arriving one by one, slowly).
  const batchedAt = initial.length;
  began = performance.now();
  cpuBegan = cpuMs();
  for (let i = batchedAt; i < batchedAt + arrivals; i++) {
    search.noteStored(records[i].key, records[i].bytes);
  }
  search.flush();
  const arrivalMs = performance.now() - began;
  const arrivalCpuMs = cpuMs() - cpuBegan;
  began = performance.now();
  for (let i = batchedAt + arrivals; i < postsCount; i++) {
    search.noteStored(records[i].key, records[i].bytes);
    search.flush();
  }
  const singleMs = performance.now() - began;

  const serviceTimes: number[] = [];
  const resultCounts: number[] = [];
  for (const query of queries) {
    const t0 = performance.now();
    const page = search.search({ query, limit: 10 });
    serviceTimes.push(performance.now() - t0);
    resultCounts.push(page.matched);
  }
  const rawTimes: number[] = [];
  for (const query of queries) {
    const [a, b] = query.split(" ");
    const t0 = performance.now();
    index.match(`{title body author} : "${a}" AND {title body author} : "${b}"`, {
      asOfMs: startMs,
      limit: 10,
    });
    rawTimes.push(performance.now() - t0);
  }
  index.close();
  const ftsBytes = await fileBytes(path);

  // --- FTS5 trigram, the alternative tokenizer, over the same text ---
  const trigramPath = join(directory, "trigram.sqlite");
  const trigram = new DatabaseSync(trigramPath);
  trigram.exec(
    "PRAGMA journal_mode=WAL; CREATE VIRTUAL TABLE t USING fts5(title, body, content='', contentless_delete=1, tokenize='trigram remove_diacritics 1')",
  );
  const insert = trigram.prepare("INSERT INTO t(rowid, title, body) VALUES (?, ?, ?)");
  began = performance.now();
  trigram.exec("BEGIN");
  for (const text of texts) insert.run(text.id + 1, text.title, text.body);
  trigram.exec("COMMIT");
  const trigramMs = performance.now() - began;
  const trigramQuery = trigram.prepare(
    "SELECT rowid FROM t WHERE t MATCH ? ORDER BY rank LIMIT 10",
  );
  const trigramTimes: number[] = [];
  for (const query of queries) {
    const [a, b] = query.split(" ");
    const t0 = performance.now();
    trigramQuery.all(`"${a}" AND "${b}"`);
    trigramTimes.push(performance.now() - t0);
  }
  trigram.close();
  const trigramBytes = await fileBytes(trigramPath);

  // --- MiniSearch, in memory ---
  const mini = new MiniSearch({
    fields: ["title", "body", "tags"],
    idField: "id",
    searchOptions: { boost: { title: 3, tags: 2 }, combineWith: "AND" },
  });
  began = performance.now();
  cpuBegan = cpuMs();
  mini.addAll(texts);
  const miniMs = performance.now() - began;
  const miniCpuMs = cpuMs() - cpuBegan;
  const miniTimes: number[] = [];
  for (const query of queries) {
    const t0 = performance.now();
    mini.search(query).slice(0, 10);
    miniTimes.push(performance.now() - t0);
  }
  const heapBytes = Deno.memoryUsage().heapUsed;

  console.log(JSON.stringify(
    {
      posts: postsCount,
      load_average: Deno.loadavg(),
      cores: navigator.hardwareConcurrency,
      queries: queries.length,
      corpus_build_ms: Math.round(corpusMs),
      mean_matches_per_query: Math.round(
        resultCounts.reduce((s, n) => s + n, 0) / resultCounts.length,
      ),
      fts5: {
        rebuild_posts: rebuilt.documents,
        rebuild_posts_per_s: Math.round(rebuilt.documents / (rebuildMs / 1000)),
        rebuild_posts_per_cpu_s: Math.round(rebuilt.documents / (rebuildCpuMs / 1000)),
        rebuild_ms: Math.round(rebuildMs),
        arrivals_batched_posts_per_s: Math.round(arrivals / (arrivalMs / 1000)),
        arrivals_batched_posts_per_cpu_s: Math.round(arrivals / (arrivalCpuMs / 1000)),
        arrivals_one_per_transaction_posts_per_s: Math.round(arrivals / (singleMs / 1000)),
        service_query_ms: percentiles(serviceTimes),
        raw_match_ms: percentiles(rawTimes),
        file_bytes: ftsBytes,
      },
      fts5_trigram: {
        build_posts_per_s: Math.round(postsCount / (trigramMs / 1000)),
        query_ms: percentiles(trigramTimes),
        file_bytes: trigramBytes,
      },
      minisearch: {
        version: "7.2.0",
        index_posts_per_s: Math.round(postsCount / (miniMs / 1000)),
        index_posts_per_cpu_s: Math.round(postsCount / (miniCpuMs / 1000)),
        query_ms: percentiles(miniTimes),
        heap_bytes_after: heapBytes,
      },
      targets: {
        index_posts_per_s_min: 20_000,
        two_term_p50_ms_max: 1,
        two_term_p99_ms_max: 10,
      },
    },
    null,
    2,
  ));
} finally {
  await Deno.remove(directory, { recursive: true });
}

function percentiles(times: number[]): { p50: number; p90: number; p99: number; max: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) =>
    round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(sorted[sorted.length - 1]) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * This process's CPU time (user + system) in ms, from /proc (10 ms ticks): throughput per CPU
 * second does not depend on how many other processes share the cores.
 */
/** CPU time of this process so far, ms (user and system); `/proc/self/stat` needs --allow-all. */
function cpuMs(): number {
  const { user, system } = cpuUsage();
  return (user + system) / 1000;
}

async function fileBytes(path: string): Promise<number> {
  let bytes = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      bytes += (await Deno.stat(path + suffix)).size;
    } catch {
      // Absent.
    }
  }
  return bytes;
}
