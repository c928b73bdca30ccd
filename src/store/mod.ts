/**
 * The record store: LMDB-backed, size-checked, expiring and evicting storage of verified
 * records, with the types the services above it are written against.
 *
 * @module
 */

export type {
  ExportedRecord,
  PutOptions,
  PutOutcome,
  QuarantinedRecord,
  RecordCount,
  RecordPut,
  RecordStore,
  RecordStoreSnapshot,
  RecordStoreStats,
  StoredRecord,
} from "./record_store.ts";
export type { StoredValue, StoreObserver, ValueStore, ValueStoreStats } from "./value_store.ts";
export type { MergeResult, RecordRules, VerifiedRecord } from "./record_rules.ts";
export type { ValueWrite, ValueWritten } from "./value_store.ts";
export {
  type MemoryStoreQuota,
  memoryValueOverheadBytes,
  MemoryValueStore,
  type MemoryValueStoreOptions,
} from "./memory_value_store.ts";
