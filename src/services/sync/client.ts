/**
 * The asking side of a sync, without I/O: it reconciles its store's items with a peer's through
 * an injected `exchange` (a request's bytes in, the response's out: the stream transport in a
 * node, a direct call in tests and the benchmark), fetches what it lacks, and stores every record
 * through the store's put, which verifies it (signature, key, content rules) before keeping it.
 * A sync pulls: what this node holds and the peer lacks is counted, not sent (the peer syncs
 * from this node to get it).
 *
 * @module
 */

import { toHex } from "../../core/bytes.ts";
import type { Clock } from "../../core/clock.ts";
import { sha256 } from "../../core/crypto.ts";
import { RhizomeError } from "../../core/errors.ts";
import { NodeId } from "../../core/node_id.ts";
import type { ValueStore } from "../../store/value_store.ts";
import { collectItems, matchesFilter } from "./item_source.ts";
import { decodeRanges, ID_BYTES_MAX, ID_BYTES_MIN, Reconciler } from "./reconcile.ts";
import { ByteWriter } from "./varint.ts";
import {
  decodeResponse,
  encodeRequest,
  framedRecordBytes,
  type KeyedRecord,
  SESSION_ID_BYTES,
  SYNC_FRAME_BYTES_MAX,
  type SyncFilter,
  SyncType,
} from "./wire.ts";

/**
 * Rounds a sync makes at most. A full sync moves about 64 KiB a round, so 200,000 rounds carry
 * about 12 GiB; a store larger than that is synced a key range at a time. At the limit: the
 * sync ends with what it stored and says it stopped early (`complete: false`).
 */
export const SYNC_ROUNDS_MAX = 200_000;

/**
 * Fetch requests a round sends at once beside its reconciliation message: 16 × 64 KiB in flight
 * let 1,000 records of 1 KiB arrive in one round, while one peer is never asked for more than a
 * megabyte at a time (16 of its 128 stream connections).
 */
export const SYNC_FETCHES_PER_ROUND_MAX = 16;

/**
 * Rounds in a row that store nothing new and send the same message before the sync gives up: a
 * peer that keeps answering without converging (buggy or hostile) is not followed forever.
 */
export const SYNC_STALLED_ROUNDS_MAX = 3;

/** Bytes of a request's header with the largest filter. */
const REQUEST_HEADER_BYTES = 3 + 1 + 1 + SESSION_ID_BYTES + 1 + 1 + 40 + 18 + 5;

/** The ID width a client asks for unless told otherwise: whole IDs. */
export const SYNC_ID_BYTES_DEFAULT = 32;

/** Progress of a sync, and its final report. */
export interface SyncProgress {
  /** Rounds so far (a round is one wave of requests sent together). */
  rounds: number;
  /** Requests sent. */
  requests: number;
  /** Bytes of requests sent. */
  bytesSent: number;
  /** Bytes of responses received. */
  bytesReceived: number;
  /** Records received. */
  recordsReceived: number;
  /** Bytes of the records received (their own bytes, without framing). */
  recordBytesReceived: number;
  /** Records the store took (new, or a newer version, or a merged set). */
  recordsStored: number;
  /** Records received that were already held as they are. */
  recordsUnchanged: number;
  /** Records the store refused (invalid, stale, no room) or outside the filter. */
  recordsRefused: number;
  /** Records this node holds and the peer lacks (not sent: a sync pulls). */
  peerLacks: number;
  /** Items this node held for the session when it began. */
  itemsLocal: number;
}

/** The end of a sync. */
export interface SyncReport extends SyncProgress {
  /** Whether the two sets were reconciled to the end (else a limit stopped it). */
  complete: boolean;
}

