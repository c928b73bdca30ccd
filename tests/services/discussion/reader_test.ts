/**
 * Reading discussions: a thread assembled as a reply tree with votes and counts, paged with
 * cursors; listings newest first (the recent set, then the hour shards) and by activity score;
 * profiles. Missing pieces are shown as what they are and never hide the rest, and every call
 * stays within its documented lookup bound (checked against the network's own fetch count).
 * Method: content published with the Publisher over the in-memory network, read back with the
 * Reader, the virtual clock moved between posts.
 *
 * Regressions: a post renewing an old thread in the recent set hid the threads created since;
 * a full recent set hid threads it had cut; messages on a later index page vanished once entries
 * of the page before expired; an index entry's forged creation time cut, reordered or doubled a
 * listing; one writer's entries counted many times as votes or activity. Forged sets a verifying
 * network would refuse are served as they are (`plant`): the reader must not rely on the checks.
 */

import assert from "node:assert/strict";
import { toHex } from "../../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey, sha256 } from "../../../src/core/crypto.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import { profileKey } from "../../../src/content/documents.ts";
import {
  activityLifetimeS,
  encodeEntry,
  entrySeqOf,
  type EntryValues,
  hourOf,
  type IndexKind,
  liveEntries,
  popularIndex,
  recentIndex,
  type SetAddress,
  signedEntrySet,
  threadIndex,
  threadIndexPageSize,
  threadsByHourIndex,
  votesIndex,
} from "../../../src/content/key_schema.ts";
import {
  mergeSets,
  RecordKind,
  type SetRecord,
  signSetEntry,
} from "../../../src/content/records.ts";
import { Publisher } from "../../../src/services/discussion/publisher.ts";
import {
  indexReadBudgetMs,
  listThreadsLookupsMax,
  messagePageMax,
  readBudgetMs,
  readConcurrencyMax,
  type Reader,
  showThreadLookupsMax,
  threadPageMax,
} from "../../../src/services/discussion/reader.ts";
import type {
  MessageView,
  ThreadList,
  ThreadView,
} from "../../../src/services/discussion/reports.ts";
import type {
  ThreadListRequest,
  ThreadShowRequest,
} from "../../../src/services/discussion/requests.ts";
import { rejects, startMs, type World, world } from "./_world.ts";

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

async function newThread(w: World, title: string): Promise<string> {
  return (await w.publisher.newThread({ title, body: `About ${title}.` })).id;
}

async function post(w: World, thread: string, body: string, replyTo?: string, author?: string) {
  w.clock.advanceBy(1000);
  return (await w.publisher.post({
    thread: NodeId.fromHex(thread),
    ...(replyTo === undefined ? {} : { replyTo: NodeId.fromHex(replyTo) }),
    body,
    author,
  })).id;
}

/** A show request with the thread's ID in hex, as the reports write it. */
type ShowRequest = Omit<ThreadShowRequest, "thread"> & { thread: string };

/** Shows a page and checks the lookups it reports are the ones it made, within the bound. */
async function show(w: World, request: ShowRequest): Promise<ThreadView> {
  const before = w.network.fetches;
  const view = await w.reader.showThread({ ...request, thread: NodeId.fromHex(request.thread) });
  assert.equal(view.lookups, w.network.fetches - before, "lookups counts every fetch");
  assert.ok(view.lookups <= showThreadLookupsMax(request.limit), `${view.lookups} lookups`);
  return view;
}

/** Lists a page and checks its lookups stay within the bound. */
async function list(w: World, request: ThreadListRequest): Promise<ThreadList> {
  const before = w.network.fetches;
  const page = await w.reader.listThreads(request);
  const lookups = w.network.fetches - before;
  assert.ok(lookups <= listThreadsLookupsMax(request.limit), `${lookups} lookups`);
  return page;
}

/** Every page of a listing, in order (at most `callsMax` calls). */
async function listAll(w: World, order: "recent" | "popular", limit: number, callsMax = 200) {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let calls = 0; calls < callsMax; calls++) {
    const page = await list(w, { order, limit, cursor });
    assert.ok(page.threads.length <= limit);
    ids.push(...page.threads.map((thread) => thread.id));
    if (page.next_cursor === null) return ids;
    cursor = page.next_cursor;
  }
  throw new Error(`the listing did not end within ${callsMax} calls`);
}

function shape(messages: MessageView[]): unknown[] {
  return messages.map((m) => ({ id: m.id, replies: shape(m.replies) }));
}

