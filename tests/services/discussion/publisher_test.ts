/**
 * Publishing discussions: what each request puts on the network (the record, then its index
 * entries), and that every refusal (bad input, a missing thread or parent, a repeated vote, a
 * forged record, no author key) throws one coded line and changes nothing on the network.
 * Method: a Publisher over the in-memory network and a virtual clock; the indexes are read back
 * with the key schema.
 *
 * Regression: a read that failed counted as an absent record, so `profile set` on a node that
 * could not read the profile published one with the other fields emptied, a repeated vote went
 * through and a post could take a full index page for an empty one. Now a failed read
 * (`UNAVAILABLE`) refuses the request before anything is published.
 */

import assert from "node:assert/strict";
import { bytesEqual, toHex } from "../../../src/core/bytes.ts";
import { sha256 } from "../../../src/core/crypto.ts";
import { ReplicationError, type RhizomeError } from "../../../src/core/errors.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import { decodeProfile, docOfRecord, profileKey } from "../../../src/content/documents.ts";
import {
  authorThreadsIndex,
  dayOf,
  hourOf,
  type IndexKind,
  liveEntries,
  popularIndex,
  recentIndex,
  refsIndex,
  type SetAddress,
  signedEntrySet,
  threadHoursIndex,
  threadIndex,
  threadIndexPageSize,
  threadPopularIndex,
  threadsByHourIndex,
  threadStatsIndex,
  votesIndex,
} from "../../../src/content/key_schema.ts";
import {
  encodeRecord,
  mergeSets,
  recordKey,
  RecordKind,
  type SetRecord,
} from "../../../src/content/records.ts";
import { rejects, startMs, type World, world } from "./_world.ts";

async function entries<K extends IndexKind>(w: World, address: SetAddress<K>) {
  const record = await w.network.fetch(address.key);
  if (record === undefined) return [];
  assert.equal(record.kind, RecordKind.set);
  return liveEntries(record as SetRecord, address.kind, Math.floor(w.clock.nowMs() / 1000));
}

async function thread(w: World, title = "Gardens"): Promise<NodeId> {
  const report = await w.publisher.newThread({ title, body: "Let us talk.", tags: ["plants"] });
  return NodeId.fromHex(report.id);
}

Deno.test("Publisher.newThread() publishes the thread and announces it in five indexes", async () => {
  const w = world();
  const report = await w.publisher.newThread({ title: "Gardens", body: "Let us talk." });
  assert.deepEqual(report, {
    id: report.id,
    kind: "thread",
    stored: 3,
    holders: 4,
    quorum: 1,
    indexes: { recent: 3, threads_by_hour: 3, thread_hours: 3, author_threads: 3, popular: 3 },
    author: toHex(w.alice.keyPair.publicKey),
  });
  const id = NodeId.fromHex(report.id);
  const doc = docOfRecord((await w.network.fetch(id))!);
  assert.equal(doc?.type, "thread");
  assert.equal(doc?.type === "thread" && doc.title, "Gardens");
  assert.equal(doc?.createdMs, startMs);
  const ref = { thread: id, createdMs: startMs };
  assert.deepEqual((await entries(w, recentIndex())).map((e) => e.value), [ref]);
  assert.deepEqual(
    (await entries(w, threadsByHourIndex(hourOf(startMs)))).map((e) => e.value),
    [ref],
  );
  assert.deepEqual(
    (await entries(w, authorThreadsIndex(w.alice.keyPair.publicKey))).map((e) => e.value),
    [ref],
  );
  assert.deepEqual((await entries(w, popularIndex())).map((e) => e.value), [
    { target: id, weight: 2 },
  ]);
  assert.deepEqual(
    (await entries(w, threadHoursIndex(dayOf(startMs)))).map((e) => e.value),
    [{ hour: hourOf(startMs) % 24 }],
  );
  assert.deepEqual(await entries(w, threadStatsIndex(id)), [], "no stats before the first post");
  assert.equal(w.network.size, 6);
});

