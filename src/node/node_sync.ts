/**
 * A node's side of the sync service: it answers peers' sync requests that arrive on its stream
 * listener, and runs `rhizome sync` (one sync at a time) against a named contact or, when none is
 * named, the first of its bootstrap contacts and routing-table peers that answers. Requests travel
 * as stream plaintexts (one connection each, authenticated and encrypted like every stream).
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import type { Clock } from "../core/clock.ts";
import { parseContactUri } from "../core/contact_uri.ts";
import type { Ed25519KeyPair } from "../core/crypto.ts";
import { RhizomeError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import type { NodeId } from "../core/node_id.ts";
import { PeerAddress } from "../net/address.ts";
import { StreamClient, streamPlaintextBytesMax } from "../net/stream_transport.ts";
import { resolveHostName } from "../net/host_names.ts";
import type { ValueStore } from "../store/value_store.ts";
import {
  runSync,
  SESSION_ID_BYTES,
  SYNC_FRAME_BYTES_MAX,
  type SyncFilter,
  type SyncProgress,
  type SyncReport,
  SyncServer,
  type SyncServerStats,
} from "../services/sync/mod.ts";
import { assert } from "../core/assert.ts";

/** Peers a sync without `--from` tries, one after another, before it gives up. */
export const syncPeersTriedMax = 3;

/**
 * Time one sync request may take, from connecting to the whole response: a 64 KiB response, a
 * server building its item set for a large store (about 1 s per 100,000 records) and a slow path.
 * At the limit: the sync fails with `UNAVAILABLE` (records stored so far stay).
 */
export const syncRequestTimeoutMs = 30_000;

assert(SYNC_FRAME_BYTES_MAX === streamPlaintextBytesMax, "a sync frame is one stream plaintext");

/** What `rhizome sync` asks for. */
export interface SyncCommand {
  /** The peer's contact URI; the node's peers in turn when absent. */
  from?: string;
  /** What to sync; everything when absent. */
  filter?: SyncFilter;
  /** Bytes of each ID in ID lists (8..32). */
  idBytes?: number;
}

/** A finished sync, for `rhizome sync`. */
export interface SyncOutcome extends SyncReport {
  /** The peer synced from, `host:port`. */
  peer: string;
  /** Its node ID in hex. */
  peerNodeId: string;
  /** How long it took. */
  durationMs: number;
}

/** The sync now running, for `GET /v1/sync`. */
export interface SyncState {
  /** Whether a sync runs. */
  running: boolean;
  /** The peer it runs against. */
  peer?: string;
  /** Its progress so far. */
  progress?: SyncProgress;
}

/** The node's sync: server and client. */
export class NodeSync {
  readonly #server: SyncServer;
  readonly #options: { store: ValueStore; clock: Clock; keyPair: Ed25519KeyPair; log: Log };
  #running: SyncState = { running: false };

  /**
   * The sync of a node.
   *
   * @param options Its store, clock, identity and log.
   */
  constructor(options: { store: ValueStore; clock: Clock; keyPair: Ed25519KeyPair; log: Log }) {
    this.#options = options;
    this.#server = new SyncServer({ store: options.store, clock: options.clock });
  }

  /**
   * Answers a peer's sync request.
   *
   * @param peer The peer the stream proved.
   * @param request The request's bytes.
   * @returns The response.
   */
  answer(peer: NodeId, request: Uint8Array): Uint8Array {
    return this.#server.answer(peer.toHex(), request);
  }

  /**
   * The server's counts.
   *
   * @returns A copy.
   */
  serverStats(): SyncServerStats {
    return this.#server.stats();
  }

  /**
   * The sync running now, if any.
   *
   * @returns Its state.
   */
  state(): SyncState {
    return structuredClone(this.#running);
  }

  /**
   * Runs one sync.
   *
   * @param command What and from whom.
   * @param peers The node's peers to try when no contact is named (bootstrap contacts first).
   * @returns What happened.
   * @throws {RhizomeError} `UNAVAILABLE` when another sync runs, or no peer answered; the reason
   *   of the last failure is named.
   */
  async run(
    command: SyncCommand,
    peers: () => { nodeId: NodeId; address: PeerAddress }[],
  ): Promise<SyncOutcome> {
    if (this.#running.running) {
      throw new RhizomeError(
        "UNAVAILABLE",
        `Cannot sync: a sync from ${this.#running.peer} is running; one at a time`,
      );
    }
    this.#running = { running: true, peer: command.from ?? "(choosing a peer)" };
    try {
      const targets = command.from !== undefined
        ? [await resolveContact(command.from)]
        : peers().slice(0, syncPeersTriedMax);
      if (targets.length === 0) {
        throw new RhizomeError("UNAVAILABLE", "Cannot sync: this node knows no peer (use --from)");
      }
      let failure: unknown;
      for (const target of targets) {
        try {
          return await this.#runWith(command, target);
        } catch (error) {
          failure = error;
          this.#options.log.warning("sync from {peer} failed: {error}", {
            peer: target.address.key,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
      throw failure;
    } finally {
      this.#running = { running: false };
    }
  }

  async #runWith(
    command: SyncCommand,
    target: { nodeId: NodeId; address: PeerAddress },
  ): Promise<SyncOutcome> {
    const startedMs = this.#options.clock.nowMs();
    this.#running = { running: true, peer: target.address.key };
    const report = await runSync({
      store: this.#options.store,
      clock: this.#options.clock,
      session: new Uint8Array(randomBytes(SESSION_ID_BYTES)),
      filter: command.filter,
      idBytes: command.idBytes,
      exchange: async (request) =>
        (await StreamClient.request(target.address, target.nodeId, this.#options.keyPair, request, {
          timeoutMs: syncRequestTimeoutMs,
        })).response,
      onProgress: (progress) => {
        this.#running = { running: true, peer: target.address.key, progress };
      },
    });
    return {
      ...report,
      peer: target.address.key,
      peerNodeId: target.nodeId.toHex(),
      durationMs: this.#options.clock.nowMs() - startedMs,
    };
  }
}

/** A contact URI as an address to connect to (a host name resolved once). */
async function resolveContact(uri: string): Promise<{ nodeId: NodeId; address: PeerAddress }> {
  const contact = parseContactUri(uri);
  let host = contact.host;
  if (isIP(host) === 0) {
    const found = await resolveHostName(host, 0).catch(() => [] as string[]);
    if (found.length === 0) {
      throw new RhizomeError("UNAVAILABLE", `Cannot sync: the host name ${host} does not resolve`);
    }
    host = found[0];
  }
  const address = PeerAddress.of(host, contact.port);
  if (!address) throw new RhizomeError("INVALID_INPUT", `Cannot sync: ${host} is not an address`);
  return { nodeId: contact.nodeId, address };
}
