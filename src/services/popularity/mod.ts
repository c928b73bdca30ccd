/**
 * The popularity service (ROADMAP §5.1–§5.2, §6.2): metrics collected at the holders of each
 * record (request rate, audience, network diversity, engagement, view time, replication and seed
 * coverage) in bounded sketches; an age-adaptive weighted score reproducible from the raw
 * counters; the local ranking; the seeds' signed rankings combined by median rank; and the
 * replication policy that gives popular records more replicas and longer lives. Sans-I/O.
 * See `docs/popularity.md`.
 *
 * @module
 */

export {
  decodeRanking,
  encodeRanking,
  type RankedItem,
  RANKING_NAME,
  rankingEntriesMax,
  type RankingRecord,
  signRanking,
} from "../../content/mod.ts";
export {
  cappedSum,
  type CombinedItem,
  combineRankings,
  type HolderReport,
  median,
  mergeReports,
  rankingRecordsMax,
  rankLocally,
  type ReportItem,
  reportOutlierFactor,
} from "./ranking.ts";
export {
  type LifetimeClasses,
  type PopularityPolicyOptions,
  PopularityReplicationPolicy,
  replicasForScore,
} from "./replication.ts";
export {
  explainScore,
  type ScoreExplained,
  type ScoreMetric,
  scoreOf,
  type ScorePart,
} from "./score.ts";
export { type KeyPopularity, PopularityService, type PopularityServiceOptions } from "./service.ts";
export {
  futureSkewS,
  type PopularitySettings,
  popularitySettingsOf,
  retentionHalfLifeS,
  staleAgeS,
  staleFactor,
  staleIdleS,
  viewReportSMax,
} from "./settings.ts";
export {
  addDecaying,
  decayedValue,
  type DecayingCount,
  hllRegistersMax,
  hllRegistersMin,
  HyperLogLog,
  keyedHash32,
} from "./sketches.ts";
export {
  engagementCountMax,
  evictionSample,
  type KeyMetrics,
  PopularityTracker,
  prefixRegisters,
  requesterRegisters,
  type ServedRequest,
  sketchHashSeed,
  trackedKeyBytes,
  trackedKeyBytesMax,
  type TrackerOptions,
  viewReportBits,
} from "./tracker.ts";
