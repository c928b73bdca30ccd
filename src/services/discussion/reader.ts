/**
 * Reading discussions: thread listings, a thread with its messages as a reply tree, profiles.
 * Everything is assembled from the key schema's records (`src/content/key_schema.ts`) with a
 * bounded number of lookups per call, and survives missing pieces: what cannot be read is left
 * out and named in `missing`, never fatal (except the thread or profile asked for itself).
 *
 * Index entries only point at records; what is shown comes from the signed documents themselves,
 * so a writer of a bogus index entry can at most point at something that exists (or not). An
 * entry's own claims are checked against the document it names: a thread or message reference
 * whose creation time is not the document's, or that names a document of another type (another
 * thread's message), is dropped without a word (it is no missing piece, only noise), so a bogus
 * time can neither move a thread or message nor show it twice. Votes count once per writer and
 * activity once per entry, however a set arrives.
 *
 * @module
 */

import { fromHex, toHex } from "../../core/bytes.ts";
import type { Clock } from "../../core/clock.ts";
import { ContentError, InvalidInputError, RhizomeError } from "../../core/errors.ts";
import { isoTimeOf } from "../../core/format.ts";
import { NodeId } from "../../core/node_id.ts";
import { pooledMap } from "../../core/pool.ts";
import {
  type AuthoredDoc,
  clockSkewMs,
  decodeProfile,
  docOfRecord,
  type MessageDoc,
  profileKey,
  type ThreadDoc,
} from "../../content/documents.ts";
import {
  activityLifetimeS,
  entryLifetimeS,
  hourOf,
  type IndexKind,
  liveEntries,
  type MessageRef,
  popularIndex,
  recentIndex,
  type SetAddress,
  threadHoursIndex,
  threadIndex,
  threadIndexPageSize,
  threadsByHourIndex,
  votesIndex,
} from "../../content/key_schema.ts";
import { type DhtRecord, RecordError, RecordKind, type SetRecord } from "../../content/records.ts";
import {
  decodeListCursor,
  decodeThreadCursor,
  encodeListCursor,
  encodeThreadCursor,
  type ListCursor,
  listStart,
  type Position,
  type ThreadCursor,
  threadStart,
} from "./cursor.ts";
import { threadIndexPagesUsedMax } from "./publisher.ts";
import type { RecordNetwork } from "./record_network.ts";
import type {
  MessageView,
  ProfileView,
  ThreadList,
  ThreadSummary,
  ThreadView,
  VoteCount,
} from "./reports.ts";
import type { ThreadListRequest, ThreadShowRequest } from "./requests.ts";

/**
 * Most threads on one listing page. A page's threads are fetched one lookup each, so this bounds
 * a listing's cost; 100 is more than a screen. At the limit: `INVALID_INPUT`.
 */
export const threadPageMax = 100;

/** Threads on a listing page when the caller does not say. */
export const threadPageDefault = 20;

/**
 * Most messages on one `thread show` page. Each costs up to three lookups (the message, its
 * votes, its parent when that is on another page); 200 is a long page. Below
 * `threadIndexPageSize`, so a page spans at most two index pages. At the limit: `INVALID_INPUT`.
 */
export const messagePageMax = 200;

/** Messages on a thread page when the caller does not say. */
export const messagePageDefault = 50;

/**
 * Hour shards one `thread list --recent` call reads once the recent set is exhausted: a day of
 * shards is 24 lookups, the cost of about one page of threads. A page that reaches the limit
 * before it is full ends early, with a cursor that resumes at the next hour.
 */
export const hourShardsPerListMax = 24;

/**
 * Days whose thread hours one `thread list` call reads while walking back: 30, so even a quiet
 * network's listing reaches its end (entries live 90 days) in three calls, at one lookup a day.
 */
export const threadHoursPerListMax = 30;

/**
 * Lookups one read call keeps in flight at once: enough to hide a lookup's latency behind others,
 * few enough that one reader does not flood this node's RPC slots (the DHT allows 64). The call
 * reads ahead (the days' thread hours, the shards, the documents of a page) up to it; beyond it,
 * lookups wait their turn within the call's time budget.
 */
export const readConcurrencyMax = 8;

/**
 * The time one `thread list` or `thread show` call has to read everything, in ms. Well under the
 * 2 s a reader should wait for a page and under the control API's request timeout, so a listing
 * answers even while some holders are dead or slow (a lookup waiting on a dead contact's retries
 * takes seconds). When it runs out, the call answers with what it read and names the rest in
 * `missing`; pieces not yet read are asked with no time left, which is this node's own copy.
 */
export const readBudgetMs = 1_500;

/**
 * The part of {@link readBudgetMs} the index pieces of a call (the recent set, thread hours, hour
 * shards, a thread's index pages and votes: every versioned record) have, in ms, counted
 * from the call's start: the documents they name (threads, messages) get the rest, so a slow
 * index leaves time to read what it lists. Documents are immutable and usually held or cached
 * here, so the rest (0.5 s) is plenty for a page of them. Votes read after the documents get
 * what is left of this part, often nothing: this node's copy.
 */
export const indexReadBudgetMs = 1_000;

/**
 * Index pages one `thread show` call reads: a page of at most `messagePageMax` messages starting
 * anywhere in a full index page of `threadIndexPageSize` ends in it or in the next one. Pages
 * thinned by expired entries may take more calls: a call that reaches the limit of index pages
 * ends with a cursor at the next one.
 */
export const indexPagesPerShowMax = 2;

/**
 * The most lookups `thread show` makes for a page of `limit` messages: the thread and its votes;
 * the index pages (those of the page shown, and every page up to the thread's last for its
 * message count: none more for a thread that fits on the pages shown); then per message its
 * document, its votes, and its parent when that is not on the page.
 *
 * @param limit Messages per page.
 * @returns The bound.
 */
