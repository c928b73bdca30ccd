/**
 * A RecordNetwork in memory, for the discussion tests: one map from key to record bytes, checked
 * and reconciled with the same record rules a node's store applies (signatures, content rules at the
 * clock's time, a higher sequence replacing a mutable record, sets merged). Tests can make keys
 * vanish (`lose`) or fail (`cutOff`, or `failReads` for reads only) to exercise missing pieces
 * and failed reads, serve a record no rule checked
 * (`plant`, a peer's forgery that a check might miss), and count what was asked. Reads can be
 * made to stall (`stall`, `stallVersioned`): their lookup never ends, as when a holder is dead,
 * so a read with a deadline answers at its deadline (moving the virtual clock there) with the
 * copy "this node" holds, if the test says it holds one.
 */

import type { VirtualClock } from "../../../src/core/clock.ts";
import { ReplicationError, RhizomeError } from "../../../src/core/errors.ts";
import type { NodeId } from "../../../src/core/node_id.ts";
import { recordRules } from "../../../src/content/record_rules.ts";
import {
  decodeStoredRecord,
  type DhtRecord,
  encodeRecord,
  RecordError,
  recordKey,
  RecordKind,
} from "../../../src/content/records.ts";
import type {
  PublishResult,
  RecordNetwork,
  TimedFetch,
  UpdateRead,
} from "../../../src/services/discussion/record_network.ts";

/** What a test can tune. */
export interface MemoryNetworkOptions {
  /** The remote acknowledgements every publish reports. */
  replicas?: number;
}

/** An in-memory record network. */
export class MemoryRecordNetwork implements RecordNetwork {
  /** Fetches asked so far. */
  fetches = 0;
  /** Fetches in flight now, and the most there were at once. */
  inFlight = 0;
  inFlightMax = 0;
  /** Publishes that stored something. */
  publishes = 0;
  /**
   * Holders a publish needs (this node's copy counts one, each replica one); short of it a
   * publish keeps the record and rejects `NOT_REPLICATED`, as a node's does.
   */
  quorum = 1;
  readonly #records = new Map<string, Uint8Array>();
  readonly #cutOff = new Set<string>();
  readonly #publishesFail = new Set<string>();
  readonly #readsFail = new Set<string>();
  readonly #planted = new Map<string, DhtRecord>();
  /** Stalled keys: whether this node holds its copy. */
  readonly #stalled = new Map<string, { held: boolean }>();
  #versionedStall: { held: boolean } | undefined;
  readonly #clock: VirtualClock;
  readonly #replicas: number;

  constructor(clock: VirtualClock, options: MemoryNetworkOptions = {}) {
    this.#clock = clock;
    this.#replicas = options.replicas ?? 3;
  }

  publish(record: DhtRecord): Promise<PublishResult> {
    const key = recordKey(record);
    if (this.#cutOff.has(key.toHex()) || this.#publishesFail.has(key.toHex())) {
      return Promise.reject(unavailable(key));
    }
    const bytes = encodeRecord(record);
    const held = this.#records.get(key.toHex());
    const nowMs = this.#clock.nowMs();
    let kept = bytes;
    try {
      const verified = recordRules.verify(key, bytes, () => held, nowMs);
      const merged = held === undefined ? undefined : recordRules.merge(held, verified, nowMs);
      if (held !== undefined) kept = merged?.outcome === "replace" ? merged.bytes : held;
    } catch {
      return Promise.reject(new RecordError("Cannot publish record: it does not verify"));
    }
    this.#records.set(key.toHex(), kept);
    this.publishes++;
    const acknowledgements = {
      stored: this.#replicas,
      holders: this.#replicas + 1,
      quorum: this.quorum,
    };
    if (acknowledgements.holders < this.quorum) {
      return Promise.reject(
        new ReplicationError(
          "NOT_REPLICATED",
          `Cannot replicate ${key.toHex()}: it is stored on this node, but only ` +
            `${acknowledgements.holders} of the ${this.quorum} holders needed acknowledged it`,
          acknowledgements,
        ),
      );
    }
    return Promise.resolve({ key, ...acknowledgements });
  }

