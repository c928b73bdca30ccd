/**
 * The discussion service: publishing threads, messages, votes and profiles signed by author
 * keys, and reading them back as listings, reply trees and profiles, over any
 * {@link RecordNetwork} ({@link DhtRecordNetwork} on a DHT node). Sans-I/O: time comes from an injected clock, records through the
 * network interface.
 *
 * @module
 */

export type { PublishResult, RecordNetwork, TimedFetch, UpdateRead } from "./record_network.ts";
export {
  acknowledgedPut,
  DhtRecordNetwork,
  type DhtRecordNetworkOptions,
  type HeldRecords,
  immutableCacheMax,
  lateReadWarningIntervalMs,
  publishesInFlightMax,
  publishesQueuedMax,
  type StartTimer,
} from "./dht_record_network.ts";
export {
  type Author,
  type AuthorSource,
  Publisher,
  type PublisherOptions,
  refuseBlankBody,
  threadIndexPagesUsedMax,
} from "./publisher.ts";
export {
  hourShardsPerListMax,
  indexPagesPerShowMax,
  listThreadsLookupsMax,
  messagePageDefault,
  messagePageMax,
  readConcurrencyMax,
  Reader,
  type ReaderOptions,
  showThreadLookupsMax,
  threadPageDefault,
  threadPageMax,
} from "./reader.ts";
export type * from "./reports.ts";
export type * from "./requests.ts";
