/**
 * Many DHT nodes on one {@link SimNetwork}: deterministic identities and addresses, one in-memory
 * store and one forked generator per node, and the driver's half of the sans-I/O contract: after
 * anything touches a node, its `nextWakeupMs()` is read again and a wake-up queued. Churn is
 * explicit: `join`, `leave` (graceful) and `crash` (the node object is simply dropped).
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { NodeId } from "../core/node_id.ts";
import { Prng, randomBytes, randomInt } from "../core/rng.ts";
import { DhtNode } from "../dht/mod.ts";
import type {
  BootstrapResult,
  Contact,
  DhtNodeOptions,
  DhtSettings,
  GetResult,
  LookupResult,
  PutResult,
  StreamRequester,
  UpdatePut,
} from "../dht/types.ts";
import { PeerAddress } from "../net/address.ts";
import { MemoryValueStore } from "../store/memory_value_store.ts";
import type { RecordRules } from "../store/record_rules.ts";
import { deriveSeed } from "./hash.ts";
import { IndexSet } from "./index_set.ts";
import type { SimCause, SimNetwork } from "./network.ts";

/** The port every simulated node listens on; nodes differ by loopback host. */
export const SIM_PORT = 7447;

/** Host bytes per /24 used for addresses (.1 to .254: no network or broadcast-looking .0/.255). */
const hostsPerBlock = 254;

/** Most nodes one cluster addresses: 127.0.0.0/8 with .0 and .255 host bytes skipped. */
export const SIM_NODES_MAX = hostsPerBlock * 256 * 256;

/**
 * Ticks one node may take at a single virtual instant. After `tick()` nothing should be due at
 * the same instant any more, so a node that keeps asking to wake "now" is livelocked; a handful
 * of repeats is tolerated (a callback may start work that is due at once), a hundred is a bug.
 */
export const SIM_TICKS_PER_INSTANT_MAX = 100;

/**
 * Round trips a simulated stream spends before its request goes out: one, as a TCP connection's
 * handshake. The request then takes one more one-way trip and the answer one back, so a stream
 * request costs two round trips, as on a fresh connection.
 */
export const SIM_STREAM_SETUP_ROUND_TRIPS = 1;

/**
 * How long a simulated stream request to a node that is gone (or is someone else) waits before
 * it fails, in ms: the stream transport's own request timeout (`streamRequestTimeoutMs`), as a
 * connection to a silent host would.
 */
export const SIM_STREAM_TIMEOUT_MS = 10_000;

/** What the cluster needs of a DHT node: the `DhtNode` API. */
export interface SimNode {
  /** Hands the node one datagram. */
  receive(from: PeerAddress, bytes: Uint8Array): void;
  /** Runs whatever is due now. */
  tick(): void;
  /** When `tick()` must next run (`Infinity` if never). */
  nextWakeupMs(): number;
  /** Joins through `seeds` (`[]`: the first node of a new network). */
  bootstrap(seeds: Contact[], done: (result: BootstrapResult) => void): void;
  /** Finds the k closest nodes to `target`. */
  findNode(target: NodeId, done: (result: LookupResult) => void): void;
  /** Finds the value under `key`. */
  get(key: NodeId, done: (result: GetResult) => void): void;
  /** Stores `value` and returns its key. */
  put(value: Uint8Array, done: (result: PutResult) => void): NodeId;
  /** Stores `value` under `key` (a signed record, a set). */
  putAt(key: NodeId, value: Uint8Array, done: (result: PutResult) => void): void;
  /** Reads `key` to update it: the read, and a put to the nodes it found. */
  getForUpdate(key: NodeId, done: (result: GetResult, put: UpdatePut) => void): void;
  /** Answers one request that came by stream from `peer`. */
  answerStream(bytes: Uint8Array, peer: NodeId, done: (answer?: Uint8Array) => void): void;
  /** Leaves gracefully, failing pending operations. */
  stop(): void;
  /** Contacts in the routing table. */
  routingTableSize(): number;
}

/** Builds one node (the real `DhtNode`, or a stand-in for tests). */
export type SimNodeFactory = (options: DhtNodeOptions) => SimNode;

/**
 * The default {@link SimNodeFactory}: the real DHT node.
 *
 * @param options The node's options.
 * @returns A new `DhtNode`.
 */
