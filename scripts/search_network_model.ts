/**
 * The network index, modelled without the DHT (issue 20's network figures, the parts that do not
 * need one): every post is published under its important terms (`postingTerms`, 8 terms) into
 * term sets kept as the DHT's merge keeps them (the 32 highest-weighted postings, two per
 * writer); each two-term query reads the set of its rarest term as the search service does,
 * fetches the 15 best postings' documents, checks and ranks them (`bm25Of`). Compared with a
 * centralized BM25 (every post holding both terms, ranked by the same scorer with the whole
 * corpus's statistics): recall@10, bytes read per query (the sets' encoded records, and with the
 * documents fetched; lookup overhead not counted), and the index's size against keyword-only postings
 * (entries holding only the thread and its time). The querying node's statistics are a 10 %
 * sample of the corpus, as a node's own index would be. Prints one JSON object.
 *
 * Usage: deno run -A scripts/search_network_model.ts [--posts N] [--queries N] [--seed N]
 */

import { parseArgs } from "node:util";
import { NodeId } from "../src/core/node_id.ts";
import { sha256 } from "../src/core/crypto.ts";
import { utf8Encode } from "../src/core/bytes.ts";
import {
  encodeEntry,
  postingTermsMax,
  searchTermIndex,
  termPostingsMax,
  termPostingsPerWriterMax,
} from "../src/content/key_schema.ts";
import { encodeRecord, RecordKind, type SetEntry } from "../src/content/records.ts";
import {
  bm25Of,
  completePostingsEnough,
  docMatches,
  type IndexedDoc,
  networkDocsPerQueryMax,
  networkTerms,
  packPostingTerms,
  parseQuery,
  postingListsPerQueryMax,
  postingTerms,
  postingWeightOf,
  type TermStatistics,
  words,
} from "../src/services/search/mod.ts";

import { makeCorpus } from "./_search_corpus.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    posts: { type: "string", default: "100000" },
    queries: { type: "string", default: "500" },
    seed: { type: "string", default: "7" },
  },
});
const corpus = makeCorpus({
  posts: Number(flags.posts),
  queries: Number(flags.queries),
  authors: 5000,
  seed: Number(flags.seed),
});
const startMs = 1_700_000_000_000;
const authorKey = (index: number) => sha256(`author ${index}`);

const docs: IndexedDoc[] = corpus.posts.map((post) => {
  const id = NodeId.fromBytes(sha256(`post ${post.index}`).subarray(0, 20));
  return {
    id,
    kind: "thread",
    thread: id,
    author: authorKey(post.author),
    createdMs: startMs - post.ageMs,
    title: post.title.join(" "),
    tags: post.tags,
    body: post.body.join(" "),
  };
});

// Document frequencies: the whole corpus (centralized), and a 10 % sample (a node's own index).
const frequency = new Map<string, number>();
const sampleFrequency = new Map<string, number>();
const docWords: Set<string>[] = docs.map((doc, i) => {
  const set = new Set(words(`${doc.title} ${doc.body}`));
  for (const word of set) {
    frequency.set(word, (frequency.get(word) ?? 0) + 1);
    if (i % 10 === 0) sampleFrequency.set(word, (sampleFrequency.get(word) ?? 0) + 1);
  }
  return set;
});
const globalStats: TermStatistics = {
  documents: docs.length,
  frequency: (word) => frequency.get(word) ?? 0,
};
const sampleStats: TermStatistics = {
  documents: Math.ceil(docs.length / 10),
  frequency: (word) => sampleFrequency.get(word) ?? 0,
};

// Publishing: each post's terms, weighted with the publisher's statistics (the sample).
interface Posting {
  doc: number;
  writer: string;
  weight: number;
  terms: Uint8Array;
}
const sets = new Map<string, Posting[]>();
let postingsPublished = 0;
for (const [i, doc] of docs.entries()) {
  const terms = postingTerms(doc, sampleStats);
  const packed = packPostingTerms(terms);
  for (const term of terms) {
    const list = sets.get(term.term) ?? [];
    list.push({
      doc: i,
      writer: String(corpus.posts[i].author),
      weight: term.weight,
      terms: packed,
    });
    sets.set(term.term, list);
    postingsPublished++;
  }
}
// What the DHT's merge keeps: highest weight first, two per writer, 32 in all.
for (const [term, list] of sets) {
  list.sort((a, b) => b.weight - a.weight || a.doc - b.doc);
  const perWriter = new Map<string, number>();
  const kept = list.filter((posting) => {
    const count = (perWriter.get(posting.writer) ?? 0) + 1;
    perWriter.set(posting.writer, count);
    return count <= termPostingsPerWriterMax;
  }).slice(0, termPostingsMax);
  sets.set(term, kept);
}

// Encoded sizes, exactly as records: a posting entry with its payload and a (dummy) signature.
const fakeKey = new Uint8Array(32).fill(1);
const fakeSignature = new Uint8Array(64).fill(2);
function setBytes(term: string, list: Posting[], keywordOnly: boolean): number {
  const address = searchTermIndex(term);
  const entries: SetEntry[] = list.map((posting, i) => ({
    writer: fakeKey,
    seq: 0xffff_ffff_ffff - i,
    expiresAtS: 1_800_000_000,
    payload: keywordOnly
      ? encodeEntry("recent", {
        thread: docs[posting.doc].id,
        createdMs: docs[posting.doc].createdMs,
      })
      : encodeEntry("searchTerm", {
        thread: docs[posting.doc].id,
        createdMs: docs[posting.doc].createdMs,
        weight: posting.weight,
        terms: posting.terms,
      }),
    signature: fakeSignature,
  }));
  return encodeRecord({
    kind: RecordKind.set,
    name: address.name,
    policy: address.policy,
    entries,
  }).length;
}
const docBytes = (doc: IndexedDoc) =>
  // A thread record: header, author, time, title, body, tags, signature, record framing.
  utf8Encode(doc.title).length + utf8Encode(doc.body).length +
  doc.tags.reduce((sum, tag) => sum + tag.length + 1, 0) + 32 + 64 + 9 + 8 + 12;

