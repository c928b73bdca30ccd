/**
 * The public shapes of the DHT: contacts, settings, and the results of its operations.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { Config, NodeProfile, RecordClass, RecordClassPolicy } from "../core/config_schema.ts";
import type { Log } from "../core/log.ts";
import type { NodeId } from "../core/node_id.ts";
import type { Rng } from "../core/rng.ts";
import type { PeerAddress } from "../net/address.ts";
import type { Transport } from "../net/transport.ts";
import type { ValueStore } from "../store/value_store.ts";
import type { ReplicationPolicy } from "./replication_policy.ts";

/** A peer as the DHT knows it: who and where. */
export interface Contact {
  /** The peer's node ID. */
  readonly nodeId: NodeId;
  /** The peer's UDP address. */
  readonly address: PeerAddress;
}

/** Everything a {@link DhtNodeOptions} needs from the configuration. */
export interface DhtSettings {
  /** The `[dht]` table. */
  dht: Config["dht"];
  /** The budgets of this node's type. */
  profile: NodeProfile;
  /**
   * The record classes (the `[store.<class>]` tables): the one lifetime policy. Stores apply it;
   * the DHT reads only the lifetimes it asks for in STOREs (`personal` for what it publishes,
   * `normal`'s extension for a copy cached on a get's path), and the simulator builds its memory
   * stores with it.
   */
  store: Record<RecordClass, RecordClassPolicy>;
}

/**
 * Sees what a node serves and how its pushes end: the popularity service's metrics are collected
 * here, at the holders (ROADMAP §5.1). Called synchronously from the node's receive path, so
 * each method must be cheap, must not throw and must not call back into the node.
 */
export interface DhtObserver {
  /**
   * A FIND_VALUE this node answered from its store (a read of a held record).
   *
   * @param read The key, who asked (its node ID, authenticated when the transport is), the
   *   address it asked from (`undefined` on the stream transport) and the time.
   */
  served(read: {
    readonly key: NodeId;
    readonly requester: NodeId;
    readonly address: PeerAddress | undefined;
    readonly nowMs: number;
  }): void;
  /**
   * A push of a held record (a publish, a republish, a replication) ended.
   *
   * @param key The record's key.
   * @param holders Holders that acknowledged it, this node included when it holds a copy.
   * @param nowMs The time.
   */
  pushed(key: NodeId, holders: number, nowMs: number): void;
}

/** What a DHT node is built from. */
export interface DhtNodeOptions {
  /** This node's ID (derived from its public key). */
  nodeId: NodeId;
  /** The address others reach this node at (sent in replies, never trusted from peers). */
  address: PeerAddress;
  /** The only source of time. */
  clock: Clock;
  /** The only way out to the network. */
  transport: Transport;
  /**
   * Where held values live: the only verifier of what is written, and the keeper of lifetimes.
   * Its rules check the answers to gets too; content addressing for a memory store without rules.
   */
  store: ValueStore;
  /** The only source of randomness. */
  rng: Rng;
  /** Kademlia parameters and budgets. */
  settings: DhtSettings;
  /** Where to log; nothing is logged when absent. */
  log?: Log;
  /**
   * Decides per record how many nodes hold it, how often this node pushes it and how long the
   * copies live (see `DhtNode.setReplicationPolicy` to change it later).
   * @default `defaultReplicationPolicy`: k replicas, `republish_s` / `replicate_s`, renewal to
   * the personal class's `ttl_s` by the publisher only.
   */
  replication?: ReplicationPolicy;
  /**
   * Sees the reads this node serves and how its pushes end (see `DhtNode.setObserver`).
   * @default none
   */
  observer?: DhtObserver;
  /**
   * The stream transport, for values too large for a datagram. Without it (the simulator) such
   * values are refused.
   */
  streams?: StreamRequester;
  /**
   * The latest time before which every datagram that reached our socket has been handled (the
   * driver's `ReceiveProbe`): the RPC layer calls a request lost only once this passes its
   * deadline (bounded). Absent: always clear (the simulator).
   */
  localQueueClearedMs?: () => number;
}

/** Sends one request on the stream transport (authenticated like the datagrams) and waits. */
export interface StreamRequester {
  /**
   * Sends a message (encoded for the stream) and hands back the answer.
   *
   * @param to The peer's address.
   * @param expectedId The peer's node ID: the stream refuses anyone else.
   * @param message The encoded request.
   * @param done Called once: the encoded answer, or `undefined` when there was none (refused,
   *   timed out, unreachable).
   */
  request(
    to: PeerAddress,
    expectedId: NodeId,
    message: Uint8Array,
    done: (answer: Uint8Array | undefined) => void,
  ): void;
}

/** How an iterative lookup ended. */
export interface LookupResult {
  /** Whether the lookup reached its goal (k closest found; for a get, a valid value found). */
  ok: boolean;
  /** The closest responsive contacts found, nearest first (at most k). */
  closest: Contact[];
  /** Round trips on the longest path that led to the result (1 = answered by a known contact). */
  rounds: number;
  /** Datagrams this lookup sent and received (requests, retries and replies). */
  messages: number;
  /** Time from start to end, in ms of the injected clock. */
  durationMs: number;
}

/** How a get looks for a value. */
export interface GetOptions {
  /**
   * Ask other nodes only: this node's own copy is neither returned nor reconciled with theirs, so
   * the answer says what the network holds (a program checking that a value was replicated).
   * Default false.
   */
  networkOnly?: boolean;
}

/** How a get (FIND_VALUE lookup) ended. */
export interface GetResult extends LookupResult {
  /** The value, when found and valid. */
  value?: Uint8Array;
}

/** How a put ended. */
export interface PutResult {
  /**
   * Whether the put is acknowledged: `holders` reached `quorum` and, on a node that stores for
   * others, this node's own copy is durable.
   */
  ok: boolean;
  /** The value's key. */
  key: NodeId;
  /** How many other nodes acknowledged the STORE durably. */
  stored: number;
  /**
   * Durable copies acknowledged: `stored`, plus this node's own copy when it counts (the node
   * stores for others, its copy is durable, and it is itself among the k closest to the key).
   */
  holders: number;
  /**
   * Holders the put needed: `dht.write_quorum`, or fewer when the node has never known that many
   * peers (so many holders cannot exist; a lone node's own copy is then enough), at least 1.
   */
  quorum: number;
  /** Whether this node stores for others, so its own copy must be durable and may count. */
  storesHere: boolean;
  /**
   * The local store's refusal, when this node could not keep the value itself (full, disk error,
   * a newer version held); `undefined` when its copy is durable.
   */
  localError?: Error;
  /** Time from start to end, in ms of the injected clock. */
  durationMs: number;
}

/**
 * The put that follows a read for update (`DhtNode.getForUpdate`): as `DhtNode.putAt` under the
 * key read, storing at the nodes the read found.
 *
 * @throws {RangeError} When the value is too large or does not verify under the key.
 */
export type UpdatePut = (
  value: Uint8Array,
  done: (result: PutResult) => void,
  ttlS?: number,
) => void;

/** How joining the network ended. */
export interface BootstrapResult {
  /** Whether at least one bootstrap contact answered. */
  ok: boolean;
  /** Contacts in the routing table afterwards. */
  contacts: number;
  /** Seeds at whose address another node answered (`answeredAs`): not joined through. */
  wrongIdentity: { seed: Contact; answeredAs: NodeId }[];
}
