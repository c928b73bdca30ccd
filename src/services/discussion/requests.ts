/**
 * What a caller asks the discussion service for: typed values, parsed once where they enter
 * (the control API, the CLI), so the service never sees hex or the wire's field names. IDs are
 * {@link NodeId}s, author keys 32-byte Ed25519 public keys. The control API's JSON for each is
 * mapped in src/api/wire.ts.
 *
 * @module
 */

import type { NodeId } from "../../core/node_id.ts";

/** `thread new`: a new thread. */
export interface NewThreadRequest {
  /** The title (1..`titleBytesMax` bytes of UTF-8, one line). */
  title: string;
  /** The opening post (0..`bodyBytesMax` bytes of UTF-8). */
  body: string;
  /** Tags (lower-case words), at most `tagsMax`. */
  tags?: string[];
  /** The author key's name in the data directory; the current author when absent. */
  author?: string;
}

/** `post`: a message in a thread, or a reply to one of its messages. */
export interface PostRequest {
  /** The thread. */
  thread: NodeId;
  /** The message replied to; the thread itself when absent (a top-level post). */
  replyTo?: NodeId;
  /** The text (1..`bodyBytesMax` bytes of UTF-8). */
  body: string;
  /** The author key's name; the current author when absent. */
  author?: string;
}

/** Which way a vote goes. */
export type VoteDirection = "up" | "down";

/** `vote`: an up or down vote on a thread or a message. */
export interface VoteRequest {
  /** The thread or message voted on. */
  target: NodeId;
  /** Which way. */
  direction: VoteDirection;
  /** The author key's name; the current author when absent. */
  author?: string;
}

/** `profile set`: the fields to change (absent fields keep their published value). */
export interface ProfileRequest {
  /** Display name (0..`profileNameBytesMax` bytes). */
  name?: string;
  /** A few words about the author (0..`profileAboutBytesMax` bytes). */
  about?: string;
  /** Other public keys of the same person (32 bytes each), at most `profileKeysMax`. */
  keys?: Uint8Array[];
  /** The author key's name; the current author when absent. */
  author?: string;
}

/** Which listing `thread list` reads. */
export type ThreadOrder = "recent" | "popular";

/** `thread list`. */
export interface ThreadListRequest {
  /** Newest first, or by activity score. */
  order: ThreadOrder;
  /** Threads per page (1..`threadPageMax`). */
  limit: number;
  /** Where the previous page ended (its `next_cursor`); the first page when absent. */
  cursor?: string;
  /**
   * Popular listing only: `global` (the default) reads the seeds' rankings and falls back to this
   * node's own when there is none; `local` reads this node's own ranking only.
   */
  source?: RankingSource;
  /** Popular listing only: show each thread's score parts. */
  explain?: boolean;
}

/** Which ranking a popular listing reads. */
export type RankingSource = "global" | "local";

/** `thread show`. */
export interface ThreadShowRequest {
  /** The thread. */
  thread: NodeId;
  /** Messages per page (1..`messagePageMax`). */
  limit: number;
  /** Where the previous page ended; the first page when absent. */
  cursor?: string;
}