Deno.test("Publisher.newThread() refuses bad fields and a missing author, publishing nothing", async () => {
  const w = world();
  await rejects(
    w.publisher.newThread({ title: "", body: "x" }),
    "CONTENT_INVALID",
    /^Cannot publish thread: the title is empty$/,
  );
  await rejects(
    w.publisher.newThread({ title: "T", body: "x".repeat(16 * 1024 + 1) }),
    "CONTENT_INVALID",
    /^Cannot publish thread: the body is 16385 bytes, the limit is 16384$/,
  );
  await rejects(
    w.publisher.newThread({ title: "T", body: "x", tags: ["Bad Tag"] }),
    "CONTENT_INVALID",
    /tag "Bad Tag" must be lower-case/,
  );
  await rejects(
    w.publisher.newThread({ title: "T", body: "x", author: "carol" }),
    "AUTHOR_MISSING",
    /no author key named carol/,
  );
  await rejects(
    w.publisher.newThread({ title: "T", body: "" }),
    "CONTENT_INVALID",
    /^Cannot publish thread: the body is empty$/,
  );
  for (const blank of [" ", "\n\t \n", "\u00a0\u3000", "\u200b \u200b"]) {
    await rejects(
      w.publisher.newThread({ title: "T", body: blank }),
      "CONTENT_INVALID",
      /^Cannot publish thread: the body is only white space$/,
    );
    await rejects(
      w.publisher.post({ thread: NodeId.fromHex("ab".repeat(20)), body: blank }),
      "CONTENT_INVALID",
      /^Cannot publish message: the body is only white space$/,
    );
  }
  assert.equal(w.network.size, 0);
});

Deno.test("Publisher.post() publishes a message and its entry on the thread's index page, nothing else", async () => {
  const w = world();
  const id = await thread(w);
  const indexesBefore = w.network.size;
  w.clock.advanceBy(1000);
  const first = await w.publisher.post({ thread: id, body: "First." });
  assert.equal(first.kind, "message");
  assert.deepEqual(first.indexes, { thread_index: 3 });
  assert.equal(w.network.size, indexesBefore + 2, "the message and index page 0");
  const message = NodeId.fromHex(first.id);
  const ref = { message, parent: id, createdMs: startMs + 1000 };
  assert.deepEqual((await entries(w, threadIndex(id, 0))).map((e) => e.value), [ref]);
  // The fan-out's cuts: no refs, stats, thread activity; recent and popular as the thread left them.
  assert.deepEqual(await entries(w, refsIndex(id)), []);
  assert.deepEqual(await entries(w, threadStatsIndex(id)), []);
  assert.deepEqual((await entries(w, popularIndex())).map((e) => e.value.weight), [2]);

  w.clock.advanceBy(1000);
  const reply = await w.publisher.post({
    thread: id,
    replyTo: message,
    body: "A reply.",
  });
  const replyRef = {
    message: NodeId.fromHex(reply.id),
    parent: message,
    createdMs: startMs + 2000,
  };
  const page = (await entries(w, threadIndex(id, 0))).map((e) => e.value);
  assert.deepEqual(page.filter((entry) => entry.parent.equals(message)), [replyRef]);
  assert.equal(page.length, 2);

  // Replying to the thread itself is a top-level post.
  const top = await w.publisher.post({ thread: id, replyTo: id, body: "Top." });
  const doc = docOfRecord((await w.network.fetch(NodeId.fromHex(top.id)))!);
  assert.ok(doc?.type === "message" && doc.parent.equals(id));
});

Deno.test("Publisher.post() refuses a missing thread or parent, publishing nothing", async () => {
  const w = world();
  const id = await thread(w);
  const other = await thread(w, "Elsewhere");
  const elsewhere = await w.publisher.post({ thread: other, body: "There." });
  const before = w.network.snapshot();
  const absent = "ab".repeat(20);
  await rejects(
    w.publisher.post({ thread: NodeId.fromHex(absent), body: "Hello" }),
    "NOT_FOUND",
    new RegExp(`^Cannot post: thread ${absent} is not on the network$`),
  );
  await rejects(
    w.publisher.post({ thread: id, replyTo: NodeId.fromHex(absent), body: "Hello" }),
    "NOT_FOUND",
    new RegExp(`^Cannot post: the message replied to, ${absent}, is not on the network$`),
  );
  await rejects(
    w.publisher.post({ thread: id, replyTo: other, body: "Hello" }),
    "CONTENT_INVALID",
    new RegExp(`^Cannot post: the message replied to, ${other.toHex()}, is another thread$`),
  );
  await rejects(
    w.publisher.post({ thread: id, replyTo: NodeId.fromHex(elsewhere.id), body: "Hello" }),
    "CONTENT_INVALID",
    new RegExp(`belongs to thread ${other.toHex()}`),
  );
  await rejects(
    w.publisher.post({ thread: id, body: "" }),
    "CONTENT_INVALID",
    /^Cannot publish message: the body is empty$/,
  );
  assert.deepEqual(w.network.snapshot(), before);
});