/** What a sync is run with. */
export interface SyncRunOptions {
  /** The store to fill. */
  store: ValueStore;
  /** The only source of time. */
  clock: Clock;
  /** Sends one request and resolves with the response; rejects when the peer is unreachable. */
  exchange: (request: Uint8Array) => Promise<Uint8Array>;
  /** The session's ID: 8 random bytes. */
  session: Uint8Array;
  /** What to sync; everything when absent. */
  filter?: SyncFilter;
  /** Bytes of each ID in ID lists (8..32). @default {@link SYNC_ID_BYTES_DEFAULT} */
  idBytes?: number;
  /** Called after each round. */
  onProgress?: (progress: Readonly<SyncProgress>) => void;
  /** Fewer rounds than {@link SYNC_ROUNDS_MAX}. */
  roundsMax?: number;
}

/**
 * Syncs a store from a peer.
 *
 * @param options The store, the exchange, the session and what to sync.
 * @returns What happened.
 * @throws {RhizomeError} `INVALID_INPUT` for bad options; `UNAVAILABLE` when the peer refuses,
 *   answers malformed bytes or does not converge, or the exchange fails (what was stored stays).
 */
export async function runSync(options: SyncRunOptions): Promise<SyncReport> {
  const filter = options.filter ?? {};
  const idBytes = options.idBytes ?? SYNC_ID_BYTES_DEFAULT;
  if (!Number.isInteger(idBytes) || idBytes < ID_BYTES_MIN || idBytes > ID_BYTES_MAX) {
    throw new RhizomeError(
      "INVALID_INPUT",
      `Cannot sync: the ID width ${idBytes} is outside 8..32`,
    );
  }
  if (options.session.length !== SESSION_ID_BYTES) {
    throw new RhizomeError("INVALID_INPUT", "Cannot sync: the session ID is not 8 bytes");
  }
  const roundsMax = Math.min(options.roundsMax ?? SYNC_ROUNDS_MAX, SYNC_ROUNDS_MAX);
  const set = collectItems(options.store, filter, options.clock.nowMs());
  const reconciler = new Reconciler(set, "client", idBytes);
  const budget = SYNC_FRAME_BYTES_MAX - REQUEST_HEADER_BYTES;
  const progress: SyncProgress = {
    rounds: 0,
    requests: 0,
    bytesSent: 0,
    bytesReceived: 0,
    recordsReceived: 0,
    recordBytesReceived: 0,
    recordsStored: 0,
    recordsUnchanged: 0,
    recordsRefused: 0,
    peerLacks: 0,
    itemsLocal: set.size,
  };
  const base = { session: options.session, idBytes, filter };
  /** Wanted ID prefixes (hex → bytes) not yet asked for, and those asked for this round. */
  const wanted = new Map<string, Uint8Array>();
  const received = new Set<string>();
  let message = reconciler.initiate(budget);
  let stalled = 0;
  let lastMessage = "";
  let averageRecordBytes = 1024;

  const send = async (request: Uint8Array) => {
    progress.requests++;
    progress.bytesSent += request.length;
    const bytes = await options.exchange(request);
    progress.bytesReceived += bytes.length;
    const response = decodeResponse(bytes);
    if (typeof response === "string") {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot sync: the peer's answer is malformed: ${response}`,
      );
    }
    if (response.type === SyncType.error) {
      throw new RhizomeError("UNAVAILABLE", `Cannot sync: the peer refused: ${response.reason}`);
    }
    return response;
  };

  while ((message.length > 0 || wanted.size > 0) && progress.rounds < roundsMax) {
    progress.rounds++;
    const storedBefore = progress.recordsStored;
    const tasks: Promise<void>[] = [];
    let nextMessage: Uint8Array = new Uint8Array(0);
    if (message.length > 0) {
      const request = encodeRequest({ ...base, type: SyncType.reconcile, body: message });
      tasks.push(
        send(request).then(async (response) => {
          if (response.type !== SyncType.reconciled) {
            throw new RhizomeError("UNAVAILABLE", "Cannot sync: the peer answered out of turn");
          }
          await storeRecords(response.records);
          const ranges = decodeRanges(
            response.message,
            idBytes,
            Math.floor(SYNC_FRAME_BYTES_MAX / idBytes),
          );
          if (typeof ranges === "string") {
            throw new RhizomeError(
              "UNAVAILABLE",
              `Cannot sync: the peer's message is malformed: ${ranges}`,
            );
          }
          const step = reconciler.step(ranges, { bytesMax: budget });
          progress.peerLacks += step.have.length;
          for (const id of step.need) {
            const hex = toHex(id);
            if (!received.has(hex)) wanted.set(hex, id);
          }
          nextMessage = step.message;
        }),
      );
    }
    const perFetch = Math.max(
      1,
      Math.min(
        Math.floor(budget / idBytes) - 4,
        Math.floor(SYNC_FRAME_BYTES_MAX / averageRecordBytes),
      ),
    );
    const asked = [...wanted.entries()].slice(0, perFetch * SYNC_FETCHES_PER_ROUND_MAX);
    for (let start = 0; start < asked.length; start += perFetch) {
      const batch = asked.slice(start, start + perFetch);
      const body = new ByteWriter();
      body.varint(batch.length);
      for (const [, id] of batch) body.push(id);
      const request = encodeRequest({ ...base, type: SyncType.fetch, body: body.finish() });
      tasks.push(
        send(request).then(async (response) => {
          if (response.type !== SyncType.records) {
            throw new RhizomeError("UNAVAILABLE", "Cannot sync: the peer answered out of turn");
          }
          await storeRecords(response.records);
        }),
      );
    }
    await Promise.all(tasks);
    // What was asked and not delivered stays wanted; a peer that no longer holds it stalls below.
    message = nextMessage;
    const signature = `${toHex(sha256(message))}:${wanted.size}`;
    stalled = progress.recordsStored === storedBefore && signature === lastMessage
      ? stalled + 1
      : 0;
    lastMessage = signature;
    if (progress.recordBytesReceived > 0) {
      averageRecordBytes = Math.max(64, progress.recordBytesReceived / progress.recordsReceived);
    }
    options.onProgress?.({ ...progress });
    if (stalled >= SYNC_STALLED_ROUNDS_MAX) {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot sync: the peer stopped making progress after ${progress.rounds} rounds ` +
          `(${wanted.size} records asked for and not sent)`,
      );
    }
  }
  return { ...progress, complete: message.length === 0 && wanted.size === 0 };

  async function storeRecords(records: KeyedRecord[]): Promise<void> {
    const puts: Promise<void>[] = [];
    for (const record of records) {
      progress.recordsReceived++;
      progress.recordBytesReceived += record.bytes.length;
      const id = sha256(record.bytes);
      received.add(toHex(id.subarray(0, idBytes)));
      wanted.delete(toHex(id.subarray(0, idBytes)));
      if (!matchesFilter(record.key, record.bytes, filter)) {
        progress.recordsRefused++;
        continue;
      }
      const held = options.store.get(NodeId.fromBytes(record.key));
      if (
        held && held.value.length === record.bytes.length && toHex(sha256(held.value)) === toHex(id)
      ) {
        progress.recordsUnchanged++;
        continue;
      }
      puts.push(
        put(options.store, record).then((stored) => {
          if (stored) progress.recordsStored++;
          else progress.recordsRefused++;
        }),
      );
    }
    await Promise.all(puts);
  }
}

/** Stores one record through the store's verifying put: `true` when kept. */
function put(store: ValueStore, record: KeyedRecord): Promise<boolean> {
  return new Promise((resolve) => {
    store.put(
      { key: NodeId.fromBytes(record.key), value: record.bytes, published: false },
      (error) => resolve(error === undefined),
    );
  });
}

/**
 * The bytes a sync moved beyond the records themselves, per record: the figure the sync's
 * benchmark checks.
 *
 * @param report A sync's report.
 * @returns Overhead bytes per record received (0 when none).
 */
export function overheadPerRecord(report: SyncProgress): number {
  if (report.recordsReceived === 0) return 0;
  const total = report.bytesSent + report.bytesReceived;
  return (total - report.recordBytesReceived) / report.recordsReceived;
}

/** For docs: a record's framing in a response. */
export const recordFramingBytes: (bytes: number) => number = framedRecordBytes;
