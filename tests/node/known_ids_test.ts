/**
 * KnownIds: the IDs a node published or showed, resolved by prefix, most recent first, with the
 * least recently seen forgotten at the capacity.
 */

import assert from "node:assert/strict";
import { idMatchesMax, KnownIds } from "../../src/node/known_ids.ts";

Deno.test("KnownIds.resolve() finds IDs by prefix, any case, most recently seen first", () => {
  const ids = new KnownIds();
  ids.note("thread", "aa".repeat(20));
  ids.note("message", "AB".repeat(20));
  ids.note("thread", "cc".repeat(20));
  assert.deepEqual(ids.resolve("A"), [
    { id: "ab".repeat(20), kind: "message" },
    { id: "aa".repeat(20), kind: "thread" },
  ]);
  assert.deepEqual(ids.resolve("aaaa"), [{ id: "aa".repeat(20), kind: "thread" }]);
  assert.deepEqual(ids.resolve("dd"), []);
  // Seen again: first again.
  ids.note("thread", "aa".repeat(20));
  assert.equal(ids.resolve("a")[0].id, "aa".repeat(20));
  assert.equal(ids.size, 3);
});

Deno.test("KnownIds forgets the least recently seen at its capacity and caps the matches", () => {
  const ids = new KnownIds(3);
  for (const digit of ["1", "2", "3", "4"]) ids.note("thread", digit.repeat(40));
  assert.equal(ids.size, 3);
  assert.deepEqual(ids.resolve("1"), [], "the oldest is forgotten");
  const many = new KnownIds();
  for (let i = 0; i < 50; i++) many.note("message", "e" + i.toString(16).padStart(39, "0"));
  assert.equal(many.resolve("e").length, idMatchesMax);
});
