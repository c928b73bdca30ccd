/**
 * Fake control API handlers for the discussion and snapshot routes: they record every call and
 * answer with canned reports, so API, client and CLI tests can check what reached the node (and
 * that a bad request reached nothing) without a network.
 */

import { join } from "node:path";
import { toHex } from "../../src/core/bytes.ts";
import { ContentError } from "../../src/core/errors.ts";
import { NodeId } from "../../src/core/node_id.ts";
import type {
  ProfileView,
  PublishReport,
  ThreadList,
  ThreadView,
} from "../../src/services/discussion/reports.ts";
import type {
  NewThreadRequest,
  PostRequest,
  ProfileRequest,
  ThreadListRequest,
  ThreadShowRequest,
  VoteRequest,
} from "../../src/services/discussion/requests.ts";
import { importReport, type ImportSummary } from "../../src/node/snapshot_import.ts";
import { explainScore, type KeyPopularity } from "../../src/services/popularity/mod.ts";
import { popularitySettings } from "../services/popularity/_settings.ts";
import type { SearchApiRequest } from "../../src/api/search_wire.ts";
import type { ReindexReport, SearchPage } from "../../src/services/search/mod.ts";
import type { SyncCommand, SyncOutcome, SyncState } from "../../src/node/node_sync.ts";
import {
  CONTROL_API_FILES,
  ControlApi,
  type ControlApiLimits,
  type ControlHandlers,
  type ImportReport,
  type PeerReport,
  type PutReport,
  type StatusReport,
} from "../../src/api/control_api.ts";
import { ControlClient } from "../../src/api/control_client.ts";
import type { IdMatch } from "../../src/node/known_ids.ts";
import { withTempDir } from "../_rhizome.ts";
import type { NodeMetrics } from "../../src/node/metrics_snapshot.ts";
import { sampleMetrics } from "./_metrics_fixture.ts";

/** A thread the fake knows. */
export const threadId = "1f".repeat(20);
/** A message of that thread. */
export const messageId = "2e".repeat(20);
/** A reply to that message. */
export const replyId = "3d".repeat(20);
/** An author with a profile. */
export const authorKey = "4c".repeat(32);
/** A cursor the fake hands out. */
export const nextCursor = "Y3Vyc29yLTE";

/** A publish report of `kind`. */
export function publishReport(kind: PublishReport["kind"], id = threadId): PublishReport {
  return {
    id,
    kind,
    stored: 3,
    holders: 4,
    quorum: 2,
    indexes: { recent: 2, author_threads: 1 },
    author: authorKey,
  };
}

/** The listing the fake answers. */
export const threadList: ThreadList = {
  threads: [{
    id: threadId,
    title: "Hello\u001b[2J world",
    author: authorKey,
    created_at: "2027-01-15T12:00:00.000Z",
    tags: ["intro"],
  }],
  next_cursor: nextCursor,
  missing: ["thread 5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b (not found)"],
};

/** The thread view the fake answers. */
export const threadView: ThreadView = {
  thread: {
    ...threadList.threads[0],
    body: "Opening post\nsecond line",
    votes: { up: 3, down: 1 },
    messages: 2,
  },
  messages: [{
    id: messageId,
    author: authorKey,
    created_at: "2027-01-15T12:01:00.000Z",
    parent: null,
    body: "First reply",
    votes: { up: 1, down: 0 },
    replies: [{
      id: replyId,
      author: authorKey,
      created_at: "2027-01-15T12:02:00.000Z",
      parent: messageId,
      body: "A reply to it",
      votes: { up: 0, down: 2 },
      replies: [],
    }],
  }],
  next_cursor: null,
  missing: ["votes of 2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e (unreachable)"],
  lookups: 5,
};

/** The profile the fake answers for {@link authorKey}. */
export const profileView: ProfileView = {
  author: authorKey,
  name: "Alice",
  about: "Gardener",
  keys: [],
  updated_at: "2027-01-15T12:00:00.000Z",
  seq: 7,
};

