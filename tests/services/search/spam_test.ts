/**
 * Spam: a flood of posts stuffed with one term does not push honest threads off the first page
 * for that term, locally or in the network's postings.
 *
 * The attacker's budget: 3 author keys (keys cost nothing, but each must sign every post) and
 * 3,000 posts (1,000 per key), each with the term 200 times in its title and body, all written
 * just now (the freshest possible). The honest side: 10 threads from 10 authors that mention
 * the term a few times, written over the past week.
 *
 * What bounds the flood: repeats of a word past three are not indexed; BM25 saturates; and an
 * author's hits past the first two count half, then a quarter… (ranking.ts), so 3 keys take at
 * most 6 places of a page of 10 at full weight. In the network, a term's posting set keeps two
 * postings per writer (key_schema.ts), so 3 keys hold 6 of its 32 places whatever weights they
 * claim. The bound: an attacker needs 5 keys to fill a page, 16 to fill a posting set.
 */

import assert from "node:assert/strict";
import { toHex } from "../../../src/core/bytes.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import {
  entryLifetimeS,
  entrySeqOf,
  liveEntries,
  searchTermIndex,
  signedEntrySet,
  termPostingsMax,
  termPostingsPerWriterMax,
} from "../../../src/content/key_schema.ts";
import { recordRules } from "../../../src/content/record_rules.ts";
import { decodeStoredRecord, encodeRecord, type SetRecord } from "../../../src/content/records.ts";
import { author, searchWorld, threadRecord } from "./_corpus.ts";

const attackerKeys = 3;
const attackerPostsPerKey = 1000;
const honestThreads = 10;

Deno.test("a flood of 3,000 stuffed posts from 3 keys leaves honest threads on the first page", () => {
  const world = searchWorld();
  const now = world.clock.nowMs();
  const honest = new Set<string>();
  for (let i = 0; i < honestThreads; i++) {
    const record = threadRecord(author(1000 + i), {
      createdMs: now - (i + 1) * 12 * 3600_000,
      title: `Harbour walk number ${i}`,
      body: `We walked along the harbour at dusk; the harbour lights were on. Note ${i}.`,
    });
    world.add(record);
    honest.add(record.key.toHex());
  }
  const stuffed = Array(200).fill("harbour").join(" ");
  for (let key = 0; key < attackerKeys; key++) {
    const attacker = author(9000 + key);
    for (let post = 0; post < attackerPostsPerKey; post++) {
      world.add(threadRecord(attacker, {
        createdMs: now - post,
        title: `harbour harbour harbour ${post}`,
        body: `${stuffed} ${post}`,
      }));
    }
  }
  const first = world.search.search({ query: "harbour", limit: 10, explain: true });
  const honestOnFirst = first.results.filter((hit) => honest.has(hit.id)).length;
  assert.ok(
    honestOnFirst >= 10 - 2 * attackerKeys,
    `honest threads on the first page: ${honestOnFirst}`,
  );
  const attackerAuthors = new Set(
    first.results.filter((hit) => !honest.has(hit.id)).map((hit) => hit.author),
  );
  assert.ok(attackerAuthors.size <= attackerKeys);
  // Every honest thread is within the first two pages.
  const second = world.search.search({ query: "harbour", limit: 10, cursor: first.next_cursor! });
  const honestInTwo = [...first.results, ...second.results].filter((hit) => honest.has(hit.id));
  assert.equal(honestInTwo.length, honestThreads);
});

Deno.test("a term's posting set keeps two postings per writer, so a flood cannot fill it", () => {
  const nowMs = 1_700_000_000_000;
  const nowS = Math.floor(nowMs / 1000);
  const address = searchTermIndex("harbour");
  const posting = (writerSeed: number, index: number, weight: number): SetRecord => {
    const thread = NodeId.fromBytes(
      new Uint8Array(20).fill(index % 256).map((b, i) =>
        i === 0 ? writerSeed % 256 : i === 1 ? index >> 8 : b
      ),
    );
    return signedEntrySet(author(writerSeed), address, entrySeqOf(thread), nowS + entryLifetimeS, {
      thread,
      createdMs: nowMs,
      weight,
      terms: new Uint8Array(0),
    }) as SetRecord;
  };
  const merge = (held: Uint8Array, incoming: SetRecord): Uint8Array => {
    const bytes = encodeRecord(incoming);
    const verified = recordRules.verify(address.key, bytes, () => held, nowMs);
    const merged = recordRules.merge(held, verified, nowMs);
    return merged.outcome === "replace" ? merged.bytes : held;
  };
  let held = encodeRecord(posting(1000, 0, 90));
  for (let i = 1; i < honestThreads; i++) held = merge(held, posting(1000 + i, i, 80 + i));
  // The flood: 3 keys, 1,000 postings each, every one claiming the highest weight.
  for (let key = 0; key < attackerKeys; key++) {
    for (let post = 0; post < attackerPostsPerKey; post++) {
      held = merge(held, posting(9000 + key, post, 255));
    }
  }
  const set = decodeStoredRecord(held) as SetRecord;
  assert.ok(set.entries.length <= termPostingsMax);
  const perWriter = new Map<string, number>();
  for (const entry of set.entries) {
    perWriter.set(toHex(entry.writer), (perWriter.get(toHex(entry.writer)) ?? 0) + 1);
  }
  assert.ok([...perWriter.values()].every((count) => count <= termPostingsPerWriterMax));
  const honestWriters = new Set(
    Array.from({ length: honestThreads }, (_, i) => toHex(author(1000 + i).publicKey)),
  );
  const honestKept = set.entries.filter((entry) => honestWriters.has(toHex(entry.writer)));
  assert.equal(honestKept.length, honestThreads, "every honest posting is kept");
  assert.equal(liveEntries(set, "searchTerm", nowS).length, set.entries.length);

  // A set carrying three postings of one writer is refused outright.
  const three = [0, 1, 2].map((i) => posting(9000, i, 255).entries[0]);
  const forged: SetRecord = {
    ...posting(9000, 0, 255),
    entries: three.sort((a, b) => a.seq - b.seq),
  };
  assert.throws(
    () => recordRules.verify(address.key, encodeRecord(forged), () => undefined, nowMs),
    /more than 2 entries of one writer/,
  );
});
