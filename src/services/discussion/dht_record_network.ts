/**
 * The discussion service's view of the network, on a DHT node: records published under their
 * keys (durable here first, then at the k closest) and fetched verified, versioned records
 * reconciled across every holder. Sans-I/O: the node and the simulator each drive it, with their
 * own DHT driver and deadline timer.
 *
 * @module
 */

import type { Clock } from "../../core/clock.ts";
import { type Acknowledgements, ReplicationError, RhizomeError } from "../../core/errors.ts";
import type { Log } from "../../core/log.ts";
import type { NodeId } from "../../core/node_id.ts";
import {
  decodeStoredRecord,
  type DhtRecord,
  encodeRecord,
  recordKey,
  RecordKind,
} from "../../content/records.ts";
import type { DhtNode } from "../../dht/node.ts";
import type { PutResult, UpdatePut } from "../../dht/types.ts";
import type { PublishResult, RecordNetwork, TimedFetch, UpdateRead } from "./record_network.ts";
import type { ValueStore } from "../../store/value_store.ts";

/**
 * What a put's acknowledgements mean for its caller: success only when it is durable on this node
 * (unless the node is a DHT client, which keeps no copy others can read) and `holders` reached
 * the write quorum; otherwise the error that says which promise was not kept.
 *
 * @param result The DHT's put result.
 * @returns The acknowledgements, when the put is acknowledged.
 * @throws {RhizomeError} This node's store refusal, with the counts added to its message:
 *   `STORE_FULL` (no room, disk full or failing), `RECORD_STALE`, `RECORD_INVALID`,
 *   `STORE_UNUSABLE` (the store closed: the node is stopping).
 * @throws {ReplicationError} `NOT_REPLICATED` when it is durable here but fewer holders than the
 *   quorum acknowledged it; `NOT_STORED` when it is durable nowhere that counts.
 */
export function acknowledgedPut(result: PutResult): Acknowledgements {
  const { key, stored, holders, quorum, storesHere, localError } = result;
  const acknowledgements = { stored, holders, quorum };
  if (result.ok) return acknowledgements;
  const hex = key.toHex();
  const counts = `${holders} of the ${quorum} holders needed acknowledged it (dht.write_quorum)`;
  // A record this node's store refused as invalid went to nobody: that is the answer, client or not.
  const invalid = localError instanceof RhizomeError && localError.code === "RECORD_INVALID";
  if ((storesHere || invalid) && localError instanceof RhizomeError) {
    const others = `${stored} other node${stored === 1 ? "" : "s"} acknowledged it`;
    return fail(
      new RhizomeError(localError.code, `${localError.message}; ${others}`, { cause: localError }),
    );
  }
  if (storesHere && localError === undefined) {
    return fail(
      new ReplicationError(
        "NOT_REPLICATED",
        `Cannot replicate ${hex}: it is stored on this node, but only ${counts}; the node ` +
          "keeps it and publishes it again",
        acknowledgements,
      ),
    );
  }
  const why = storesHere
    ? `this node could not keep it (${localError?.message ?? "unknown error"})`
    : "this node is a DHT client and keeps no copy others can read";
  return fail(
    new ReplicationError(
      "NOT_STORED",
      `Cannot store ${hex}: ${why}, and ${counts}`,
      acknowledgements,
      {
        cause: localError,
      },
    ),
  );
}

function fail(error: RhizomeError): never {
  throw error;
}

/**
 * Immutable records kept in memory after a fetch or publish. They never change, so a copy is
 * always right; posting into a thread reads the thread (and the parent) each time, and without
 * this every post would start with a lookup for a record the node already verified. 4,096 records
 * of at most 16 KiB of text each stay well under 100 MB; beyond it, the least recently used goes.
 */
export const immutableCacheMax = 4096;

