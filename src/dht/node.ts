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
  maintenanceIntervalMs,
  maintenanceLookupsMax,
  quietPingsMax,
  recordBytesMax,
  versionedReadHolders,
} from "../core/limits.ts";
import type { NodeId } from "../core/node_id.ts";
import { randomInt } from "../core/rng.ts";
import { type Address, sharedWireForm } from "../net/address.ts";
import type { StoredValue } from "../store/value_store.ts";
import { contentAddressedValues, contentKey } from "./content_key.ts";
import { FailedPeers } from "./failed_peers.ts";
import { type Candidate, LookupState } from "./lookup.ts";
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
import { RequestLimiter } from "./request_limiter.ts";
import { RoutingTable } from "./routing_table.ts";
import { RpcClient, type RpcStats } from "./rpc.ts";
import { WriteTokens } from "./tokens.ts";
import type {
  BootstrapResult,
  Contact,
  DhtNodeOptions,
  GetResult,
  LookupResult,
  PutResult,
  UpdatePut,
  ValueRules,
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
  finished: boolean;
  /** Values being fetched by stream (announced by VALUE_REF): the lookup waits for them. */
  streams: number;
  done: (result: GetResult, operation: LookupOperation) => void;
}

/** One node of the Kademlia DHT. */
export class DhtNode {
  readonly #options: DhtNodeOptions;
  readonly #self: NodeId;
  readonly #values: ValueRules;
  readonly #table: RoutingTable;
  readonly #rpc: RpcClient;
  readonly #tokens: WriteTokens;
  readonly #lookups = new Set<LookupOperation>();
  /** Last time each held value was replicated by us or stored to us by another holder. */
  readonly #replicatedMs = new Map<string, number>();
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
   * The most peers the routing table held when a put began: a node whose table has emptied since
   * (its peers left, or it is cut off) still asks for the write quorum instead of taking itself
   * for a one-node network, where its own copy is all there can be.
   */
  #peersKnownMax = 0;
  #stopped = false;
  readonly #stats: Omit<DhtStats, "rpc">;

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
    this.#values = options.values ?? contentAddressedValues;
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
    return this.#table.closest(target, count).map(({ id, address }) => ({ id, address }));
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
   * Handles one datagram. Malformed, oversized or foreign datagrams are counted and dropped;
   * nothing a peer sends makes this throw.
   *
   * @param from The address it came from (as the transport saw it).
   * @param bytes The datagram.
   * @param peer The sender's node ID when the transport authenticated it (the secure channel):
   *   a message naming another sender is dropped, so no node speaks for another.
   */
  receive(from: Address, bytes: Uint8Array, peer?: NodeId): void {
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
      const verdict = this.#limiter.admit(peer?.toHex() ?? from);
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
      const subject = peer?.toHex() ?? from;
      this.#answer(message, subject, "datagram", (body) => this.#reply(from, message.tx, body));
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
   * With no seeds, this node starts a new network.
   *
   * @param seeds Addresses of nodes already in the network.
   * @param done Called once with the outcome.
   */
  bootstrap(seeds: readonly Address[], done: (result: BootstrapResult) => void): void {
    if (seeds.length === 0) {
      this.#options.log?.info("no bootstrap contacts: starting a new network");
      done({ ok: true, contacts: 0 });
      return;
    }
    let waiting = seeds.length;
    let answered = 0;
    const learnt: Contact[] = [];
    const settle = () => {
      if (--waiting > 0) return;
      if (answered === 0) {
        done({ ok: false, contacts: this.#table.size });
        return;
      }
      this.#lookup(this.#self, false, learnt, () => {
        done({ ok: true, contacts: this.#table.size });
      });
    };
    for (const seed of seeds) {
      this.#rpc.request({
        to: seed,
        build: (tx) => this.#message(tx, { type: MessageType.findNode, target: this.#self }),
        onReply: (reply) => {
          answered++;
          if (reply.type === MessageType.nodes) learnt.push(...reply.contacts);
          settle();
        },
        onFail: settle,
      });
    }
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
   */
  get(key: NodeId, done: (result: GetResult) => void): void {
    const nowMs = this.#options.clock.nowMs();
    const held = this.#options.store.get(key);
    const heldValue = held && held.expiresAtMs > nowMs ? new Uint8Array(held.value) : undefined;
    if (heldValue && this.#values.isFinal(heldValue)) {
      done({ ok: true, value: heldValue, closest: [], rounds: 0, messages: 0, durationMs: 0 });
      return;
    }
    this.#lookup(key, true, [], (result, operation) => {
      // Only a final value is cached on the path: a cached version of a set or signed record
      // would not hear of later ones, and a reader meeting it early would get stale entries.
      if (result.value && this.#values.isFinal(result.value)) {
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
   * @param ttlS The copies' lifetime, at most (and by default) `record_ttl_s`.
   *   This node keeps republishing the value while it runs, as for any value it publishes.
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
   * value the node's {@link ValueRules} verify under `key`. Holders merge a set with the version
   * they hold and keep the higher sequence of a signed record.
   *
   * @param key The key; the value must verify under it.
   * @param value The value, within the same size limits as {@link put}.
   * @param done Called once with how many nodes acknowledged it durably.
   * @param ttlS The copies' lifetime, at most (and by default) `record_ttl_s`.
   * @throws {RangeError} When the value is too large or does not verify under `key`.
   */
  putAt(key: NodeId, value: Uint8Array, done: (result: PutResult) => void, ttlS?: number): void {
    this.#checkPut(key, value);
    this.#publishAt(key, value, ttlS, done, (lifetimeS, stored) => {
      this.#storeAtClosest(key, value, lifetimeS, stored);
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
          this.#checkPut(key, value);
          this.#publishAt(key, value, ttlS, putDone, (lifetimeS, stored) => {
            this.#storeAtFound(operation, value, lifetimeS, stored);
          });
        });
      },
      heldValue,
      true,
    );
  }

  /** Refuses a value `putAt` cannot publish: too large, or not verifying under `key`. */
  #checkPut(key: NodeId, value: Uint8Array): void {
    const valueMax = this.#options.streams ? recordBytesMax : datagramValueBytesMax;
    if (value.length > valueMax) {
      throw new RangeError(
        `Cannot store value: size is ${value.length} bytes, limit is ${valueMax}`,
      );
    }
    if (!this.#values.verify(key, value)) {
      throw new RangeError(`Cannot store value: it does not verify under key ${key.toHex()}`);
    }
  }

  /**
   * Writes a value here and has `storeRemote` store it at the k closest; reports once both are
   * done, with the write quorum's verdict.
   */
  #publishAt(
    key: NodeId,
    value: Uint8Array,
    ttlS: number | undefined,
    done: (result: PutResult) => void,
    storeRemote: (
      lifetimeS: number,
      stored: (count: number, selfAmongClosest: boolean) => void,
    ) => void,
  ): void {
    const nowMs = this.#options.clock.nowMs();
    // Every holder caps a copy's lifetime at record_ttl_s: a longer life comes from republishing.
    const { record_ttl_s } = this.#options.settings.dht;
    const lifetimeS = Math.max(1, Math.min(ttlS ?? record_ttl_s, record_ttl_s));
    const expiresAtMs = nowMs + lifetimeS * 1000;
    const storesHere = this.#profile.stores_for_others;
    // As many holders as can exist: this node (when it stores) and the most peers it has known.
    this.#peersKnownMax = Math.max(this.#peersKnownMax, this.#table.size);
    const holdersPossible = Math.min(
      this.#options.settings.dht.k,
      this.#peersKnownMax + (storesHere ? 1 : 0),
    );
    const quorum = Math.max(1, Math.min(this.#options.settings.dht.write_quorum, holdersPossible));
    // Done once both the local copy is durable and the remote STOREs are answered, so a caller
    // told "published" finds the value here even if no other node took it.
    let waiting = 2;
    let stored = 0;
    let selfAmongClosest = false;
    let localError: Error | undefined;
    const settle = () => {
      if (--waiting > 0) return;
      const durationMs = this.#options.clock.nowMs() - nowMs;
      const holders = stored + (storesHere && !localError && selfAmongClosest ? 1 : 0);
      const ok = holders >= quorum && (!storesHere || !localError);
      done({ ok, key, stored, holders, quorum, storesHere, localError, durationMs });
    };
    this.#write({ key, value, expiresAtMs, storedAtMs: nowMs, published: true }, (error) => {
      localError = error;
      settle();
    });
    this.#replicatedMs.set(key.toHex(), nowMs);
    storeRemote(lifetimeS, (count, selfIsClose) => {
      stored = count;
      selfAmongClosest = selfIsClose;
      settle();
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
      for (const contact of recent) this.#options.transport.send(contact.address, leave);
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
          this.#extendOnRead(held, nowMs);
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
      .map(({ id, address }) => ({ id, address }));
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
    const nowMs = this.#options.clock.nowMs();
    const held = this.#options.store.get(request.key);
    if (!this.#values.verify(request.key, request.value, held?.value)) {
      this.#stats.invalidValues++;
      return refuse(StoreStatus.invalid);
    }
    // The sender's remaining lifetime, capped: replicas renewing each other never outlive the
    // publisher's last republish.
    const ttlMs = Math.min(request.ttlS, this.#options.settings.dht.record_ttl_s) * 1000;
    const entry: StoredValue = {
      key: request.key,
      value: request.value,
      expiresAtMs: Math.max(held?.expiresAtMs ?? 0, nowMs + ttlMs),
      storedAtMs: held?.storedAtMs ?? nowMs,
      published: held?.published ?? false,
    };
    // Another holder is replicating this value, so this node need not for a while (Kademlia).
    // A publisher's republish clock is its own: replicas must not postpone the republish. A
    // versioned copy that holds what the sender's lacks must still go out, or it never spreads.
    if (!entry.published && this.#covers(request.key, request.value, held?.value, nowMs)) {
      this.#replicatedMs.set(request.key.toHex(), nowMs);
    }
    // Durable before acknowledged: the reply waits for the store's commit.
    this.#options.store.put(entry, (error) => {
      if (error) {
        const status = storeStatusOf(error);
        // A peer's bad or old value is its problem (counted); a failing store is ours (logged).
        if (status === StoreStatus.invalid) this.#stats.invalidValues++;
        if (status === StoreStatus.declined || status === StoreStatus.full) {
          this.#options.log?.warning("cannot store value {key}: {error}", {
            key: request.key.toHex(),
            error: error.message,
          });
        }
        return refuse(status);
      }
      this.#stats.stored++;
      reply({ type: MessageType.stored, status: StoreStatus.ok });
    });
  }

  /** Whether `incoming` holds all that `held` does (always, for a final value). */
  #covers(key: NodeId, incoming: Uint8Array, held: Uint8Array | undefined, nowMs: number): boolean {
    if (held === undefined || this.#values.isFinal(incoming)) return true;
    // A smaller set cannot hold all of a larger one; skipping the merge then costs at most one
    // replication more (a newer, shorter signed record keeps this node's own schedule).
    if (incoming.length < held.length) return false;
    const merged = this.#values.reconcile(key, held, incoming, nowMs);
    return bytesEqual(merged, incoming);
  }

  /** A read keeps a value alive for at least one more extension period, within the cap. */
  #extendOnRead(held: StoredValue, nowMs: number): void {
    const { record_ttl_extension_s, record_ttl_max_s } = this.#options.settings.dht;
    const extensionMs = record_ttl_extension_s * 1000;
    const capMs = held.storedAtMs + record_ttl_max_s * 1000;
    const expiresAtMs = Math.min(Math.max(held.expiresAtMs, nowMs + extensionMs), capMs);
    // Only write when it moves the expiry by a quarter period: reads of a hot value stay reads.
    if (expiresAtMs - held.expiresAtMs < extensionMs / 4) return;
    this.#write({ ...held, expiresAtMs });
  }

  // --- lookups ---

  #lookup(
    target: NodeId,
    wantValue: boolean,
    extra: readonly Contact[],
    done: (result: GetResult, operation: LookupOperation) => void,
    held?: Uint8Array,
    settles = false,
  ): void {
    const { k, alpha, lookup_timeout_ms } = this.#options.settings.dht;
    const nowMs = this.#options.clock.nowMs();
    // Peers that failed request after request lately are not asked, whoever names them.
    const state = new LookupState(
      target,
      this.#self,
      k,
      alpha,
      (id) => this.#failed.isDead(id, nowMs),
    );
    state.add(this.#table.closest(target, k), 1);
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
      finished: false,
      streams: 0,
      done,
    };
    this.#lookups.add(operation);
    this.#stats.lookups++;
    // A stopped node asks nobody: the lookup ends at once, unanswered, so its caller hears back.
    if (this.#stopped) return this.#finish(operation, false);
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
    const { id, address } = candidate.contact;
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
        if (reply.type === MessageType.nodes) {
          state.answered(candidate, reply.contacts, reply.token);
        } else if (
          reply.type === MessageType.value &&
          this.#values.verify(state.target, reply.value, operation.value)
        ) {
          state.answered(candidate, [], operation.settles ? reply.token : undefined);
          if (this.#found(operation, reply.value, candidate.hop)) return;
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
        if (operation.finished) return;
        operation.messages += attempts;
        state.failed(candidate);
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
    const { id, address } = candidate.contact;
    const key = operation.state.target;
    const request = this.#message(0, { type: MessageType.findValue, key });
    operation.streams++;
    operation.messages++;
    this.#options.streams!.request(address, id, encodeMessage(request, "stream"), (answer) => {
      operation.streams--;
      if (operation.finished) return;
      operation.messages++;
      const reply = answer && decodeMessage(answer, "stream");
      if (
        reply && typeof reply !== "string" && reply.type === MessageType.value &&
        reply.sender.equals(id) && this.#values.verify(key, reply.value, operation.value)
      ) {
        if (this.#found(operation, reply.value, candidate.hop)) return;
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
   * Takes a verified value into a get: a final one ends the lookup (returns `true`); a versioned
   * one is reconciled with what was found so far and the lookup goes on to the other holders.
   */
  #found(operation: LookupOperation, value: Uint8Array, hop: number): boolean {
    const key = operation.state.target;
    operation.valueHop = Math.max(operation.valueHop, hop);
    if (this.#values.isFinal(value)) {
      operation.value = value;
      this.#finish(operation, true);
      return true;
    }
    operation.value = operation.value === undefined
      ? value
      : this.#values.reconcile(key, operation.value, value, this.#options.clock.nowMs());
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
    operation.done({
      ok,
      closest,
      rounds,
      messages: operation.messages,
      durationMs: this.#options.clock.nowMs() - operation.startMs,
      value: operation.value,
    }, operation);
  }

  /** After a successful get: store the value at the closest node asked that lacked it. */
  #cacheOnPath(operation: LookupOperation, value: Uint8Array): void {
    const lacking = operation.state.closestAnswered(1_000)
      .find((candidate) => candidate.token !== undefined);
    // A cached copy lives one extension period: long enough to serve a burst of reads.
    const ttlS = this.#options.settings.dht.record_ttl_extension_s;
    if (lacking && ttlS > 0) {
      this.#storeAt(lacking.contact, lacking.token!, operation.state.target, value, ttlS, () => {});
    }
  }

  /** Finds the k closest nodes to `key` and stores the value at each ({@link #storeAtFound}). */
  #storeAtClosest(
    key: NodeId,
    value: Uint8Array,
    ttlS: number,
    done: (stored: number, selfAmongClosest: boolean) => void,
  ): void {
    this.#lookup(key, false, [], (_result, operation) => {
      this.#storeAtFound(operation, value, ttlS, done);
    });
  }

  /**
   * Stores the value at the k closest nodes a finished lookup found (those whose replies carried
   * a write token); reports the acks, and whether this node is itself among the k closest (fewer
   * than k answered, or it is closer than the k-th).
   */
  #storeAtFound(
    operation: LookupOperation,
    value: Uint8Array,
    ttlS: number,
    done: (stored: number, selfAmongClosest: boolean) => void,
  ): void {
    const key = operation.state.target;
    const { k } = this.#options.settings.dht;
    const closest = operation.state.closestAnswered(k);
    const selfAmongClosest = closest.length < k ||
      key.compareDistance(this.#self, closest[k - 1].contact.id) < 0;
    const targets = closest.filter((candidate) => candidate.token !== undefined);
    let waiting = targets.length;
    let stored = 0;
    if (waiting === 0) return done(0, selfAmongClosest);
    for (const candidate of targets) {
      this.#storeAt(candidate.contact, candidate.token!, key, value, ttlS, (ok) => {
        if (ok) stored++;
        if (--waiting === 0) done(stored, selfAmongClosest);
      });
    }
  }

  #storeAt(
    contact: Contact,
    token: Uint8Array,
    key: NodeId,
    value: Uint8Array,
    ttlS: number,
    done: (ok: boolean) => void,
  ) {
    const { id, address } = contact;
    this.#stats.replicated++;
    if (value.length > datagramValueBytesMax) {
      const streams = this.#options.streams;
      if (!streams || this.#stopped) return done(false);
      const request = this.#message(0, { type: MessageType.store, key, value, token, ttlS });
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
      build: (tx) => this.#message(tx, { type: MessageType.store, key, value, token, ttlS }),
      onReply: (reply) =>
        done(reply.type === MessageType.stored && reply.status === StoreStatus.ok),
      onFail: () => done(false),
    });
  }

  // --- the routing table ---

  /**
   * Every valid message updates the table with its sender (DHT clients excepted). `answered`:
   * the message answered one of our requests (a newcomer that only asked is pinged once, so a
   * throwaway identity that never answers is found out before it is handed to others).
   */
  #observe(message: Message, from: Address, answered: boolean): void {
    if ((message.flags & FLAG_CLIENT) !== 0) return;
    // Only peers whose address can be passed on to others enter the table.
    if (sharedWireForm(from) === undefined) return;
    const nowMs = this.#options.clock.nowMs();
    const contact = { id: message.sender, address: from };
    const outcome = this.#table.observe(contact, nowMs, answered);
    if (outcome.kind === "added") {
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
    const hex = contact.id.toHex();
    if (this.#pinging.has(hex)) return;
    this.#pinging.add(hex);
    this.#rpc.request({
      to: contact.address,
      expectedId: contact.id,
      rtt: this.#table.get(contact.id),
      build: (tx) => this.#message(tx, { type: MessageType.ping }),
      onReply: () => this.#pinging.delete(hex),
      onFail: (reason) => {
        this.#pinging.delete(hex);
        if (reason !== "timeout") return;
        this.#peerFailed(contact);
        if (evict) this.#table.remove(contact.id);
      },
    });
  }

  /**
   * A request to a peer failed after every resend: the table counts it (suspect, then dropped),
   * lookups learn to skip the peer, and the log hears of it (rate-limited).
   */
  #peerFailed(contact: Contact): void {
    const nowMs = this.#options.clock.nowMs();
    this.#table.recordFailure(contact.id);
    this.#failed.failed(contact.id, contact.address, nowMs);
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

  /** A peer said it is leaving: drop it, and skip it in lookups until heard from again. */
  #left(id: NodeId, from: Address): void {
    const entry = this.#table.get(id);
    // Only the address the table knows it at may say so (a stale or forged LEAVE changes nothing).
    if (entry && entry.address !== from) return;
    this.#table.remove(id);
    this.#failed.left(id, from, this.#options.clock.nowMs());
  }

  /**
   * A newcomer that is now among the k closest known nodes to a held value should hold it too,
   * when this node is itself one of the value's k closest (a far publisher or a cache does not
   * hand values out). Ask it for the value (its reply carries the token a STORE needs) and store
   * where it lacks one. Large stores skip this; periodic replication reaches the newcomer within
   * one period.
   */
  #offerValuesTo(newcomer: Contact): void {
    const store = this.#options.store;
    const count = store.stats().values;
    if (count === 0 || count > newcomerValuesScanMax) return;
    const { k, lookup_timeout_ms } = this.#options.settings.dht;
    const nowMs = this.#options.clock.nowMs();
    for (const held of store.values()) {
      // A put or replication round that began within one lookup's time is still finding the
      // current k closest itself; offering now would seed copies from a half-built view.
      const roundMs = this.#replicatedMs.get(held.key.toHex());
      if (roundMs !== undefined && nowMs - roundMs < lookup_timeout_ms) continue;
      // By distance alone: who should hold the value, whether or not they answer well.
      const closest = this.#table.closest(held.key, k, undefined, "distance");
      if (!closest.some((entry) => entry.id.equals(newcomer.id))) continue;
      const farthest = closest[closest.length - 1];
      const responsible = closest.length < k ||
        held.key.compareDistance(this.#self, farthest.id) < 0;
      if (!responsible) continue;
      this.#rpc.request({
        to: newcomer.address,
        expectedId: newcomer.id,
        build: (tx) => this.#message(tx, { type: MessageType.findValue, key: held.key }),
        onReply: (reply) => {
          if (reply.type !== MessageType.nodes) return;
          const current = this.#options.store.get(held.key);
          if (!current) return;
          const ttlS = remainingTtlS(current, this.#options.clock.nowMs());
          if (ttlS > 0) {
            this.#storeAt(newcomer, reply.token, held.key, current.value, ttlS, () => {});
          }
        },
        onFail: () => {},
      });
    }
  }

  // --- upkeep ---

  #maintain(nowMs: number): void {
    this.#tokens.rotate(nowMs);
    const { dht } = this.#options.settings;
    const store = this.#options.store;
    const due: (() => void)[] = [];
    // The walk reads bookkeeping only; a due value's bytes are read (and checked) when it is sent.
    for (const held of store.values()) {
      const hex = held.key.toHex();
      if (held.expiresAtMs <= nowMs) {
        store.delete(held.key);
        this.#replicatedMs.delete(hex);
        continue;
      }
      const lastMs = this.#replicatedMs.get(hex) ?? held.storedAtMs;
      const periodMs = (held.published ? dht.republish_s : dht.replicate_s) * 1000;
      if (nowMs - lastMs < periodMs * this.#jitterOf(held.key)) continue;
      due.push(() => {
        this.#replicatedMs.set(hex, nowMs);
        const current = store.get(held.key);
        if (!current) return;
        if (current.published) {
          const ttlMs = dht.record_ttl_s * 1000;
          this.#write({ ...current, expiresAtMs: Math.max(current.expiresAtMs, nowMs + ttlMs) });
        }
        const ttlS = current.published ? dht.record_ttl_s : remainingTtlS(current, nowMs);
        this.#maintenanceLookups++;
        this.#storeAtClosest(held.key, current.value, ttlS, () => this.#maintenanceLookups--);
      });
    }
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

  /**
   * 1.0 to 1.1, fixed per node and key: holders of one value come due at slightly different
   * times, so the first one's STOREs reset the others' clocks instead of all replicating at once.
   */
  #jitterOf(key: NodeId): number {
    return 1 + (key.byteAt(19) ^ this.#self.byteAt(19)) / 2550;
  }

  #write(entry: StoredValue, written: (error?: Error) => void = () => {}): void {
    this.#options.store.put(entry, (error) => {
      if (error) {
        this.#options.log?.warning("cannot write value {key}: {error}", {
          key: entry.key.toHex(),
          error: error.message,
        });
      }
      written(error);
    });
  }

  // --- messages ---

  #message(tx: number, body: MessageBody): Message {
    return { ...body, tx, sender: this.#self, flags: this.#flags } as Message;
  }

  #reply(to: Address, tx: number, body: MessageBody): void {
    this.#options.transport.send(to, encodeMessage(this.#message(tx, body)));
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

/** Whole seconds a held value has left to live: what a replica of it may be given. */
function remainingTtlS(held: StoredValue, nowMs: number): number {
  return Math.ceil((held.expiresAtMs - nowMs) / 1000);
}

/**
 * Held values scanned when a newcomer joins nearby. Beyond this, walking the store for every
 * newcomer costs more than it saves; periodic replication reaches the newcomer within a period.
 */
const newcomerValuesScanMax = 1000;