export function createDhtNode(options: DhtNodeOptions): SimNode {
  return new DhtNode(options);
}

/** How a {@link SimCluster} builds its nodes. */
export interface SimClusterOptions {
  /** Seed of identities, per-node generators and random picks. */
  simSeed: number;
  /** Kademlia parameters, budgets and the stores' record classes, shared by every node. */
  settings: DhtSettings;
  /** How every node's store verifies and merges values; content addressing when absent. */
  rules?: RecordRules;
  /**
   * Builds a node from its options (a stand-in, for tests of the driver itself).
   * @default {@link createDhtNode}
   */
  createNode?: SimNodeFactory;
  /**
   * Whether nodes get a simulated stream transport for values too large for a datagram (sets that
   * grew with their entries): reliable, two round trips of the link's latency per request, not
   * subject to loss or partitions. @default false: such values are refused, as in a DHT without
   * streams
   */
  streams?: boolean;
  /** Sees what each node sends: for counting a node's requests. */
  observer?: SimSendObserver;
}

/** Sees what each node sends, before the network (or the stream) takes it. */
export interface SimSendObserver {
  /**
   * A datagram node `index` sends.
   *
   * @param index The sender.
   * @param bytes The datagram.
   * @param cause What it is caused by (see `SimNetwork.setCauses`).
   */
  datagram(index: number, bytes: Uint8Array, cause: SimCause): void;
  /**
   * A stream request node `index` makes.
   *
   * @param index The requester.
   * @param cause What it is caused by.
   */
  stream(index: number, cause: SimCause): void;
}

/**
 * Where a node is in its life. `idle`: built and attached, not yet joined; `joining`: bootstrap
 * running; `joined` / `failed`: how bootstrap ended (a failed node stays attached); `left` and
 * `crashed`: gone for good.
 */
export type SimNodeState = "idle" | "joining" | "joined" | "failed" | "left" | "crashed";

/** What the cluster keeps per node. */
interface Slot {
  readonly index: number;
  readonly address: PeerAddress;
  readonly nodeId: NodeId;
  readonly store: MemoryValueStore;
  node: SimNode | undefined;
  state: SimNodeState;
  /** Time of the wake-up queued for this node, `Infinity` when none. */
  wakeupMs: number;
  /** Time of the last tick, and how many ticks ran at that time. */
  lastTickMs: number;
  ticksAtLastTickMs: number;
}

/** Counters of the driver's own work. */
export interface SimClusterCounters {
  /** `tick()` calls made. */
  ticks: number;
  /** Wake-ups that popped after being superseded by an earlier one, and were skipped. */
  wakeupsSkipped: number;
  /** Requests made on the simulated stream transport. */
  streamRequests: number;
}

/**
 * The loopback address of node `index`: `127.x.y.z:7447`, host bytes counting from 127.0.0.1 and
 * skipping .0 and .255.
 *
 * @param index 0 to `SIM_NODES_MAX - 1`.
 * @returns The address.
 */
export function simAddress(index: number): PeerAddress {
  assert(Number.isSafeInteger(index) && index >= 0 && index < SIM_NODES_MAX, `bad index ${index}`);
  const z = (index % hostsPerBlock) + 1;
  const y = Math.floor(index / hostsPerBlock) % 256;
  const x = Math.floor(index / hostsPerBlock / 256);
  return PeerAddress.of(`127.${x}.${y}.${z}`, SIM_PORT)!;
}

/**
 * A set of simulated DHT nodes and their wake-ups.
 *
 * Every call into a node goes through the cluster (`join`, `get`, `call`, …) so that its wake-up
 * is rescheduled afterwards. Wake-ups use lazy invalidation: the time of the queued wake-up is
 * kept per node; a new one is queued only when the node wants to wake earlier, and a popped
 * wake-up that no longer matches is skipped. A wake-up that is early is harmless: `tick()` then
 * does nothing and the next one is queued.
 */
export class SimCluster {
  readonly #network: SimNetwork;
  readonly #options: SimClusterOptions;
  readonly #buildPrng: Prng;
  readonly #pickPrng: Prng;
  readonly #slots: Slot[] = [];
  readonly #live = new IndexSet();
  readonly #joined = new IndexSet();
  /** Slots by their address's key. */
  readonly #byAddress = new Map<string, Slot>();
  readonly #counters: SimClusterCounters = { ticks: 0, wakeupsSkipped: 0, streamRequests: 0 };