/**
 * Publishes in flight at once. Each is a lookup (α requests) then a STORE at each of the k closest
 * nodes, about 23 requests at its peak; eight stay within a full node's 64 requests in flight
 * plus its queue of 256, so every publish gets all its STOREs out. Beyond it, publishes wait their
 * turn (a new thread's six records queue behind another thread's) instead of failing in the RPC
 * layer.
 */
export const publishesInFlightMax = 8;

/**
 * Publishes waiting for a slot. The control API admits 16 requests at once and a new thread
 * publishes six records (a post two), so 256 is never reached by the API alone; past it a publish fails at once with
 * `UNAVAILABLE` rather than queueing without bound.
 */
export const publishesQueuedMax = 256;

/**
 * The shortest interval between two warnings about reads that ran out of time: one line per
 * minute says how many did and why, however many listings a busy or cut-off node serves.
 */
export const lateReadWarningIntervalMs = 60_000;

/**
 * What lets a read with a deadline answer from this node's own copy: the record store and the
 * clock its expiry times are read against, and the log that says when reads keep running late.
 */
export interface HeldRecords {
  /** The node's store (only `get` is used). */
  store: Pick<ValueStore, "get">;
  /** The node's clock. */
  clock: Clock;
  /** Where late reads are reported (rate-limited, see {@link lateReadWarningIntervalMs}). */
  log?: Log;
}

/**
 * Starts a one-shot timer: `fire` runs once, `delayMs` from now on the driver's clock, unless the
 * returned function cancels it first. The node passes wall-clock timers, the simulator virtual
 * ones.
 */
export type StartTimer = (delayMs: number, fire: () => void) => () => void;

/** What a {@link DhtRecordNetwork} is built from. */
export interface DhtRecordNetworkOptions {
  /** The node's DHT (its value rules verify Rhizome's records). */
  dht: Pick<DhtNode, "putAt" | "get" | "getForUpdate">;
  /** Reschedules the DHT's driver after an operation starts. */
  wake: () => void;
  /**
   * How many peers the node knows (its routing table's size): a get that found no value and heard
   * from none of them failed; with none to ask, the key is simply absent.
   */
  peers: () => number;
  /** The deadlines of reads with a time limit ({@link DhtRecordNetwork.fetchWithin}). */
  startTimer: StartTimer;
  /**
   * The node's store and clock, for reads with a deadline to fall back on the copy held here;
   * without them such a read that runs out of time has nothing to show.
   */
  held?: HeldRecords;
}

/** {@link RecordNetwork} on a DHT node. */
export class DhtRecordNetwork implements RecordNetwork {
  readonly #dht: Pick<DhtNode, "putAt" | "get" | "getForUpdate">;
  readonly #wake: () => void;
  readonly #peers: () => number;
  readonly #startTimer: StartTimer;
  /** Least recently used first (a Map keeps insertion order). */
  readonly #immutables = new Map<string, DhtRecord>();
  #publishing = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #held: HeldRecords | undefined;
  /** Reads that ran out of time since the last warning, and when that was. */
  #lateReads = 0;
  #lateWarnedMs = -Infinity;

  /**
   * Wraps a DHT node.
   *
   * @param options The DHT, its driver's wake-up, its peer count, the timer and the held copies.
   */
  constructor(options: DhtRecordNetworkOptions) {
    this.#dht = options.dht;
    this.#wake = options.wake;
    this.#peers = options.peers;
    this.#startTimer = options.startTimer;
    this.#held = options.held;
  }

  /**
   * Publishes a record: this node's copy is durable, then the k closest nodes are asked to store it.
   *
   * @param record The record (already signed).
   * @returns Its key and its acknowledgements, once the write quorum is reached.
   * @throws {RhizomeError} `RECORD_INVALID` when it does not verify; `UNAVAILABLE` when too many
   *   publishes wait; otherwise as {@link acknowledgedPut}.
   */
  publish(record: DhtRecord): Promise<PublishResult> {
    return this.#publishWith(record, (key, bytes, done) => this.#dht.putAt(key, bytes, done));
  }