Deno.test("Reader.showThread() assembles the thread, its votes and counts, and a reply tree", async () => {
  const w = world();
  const thread = await newThread(w, "Gardens");
  const m1 = await post(w, thread, "First.");
  const r1 = await post(w, thread, "Reply to first.", m1, "bob");
  const m2 = await post(w, thread, "Second.");
  const r2 = await post(w, thread, "Reply to the reply.", r1);
  await w.publisher.vote({ target: NodeId.fromHex(thread), direction: "up", author: "bob" });
  await w.publisher.vote({ target: NodeId.fromHex(m1), direction: "down" });

  const view = await show(w, { thread, limit: 50 });
  assert.deepEqual(view.thread, {
    id: thread,
    title: "Gardens",
    author: toHex(w.alice.keyPair.publicKey),
    created_at: new Date(startMs).toISOString(),
    tags: [],
    body: "About Gardens.",
    votes: { up: 1, down: 0 },
    messages: 4,
  });
  assert.deepEqual(shape(view.messages), [
    { id: m1, replies: [{ id: r1, replies: [{ id: r2, replies: [] }] }] },
    { id: m2, replies: [] },
  ]);
  const [first, second] = view.messages;
  assert.deepEqual({ ...first, replies: [] }, {
    id: m1,
    author: toHex(w.alice.keyPair.publicKey),
    created_at: new Date(startMs + 1000).toISOString(),
    parent: null,
    body: "First.",
    votes: { up: 0, down: 1 },
    replies: [],
  });
  assert.equal(first.replies[0].parent, m1);
  assert.equal(first.replies[0].author, toHex(w.bob.keyPair.publicKey));
  assert.equal(second.parent, null);
  assert.equal(view.next_cursor, null);
  assert.deepEqual(view.missing, []);
  assert.ok(w.read.some((key) => key.toHex() === thread), "the read hook saw the thread");
});

Deno.test("Reader.showThread() pages oldest first; a reply to an earlier page names its parent", async () => {
  const w = world();
  const thread = await newThread(w, "Paging");
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) {
    // Every other post replies to the first message, which is on the first page.
    ids.push(await post(w, thread, `Post ${i}.`, i % 2 === 1 ? ids[0] : undefined));
  }
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let calls = 0; calls < 10; calls++) {
    const view = await show(w, { thread, limit: 3, cursor });
    const flat = (messages: MessageView[]): MessageView[] =>
      messages.flatMap((m) => [m, ...flat(m.replies)]);
    for (const message of flat(view.messages)) {
      seen.push(message.id);
      assert.equal(message.parent_missing, undefined);
    }
    if (calls > 0) {
      // The first message is on page one: its replies here are top level, naming it.
      const replies = view.messages.filter((m) => m.parent === ids[0]);
      assert.ok(replies.every((m) => m.replies.length === 0));
    }
    assert.deepEqual(view.missing, []);
    if (view.next_cursor === null) break;
    cursor = view.next_cursor;
  }
  assert.deepEqual(seen.toSorted(), ids.toSorted());
  assert.equal(seen.length, 7, "no message twice");
});

Deno.test("Reader.showThread() continues into the next index page once one is full", async () => {
  const w = world();
  const thread = await newThread(w, "Long");
  const ids: string[] = [];
  for (let i = 0; i < 260; i++) ids.push(await post(w, thread, `Post ${i}.`));
  const first = await show(w, { thread, limit: messagePageMax });
  assert.equal(first.messages.length, messagePageMax);
  assert.equal(first.thread.messages, 260);
  const second = await show(w, { thread, limit: messagePageMax, cursor: first.next_cursor! });
  // Page 1 exists, so page 2 may too: one more call finds it absent and ends the thread.
  assert.notEqual(second.next_cursor, null);
  const third = await show(w, { thread, limit: messagePageMax, cursor: second.next_cursor! });
  assert.deepEqual(third.messages, []);
  assert.equal(third.next_cursor, null);
  assert.equal(third.thread.messages, 260, "counted from page 0, whichever page is shown");
  const shown = [...first.messages, ...second.messages].map((m) => m.id);
  assert.deepEqual(shown, ids, "every message once, oldest first, across both index pages");
});

Deno.test("Reader.showThread() shows what it has and names what is missing", async () => {
  const w = world();
  const thread = await newThread(w, "Holes");
  const m1 = await post(w, thread, "Lost.");
  const r1 = await post(w, thread, "Reply to the lost one.", m1);
  const m2 = await post(w, thread, "Still here.");
  w.network.lose(NodeId.fromHex(m1));
  w.network.cutOff(votesIndex(NodeId.fromHex(m2)).key);

  const view = await show(w, { thread, limit: 50 });
  assert.deepEqual(view.messages.map((m) => [m.id, m.parent, m.parent_missing]), [
    [r1, m1, true],
    [m2, null, undefined],
  ]);
  assert.deepEqual(view.missing, [`message ${m1}: not found`, `votes of ${m2}: unreachable`]);
});

Deno.test("Reader.showThread() marks a reply whose parent on an earlier page is gone", async () => {
  const w = world();
  const thread = await newThread(w, "Gone");
  const m1 = await post(w, thread, "Soon gone.");
  const r1 = await post(w, thread, "Reply.", m1);
  w.network.lose(NodeId.fromHex(m1));
  const first = await show(w, { thread, limit: 1 });
  assert.deepEqual(first.messages, []);
  const second = await show(w, { thread, limit: 1, cursor: first.next_cursor! });
  assert.deepEqual(second.messages.map((m) => [m.id, m.parent_missing]), [[r1, true]]);
  assert.deepEqual(second.missing, [`message ${m1}: not found`]);
});

