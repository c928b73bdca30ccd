/**
 * The seeds' ranking records (ROADMAP §5.2): a seed's signed list of the most popular items,
 * carried as the payload of a mutable record named `ranking` that the seed owns, so readers find
 * it under `mutableKey(seed, "ranking")` and holders check it like any record. The payload signs
 * itself too (magic, seed key, time, items, Ed25519 signature), so a ranking can travel and be
 * checked apart from the record that carried it.
 *
 * @module
 */

import { bytesEqual, utf8Encode } from "../core/bytes.ts";
import { type Ed25519KeyPair, ed25519Sign, ed25519Verify } from "../core/crypto.ts";
import { NodeId } from "../core/node_id.ts";

/** The name of the mutable record a seed publishes its ranking under. */
export const RANKING_NAME: Uint8Array = utf8Encode("ranking");

/**
 * Entries of a ranking record: the top 200, enough for four pages of the largest `thread list`
 * page and a margin below the top 50 that the done-when figures are measured on; 200 × 28 bytes
 * keeps a record under 6 KB.
 */
export const rankingEntriesMax = 200;

/** One ranked item. */
export interface RankedItem {
  /** The item's key. */
  readonly key: NodeId;
  /** Its score. */
  readonly score: number;
}

/** A seed's signed ranking. */
export interface RankingRecord {
  /** The seed's Ed25519 public key. */
  readonly seed: Uint8Array;
  /** When the ranking was made, ms since the epoch. */
  readonly atMs: number;
  /** The ranked items, highest first, at most {@link rankingEntriesMax}. */
  readonly items: readonly RankedItem[];
  /** The seed's signature over the encoded record without it. */
  readonly signature: Uint8Array;
}

const rankingMagic = new TextEncoder().encode("RHZRANK1");
const rankingItemBytes = 20 + 8;
const rankingHeaderBytes = rankingMagic.length + 32 + 8 + 2;

/**
 * Signs a ranking as a seed: the top {@link rankingEntriesMax} items.
 *
 * @param seed The seed's key pair.
 * @param items The ranking, highest first.
 * @param atMs When it was made.
 * @returns The signed record.
 */
export function signRanking(
  seed: Ed25519KeyPair,
  items: readonly RankedItem[],
  atMs: number,
): RankingRecord {
  const kept = items.slice(0, rankingEntriesMax);
  const body = rankingBody(seed.publicKey, atMs, kept);
  return { seed: seed.publicKey, atMs, items: kept, signature: ed25519Sign(seed, body) };
}

/**
 * The bytes of a ranking record: the signed body, then the 64-byte signature.
 *
 * @param record The record.
 * @returns The bytes.
 */
export function encodeRanking(record: RankingRecord): Uint8Array {
  const body = rankingBody(record.seed, record.atMs, record.items);
  const bytes = new Uint8Array(body.length + 64);
  bytes.set(body);
  bytes.set(record.signature, body.length);
  return bytes;
}

/**
 * Reads and checks a ranking record: the seed's signature must verify, every score be finite,
 * the items be in order and each key listed once. Bad bytes give one line, never a throw.
 *
 * @param bytes The record's bytes.
 * @returns The record, or why it was refused.
 */
export function decodeRanking(bytes: Uint8Array): RankingRecord | string {
  if (bytes.length < rankingHeaderBytes + 64) return "ranking record too short";
  if (!bytesEqual(bytes.subarray(0, rankingMagic.length), rankingMagic)) {
    return "not a ranking record";
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seed = bytes.slice(rankingMagic.length, rankingMagic.length + 32);
  const atMs = view.getFloat64(rankingMagic.length + 32);
  const count = view.getUint16(rankingMagic.length + 40);
  if (count > rankingEntriesMax) {
    return `ranking record has ${count} items, at most ${rankingEntriesMax}`;
  }
  const bodyLength = rankingHeaderBytes + count * rankingItemBytes;
  if (bytes.length !== bodyLength + 64) return "ranking record length does not match its count";
  if (!Number.isFinite(atMs)) return "ranking record time is not a number";
  const items: RankedItem[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const offset = rankingHeaderBytes + i * rankingItemBytes;
    const key = NodeId.fromBytesAt(bytes, offset);
    const score = view.getFloat64(offset + 20);
    if (!Number.isFinite(score) || score < 0) {
      return "ranking record has a score that is not a number";
    }
    if (seen.has(key.toHex())) return "ranking record lists a key twice";
    if (items.length > 0 && items[items.length - 1].score < score) {
      return "ranking record is not in order";
    }
    seen.add(key.toHex());
    items.push({ key, score });
  }
  const signature = bytes.slice(bodyLength);
  if (!ed25519Verify(seed, bytes.subarray(0, bodyLength), signature)) {
    return "ranking record signature does not verify";
  }
  return { seed, atMs, items, signature };
}

function rankingBody(seed: Uint8Array, atMs: number, items: readonly RankedItem[]): Uint8Array {
  const bytes = new Uint8Array(rankingHeaderBytes + items.length * rankingItemBytes);
  const view = new DataView(bytes.buffer);
  bytes.set(rankingMagic);
  bytes.set(seed, rankingMagic.length);
  view.setFloat64(rankingMagic.length + 32, atMs);
  view.setUint16(rankingMagic.length + 40, items.length);
  items.forEach((item, i) => {
    const offset = rankingHeaderBytes + i * rankingItemBytes;
    item.key.writeTo(bytes, offset);
    view.setFloat64(offset + 20, item.score);
  });
  return bytes;
}