  /**
   * Reads a key for update: the read's lookup reaches the k closest, and the publish it returns
   * stores there with the write tokens the read collected, without a lookup of its own.
   *
   * @param key The key.
   * @returns The current record and the publish to call next.
   * @throws {RhizomeError} `UNAVAILABLE` as {@link fetch}.
   */
  fetchForUpdate(key: NodeId): Promise<UpdateRead> {
    // Counted before the lookup: contacts that time out during it may leave the table.
    const peersKnown = this.#peers();
    return new Promise((resolve, reject) => {
      this.#dht.getForUpdate(key, (result, put: UpdatePut) => {
        const record = result.value ? decodeStoredRecord(result.value) : undefined;
        if (record === undefined && peersKnown > 0 && result.closest.length === 0) {
          return reject(
            new RhizomeError("UNAVAILABLE", `Cannot read ${key.toHex()}: no node answered`),
          );
        }
        const publish = (next: DhtRecord) => {
          if (!recordKey(next).equals(key)) {
            return Promise.reject(
              new RhizomeError(
                "RECORD_INVALID",
                `Cannot publish the update of ${key.toHex()}: the record belongs under another key`,
              ),
            );
          }
          return this.#publishWith(next, (_key, bytes, done) => put(bytes, done));
        };
        resolve({ record, publish });
      });
      this.#wake();
    });
  }

  /** Publishes through `putAt` in one of the {@link publishesInFlightMax} slots. */
  async #publishWith(
    record: DhtRecord,
    putAt: (key: NodeId, bytes: Uint8Array, done: (result: PutResult) => void) => void,
  ): Promise<PublishResult> {
    const key = recordKey(record);
    const bytes = encodeRecord(record);
    await this.#slot(key);
    try {
      return await this.#put(key, record, bytes, putAt);
    } finally {
      // The slot passes straight to the next waiter, so none can be taken in between.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#publishing--;
    }
  }

  /** Waits for one of the {@link publishesInFlightMax} slots. */
  async #slot(key: NodeId): Promise<void> {
    if (this.#publishing >= publishesInFlightMax) {
      if (this.#waiting.length >= publishesQueuedMax) {
        throw new RhizomeError(
          "UNAVAILABLE",
          `Cannot publish ${key.toHex()}: ${publishesQueuedMax} publishes are already waiting`,
        );
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
      return;
    }
    this.#publishing++;
  }

  #put(
    key: NodeId,
    record: DhtRecord,
    bytes: Uint8Array,
    putAt: (key: NodeId, bytes: Uint8Array, done: (result: PutResult) => void) => void,
  ): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve, reject) => {
      try {
        putAt(key, bytes, (result) => {
          try {
            resolve({ key, ...acknowledgedPut(result) });
          } catch (error) {
            reject(error);
          }
        });
      } catch (error) {
        // putAt throws only for a value too large to send: say so in the record's terms.
        const reason = error instanceof Error ? error.message : String(error);
        return reject(new RhizomeError("RECORD_INVALID", reason));
      }
      this.#wake();
    }).then((published) => {
      this.#remember(key, record);
      return published;
    });
  }

  /**
   * Finds a record: the first verified copy of an immutable one; every holder's version of a
   * signed record or set, reconciled.
   *
   * @param key The key.
   * @returns The record, or `undefined` when the nodes asked answered without it (or this node
   *   knows no peer and holds none).
   * @throws {RhizomeError} `UNAVAILABLE` ("Cannot read <key>: no node answered") when no value
   *   was found and none of the peers this node knew when it started answered: that is no
   *   answer, not an absent record.
   */
  fetch(key: NodeId): Promise<DhtRecord | undefined> {
    const hex = key.toHex();
    const cached = this.#immutables.get(hex);
    if (cached) {
      this.#immutables.delete(hex);
      this.#immutables.set(hex, cached);
      return Promise.resolve(cached);
    }
    // Counted before the lookup: contacts that time out during it may leave the table.
    const peersKnown = this.#peers();
    return new Promise((resolve, reject) => {
      this.#dht.get(key, (result) => {
        // The DHT checked it by its store's record rules (key, signatures, content rules).
        const record = result.value ? decodeStoredRecord(result.value) : undefined;
        if (record) {
          this.#remember(key, record);
          return resolve(record);
        }
        if (peersKnown > 0 && result.closest.length === 0) {
          return reject(new RhizomeError("UNAVAILABLE", `Cannot read ${hex}: no node answered`));
        }
        resolve(undefined);
      });
      this.#wake();
    });
  }

  /**
   * Finds a record within `waitMsMax`: the lookup's answer when it comes in time, else this
   * node's own copy (complete only when immutable). A lookup that ends late is not cancelled
   * (the DHT bounds it by its own timeout); its answer is dropped, except that an immutable
   * record is remembered.
   *
   * @param key The key.
   * @param waitMsMax The longest the answer may take; at 0 no lookup starts.
   * @returns The record and whether the lookup finished in time.
   * @throws {RhizomeError} `UNAVAILABLE` when the lookup finished in time and nobody answered.
   */
  fetchWithin(key: NodeId, waitMsMax: number): Promise<TimedFetch> {
    const cached = this.#immutables.get(key.toHex());
    if (cached) return Promise.resolve({ record: cached, complete: true });
    if (!(waitMsMax > 0)) return Promise.resolve(this.#heldAnswer(key));
    return new Promise<TimedFetch>((resolve, reject) => {
      let settled = false;
      const cancel = this.#startTimer(waitMsMax, () => {
        settled = true;
        this.#noteLate(key);
        // Nothing may escape a timer: a failure here is the read's, not the process's.
        try {
          resolve(this.#heldAnswer(key));
        } catch (error) {
          reject(error);
        }
      });
      this.fetch(key).then(
        (record) => {
          if (settled) return;
          cancel();
          resolve({ record, complete: true });
        },
        (error) => {
          if (settled) return;
          cancel();
          reject(error);
        },
      );
    });
  }

  /** This node's own live copy of `key`, as the answer to a read that ran out of time. */
  #heldAnswer(key: NodeId): TimedFetch {
    const nothing = { record: undefined, complete: false };
    if (this.#held === undefined) return nothing;
    try {
      const held = this.#held.store.get(key);
      if (held === undefined || held.expiresAtMs <= this.#held.clock.nowMs()) return nothing;
      const record = decodeStoredRecord(held.value);
      return { record, complete: record.kind === RecordKind.immutable };
    } catch (error) {
      // A copy that cannot be read (store failing, record damaged) is no copy: still incomplete.
      if (error instanceof RhizomeError) return nothing;
      throw error;
    }
  }

  /** Counts a late read; warns at most once per {@link lateReadWarningIntervalMs}. */
  #noteLate(key: NodeId): void {
    this.#lateReads++;
    const log = this.#held?.log;
    const nowMs = this.#held?.clock.nowMs() ?? 0;
    if (log === undefined || nowMs - this.#lateWarnedMs < lateReadWarningIntervalMs) return;
    log.warning(
      "Reads are running late: {count} since the last such warning got no complete answer " +
        "in time (the latest: {key}); the nodes closest to their keys did not all answer, " +
        "usually contacts that left or stopped answering; listings showed this node's copies",
      { count: this.#lateReads, key: key.toHex() },
    );
    this.#lateReads = 0;
    this.#lateWarnedMs = nowMs;
  }

  #remember(key: NodeId, record: DhtRecord): void {
    if (record.kind !== RecordKind.immutable) return;
    this.#immutables.set(key.toHex(), record);
    if (this.#immutables.size > immutableCacheMax) {
      this.#immutables.delete(this.#immutables.keys().next().value!);
    }
  }
}