Deno.test("Reader.showThread() refuses an absent thread and malformed requests", async () => {
  const w = world();
  const threadHex = await newThread(w, "T");
  const thread = NodeId.fromHex(threadHex);
  const message = await post(w, threadHex, "A message is not a thread.");
  for (const id of ["ef".repeat(20), message]) {
    await rejects(
      w.reader.showThread({ thread: NodeId.fromHex(id), limit: 10 }),
      "NOT_FOUND",
      new RegExp(`^Cannot show thread: ${id} is not on the network$`),
    );
  }
  for (const limit of [0, messagePageMax + 1, 1.5]) {
    await rejects(
      w.reader.showThread({ thread, limit }),
      "INVALID_INPUT",
      new RegExp(`^Cannot show thread: the limit must be 1..${messagePageMax}, got ${limit}$`),
    );
  }
  for (const cursor of ["", "!!", "AAAA", "BAAA"]) {
    await rejects(
      w.reader.showThread({ thread, limit: 10, cursor }),
      "INVALID_INPUT",
      /^Cannot show thread: the cursor is malformed$/,
    );
  }
});

Deno.test("Reader.listThreads() pages newest first through the recent set, then the hour shards", async () => {
  const w = world();
  const old: string[] = [];
  for (const offsetMs of [0, hourMs, 30 * hourMs]) {
    w.clock.advanceTo(startMs + offsetMs);
    old.push(await newThread(w, `Old ${offsetMs}`));
  }
  // A week and a day later the old threads have left the recent set; only the shards hold them.
  const fresh: string[] = [];
  for (let i = 0; i < 3; i++) {
    w.clock.advanceTo(startMs + 8 * dayMs + i * 60_000);
    fresh.push(await newThread(w, `Fresh ${i}`));
  }
  const first = await list(w, { order: "recent", limit: 2 });
  assert.deepEqual(first.threads.map((t) => t.id), fresh.toReversed().slice(0, 2));
  assert.equal(first.threads[0].title, "Fresh 2");
  assert.equal(first.threads[0].created_at, new Date(startMs + 8 * dayMs + 120_000).toISOString());
  assert.deepEqual(first.missing, []);
  assert.deepEqual(await listAll(w, "recent", 2), [...old, ...fresh].toReversed());
  assert.deepEqual(await listAll(w, "recent", threadPageMax), [...old, ...fresh].toReversed());
});

Deno.test("Reader.listThreads() lists from the hour shards when the recent set is unreachable", async () => {
  const w = world();
  const a = await newThread(w, "A");
  w.clock.advanceBy(2 * hourMs);
  const b = await newThread(w, "B");
  w.network.cutOff(recentIndex().key);
  const page = await list(w, { order: "recent", limit: 5 });
  assert.deepEqual(page.threads.map((t) => t.id), [b, a]);
  assert.deepEqual(page.missing, ["recent index: unreachable"]);
  assert.notEqual(page.next_cursor, null, "older hours remain to be read");
});

Deno.test("Reader.listThreads() names listed threads it cannot read and lists the others", async () => {
  const w = world();
  const a = await newThread(w, "A");
  w.clock.advanceBy(1000);
  const b = await newThread(w, "B");
  w.network.lose(NodeId.fromHex(a));
  const page = await list(w, { order: "recent", limit: 5 });
  assert.deepEqual(page.threads.map((t) => t.id), [b]);
  assert.deepEqual(page.missing, [`thread ${a}: not found`]);
});

Deno.test("Reader.listThreads() orders by summed activity and pages by offset", async () => {
  const w = world();
  const quiet = await newThread(w, "Quiet");
  const busy = await newThread(w, "Busy");
  const disliked = await newThread(w, "Disliked");
  await post(w, busy, "Hello.");
  await w.publisher.vote({ target: NodeId.fromHex(busy), direction: "up", author: "bob" });
  await w.publisher.vote({ target: NodeId.fromHex(disliked), direction: "down", author: "bob" });
  const first = await list(w, { order: "popular", limit: 2 });
  // A thread counts 2, a vote ±1; a post nothing (activity is left to measured popularity).
  assert.deepEqual(first.threads.map((t) => [t.id, t.score]), [[busy, 3], [quiet, 2]]);
  const second = await list(w, { order: "popular", limit: 2, cursor: first.next_cursor! });
  assert.deepEqual(second.threads.map((t) => [t.id, t.score]), [[disliked, 1]]);
  assert.equal(second.next_cursor, null);
  await rejects(
    w.reader.listThreads({ order: "recent", limit: 2, cursor: first.next_cursor! }),
    "INVALID_INPUT",
    /^Cannot list threads: the cursor belongs to the popular listing$/,
  );
});