  async fetchWithin(key: NodeId, waitMsMax: number): Promise<TimedFetch> {
    this.fetches++;
    const startedMs = this.#clock.nowMs();
    this.inFlight++;
    this.inFlightMax = Math.max(this.inFlightMax, this.inFlight);
    try {
      // One turn of the event loop: fetches started together are in flight together.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const stall = this.#stallOf(key);
      if (stall === undefined && waitMsMax > 0) {
        return { record: await this.#read(key), complete: true };
      }
      // The lookup does not end in time: the answer comes at the deadline, from this node's copy.
      this.#clock.advanceTo(Math.max(this.#clock.nowMs(), startedMs + waitMsMax));
      const held = stall === undefined || stall.held ? await this.#read(key) : undefined;
      return { record: held, complete: held?.kind === RecordKind.immutable };
    } finally {
      this.inFlight--;
    }
  }

  fetch(key: NodeId): Promise<DhtRecord | undefined> {
    this.fetches++;
    if (this.#stallOf(key) !== undefined) this.#clock.advanceBy(stalledFetchMs);
    return this.#read(key);
  }

  /** A read for update: {@link fetch}, then a publish that must stay under the key read. */
  async fetchForUpdate(key: NodeId): Promise<UpdateRead> {
    const record = await this.fetch(key);
    const publish = (next: DhtRecord) =>
      recordKey(next).equals(key)
        ? this.publish(next)
        : Promise.reject(new RhizomeError("RECORD_INVALID", "Cannot publish: another key"));
    return { record, publish };
  }

  /** Whether and how a read of `key` stalls. */
  #stallOf(key: NodeId): { held: boolean } | undefined {
    const stalled = this.#stalled.get(key.toHex());
    if (stalled !== undefined) return stalled;
    if (this.#versionedStall === undefined) return undefined;
    const bytes = this.#records.get(key.toHex());
    const versioned = bytes === undefined ||
      decodeStoredRecord(bytes).kind !== RecordKind.immutable;
    return versioned ? this.#versionedStall : undefined;
  }

  #read(key: NodeId): Promise<DhtRecord | undefined> {
    if (this.#cutOff.has(key.toHex()) || this.#readsFail.has(key.toHex())) {
      return Promise.reject(unavailable(key));
    }
    const planted = this.#planted.get(key.toHex());
    if (planted !== undefined) return Promise.resolve(planted);
    const bytes = this.#records.get(key.toHex());
    return Promise.resolve(bytes === undefined ? undefined : decodeStoredRecord(bytes));
  }

  /** Keys held. */
  get size(): number {
    return this.#records.size;
  }

  /** A snapshot of every key and its bytes, to check that nothing changed. */
  snapshot(): Map<string, Uint8Array> {
    return new Map(this.#records);
  }

  /**
   * Forgets a key, as if every holder had gone.
   *
   * @param key The key.
   */
  lose(key: NodeId): void {
    this.#records.delete(key.toHex());
  }

  /**
   * Serves `record` for `key` from now on, as it is: not verified, not merged, not even encoded
   * (so a set need not be canonical). Defensive reading is tested with it.
   *
   * @param key The key.
   * @param record What every fetch of the key returns.
   */
  plant(key: NodeId, record: DhtRecord): void {
    this.#planted.set(key.toHex(), record);
  }

  /**
   * Makes a key unreachable: fetches and publishes of it throw `UNAVAILABLE`.
   *
   * @param key The key.
   */
  cutOff(key: NodeId): void {
    this.#cutOff.add(key.toHex());
  }

  /**
   * Makes publishes of a key fail with `UNAVAILABLE` while reads of it still succeed.
   *
   * @param key The key.
   */
  failPublishes(key: NodeId): void {
    this.#publishesFail.add(key.toHex());
  }

  /**
   * Makes reads of a key fail with `UNAVAILABLE` (no node answered) while publishes of it still
   * succeed, as on a node that keeps what it publishes but hears from nobody.
   *
   * @param key The key.
   */
  failReads(key: NodeId): void {
    this.#readsFail.add(key.toHex());
  }

  /**
   * Makes reads of a key stall: the lookup never ends in time.
   *
   * @param key The key.
   * @param held Whether this node holds its copy (answered at the deadline).
   */
  stall(key: NodeId, held = false): void {
    this.#stalled.set(key.toHex(), { held });
  }

  /**
   * Ends every stall: reads answer at once again.
   */
  unstallAll(): void {
    this.#stalled.clear();
    this.#versionedStall = undefined;
  }

  /**
   * Makes reads of every key not holding an immutable record stall, as when one of the holders
   * every versioned read waits for has died.
   *
   * @param held Whether this node holds copies of them (answered at the deadline).
   */
  stallVersioned(held: boolean): void {
    this.#versionedStall = { held };
  }
}

/** How long a read without a deadline of a stalled key takes, in virtual ms. */
const stalledFetchMs = 7_000;

function unavailable(key: NodeId): RhizomeError {
  return new RhizomeError("UNAVAILABLE", `Cannot reach key ${key.toHex()}: cut off by the test`);
}