export function showThreadLookupsMax(limit: number): number {
  return 2 + threadIndexPagesUsedMax + 3 * limit + authorNamesLookupsMax(limit + 1);
}

/**
 * The most lookups `thread list` makes for a page of `limit` threads: the recent set, the days'
 * thread hours and the hour shards (or the popular set), then one per thread.
 *
 * @param limit Threads per page.
 * @returns The bound.
 */
export function listThreadsLookupsMax(limit: number): number {
  return 1 + threadHoursPerListMax + hourShardsPerListMax + 3 * limit +
    authorNamesLookupsMax(limit);
}

/**
 * Profiles a view reads to show its authors' names: one per distinct author of its `documents`
 * documents, at most {@link authorNamesPerViewMax}.
 *
 * @param documents Documents in the view.
 * @returns The bound.
 */
export function authorNamesLookupsMax(documents: number): number {
  return Math.min(documents, authorNamesPerViewMax);
}

/**
 * Distinct authors whose names one view looks up. A page of 200 messages by 200 authors would
 * otherwise double its lookups for names; past this the others are shown by key. 32 covers the
 * authors of a typical page (a listing of 20, a thread's busy page) within the read's budget.
 */
export const authorNamesPerViewMax = 32;

/** What a {@link Reader} is built from. */
export interface ReaderOptions {
  /** Where records come from. */
  network: RecordNetwork;
  /** The only source of time (which index entries are still live, the age of a listing). */
  clock: Clock;
  /**
   * Called with the key of every record a read found. The hook the popularity work drives: a
   * node that sees what its users read can keep more copies of it and spread it further. It must
   * not throw.
   */
  onRead?: (key: NodeId) => void;
}

/**
 * A thread a listing page names: its ID, the creation time the index entry claims (recent
 * listing; checked against the document), and its score (popular listing).
 */
interface ListedThread {
  id: NodeId;
  createdMs?: number;
  score?: number;
}

/** Reads discussions from the network. */
export class Reader {
  readonly #network: RecordNetwork;
  readonly #clock: Clock;
  readonly #onRead: (key: NodeId) => void;

  /**
   * Makes a reader.
   *
   * @param options The network, the clock and the read hook.
   */
  constructor(options: ReaderOptions) {
    this.#network = options.network;
    this.#clock = options.clock;
    this.#onRead = options.onRead ?? (() => {});
  }

  /**
   * One page of threads, newest first or by activity score. Threads the index names but that
   * cannot be read are left out and named in `missing`.
   *
   * Newest first: the recent set is where new threads are announced, and it speaks for every
   * thread created after its boundary (see {@link recentBoundaryMs}: a week ago, later when the
   * set is full and may have been trimmed). Threads after the boundary come from the recent set;
   * older ones from the hourly shards, walked back from the boundary's hour, at most
   * `hourShardsPerListMax` per call, until entries have expired (`entryLifetimeS`). A page may so
   * hold fewer than `limit` threads while `next_cursor` is not `null`. A thread missing from the
   * recent set but created after the boundary is not listed. When the recent set cannot be read
   * (or is absent) it speaks for nothing, and the shards are walked from now.
   * Threads are ordered by their documents' creation time (then ID); an entry whose time is not
   * its document's, or that names no thread, is dropped.
   * By score: the popular set's live activity summed per thread (each entry once), highest first.
   *
   * @param request The order, the page size and the cursor.
   * @returns The page; at most {@link listThreadsLookupsMax}(limit) lookups.
   * @throws {InvalidInputError} When the limit is out of range or the cursor is malformed.
   */
  async listThreads(request: ThreadListRequest): Promise<ThreadList> {
    checkLimit(request.limit, threadPageMax, "list threads");
    const cursor = request.cursor === undefined ? undefined : decodeListCursor(request.cursor);
    const popular = request.order === "popular";
    if (cursor !== undefined && (cursor.source === "popular") !== popular) {
      throw new InvalidInputError(
        `Cannot list threads: the cursor belongs to the ${popular ? "recent" : "popular"} listing`,
      );
    }
    const read = new ReadSession(this.#network, this.#onRead, this.#clock);
    const page = popular
      ? await this.#popularPage(
        read,
        request.limit,
        cursor?.source === "popular" ? cursor.offset : 0,
      )
      : await this.#recentPage(read, request.limit, cursor);
    return {
      threads: await this.#summaries(read, page.threads, !popular),
      next_cursor: page.next === undefined ? null : encodeListCursor(page.next),
      missing: read.missing,
    };
  }