Deno.test("Reader.listThreads() refuses a malformed limit or cursor", async () => {
  const w = world();
  for (const limit of [0, threadPageMax + 1]) {
    await rejects(
      w.reader.listThreads({ order: "recent", limit }),
      "INVALID_INPUT",
      new RegExp(`^Cannot list threads: the limit must be 1..${threadPageMax}, got ${limit}$`),
    );
  }
  for (const cursor of ["x", "AQ", "BAAA", "AwAAAAAA"]) {
    await rejects(
      w.reader.listThreads({ order: "popular", limit: 5, cursor }),
      "INVALID_INPUT",
      /^Cannot list threads: the cursor is malformed$/,
    );
  }
});

Deno.test("Reader.showProfile() shows a published profile and refuses an absent one", async () => {
  const w = world();
  await w.publisher.setProfile({ name: "Alice", about: "Gardener.", keys: [] });
  const author = toHex(w.alice.keyPair.publicKey);
  assert.deepEqual(await w.reader.showProfile(w.alice.keyPair.publicKey), {
    author,
    name: "Alice",
    about: "Gardener.",
    keys: [],
    updated_at: new Date(startMs).toISOString(),
    seq: startMs,
  });
  assert.deepEqual(w.read.map((key) => key.toHex()), [
    profileKey(w.alice.keyPair.publicKey).toHex(),
  ]);
  const bob = toHex(w.bob.keyPair.publicKey);
  await rejects(
    w.reader.showProfile(w.bob.keyPair.publicKey),
    "NOT_FOUND",
    new RegExp(`^Cannot show profile: author ${bob} has no profile on the network$`),
  );
});

Deno.test("Reader writes times as Date.prototype.toISOString() does, without Date", async () => {
  const w: World = world();
  const reader: Reader = w.reader;
  const times = [
    startMs,
    Date.UTC(2028, 1, 29, 23, 59, 59, 999), // a leap day
    Date.UTC(2028, 2, 1),
    Date.UTC(2100, 1, 28, 7, 8, 9, 10), // 2100 is no leap year
    Date.UTC(2100, 2, 1),
    Date.UTC(2400, 1, 29, 12), // 2400 is one
  ];
  for (const timeMs of times) {
    w.clock.advanceTo(timeMs);
    const id = await newThread(w, "When");
    const view = await reader.showThread({ thread: NodeId.fromHex(id), limit: 1 });
    assert.equal(view.thread.created_at, new Date(timeMs).toISOString());
  }
});

/** A writer of forged index entries. */
const mallory = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(9));

function nowS(w: World): number {
  return Math.floor(w.clock.nowMs() / 1000);
}

/** The set at `address` as the network holds it (an empty one when absent). */
async function held<K extends IndexKind>(w: World, address: SetAddress<K>): Promise<SetRecord> {
  const record = await w.network.fetch(address.key);
  if (record === undefined) {
    return { kind: RecordKind.set, name: address.name, policy: address.policy, entries: [] };
  }
  assert.equal(record.kind, RecordKind.set);
  return record as SetRecord;
}

/** Serves the held set at `address` with mallory's `forged` entries added, unmerged, unchecked. */
async function forge<K extends IndexKind>(
  w: World,
  address: SetAddress<K>,
  forged: { seq: number; value: EntryValues[K] }[],
): Promise<void> {
  const set = await held(w, address);
  const expiresAtS = nowS(w) + activityLifetimeS;
  const entries = forged.map(({ seq, value }) =>
    signSetEntry(mallory, address.key, seq, expiresAtS, encodeEntry(address.kind, value))
  );
  w.network.plant(address.key, { ...set, entries: [...set.entries, ...entries] });
}

/** Every message of a thread, page by page, in the order shown (replies after their parent). */
async function showAll(w: World, thread: string, limit: number, callsMax = 50) {
  const ids: string[] = [];
  const missing: string[] = [];
  const flat = (messages: MessageView[]): MessageView[] =>
    messages.flatMap((m) => [m, ...flat(m.replies)]);
  let cursor: string | undefined;
  for (let calls = 0; calls < callsMax; calls++) {
    const view = await show(w, { thread, limit, cursor });
    ids.push(...flat(view.messages).map((m) => m.id));
    missing.push(...view.missing);
    if (view.next_cursor === null) return { ids, missing };
    cursor = view.next_cursor;
  }
  throw new Error(`the thread did not end within ${callsMax} calls`);
}

Deno.test("Reader.listThreads() lists the threads created after an old thread a renewed entry names", async () => {
  const w = world();
  const old = await newThread(w, "Old");
  w.clock.advanceBy(10 * dayMs);
  const mid = await newThread(w, "Mid");
  w.clock.advanceBy(10 * dayMs);
  const fresh = await newThread(w, "Fresh");
  assert.deepEqual(await listAll(w, "recent", 20), [fresh, mid, old]);
  // Old's recent entry renewed (as posts did before the fan-out was cut), keeping Old's creation
  // time (day 0).
  const renewal = signedEntrySet(
    w.alice.keyPair,
    recentIndex(),
    entrySeqOf(NodeId.fromHex(old)),
    nowS(w) + activityLifetimeS,
    { thread: NodeId.fromHex(old), createdMs: startMs },
  );
  await w.network.publish(renewal);
  const renewed = (await held(w, recentIndex())).entries.length;
  assert.equal(renewed, 2, "Fresh and the renewed Old are in the recent set");
  assert.deepEqual(await listAll(w, "recent", 20), [fresh, mid, old]);
  assert.deepEqual(await listAll(w, "recent", 1), [fresh, mid, old]);
});