Deno.test("Publisher.post() fills thread index pages in order", async () => {
  const w = world();
  const id = await thread(w);
  // Page 0 is full: threadIndexPageSize references (to messages that need not exist here).
  const writer = w.bob.keyPair;
  const page0 = threadIndex(id, 0);
  const expiresAtS = Math.floor(startMs / 1000) + 86400;
  let full: SetRecord | undefined;
  for (let i = 0; i < threadIndexPageSize; i++) {
    const message = NodeId.fromBytes(sha256(`message ${i}`).subarray(0, 20));
    const one = signedEntrySet(writer, page0, i + 1, expiresAtS, {
      message,
      parent: id,
      createdMs: startMs,
    });
    full = full ? mergeSets(full, one, Math.floor(startMs / 1000)) : one;
  }
  await w.network.publish(full!);
  const report = await w.publisher.post({ thread: id, body: "On page 1." });
  assert.equal((await entries(w, threadIndex(id, 0))).length, threadIndexPageSize);
  assert.deepEqual((await entries(w, threadIndex(id, 1))).map((e) => e.value.message.toHex()), [
    report.id,
  ]);
  // The next post starts where this one found room: no fetch of the full page 0 again.
  const before = w.network.fetches;
  await w.publisher.post({ thread: id, body: "Also on page 1." });
  // The thread, the open page and the message's key (read for update: its holders found).
  assert.equal(w.network.fetches - before, 3);
  assert.equal((await entries(w, threadIndex(id, 1))).length, 2);
});

Deno.test("Publisher.post() fails when its thread's index entry, the only way to it, is stored nowhere", async () => {
  const w = world();
  const id = await thread(w);
  w.network.failPublishes(threadIndex(id, 0).key);
  await assert.rejects(
    w.publisher.post({ thread: id, body: "Hello" }),
    (error: RhizomeError) => error.code === "UNAVAILABLE",
  );
  assert.deepEqual(await entries(w, threadIndex(id, 0)), [], "no entry anywhere");
});

Deno.test("Publisher.vote() keeps one vote per author: the other way replaces, the same is refused", async () => {
  const w = world();
  const id = await thread(w);
  const up = await w.publisher.vote({ target: id, direction: "up" });
  assert.equal(up.kind, "vote");
  assert.equal(up.id, votesIndex(id).key.toHex());
  assert.deepEqual(up.indexes, { popular: 3 });
  assert.deepEqual((await entries(w, votesIndex(id))).map((e) => e.value), [{ direction: 1 }]);

  const before = w.network.snapshot();
  await rejects(
    w.publisher.vote({ target: id, direction: "up" }),
    "VOTE_REPEATED",
    new RegExp(`^Cannot vote: you already voted up on ${id.toHex()}$`),
  );
  assert.deepEqual(w.network.snapshot(), before, "a repeated vote changes nothing");

  await w.publisher.vote({ target: id, direction: "down" });
  const votes = await entries(w, votesIndex(id));
  assert.deepEqual(votes.map((e) => e.value), [{ direction: -1 }], "the down vote replaced it");
  assert.ok(votes[0].seq > startMs, "a sequence above the first vote's even at the same time");

  await w.publisher.vote({ target: id, direction: "up", author: "bob" });
  assert.equal((await entries(w, votesIndex(id))).length, 2, "one vote per author");
  const activity = (await entries(w, popularIndex())).map((e) => e.value.weight);
  assert.equal(activity.reduce((a, b) => a + b, 0), 2 + 1 - 1 + 1);
});

