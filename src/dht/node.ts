/**
 * A DHT node: the routing table, the RPCs, lookups, and the upkeep of values (replication,
 * republishing, expiry), driven from outside. It reaches time only through the injected `Clock`,
 * the network only through the injected `Transport`, and randomness only through the injected
 * `Rng`; a driver hands it datagrams (`receive`) and wakes it when `nextWakeupMs()` comes
 * (`tick`). Production and the simulator drive this same code.
 *
 * Operations report through callbacks that run inside `receive`, `tick` or the starting call,
 * never later on their own.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { bytesEqual } from "../core/bytes.ts";
import type { NodeProfile } from "../core/config_schema.ts";
import { RhizomeError } from "../core/errors.ts";
import {
  datagramValueBytesMax,
  leaveNotifiedMax,
  livenessPingsMax,
  lookupCandidatesMax,
  maintenanceIntervalMs,
  maintenanceLookupsMax,
  quietPingsMax,
  recordBytesMax,
  versionedReadHolders,
} from "../core/limits.ts";
import type { NodeId } from "../core/node_id.ts";
import { randomInt } from "../core/rng.ts";
import { isLocal, type PeerAddress, sharedWireForm } from "../net/address.ts";
import type { RecordRules, VerifiedRecord } from "../store/record_rules.ts";
import type { ValueWrite, ValueWritten } from "../store/value_store.ts";
import { contentKey } from "../core/content_key.ts";
import { FailedPeers } from "./failed_peers.ts";
import { DhtHealth, type DhtHealthStats } from "./health.ts";
import { type Candidate, getSpreadWidth, LookupState } from "./lookup.ts";
import {
  contactsPerReplyMax,
  type DecodeFailure,
  decodeMessage,
  encodeMessage,
  FLAG_CLIENT,
  type Message,
  type MessageSize,
  MessageType,
  StoreStatus,
} from "./messages.ts";
import {
  planHandOff,
  type PlannedPush,
  planUpkeep,
  pushIntervalMsMin,
  remainingTtlS,
  replicasPerRecordMax,
  type RoutingView,
  spreadOverPrefixes,
  termsFor,
} from "./replication_plan.ts";
import {
  defaultReplicationPolicy,
  type HeldRecord,
  type ReplicationPolicy,
  type ReplicationSettings,
} from "./replication_policy.ts";
import { RequestLimiter } from "./request_limiter.ts";
import { RoutingTable } from "./routing_table.ts";
import { RpcClient, type RpcStats } from "./rpc.ts";
import { WriteTokens } from "./tokens.ts";
import type {
  BootstrapResult,
  Contact,
  DhtNodeOptions,
  DhtObserver,
  GetOptions,
  GetResult,
  LookupResult,
  PutResult,
  UpdatePut,
} from "./types.ts";

/** Counters of one node, for metrics and tests. */
export interface DhtStats {
  /**
   * Datagrams dropped before use, by reason (`impostor`: the message names a sender other than
   * the one the transport authenticated).
   */
  dropped: Record<
    DecodeFailure | "self" | "stopped" | "impostor" | "peerRateLimited" | "rateLimited",
    number
  >;
  /** Requests answered, by message type. */
  requests: Record<number, number>;
  /** STOREs accepted and written. */
  stored: number;
  /** STOREs refused, by status. */
  storeRefused: Record<number, number>;
  /** Values received that did not verify against their key. */
  invalidValues: number;
  /** Lookups started and finished. */
  lookups: number;
  /** Values pushed to other nodes by replication, republishing or caching. */
  replicated: number;
  /** The RPC layer's counters. */
  rpc: RpcStats;
}

interface LookupOperation {
  state: LookupState;
  wantValue: boolean;
  startMs: number;
  deadlineMs: number;
  messages: number;
  /** The value found; for a versioned value, every verified copy so far (and the held one) reconciled. */
  value?: Uint8Array;
  valueHop: number;
  /** Holders that answered with a versioned value. */
  holders: number;
  /**
   * An update's read: the lookup goes on to the k closest after `versionedReadHolders` holders
   * answered, and keeps the holders' write tokens for the STOREs that follow.
   */
  settles: boolean;
  /** How many closest nodes the lookup settles: no more than these can take its STOREs. */
  width: number;
  finished: boolean;
  /** Values being fetched by stream (announced by VALUE_REF): the lookup waits for them. */
  streams: number;
  done: (result: GetResult, operation: LookupOperation) => void;
}