/** What the fake's import answers for `path`, as the node's handler does. */
export function importSummaryFor(path: string): ImportSummary {
  return {
    path,
    nodeId: "ab".repeat(20),
    records: 52,
    imported: 50,
    unchanged: 1,
    expired: 1,
    keptNewer: 0,
    refusedFull: 0,
  };
}

/** The import report the API answers for `path`. */
export function importReportFor(path: string): ImportReport {
  return importReport(importSummaryFor(path));
}

/** One call that reached the fake: the handler's name and its arguments. */
export type FakeCall = [string, ...unknown[]];

/** Handlers for every route; the discussion ones record their calls. */
export class FakeHandlers implements ControlHandlers {
  /** Every call, in order. */
  readonly received: FakeCall[] = [];
  /** Thrown by the next discussion calls, when set. */
  error?: unknown;
  /** What `get` finds, by key in hex. */
  readonly stored: Map<string, Uint8Array> = new Map();

  status(): Promise<StatusReport> {
    return this.#answer(["status"], {
      node_id: "ab".repeat(20),
      contact: "rhz://example@127.0.0.1:7447",
      node_type: "full",
      uptime_s: 1,
      contacts: 0,
      stored_records: 0,
      version: "0.1.0",
    });
  }
  peers(): Promise<PeerReport[]> {
    return this.#answer(["peers"], []);
  }
  put(value: Uint8Array, ttlS?: number): Promise<PutReport> {
    return this.#answer(["put", value, ttlS], {
      key: "00".repeat(20),
      stored: 1,
      holders: 2,
      quorum: 2,
    });
  }
  get(key: NodeId): Promise<Uint8Array | undefined> {
    return this.#answer(["get", key], this.stored.get(key.toHex()));
  }
  stop(reason: string): Promise<void> {
    return this.#answer(["stop", reason], undefined);
  }
  newThread(request: NewThreadRequest): Promise<PublishReport> {
    return this.#answer(["newThread", request], publishReport("thread"));
  }
  listThreads(request: ThreadListRequest): Promise<ThreadList> {
    return this.#answer(["listThreads", request], threadList);
  }
  showThread(request: ThreadShowRequest): Promise<ThreadView> {
    if (!request.thread.equals(NodeId.fromHex(threadId))) {
      return this.#fail(
        ["showThread", request],
        new ContentError(
          "NOT_FOUND",
          `Cannot show thread ${request.thread.toHex()}: it is not found`,
        ),
      );
    }
    return this.#answer(["showThread", request], threadView);
  }
  post(request: PostRequest): Promise<PublishReport> {
    return this.#answer(["post", request], publishReport("message", messageId));
  }
  vote(request: VoteRequest): Promise<PublishReport> {
    return this.#answer(["vote", request], publishReport("vote", "5a".repeat(20)));
  }
  setProfile(request: ProfileRequest): Promise<PublishReport> {
    return this.#answer(["setProfile", request], publishReport("profile", "6b".repeat(20)));
  }
  showProfile(author: Uint8Array): Promise<ProfileView> {
    if (toHex(author) !== authorKey) {
      return this.#fail(
        ["showProfile", author],
        new ContentError(
          "NOT_FOUND",
          `Cannot show the profile of ${toHex(author)}: none published`,
        ),
      );
    }
    return this.#answer(["showProfile", author], profileView);
  }

  popularity(key: NodeId): Promise<KeyPopularity> {
    if (!key.equals(popularKey)) {
      return this.#fail(
        ["popularity", key],
        new ContentError(
          "NOT_FOUND",
          `Cannot show the popularity of ${key.toHex()}: this node has served no reads of it`,
        ),
      );
    }
    return this.#answer(["popularity", key], popularReport);
  }
  publishRecord(key: NodeId, record: Uint8Array): Promise<PublishReport> {
    return this.#answer(["publishRecord", key, record], {
      id: key.toHex(),
      kind: "record",
      stored: 2,
      holders: 3,
      quorum: 2,
      indexes: {},
    });
  }
  resolveIds(prefix: string): Promise<IdMatch[]> {
    const known: IdMatch[] = [
      { id: threadId, kind: "thread" },
      { id: messageId, kind: "message" },
      { id: replyId, kind: "message" },
      ...this.knownIds,
    ];
    return this.#answer(
      ["resolveIds", prefix],
      known.filter((match) => match.id.startsWith(prefix)),
    );
  }
  /** More IDs {@link resolveIds} knows, beside the thread, message and reply. */
  readonly knownIds: IdMatch[] = [];
  sync(command: SyncCommand): Promise<SyncOutcome> {
    return this.#answer(["sync", command], {
      peer: "127.0.0.1:7447",
      peerNodeId: "ab".repeat(20),
      complete: true,
      durationMs: 5,
      rounds: 2,
      requests: 3,
      bytesSent: 100,
      bytesReceived: 2000,
      recordsReceived: 2,
      recordBytesReceived: 1800,
      recordsStored: 2,
      recordsUnchanged: 0,
      recordsRefused: 0,
      peerLacks: 0,
      itemsLocal: 0,
    });
  }

  syncState(): SyncState {
    return { running: false };
  }

  importSnapshot(path: string): Promise<ImportSummary> {
    return this.#answer(["importSnapshot", path], importSummaryFor(path));
  }
  metrics(): Promise<NodeMetrics> {
    return this.#answer(["metrics"], sampleMetrics());
  }
  search(request: SearchApiRequest): Promise<SearchPage> {
    return this.#answer(["search", request], {
      query: request.query,
      source: request.local ? "local" : "network",
      results: [],
      matched: 0,
      as_of: "2026-01-01T00:00:00.000Z",
      next_cursor: null,
      missing: [],
    });
  }
  reindexSearch(): Promise<ReindexReport> {
    return this.#answer(["reindexSearch"], { documents: 0, profiles: 0, elapsed_ms: 0 });
  }

  #answer<T>(call: FakeCall, value: T): Promise<T> {
    this.received.push(call);
    if (this.error !== undefined) return Promise.reject(this.error);
    return Promise.resolve(value);
  }

  #fail<T>(call: FakeCall, error: unknown): Promise<T> {
    this.received.push(call);
    return Promise.reject(error);
  }
}