Deno.test("Publisher.vote() on a message counts in the popular index for its thread", async () => {
  const w = world();
  const id = await thread(w);
  const message = NodeId.fromHex((await w.publisher.post({ thread: id, body: "Hi" })).id);
  const report = await w.publisher.vote({ target: message, direction: "down" });
  assert.deepEqual(report.indexes, { popular: 3 });
  assert.deepEqual(await entries(w, threadPopularIndex(id)), [], "no per-thread activity");
  const popular = (await entries(w, popularIndex())).map((e) => e.value);
  assert.ok(popular.every((activity) => activity.target.equals(id)), "counted for the thread");
  assert.deepEqual(popular.map((activity) => activity.weight).sort(), [-1, 2]);
});

Deno.test("Publisher.vote() refuses a missing target, publishing nothing", async () => {
  const w = world();
  await thread(w);
  const before = w.network.snapshot();
  await rejects(
    w.publisher.vote({ target: NodeId.fromHex("cd".repeat(20)), direction: "up" }),
    "NOT_FOUND",
    /^Cannot vote: (cd)+ is not on the network$/,
  );
  assert.deepEqual(w.network.snapshot(), before);
});

Deno.test("Publisher.setProfile() merges the fields given over the published profile", async () => {
  const w = world();
  const first = await w.publisher.setProfile({ name: "Alice", keys: [w.bob.keyPair.publicKey] });
  assert.equal(first.kind, "profile");
  assert.equal(first.id, profileKey(w.alice.keyPair.publicKey).toHex());
  w.clock.advanceBy(10);
  await w.publisher.setProfile({ about: "Gardener." });
  const record = await w.network.fetch(profileKey(w.alice.keyPair.publicKey));
  assert.equal(record?.kind, RecordKind.mutable);
  const profile = decodeProfile(
    record!.kind === RecordKind.mutable ? record!.payload : new Uint8Array(),
  );
  assert.equal(profile.name, "Alice");
  assert.equal(profile.about, "Gardener.");
  assert.ok(profile.keys.length === 1 && bytesEqual(profile.keys[0], w.bob.keyPair.publicKey));
  assert.equal(profile.updatedMs, startMs + 10);
  assert.equal(record!.kind === RecordKind.mutable && record!.seq, startMs + 10);

  // Two changes within one millisecond still get increasing sequence numbers.
  await w.publisher.setProfile({ name: "Al" });
  const again = await w.network.fetch(profileKey(w.alice.keyPair.publicKey));
  assert.equal(again!.kind === RecordKind.mutable && again!.seq, startMs + 11);
});

Deno.test("Publisher.setProfile() refuses a malformed key or field, publishing nothing", async () => {
  const w = world();
  await rejects(
    w.publisher.setProfile({ keys: [new Uint8Array(3)] }),
    "CONTENT_INVALID",
    /key/,
  );
  await rejects(
    w.publisher.setProfile({ name: "x".repeat(65) }),
    "CONTENT_INVALID",
    /^Cannot publish profile: the name is 65 bytes, the limit is 64$/,
  );
  assert.equal(w.network.size, 0);
});

Deno.test("Publisher.publishRecord() publishes a valid record and refuses a forged one", async () => {
  const w = world();
  const address = recentIndex();
  const entry = signedEntrySet(w.bob.keyPair, address, 7, Math.floor(startMs / 1000) + 60, {
    thread: NodeId.fromBytes(new Uint8Array(20).fill(9)),
    createdMs: startMs,
  });
  const bytes = encodeRecord(entry);
  const report = await w.publisher.publishRecord(address.key, bytes);
  assert.deepEqual(report, {
    id: address.key.toHex(),
    kind: "record",
    stored: 3,
    holders: 4,
    quorum: 1,
    indexes: {},
  });

  const before = w.network.snapshot();
  const forged = encodeRecord({
    ...entry,
    entries: [{ ...entry.entries[0], seq: 8 }],
  });
  await rejects(
    w.publisher.publishRecord(address.key, forged),
    "RECORD_INVALID",
    /^Cannot accept record: a set entry's signature does not verify$/,
  );
  await rejects(
    w.publisher.publishRecord(recordKey({ kind: RecordKind.immutable, payload: bytes }), bytes),
    "RECORD_INVALID",
    /does not belong under this key/,
  );
  // Signed, but an entry living longer than its kind allows breaks the content rules.
  const lasting = signedEntrySet(w.bob.keyPair, address, 7, Math.floor(startMs / 1000) + 10 ** 8, {
    thread: NodeId.fromBytes(new Uint8Array(20).fill(9)),
    createdMs: startMs,
  });
  await rejects(
    w.publisher.publishRecord(address.key, encodeRecord(lasting)),
    "RECORD_INVALID",
    /a recent entry expires/,
  );
  assert.deepEqual(w.network.snapshot(), before);
});