/** One node of the Kademlia DHT. */
export class DhtNode {
  readonly #options: DhtNodeOptions;
  readonly #self: NodeId;
  /** The store's rules: the DHT checks the answers to its gets by them (the store, writes). */
  readonly #rules: RecordRules;
  readonly #table: RoutingTable;
  readonly #rpc: RpcClient;
  readonly #tokens: WriteTokens;
  readonly #lookups = new Set<LookupOperation>();
  /** Last time each held value was replicated by us or stored to us by another holder. */
  readonly #replicatedMs = new Map<string, number>();
  /**
   * Per held record, the largest replica count other holders' pushes asked for lately
   * ({@link #replicaHintMs}); one entry per held record at most, dropped with the record.
   */
  readonly #replicaHints = new Map<string, { replicas: number; atMs: number }>();
  /** Decides per record how many nodes hold it, how often it is pushed, how long it lives. */
  #replication: ReplicationPolicy;
  /** Records whose policy terms were out of range since the last upkeep pass (logged there). */
  #termsCorrected = 0;
  /** Sees the reads served and the pushes' outcomes (the popularity service). */
  #observer: DhtObserver | undefined;
  /** The routing table as the replication planner reads it: node IDs by distance alone. */
  readonly #routingView: RoutingView = {
    closestIds: (key, count) =>
      this.#table.closest(key, count, undefined, "distance").map((entry) => entry.nodeId),
  };
  /** Contacts being pinged (before a possible eviction, to verify or check them). */
  readonly #pinging = new Set<string>();
  /** Peers whose requests time out: lookups skip the dead ones; timeouts are logged from here. */
  readonly #failed: FailedPeers;
  #flags: number;
  #profile: NodeProfile;
  readonly #limiter: RequestLimiter;
  #maintenanceMs: number;
  #maintenanceLookups = 0;
  /**
   * The most peers the routing table has held, counted as each one is added: a node whose table
   * has emptied since (its peers left, or it is cut off), even before its first put, still asks
   * for the write quorum instead of taking itself for a one-node network, where its own copy is
   * all there can be.
   */
  #peersKnownMax = 0;
  #stopped = false;
  readonly #stats: Omit<DhtStats, "rpc">;
  /** Lookup durations and records short of holders, for the metrics. */
  readonly #health = new DhtHealth();

  /**
   * Makes a node. It does nothing until driven: call {@link bootstrap} to join.
   *
   * @param options Identity, injected clock, transport, store and randomness, and settings.
   */
  constructor(options: DhtNodeOptions) {
    const { dht, profile } = options.settings;
    assert(dht.alpha <= dht.k, "alpha must not exceed k");
    this.#options = options;
    this.#self = options.nodeId;
    this.#rules = options.store.rules;
    this.#replication = options.replication ?? defaultReplicationPolicy;
    this.#observer = options.observer;
    this.#profile = profile;
    this.#flags = profile.stores_for_others ? 0 : FLAG_CLIENT;
    this.#limiter = new RequestLimiter(options.clock, {
      peerRequestsPerS: dht.peer_requests_per_s,
      peerRequestsBurst: dht.peer_requests_burst,
      requestsPerS: dht.requests_per_s,
      requestsBurst: dht.requests_burst,
    });
    this.#table = new RoutingTable(options.nodeId, {
      k: dht.k,
      replacementCacheMax: dht.replacement_cache_max,
      contactsMax: profile.routing_contacts_max,
      peerFailuresMax: dht.peer_failures_max,
      subnetCapExemptsLocal: dht.local_ranges_exempt,
    });
    this.#failed = new FailedPeers(dht.peer_failures_max);
    this.#rpc = new RpcClient(options.clock, options.transport, options.rng, {
      timeoutMs: dht.rpc_timeout_ms,
      timeoutMsMax: dht.rpc_timeout_ms_max,
      retriesMax: dht.rpc_retries_max,
      inflightMax: profile.rpc_inflight_max,
      localQueueClearedMs: options.localQueueClearedMs,
    });
    const nowMs = options.clock.nowMs();
    this.#tokens = new WriteTokens(options.rng, nowMs);
    // Spread the first upkeep over one interval so nodes started together do not wake together.
    this.#maintenanceMs = nowMs + randomInt(options.rng, maintenanceIntervalMs);
    this.#stats = {
      dropped: {
        oversize: 0,
        protocol: 0,
        version: 0,
        malformed: 0,
        self: 0,
        stopped: 0,
        impostor: 0,
        peerRateLimited: 0,
        rateLimited: 0,
      },
      requests: {},
      stored: 0,
      storeRefused: {},
      invalidValues: 0,
      lookups: 0,
      replicated: 0,
    };
  }

  /**
   * This node's ID.
   *
   * @returns The ID.
   */
  get id(): NodeId {
    return this.#self;
  }

  /**
   * Contacts in the routing table.
   *
   * @returns The count.
   */
  routingTableSize(): number {
    return this.#table.size;
  }

  /**
   * The routing table's contacts closest to `target`.
   *
   * @param target Any ID.
   * @param count How many at most.
   * @returns The contacts, nearest first.
   */
  closestContacts(target: NodeId, count: number): Contact[] {
    return this.#table.closest(target, count).map(({ nodeId, address }) => ({ nodeId, address }));
  }

  /**
   * Counters.
   *
   * @returns A snapshot.
   */
  stats(): DhtStats {
    return structuredClone({ ...this.#stats, rpc: this.#rpc.stats });
  }

  /**
   * How well it serves: lookup durations and outcomes, pushes and records short of holders.
   *
   * @returns A snapshot.
   */
  health(): DhtHealthStats {
    return this.#health.snapshot();
  }

  /**
   * Handles one datagram. Malformed, oversized or foreign datagrams are counted and dropped;
   * nothing a peer sends makes this throw.
   *
   * @param from The address it came from (as the transport saw it).
   * @param bytes The datagram.
   * @param peer The sender's node ID when the transport authenticated it (the secure channel):
   *   a message naming another sender is dropped, so no node speaks for another.
   */
  receive(from: PeerAddress, bytes: Uint8Array, peer?: NodeId): void {
    if (this.#stopped) {
      this.#stats.dropped.stopped++;
      return;
    }
    const message = decodeMessage(bytes);
    if (typeof message === "string") {
      this.#stats.dropped[message]++;
      return;
    }
    if (peer !== undefined && !message.sender.equals(peer)) {
      this.#stats.dropped.impostor++;
      return;
    }
    if (message.type % 2 === 1) {
      // One bucket per peer whichever transport it uses: its node ID when authenticated.
      const verdict = this.#limiter.admit(peer?.toHex() ?? from.key);
      if (verdict !== "ok") {
        this.#stats.dropped[verdict === "peer" ? "peerRateLimited" : "rateLimited"]++;
        return;
      }
    }
    if (message.sender.equals(this.#self)) {
      this.#stats.dropped.self++;
      return;
    }
    this.#failed.heard(message.sender);
    if (message.type === MessageType.leave) {
      this.#stats.requests[message.type] = (this.#stats.requests[message.type] ?? 0) + 1;
      this.#left(message.sender, from);
      return;
    }
    if (message.type % 2 === 1) {
      const subject = peer?.toHex() ?? from.key;
      this.#answer(
        message,
        subject,
        "datagram",
        (body) => this.#reply(from, message.sender, message.tx, body),
        from,
      );
      // After the answer: a newcomer is pinged to verify it, and its reply comes first.
      this.#observe(message, from, false);
    } else if (this.#rpc.handleReply(message, from)) {
      this.#observe(message, from, true);
    }
  }

  /** Runs what is due: resends and timeouts, lookup deadlines, upkeep. Harmless when early. */
  tick(): void {
    if (this.#stopped) return;
    this.#rpc.tick();
    const nowMs = this.#options.clock.nowMs();
    for (const operation of [...this.#lookups]) {
      if (nowMs >= operation.deadlineMs) this.#finish(operation, false);
    }
    if (nowMs >= this.#maintenanceMs) {
      this.#maintenanceMs = nowMs + maintenanceIntervalMs;
      this.#maintain(nowMs);
    }
  }

  /**
   * When {@link tick} must next run.
   *
   * @returns A time in ms of the injected clock, or `Infinity` once stopped.
   */
  nextWakeupMs(): number {
    if (this.#stopped) return Infinity;
    let next = Math.min(this.#rpc.nextDeadlineMs(), this.#maintenanceMs);
    for (const operation of this.#lookups) next = Math.min(next, operation.deadlineMs);
    return next;
  }

  /**
   * Joins the network: asks each seed for the nodes closest to this one, then looks itself up.
   * With no seeds, this node starts a new network. Each seed is pinned to its node ID: a node
   * answering at its address with another identity is not joined through (`wrongIdentity`).
   *
   * @param seeds Nodes already in the network, each with the ID it must prove.
   * @param done Called once with the outcome.
   */
  bootstrap(seeds: readonly Contact[], done: (result: BootstrapResult) => void): void {
    if (seeds.length === 0) {
      this.#options.log?.info("no bootstrap contacts: starting a new network");
      done({ ok: true, contacts: 0, wrongIdentity: [] });
      return;
    }
    let waiting = seeds.length;
    let answered = 0;
    const learnt: Contact[] = [];
    const wrongIdentity: BootstrapResult["wrongIdentity"] = [];
    const settle = () => {
      if (--waiting > 0) return;
      if (answered === 0) {
        done({ ok: false, contacts: this.#table.size, wrongIdentity });
        return;
      }
      this.#lookup(this.#self, false, learnt, () => {
        done({ ok: true, contacts: this.#table.size, wrongIdentity });
      });
    };
    for (const seed of seeds) {
      this.#rpc.request({
        to: seed.address,
        expectedId: seed.nodeId,
        build: (tx) => this.#message(tx, { type: MessageType.findNode, target: this.#self }),
        onReply: (reply) => {
          answered++;
          if (reply.type === MessageType.nodes) learnt.push(...reply.contacts);
          settle();
        },
        onFail: (reason, _attempts, answeredAs) => {
          if (reason === "wrongIdentity" && answeredAs) {
            this.#dropMisnamedContact(seed);
            wrongIdentity.push({ seed, answeredAs });
          }
          settle();
        },
      });
    }
  }

  /**
   * The authenticating transport found another node than `expectedId` at `address` (the secure
   * channel's handshake proved the other key): requests pinned to that contact fail at once,
   * and the contact leaves the routing table.
   *
   * @param address The address.
   * @param expectedId The node ID the contact named.
   * @param actualId The node ID that proved itself there.
   */
  identityRefused(address: PeerAddress, expectedId: NodeId, actualId: NodeId): void {
    if (this.#stopped) return;
    this.#rpc.refuseIdentity(address, expectedId, actualId);
    this.#dropMisnamedContact({ nodeId: expectedId, address });
  }

  /**
   * Finds the k nodes closest to `target`.
   *
   * @param target Any ID.
   * @param done Called once with the closest responsive nodes.
   */
  findNode(target: NodeId, done: (result: LookupResult) => void): void {
    this.#lookup(target, false, [], (result) => done(result));
  }

  /**
   * Finds the value stored under `key`. A final (content-addressed) value: the lookup stops at
   * the first copy that verifies, and caches it at the closest node on the path that lacked it;
   * one this node holds is returned at once. A versioned value (signed record, set): the lookup
   * goes on until `versionedReadHolders` holders answered (or the k closest were asked) and
   * reconciles what they and this node hold, so the newest version and every set entry they
   * know come back.
   *
   * @param key The value's key.
   * @param done Called once; `value` is set when found.
   * @param options Whether to ask other nodes only.
   */
  get(key: NodeId, done: (result: GetResult) => void, options: GetOptions = {}): void {
    const nowMs = this.#options.clock.nowMs();
    const held = options.networkOnly ? undefined : this.#options.store.get(key);
    const heldValue = held && held.expiresAtMs > nowMs ? new Uint8Array(held.value) : undefined;
    if (heldValue && this.#rules.isFinal(heldValue)) {
      done({ ok: true, value: heldValue, closest: [], rounds: 0, messages: 0, durationMs: 0 });
      return;
    }
    this.#lookup(key, true, [], (result, operation) => {
      // Only a final value is cached on the path: a cached version of a set or signed record
      // would not hear of later ones, and a reader meeting it early would get stale entries.
      if (result.value && this.#rules.isFinal(result.value)) {
        this.#cacheOnPath(operation, result.value);
      }
      done(result);
    }, heldValue);
  }

  /**
   * Publishes a value: keeps it here (this node republishes it) and stores it at the k nodes
   * closest to its key.
   *
   * @param value At most `datagramValueBytesMax` bytes; with the stream transport, at most
   *   `recordBytesMax` (larger values then travel by stream).
   * @param done Called once with how many nodes acknowledged it durably.
   * @param ttlS The copies' lifetime, at most (and by default) the `personal` class's `ttl_s`;
   *   each holder's store caps its copy by its own class. This node keeps republishing the value
   *   while it runs, as for any value it publishes.
   * @returns The value's key (its content address).
   * @throws {RangeError} When the value is too large for a datagram.
   */
  put(value: Uint8Array, done: (result: PutResult) => void, ttlS?: number): NodeId {
    const key = contentKey(value);
    this.putAt(key, value, done, ttlS);
    return key;
  }

  /**
   * Publishes a value under a key of its own (a signed record, a set): as {@link put}, for any
   * value the store's rules verify under `key`. This node's store verifies it (the only check of
   * a publish); once it has, the value goes to the k closest nodes. Holders merge a set with the
   * version they hold and keep the higher sequence of a signed record.
   *
   * @param key The key; the value must verify under it.
   * @param value The value, within the same size limits as {@link put}.
   * @param done Called once with how many nodes acknowledged it durably. A value this node's
   *   store refuses as invalid goes to nobody: `ok` false, `localError` `RECORD_INVALID`.
   * @param ttlS The copies' lifetime, at most (and by default) the `personal` class's `ttl_s`.
   * @throws {RangeError} When the value is too large.
   */
  putAt(key: NodeId, value: Uint8Array, done: (result: PutResult) => void, ttlS?: number): void {
    this.#checkPut(value);
    this.#publishAt(key, value, ttlS, done, (lifetimeS, replicas, stored) => {
      this.#storeAtClosest(key, value, lifetimeS, replicas, stored);
    });
  }

  /**
   * Reads a versioned value to update it: a FIND_VALUE lookup that, unlike a get's, goes on to
   * the k closest nodes (as a put's does) and keeps every reply's write token, so that a put of
   * the new version needs no lookup of its own. The copies of the first `versionedReadHolders`
   * holders (and this node's) are reconciled, as a get's are; holders beyond them are not asked
   * for a value too large for a datagram.
   *
   * @param key The key.
   * @param done Called once with the read (its `value` the current version, if any) and a put
   *   under `key`, as {@link putAt} (same checks, same result), to the nodes the read found. Its
   *   write tokens last a token rotation period: the put belongs right after the read.
   */
  getForUpdate(key: NodeId, done: (result: GetResult, put: UpdatePut) => void): void {
    const held = this.#options.store.get(key);
    const nowMs = this.#options.clock.nowMs();
    const heldValue = held && held.expiresAtMs > nowMs ? new Uint8Array(held.value) : undefined;
    this.#lookup(
      key,
      true,
      [],
      (result, operation) => {
        done(result, (value, putDone, ttlS) => {
          this.#checkPut(value);
          this.#publishAt(key, value, ttlS, putDone, (lifetimeS, replicas, stored) => {
            this.#storeAtFound(operation, value, lifetimeS, replicas, stored);
          });
        });
      },
      heldValue,
      true,
    );
  }

  /** Refuses a value `putAt` cannot publish: too large. The store checks everything else. */
  #checkPut(value: Uint8Array): void {
    const valueMax = this.#options.streams ? recordBytesMax : datagramValueBytesMax;
    if (value.length > valueMax) {
      throw new RangeError(
        `Cannot store value: size is ${value.length} bytes, limit is ${valueMax}`,
      );
    }
  }

  /**
   * Writes a value here, then (once this node's store took it: the store verifies it, the only
   * check of a publish) has `storeRemote` store it at the closest nodes, as many as the
   * replication policy's terms say; reports once both are done, with the write quorum's verdict.
   * A value the store refuses as invalid goes to nobody.
   */
  #publishAt(
    key: NodeId,
    value: Uint8Array,
    ttlS: number | undefined,
    done: (result: PutResult) => void,
    storeRemote: (
      lifetimeS: number,
      replicas: number,
      stored: (count: number, selfAmongClosest: boolean) => void,
    ) => void,
  ): void {
    const nowMs = this.#options.clock.nowMs();
    const publishedTtlS = this.#options.settings.store.personal.ttl_s;
    const lifetimeS = Math.max(1, Math.min(ttlS ?? publishedTtlS, publishedTtlS));
    const storesHere = this.#profile.stores_for_others;
    // As many holders as can exist: this node (when it stores) and the most peers it has known.
    const holdersPossible = Math.min(
      this.#options.settings.dht.k,
      this.#peersKnownMax + (storesHere ? 1 : 0),
    );
    const quorum = Math.max(1, Math.min(this.#options.settings.dht.write_quorum, holdersPossible));
    const report = (stored: number, selfAmongClosest: boolean, localError?: Error) => {
      const durationMs = this.#options.clock.nowMs() - nowMs;
      const holders = stored + (storesHere && !localError && selfAmongClosest ? 1 : 0);
      const ok = holders >= quorum && (!storesHere || !localError);
      done({ ok, key, stored, holders, quorum, storesHere, localError, durationMs });
    };
    // The local write first: the store verifies the value once, and what it refuses as invalid
    // is sent to nobody. Another refusal (full, an older version) still lets the network have it.
    const write = { key, value, ttlMs: lifetimeS * 1000, published: true };
    this.#write(write, (localError) => {
      if (localError instanceof RhizomeError && localError.code === "RECORD_INVALID") {
        return report(0, false, localError);
      }
      this.#replicatedMs.set(key.toHex(), nowMs);
      const published: HeldRecord = {
        key,
        kind: "published",
        expiresAtMs: nowMs + lifetimeS * 1000,
        storedAtMs: nowMs,
        pushedAtMs: nowMs,
      };
      const { replicas } = this.#termsOf(published);
      storeRemote(lifetimeS, replicas, (stored, selfAmongClosest) => {
        this.#notePush(key, stored, selfAmongClosest && !localError, replicas);
        this.#observer?.pushed(key, stored + (localError ? 0 : 1), this.#options.clock.nowMs());
        report(stored, selfAmongClosest, localError);
      });
    });
  }

  /**
   * Takes the budgets of another node type (the node re-classified itself): whether it stores for
   * others, its routing table cap and its requests in flight.
   *
   * @param profile The new type's budgets.
   */
  setProfile(profile: NodeProfile): void {
    this.#profile = profile;
    this.#flags = profile.stores_for_others ? 0 : FLAG_CLIENT;
    this.#table.setContactsMax(profile.routing_contacts_max);
    this.#rpc.setInflightMax(profile.rpc_inflight_max);
  }

  /**
   * Takes another replication policy (a service above the DHT plugs in its own): from the next
   * upkeep pass, hand-off and put on, records are replicated on its terms.
   *
   * @param policy The policy; {@link defaultReplicationPolicy} restores the Kademlia terms.
   */
  setReplicationPolicy(policy: ReplicationPolicy): void {
    this.#replication = policy;
  }

  /**
   * Takes an observer of the reads this node serves and of its pushes' outcomes (the popularity
   * service's metrics), replacing any other.
   *
   * @param observer The observer; `undefined` for none.
   */
  setObserver(observer: DhtObserver | undefined): void {
    this.#observer = observer;
  }

  /**
   * Leaves: tells up to `leaveNotifiedMax` contacts (the most recently seen) that this node is
   * leaving (LEAVE, best effort: no reply, no resend), fails every pending operation and request,
   * then ignores all input. A DHT client sends no LEAVE: no table holds it.
   */
  stop(): void {
    if (this.#stopped) return;
    if ((this.#flags & FLAG_CLIENT) === 0) {
      const recent = this.#table.entries().sort((a, b) => b.lastSeenMs - a.lastSeenMs)
        .slice(0, leaveNotifiedMax);
      const leave = encodeMessage(this.#message(0, { type: MessageType.leave }));
      for (const contact of recent) {
        this.#options.transport.send(contact.address, leave, contact.nodeId);
      }
    }
    this.#stopped = true;
    this.#rpc.stop();
    for (const operation of [...this.#lookups]) this.#finish(operation, false);
  }

  // --- answering requests ---

  /**
   * Answers one request from the stream transport (a FIND_VALUE or STORE whose value is too large
   * for a datagram), from a peer the stream authenticated.
   *
   * @param bytes The request, encoded for the stream.
   * @param peer The peer's node ID, proven by the stream's handshake.
   * @param done Called once with the encoded answer, or `undefined` for a request that gets none
   *   (malformed, another kind, over the rate limit, or this node stopped).
   */
  answerStream(bytes: Uint8Array, peer: NodeId, done: (answer?: Uint8Array) => void): void {
    const message = this.#stopped ? "stopped" as const : decodeMessage(bytes, "stream");
    if (typeof message === "string") {
      this.#stats.dropped[message]++;
      return done();
    }
    if (!message.sender.equals(peer)) {
      this.#stats.dropped.impostor++;
      return done();
    }
    if (message.type !== MessageType.findValue && message.type !== MessageType.store) {
      this.#stats.dropped.malformed++;
      return done();
    }
    const subject = peer.toHex();
    const verdict = this.#limiter.admit(subject);
    if (verdict !== "ok") {
      this.#stats.dropped[verdict === "peer" ? "peerRateLimited" : "rateLimited"]++;
      return done();
    }
    this.#answer(message, subject, "stream", (body) => {
      done(encodeMessage(this.#message(message.tx, body), "stream"));
    });
  }

  /**
   * Answers a request. `subject` is who write tokens are issued to: the peer's node ID when the
   * transport authenticated it (then a token got by datagram is good on the stream), else its
   * address.
   */
  #answer(
    request: Message,
    subject: string,
    size: MessageSize,
    reply: (body: MessageBody) => void,
    from?: PeerAddress,
  ): void {
    this.#stats.requests[request.type] = (this.#stats.requests[request.type] ?? 0) + 1;
    switch (request.type) {
      case MessageType.ping:
        reply({ type: MessageType.pong });
        return;
      case MessageType.findNode:
        reply(this.#nodesBody(request.target, request.sender, subject));
        return;
      case MessageType.findValue: {
        const held = this.#options.store.get(request.key);
        const nowMs = this.#options.clock.nowMs();
        if (held && held.expiresAtMs > nowMs) {
          // A read keeps a value alive, by the store's policy (no verification: it is held).
          this.#options.store.noteRead(request.key);
          this.#observer?.served({
            key: request.key,
            requester: request.sender,
            address: from,
            nowMs,
          });
          const token = this.#tokens.issue(subject);
          if (size === "datagram" && held.value.length > datagramValueBytesMax) {
            reply({ type: MessageType.valueRef, size: held.value.length, token });
          } else {
            reply({ type: MessageType.value, value: held.value, token });
          }
        } else {
          reply(this.#nodesBody(request.key, request.sender, subject));
        }
        return;
      }
      case MessageType.store:
        this.#acceptStore(request, subject, reply);
        return;
    }
  }

  #nodesBody(target: NodeId, requester: NodeId, subject: string): MessageBody {
    const count = Math.min(this.#options.settings.dht.k, contactsPerReplyMax);
    const contacts = this.#table.closest(target, count, requester, "tell")
      .map(({ nodeId, address }) => ({ nodeId, address }));
    return { type: MessageType.nodes, contacts, token: this.#tokens.issue(subject) };
  }

  #acceptStore(
    request: Message & { type: typeof MessageType.store },
    subject: string,
    reply: (body: MessageBody) => void,
  ): void {
    const refuse = (status: number) => {
      this.#stats.storeRefused[status] = (this.#stats.storeRefused[status] ?? 0) + 1;
      reply({ type: MessageType.stored, status });
    };
    if (!this.#profile.stores_for_others) return refuse(StoreStatus.declined);
    if (!this.#tokens.verify(subject, request.token)) return refuse(StoreStatus.badToken);
    if (request.ttlS === 0) return refuse(StoreStatus.invalid);
    const published = this.#options.store.get(request.key)?.published ?? false;
    // The store verifies the value (the only check: one per holder), merges it with the held
    // version and caps the sender's remaining lifetime by its class, so replicas renewing each
    // other never outlive the publisher's last republish. Durable before acknowledged: the
    // reply waits for the store's commit.
    const write = { key: request.key, value: request.value, ttlMs: request.ttlS * 1000, published };
    this.#options.store.put(write, (error, written) => {
      if (error || !written) {
        const status = error ? storeStatusOf(error) : StoreStatus.declined;
        // A peer's bad or old value is its problem (counted); a failing store is ours (logged).
        if (status === StoreStatus.invalid) this.#stats.invalidValues++;
        if (status === StoreStatus.declined || status === StoreStatus.full) {
          this.#options.log?.warning("cannot store value {key}: {error}", {
            key: request.key.toHex(),
            error: error?.message ?? "no outcome",
          });
        }
        return refuse(status);
      }
      // Another holder is replicating this value, so this node need not for a while (Kademlia).
      // A publisher's republish clock is its own: replicas must not postpone the republish. A
      // versioned copy that holds what the sender's lacks must still go out, or it never spreads.
      const covers = this.#rules.isFinal(request.value) || bytesEqual(written.value, request.value);
      const nowMs = this.#options.clock.nowMs();
      const hex = request.key.toHex();
      const hinted = request.replicas ?? this.#options.settings.dht.k;
      if (hinted > this.#options.settings.dht.k) {
        const hint = this.#replicaHints.get(hex);
        const fresh = hint !== undefined && nowMs - hint.atMs < this.#replicaHintMs();
        if (!fresh || hinted >= hint.replicas) {
          this.#replicaHints.set(hex, { replicas: hinted, atMs: nowMs });
        }
      }
      // A push at fewer replicas than this node's terms ask does not postpone its own push: the
      // record would otherwise stay at the smaller count of whichever holder pushed first.
      const wanted = this.#termsOf(this.#heldRecordOf(request.key, published, nowMs)).replicas;
      if (!published && covers && hinted >= wanted) {
        this.#replicatedMs.set(hex, nowMs);
      }
      this.#stats.stored++;
      reply({ type: MessageType.stored, status: StoreStatus.ok });
    });
  }

  // --- lookups ---

  /**
   * `settles`: a read for update, which goes on to the closest nodes and keeps their write tokens
   * (`getForUpdate`). `width`: how many closest nodes the lookup settles (k, or a record's
   * replicas for a push).
   */
  #lookup(
    target: NodeId,
    wantValue: boolean,
    extra: readonly Contact[],
    done: (result: GetResult, operation: LookupOperation) => void,
    held?: Uint8Array,
    settles = false,
    width: number = this.#options.settings.dht.k,
  ): void {
    const { alpha, lookup_timeout_ms } = this.#options.settings.dht;
    const nowMs = this.#options.clock.nowMs();
    // Peers that failed request after request lately are not asked, whoever names them.
    const state = new LookupState(
      target,
      this.#self,
      width,
      alpha,
      (id) => this.#failed.isDead(id, nowMs),
    );
    state.add(this.#table.closest(target, width), 1);
    state.add(extra, 2);
    this.#table.touch(target, nowMs);
    const operation: LookupOperation = {
      state,
      wantValue,
      startMs: nowMs,
      deadlineMs: nowMs + lookup_timeout_ms,
      messages: 0,
      value: held,
      valueHop: 0,
      holders: 0,
      settles,
      width,
      finished: false,
      streams: 0,
      done,
    };
    this.#lookups.add(operation);
    this.#stats.lookups++;
    // A stopped node asks nobody: the lookup ends at once, unanswered, so its caller hears back.
    if (this.#stopped) return this.#finish(operation, false);
    // A get starts at random ones of the closest it knows: a popular key's reads spread over its
    // copies instead of all landing on the same few nearest nodes (issue 17's load).
    if (wantValue && !settles) {
      const rng = this.#options.rng;
      for (
        const candidate of state.nextSpread(
          Math.min(width, getSpreadWidth),
          (n) => randomInt(rng, n),
        )
      ) {
        this.#query(operation, candidate);
      }
    }
    this.#advance(operation);
  }

  #advance(operation: LookupOperation): void {
    if (operation.finished) return;
    const { state } = operation;
    for (const candidate of state.next()) this.#query(operation, candidate);
    if (state.isDone() && operation.streams === 0) this.#finish(operation, true);
  }

  #query(operation: LookupOperation, candidate: Candidate): void {
    const { state, wantValue } = operation;
    const { nodeId: id, address } = candidate.contact;
    const entry = this.#table.get(id);
    this.#rpc.request({
      to: address,
      expectedId: id,
      rtt: entry,
      build: (tx) =>
        this.#message(
          tx,
          wantValue
            ? { type: MessageType.findValue, key: state.target }
            : { type: MessageType.findNode, target: state.target },
        ),
      onReply: (reply, attempts, rttMs) => {
        if (rttMs !== undefined) this.#table.recordRtt(id, rttMs);
        this.#failed.heard(id);
        if (operation.finished) return;
        operation.messages += attempts + 1;
        // A read for update that merged enough copies only needs the other holders' tokens:
        // their copies are not verified (a signature check each) nor merged.
        const copiesEnough = operation.settles && operation.holders >= versionedReadHolders;
        const verified = reply.type === MessageType.value && !copiesEnough
          ? this.#verified(state.target, reply.value, operation.value)
          : undefined;
        if (reply.type === MessageType.nodes) {
          state.answered(candidate, reply.contacts, reply.token);
        } else if (reply.type === MessageType.value && copiesEnough) {
          state.answered(candidate, [], reply.token);
        } else if (reply.type === MessageType.value && verified) {
          state.answered(candidate, [], operation.settles ? reply.token : undefined);
          if (this.#found(operation, verified, candidate.hop)) return;
        } else if (reply.type === MessageType.valueRef && this.#options.streams) {
          state.answered(candidate, [], operation.settles ? reply.token : undefined);
          // An update reads as many copies as a get; the other holders only take the STORE.
          if (!operation.settles || operation.holders + operation.streams < versionedReadHolders) {
            this.#fetchByStream(operation, candidate);
          }
        } else {
          this.#stats.invalidValues++;
          state.failed(candidate);
        }
        this.#advance(operation);
      },
      onFail: (reason, attempts) => {
        if (reason === "timeout") this.#peerFailed(candidate.contact);
        if (reason === "wrongIdentity") this.#dropMisnamedContact(candidate.contact);
        if (operation.finished) return;
        operation.messages += attempts;
        if (reason !== "timeout" || !state.reask(candidate)) state.failed(candidate);
        this.#advance(operation);
      },
      onStall: () => {
        if (operation.finished) return;
        state.stalled(candidate);
        this.#advance(operation);
      },
    });
  }

  /** Asks a holder that announced a large value for it on the stream transport. */
  #fetchByStream(operation: LookupOperation, candidate: Candidate): void {
    const { nodeId: id, address } = candidate.contact;
    const key = operation.state.target;
    const request = this.#message(0, { type: MessageType.findValue, key });
    operation.streams++;
    operation.messages++;
    this.#options.streams!.request(address, id, encodeMessage(request, "stream"), (answer) => {
      operation.streams--;
      if (operation.finished) return;
      operation.messages++;
      const reply = answer && decodeMessage(answer, "stream");
      const verified = reply && typeof reply !== "string" && reply.type === MessageType.value &&
          reply.sender.equals(id)
        ? this.#verified(key, reply.value, operation.value)
        : undefined;
      if (verified) {
        if (this.#found(operation, verified, candidate.hop)) return;
        this.#advance(operation);
        return;
      }
      if (reply && typeof reply !== "string" && reply.type === MessageType.value) {
        this.#stats.invalidValues++;
      }
      this.#advance(operation);
    });
  }

  /**
   * A get's answer checked by the store's rules (never written here: the cache and replication
   * write through the store, which verifies), or `undefined` when it does not verify.
   */
  #verified(key: NodeId, value: Uint8Array, known?: Uint8Array): VerifiedRecord | undefined {
    try {
      return this.#rules.verify(key, value, () => known, this.#options.clock.nowMs());
    } catch {
      // A peer's bytes never throw out of the DHT: what fails to check is not taken.
      return undefined;
    }
  }

  /**
   * Takes a verified value into a get: a final one ends the lookup (returns `true`); a versioned
   * one is merged with what was found so far (the newer version, or the union of sets) and the
   * lookup goes on to the other holders.
   */
  #found(operation: LookupOperation, verified: VerifiedRecord, hop: number): boolean {
    const value = verified.bytes;
    operation.valueHop = Math.max(operation.valueHop, hop);
    if (this.#rules.isFinal(value)) {
      operation.value = value;
      this.#finish(operation, true);
      return true;
    }
    if (operation.value === undefined) {
      operation.value = value;
    } else {
      const merged = this.#rules.merge(operation.value, verified, this.#options.clock.nowMs());
      if (merged.outcome === "replace") operation.value = merged.bytes;
    }
    // A read for update goes on to the closest nodes: it needs their write tokens.
    if (++operation.holders < versionedReadHolders || operation.settles) return false;
    this.#finish(operation, true);
    return true;
  }

  #finish(operation: LookupOperation, completed: boolean): void {
    if (operation.finished) return;
    operation.finished = true;
    this.#lookups.delete(operation);
    const { k } = this.#options.settings.dht;
    const answered = operation.state.closestAnswered(k);
    const closest = answered.map((candidate) => candidate.contact);
    const ok = operation.wantValue
      ? operation.value !== undefined
      : completed && closest.length > 0;
    const rounds = operation.value !== undefined
      ? operation.valueHop
      : answered.reduce((most, candidate) => Math.max(most, candidate.hop), 0);
    const durationMs = this.#options.clock.nowMs() - operation.startMs;
    this.#health.lookupFinished(durationMs, ok);
    operation.done({
      ok,
      closest,
      rounds,
      messages: operation.messages,
      durationMs,
      value: operation.value,
    }, operation);
  }

  /** After a successful get: store the value at the closest node asked that lacked it. */
  #cacheOnPath(operation: LookupOperation, value: Uint8Array): void {
    // Every candidate that answered (a lookup holds at most lookupCandidatesMax), nearest first.
    const lacking = operation.state.closestAnswered(lookupCandidatesMax)
      .find((candidate) => candidate.token !== undefined);
    // A cached copy lives one read extension of the normal class: long enough for a burst of
    // reads (each extends it again, by the holder's store).
    const ttlS = this.#options.settings.store.normal.extension_s;
    if (lacking && ttlS > 0) {
      this.#storeAt(lacking.contact, lacking.token!, operation.state.target, value, ttlS, () => {});
    }
  }

  /**
   * Finds the `replicas` closest nodes to `key` and stores the value at each
   * ({@link #storeAtFound}).
   */
  #storeAtClosest(
    key: NodeId,
    value: Uint8Array,
    ttlS: number,
    replicas: number,
    done: (stored: number, selfAmongClosest: boolean) => void,
    spreadPrefixes = false,
  ): void {
    // Spreading over prefixes needs a few more nodes to choose from than the replicas.
    const width = spreadPrefixes
      ? Math.min(replicas + Math.ceil(replicas / 2), replicasPerRecordMax)
      : replicas;
    this.#lookup(
      key,
      false,
      [],
      (_result, operation) => {
        this.#storeAtFound(operation, value, ttlS, replicas, done, spreadPrefixes);
      },
      undefined,
      false,
      width,
    );
  }

  /**
   * Stores the value at the `replicas` closest nodes a finished lookup found (those whose replies
   * carried a write token); reports the acks, and whether this node is itself among them (fewer
   * answered, or it is closer than the last).
   */
  #storeAtFound(
    operation: LookupOperation,
    value: Uint8Array,
    ttlS: number,
    replicas: number,
    done: (stored: number, selfAmongClosest: boolean) => void,
    spreadPrefixes = false,
  ): void {
    const key = operation.state.target;
    // A read for update settled k nodes: a policy asking for more replicas gets those k, and this
    // node counts among them only by its distance to the k-th, never because fewer than the
    // policy's count exist.
    const count = Math.min(replicas, operation.width);
    const closest = operation.state.closestAnswered(count);
    const selfAmongClosest = closest.length < count ||
      key.compareDistance(this.#self, closest[count - 1].contact.nodeId) < 0;
    const exempt = this.#options.settings.dht.local_ranges_exempt;
    const targets = spreadPrefixes
      ? spreadOverPrefixes(
        operation.state.closestAnswered(operation.width)
          .filter((candidate) => candidate.token !== undefined),
        count,
        (candidate) => networkPrefix(candidate.contact.address, exempt),
      )
      : closest.filter((candidate) => candidate.token !== undefined);
    let waiting = targets.length;
    let stored = 0;
    if (waiting === 0) return done(0, selfAmongClosest);
    // A count no larger than the one other holders pushed lately may be theirs, taken on by this
    // node's policy: not sent on, so a record that cooled at every holder that counts its reads
    // goes back to k once their counts are two periods old, instead of holders echoing it forever.
    const hinted = this.#hintOf(key, this.#options.clock.nowMs()).replicasHint;
    const announced = hinted !== undefined && replicas <= hinted ? undefined : replicas;
    for (const candidate of targets) {
      this.#storeAt(candidate.contact, candidate.token!, key, value, ttlS, (ok) => {
        if (ok) stored++;
        if (--waiting === 0) done(stored, selfAmongClosest);
      }, announced);
    }
  }

  #storeAt(
    contact: Contact,
    token: Uint8Array,
    key: NodeId,
    value: Uint8Array,
    ttlS: number,
    done: (ok: boolean) => void,
    replicas?: number,
  ) {
    const { nodeId: id, address } = contact;
    this.#stats.replicated++;
    // A push at more than k replicas says so: the holders keep the count as a hint, so they push
    // the record at the same count however few of its reads each one served.
    const body = {
      type: MessageType.store,
      key,
      value,
      token,
      ttlS,
      ...(replicas !== undefined && replicas > this.#options.settings.dht.k ? { replicas } : {}),
    } as const;
    if (value.length > datagramValueBytesMax) {
      const streams = this.#options.streams;
      if (!streams || this.#stopped) return done(false);
      const request = this.#message(0, body);
      streams.request(address, id, encodeMessage(request, "stream"), (answer) => {
        const reply = answer && decodeMessage(answer, "stream");
        done(
          reply !== undefined && typeof reply !== "string" && reply.type === MessageType.stored &&
            reply.sender.equals(id) && reply.status === StoreStatus.ok,
        );
      });
      return;
    }
    this.#rpc.request({
      to: address,
      expectedId: id,
      rtt: this.#table.get(id),
      build: (tx) => this.#message(tx, body),
      onReply: (reply) =>
        done(reply.type === MessageType.stored && reply.status === StoreStatus.ok),
      onFail: (reason) => {
        if (reason === "wrongIdentity") this.#dropMisnamedContact(contact);
        done(false);
      },
    });
  }

  // --- the routing table ---

  /**
   * Every valid message updates the table with its sender (DHT clients excepted). `answered`:
   * the message answered one of our requests (a newcomer that only asked is pinged once, so a
   * throwaway identity that never answers is found out before it is handed to others).
   */
  #observe(message: Message, from: PeerAddress, answered: boolean): void {
    if ((message.flags & FLAG_CLIENT) !== 0) return;
    const nowMs = this.#options.clock.nowMs();
    const contact = { nodeId: message.sender, address: from };
    const outcome = this.#table.observe(contact, nowMs, answered);
    if (outcome.kind === "added") {
      this.#peersKnownMax = Math.max(this.#peersKnownMax, this.#table.size);
      if (!answered) this.#probe(contact, false);
      this.#offerValuesTo(contact);
    }
    if (outcome.kind === "standby" && outcome.ping) this.#probe(outcome.ping, true);
  }

  /**
   * Pings a contact: to verify a newcomer, to check a quiet or suspect one, or before evicting
   * it for a newcomer (`evict`: a timeout then removes it at once).
   */
  #probe(contact: Contact, evict: boolean): void {
    const hex = contact.nodeId.toHex();
    if (this.#pinging.has(hex)) return;
    this.#pinging.add(hex);
    this.#rpc.request({
      to: contact.address,
      expectedId: contact.nodeId,
      rtt: this.#table.get(contact.nodeId),
      build: (tx) => this.#message(tx, { type: MessageType.ping }),
      onReply: () => this.#pinging.delete(hex),
      onFail: (reason) => {
        this.#pinging.delete(hex);
        if (reason === "wrongIdentity") this.#dropMisnamedContact(contact);
        if (reason !== "timeout") return;
        this.#peerFailed(contact);
        if (evict) this.#table.remove(contact.nodeId);
      },
    });
  }

  /**
   * A request to a peer failed after every resend: the table counts it (suspect, then dropped),
   * lookups learn to skip the peer, and the log hears of it (rate-limited).
   */
  #peerFailed(contact: Contact): void {
    const nowMs = this.#options.clock.nowMs();
    this.#table.recordFailure(contact.nodeId);
    this.#failed.failed(contact.nodeId, contact.address, nowMs);
    const report = this.#failed.takeReport(nowMs);
    if (report) {
      this.#options.log?.warning(
        "{requests} request(s) to {peers} peer(s) got no answer after every resend since the " +
          "last report; most failures in a row: {worst}. Lookups skip such peers and the " +
          "routing table replaces them",
        { requests: report.requests, peers: report.peers, worst: report.worst.join(", ") },
      );
    }
  }

  /** A contact whose address answers as another node: it leaves the table if it is there. */
  #dropMisnamedContact(contact: Contact): void {
    const entry = this.#table.get(contact.nodeId);
    if (entry && entry.address.equals(contact.address)) this.#table.remove(contact.nodeId);
  }

  /** A peer said it is leaving: drop it, and skip it in lookups until heard from again. */
  #left(id: NodeId, from: PeerAddress): void {
    const entry = this.#table.get(id);
    // Only the address the table knows it at may say so (a stale or forged LEAVE changes nothing).
    if (entry && !entry.address.equals(from)) return;
    this.#table.remove(id);
    this.#failed.left(id, from, this.#options.clock.nowMs());
  }

  /**
   * Hands held values to a newcomer that should now hold them too (the planner decides which:
   * {@link planHandOff}). Asks it for the nodes near each key (its NODES reply carries the token a
   * STORE needs) and stores the value there with the lifetime this copy has left. A FIND_VALUE
   * would say whether it already holds the value, but a FIND_VALUE is a read, and a read extends
   * the holder's copy: hand-offs would keep a value alive that nobody reads or republishes. A
   * copy it already holds takes the STORE as a renewal that changes nothing. Large stores skip
   * this; periodic replication reaches the newcomer within one period.
   */
  #offerValuesTo(newcomer: Contact): void {
    const count = this.#options.store.stats().values;
    if (count === 0 || count > newcomerValuesScanMax) return;
    const plan = planHandOff({
      self: this.#self,
      newcomer: newcomer.nodeId,
      nowMs: this.#options.clock.nowMs(),
      held: this.#heldRecords(),
      table: this.#routingView,
      settings: this.#replicationSettings(),
      policy: this.#replication,
      pushSettleMs: this.#options.settings.dht.lookup_timeout_ms,
    });
    this.#termsCorrected += plan.termsCorrected;
    for (const key of plan.offers) {
      this.#rpc.request({
        to: newcomer.address,
        expectedId: newcomer.nodeId,
        build: (tx) => this.#message(tx, { type: MessageType.findNode, target: key }),
        onReply: (reply) => {
          if (reply.type !== MessageType.nodes) return;
          const current = this.#options.store.get(key);
          if (!current) return;
          const ttlS = remainingTtlS(current.expiresAtMs, this.#options.clock.nowMs());
          if (ttlS > 0) this.#storeAt(newcomer, reply.token, key, current.value, ttlS, () => {});
        },
        onFail: (reason) => {
          if (reason === "wrongIdentity") this.#dropMisnamedContact(newcomer);
        },
      });
    }
  }

  // --- upkeep ---

  /**
   * One upkeep pass: rotates the write tokens, executes the replication plan (deletes expired
   * values, pushes due ones), pings stale contacts and refreshes idle buckets, starting at most
   * `maintenanceLookupsMax` lookups at once.
   */
  #maintain(nowMs: number): void {
    this.#tokens.rotate(nowMs);
    const { dht } = this.#options.settings;
    const store = this.#options.store;
    // The walk reads bookkeeping only; a due value's bytes are read (and checked) when it is sent.
    const plan = planUpkeep({
      self: this.#self,
      nowMs,
      held: this.#heldRecords(),
      settings: this.#replicationSettings(),
      policy: this.#replication,
    });
    for (const key of plan.expired) {
      store.delete(key);
      this.#replicatedMs.delete(key.toHex());
      this.#replicaHints.delete(key.toHex());
      this.#health.forget(key.toHex());
    }
    this.#reportTermsCorrected(plan.termsCorrected);
    const due = plan.pushes.map((push) => () => this.#push(push, nowMs));
    for (const contact of this.#table.staleContacts(nowMs, livenessPingsMax, quietPingsMax)) {
      this.#probe(contact, false);
    }
    for (const index of this.#table.bucketsToRefresh(nowMs, dht.bucket_refresh_s * 1000)) {
      due.push(() => {
        this.#maintenanceLookups++;
        const target = this.#table.randomIdInBucket(index, this.#options.rng);
        this.#lookup(target, false, [], () => this.#maintenanceLookups--);
      });
    }
    for (const start of due) {
      if (this.#maintenanceLookups >= maintenanceLookupsMax) break;
      start();
    }
  }

  /** Executes one planned push: renews the local copy when the terms say so, then stores it. */
  #push(push: PlannedPush, nowMs: number): void {
    this.#replicatedMs.set(push.key.toHex(), nowMs);
    const current = this.#options.store.get(push.key);
    if (!current) return this.#health.forget(push.key.toHex());
    // The same bytes: the store renews its copy without verifying them again.
    if (push.expiresAtMs > current.expiresAtMs) {
      const ttlMs = push.expiresAtMs - nowMs;
      this.#write({ key: push.key, value: current.value, ttlMs, published: current.published });
    }
    this.#maintenanceLookups++;
    this.#storeAtClosest(
      push.key,
      current.value,
      push.ttlS,
      push.replicas,
      (stored, self) => {
        this.#maintenanceLookups--;
        this.#notePush(push.key, stored, self, push.replicas);
        this.#observer?.pushed(push.key, stored + 1, this.#options.clock.nowMs());
      },
      push.spreadPrefixes === true,
    );
  }

  /**
   * Counts a finished push for the metrics: short when fewer nodes hold the record than its
   * replica count, or than every node that could hold it when the table knows fewer.
   */
  #notePush(key: NodeId, stored: number, selfAmongClosest: boolean, replicas: number): void {
    const storesHere = this.#profile.stores_for_others;
    const holders = stored + (storesHere && selfAmongClosest ? 1 : 0);
    const target = Math.min(replicas, this.#table.size + (storesHere ? 1 : 0));
    this.#health.pushed(key.toHex(), holders, target);
  }

  /** The replication planner's settings: the `[dht]` periods and the publisher's lifetime. */
  #replicationSettings(): ReplicationSettings {
    const { dht, store } = this.#options.settings;
    return {
      k: dht.k,
      replicate_s: dht.replicate_s,
      republish_s: dht.republish_s,
      renew_ttl_s: store.personal.ttl_s,
    };
  }

  /** The held values as the replication planner reads them: bookkeeping and push times. */
  *#heldRecords(): Generator<HeldRecord> {
    const nowMs = this.#options.clock.nowMs();
    for (const held of this.#options.store.values()) {
      yield {
        key: held.key,
        kind: held.published ? "published" : "replica",
        expiresAtMs: held.expiresAtMs,
        storedAtMs: held.storedAtMs,
        pushedAtMs: this.#replicatedMs.get(held.key.toHex()),
        ...this.#hintOf(held.key, nowMs),
      };
    }
  }

  /** One held record's bookkeeping, as {@link #heldRecords} gives it. */
  #heldRecordOf(key: NodeId, published: boolean, nowMs: number): HeldRecord {
    const held = this.#options.store.get(key);
    return {
      key,
      kind: published ? "published" : "replica",
      expiresAtMs: held?.expiresAtMs ?? nowMs,
      storedAtMs: held?.storedAtMs ?? nowMs,
      pushedAtMs: this.#replicatedMs.get(key.toHex()),
      ...this.#hintOf(key, nowMs),
    };
  }

  /** The replica count other holders pushed a record at lately, while fresh. */
  #hintOf(key: NodeId, nowMs: number): { replicasHint?: number } {
    const hint = this.#replicaHints.get(key.toHex());
    if (hint === undefined || nowMs - hint.atMs >= this.#replicaHintMs()) return {};
    return { replicasHint: hint.replicas };
  }

  /**
   * How long a pushed replica count is kept: two replication periods, so a holder coming due
   * after a missed push (its pusher crashed) still pushes at the count the record had; a record
   * that cooled stops being pushed at its old count two periods after its last push at it.
   */
  #replicaHintMs(): number {
    return 2 * this.#options.settings.dht.replicate_s * 1000;
  }

  /** The policy's terms for a record, brought into range (a correction is counted). */
  #termsOf(record: HeldRecord) {
    const { terms, corrected } = termsFor(record, {
      settings: this.#replicationSettings(),
      policy: this.#replication,
    });
    if (corrected) this.#termsCorrected++;
    return terms;
  }

  /** Logs, once per upkeep pass, that the policy gave terms out of range (a bug in the policy). */
  #reportTermsCorrected(count: number): void {
    const total = this.#termsCorrected + count;
    this.#termsCorrected = 0;
    if (total === 0) return;
    this.#options.log?.warning(
      "the replication policy gave {count} record(s) terms out of range; they were brought into " +
        "range (replicas 1..{replicasMax}, push interval at least {intervalMsMin} ms, renewal " +
        "0..renew_ttl_s)",
      {
        count: total,
        replicasMax: Math.max(this.#options.settings.dht.k, replicasPerRecordMax),
        intervalMsMin: pushIntervalMsMin,
      },
    );
  }

  #write(
    write: ValueWrite,
    written: (error?: Error, outcome?: ValueWritten) => void = () => {},
  ): void {
    this.#options.store.put(write, (error, outcome) => {
      if (error) {
        this.#options.log?.warning("cannot write value {key}: {error}", {
          key: write.key.toHex(),
          error: error.message,
        });
      }
      written(error, outcome);
    });
  }

  // --- messages ---

  #message(tx: number, body: MessageBody): Message {
    return { ...body, tx, sender: this.#self, flags: this.#flags } as Message;
  }

  #reply(to: PeerAddress, requester: NodeId, tx: number, body: MessageBody): void {
    this.#options.transport.send(to, encodeMessage(this.#message(tx, body)), requester);
  }
}

