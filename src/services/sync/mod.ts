/**
 * The sync service: range-based set reconciliation (negentropy-style) of two nodes' records,
 * over fingerprints of ranges of (time, ID) items, with every record verified by the store as it
 * arrives. Full sync (an empty node), incremental (a node that was away) and partial (a key
 * range, a time window, categories of data). Without I/O: the node carries the requests over its
 * stream transport. Formats and measured figures: `docs/sync.md`; wire: `docs/protocol.md`,
 * "Sync messages".
 *
 * @module
 */

export {
  overheadPerRecord,
  runSync,
  SYNC_FETCHES_PER_ROUND_MAX,
  SYNC_ID_BYTES_DEFAULT,
  SYNC_ROUNDS_MAX,
  SYNC_STALLED_ROUNDS_MAX,
  type SyncProgress,
  type SyncReport,
  type SyncRunOptions,
} from "./client.ts";
export {
  SYNC_SESSION_IDLE_MS,
  SYNC_SESSIONS_MAX,
  SyncServer,
  type SyncServerOptions,
  type SyncServerStats,
} from "./server.ts";
export { collectItems, matchesFilter, SYNC_ITEMS_MAX } from "./item_source.ts";
export {
  EMPTY_FINGERPRINT,
  ID_BYTES_MAX,
  ID_BYTES_MIN,
  SYNC_BUCKETS,
  SYNC_ID_LIST_ITEMS_MAX,
} from "./reconcile.ts";
export {
  type RecordFacts,
  recordFacts,
  SYNC_CATEGORIES,
  type SyncCategory,
} from "./record_facts.ts";
export {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  isSyncMessage,
  type KeyedRecord,
  SESSION_ID_BYTES,
  SYNC_FRAME_BYTES_MAX,
  SYNC_PROTOCOL_ID,
  SYNC_VERSION,
  type SyncFilter,
  type SyncRequest,
  type SyncResponse,
  SyncType,
} from "./wire.ts";
export {
  type Bound,
  FINGERPRINT_BYTES,
  SYNC_ID_BYTES,
  type SyncItem,
  SyncItemSet,
} from "./items.ts";
