/**
 * Publishing discussions: threads, messages, votes and profiles, signed by an author key and put
 * on the network, then announced in the indexes readers find them through: the entries the
 * fan-out names (`fan_out.ts`), in sets of the key schema (`src/content/key_schema.ts`).
 *
 * Order is what keeps the network consistent: every check that can refuse a request (the fields,
 * the thread and parent being on the network, a repeated vote, a full thread) runs before anything
 * is published, so refused input changes nothing. Every read those checks make must have been
 * answered: a read the network could not serve rejects (`UNAVAILABLE`, see `RecordNetwork.fetch`)
 * and the request fails with it, publishing nothing, rather than taking the record for absent (a
 * profile rebuilt from nothing, a repeated vote let through, a full index page taken for an empty
 * one). The record itself is published next and must be
 * durable on this node; only then are the indexes updated, in parallel. A post is the exception
 * in timing only: its one index entry goes out together with the message, since the read of the
 * index page already found the page's holders (`RecordNetwork.fetchForUpdate`); the message's
 * own copy is written here as its publish starts, before the entry's STOREs can land anywhere,
 * and a reader that meets the entry before the message's STOREs names it missing for that
 * moment. A failed index update is reported (0 nodes) rather than thrown: the record is already
 * out, and the node republishes what it holds.
 *
 * @module
 */

import type { Clock } from "../../core/clock.ts";
import { bytesEqual, toHex } from "../../core/bytes.ts";
import { type Ed25519KeyPair, sha256 } from "../../core/crypto.ts";
import { ContentError, ReplicationError, RhizomeError } from "../../core/errors.ts";
import { NODE_ID_BYTES, NodeId } from "../../core/node_id.ts";
import {
  type AuthoredDoc,
  decodeProfile,
  docId,
  docOfRecord,
  docRecord,
  type Profile,
  profileKey,
  signMessage,
  signProfile,
  signThread,
} from "../../content/documents.ts";
import {
  checkContent,
  entryLifetimeSOf,
  entrySeqOf,
  type EntryValues,
  type IndexKind,
  liveEntries,
  type SetAddress,
  signedEntrySet,
  threadIndex,
  threadIndexPageSize,
  votesIndex,
} from "../../content/key_schema.ts";
import {
  decodeRecord,
  type DhtRecord,
  recordKey,
  RecordKind,
  type SetRecord,
} from "../../content/records.ts";
import { indexEntries, type IndexEntry, type Publication } from "./fan_out.ts";
import type { PublishReport } from "./reports.ts";
import type { NewThreadRequest, PostRequest, ProfileRequest, VoteRequest } from "./requests.ts";
import type { PublishResult, RecordNetwork, UpdateRead } from "./record_network.ts";

/** An author key, ready to sign. */
export interface Author {
  /** Its name in the data directory. */
  name: string;
  /** The Ed25519 key pair. */
  keyPair: Ed25519KeyPair;
}

/**
 * Loads an author key by name, or the current author when no name is given.
 *
 * @throws {ContentError} `AUTHOR_MISSING` when there is no such key.
 */
export type AuthorSource = (name?: string) => Promise<Author>;

/** What a {@link Publisher} is built from. */
export interface PublisherOptions {
  /** Where records go. */
  network: RecordNetwork;
  /** The only source of time (creation times, entry expiry, sequence numbers). */
  clock: Clock;
  /** Where author keys come from. */
  authors: AuthorSource;
}

/**
 * Most thread index pages a thread may use: 64 pages of `threadIndexPageSize` (256) messages is
 * 16,384 messages, far beyond a discussion anyone reads through, and finding the page a post goes
 * on costs one lookup per full page. At the limit: `post` refuses with `CONTENT_INVALID`; readers
 * stop paging there.
 */
export const threadIndexPagesUsedMax = 64;

/** The direction number a vote entry carries. */
const directionOf = { up: 1, down: -1 } as const;

/**
 * Threads whose open index page is remembered. Without it every post walks the thread's pages from
 * the first (one lookup each); 1,024 threads cover what one node posts into, at a few bytes each.
 * Beyond it, the least recently posted-to thread is forgotten and walked from page 0 next time.
 */
export const openPagesRememberedMax = 1024;

