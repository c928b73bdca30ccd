/**
 * What the discussion service needs from the network: put a record where it belongs, get the
 * current version of a key. The node implements it on its DHT and record store; tests implement
 * it in memory. Keeping it this small keeps the service sans-I/O.
 *
 * @module
 */

import type { NodeId } from "../../core/node_id.ts";
import type { DhtRecord } from "../../content/records.ts";

/** How a publish ended. */
export interface PublishResult {
  /** The record's key. */
  key: NodeId;
  /** Remote nodes among the k closest that acknowledged it durably (this node not counted). */
  stored: number;
  /** Durable copies acknowledged, this node's own included when it counts as a holder. */
  holders: number;
  /** Holders needed (`dht.write_quorum`, fewer in a network that small). */
  quorum: number;
}

/**
 * Records in, records out. Failures a caller is meant to cope with (the network stopped, the
 * local store refused the record) are thrown as a `RhizomeError` with a stable code; any other
 * exception is a bug and the service lets it through.
 */
export interface RecordNetwork {
  /**
   * Stores a record durably on this node first, then at the k nodes closest to its key. Sets
   * merge with what is held; a mutable record replaces a lower sequence.
   *
   * @param record A record that verifies under its key.
   * @returns Its key and its acknowledgements, once `quorum` holders acknowledged it.
   * @throws {RhizomeError} When this node cannot keep it (the record is invalid or stale, the
   *   store is full or closed); a `ReplicationError` (`NOT_REPLICATED`: kept here, too few other
   *   holders; `NOT_STORED`: kept nowhere that counts) when the quorum was not reached.
   */
  publish(record: DhtRecord): Promise<PublishResult>;

  /**
   * Finds the current version of a key: every copy verified against the key, mutable records
   * reconciled to the highest sequence and sets merged across the holders asked.
   *
   * `undefined` means absent: nodes were asked and none holds a valid copy (or this node knows no
   * other, and holds none itself). A read that asked nobody is no answer, and never `undefined`:
   * it rejects, so a caller cannot take a failed read for an absent record (and, say, publish a
   * profile over one it could not see).
   *
   * @param key The key.
   * @returns The record, or `undefined` when nobody holds a valid one.
   * @throws {RhizomeError} `UNAVAILABLE` when the network could not be asked: this node knows
   *   peers but none of them answered (or the network is stopped).
   */
  fetch(key: NodeId): Promise<DhtRecord | undefined>;

  /**
   * As {@link fetch}, but answers within `waitMsMax` whatever the network does: a read with a
   * deadline, for listings that must answer in time even while contacts are dead or slow. When
   * the lookup has not finished by then, the answer is this node's own copy of the key (if it
   * holds one), marked incomplete. With `waitMsMax` at 0 no lookup is started: the answer is
   * this node's copy, complete only for an immutable record (which cannot change).
   *
   * @param key The key.
   * @param waitMsMax The longest the answer may take, in ms (0 or more).
   * @returns What was found, and whether the lookup finished.
   * @throws {RhizomeError} `UNAVAILABLE` as {@link fetch}: the lookup finished in time and no
   *   node answered.
   */
  fetchWithin(key: NodeId, waitMsMax: number): Promise<TimedFetch>;

  /**
   * Reads a key in order to publish a new version under it: as {@link fetch}, and what it
   * returns publishes under the same key at the nodes this read found, with no lookup of its own
   * (the read's lookup goes on to the k closest, as a publish's does, and its replies carry the
   * write tokens the STOREs need). A read and a publish for the price of one lookup.
   *
   * @param key The key.
   * @returns The record (`undefined` when absent), and the publish to call right after.
   * @throws {RhizomeError} `UNAVAILABLE` as {@link fetch}.
   */
  fetchForUpdate(key: NodeId): Promise<UpdateRead>;
}

/** What a read for update found ({@link RecordNetwork.fetchForUpdate}). */
export interface UpdateRead {
  /** The current version, or `undefined` when nobody holds one. */
  record: DhtRecord | undefined;
  /**
   * Publishes a record under the key read, as {@link RecordNetwork.publish} does (same result,
   * same errors), at the nodes the read found.
   *
   * @throws {RhizomeError} `RECORD_INVALID` when the record belongs under another key.
   */
  publish(record: DhtRecord): Promise<PublishResult>;
}

/** What a read with a deadline found ({@link RecordNetwork.fetchWithin}). */
export interface TimedFetch {
  /**
   * The record: the current version when `complete`; otherwise this node's own copy (possibly an
   * older version, or a set lacking entries other holders have). `undefined` when absent (when
   * `complete`) or when nothing arrived in time (when not).
   */
  record: DhtRecord | undefined;
  /** Whether the lookup finished in time, so `record` is the network's answer. */
  complete: boolean;
}
