/**
 * The record store of a data dir, opened with Rhizome's record rules and logging to the `store`
 * category: the one way the node, `snapshot import` and `snapshot export` open it.
 *
 * @module
 */

import type { Clock } from "../../core/clock.ts";
import type { RecordClass, RecordClassPolicy } from "../../core/config_schema.ts";
import { getLog } from "../../core/log.ts";
import { recordRules } from "../../content/record_rules.ts";
import { RecordStore } from "../../store/record_store.ts";
import type { DataDir } from "./paths.ts";

/** How {@link openDataDirStore} opens the store. */
export type DataDirStoreOptions =
  & {
    /** The record classes (the config's `[store]` tables). */
    classes: Record<RecordClass, RecordClassPolicy>;
    /** The store's only source of time. */
    clock: Clock;
  }
  & (
    /** Writable, within the node type's budgets. */
    | { quota: { bytesMax: number; recordsMax: number }; readOnly?: false }
    /** Read-only, beside the process that writes (a read-only store never applies a quota). */
    | { readOnly: true }
  );

/**
 * Opens the record store of `dataDir`.
 *
 * @param dataDir The data dir.
 * @param options Classes, clock, and a quota or read-only.
 * @returns The open store; the caller closes it.
 * @throws {StoreError} `STORE_UNUSABLE` when it cannot be opened.
 */
export function openDataDirStore(dataDir: DataDir, options: DataDirStoreOptions): RecordStore {
  return RecordStore.open({
    path: dataDir.recordsPath,
    rules: recordRules,
    clock: options.clock,
    classes: options.classes,
    quota: options.readOnly
      ? { bytesMax: Number.MAX_SAFE_INTEGER, recordsMax: Number.MAX_SAFE_INTEGER }
      : options.quota,
    readOnly: options.readOnly ?? false,
    log: getLog("store"),
  });
}