Deno.test("Reader.listThreads() finds a thread a full recent set cut, in its hour shard", async () => {
  const w = world();
  const cut = await newThread(w, "Cut");
  w.clock.advanceBy(2 * dayMs);
  // A full set of threads from before Cut, renewed now: they expire after Cut's entry, so the
  // merge keeps them and cuts Cut's. Their creation times are older than Cut's.
  const address = recentIndex();
  let full = await held(w, address);
  for (let i = 0; i < address.policy.entriesMax; i++) {
    const thread = NodeId.fromBytes(sha256(`renewed ${i}`).subarray(0, 20));
    const one = signedEntrySet(mallory, address, i + 1, nowS(w) + activityLifetimeS, {
      thread,
      createdMs: startMs - 4 * dayMs,
    });
    full = mergeSets(full, one, nowS(w));
  }
  await w.network.publish(full);
  const recent = liveEntries(await held(w, address), "recent", nowS(w));
  assert.equal(recent.length, address.policy.entriesMax);
  assert.ok(recent.every((entry) => entry.value.thread.toHex() !== cut), "Cut was cut");
  // The full set speaks only for threads created after its soonest expiry less a lifetime (now):
  // the shards are walked from now, skipping the hours the days' thread hours do not name, so
  // the first page reaches Cut's hour.
  const first = await list(w, { order: "recent", limit: 5 });
  assert.deepEqual(first.threads.map((t) => t.id), [cut]);
  assert.deepEqual(first.missing, []);
  assert.deepEqual(await listAll(w, "recent", 5), [cut]);
});

Deno.test("Reader.showThread() goes on past a page whose entries expired and shows what fills it", async () => {
  const w = world();
  const thread = await newThread(w, "Busy");
  const early: string[] = [];
  for (let i = 0; i < threadIndexPageSize; i++) early.push(await post(w, thread, `Early ${i}.`));
  w.clock.advanceBy(85 * dayMs);
  const late = await post(w, thread, "Late, on page 1.");
  // 90 days and 100 s after the first post: the first 100 early entries of page 0 expired.
  w.clock.advanceTo(startMs + 90 * dayMs + 100_000);
  assert.equal((await held(w, threadIndex(NodeId.fromHex(thread), 0))).entries.length, 256);
  const survivors = early.slice(100);
  assert.deepEqual((await showAll(w, thread, messagePageMax)).ids, [...survivors, late]);
  // A node that never posted here writes into page 0's room; its message is shown too, after
  // the late one within the view (by creation time).
  const other = new Publisher({
    network: w.network,
    clock: w.clock,
    authors: () => Promise.resolve(w.bob),
  });
  const fresh =
    (await other.post({ thread: NodeId.fromHex(thread), body: "Into page 0's room." })).id;
  const page0 = liveEntries(
    await held(w, threadIndex(NodeId.fromHex(thread), 0)),
    "threadIndex",
    nowS(w),
  );
  assert.ok(page0.some((entry) => entry.value.message.toHex() === fresh), "written to page 0");
  const view = await show(w, { thread, limit: messagePageMax });
  assert.deepEqual(view.messages.map((m) => m.id), [...survivors, late, fresh]);
  assert.deepEqual(
    (await showAll(w, thread, 7)).ids.toSorted(),
    [...survivors, late, fresh].toSorted(),
  );
});

Deno.test("Reader.listThreads() is neither cut nor reordered by a recent entry's forged time", async () => {
  const w = world();
  const old = await newThread(w, "Old");
  w.clock.advanceBy(7 * dayMs + hourMs);
  const fresh = await newThread(w, "Fresh");
  // Dated 0: it used to make the listing start its shard walk at hour 0, after every old thread.
  const nobody = NodeId.fromBytes(new Uint8Array(20).fill(7));
  await forge(w, recentIndex(), [{ seq: 1, value: { thread: nobody, createdMs: 0 } }]);
  assert.deepEqual(await listAll(w, "recent", 10), [fresh, old]);
  assert.deepEqual(await listAll(w, "recent", 1), [fresh, old]);
});