  /**
   * Makes an empty cluster on `network`.
   *
   * @param network The network (and clock) the nodes share.
   * @param options Seed, settings and node factory.
   */
  constructor(network: SimNetwork, options: SimClusterOptions) {
    this.#network = network;
    this.#options = options;
    this.#buildPrng = new Prng(deriveSeed(options.simSeed, "nodes"));
    this.#pickPrng = new Prng(deriveSeed(options.simSeed, "picks"));
  }

  /** Nodes ever added (indexes run from 0 to `size - 1`). */
  get size(): number {
    return this.#slots.length;
  }

  /** Nodes attached now (any state but `left` and `crashed`). */
  get liveCount(): number {
    return this.#live.size;
  }

  /** Nodes whose bootstrap succeeded and that are still live. */
  get joinedCount(): number {
    return this.#joined.size;
  }

  /**
   * A copy of the counters.
   *
   * @returns The counters now.
   */
  counters(): SimClusterCounters {
    return { ...this.#counters };
  }

  /**
   * Builds a node with the next index, attaches it to the network and queues its first wake-up.
   * It knows nobody until {@link SimCluster.join}.
   *
   * @returns The new node's index.
   */
  add(): number {
    const index = this.#slots.length;
    const nodeId = NodeId.fromPublicKey(randomBytes(this.#buildPrng, new Uint8Array(32)));
    const slot: Slot = {
      index,
      address: simAddress(index),
      nodeId,
      store: new MemoryValueStore({
        clock: this.#network.clock,
        classes: this.#options.settings.store,
        rules: this.#options.rules,
      }),
      node: undefined,
      state: "idle",
      wakeupMs: Infinity,
      lastTickMs: -Infinity,
      ticksAtLastTickMs: 0,
    };
    this.#slots.push(slot);
    this.#byAddress.set(slot.address.key, slot);
    const attached = this.#network.attach(slot.address, (from, bytes) => {
      const node = slot.node;
      if (!node) return;
      node.receive(from, bytes);
      this.#reschedule(slot);
    });
    const observer = this.#options.observer;
    const transport = observer
      ? {
        send: (to: PeerAddress, bytes: Uint8Array, expectedId?: NodeId) => {
          observer.datagram(index, bytes, this.#network.causeOf(slot.address));
          attached.send(to, bytes, expectedId);
        },
      }
      : attached;
    const streams: StreamRequester | undefined = this.#options.streams
      ? {
        request: (to, expectedId, message, done) =>
          this.#stream(slot, to, expectedId, message, done),
      }
      : undefined;
    slot.node = (this.#options.createNode ?? createDhtNode)({
      nodeId,
      address: slot.address,
      clock: this.#network.clock,
      transport,
      store: slot.store,
      rng: this.#buildPrng.fork(),
      settings: this.#options.settings,
      streams,
    });
    this.#live.add(index);
    this.#reschedule(slot);
    return index;
  }

  /**
   * Starts node `index`'s bootstrap through the given nodes (`[]`: it founds a new network).
   *
   * @param index An `idle` node.
   * @param seedIndexes Nodes to join through.
   * @param done Called with the result, after the node's state is updated.
   */
  join(
    index: number,
    seedIndexes: readonly number[],
    done: (result: BootstrapResult) => void = () => {},
  ): void {
    const slot = this.#slot(index);
    assert(slot.state === "idle", `node ${index} cannot join: it is ${slot.state}`);
    slot.state = "joining";
    const seeds = seedIndexes.map((seedIndex) => {
      const seed = this.#slot(seedIndex);
      return { nodeId: seed.nodeId, address: seed.address };
    });
    this.call(index, (node) =>
      node.bootstrap(seeds, (result) => {
        // A node that left or crashed meanwhile keeps that state.
        if (slot.state === "joining") {
          slot.state = result.ok ? "joined" : "failed";
          if (result.ok) this.#joined.add(index);
        }
        done(result);
      }));
  }

  /**
   * Node `index` leaves gracefully: `stop()` (pending operations fail, goodbyes may be sent),
   * then its address is detached.
   *
   * @param index A live node.
   */
  leave(index: number): void {
    const slot = this.#liveSlot(index);
    this.#forget(slot, "left");
    slot.node!.stop();
    this.#network.detach(slot.address);
    slot.node = undefined;
  }

  /**
   * Node `index` crashes: its address is detached and the node object dropped without `stop()`;
   * its pending operations never finish.
   *
   * @param index A live node.
   */
  crash(index: number): void {
    const slot = this.#liveSlot(index);
    this.#forget(slot, "crashed");
    this.#network.detach(slot.address);
    slot.node = undefined;
  }

  /**
   * Runs `fn` on node `index`, then reschedules its wake-up: the one way to call a node.
   *
   * @param index A live node.
   * @param fn What to do with it.
   * @returns What `fn` returns.
   */
  call<T>(index: number, fn: (node: SimNode) => T): T {
    const slot = this.#liveSlot(index);
    const result = fn(slot.node!);
    this.#reschedule(slot);
    return result;
  }

  /**
   * Starts a FIND_VALUE lookup on node `index`.
   *
   * @param index A live node.
   * @param key The key.
   * @param done Called with the result.
   */
  get(index: number, key: NodeId, done: (result: GetResult) => void): void {
    this.call(index, (node) => node.get(key, done));
  }

  /**
   * Starts a FIND_NODE lookup on node `index`.
   *
   * @param index A live node.
   * @param target The ID to look for.
   * @param done Called with the result.
   */
  findNode(index: number, target: NodeId, done: (result: LookupResult) => void): void {
    this.call(index, (node) => node.findNode(target, done));
  }

  /**
   * Publishes `value` from node `index`.
   *
   * @param index A live node.
   * @param value The value.
   * @param done Called with the result.
   * @returns The value's key.
   */
  put(index: number, value: Uint8Array, done: (result: PutResult) => void): NodeId {
    return this.call(index, (node) => node.put(value, done));
  }

  /**
   * Publishes `value` under `key` from node `index` (a signed record or set).
   *
   * @param index A live node.
   * @param key The key; the value must verify under it.
   * @param value The value.
   * @param done Called with the result.
   * @throws {RangeError} When the node refuses the value (too large, or not valid under `key`).
   */
  putAt(index: number, key: NodeId, value: Uint8Array, done: (result: PutResult) => void): void {
    this.call(index, (node) => node.putAt(key, value, done));
  }

  /**
   * Reads `key` for update from node `index`; the put handed to `done` goes through the cluster
   * too, so the node is rescheduled after it.
   *
   * @param index A live node.
   * @param key The key.
   * @param done Called with the read and the put to the nodes it found.
   */
  getForUpdate(
    index: number,
    key: NodeId,
    done: (result: GetResult, put: UpdatePut) => void,
  ): void {
    this.call(
      index,
      (node) =>
        node.getForUpdate(
          key,
          (result, put) =>
            done(
              result,
              (value, putDone, ttlS) => this.call(index, () => put(value, putDone, ttlS)),
            ),
        ),
    );
  }

  /**
   * The state of node `index`.
   *
   * @param index Any added node.
   * @returns Its state.
   */
  state(index: number): SimNodeState {
    return this.#slot(index).state;
  }

  /**
   * The address of node `index`.
   *
   * @param index Any added node.
   * @returns Its address.
   */
  address(index: number): PeerAddress {
    return this.#slot(index).address;
  }

  /**
   * The node at `address`.
   *
   * @param address An address.
   * @returns Its node's index, or `undefined` when no node was added there.
   */
  indexOf(address: PeerAddress): number | undefined {
    return this.#byAddress.get(address.key)?.index;
  }

  /**
   * The ID of node `index`.
   *
   * @param index Any added node.
   * @returns Its ID.
   */
  nodeId(index: number): NodeId {
    return this.#slot(index).nodeId;
  }

  /**
   * The value store of node `index` (kept after it leaves or crashes, for checkers).
   *
   * @param index Any added node.
   * @returns Its store.
   */
  store(index: number): MemoryValueStore {
    return this.#slot(index).store;
  }

  /**
   * The live nodes, ascending.
   *
   * @returns Their indexes.
   */
  liveIndexes(): number[] {
    return this.#live.sorted();
  }

  /**
   * A uniformly random live node, drawn from the cluster's seeded generator.
   *
   * @returns Its index, or `undefined` when none is live.
   */
  pickLive(): number | undefined {
    return pick(this.#live, this.#pickPrng);
  }

  /**
   * A uniformly random joined (bootstrapped and live) node, drawn from the seeded generator.
   *
   * @returns Its index, or `undefined` when none has joined.
   */
  pickJoined(): number | undefined {
    return pick(this.#joined, this.#pickPrng);
  }

  #slot(index: number): Slot {
    const slot = this.#slots[index];
    assert(slot !== undefined, `no node ${index}`);
    return slot;
  }

  #liveSlot(index: number): Slot {
    const slot = this.#slot(index);
    assert(slot.node !== undefined, `node ${index} is not live: it is ${slot.state}`);
    return slot;
  }

  #forget(slot: Slot, state: "left" | "crashed"): void {
    slot.state = state;
    this.#live.delete(slot.index);
    this.#joined.delete(slot.index);
  }

