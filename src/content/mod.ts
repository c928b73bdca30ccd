/**
 * Content: the record kinds every node verifies (immutable, mutable, set), the discussion
 * documents carried in them and the key schema that places them in the DHT.
 *
 * @module
 */

export type { AuthoredDoc, MessageDoc, ThreadDoc } from "./documents.ts";
export {
  type DhtRecord,
  type ImmutableRecord,
  type MutableRecord,
  RecordKind,
  type SetEntry,
  type SetPolicy,
  type SetRecord,
} from "./records.ts";
export {
  decodeRanking,
  encodeRanking,
  type RankedItem,
  RANKING_NAME,
  rankingEntriesMax,
  type RankingRecord,
  signRanking,
} from "./ranking_records.ts";
export {
  decodeReport,
  encodeReport,
  type PopularityReportRecord,
  REPORT_NAME,
  reportAudienceBytes,
  type ReportedItem,
  reportGeoBytes,
  reportItemsMax,
} from "./popularity_reports.ts";