/** Signs and publishes discussions for the authors whose keys it is given. */
export class Publisher {
  readonly #network: RecordNetwork;
  readonly #clock: Clock;
  readonly #authors: AuthorSource;
  /** Per thread (hex), the index page last found open; least recently used first. */
  readonly #openPages = new Map<string, number>();

  /**
   * Makes a publisher.
   *
   * @param options The network, the clock and the author keys.
   */
  constructor(options: PublisherOptions) {
    this.#network = options.network;
    this.#clock = options.clock;
    this.#authors = options.authors;
  }

  /**
   * Starts a thread: signs it, publishes it, then adds it to the indexes the fan-out names
   * (`fan_out.ts`): the recent index, its creation hour's shard (and that hour to its day's
   * thread hours), its author's threads and the popular index (weight 2).
   *
   * @param request The title, opening post, tags and author.
   * @returns The thread's ID and where it and its index entries were stored.
   * @throws {ContentError} `CONTENT_INVALID` when a field breaks the rules; `AUTHOR_MISSING`.
   */
  async newThread(request: NewThreadRequest): Promise<PublishReport> {
    refuseBlankBody(request.body, "thread");
    const author = await this.#authors(request.author);
    const doc = signThread(author.keyPair, {
      createdMs: this.#clock.nowMs(),
      title: request.title,
      body: request.body,
      tags: request.tags ?? [],
    });
    const id = docId(doc);
    const published = await this.#publishIndexed(docRecord(doc));
    const indexes = await this.#fanOut(author.keyPair, {
      type: "thread",
      id,
      createdMs: doc.createdMs,
      author: author.keyPair.publicKey,
    });
    return report(id, "thread", published, indexes, author);
  }

  /**
   * Posts a message in a thread, at top level or as a reply. The thread (and the message replied
   * to) must be on the network. After the message, adds it to the thread's open index page, the
   * one index the fan-out names for a message (`fan_out.ts`).
   *
   * @param request The thread, the message replied to, the text and the author.
   * @returns The message's ID and where it and its index entry were stored.
   * @throws {ContentError} `CONTENT_INVALID` for a bad body, a parent in another thread or a
   *   full thread; `NOT_FOUND` when the thread or parent is not on the network;
   *   `AUTHOR_MISSING`.
   * @throws {RhizomeError} `UNAVAILABLE` when the thread, the parent or an index page could not
   *   be read; nothing is published then.
   */
  async post(request: PostRequest): Promise<PublishReport> {
    const thread = request.thread;
    const parent = request.replyTo ?? thread;
    refuseBlankBody(request.body, "message");
    const author = await this.#authors(request.author);
    const doc = signMessage(author.keyPair, {
      createdMs: this.#clock.nowMs(),
      thread,
      parent,
      body: request.body,
    });
    const id = docId(doc);
    // The reads only check, and the message's holders are only found: nothing is published until
    // all answered. Found meanwhile, the message's holders cost no lookup after the checks.
    const [, page, messageHolders] = await Promise.all([
      this.#checkPostTarget(thread, parent),
      this.#openIndexPage(thread),
      this.#network.fetchForUpdate(id),
    ]);
    // The message and its index entry go out together, each to the holders its read found, so
    // the post is visible one STORE after its reads. This node's copy of the message is written
    // as its publish starts, before any STORE of the entry can arrive anywhere.
    const [published, indexes] = await Promise.all([
      this.#publishIndexed(docRecord(doc), messageHolders.publish),
      this.#fanOut(author.keyPair, {
        type: "message",
        id,
        parent,
        createdMs: doc.createdMs,
        page: page.address,
      }, page),
    ]);
    return report(id, "message", published, indexes, author);
  }

  /**
   * Votes on a thread or a message. One vote per author and target: a vote the other way
   * replaces the author's earlier one, the same vote again is refused. Also records the activity
   * in the popular index, for the thread the target is or belongs to.
   *
   * @param request The target, the direction and the author.
   * @returns The key of the target's votes set and where it and the activity were stored.
   * @throws {ContentError} `NOT_FOUND` when the target is not on the network; `VOTE_REPEATED`
   *   when the author's current vote on it is the same; `AUTHOR_MISSING`.
   * @throws {RhizomeError} `UNAVAILABLE` when the target or the votes on it could not be read;
   *   nothing is published then.
   */
  async vote(request: VoteRequest): Promise<PublishReport> {
    const target = request.target;
    const author = await this.#authors(request.author);
    const address = votesIndex(target);
    const [doc, { entry: previous, publish }] = await Promise.all([
      this.#fetchDoc(target),
      this.#ownEntry(address, author.keyPair.publicKey),
    ]);
    if (doc === undefined) {
      throw new ContentError("NOT_FOUND", `Cannot vote: ${target.toHex()} is not on the network`);
    }
    const direction = directionOf[request.direction];
    if (previous?.value.direction === direction) {
      throw new ContentError(
        "VOTE_REPEATED",
        `Cannot vote: you already voted ${request.direction} on ${target.toHex()}`,
      );
    }
    const nowMs = this.#clock.nowMs();
    const writer = author.keyPair;
    const votes = this.#entry(writer, {
      name: "votes",
      address,
      seq: nextSeq(previous, nowMs),
      value: { direction },
    });
    const published = await this.#publishIndexed(votes, publish);
    // A vote is no record of its own: its activity entry is numbered by a hash of the vote
    // entry's signature, unique to this vote, so an author's successive votes add up (to at
    // most ±1 per target, as a repeat is refused) and republishing one replaces nothing.
    const seq = entrySeqOf(
      NodeId.fromBytes(sha256(votes.entries[0].signature).subarray(0, NODE_ID_BYTES)),
    );
    const thread = doc.type === "thread" ? target : doc.thread;
    const indexes = await this.#fanOut(writer, {
      type: "vote",
      thread,
      direction: request.direction,
      seq,
    });
    return report(published.key, "vote", published, indexes, author);
  }

  /**
   * Changes the author's profile: the fields given replace the published ones, the others keep
   * their value.
   *
   * @param request The fields to change and the author.
   * @returns The profile's key and where it was stored.
   * @throws {ContentError} `CONTENT_INVALID` when a field breaks the rules; `AUTHOR_MISSING`.
   * @throws {RhizomeError} `UNAVAILABLE` when the published profile could not be read (the new
   *   one would lose its fields); nothing is published then.
   */
  async setProfile(request: ProfileRequest): Promise<PublishReport> {
    const author = await this.#authors(request.author);
    const key = profileKey(author.keyPair.publicKey);
    // A failed read rejects (UNAVAILABLE) and ends here: only a profile known to be absent starts
    // from empty fields.
    const held = await this.#network.fetch(key);
    const current = held?.kind === RecordKind.mutable ? held : undefined;
    const previous: Profile = current
      ? decodeProfile(current.payload)
      : { name: "", about: "", keys: [], updatedMs: 0 };
    const nowMs = this.#clock.nowMs();
    const record = signProfile(author.keyPair, nextSeq(current, nowMs), {
      name: request.name ?? previous.name,
      about: request.about ?? previous.about,
      keys: request.keys ?? previous.keys,
      updatedMs: nowMs,
    });
    const published = await this.#network.publish(record);
    return report(published.key, "profile", published, {}, author);
  }

  /**
   * Publishes a record someone else built and signed (any kind), after checking it as every node
   * that stores it will: its key, signatures and content rules.
   *
   * @param key The key it belongs under.
   * @param bytes The encoded record.
   * @returns Its key and where it was stored.
   * @throws {RecordError} `RECORD_INVALID` when it does not verify.
   */
  async publishRecord(key: NodeId, bytes: Uint8Array): Promise<PublishReport> {
    const record = decodeRecord(key, bytes);
    checkContent(key, record, this.#clock.nowMs());
    const published = await this.#network.publish(record);
    const { stored, holders, quorum } = published;
    return { id: key.toHex(), kind: "record", stored, holders, quorum, indexes: {} };
  }

  /**
   * Refuses a post whose thread or parent is not on the network, or whose parent is elsewhere.
   * Returns when the thread was created.
   */
  async #checkPostTarget(thread: NodeId, parent: NodeId): Promise<number> {
    const [threadDoc, parentDoc] = await Promise.all([
      this.#fetchDoc(thread),
      parent.equals(thread) ? undefined : this.#fetchDoc(parent),
    ]);
    if (threadDoc?.type !== "thread") {
      throw new ContentError(
        "NOT_FOUND",
        `Cannot post: thread ${thread.toHex()} is not on the network`,
      );
    }
    if (parent.equals(thread)) return threadDoc.createdMs;
    if (parentDoc?.type === "thread") {
      throw new ContentError(
        "CONTENT_INVALID",
        `Cannot post: the message replied to, ${parent.toHex()}, is another thread`,
      );
    }
    if (parentDoc?.type !== "message") {
      throw new ContentError(
        "NOT_FOUND",
        `Cannot post: the message replied to, ${parent.toHex()}, is not on the network`,
      );
    }
    if (!parentDoc.thread.equals(thread)) {
      throw new ContentError(
        "CONTENT_INVALID",
        `Cannot post: the message replied to, ${parent.toHex()}, belongs to thread ${parentDoc.thread.toHex()}`,
      );
    }
    return threadDoc.createdMs;
  }

  /**
   * The first index page of a thread that is not full, read from page 0 on (publishers fill
   * pages in order, so readers find messages by paging forward), read for update: the entry is
   * published to the page's holders this read found. A page that cannot be read rejects
   * (`UNAVAILABLE`) rather than count as empty: it may be full.
   */
  async #openIndexPage(thread: NodeId): Promise<OpenPage> {
    const nowS = secondsOf(this.#clock.nowMs());
    const hex = thread.toHex();
    // Pages fill in order, so the walk starts at the page this node last found open.
    for (let page = this.#openPages.get(hex) ?? 0; page < threadIndexPagesUsedMax; page++) {
      const address = threadIndex(thread, page);
      const { record, publish } = await this.#network.fetchForUpdate(address.key);
      const held = record?.kind === RecordKind.set
        ? liveEntries(record, "threadIndex", nowS).length
        : 0;
      if (held < threadIndexPageSize) {
        this.#openPages.delete(hex);
        this.#openPages.set(hex, page);
        if (this.#openPages.size > openPagesRememberedMax) {
          this.#openPages.delete(this.#openPages.keys().next().value!);
        }
        return { address, publish };
      }
    }
    throw new ContentError(
      "CONTENT_INVALID",
      `Cannot post: thread ${thread.toHex()} is full (${
        threadIndexPagesUsedMax * threadIndexPageSize
      } messages)`,
    );
  }

  /**
   * The author's live entry in a one-per-writer set, if any, read for update: the publish of the
   * new entry goes to the set's holders this read found (rejects with `UNAVAILABLE` when the set
   * cannot be read: no entry is not the same as an unknown one).
   */
  async #ownEntry<K extends IndexKind>(
    address: SetAddress<K>,
    writer: Uint8Array,
  ): Promise<{ entry: OwnEntry<K> | undefined; publish: UpdateRead["publish"] }> {
    const { record, publish } = await this.#network.fetchForUpdate(address.key);
    if (record?.kind !== RecordKind.set) return { entry: undefined, publish };
    const nowS = secondsOf(this.#clock.nowMs());
    const entry = liveEntries(record, address.kind, nowS).find((entry) =>
      bytesEqual(entry.writer, writer)
    );
    return { entry, publish };
  }

  /** The document under `id`, or `undefined` when the network has none there. */
  async #fetchDoc(id: NodeId): Promise<AuthoredDoc | undefined> {
    const record = await this.#network.fetch(id);
    return record === undefined ? undefined : docOfRecord(record);
  }

  /** A one-entry set record signed by `writer`, living its kind's lifetime from now. */
  #entry(writer: Ed25519KeyPair, entry: Omit<IndexEntry, "required">): SetRecord {
    const expiresAtS = secondsOf(this.#clock.nowMs()) + entryLifetimeSOf(entry.address.kind);
    return signedEntrySet(writer, entry.address, entry.seq, expiresAtS, entry.value);
  }

  /**
   * Publishes a record that indexes will point to (through `publish` when its holders were found
   * by a read for update). Short of its write quorum but kept here
   * (`NOT_REPLICATED`), it is on the network as far as this node can make it so (the node
   * republishes it): the indexes are still updated, and {@link report} then throws the shortfall,
   * so the caller learns of it and a retry finds the indexes done.
   */
  async #publishIndexed(
    record: DhtRecord,
    publish: (record: DhtRecord) => Promise<PublishResult> = (record) =>
      this.#network.publish(record),
  ): Promise<PublishResult & { shortfall?: RhizomeError }> {
    try {
      return await publish(record);
    } catch (error) {
      if (!(error instanceof ReplicationError) || error.code !== "NOT_REPLICATED") throw error;
      return { key: recordKey(record), ...error.acknowledgements, shortfall: error };
    }
  }

  /**
   * Signs and publishes the index entries the fan-out names for a publication, in parallel; each
   * reports the other nodes that acknowledged it, 0 when it failed. An entry going into the set
   * `readForUpdate` read is published through it.
   */
  async #fanOut(
    writer: Ed25519KeyPair,
    publication: Publication,
    readForUpdate?: OpenPage,
  ): Promise<Record<string, number>> {
    const entries = indexEntries(publication);
    const stored = await Promise.all(entries.map(async (entry) => {
      // The set read for update is published to the holders its read found.
      const publish = readForUpdate?.address.key.equals(entry.address.key)
        ? readForUpdate.publish
        : (record: DhtRecord) => this.#network.publish(record);
      try {
        return (await publish(this.#entry(writer, entry))).stored;
      } catch (error) {
        // An entry the publication cannot be found without fails it, unless it is kept here
        // and republished (only short of holders).
        const kept = error instanceof ReplicationError && error.code === "NOT_REPLICATED";
        if (entry.required && !kept) throw error;
        if (error instanceof ReplicationError) return error.acknowledgements.stored;
        if (error instanceof RhizomeError) return 0;
        throw error;
      }
    }));
    return Object.fromEntries(entries.map((entry, i) => [entry.name, stored[i]]));
  }
}

/** A thread's open index page, read for update: its address and the publish to its holders. */
interface OpenPage {
  address: SetAddress<"threadIndex">;
  publish: UpdateRead["publish"];
}

/** A writer's live entry in a set, as the key schema decodes it. */
interface OwnEntry<K extends IndexKind> {
  writer: Uint8Array;
  seq: number;
  value: EntryValues[K];
}

/**
 * The sequence number of a one-per-writer record that must replace `previous`: the time, or one
 * above the previous sequence when that is ahead of this clock.
 */
function nextSeq(previous: { seq: number } | undefined, nowMs: number): number {
  return previous === undefined ? nowMs : Math.max(previous.seq + 1, nowMs);
}

/**
 * The report of a publish, or its record's shortfall (`NOT_REPLICATED`) thrown once the indexes
 * are done.
 */
function report(
  id: NodeId,
  kind: PublishReport["kind"],
  published: PublishResult & { shortfall?: RhizomeError },
  indexes: Record<string, number>,
  author: Author,
): PublishReport {
  if (published.shortfall) throw published.shortfall;
  const { stored, holders, quorum } = published;
  const authorHex = toHex(author.keyPair.publicKey);
  return { id: id.toHex(), kind, stored, holders, quorum, indexes, author: authorHex };
}

function secondsOf(ms: number): number {
  return Math.floor(ms / 1000);
}

/**
 * Refuses a body with nothing to read: empty, or only white space and invisible formatting
 * characters (a zero-width space). The record rules accept such bodies from the network (a
 * thread's opening post may be empty there, and other programs publish), but a node publishes
 * none: an empty opening post is what a forgotten argument produces, not what an author meant.
 *
 * @param body The body asked for.
 * @param kind What is being published, for the message.
 * @throws {ContentError} `CONTENT_INVALID`: "Cannot publish thread: the body is empty".
 */
export function refuseBlankBody(body: string, kind: "thread" | "message"): void {
  if (body === "") {
    throw new ContentError("CONTENT_INVALID", `Cannot publish ${kind}: the body is empty`);
  }
  if (blankPattern.test(body)) {
    throw new ContentError(
      "CONTENT_INVALID",
      `Cannot publish ${kind}: the body is only white space`,
    );
  }
}

/** Text with nothing visible: white space and format characters (`\p{Cf}`, U+200B and kin). */
const blankPattern = /^[\s\p{Cf}]*$/u;
