/**
 * What the discussion service answers (reports), in the shape the control API sends them: plain
 * JSON, IDs and keys in lower-case hex, times as ISO 8601 strings in UTC, field names in
 * snake_case like the rest of the API. What a caller asks for is typed in requests.ts.
 *
 * @module
 */

/** What a publish did: the record, and the indexes updated at the responsible nodes. */
export interface PublishReport {
  /** The new record's ID (thread, message) or key (vote set, profile). */
  id: string;
  /** What was published. */
  kind: "thread" | "message" | "vote" | "profile" | "record";
  /** Nodes that acknowledged the record itself durably (this node's own copy not counted). */
  stored: number;
  /**
   * Durable copies of the record acknowledged: `stored`, plus this node's own when it is one of
   * the holders (it stores for others and is among the k closest to the key).
   */
  holders: number;
  /** Holders the publish needed (`dht.write_quorum`, fewer in a network that small). */
  quorum: number;
  /** Each index updated, by name (`recent`, `thread_index`, `refs`, …): nodes that acknowledged. */
  indexes: Record<string, number>;
  /** The author's public key, hex (absent for a raw record). */
  author?: string;
}

/** Up and down votes counted. */
export interface VoteCount {
  /** Voters whose current vote is up. */
  up: number;
  /** Voters whose current vote is down. */
  down: number;
}

/** A thread in a listing. */
export interface ThreadSummary {
  /** The thread's ID (the key of its record). */
  id: string;
  /** Its title. */
  title: string;
  /** The author's public key. */
  author: string;
  /** When the author says it was written. */
  created_at: string;
  /** Its tags. */
  tags: string[];
  /** The popularity score (for `--popular`). */
  score?: number;
  /** The score's parts by metric, points each (for `--popular --explain`). */
  explain?: Record<string, number>;
  /** The author's display name, when the author published a profile with one (read in time). */
  author_name?: string;
  /** Its votes (a listing: absent when they could not be read in time). */
  votes?: VoteCount;
  /**
   * Messages posted in it (a listing: those of its first index page; absent when it could not
   * be read in time).
   */
  messages?: number;
  /** `true` when the thread has more messages than `messages` counts (a listing). */
  messages_more?: boolean;
}

/** One page of a listing. */
export interface ThreadList {
  /** The threads, in the order asked for. */
  threads: ThreadSummary[];
  /**
   * The popular listing's ranking: `global` (the seeds' rankings by median rank), `local` (this
   * node's measurements). Absent for the recent listing.
   */
  ranking?: "global" | "local";
  /** Pass as `cursor` for the next page; `null` at the end. */
  next_cursor: string | null;
  /**
   * What could not be read, one per line as "<piece>: <why>": IDs listed but not found, index
   * pieces unreachable or with no answer within the read's time budget, pieces shown from this
   * node's own copy only because the others did not answer in time.
   */
  missing: string[];
}

/** A message and its replies. */
export interface MessageView {
  /** The message's ID. */
  id: string;
  /** The author's public key. */
  author: string;
  /** The author's display name, when the author published a profile with one (read in time). */
  author_name?: string;
  /** When the author says it was written. */
  created_at: string;
  /** The message it replies to; `null` for a top-level post. */
  parent: string | null;
  /** `true` when it replies to a message that could not be read (it is then shown at top level). */
  parent_missing?: boolean;
  /** The text. */
  body: string;
  /** Its votes. */
  votes: VoteCount;
  /** Replies on this page, oldest first. */
  replies: MessageView[];
}

/** A thread as `thread show` assembles it. */
export interface ThreadView {
  /** The thread itself, with its opening post and votes. */
  thread: ThreadSummary & { body: string; votes: VoteCount; messages: number };
  /** This page's messages as a tree: top-level posts (and orphans), oldest first. */
  messages: MessageView[];
  /** Pass as `cursor` for the next page; `null` at the end. */
  next_cursor: string | null;
  /**
   * What could not be read (messages, votes, index pages), one per line as "<piece>: <why>", as
   * in {@link ThreadList.missing}.
   */
  missing: string[];
  /** Lookups the assembly made (bounded by the page size). */
  lookups: number;
}

/** An author's profile. */
export interface ProfileView {
  /** The author's public key. */
  author: string;
  /** Display name. */
  name: string;
  /** About. */
  about: string;
  /** Other public keys of the same person. */
  keys: string[];
  /** When it was last set. */
  updated_at: string;
  /** Its version (higher replaces lower). */
  seq: number;
}

/** An author key in the data directory. */
export interface AuthorReport {
  /** Its name (lower-case letters, digits, `-` and `_`; 1..32). */
  name: string;
  /** Its public key. */
  public_key: string;
  /** Whether publishing commands use it by default. */
  current: boolean;
  /** When it was made. */
  created_at: string;
}