  /**
   * One page of a ranking made elsewhere (the popularity service's): the threads at the cursor's
   * offset, in the ranking's order, each read once; a thread that cannot be read is named in
   * `missing`, an ID that is no thread is dropped. Pages with the popular listing's cursor.
   *
   * @param ranked The ranking, highest first (at most a few hundred IDs).
   * @param request The page size and the cursor (its order and source are the caller's).
   * @returns The page.
   * @throws {InvalidInputError} When the limit is out of range or the cursor is malformed or
   *   belongs to the recent listing.
   */
  async listRankedThreads(
    ranked: readonly { id: NodeId; score: number }[],
    request: ThreadListRequest,
  ): Promise<ThreadList> {
    checkLimit(request.limit, threadPageMax, "list threads");
    const cursor = request.cursor === undefined ? undefined : decodeListCursor(request.cursor);
    if (cursor !== undefined && cursor.source !== "popular") {
      throw new InvalidInputError(
        "Cannot list threads: the cursor belongs to the recent listing",
      );
    }
    const offset = cursor?.source === "popular" ? cursor.offset : 0;
    const read = new ReadSession(this.#network, this.#onRead, this.#clock);
    const page = ranked.slice(offset, offset + request.limit);
    const end = offset + request.limit;
    return {
      threads: await this.#summaries(read, [...page], false),
      next_cursor: end < ranked.length
        ? encodeListCursor({ source: "popular", offset: end })
        : null,
      missing: read.missing,
    };
  }

  /**
   * The summaries of a page's threads, each read once: a thread that cannot be read is named in
   * `missing`; an entry whose document is no thread, or (when `byTime`) whose claimed creation
   * time is not the document's, is dropped. With `byTime`, ordered newest first by the documents'
   * own times, then ID; otherwise in the page's order.
   */
  async #summaries(
    read: ReadSession,
    listed: ListedThread[],
    byTime: boolean,
  ): Promise<ThreadSummary[]> {
    const byId = new Map<string, { id: NodeId; claims: number[]; score?: number }>();
    for (const { id, createdMs, score } of listed) {
      const held = byId.get(id.toHex()) ?? { id, claims: [], score };
      if (createdMs !== undefined) held.claims.push(createdMs);
      byId.set(id.toHex(), held);
    }
    const checked = await pooledMap([...byId.values()], readConcurrencyMax, async (thread) => {
      const doc = await read.doc(thread.id, `thread ${thread.id.toHex()}`);
      if (doc?.type !== "thread") return undefined;
      if (byTime && !thread.claims.includes(doc.createdMs)) return undefined;
      const summary = summaryOf(thread.id, doc, thread.score);
      // Details a listing can go without: left out, not named missing, when late.
      const [votes, messages] = await Promise.all([
        read.detailVotes(thread.id),
        read.detailMessageCount(thread.id),
      ]);
      if (votes !== undefined) summary.votes = votes;
      if (messages !== undefined) {
        summary.messages = messages.count;
        if (messages.more) summary.messages_more = true;
      }
      return { id: thread.id, createdMs: doc.createdMs, summary };
    });
    const found = checked.filter((thread) => thread !== undefined);
    if (byTime) found.sort(newestOrder);
    const names = await read.authorNames(found.map((thread) => thread.summary.author));
    for (const { summary } of found) {
      const name = names.get(summary.author);
      if (name !== undefined) summary.author_name = name;
    }
    return found.map((thread) => thread.summary);
  }

