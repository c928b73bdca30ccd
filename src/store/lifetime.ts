/**
 * How long a held record lives: the one lifetime policy, by record class (the config's
 * `[store.<class>]` tables), for the LMDB store and the memory store alike. The DHT has none of
 * its own: it asks a store to write, and to note a read.
 *
 * @module
 */

import type { RecordClass, RecordClassPolicy } from "../core/config_schema.ts";

/**
 * The class of a record being written: the one asked for, else the held record's, else
 * `personal` when this node publishes it, else `normal`.
 *
 * @param requested The class the caller asked for.
 * @param held The held record's class.
 * @param published Whether this node publishes the record.
 * @returns The class.
 */
export function classOfWrite(
  requested: RecordClass | undefined,
  held: RecordClass | undefined,
  published: boolean,
): RecordClass {
  return requested ?? held ?? (published ? "personal" : "normal");
}

/**
 * When a record expires after a write. A write never shortens an expiry. A lifetime asked for by
 * the network (a STORE's, a publish's) is capped at the class's `ttl_s`: a copy lives longer only
 * when read (see {@link expiryAfterRead}) or written again; a restored one (a snapshot import) at
 * `ttl_max_s`, the longest any record of the class lives.
 *
 * @param policy The class's lifetimes.
 * @param nowMs The time.
 * @param ttlMs The lifetime asked for; the class's `ttl_s` when absent.
 * @param cap `"ttl"` for network writes, `"ttl_max"` for restored records.
 * @param heldExpiresAtMs When the held version expires, if one is held.
 * @returns The expiry, in ms since the epoch.
 */
export function expiryAfterWrite(
  policy: RecordClassPolicy,
  nowMs: number,
  ttlMs: number | undefined,
  cap: "ttl" | "ttl_max",
  heldExpiresAtMs = 0,
): number {
  const capMs = (cap === "ttl" ? policy.ttl_s : policy.ttl_max_s) * 1000;
  return Math.max(heldExpiresAtMs, nowMs + Math.min(ttlMs ?? policy.ttl_s * 1000, capMs));
}

/**
 * When a record expires after a read: pushed out by the class's `extension_s`, never past
 * `ttl_max_s` after it was first stored, never earlier than before.
 *
 * @param policy The class's lifetimes.
 * @param nowMs The time of the read.
 * @param storedAtMs When the record was first stored here.
 * @param expiresAtMs When it expires now.
 * @returns The new expiry.
 */
export function expiryAfterRead(
  policy: RecordClassPolicy,
  nowMs: number,
  storedAtMs: number,
  expiresAtMs: number,
): number {
  const capMs = storedAtMs + policy.ttl_max_s * 1000;
  return Math.max(expiresAtMs, Math.min(nowMs + policy.extension_s * 1000, capMs));
}