/** A message without its header. */
type MessageBody = DistributiveOmit<Message, "tx" | "sender" | "flags">;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The STORED status for a store's refusal: its record checks are the DHT's too (a value that does
 * not verify is `invalid`, an older version `stale`); no room (quota, full disk, a failed commit)
 * is `full`; anything else `declined`.
 */
function storeStatusOf(error: Error): number {
  if (!(error instanceof RhizomeError)) return StoreStatus.declined;
  if (error.code === "RECORD_INVALID") return StoreStatus.invalid;
  if (error.code === "RECORD_STALE") return StoreStatus.stale;
  if (error.code === "STORE_FULL") return StoreStatus.full;
  return StoreStatus.declined;
}

/**
 * The network prefix replicas are spread over: the /24 of an IPv4 address, the /48 of an IPv6
 * one; `undefined` (no conflict) for loopback and private addresses when they are exempt.
 */
function networkPrefix(address: PeerAddress, exemptLocal: boolean): string | undefined {
  const wire = sharedWireForm(address);
  if (exemptLocal && isLocal(wire)) return undefined;
  return Array.from(wire.subarray(0, wire.length === 6 ? 3 : 6)).join(".");
}

/**
 * Held values scanned when a newcomer joins nearby. Beyond this, walking the store for every
 * newcomer costs more than it saves; periodic replication reaches the newcomer within a period.
 */
const newcomerValuesScanMax = 1000;