  /**
   * A thread and one page of its messages, oldest first, as a reply tree: a reply whose parent
   * is on the page is nested under it; one whose parent is on another page is shown at top
   * level with its `parent`, and with `parent_missing` when the parent cannot be read.
   *
   * @param request The thread, the page size and the cursor.
   * @returns The thread and the page; at most {@link showThreadLookupsMax}(limit) lookups.
   * @throws {InvalidInputError} When the limit or the cursor is malformed.
   * @throws {ContentError} `NOT_FOUND` when the thread is not on the network.
   */
  async showThread(request: ThreadShowRequest): Promise<ThreadView> {
    const thread = request.thread;
    checkLimit(request.limit, messagePageMax, "show thread");
    const cursor = request.cursor === undefined
      ? { page: 0, after: threadStart }
      : decodeThreadCursor(request.cursor);
    const read = new ReadSession(this.#network, this.#onRead, this.#clock);
    const pages = indexPages(read, thread);
    // The thread, its votes and its index are read at once: none depends on another.
    const [record, votes, messages, page] = await Promise.all([
      read.record(thread, `thread ${thread.toHex()}`, "document"),
      read.votes(thread),
      messageCount(read, pages),
      this.#messagePage(read, pages, request.limit, cursor),
    ]);
    if (record === "unreachable" || record === "late") {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot show thread: ${thread.toHex()} could not be read (${
          record === "late" ? `no answer within ${readBudgetMs / 1000} s` : "no node answered"
        })`,
      );
    }
    const doc = record === undefined ? undefined : docIn(record);
    if (doc?.type !== "thread") {
      throw new ContentError(
        "NOT_FOUND",
        `Cannot show thread: ${thread.toHex()} is not on the network`,
      );
    }
    const views = await this.#messageViews(read, thread, page.refs);
    const summary = summaryOf(thread, doc);
    const names = await read.authorNames([summary.author, ...authorsOf(views)]);
    nameAuthors(views, names);
    const threadName = names.get(summary.author);
    if (threadName !== undefined) summary.author_name = threadName;
    return {
      thread: { ...summary, body: doc.body, votes, messages },
      messages: views,
      next_cursor: page.next === undefined ? null : encodeThreadCursor(page.next),
      missing: read.missing,
      lookups: read.lookups,
    };
  }

  /**
   * An author's profile.
   *
   * @param author The author's Ed25519 public key.
   * @returns The profile.
   * @throws {ContentError} `NOT_FOUND` when the author has published no profile.
   */
  async showProfile(author: Uint8Array): Promise<ProfileView> {
    // A profile is one record, read without a budget: its own copy here may be an old version.
    const read = new ReadSession(this.#network, this.#onRead, this.#clock, false);
    const record = await read.record(profileKey(author), "profile");
    if (typeof record !== "object" || record.kind !== RecordKind.mutable) {
      throw new ContentError(
        "NOT_FOUND",
        `Cannot show profile: author ${toHex(author)} has no profile on the network`,
      );
    }
    const profile = decodeProfile(record.payload);
    return {
      author: toHex(author),
      name: profile.name,
      about: profile.about,
      keys: profile.keys.map(toHex),
      updated_at: isoTimeOf(profile.updatedMs),
      seq: record.seq,
    };
  }

  /**
   * A page of the recent listing: the recent set's threads after its boundary, then the hour
   * shards from the boundary back. Positions are the entries' claims; the documents are checked
   * against them afterwards (`#summaries`), and a claim that does not hold is dropped there.
   *
   * The days' thread hours are read ahead, and each day's shards, up to `readConcurrencyMax`
   * lookups at a time, then taken in order. A shard that answers nothing within the budget
   * ends the page there, its cursor resuming at that shard; unless the page has made no
   * progress yet, in which case the shard is passed over (named in `missing`) so that paging
   * always moves on.
   */
  async #recentPage(
    read: ReadSession,
    limit: number,
    cursor: ListCursor | undefined,
  ): Promise<{ threads: ListedThread[]; next?: ListCursor }> {
    const threads: ListedThread[] = [];
    let after: Position;
    let hour: number;
    if (cursor?.source === "hours") {
      ({ after, hour } = cursor);
    } else {
      after = cursor?.source === "recent" ? cursor.after : listStart;
      const recent = await this.#recentSet(read);
      const refs = newestFirst(recent.refs, after);
      const taken = refs.slice(0, limit);
      threads.push(...taken);
      after = taken.at(-1) ?? after;
      if (refs.length > limit) return { threads, next: { source: "recent", after } };
      // Older threads are in the shards: from the boundary (inclusive) back, or from where the
      // listing already is when that is further. No entry's claimed time decides where.
      after = later(after, { createdMs: recent.boundaryMs, id: listStart.id });
      hour = hourOf(after.createdMs);
    }
    const oldestHour = hourOf((read.nowS - entryLifetimeS) * 1000);
    // Each day's thread hours say which of its hour shards hold threads: the rest are skipped.
    const firstDay = Math.floor(hour / 24);
    const daysCount = hour < oldestHour
      ? 0
      : Math.min(threadHoursPerListMax, firstDay - Math.floor(oldestHour / 24) + 1);
    const days = Array.from({ length: daysCount }, (_, index) => firstDay - index);
    const activeOf = read.ahead(
      days,
      (day) => `thread hours of day ${day}`,
      (day) => this.#activeHours(read, day),
    );
    let shardsRead = 0;
    for (let index = 0; index < days.length && threads.length < limit; index++) {
      const day = days[index];
      const active = await activeOf(index);
      const hours: number[] = [];
      for (let shardHour = hour; shardHour >= Math.max(day * 24, oldestHour); shardHour--) {
        if (active === "all" || active.has(shardHour % 24)) hours.push(shardHour);
      }
      const allowed = hours.slice(0, hourShardsPerListMax - shardsRead);
      const refsOf = read.ahead(
        allowed,
        (shardHour) => `threads of hour ${shardHour}`,
        (shardHour) =>
          read.threadRefs(threadsByHourIndex(shardHour), `threads of hour ${shardHour}`),
      );
      for (let shard = 0; shard < allowed.length && threads.length < limit; shard++) {
        const shardHour = allowed[shard];
        const answer = await refsOf(shard);
        if (answer === "late" && (shardsRead > 0 || threads.length > 0)) {
          return { threads, next: { source: "hours", after, hour: shardHour } };
        }
        shardsRead++;
        const refs = answer === "late"
          ? []
          : newestFirst(answer, after).filter((ref) => hourOf(ref.createdMs) === shardHour);
        const taken = refs.slice(0, limit - threads.length);
        threads.push(...taken);
        after = taken.at(-1) ?? after;
        if (taken.length < refs.length) {
          return { threads, next: { source: "hours", after, hour: shardHour } };
        }
        hour = shardHour - 1;
      }
      if (threads.length >= limit) break;
      if (allowed.length < hours.length) {
        // The call's shards are spent: the next page starts at the first shard not read.
        hour = hours[allowed.length];
        break;
      }
      hour = day * 24 - 1;
    }
    return { threads, next: hour < oldestHour ? undefined : { source: "hours", after, hour } };
  }

  /**
   * The hours of `day` whose shards hold threads. "all" when that cannot be known: the day's set
   * is unreadable (or came too late), or full (a busy day, its earliest entries possibly cut).
   */
  async #activeHours(read: ReadSession, day: number): Promise<ReadonlySet<number> | "all"> {
    const address = threadHoursIndex(day);
    const record = await read.record(address.key, `thread hours of day ${day}`);
    if (record === "unreachable" || record === "late") return "all";
    if (record === undefined || record.kind !== RecordKind.set) return new Set();
    if (record.entries.length >= address.policy.entriesMax) return "all";
    return new Set(liveEntries(record, "threadHours", read.nowS).map((entry) => entry.value.hour));
  }

  /**
   * The recent set's references to threads created after its boundary (and not dated beyond
   * this node's clock plus the skew allowed), with the boundary. An unreadable or absent set
   * speaks for nothing: its boundary is now (plus the skew), so the shards are walked from now.
   */
  async #recentSet(read: ReadSession): Promise<{ refs: Position[]; boundaryMs: number }> {
    const address = recentIndex();
    const record = await read.record(address.key, "recent index");
    const horizonMs = read.nowMs + clockSkewMs;
    if (typeof record !== "object" || record.kind !== RecordKind.set) {
      return { refs: [], boundaryMs: horizonMs };
    }
    const boundaryMs = Math.min(recentBoundaryMs(record, read.nowS), horizonMs);
    const refs = liveEntries(record, "recent", read.nowS)
      .map((entry) => ({ id: entry.value.thread, createdMs: entry.value.createdMs }))
      .filter((ref) => ref.createdMs > boundaryMs && ref.createdMs <= horizonMs);
    return { refs, boundaryMs };
  }

