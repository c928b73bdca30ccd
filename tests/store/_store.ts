/**
 * Shared fixtures of the record store tests: a store on a temporary LMDB file with a virtual
 * clock, and records of each kind from fixed keys.
 */

import { join } from "node:path";
import { utf8Encode } from "../../src/core/bytes.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import { resolveConfig } from "../../src/core/config.ts";
import type { RecordClass, RecordClassPolicy } from "../../src/core/config_schema.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import {
  encodeRecord,
  mutableKey,
  recordKey,
  RecordKind,
  setKey,
  type SetPolicy,
  signMutable,
  signSetEntry,
} from "../../src/content/records.ts";
import { RecordStore, type RecordStoreOptions } from "../../src/store/record_store.ts";

/** The virtual clock's start: 2027-01-15. */
export const startMs = 1_800_000_000_000;

/** The default record classes. */
export const defaultClasses: Record<RecordClass, RecordClassPolicy> =
  resolveConfig({}).config.store;

/** Two writers. */
export const alice = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
export const bob = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2));

/** A store under test and its clock. */
export interface StoreFixture {
  store: RecordStore;
  clock: VirtualClock;
  path: string;
  options: RecordStoreOptions;
}

/**
 * Opens a store in `directory` with a virtual clock.
 *
 * @param directory A temporary directory.
 * @param overrides Options to change.
 * @returns The store and its clock.
 */
export function openStore(
  directory: string,
  overrides: Partial<RecordStoreOptions> = {},
): StoreFixture {
  const clock = overrides.clock instanceof VirtualClock
    ? overrides.clock
    : new VirtualClock(startMs);
  const path = join(directory, "records.mdb");
  const options: RecordStoreOptions = {
    path,
    rules: recordRules,
    clock,
    classes: defaultClasses,
    quota: { bytesMax: 1 << 30, recordsMax: 1_000_000 },
    ...overrides,
  };
  return { store: RecordStore.open(options), clock, path, options };
}

/** An immutable record and its key. */
export function immutable(text: string): { key: NodeId; bytes: Uint8Array } {
  const record = { kind: RecordKind.immutable, payload: utf8Encode(text) } as const;
  return { key: recordKey(record), bytes: encodeRecord(record) };
}

/** Alice's mutable record "profile" at `seq`. */
export function mutable(seq: number, text = `v${seq}`): { key: NodeId; bytes: Uint8Array } {
  const name = utf8Encode("profile");
  const record = signMutable(alice, name, seq, utf8Encode(text));
  return { key: mutableKey(alice.publicKey, name), bytes: encodeRecord(record) };
}

/** The policy of the test set "votes". */
export const votesPolicy: SetPolicy = { onePerWriter: true, entriesMax: 3 };

/** The key of the test set "votes". */
export const votesKey: NodeId = setKey(utf8Encode("votes"), votesPolicy);

/** The set "votes" with one entry per given writer/seq/expiry. */
export function votes(
  entries: { writer: typeof alice; seq: number; expiresAtS: number; text: string }[],
  policy: SetPolicy = votesPolicy,
): { key: NodeId; bytes: Uint8Array } {
  const key = setKey(utf8Encode("votes"), policy);
  const signed = entries.map((entry) =>
    signSetEntry(entry.writer, key, entry.seq, entry.expiresAtS, utf8Encode(entry.text))
  );
  const record = { kind: RecordKind.set, name: utf8Encode("votes"), policy, entries: signed };
  return { key, bytes: encodeRecord(record) };
}
