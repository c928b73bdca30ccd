/**
 * The network part of search, over an in-memory record network: a thread's postings are
 * published under its tags and important words, and a node whose own index is empty finds the
 * thread by a body word, a title word, a tag, or two of its words; a posting whose document does
 * not hold the query's terms is dropped; a query with a prefix only stays local. Also the pure
 * pieces: which terms a thread is posted under, their packing, and the query's network terms.
 */

import assert from "node:assert/strict";
import { VirtualClock } from "../../../src/core/clock.ts";
import { docId, docRecord, signThread } from "../../../src/content/documents.ts";
import {
  entryLifetimeS,
  entrySeqOf,
  postingTermsMax,
  searchTermIndex,
  signedEntrySet,
} from "../../../src/content/key_schema.ts";
import {
  docMatches,
  indexedDocOf,
  LocalSearch,
  NetworkSearch,
  networkTerms,
  packPostingTerms,
  parseQuery,
  postingTerms,
  postingWeightOf,
} from "../../../src/services/search/mod.ts";
import { SqliteSearchIndex } from "../../../src/node/search_index_sqlite.ts";
import { MemoryRecordNetwork } from "../discussion/_memory_network.ts";
import { author, defaultWeights } from "./_corpus.ts";

const alice = author(1);
const mallory = author(66);

function world() {
  const clock = new VirtualClock(1_700_000_000_000);
  const network = new MemoryRecordNetwork(clock, { replicas: 3 });
  const local = new LocalSearch({
    index: SqliteSearchIndex.open(":memory:").index,
    clock,
    weights: defaultWeights,
  });
  const search = new NetworkSearch({ network, local, clock, weights: defaultWeights });
  return { clock, network, local, search };
}

Deno.test("NetworkSearch finds a thread it never held by body word, title word, tag and two words", async () => {
  const { clock, network, search } = world();
  const thread = signThread(alice, {
    createdMs: clock.nowMs(),
    title: "Balcony gardening",
    body: "Which ferns tolerate a windy north facing balcony in winter?",
    tags: ["shadeplants", "garden"],
  });
  const id = docId(thread);
  await network.publish(docRecord(thread));
  const report = await search.publishThread(alice, id, thread);
  assert.ok(report.terms >= 3 && report.terms <= postingTermsMax + 3, `${report.terms} terms`);
  assert.equal(report.stored, report.terms);
  for (
    const query of ["ferns", "gardening", "tag:shadeplants", "windy ferns", "winter tag:garden"]
  ) {
    const page = await search.search({ query, limit: 10 });
    assert.equal(page.source, "network");
    assert.deepEqual(page.results.map((hit) => hit.id), [id.toHex()], query);
    assert.deepEqual(page.missing, []);
  }
  // Terms the thread does not hold find nothing, and a prefix is answered locally only.
  assert.deepEqual((await search.search({ query: "ferns tulips", limit: 10 })).results, []);
  assert.deepEqual((await search.search({ query: "fer*", limit: 10 })).results, []);
});

Deno.test("NetworkSearch drops a posting whose document does not hold the query's terms", async () => {
  const { clock, network, search } = world();
  // Mallory posts an unrelated thread under the term "ferns", claiming the highest weight.
  const unrelated = signThread(mallory, {
    createdMs: clock.nowMs(),
    title: "Cheap watches",
    body: "Buy now",
    tags: [],
  });
  const id = docId(unrelated);
  await network.publish(docRecord(unrelated));
  const expiresAtS = Math.floor(clock.nowMs() / 1000) + entryLifetimeS;
  await network.publish(
    signedEntrySet(mallory, searchTermIndex("ferns"), entrySeqOf(id), expiresAtS, {
      thread: id,
      createdMs: unrelated.createdMs,
      weight: 255,
      terms: new Uint8Array(0),
    }),
  );
  const page = await search.search({ query: "ferns", limit: 10 });
  assert.deepEqual(page.results, []);
});

Deno.test("postingTerms() posts tags first, then the best words; the packed terms carry words only", () => {
  const thread = signThread(alice, {
    createdMs: 1,
    title: "Sourdough starter",
    body: "The starter needs flour and water; the the the and and of of.",
    tags: ["baking", "bread"],
  });
  const doc = indexedDocOf(docId(thread), thread);
  const terms = postingTerms(doc, { documents: 0, frequency: () => 0 });
  assert.deepEqual(terms.slice(0, 2).map((term) => term.term), ["tag:baking", "tag:bread"]);
  const wordTerms = terms.slice(2).map((term) => term.term);
  assert.ok(wordTerms.includes("sourdough") && wordTerms.includes("starter"));
  assert.ok(!wordTerms.includes("the") && !wordTerms.includes("and"), "no stop words");
  assert.ok(wordTerms.length <= postingTermsMax);
  const packed = packPostingTerms(terms);
  assert.equal(packed.length, wordTerms.length * 5);
  assert.ok(postingWeightOf(packed, "starter") > 0);
  assert.equal(postingWeightOf(packed, "tag:baking"), 0);
  assert.equal(postingWeightOf(packed, "pizza"), 0);
  assert.ok(docMatches(doc, parseQuery('"sourdough starter" tag:bread flo*')));
  assert.ok(!docMatches(doc, parseQuery("starter tag:cakes")));
  assert.deepEqual(networkTerms(parseQuery('"north facing" fer* tag:garden')), [
    "facing",
    "tag:garden",
  ]);
});