Deno.test("Reader.listThreads() places a thread by its document: a forged entry cannot pin or double it", async () => {
  const w = world();
  const pinned = await newThread(w, "Pinned");
  w.clock.advanceBy(hourMs);
  const newer = await newThread(w, "Newer");
  const message = await post(w, newer, "A message is not a thread.");
  const messageMs = w.clock.nowMs();
  await forge(w, recentIndex(), [
    { seq: 1, value: { thread: NodeId.fromHex(pinned), createdMs: Number.MAX_SAFE_INTEGER - 1 } },
    { seq: 2, value: { thread: NodeId.fromHex(pinned), createdMs: w.clock.nowMs() } },
    { seq: 3, value: { thread: NodeId.fromHex(message), createdMs: messageMs } },
  ]);
  const page = await list(w, { order: "recent", limit: 10 });
  assert.deepEqual(page.threads.map((t) => t.title), ["Newer", "Pinned"]);
  assert.deepEqual(page.missing, [], "forged entries are dropped, not reported");
  assert.deepEqual(await listAll(w, "recent", 1), [newer, pinned]);
  assert.deepEqual(await listAll(w, "recent", 10), [newer, pinned]);
});

Deno.test("Reader.showThread() orders messages by their documents; forged index entries neither move nor double them", async () => {
  const w = world();
  const thread = await newThread(w, "Ordered");
  const other = await newThread(w, "Elsewhere");
  const m1 = await post(w, thread, "First.");
  const m2 = await post(w, thread, "Second.");
  const r2 = await post(w, thread, "Reply to the second.", m2);
  const foreign = await post(w, other, "In another thread.");
  const id = (hex: string) => NodeId.fromHex(hex);
  await forge(w, threadIndex(id(thread), 0), [
    { seq: 1, value: { message: id(m2), parent: id(thread), createdMs: 0 } },
    { seq: 2, value: { message: id(r2), parent: id(m2), createdMs: Number.MAX_SAFE_INTEGER } },
    { seq: 3, value: { message: id(thread), parent: id(thread), createdMs: startMs } },
    { seq: 4, value: { message: id(foreign), parent: id(thread), createdMs: startMs + 1 } },
  ]);
  const view = await show(w, { thread, limit: 50 });
  assert.deepEqual(shape(view.messages), [
    { id: m1, replies: [] },
    { id: m2, replies: [{ id: r2, replies: [] }] },
  ]);
  assert.deepEqual(view.missing, []);
  for (const limit of [1, 2]) {
    const all = await showAll(w, thread, limit);
    assert.deepEqual(all.ids, [m1, m2, r2], `limit ${limit}: each once, in order`);
    assert.deepEqual(all.missing, []);
  }
});

Deno.test("Reader counts one vote per writer (its latest) and each activity entry once", async () => {
  const w = world();
  const quiet = await newThread(w, "Quiet");
  const busy = await newThread(w, "Busy");
  await w.publisher.vote({ target: NodeId.fromHex(busy), direction: "up" });
  const target = NodeId.fromHex(busy);
  // Mallory's 50 entries in a one-per-writer set (a set no verifying node would pass on): the
  // highest sequence, first here, is a down vote.
  await forge(w, votesIndex(target), [
    { seq: 50, value: { direction: -1 } },
    ...Array.from({ length: 49 }, (_, i) => ({ seq: i + 1, value: { direction: 1 as const } })),
  ]);
  const view = await show(w, { thread: busy, limit: 10 });
  assert.deepEqual(view.thread.votes, { up: 1, down: 1 });
  // One activity entry, twenty copies; and an entry for a message, which is no thread.
  const message = await post(w, busy, "Hi.");
  const popular = await held(w, popularIndex());
  w.network.lose(popularIndex().key);
  const copy = { seq: 7, value: { target, weight: 2 } };
  await forge(w, popularIndex(), [
    ...Array.from({ length: 20 }, () => copy),
    { seq: 8, value: { target: NodeId.fromHex(message), weight: 2 } },
  ]);
  const planted = await held(w, popularIndex());
  assert.equal(planted.entries.length, 21);
  w.network.plant(popularIndex().key, {
    ...planted,
    entries: [...popular.entries, ...planted.entries],
  });
  const page = await list(w, { order: "popular", limit: 10 });
  // Busy: 2 (thread) + 1 (up vote) + 2 (mallory, once); Quiet: 2.
  assert.deepEqual(page.threads.map((t) => [t.id, t.score]), [[busy, 5], [quiet, 2]]);
  assert.deepEqual(page.missing, []);
});

Deno.test("Reader.listThreads() reaches the end of a quiet network's listing in three calls", async () => {
  const w = world();
  const old = await newThread(w, "Old");
  w.clock.advanceBy(40 * dayMs);
  const calls: ThreadList[] = [];
  let cursor: string | undefined;
  do {
    calls.push(await list(w, { order: "recent", limit: 5, cursor }));
    cursor = calls.at(-1)!.next_cursor ?? undefined;
  } while (cursor !== undefined && calls.length < 10);
  // 90 days of thread hours at 30 days a call; the thread 40 days back is on the second.
  assert.equal(calls.length, 3);
  assert.deepEqual(calls.flatMap((page) => page.threads.map((t) => t.id)), [old]);
  for (const page of calls) assert.ok(page.missing.length === 0);
});

