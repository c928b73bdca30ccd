/**
 * The answering side of a sync, without I/O: a node's stream listener hands it each request that
 * starts "RHS" with the proven peer, and sends back what it returns. A session's item set is built
 * once from the store and kept while the client uses it, so later rounds cost only the ranges they
 * touch.
 *
 * @module
 */

import { bytesEqual, toHex } from "../../core/bytes.ts";
import type { Clock } from "../../core/clock.ts";
import { sha256 } from "../../core/crypto.ts";
import { RhizomeError } from "../../core/errors.ts";
import { NodeId } from "../../core/node_id.ts";
import type { ValueStore } from "../../store/value_store.ts";
import { collectItems } from "./item_source.ts";
import type { SyncItem, SyncItemSet } from "./items.ts";
import { decodeRanges, Reconciler } from "./reconcile.ts";
import { ByteReader } from "./varint.ts";
import {
  decodeRequest,
  encodeResponse,
  framedRecordBytes,
  type KeyedRecord,
  SYNC_FRAME_BYTES_MAX,
  type SyncFilter,
  type SyncRequest,
  SyncType,
} from "./wire.ts";

/**
 * Sessions a server keeps at once. Each holds its item set (about 250 bytes a record), so a few
 * cover a seed syncing with several peers; at the limit the one unused longest is dropped (its
 * client's next request rebuilds it).
 */
export const SYNC_SESSIONS_MAX = 4;

/**
 * How long an unused session is kept. A client sends its next request within a round trip; a
 * minute covers a slow path and a store's put taking a while. At the limit: dropped, rebuilt if
 * the client comes back.
 */
export const SYNC_SESSION_IDLE_MS = 60_000;

/**
 * Bytes of records a reconciliation reply pushes at most: half a frame, so the other half can list
 * the IDs of the rest of the range (about 1,000 at 32 bytes), which the client then fetches with
 * up to 8 requests in parallel: a node that was away gets 1,000 records in two rounds of fetches
 * instead of one frame of pushed records per round.
 */
export const SYNC_PUSH_BYTES_MAX = 32 * 1024;

/**
 * Bytes of a response's header and counts (protocol ID, version, type, two varints): kept free
 * under {@link SYNC_FRAME_BYTES_MAX}.
 */
const RESPONSE_HEADER_BYTES = 16;

/** What a server is made with. */
export interface SyncServerOptions {
  /** The records it serves. */
  store: ValueStore;
  /** The only source of time. */
  clock: Clock;
}

/** A server's counts. */
export interface SyncServerStats {
  /** Requests answered (errors included). */
  requests: number;
  /** Requests refused as malformed or over a limit. */
  refused: number;
  /** Item sets built. */
  sessionsBuilt: number;
  /** Records sent. */
  recordsSent: number;
  /** Bytes of responses sent. */
  bytesSent: number;
}

interface Session {
  readonly set: SyncItemSet;
  readonly reconciler: Reconciler;
  readonly signature: string;
  byPrefix?: Map<string, SyncItem[]>;
  lastUsedMs: number;
}