  /**
   * One request on the simulated stream transport: it reaches `to` after the connection's set-up
   * and one trip, the answer comes back one trip later; a node that is gone (or is not
   * `expectedId`) leaves it unanswered until {@link SIM_STREAM_TIMEOUT_MS}.
   */
  #stream(
    from: Slot,
    to: PeerAddress,
    expectedId: NodeId,
    message: Uint8Array,
    done: (answer: Uint8Array | undefined) => void,
  ): void {
    const network = this.#network;
    this.#counters.streamRequests++;
    // The request and its answer travel as timers: they carry its cause themselves.
    const cause = network.causeOf(from.address);
    this.#options.observer?.stream(from.index, cause);
    const startMs = network.clock.nowMs();
    const thereMs = network.linkLatencyMs(from.address, to);
    const backMs = network.linkLatencyMs(to, from.address);
    const answer = (atMs: number, bytes: Uint8Array | undefined) =>
      network.schedule(atMs, () => {
        if (!from.node) return;
        done(bytes);
        this.#reschedule(from);
      }, cause);
    const arriveMs = startMs + SIM_STREAM_SETUP_ROUND_TRIPS * (thereMs + backMs) + thereMs;
    network.schedule(arriveMs, () => {
      const peer = this.#byAddress.get(to.key);
      if (!peer?.node || !peer.nodeId.equals(expectedId)) {
        return answer(Math.max(network.clock.nowMs(), startMs + SIM_STREAM_TIMEOUT_MS), undefined);
      }
      peer.node.answerStream(
        message,
        from.nodeId,
        (bytes) => answer(network.clock.nowMs() + backMs, bytes),
      );
      this.#reschedule(peer);
    }, cause);
  }

  #reschedule(slot: Slot): void {
    const node = slot.node;
    if (!node) return;
    const wakeupMs = node.nextWakeupMs();
    assert(!Number.isNaN(wakeupMs), `node ${slot.index} asked to wake at NaN`);
    if (wakeupMs === Infinity) return;
    const atMs = Math.max(wakeupMs, this.#network.clock.nowMs());
    // An earlier (or equal) wake-up is queued already; it ticks early, which is harmless, and
    // reschedules then.
    if (atMs >= slot.wakeupMs) return;
    slot.wakeupMs = atMs;
    this.#network.schedule(atMs, () => this.#wake(slot, atMs));
  }

  #wake(slot: Slot, atMs: number): void {
    const node = slot.node;
    if (!node || slot.wakeupMs !== atMs) {
      this.#counters.wakeupsSkipped++;
      return;
    }
    slot.wakeupMs = Infinity;
    if (atMs === slot.lastTickMs) {
      slot.ticksAtLastTickMs++;
      assert(
        slot.ticksAtLastTickMs <= SIM_TICKS_PER_INSTANT_MAX,
        `node ${slot.index} is livelocked: ticked ${slot.ticksAtLastTickMs} times at ${atMs} ms`,
      );
    } else {
      slot.lastTickMs = atMs;
      slot.ticksAtLastTickMs = 1;
    }
    this.#counters.ticks++;
    node.tick();
    this.#reschedule(slot);
  }
}

function pick(set: IndexSet, prng: Prng): number | undefined {
  return set.size === 0 ? undefined : set.at(randomInt(prng, set.size));
}