/** Runs `call`, returning its result and the virtual time it took. */
async function timed<T>(w: World, call: () => Promise<T>): Promise<{ result: T; tookMs: number }> {
  const beganMs = w.clock.nowMs();
  const result = await call();
  return { result, tookMs: w.clock.nowMs() - beganMs };
}

Deno.test("Reader.listThreads() answers within its budget from this node's copies while versioned reads stall", async () => {
  const w = world();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    w.clock.advanceBy(60_000);
    ids.push(await newThread(w, `T${i}`));
  }
  // A dead holder: every lookup of a set waits on its retries; this node holds its copies.
  w.network.stallVersioned(true);
  const { result: page, tookMs } = await timed(w, () => list(w, { order: "recent", limit: 20 }));
  assert.ok(tookMs <= readBudgetMs, `took ${tookMs} ms`);
  assert.deepEqual(page.threads.map((t) => t.id), ids.toReversed());
  assert.ok(
    page.missing.includes("recent index: only this node's copy (no complete answer within 1 s)"),
    page.missing.join("\n"),
  );
  assert.notEqual(page.next_cursor, null, "the late hours are still to be read");
  // Named: the recent set, then the first day and shard of the walk, where the page stopped;
  // not the days and shards read ahead of them and never used.
  assert.equal(page.missing.length, 3, page.missing.join("\n"));
  assert.match(page.missing[1], /^thread hours of day \d+: no answer within 1 s$/);
  assert.match(page.missing[2], /^threads of hour \d+: no answer within 1 s$/);
  // Once the holder is gone from the lookups, the cursor goes on to the end, listing nothing twice.
  w.network.unstallAll();
  assert.deepEqual(await listAll(w, "recent", 20, 10), ids.toReversed());
  const rest = await list(w, { order: "recent", limit: 20, cursor: page.next_cursor! });
  assert.deepEqual(rest.threads, []);
  assert.deepEqual(rest.missing, []);
});

Deno.test("Reader.listThreads() with nothing held and every read stalling: an empty page in time, naming why", async () => {
  const w = world();
  await newThread(w, "Unseen");
  w.network.stallVersioned(false);
  const { result: page, tookMs } = await timed(w, () => list(w, { order: "recent", limit: 5 }));
  assert.ok(tookMs <= readBudgetMs, `took ${tookMs} ms`);
  assert.deepEqual(page.threads, []);
  assert.ok(page.missing.includes("recent index: no answer within 1 s"), page.missing.join("\n"));
  assert.notEqual(page.next_cursor, null, "a page that read nothing is not the end");
  // Each such page still moves on (one late shard passed over), so paging cannot loop forever.
  const next = await list(w, { order: "recent", limit: 5, cursor: page.next_cursor! });
  assert.notEqual(next.next_cursor, page.next_cursor);
});

Deno.test("Reader.listThreads() stops at a late hour shard and its cursor resumes there", async () => {
  const w = world();
  const byHour: string[] = [];
  for (let hour = 0; hour < 4; hour++) {
    w.clock.advanceTo(startMs + hour * hourMs + 60_000);
    byHour.push(await newThread(w, `Hour ${hour}`));
  }
  w.clock.advanceTo(startMs + 4 * hourMs);
  // The recent set unreachable: the listing reads the shards, newest hour first.
  w.network.cutOff(recentIndex().key);
  const late = threadsByHourIndex(hourOf(startMs + 2 * hourMs));
  w.network.stall(late.key);
  const first = await list(w, { order: "recent", limit: 10 });
  assert.deepEqual(first.threads.map((t) => t.id), [byHour[3]]);
  assert.ok(
    first.missing.includes(`threads of hour ${hourOf(startMs + 2 * hourMs)}: no answer within 1 s`),
    first.missing.join("\n"),
  );
  w.network.unstallAll();
  const second = await list(w, { order: "recent", limit: 10, cursor: first.next_cursor! });
  assert.deepEqual(second.threads.map((t) => t.id), [byHour[2], byHour[1], byHour[0]]);
});

Deno.test("Reader reads a page's pieces in parallel, within readConcurrencyMax", async () => {
  const w = world();
  const thread = await newThread(w, "Busy");
  for (let i = 0; i < 12; i++) await post(w, thread, `Post ${i}`);
  for (let i = 0; i < 11; i++) {
    w.clock.advanceBy(1000);
    await newThread(w, `More ${i}`);
  }
  w.network.inFlightMax = 0;
  const page = await list(w, { order: "recent", limit: 12 });
  assert.equal(page.threads.length, 12);
  assert.equal(w.network.inFlightMax, readConcurrencyMax);
  w.network.inFlightMax = 0;
  const view = await show(w, { thread, limit: 12 });
  assert.equal(view.messages.length, 12);
  assert.equal(w.network.inFlightMax, readConcurrencyMax);
});

