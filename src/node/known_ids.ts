/**
 * The thread and message IDs this node has published or shown (listed, opened), and the keys of
 * their authors, so a person can name one by a prefix of its hex (`rhizome thread show 3f2a9c`,
 * `rhizome profile show 4c4c4c4c`) as listings print them. Only
 * IDs the node has seen are known: a prefix of an ID it never showed is not found, and a prefix
 * two known IDs share is refused as ambiguous, never taken for one of them. Kept in memory: a
 * restarted node knows the IDs of what it shows from then on.
 *
 * @module
 */

/**
 * IDs remembered; beyond, the least recently seen is forgotten. 20,000 is a thousand listing
 * pages of 20 or a hundred busy threads, about 2 MB of hex strings; an ID forgotten is still
 * accepted in full.
 */
export const knownIdsMax = 20_000;

/** Matches a resolution returns at most: enough to show that a prefix is ambiguous. */
export const idMatchesMax = 8;

/** What an ID names: a thread or message (40 hex digits), or an author's key (64). */
export type KnownIdKind = "thread" | "message" | "author";

/** An ID a prefix matched. */
export interface IdMatch {
  /** The whole ID, lower-case hex (40 digits, 64 for an author's key). */
  id: string;
  /** What it names. */
  kind: KnownIdKind;
}

/** A bounded memory of IDs, least recently seen forgotten first. */
export class KnownIds {
  readonly #ids = new Map<string, KnownIdKind>();
  readonly #capacity: number;

  /** @param capacity IDs kept at most. */
  constructor(capacity: number = knownIdsMax) {
    this.#capacity = capacity;
  }

  /** IDs held. */
  get size(): number {
    return this.#ids.size;
  }

  /**
   * Remembers an ID as just seen.
   *
   * @param kind What it names.
   * @param id The ID, hex.
   */
  note(kind: KnownIdKind, id: string): void {
    const hex = id.toLowerCase();
    this.#ids.delete(hex);
    this.#ids.set(hex, kind);
    if (this.#ids.size > this.#capacity) {
      this.#ids.delete(this.#ids.keys().next().value!);
    }
  }

  /**
   * The known IDs that start with `prefix`, most recently seen first.
   *
   * @param prefix Hex digits (any case).
   * @returns At most {@link idMatchesMax} matches.
   */
  resolve(prefix: string): IdMatch[] {
    const start = prefix.toLowerCase();
    const matches: IdMatch[] = [];
    for (const [id, kind] of [...this.#ids].reverse()) {
      if (!id.startsWith(start)) continue;
      matches.push({ id, kind });
      if (matches.length >= idMatchesMax) break;
    }
    return matches;
  }
}