Deno.test("a post leaves the recent index and the authors' threads as the thread left them", async () => {
  const w = world();
  const id = await thread(w);
  const recent = await entries(w, recentIndex());
  w.clock.advanceBy(3_600_000);
  await w.publisher.post({ thread: id, body: "Me too.", author: "bob" });
  assert.deepEqual(await entries(w, recentIndex()), recent, "listed by its creation, unchanged");
  assert.deepEqual(await entries(w, authorThreadsIndex(w.bob.keyPair.publicKey)), []);
});

Deno.test("Publisher.setProfile() refuses when the published profile cannot be read, publishing nothing", async () => {
  const w = world();
  await w.publisher.setProfile({ name: "Alice", about: "Gardener." });
  const key = profileKey(w.alice.keyPair.publicKey);
  w.network.failReads(key);
  const before = w.network.snapshot();
  w.clock.advanceBy(1000);
  await rejects(
    w.publisher.setProfile({ about: "Beekeeper." }),
    "UNAVAILABLE",
    new RegExp(`^Cannot reach key ${key.toHex()}: `),
  );
  assert.deepEqual(w.network.snapshot(), before, "the name was not wiped");
});

Deno.test("Publisher.vote() refuses when the votes cannot be read, publishing nothing", async () => {
  const w = world();
  const id = await thread(w);
  await w.publisher.vote({ target: id, direction: "up" });
  w.network.failReads(votesIndex(id).key);
  const before = w.network.snapshot();
  for (const direction of ["up", "down"] as const) {
    await rejects(
      w.publisher.vote({ target: id, direction }),
      "UNAVAILABLE",
      new RegExp(`^Cannot reach key ${votesIndex(id).key.toHex()}: `),
    );
  }
  assert.deepEqual(w.network.snapshot(), before);
});

Deno.test("Publisher.post() refuses when the thread or its index page cannot be read, publishing nothing", async () => {
  for (const unreadable of [(id: NodeId) => threadIndex(id, 0), (id: NodeId) => ({ key: id })]) {
    const w = world();
    const id = await thread(w);
    const key = unreadable(id).key;
    w.network.failReads(key);
    const before = w.network.snapshot();
    await rejects(
      w.publisher.post({ thread: id, body: "Hello" }),
      "UNAVAILABLE",
      new RegExp(`^Cannot reach key ${key.toHex()}: `),
    );
    assert.deepEqual(w.network.snapshot(), before);
  }
});

Deno.test("a thread short of its write quorum is still indexed, then reported NOT_REPLICATED", async () => {
  const w = world();
  w.network.quorum = 10;
  await assert.rejects(
    w.publisher.newThread({ title: "Lonely", body: "Nobody else holds this." }),
    (error) => {
      assert.ok(error instanceof ReplicationError);
      assert.equal(error.code, "NOT_REPLICATED");
      assert.deepEqual(error.acknowledgements, { stored: 3, holders: 4, quorum: 10 });
      return true;
    },
  );
  // Kept on this node and announced: a reader finds it, and the node republishes it.
  const [ref] = (await entries(w, recentIndex())).map((entry) => entry.value);
  assert.ok(ref, "the recent index names the thread");
  const doc = docOfRecord((await w.network.fetch(ref.thread))!);
  assert.equal(doc?.type === "thread" && doc.title, "Lonely");
});
