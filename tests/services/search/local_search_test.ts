/**
 * The local search: documents held by the store are found by words of their title, body, tags
 * and author's name, with diacritics and case folded, phrases, prefixes, tag filters and scripts
 * without spaces; removed documents are not; bad queries are refused with one line; pages do not
 * repeat or skip results while new documents arrive. Method: a LocalSearch over an in-memory
 * SQLite index fed signed records, as the store's observer feeds it.
 */

import assert from "node:assert/strict";
import { InvalidInputError } from "../../../src/core/errors.ts";
import { author, messageRecord, profileRecord, searchWorld, threadRecord } from "./_corpus.ts";

const alice = author(1);
const bob = author(2);

function ids(page: { results: { id: string }[] }): string[] {
  return page.results.map((hit) => hit.id);
}

Deno.test("LocalSearch.search() finds a thread by a word of its body, title, tag and author's name", () => {
  const world = searchWorld();
  const now = world.clock.nowMs();
  const thread = threadRecord(alice, {
    createdMs: now,
    title: "Growing tomatoes",
    body: "The greenhouse keeps them warm in spring.",
    tags: ["garden", "how-to"],
  });
  world.add(profileRecord(alice, 1, "Alice Gärtner"));
  world.add(thread);
  world.add(threadRecord(bob, { createdMs: now, title: "Bicycles", body: "Chains and gears." }));
  for (const query of ["greenhouse", "TOMATOES", "tag:garden", "tag:how-to", "gartner", "spring"]) {
    const page = world.search.search({ query, limit: 10 });
    assert.deepEqual(ids(page), [thread.key.toHex()], query);
  }
  assert.equal(world.search.search({ query: "gears", limit: 10 }).results.length, 1);
});

Deno.test("LocalSearch.search() folds diacritics and case, and matches phrases and prefixes", () => {
  const world = searchWorld();
  const now = world.clock.nowMs();
  const cafe = threadRecord(alice, { createdMs: now, title: "Café crème", body: "Naïve façade" });
  const other = threadRecord(bob, { createdMs: now, title: "Crème café", body: "façade naïve" });
  world.add(cafe);
  world.add(other);
  assert.equal(world.search.search({ query: "cafe", limit: 10 }).results.length, 2);
  assert.deepEqual(ids(world.search.search({ query: '"cafe creme"', limit: 10 })), [
    cafe.key.toHex(),
  ]);
  assert.equal(world.search.search({ query: "fac*", limit: 10 }).results.length, 2);
  assert.deepEqual(ids(world.search.search({ query: '"facade naive"', limit: 10 })), [
    other.key.toHex(),
  ]);
});

Deno.test("LocalSearch.search() finds words of scripts written without spaces", () => {
  const world = searchWorld();
  const now = world.clock.nowMs();
  const tokyo = threadRecord(alice, {
    createdMs: now,
    title: "東京都の天気",
    body: "今日は晴れです",
  });
  world.add(tokyo);
  world.add(threadRecord(bob, { createdMs: now, title: "京都", body: "雨" }));
  assert.deepEqual(ids(world.search.search({ query: "東京", limit: 10 })), [tokyo.key.toHex()]);
  assert.deepEqual(ids(world.search.search({ query: "天気 晴れ", limit: 10 })), [
    tokyo.key.toHex(),
  ]);
  assert.equal(world.search.search({ query: "京都", limit: 10 }).results.length, 2);
  assert.equal(world.search.search({ query: "雨", limit: 10 }).results.length, 1);
});

Deno.test("LocalSearch follows the store: a removed document is gone, a message is found", () => {
  const world = searchWorld();
  const now = world.clock.nowMs();
  const thread = threadRecord(alice, { createdMs: now, title: "Kites", body: "Flying kites" });
  const message = messageRecord(bob, thread.key, { createdMs: now, body: "Use a longer string" });
  world.add(thread);
  world.add(message);
  const hit = world.search.search({ query: "string", limit: 10 }).results[0];
  assert.equal(hit.kind, "message");
  assert.equal(hit.thread, thread.key.toHex());
  world.search.noteRemoved(thread.key);
  assert.equal(world.search.search({ query: "kites", limit: 10 }).results.length, 0);
  // A rebuild from what is held brings it back.
  const report = world.search.rebuild(
    [...world.held].map(([hex, bytes]) => ({
      key: thread.key.toHex() === hex ? thread.key : message.key,
      bytes,
    })),
  );
  assert.equal(report.documents, 2);
  assert.equal(world.search.search({ query: "kites", limit: 10 }).results.length, 1);
});