  /** A page of the popular listing: live activity summed per thread, highest first. */
  async #popularPage(
    read: ReadSession,
    limit: number,
    offset: number,
  ): Promise<{ threads: ListedThread[]; next?: ListCursor }> {
    const address = popularIndex();
    const scores = new Map<string, { id: NodeId; score: number }>();
    // Each entry counts once, however the set arrived: a writer's entry is its (writer, seq).
    const counted = new Set<string>();
    for (const entry of await read.entries(address, "popular index")) {
      const key = entry.value.target.toHex();
      const entryKey = `${toHex(entry.writer)}:${key}:${entry.seq}`;
      if (counted.has(entryKey)) continue;
      counted.add(entryKey);
      const held = scores.get(key) ?? { id: entry.value.target, score: 0 };
      held.score += entry.value.weight;
      scores.set(key, held);
    }
    const ranked = [...scores.values()].sort((a, b) => b.score - a.score || a.id.compare(b.id));
    const threads = ranked.slice(offset, offset + limit);
    const end = offset + limit;
    return { threads, next: end < ranked.length ? { source: "popular", offset: end } : undefined };
  }

  /**
   * One page of a thread's index: entries after the cursor, oldest first, going on to the next
   * index page whenever this one exists (a record was found for it, however few of its entries
   * still live: expired entries leave room that later posts fill, while the next page holds
   * messages written meanwhile), stopping at the first page that is absent or unreadable. The
   * index pages are read at once; one that answers nothing within the budget ends the page with
   * a cursor at it, so the next call asks again.
   */
  async #messagePage(
    read: ReadSession,
    indexPage: IndexPages,
    limit: number,
    cursor: ThreadCursor,
  ): Promise<{ refs: Position[]; next?: ThreadCursor }> {
    const refs: Position[] = [];
    let { page, after } = cursor;
    const pages = Array.from(
      { length: Math.max(1, Math.min(indexPagesPerShowMax, threadIndexPagesUsedMax - page)) },
      (_, index) => page + index,
    );
    const indexOf = read.ahead(
      pages,
      indexPageName,
      indexPage,
    );
    for (let index = 0; index < pages.length; index++) {
      const { found, late, entries } = await indexOf(index);
      if (late) return { refs, next: { page, after } };
      const onPage = oldestFirst(entries.map((entry) => entry.value), after);
      const taken = onPage.slice(0, limit - refs.length);
      refs.push(...taken);
      after = taken.at(-1) ?? after;
      if (taken.length < onPage.length) return { refs, next: { page, after } };
      if (!found || page + 1 >= threadIndexPagesUsedMax) return { refs };
      page++;
      after = threadStart;
      if (refs.length === limit) break;
    }
    return { refs, next: { page, after } };
  }

  /**
   * The page's messages, their votes and missing parents, assembled into a reply tree. Each
   * message is read once; an entry naming something that is not a message of this thread, or
   * claiming another creation time than its document's, is dropped.
   */
  async #messageViews(
    read: ReadSession,
    thread: NodeId,
    refs: Position[],
  ): Promise<MessageView[]> {
    const claims = new Map<string, { id: NodeId; times: number[] }>();
    for (const { id, createdMs } of refs) {
      const held = claims.get(id.toHex()) ?? { id, times: [] };
      held.times.push(createdMs);
      claims.set(id.toHex(), held);
    }
    const loaded = await pooledMap([...claims.values()], readConcurrencyMax, async (claim) => {
      const doc = await read.doc(claim.id, `message ${claim.id.toHex()}`);
      if (doc?.type !== "message" || !doc.thread.equals(thread)) return undefined;
      if (!claim.times.includes(doc.createdMs)) return { id: claim.id, doc, shown: false };
      return { id: claim.id, doc, shown: true, votes: await read.votes(claim.id) };
    });
    const messages: LoadedMessage[] = [];
    // Messages of this thread read for the page, shown or not: a reply to one is not orphaned.
    const known = new Set<string>();
    for (const message of loaded) {
      if (message === undefined) continue;
      known.add(message.id.toHex());
      if (message.shown) messages.push({ id: message.id, doc: message.doc, votes: message.votes! });
    }
    // Parents looked up for the page are known (read or missing); only the others need a lookup.
    const elsewhere = [...new Set(messages.map((message) => message.doc.parent.toHex()))]
      .filter((parent) => parent !== thread.toHex() && !claims.has(parent));
    const found = await pooledMap(elsewhere, readConcurrencyMax, async (parent) => {
      const doc = await read.doc(NodeId.fromHex(parent), `message ${parent}`);
      return doc?.type === "message" && doc.thread.equals(thread) ? parent : undefined;
    });
    for (const parent of found) if (parent !== undefined) known.add(parent);
    return replyTree(thread, messages, known);
  }
}

/** A thread's index page as one call read it. */
interface IndexPageRead {
  /** Whether the page exists. */
  found: boolean;
  /** Whether it did not answer within the budget. */
  late: boolean;
  /** Its live entries. */
  entries: { value: MessageRef }[];
}

/** Reads a thread's index page by number, each page at most once per call. */
type IndexPages = (page: number) => Promise<IndexPageRead>;

/** The index pages of `thread`, read through `read` once each however often they are asked. */
/** What a thread's index page is called in a view's `missing`. */
function indexPageName(page: number): string {
  return `index page ${page}`;
}

function indexPages(read: ReadSession, thread: NodeId): IndexPages {
  const pages = new Map<number, Promise<IndexPageRead>>();
  return (page) => {
    let reading = pages.get(page);
    if (reading === undefined) {
      reading = read.set(threadIndex(thread, page), indexPageName(page));
      pages.set(page, reading);
    }
    return reading;
  };
}