let indexBytes = 0;
let keywordBytes = 0;
for (const [term, list] of sets) {
  indexBytes += setBytes(term, list, false);
  keywordBytes += setBytes(term, list, true);
}

// Two kinds of query: "topical", two of a post's eight most important words (what a person
// looking for a thread about something types), and "random", two mid-frequency words of a post
// (ranks 100..5,000: the hard case, words a post merely uses).
let state = Number(flags.seed) * 7919 >>> 0 || 1;
const random = () => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 0x1_0000_0000;
};
const topicalWordsMax = 8;
const topical: string[] = [];
for (let attempt = 0; topical.length < corpus.queries.length && attempt < 100_000; attempt++) {
  const doc = docs[Math.floor(random() * docs.length)];
  // Two of its eight best words by the whole corpus's statistics, whatever a posting carries.
  const top = postingTerms({ ...doc, tags: [] }, globalStats).map((term) => term.term)
    .slice(0, topicalWordsMax);
  if (top.length < 2) continue;
  const a = top[Math.floor(random() * top.length)];
  const others = top.filter((term) => term !== a);
  topical.push(`${a} ${others[Math.floor(random() * others.length)]}`);
}

const results = {
  topical: evaluate(topical),
  random: evaluate(corpus.queries),
};

function evaluate(queries: string[]) {
  const recalls: number[] = [];
  const bytesPerQuery: number[] = [];
  const listBytesPerQuery: number[] = [];
  const listsPerQuery: number[] = [];
  let centralEmpty = 0;
  for (const text of queries) {
    const query = parseQuery(text);
    const [a, b] = query.terms.map((term) => term.tokens[0]);
    // Centralized: every post holding both, by BM25 with the whole corpus's statistics.
    const central = docs.map((doc, i) => ({ i, doc }))
      .filter(({ i }) => docWords[i].has(a) && docWords[i].has(b))
      .map(({ i, doc }) => ({ i, score: bm25Of(doc, query, globalStats) }))
      .sort((x, y) => y.score - x.score || x.i - y.i)
      .slice(0, 10)
      .map(({ i }) => i);
    if (central.length === 0) {
      centralEmpty++;
      continue;
    }
    // The network: the rarest term's set first (the querying node's statistics), then the next.
    const terms = networkTerms(query);
    terms.sort((x, y) =>
      sampleStats.frequency(x) - sampleStats.frequency(y) || y.length - x.length
    );
    const byDoc = new Map<number, number>();
    let bytes = 0;
    let lists = 0;
    for (const term of terms.slice(0, postingListsPerQueryMax)) {
      const list = sets.get(term) ?? [];
      lists++;
      bytes += list.length > 0 ? setBytes(term, list, false) : 64;
      for (const posting of list) {
        const weights = terms.map((other) => postingWeightOf(posting.terms, other));
        const listed = weights.filter((weight) => weight > 0).length;
        const score = listed * 256 + weights.reduce((sum, weight) => sum + weight, 0);
        byDoc.set(posting.doc, Math.max(byDoc.get(posting.doc) ?? 0, score));
      }
      if (list.length < termPostingsMax) break;
      const complete = [...byDoc.values()].filter((score) => score >= terms.length * 256).length;
      if (complete >= completePostingsEnough) break;
    }
    const fetched = [...byDoc.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0])
      .slice(0, networkDocsPerQueryMax).map(([i]) => i);
    listBytesPerQuery.push(bytes);
    for (const i of fetched) bytes += docBytes(docs[i]);
    const found = fetched.filter((i) => docMatches(docs[i], query))
      .map((i) => ({ i, score: bm25Of(docs[i], query, sampleStats) }))
      .sort((x, y) => y.score - x.score || x.i - y.i)
      .slice(0, 10)
      .map(({ i }) => i);
    const hits = found.filter((i) => central.includes(i)).length;
    recalls.push(hits / central.length);
    bytesPerQuery.push(bytes);
    listsPerQuery.push(lists);
  }

  return {
    queries: recalls.length,
    queries_without_any_match: centralEmpty,
    recall_at_10: { mean: round(mean(recalls)), p10: round(percentile(recalls, 0.1)) },
    bytes_per_query: {
      mean: Math.round(mean(bytesPerQuery)),
      p50: percentile(bytesPerQuery, 0.5),
      p99: percentile(bytesPerQuery, 0.99),
    },
    posting_list_bytes_per_query: {
      mean: Math.round(mean(listBytesPerQuery)),
      p50: percentile(listBytesPerQuery, 0.5),
      p99: percentile(listBytesPerQuery, 0.99),
    },
    posting_lists_per_query_mean: round(mean(listsPerQuery)),
  };
}

function mean(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function percentile(values: number[], q: number): number {
  return [...values].sort((x, y) =>
    x - y
  )[Math.min(values.length - 1, Math.floor(q * values.length))];
}

console.log(JSON.stringify(
  {
    posts: docs.length,
    posting_terms_per_post: postingTermsMax,
    postings_published: postingsPublished,
    term_sets: sets.size,
    ...results,
    index_bytes: indexBytes,
    keyword_only_postings_bytes: keywordBytes,
    index_over_keyword_only: round(indexBytes / keywordBytes),
    targets: { recall_at_10_min: 0.9, bytes_per_query_max: 8192, index_over_keyword_only_max: 4 },
  },
  null,
  2,
));

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
