/**
 * The search service: full-text search of discussion documents, on this node's index and across
 * the network. The local part keeps an index (any {@link SearchIndex}; SQLite FTS5 on a node) in
 * step with the record store and answers ranked, paged queries; the network part publishes each
 * thread's important terms as postings under term keys and answers queries no local index can
 * ({@link NetworkSearch}). Sans-I/O: the index, the clock and the network are injected. Formats,
 * ranking and limits: docs/search.md.
 *
 * @module
 */

export {
  type IndexedDoc,
  type IndexedFields,
  type IndexMatch,
  type MatchOptions,
  type SearchIndex,
} from "./search_index.ts";
export {
  authorReindexMax,
  excerptCharsMax,
  excerptOf,
  fieldsOf,
  hitOf,
  indexedDocOf,
  LocalSearch,
  type LocalSearchOptions,
  searchCandidatesMax,
  searchPageDefault,
  searchPageMax,
  type SearchRequest,
  searchSnapshotLifetimeMs,
  searchSnapshotsMax,
} from "./local_search.ts";
export {
  ftsExpression,
  parseQuery,
  prefixCharsMin,
  queryCharsMax,
  queryTagsMax,
  type QueryTerm,
  queryTermsMax,
  type SearchQuery,
} from "./query.ts";
export {
  authorHitsFull,
  rank,
  type RankedMatch,
  type RankingWeights,
  type ScoreParts,
} from "./ranking.ts";
export { decodeSearchCursor, encodeSearchCursor, type SearchCursor } from "./search_cursor.ts";
export type * from "./search_report.ts";
export {
  foldText,
  indexableText,
  isSpaceless,
  spacelessPairs,
  termCharsMax,
  termRepeatsMax,
  words,
} from "./text.ts";
export {
  completePostingsEnough,
  networkDocsPerQueryMax,
  networkReadWaitMs,
  NetworkSearch,
  type NetworkSearchOptions,
  networkTerms,
  postingListsPerQueryMax,
  type PostingReport,
} from "./network_search.ts";
export {
  bm25Of,
  docMatches,
  packPostingTerms,
  type PostingTerm,
  postingTerms,
  postingWeightOf,
  type TermStatistics,
} from "./postings.ts";