/**
 * Messages in a thread: the live entries of its index pages, from page 0 to the last that
 * exists (pages fill in order, so the first absent one ends them). A page that cannot be read
 * ends the count there (and is named in `missing`): the count is then a lower bound. Most threads
 * fit on page 0, which the thread page reads anyway, so counting costs no lookup of its own.
 */
async function messageCount(read: ReadSession, indexPage: IndexPages): Promise<number> {
  let count = 0;
  for (let page = 0; page < threadIndexPagesUsedMax; page++) {
    const { found, entries } = await indexPage(page);
    // The message page may have read it ahead and never used it: the count did.
    read.take(indexPageName(page));
    if (!found) break;
    count += entries.length;
  }
  return count;
}

/** A message read for a page. */
interface LoadedMessage {
  id: NodeId;
  doc: MessageDoc;
  votes: VoteCount;
}

/**
 * Nests each message under its parent when the parent is on the page; the others are top level,
 * marked `parent_missing` unless their parent is among `parentsKnown`. Ordered oldest first by the
 * documents' creation time, then ID, and so is every list of replies.
 */
function replyTree(
  thread: NodeId,
  messages: LoadedMessage[],
  parentsKnown: Set<string>,
): MessageView[] {
  const ordered = [...messages].sort((a, b) =>
    a.doc.createdMs - b.doc.createdMs || a.id.compare(b.id)
  );
  const views = new Map<string, MessageView>();
  for (const { id, doc, votes } of ordered) {
    const parent = doc.parent.equals(thread) ? null : doc.parent.toHex();
    const view: MessageView = {
      id: id.toHex(),
      author: toHex(doc.author),
      created_at: isoTimeOf(doc.createdMs),
      parent,
      body: doc.body,
      votes,
      replies: [],
    };
    views.set(view.id, view);
  }
  const topLevel: MessageView[] = [];
  for (const view of views.values()) {
    const parent = view.parent === null ? undefined : views.get(view.parent);
    if (view.parent !== null && parent === undefined && !parentsKnown.has(view.parent)) {
      view.parent_missing = true;
    }
    (parent?.replies ?? topLevel).push(view);
  }
  return topLevel;
}

/** A record as one lookup of a call found it. */
type ReadResult = DhtRecord | undefined | "unreachable" | "late";

/**
 * The lookups of one call: counts them, reports each record found to the read hook, notes what
 * could not be read, and keeps the call's time budget: index pieces (sets: indexes, votes,
 * index pages) are asked to answer by {@link indexReadBudgetMs} after the call began, documents by
 * {@link readBudgetMs}.
 */
