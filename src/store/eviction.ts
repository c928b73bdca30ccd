/**
 * Which records go when the store is over its quota. The order (documented in the config file):
 *
 * 1. expired records, the longest expired first;
 * 2. records outside their class's guaranteed retention, the lowest score first, and among equal
 *    scores the one read or written longest ago;
 * 3. never a record inside its retention: if the rest cannot make room, nothing is evicted and
 *    the write is refused.
 *
 * @module
 */

import type { RecordClass } from "../core/config_schema.ts";
import type { RecordMeta } from "./record_meta.ts";

/**
 * How valuable a record is to keep: higher is kept longer. The popularity service will supply one
 * from its ranking; until then {@link classScore} ranks by class.
 */
export type RecordScore = (meta: RecordMeta, nowMs: number) => number;

const classWeight: Record<RecordClass, number> = {
  normal: 0,
  active: 1,
  popular: 2,
  personal: 3,
};

/**
 * The default score: normal < active < popular < personal.
 *
 * @param meta The record's metadata.
 * @returns Its class's weight.
 */
export const classScore: RecordScore = (meta) => classWeight[meta.class];

/** A record that may be evicted. */
export interface EvictionCandidate {
  /** Its key's bytes. */
  readonly key: Uint8Array;
  /** Its metadata. */
  readonly meta: RecordMeta;
}

/** Room in bytes (as the quota counts them) and records. */
export interface Room {
  /** Bytes. */
  bytes: number;
  /** Records. */
  records: number;
}

/** What {@link planEviction} works from. */
export interface EvictionPlanInput {
  /** The records that may go (the record being written is left out by the caller). */
  candidates: readonly EvictionCandidate[];
  /** Room that must be made, or the write is refused. */
  need: Room;
  /** Room worth making while at it (at least `need`), so the next writes need no scan. */
  want: Room;
  /** The time. */
  nowMs: number;
  /** Each class's guaranteed retention, in ms. */
  retentionMs: Record<RecordClass, number>;
  /** The value of a record. */
  score: RecordScore;
  /** What a record counts against the byte quota. */
  quotaBytes: (meta: RecordMeta) => number;
}

/**
 * Picks the records to evict.
 *
 * @param input The candidates, the room needed and the policy.
 * @returns The records to evict, in order, or `undefined` when even all evictable candidates
 *   cannot make the room needed.
 */
export function planEviction(input: EvictionPlanInput): EvictionCandidate[] | undefined {
  const { nowMs, score } = input;
  const expired: EvictionCandidate[] = [];
  const evictable: { candidate: EvictionCandidate; score: number }[] = [];
  for (const candidate of input.candidates) {
    const { meta } = candidate;
    if (meta.expiresAtMs <= nowMs) {
      expired.push(candidate);
    } else if (meta.storedAtMs + input.retentionMs[meta.class] <= nowMs) {
      evictable.push({ candidate, score: score(meta, nowMs) });
    }
  }
  expired.sort((a, b) => a.meta.expiresAtMs - b.meta.expiresAtMs);
  evictable.sort((a, b) =>
    a.score - b.score || a.candidate.meta.activityMs - b.candidate.meta.activityMs
  );
  const order = [...expired, ...evictable.map((entry) => entry.candidate)];
  const victims: EvictionCandidate[] = [];
  const freed: Room = { bytes: 0, records: 0 };
  const enough = (room: Room) => freed.bytes >= room.bytes && freed.records >= room.records;
  for (const candidate of order) {
    if (enough(input.want)) break;
    victims.push(candidate);
    freed.bytes += input.quotaBytes(candidate.meta);
    freed.records++;
  }
  return enough(input.need) ? victims : undefined;
}
