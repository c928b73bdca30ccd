/**
 * Helpers for the search tests: authors, signed threads and messages as the store holds them,
 * and a local search over an in-memory SQLite index.
 *
 * @module
 */

import { VirtualClock } from "../../../src/core/clock.ts";
import { type Ed25519KeyPair, ed25519KeyPairFromSecretKey } from "../../../src/core/crypto.ts";
import type { NodeId } from "../../../src/core/node_id.ts";
import {
  docId,
  docRecord,
  signMessage,
  signProfile,
  signThread,
} from "../../../src/content/documents.ts";
import { encodeRecord, mutableKey } from "../../../src/content/records.ts";
import { LocalSearch, type RankingWeights } from "../../../src/services/search/mod.ts";
import { SqliteSearchIndex } from "../../../src/node/search_index_sqlite.ts";

/** The weights of the default config. */
export const defaultWeights: RankingWeights = {
  relevance: 100,
  freshness: 25,
  popularity: 10,
  freshnessHalfLifeS: 7 * 86400,
};

/** A deterministic author key pair. */
export function author(seed: number): Ed25519KeyPair {
  const secret = new Uint8Array(32);
  new DataView(secret.buffer).setUint32(0, seed + 1);
  return ed25519KeyPairFromSecretKey(secret);
}

/** A signed thread as a stored record. */
export function threadRecord(
  keyPair: Ed25519KeyPair,
  fields: { createdMs: number; title: string; body: string; tags?: string[] },
): { key: NodeId; bytes: Uint8Array } {
  const doc = signThread(keyPair, { tags: [], ...fields });
  return { key: docId(doc), bytes: encodeRecord(docRecord(doc)) };
}

/** A signed message as a stored record. */
export function messageRecord(
  keyPair: Ed25519KeyPair,
  thread: NodeId,
  fields: { createdMs: number; body: string },
): { key: NodeId; bytes: Uint8Array } {
  const doc = signMessage(keyPair, { ...fields, thread, parent: thread });
  return { key: docId(doc), bytes: encodeRecord(docRecord(doc)) };
}

/** A signed profile as a stored record. */
export function profileRecord(
  keyPair: Ed25519KeyPair,
  seq: number,
  name: string,
): { key: NodeId; bytes: Uint8Array } {
  const record = signProfile(keyPair, seq, { name, about: "", keys: [], updatedMs: seq });
  return { key: mutableKey(record.owner, record.name), bytes: encodeRecord(record) };
}

/** A local search over an in-memory index, with a virtual clock and a record map to load from. */
export function searchWorld(startMs = 1_700_000_000_000): {
  search: LocalSearch;
  clock: VirtualClock;
  held: Map<string, Uint8Array>;
  add(record: { key: NodeId; bytes: Uint8Array }): void;
  index: SqliteSearchIndex;
} {
  const clock = new VirtualClock(startMs);
  const { index } = SqliteSearchIndex.open(":memory:");
  const held = new Map<string, Uint8Array>();
  const search = new LocalSearch({
    index,
    clock,
    weights: defaultWeights,
    load: (key) => held.get(key.toHex()),
  });
  return {
    search,
    clock,
    held,
    index,
    add(record) {
      held.set(record.key.toHex(), record.bytes);
      search.noteStored(record.key, record.bytes);
    },
  };
}