Deno.test("LocalSearch re-indexes an author's documents when the published name changes", () => {
  const world = searchWorld();
  const thread = threadRecord(alice, { createdMs: world.clock.nowMs(), title: "Hello", body: "" });
  world.add(thread);
  assert.equal(world.search.search({ query: "zoe", limit: 10 }).results.length, 0);
  world.add(profileRecord(alice, 2, "Zoé"));
  const page = world.search.search({ query: "zoe", limit: 10 });
  assert.deepEqual(ids(page), [thread.key.toHex()]);
  assert.equal(page.results[0].author_name, "Zoé");
});

Deno.test("LocalSearch.search() refuses bad queries, limits and cursors with one line", () => {
  const world = searchWorld();
  world.add(threadRecord(alice, { createdMs: world.clock.nowMs(), title: "x", body: "y" }));
  const bad: [string, RegExp][] = [
    ["", /query is empty/],
    ["   ", /query is empty/],
    ["x".repeat(300), /limit is 256/],
    ['"unclosed', /quote is not closed/],
    ["a*", /too short/],
    ["fo*o", /may only end a word/],
    ["tag:Bad_Tag", /not a tag filter/],
    ["!!! ???", /no word to look for/],
    ["a b c d e f g h i", /limit is 8/],
    ['NEAR(a b) OR "x" AND ) (', /Cannot search/],
    ["\u0007bell", /control character/],
  ];
  for (const [query, message] of bad) {
    assert.throws(() => world.search.search({ query, limit: 10 }), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, query);
      assert.match(error.message, message, query);
      assert.ok(!error.message.includes("\n"));
      assert.ok(!/fts5|sqlite|syntax error/i.test(error.message), error.message);
      return true;
    });
  }
  assert.throws(() => world.search.search({ query: "x", limit: 0 }), /limit must be 1\.\.100/);
  assert.throws(() => world.search.search({ query: "x", limit: 101 }), /limit must be 1\.\.100/);
  assert.throws(() => world.search.search({ query: "x", limit: 1, cursor: "garbage!" }), /cursor/);
  const first = world.search.search({ query: "x", limit: 1 });
  assert.equal(first.next_cursor, null);
});

Deno.test("LocalSearch.search() pages neither repeat nor skip while new documents arrive", () => {
  const world = searchWorld();
  const start = world.clock.nowMs();
  const posted: string[] = [];
  for (let i = 0; i < 25; i++) {
    const record = threadRecord(author(10 + i), {
      createdMs: start - i * 60_000,
      title: `Harbour note ${i}`,
      body: "harbour ".repeat(1 + (i % 3)),
    });
    world.add(record);
    posted.push(record.key.toHex());
  }
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10; page++) {
    const result = world.search.search({
      query: "harbour",
      limit: 7,
      ...(cursor ? { cursor } : {}),
    });
    seen.push(...ids(result));
    // Newer, better matches keep arriving between pages.
    world.clock.advanceBy(1000);
    world.add(threadRecord(author(100 + page), {
      createdMs: world.clock.nowMs(),
      title: "Harbour harbour",
      body: "harbour harbour harbour",
    }));
    if (result.next_cursor === null) break;
    cursor = result.next_cursor;
  }
  assert.equal(new Set(seen).size, seen.length, "no result shown twice");
  assert.deepEqual([...seen].sort(), [...posted].sort(), "every document of the first ranking");
  assert.throws(
    () => world.search.search({ query: "other words", limit: 7, cursor: cursor! }),
    /another query/,
  );
});

Deno.test("LocalSearch.search() with explain gives each part of the score", () => {
  const world = searchWorld();
  const now = world.clock.nowMs();
  world.add(threadRecord(alice, { createdMs: now, title: "Owls", body: "owls at night" }));
  world.add(threadRecord(bob, { createdMs: now - 7 * 86400_000, title: "Owls", body: "owls" }));
  const page = world.search.search({ query: "owls", limit: 10, explain: true });
  assert.equal(page.results.length, 2);
  for (const hit of page.results) {
    const parts = hit.explain!;
    assert.ok(parts.bm25 > 0 && parts.relevance > 0 && parts.relevance <= 1);
    assert.equal(parts.author_factor, 1);
    const expected = (100 * parts.relevance + 25 * parts.freshness + 10 * parts.popularity) / 100;
    assert.ok(Math.abs(hit.score - expected) < 1e-5);
  }
  assert.ok(Math.abs(page.results[1].explain!.freshness - 0.5) < 0.01, "a week old: half fresh");
});