/** A control API serving test handlers from a temporary data dir, with a client for it. */
export interface RunningApi {
  api: ControlApi;
  dataDir: string;
  token: string;
  client: ControlClient;
}

/**
 * Starts a control API on loopback over `handlers`, runs `test`, and closes the API.
 *
 * @param handlers What the routes call.
 * @param test The test, given the running API.
 * @param limits Limits to change.
 */
export async function withControlApi(
  handlers: ControlHandlers,
  test: (running: RunningApi) => Promise<void>,
  limits: Partial<ControlApiLimits> = {},
): Promise<void> {
  await withTempDir(async (dataDir) => {
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers,
      limits,
    });
    try {
      const token = (await Deno.readTextFile(join(dataDir, CONTROL_API_FILES.token))).trim();
      await test({ api, dataDir, token, client: await ControlClient.fromDataDir(dataDir) });
    } finally {
      await api.close();
    }
  });
}

/** The one key {@link FakeHandlers.popularity} knows. */
export const popularKey: NodeId = NodeId.fromHex("c".repeat(40));

const popularMetrics = {
  key: popularKey.toHex(),
  requests_per_h: 120,
  request_rate: 30,
  retention_rate: 400,
  audience_size: 55,
  geo_prefixes: 40,
  replies: 6,
  votes: 9,
  view_time_s: 300,
  replication_count: 20,
  seed_coverage: 1,
  created_ms: 1_700_000_000_000,
  last_activity_ms: 1_700_000_500_000,
  tracked_since_ms: 1_700_000_000_000,
};

/** What {@link FakeHandlers.popularity} answers for {@link popularKey}. */
export const popularReport: KeyPopularity = {
  metrics: popularMetrics,
  explained: explainScore(popularMetrics, popularitySettings(), 1_700_000_600_000),
  replicas_target: 24,
};