class ReadSession {
  /** Lookups made. */
  lookups = 0;
  /** What could not be read, one line each. */
  readonly missing: string[] = [];
  /** The time of the call, in ms since the epoch. */
  readonly nowMs: number;
  /** The time entries are judged live at, in seconds since the epoch. */
  readonly nowS: number;
  readonly #network: RecordNetwork;
  readonly #onRead: (key: NodeId) => void;
  readonly #clock: Clock;
  /** Whether lookups have a deadline (else they wait for the network's own answer). */
  readonly #budgeted: boolean;
  /** Lookups in flight, and those waiting for one of the {@link readConcurrencyMax} slots. */
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];
  /** Pieces read ahead and not yet taken, with the notes they made meanwhile. */
  readonly #aheadNotes = new Map<string, string[]>();

  constructor(
    network: RecordNetwork,
    onRead: (key: NodeId) => void,
    clock: Clock,
    budgeted = true,
  ) {
    this.#network = network;
    this.#onRead = onRead;
    this.#clock = clock;
    this.nowMs = clock.nowMs();
    this.nowS = secondsOf(this.nowMs);
    this.#budgeted = budgeted;
  }

  /**
   * Reads ahead: the returned `take(index)` awaits the work on `items[index]`, having started it
   * and the work on the items after it, up to {@link readConcurrencyMax} beyond the one taken, so
   * a caller taking results in order keeps lookups in flight and stops early at the cost of a few.
   * What a piece could not read is noted only once it is taken: a piece read ahead and never used
   * is no gap in the answer.
   *
   * @param items The pieces, in the order they will be taken.
   * @param nameOf A piece's name, as its lookups note it ("<name>: <why>").
   * @param work Reads a piece.
   * @returns `take`.
   */
  ahead<T, R>(
    items: T[],
    nameOf: (item: T) => string,
    work: (item: T) => Promise<R>,
  ): (index: number) => Promise<R> {
    const started: Promise<R>[] = [];
    return async (index) => {
      while (started.length < Math.min(items.length, index + readConcurrencyMax)) {
        const item = items[started.length];
        this.#aheadNotes.set(nameOf(item), []);
        const reading = work(item);
        // Awaited when taken; one never taken must not reject unnoticed.
        reading.catch(() => {});
        started.push(reading);
      }
      const result = await started[index];
      this.take(nameOf(items[index]));
      return result;
    };
  }

  /**
   * Reports the notes held for `what`, read ahead: its result was used after all (by `ahead`'s
   * caller, or by another part of the view reading the same thing).
   *
   * @param what The name it was read under.
   */
  take(what: string): void {
    this.missing.push(...this.#aheadNotes.get(what) ?? []);
    this.#aheadNotes.delete(what);
  }

  /** Notes what `what` could not read: at once, or when it is taken if it was read ahead. */
  #note(what: string, why: string): void {
    const held = this.#aheadNotes.get(what);
    if (held === undefined) this.missing.push(`${what}: ${why}`);
    else held.push(`${what}: ${why}`);
  }

  /**
   * The record under `key`: `undefined` when nobody holds it; `unreachable` (noted as
   * "<what>: unreachable") when the network could not be asked; `late` (noted) when nothing came
   * within the budget. A copy only this node holds, the rest of the network silent in time, is
   * returned and noted too: it may lack what others hold. `budget` says which deadline applies:
   * a document's, or (by default) an index piece's.
   */
  async record(
    key: NodeId,
    what: string,
    budget: "index" | "document" = "index",
  ): Promise<ReadResult> {
    this.lookups++;
    if (this.#inFlight >= readConcurrencyMax) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#inFlight++;
    }
    try {
      return await this.#fetch(key, what, budget === "index" ? indexReadBudgetMs : readBudgetMs);
    } finally {
      // The slot passes straight to the next waiter, so none can be taken in between.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#inFlight--;
    }
  }

  async #fetch(key: NodeId, what: string, budgetMs: number): Promise<ReadResult> {
    try {
      if (!this.#budgeted) {
        const record = await this.#network.fetch(key);
        if (record !== undefined) this.#onRead(key);
        return record;
      }
      const waitMsMax = Math.max(0, this.nowMs + budgetMs - this.#clock.nowMs());
      const { record, complete } = await this.#network.fetchWithin(key, waitMsMax);
      if (record !== undefined) this.#onRead(key);
      if (!complete) {
        const budgetS = budgetMs / 1000;
        this.#note(
          what,
          record === undefined
            ? `no answer within ${budgetS} s`
            : `only this node's copy (no complete answer within ${budgetS} s)`,
        );
        if (record === undefined) return "late";
      }
      return record;
    } catch (error) {
      if (!(error instanceof RhizomeError)) throw error;
      this.#note(what, "unreachable");
      return "unreachable";
    }
  }

  /** The document under `id`, or `undefined`, noted as "<what>: not found" or the like. */
  async doc(id: NodeId, what: string): Promise<AuthoredDoc | undefined> {
    const record = await this.record(id, what, "document");
    if (record === "unreachable" || record === "late") return undefined;
    const doc = record === undefined ? undefined : docIn(record);
    if (doc === undefined) this.#note(what, record ? "not a document" : "not found");
    return doc;
  }

  /** The live entries of the set at `address`; none when it is absent or could not be read. */
  async entries<K extends IndexKind>(address: SetAddress<K>, what: string) {
    return (await this.set(address, what)).entries;
  }

  /**
   * Whether the set at `address` was found, whether it came too late, and its live entries (none
   * when it is absent or could not be read).
   */
  async set<K extends IndexKind>(address: SetAddress<K>, what: string) {
    const record = await this.record(address.key, what);
    const found = typeof record === "object" && record.kind === RecordKind.set;
    return {
      found,
      late: record === "late",
      entries: found ? liveEntries(record, address.kind, this.nowS) : [],
    };
  }

  /** The thread references of the recent set or an hour shard; `late` when none came in time. */
  async threadRefs(
    address: SetAddress<"recent"> | SetAddress<"threadsByHour">,
    what: string,
  ): Promise<Position[] | "late"> {
    const { late, entries } = await this.set<"recent" | "threadsByHour">(address, what);
    if (late) return "late";
    return entries.map((entry) => ({ id: entry.value.thread, createdMs: entry.value.createdMs }));
  }

  /**
   * A record a view can go without (a listing's vote counts, an author's name): `null` when
   * nobody holds it, `undefined` when it could not be read in time. Nothing is noted in
   * `missing`: the view shows the detail, or leaves it out.
   */
  async detail(key: NodeId, what: string): Promise<DhtRecord | null | undefined> {
    const name = `detail: ${what}`;
    this.#aheadNotes.set(name, []);
    try {
      const record = await this.record(key, name);
      if (record === "late" || record === "unreachable") return undefined;
      return record ?? null;
    } finally {
      this.#aheadNotes.delete(name);
    }
  }

  /** The votes on `target` as a {@link detail}: `undefined` when not read in time. */
  async detailVotes(target: NodeId): Promise<VoteCount | undefined> {
    const address = votesIndex(target);
    const record = await this.detail(address.key, `votes of ${target.toHex()}`);
    if (record === undefined) return undefined;
    if (record === null || record.kind !== RecordKind.set) return { up: 0, down: 0 };
    return voteCountOf(liveEntries(record, address.kind, this.nowS));
  }

  /**
   * The messages of `thread` as a {@link detail}: the live entries of its first index page, and
   * whether the page is full (more pages may follow: the count is then a lower bound).
   */
  async detailMessageCount(
    thread: NodeId,
  ): Promise<{ count: number; more: boolean } | undefined> {
    const address = threadIndex(thread, 0);
    const record = await this.detail(address.key, `index page 0 of ${thread.toHex()}`);
    if (record === undefined) return undefined;
    if (record === null || record.kind !== RecordKind.set) return { count: 0, more: false };
    const count = liveEntries(record, address.kind, this.nowS).length;
    return { count, more: record.entries.length >= threadIndexPageSize };
  }

  /**
   * The display names of `authors` (hex keys) that published a profile with a name, read as
   * {@link detail}s: at most {@link authorNamesPerViewMax} distinct authors, the first listed.
   */
  async authorNames(authors: readonly string[]): Promise<Map<string, string>> {
    const distinct = [...new Set(authors)].slice(0, authorNamesPerViewMax);
    const names = new Map<string, string>();
    await pooledMap(distinct, readConcurrencyMax, async (author) => {
      const record = await this.detail(profileKey(fromHex(author)), `profile of ${author}`);
      if (!record || record.kind !== RecordKind.mutable) return;
      try {
        const name = decodeProfile(record.payload).name;
        if (name !== "") names.set(author, name);
      } catch (error) {
        if (!(error instanceof RecordError)) throw error;
      }
    });
    return names;
  }

  /**
   * The current votes on a thread or message: one per writer, its entry of the highest sequence
   * (a set from a peer could hold a writer's entry more than once).
   */
  async votes(target: NodeId): Promise<VoteCount> {
    const entries = await this.entries(votesIndex(target), `votes of ${target.toHex()}`);
    return voteCountOf(entries);
  }
}