/** Answers sync requests from the records of one store. */
export class SyncServer {
  readonly #options: SyncServerOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #stats: SyncServerStats = {
    requests: 0,
    refused: 0,
    sessionsBuilt: 0,
    recordsSent: 0,
    bytesSent: 0,
  };

  /**
   * A server over a store.
   *
   * @param options The store and the clock.
   */
  constructor(options: SyncServerOptions) {
    this.#options = options;
  }

  /**
   * Answers one request.
   *
   * @param peer Who sent it (the transport's proven node ID, in hex): sessions are per peer.
   * @param bytes The request.
   * @returns The response: a reconciliation step, records, or an error with a reason.
   */
  answer(peer: string, bytes: Uint8Array): Uint8Array {
    this.#stats.requests++;
    const request = decodeRequest(bytes);
    let response: Uint8Array;
    if (typeof request === "string") {
      this.#stats.refused++;
      response = encodeResponse({ type: SyncType.error, reason: request });
    } else {
      try {
        response = request.type === SyncType.reconcile
          ? this.#reconcile(this.#session(peer, request), request)
          : this.#fetch(this.#session(peer, request), request);
      } catch (error) {
        if (!(error instanceof RhizomeError)) throw error;
        this.#stats.refused++;
        response = encodeResponse({ type: SyncType.error, reason: error.message });
      }
    }
    this.#stats.bytesSent += response.length;
    return response;
  }

  /**
   * Counts since start.
   *
   * @returns A copy.
   */
  stats(): SyncServerStats {
    return { ...this.#stats };
  }

  #session(peer: string, request: SyncRequest): Session {
    const nowMs = this.#options.clock.nowMs();
    for (const [id, session] of this.#sessions) {
      if (nowMs - session.lastUsedMs > SYNC_SESSION_IDLE_MS) this.#sessions.delete(id);
    }
    const id = `${peer}:${toHex(request.session)}`;
    const signature = filterSignature(request.filter, request.idBytes);
    const found = this.#sessions.get(id);
    if (found && found.signature === signature) {
      found.lastUsedMs = nowMs;
      return found;
    }
    while (this.#sessions.size >= SYNC_SESSIONS_MAX) {
      let oldest: [string, Session] | undefined;
      for (const entry of this.#sessions) {
        if (!oldest || entry[1].lastUsedMs < oldest[1].lastUsedMs) oldest = entry;
      }
      this.#sessions.delete(oldest![0]);
    }
    const set = collectItems(this.#options.store, request.filter, nowMs);
    const session: Session = {
      set,
      reconciler: new Reconciler(set, "server", request.idBytes),
      signature,
      lastUsedMs: nowMs,
    };
    this.#stats.sessionsBuilt++;
    this.#sessions.set(id, session);
    return session;
  }

  #reconcile(session: Session, request: SyncRequest): Uint8Array {
    const idsMax = Math.floor(SYNC_FRAME_BYTES_MAX / request.idBytes);
    const ranges = decodeRanges(request.body, request.idBytes, idsMax);
    if (typeof ranges === "string") {
      this.#stats.refused++;
      return encodeResponse({ type: SyncType.error, reason: ranges });
    }
    const heldBytes = new Map<SyncItem, Uint8Array | undefined>();
    const result = session.reconciler.step(ranges, {
      bytesMax: SYNC_FRAME_BYTES_MAX - RESPONSE_HEADER_BYTES,
      pushBytesMax: SYNC_PUSH_BYTES_MAX,
      pushBytes: (item) => {
        const held = this.#held(item);
        heldBytes.set(item, held);
        return held ? framedRecordBytes(held.length) : 0;
      },
    });
    const records: KeyedRecord[] = [];
    for (const item of result.push) {
      const bytes = heldBytes.get(item);
      if (bytes) records.push({ key: item.key, bytes });
    }
    this.#stats.recordsSent += records.length;
    return encodeResponse({ type: SyncType.reconciled, message: result.message, records });
  }

  #fetch(session: Session, request: SyncRequest): Uint8Array {
    const reader = new ByteReader(request.body);
    const count = reader.varint();
    if (count === undefined || count * request.idBytes !== reader.remaining) {
      this.#stats.refused++;
      return encodeResponse({ type: SyncType.error, reason: "the fetch's ID list is malformed" });
    }
    session.byPrefix ??= indexByPrefix(session.set, request.idBytes);
    const records: KeyedRecord[] = [];
    let bytes = RESPONSE_HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      const prefix = toHex(reader.bytes(request.idBytes)!);
      for (const item of session.byPrefix.get(prefix) ?? []) {
        const held = this.#held(item);
        if (!held) continue;
        const cost = framedRecordBytes(held.length);
        if (bytes + cost > SYNC_FRAME_BYTES_MAX) break;
        bytes += cost;
        records.push({ key: item.key, bytes: held });
      }
      if (bytes >= SYNC_FRAME_BYTES_MAX - framedRecordBytes(0)) break;
    }
    this.#stats.recordsSent += records.length;
    return encodeResponse({ type: SyncType.records, records });
  }

  /** The held bytes of an item, if the store still holds that very version. */
  #held(item: SyncItem): Uint8Array | undefined {
    const held = this.#options.store.get(NodeId.fromBytes(item.key));
    if (!held) return undefined;
    const bytes = held.value;
    return bytesEqual(sha256(bytes), item.id) ? bytes : undefined;
  }
}

function indexByPrefix(set: SyncItemSet, idBytes: number): Map<string, SyncItem[]> {
  const map = new Map<string, SyncItem[]>();
  for (let i = 0; i < set.size; i++) {
    const item = set.at(i);
    const prefix = toHex(item.id.subarray(0, idBytes));
    const list = map.get(prefix);
    if (list) list.push(item);
    else map.set(prefix, [item]);
  }
  return map;
}

function filterSignature(filter: SyncFilter, idBytes: number): string {
  return JSON.stringify([
    idBytes,
    filter.keys ? [toHex(filter.keys.low), toHex(filter.keys.high)] : null,
    filter.time ? [filter.time.fromS, filter.time.toS] : null,
    filter.categories ?? null,
  ]);
}
