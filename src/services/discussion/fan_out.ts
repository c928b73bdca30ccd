/**
 * The fan-out: which index entries a publication adds. The one place that decides it, for
 * threads, messages and votes alike; the publisher signs and publishes what this returns. Every
 * entry written here is one a reader (`reader.ts`) uses, and costs a lookup and k STOREs, so the
 * list is short (docs/records.md, "What each operation writes"):
 *
 * - a thread: `recent` (listings of the last week), its hour's `threadsByHour` shard and that
 *   hour in its day's `threadHours` (older listings), `authorThreads`, and `popular` (weight 2);
 * - a message: its thread's open `threadIndex` page, nothing else. The page's entry carries the
 *   parent (so the replies to a message are found there: no `refs` set is written), the pages'
 *   entries are the thread's message count (no `threadStats`), a thread's place in the recent
 *   listing is its creation (a renewed `recent` entry changed nothing shown), and activity is left
 *   to measured popularity (ROADMAP §5) rather than self-reported per post in the global
 *   `popular` set, one hot key every post in the network would write;
 * - a vote: `popular` (±1) for the thread it counts towards (its own `votes` entry is the record).
 *
 * @module
 */

import type { NodeId } from "../../core/node_id.ts";
import {
  authorThreadsIndex,
  dayOf,
  entrySeqOf,
  type EntryValues,
  hourOf,
  type IndexKind,
  popularIndex,
  recentIndex,
  type SetAddress,
  threadHoursIndex,
  threadsByHourIndex,
} from "../../content/key_schema.ts";

/** Activity weights in the popular index (the key schema allows -1..+2). */
export const activityWeight = { thread: 2, up: 1, down: -1 } as const;

/** A publication, as far as the indexes need to know it. */
export type Publication =
  | {
    /** A new thread. */
    type: "thread";
    /** Its ID. */
    id: NodeId;
    /** Its creation time, as signed. */
    createdMs: number;
    /** Its author's public key. */
    author: Uint8Array;
  }
  | {
    /** A message in a thread. */
    type: "message";
    /** Its ID. */
    id: NodeId;
    /** The message replied to (the thread for a top-level post). */
    parent: NodeId;
    /** Its creation time, as signed. */
    createdMs: number;
    /** The thread's index page it goes on: the first that is not full. */
    page: SetAddress<"threadIndex">;
  }
  | {
    /** A vote on a thread or message. */
    type: "vote";
    /** The thread the vote counts towards (the target's thread, or the target). */
    thread: NodeId;
    /** Up or down. */
    direction: "up" | "down";
    /** A number unique to this vote (its activity entry's sequence number). */
    seq: number;
  };

/** One index entry a publication adds. */
export interface IndexEntry<K extends IndexKind = IndexKind> {
  /** Its name in the publish report (`indexes`). */
  name: string;
  /** The set it goes into. */
  address: SetAddress<K>;
  /** Its sequence number. */
  seq: number;
  /** What it holds. */
  value: EntryValues[K];
  /**
   * Whether the publication is unreachable without it (a message is found only through its
   * thread's index): its failure fails the publication, unless it was kept and is merely short of
   * holders (`NOT_REPLICATED`, republished later).
   */
  required: boolean;
}

/**
 * The index entries a publication adds, in the order the publisher sends them.
 *
 * @param publication What was published.
 * @returns The entries; each lives its kind's lifetime (`entryLifetimeSOf`).
 */
export function indexEntries(publication: Publication): IndexEntry[] {
  switch (publication.type) {
    case "thread": {
      const { id, createdMs, author } = publication;
      const seq = entrySeqOf(id);
      const threadRef = { thread: id, createdMs };
      const hour = hourOf(createdMs);
      return [
        entry("recent", recentIndex(), seq, threadRef),
        entry("threads_by_hour", threadsByHourIndex(hour), seq, threadRef),
        entry("thread_hours", threadHoursIndex(dayOf(createdMs)), hour, { hour: hour % 24 }),
        entry("author_threads", authorThreadsIndex(author), seq, threadRef),
        entry("popular", popularIndex(), seq, { target: id, weight: activityWeight.thread }),
      ];
    }
    case "message": {
      const { id, parent, createdMs, page } = publication;
      const value = { message: id, parent, createdMs };
      return [{ ...entry("thread_index", page, entrySeqOf(id), value), required: true }];
    }
    case "vote": {
      const { thread, direction, seq } = publication;
      const weight = activityWeight[direction];
      return [entry("popular", popularIndex(), seq, { target: thread, weight })];
    }
  }
}

function entry<K extends IndexKind>(
  name: string,
  address: SetAddress<K>,
  seq: number,
  value: EntryValues[K],
): IndexEntry {
  return { name, address, seq, value, required: false } as IndexEntry;
}