/** Votes counted from a votes set's live entries: each writer's entry of the highest sequence. */
function voteCountOf(
  entries: readonly { writer: Uint8Array; seq: number; value: { direction: number } }[],
): VoteCount {
  const latest = new Map<string, { seq: number; direction: number }>();
  for (const { writer, seq, value } of entries) {
    const key = toHex(writer);
    const held = latest.get(key);
    if (held === undefined || seq > held.seq) {
      latest.set(key, { seq, direction: value.direction });
    }
  }
  const directions = [...latest.values()].map((vote) => vote.direction);
  const up = directions.filter((direction) => direction === 1).length;
  return { up, down: directions.length - up };
}

/**
 * The document a record carries. The network verifies what it returns, so a malformed document
 * should not arrive; if one does, it counts as no document rather than failing the whole read.
 */
function docIn(record: DhtRecord): AuthoredDoc | undefined {
  try {
    return docOfRecord(record);
  } catch (error) {
    if (error instanceof RecordError) return undefined;
    throw error;
  }
}

/**
 * Where the recent set stops speaking for every thread: it holds an entry for each thread created
 * after the returned time (in ms). Entries live `activityLifetimeS` from when they are written, and
 * a thread's first entry is written when it is created, so every thread created since a week ago
 * still has one. A full set may have been cut (`mergeSets` drops the entries that expire first):
 * whatever was cut expired no later than the soonest-expiring entry held, so was first written
 * (the thread created) at most a lifetime before that; newer threads are all still there. Only the
 * entries' expiry decides this, never the creation times they claim.
 *
 * @param record The recent set as fetched.
 * @param nowS The time, in seconds since the epoch.
 * @returns The boundary: threads created after it are all in the set.
 */
function recentBoundaryMs(record: SetRecord, nowS: number): number {
  let safeFromS = nowS;
  if (record.entries.length >= record.policy.entriesMax) {
    const soonestS = Math.min(...record.entries.map((entry) => entry.expiresAtS));
    safeFromS = Math.max(nowS, soonestS);
  }
  // An entry written at ms w expires at floor(w / 1000) + lifetime; it outlives safeFromS when
  // w >= (safeFromS - lifetime + 1) * 1000.
  return (safeFromS - activityLifetimeS + 1) * 1000 - 1;
}

/** Newest-first order: time descending, then ID. */
function newestOrder(a: Position, b: Position): number {
  return b.createdMs - a.createdMs || a.id.compare(b.id);
}

/** Of two positions of a newest-first listing, the one further along. */
function later(a: Position, b: Position): Position {
  return newestOrder(a, b) < 0 ? b : a;
}

/** Positions after `after` in newest-first order (time descending, then ID), deduplicated. */
function newestFirst(positions: Position[], after: Position): Position[] {
  return deduplicated(
    positions.filter((position) => newestOrder(after, position) < 0).sort(newestOrder),
  );
}

/** Positions after `after` in oldest-first order (time ascending, then ID), deduplicated. */
function oldestFirst(
  refs: { message: NodeId; createdMs: number }[],
  after: Position,
): Position[] {
  const order = (a: Position, b: Position) => a.createdMs - b.createdMs || a.id.compare(b.id);
  const positions = refs.map((ref) => ({ id: ref.message, createdMs: ref.createdMs }));
  return deduplicated(positions.filter((position) => order(after, position) < 0).sort(order));
}

/**
 * Sorted positions with each (time, ID) kept once. The same ID at two times stays twice: at most
 * one of them is its document's time, and only that one is shown.
 */
function deduplicated(positions: Position[]): Position[] {
  const seen = new Set<string>();
  return positions.filter((position) => {
    const key = `${position.createdMs}:${position.id.toHex()}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The authors of messages and their replies, in the order shown (at most the page's). */
function authorsOf(views: readonly MessageView[]): string[] {
  const authors: string[] = [];
  const stack = [...views].reverse();
  for (let visited = 0; stack.length > 0 && visited <= messagePageMax; visited++) {
    const view = stack.pop()!;
    authors.push(view.author);
    stack.push(...[...view.replies].reverse());
  }
  return authors;
}

/** Sets `author_name` on the messages (and replies) whose author has a name in `names`. */
function nameAuthors(views: readonly MessageView[], names: Map<string, string>): void {
  const stack = [...views];
  for (let visited = 0; stack.length > 0 && visited <= messagePageMax; visited++) {
    const view = stack.pop()!;
    const name = names.get(view.author);
    if (name !== undefined) view.author_name = name;
    stack.push(...view.replies);
  }
}

function summaryOf(id: NodeId, doc: ThreadDoc, score?: number): ThreadSummary {
  const summary: ThreadSummary = {
    id: id.toHex(),
    title: doc.title,
    author: toHex(doc.author),
    created_at: isoTimeOf(doc.createdMs),
    tags: doc.tags,
  };
  if (score !== undefined) summary.score = score;
  return summary;
}

function checkLimit(limit: number, limitMax: number, action: string): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > limitMax) {
    throw new InvalidInputError(
      `Cannot ${action}: the limit must be 1..${limitMax}, got ${JSON.stringify(limit)}`,
    );
  }
}

function secondsOf(ms: number): number {
  return Math.floor(ms / 1000);
}
