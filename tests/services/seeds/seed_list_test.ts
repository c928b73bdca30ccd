/**
 * The signed seed list: genesis needs every seed's signature, a later version a supermajority of
 * the previous version's committee, and anything else is refused with a reason; the leader of an
 * epoch is the same on every node, rotates across epochs and hands over to the next in order when
 * silent; the category assignment gives every category a seed and moves only a removed seed's.
 */

import assert from "node:assert/strict";
import { generateEd25519KeyPair } from "../../../src/core/crypto.ts";
import { compareBytes, toHex } from "../../../src/core/bytes.ts";
import {
  assignCategories,
  committeeOf,
  currentLeader,
  EPOCH_MS,
  LEADER_SILENCE_MS,
  leaderOrder,
  type SeedList,
  seedListHash,
  signSeedList,
  supermajority,
  verifySeedList,
} from "../../../src/services/seeds/mod.ts";

const keys = Array.from({ length: 12 }, () => generateEd25519KeyPair())
  .sort((a, b) => compareBytes(a.publicKey, b.publicKey));
const entry = (i: number) => ({
  publicKey: keys[i].publicKey,
  contact: `rhizome://seed${i}`,
  admittedAtS: 1000 + i,
});
const genesis: SeedList = {
  version: 1,
  previous: new Uint8Array(32),
  seeds: keys.slice(0, 10).map((_, i) => entry(i)),
};

Deno.test("verifySeedList() takes a genesis signed by every seed, and nothing less", () => {
  const all = keys.slice(0, 10).map((key) => signSeedList(genesis, key));
  assert.equal(verifySeedList({ list: genesis, signatures: all }, undefined), "ok");
  assert.match(
    verifySeedList({ list: genesis, signatures: all.slice(1) }, undefined),
    /9 committee signatures, 10 of 10/,
  );
});

Deno.test("verifySeedList() admits a seed with a committee supermajority only", () => {
  const next: SeedList = {
    version: 2,
    previous: seedListHash(genesis),
    seeds: keys.slice(0, 11).map((_, i) => entry(i)),
  };
  const committee = committeeOf(genesis);
  assert.equal(committee.length, 9);
  const byKey = new Map(keys.map((key) => [toHex(key.publicKey), key]));
  const signatures = committee.map((member) => signSeedList(next, byKey.get(toHex(member))!));
  const needed = supermajority(9);
  assert.equal(needed, 7);
  assert.equal(verifySeedList({ list: next, signatures: signatures.slice(0, 7) }, genesis), "ok");
  assert.match(
    verifySeedList({ list: next, signatures: signatures.slice(0, 6) }, genesis),
    /6 committee signatures, 7 of 9/,
  );
  // The applicant's own signature and a repeated one count for nothing.
  const padded = [...signatures.slice(0, 6), signatures[0], signSeedList(next, keys[10])];
  assert.match(verifySeedList({ list: next, signatures: padded }, genesis), /6 committee/);
  const forged = [...signatures.slice(0, 6), { ...signatures[6], signature: new Uint8Array(64) }];
  assert.match(verifySeedList({ list: next, signatures: forged }, genesis), /does not verify/);
  const skipped = { ...next, version: 3 };
  assert.match(verifySeedList({ list: skipped, signatures }, genesis), /does not follow/);
  const unordered = { ...next, seeds: [...next.seeds].reverse() };
  assert.match(verifySeedList({ list: unordered, signatures }, genesis), /key order/);
  const forked = { ...next, previous: new Uint8Array(32).fill(1) };
  assert.match(verifySeedList({ list: forked, signatures }, genesis), /another previous/);
});

Deno.test("the leader is one seed per epoch, rotating, and the next takes over when silent", () => {
  const epochs = Array.from({ length: 20 }, (_, epoch) => toHex(leaderOrder(genesis, epoch)[0]));
  assert.ok(new Set(epochs).size > 3, "leadership rotates");
  const startMs = 500 * EPOCH_MS;
  const order = leaderOrder(genesis, 500);
  const alive = (silent: Set<string>) => (key: Uint8Array) =>
    silent.has(toHex(key)) ? undefined : startMs + 59_000;
  assert.deepEqual(currentLeader(genesis, startMs + 60_000, alive(new Set())), order[0]);
  const deadLeader = new Set([toHex(order[0])]);
  // The leader is silent from the epoch's start: the second waits one silence period.
  assert.deepEqual(
    currentLeader(genesis, startMs + LEADER_SILENCE_MS - 1, alive(deadLeader)),
    order[0],
  );
  assert.deepEqual(
    currentLeader(genesis, startMs + LEADER_SILENCE_MS, alive(deadLeader)),
    order[1],
  );
  // Killed mid-epoch (last heard at 59 s): handed over within the silence period.
  const heardMs = (key: Uint8Array) =>
    toHex(key) === toHex(order[0]) ? startMs + 59_000 : startMs + 69_000;
  assert.deepEqual(currentLeader(genesis, startMs + 68_999, heardMs), order[0]);
  assert.deepEqual(currentLeader(genesis, startMs + 69_000, heardMs), order[1]);
});

Deno.test("assignCategories() covers every category and moves only a removed seed's", () => {
  const categories = Array.from({ length: 200 }, (_, i) => `tag-${i}`);
  const before = assignCategories(genesis, categories, 3);
  for (const seeds of before.values()) assert.equal(seeds.length, 3);
  const removed = genesis.seeds[4].publicKey;
  const smaller = { ...genesis, version: 2, seeds: genesis.seeds.filter((_, i) => i !== 4) };
  const after = assignCategories(smaller, categories, 3);
  for (const category of categories) {
    const was = before.get(category)!.map(toHex);
    const now = after.get(category)!.map(toHex);
    assert.equal(now.length, 3);
    if (!was.includes(toHex(removed))) assert.deepEqual(now, was, category);
  }
  const one = { ...genesis, seeds: genesis.seeds.slice(0, 1) };
  for (const seeds of assignCategories(one, categories, 3).values()) assert.equal(seeds.length, 1);
});
