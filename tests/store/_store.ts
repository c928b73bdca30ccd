/**
 * Shared fixtures of the record store tests: a store on a temporary LMDB file with a virtual
 * clock, and records of each kind from fixed keys, all valid under Rhizome's content schema (the
 * store's rules check it): raw immutable records, profiles, and index sets of the key schema.
 */

import { join } from "node:path";
import { utf8Encode } from "../../src/core/bytes.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import { resolveConfig } from "../../src/core/config.ts";
import type { RecordClass, RecordClassPolicy } from "../../src/core/config_schema.ts";
import { type Ed25519KeyPair, ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { profileKey, signProfile } from "../../src/content/documents.ts";
import {
  type EntryValues,
  type IndexKind,
  type SetAddress,
  signedEntrySet,
  votesIndex,
} from "../../src/content/key_schema.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import {
  compareSetEntries,
  encodeRecord,
  recordKey,
  RecordKind,
  type SetRecord,
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

/**
 * Alice's profile (her mutable record "profile") at `seq`, with `about` as its about text and an
 * update time of `seq` ms, so the same arguments give the same bytes and no clock a test uses
 * (a virtual one or the wall clock) finds it ahead (`profileAheadMsMax`).
 */
export function mutable(seq: number, about = `v${seq}`): { key: NodeId; bytes: Uint8Array } {
  const record = signProfile(alice, seq, {
    name: "alice",
    about,
    keys: [],
    updatedMs: seq,
  });
  return { key: profileKey(alice.publicKey), bytes: encodeRecord(record) };
}

/** The thread or message the test votes are cast on. */
export const votedOn: NodeId = immutable("the voted-on thread").key;

/** The index of the votes on {@link votedOn}: one entry per writer, at most 512. */
export const votesAddress: SetAddress<"votes"> = votesIndex(votedOn);

/** The key of {@link votesAddress}. */
export const votesKey: NodeId = votesAddress.key;

/** A vote in a test set: its writer, sequence, expiry and direction. */
export interface TestVote {
  writer: Ed25519KeyPair;
  seq: number;
  expiresAtS: number;
  direction: 1 | -1;
}

/** The votes set on {@link votedOn} with one entry per given vote. */
export function votes(entries: TestVote[]): { key: NodeId; bytes: Uint8Array } {
  const signed = entries.map(({ writer, seq, expiresAtS, direction }) => ({
    writer,
    seq,
    expiresAtS,
    value: { direction },
  }));
  return { key: votesKey, bytes: encodeRecord(indexSet(votesAddress, signed)) };
}

/** One entry of an index set: who writes it, its sequence and expiry, and its value. */
export interface TestEntry<K extends IndexKind> {
  writer: Ed25519KeyPair;
  seq: number;
  expiresAtS: number;
  value: EntryValues[K];
}

/**
 * A set of an index of the key schema holding one signed entry per given entry, in the given
 * order: what several writers' {@link signedEntrySet}s merge into.
 */
export function indexSet<K extends IndexKind>(
  address: SetAddress<K>,
  entries: TestEntry<K>[],
): SetRecord {
  const signed = entries.map(({ writer, seq, expiresAtS, value }) =>
    signedEntrySet(writer, address, seq, expiresAtS, value).entries[0]
  );
  signed.sort(compareSetEntries);
  return { kind: RecordKind.set, name: address.name, policy: address.policy, entries: signed };
}
