// Goal: the fan-out names, for each kind of publication, exactly the index entries readers use.
// Method: one publication of each kind; the entries' names, kinds, keys, sequence numbers and
// values are compared with the key schema's addresses.

import assert from "node:assert/strict";
import { ed25519KeyPairFromSecretKey, sha256 } from "../../../src/core/crypto.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import {
  authorThreadsIndex,
  dayOf,
  entrySeqOf,
  hourOf,
  popularIndex,
  recentIndex,
  threadHoursIndex,
  threadIndex,
  threadsByHourIndex,
} from "../../../src/content/key_schema.ts";
import { activityWeight, indexEntries } from "../../../src/services/discussion/fan_out.ts";

const id = (text: string) => NodeId.fromBytes(sha256(text).subarray(0, 20));
const author = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(3)).publicKey;
const createdMs = 1_798_804_800_000;

Deno.test("a thread is announced in recent, its hour, its day's hours, its author's threads and popular", () => {
  const thread = id("thread");
  const entries = indexEntries({ type: "thread", id: thread, createdMs, author });
  const hour = hourOf(createdMs);
  const expected = [
    ["recent", recentIndex().key],
    ["threads_by_hour", threadsByHourIndex(hour).key],
    ["thread_hours", threadHoursIndex(dayOf(createdMs)).key],
    ["author_threads", authorThreadsIndex(author).key],
    ["popular", popularIndex().key],
  ];
  assert.deepEqual(entries.map((entry) => [entry.name, entry.address.key]), expected);
  assert.deepEqual(entries[0].value, { thread, createdMs });
  assert.equal(entries[0].seq, entrySeqOf(thread));
  assert.deepEqual(entries[2].value, { hour: hour % 24 });
  assert.equal(entries[2].seq, hour, "one thread-hours entry per writer and hour");
  assert.deepEqual(entries[4].value, { target: thread, weight: activityWeight.thread });
});

Deno.test("a message goes on the page given, and nowhere else", () => {
  const thread = id("thread");
  const message = id("message");
  const parent = id("parent");
  const page = threadIndex(thread, 3);
  const entries = indexEntries({ type: "message", id: message, parent, createdMs, page });
  assert.equal(entries.length, 1);
  assert.equal(entries[0].name, "thread_index");
  assert.ok(entries[0].address.key.equals(page.key));
  assert.equal(entries[0].seq, entrySeqOf(message));
  assert.deepEqual(entries[0].value, { message, parent, createdMs });
});

Deno.test("a vote counts ±1 towards its thread in the popular index", () => {
  const thread = id("thread");
  for (const direction of ["up", "down"] as const) {
    const entries = indexEntries({ type: "vote", thread, direction, seq: 42 });
    assert.deepEqual(entries.map((entry) => entry.name), ["popular"]);
    assert.ok(entries[0].address.key.equals(popularIndex().key));
    assert.equal(entries[0].seq, 42);
    assert.deepEqual(entries[0].value, { target: thread, weight: direction === "up" ? 1 : -1 });
  }
});