Deno.test("Reader.showThread() answers in time when its index page is late, with a cursor to retry it", async () => {
  const w = world();
  const thread = await newThread(w, "Slow");
  const first = await post(w, thread, "First");
  const index = threadIndex(NodeId.fromHex(thread), 0);
  w.network.stall(index.key);
  const { result: view, tookMs } = await timed(w, () => show(w, { thread, limit: 10 }));
  assert.ok(tookMs <= readBudgetMs, `took ${tookMs} ms`);
  assert.equal(view.thread.title, "Slow");
  assert.deepEqual(view.messages, []);
  assert.deepEqual(view.missing, ["index page 0: no answer within 1 s"]);
  assert.notEqual(view.next_cursor, null);
  w.network.unstallAll();
  const retried = await show(w, { thread, limit: 10, cursor: view.next_cursor! });
  assert.deepEqual(retried.messages.map((m) => m.id), [first]);
  assert.equal(retried.next_cursor, null);
});

Deno.test("Reader.showThread() says UNAVAILABLE, not NOT_FOUND, when the thread itself is late", async () => {
  const w = world();
  const thread = await newThread(w, "Far");
  w.network.stall(NodeId.fromHex(thread));
  await rejects(
    w.reader.showThread({ thread: NodeId.fromHex(thread), limit: 10 }),
    "UNAVAILABLE",
    /^Cannot show thread: [0-9a-f]{40} could not be read \(no answer within 1\.5 s\)$/,
  );
});

Deno.test("Reader.showThread() answers from this node's copies by the index budget while versioned reads stall", async () => {
  const w = world();
  const thread = await newThread(w, "Held");
  const first = await post(w, thread, "First");
  await w.publisher.vote({ target: NodeId.fromHex(first), direction: "up" });
  w.network.stallVersioned(true);
  const { result: view, tookMs } = await timed(w, () => show(w, { thread, limit: 10 }));
  // Votes read after the messages have no index time left: this node's copy, at once.
  assert.ok(tookMs <= indexReadBudgetMs, `took ${tookMs} ms`);
  assert.deepEqual(view.messages.map((m) => [m.id, m.votes]), [[first, { up: 1, down: 0 }]]);
  assert.ok(
    view.missing.includes(
      `votes of ${first}: only this node's copy (no complete answer within 1 s)`,
    ),
    view.missing.join("\n"),
  );
});

Deno.test("Reader.showThread() names an index page it could not count, even one the page did not need", async () => {
  const w = world();
  const thread = await newThread(w, "Long");
  for (let i = 0; i <= threadIndexPageSize; i++) await post(w, thread, `Message ${i}.`);
  w.network.failReads(threadIndex(NodeId.fromHex(thread), 1).key);
  // Page 0 alone fills a page of 50: page 1 is read ahead, never used by the page, but the count
  // stops there, so the count is a lower bound and says why.
  const view = await show(w, { thread, limit: 50 });
  assert.equal(view.messages.length, 50);
  assert.equal(view.thread.messages, threadIndexPageSize);
  assert.ok(view.missing.some((note) => note.startsWith("index page 1: ")), `${view.missing}`);
});

Deno.test("Reader.listThreads() gives each thread its votes, messages and author's name", async () => {
  const w = world();
  await w.publisher.setProfile({ name: "Alice", about: "", keys: [] });
  const thread = await newThread(w, "Named");
  await post(w, thread, "One.");
  await post(w, thread, "Two.", undefined, "bob");
  await w.publisher.vote({ target: NodeId.fromHex(thread), direction: "up", author: "bob" });
  const page = await list(w, { order: "recent", limit: 5 });
  assert.deepEqual(page.missing, []);
  const [summary] = page.threads;
  assert.equal(summary.author_name, "Alice");
  assert.deepEqual(summary.votes, { up: 1, down: 0 });
  assert.equal(summary.messages, 2);
  assert.equal(summary.messages_more, undefined);
  const view = await show(w, { thread, limit: 10 });
  assert.equal(view.thread.author_name, "Alice");
  assert.deepEqual(
    view.messages.map((message) => message.author_name ?? null),
    ["Alice", null],
    "bob published no profile: shown by key",
  );
});

Deno.test("Reader.listThreads() leaves out details it could not read in time, naming none missing", async () => {
  const w = world();
  await w.publisher.setProfile({ name: "Alice", about: "", keys: [] });
  const thread = await newThread(w, "Quiet");
  await post(w, thread, "One.");
  // The thread's votes, its index and the author's profile answer nothing in time.
  w.network.stall(votesIndex(NodeId.fromHex(thread)).key);
  w.network.stall(threadIndex(NodeId.fromHex(thread), 0).key);
  w.network.stall(profileKey(w.alice.keyPair.publicKey));
  const page = await list(w, { order: "recent", limit: 5 });
  assert.equal(page.threads.length, 1);
  for (const summary of page.threads) {
    assert.equal(summary.votes, undefined);
    assert.equal(summary.messages, undefined);
    assert.equal(summary.author_name, undefined);
  }
  assert.ok(
    page.missing.every((line) => !/votes of|index page 0 of|profile of/.test(line)),
    page.missing.join("\n"),
  );
});
