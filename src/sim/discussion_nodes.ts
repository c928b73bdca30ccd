/**
 * The discussion service on simulated nodes: each node's `RecordNetwork` is the service's own DHT
 * adapter (`DhtRecordNetwork`, as a real node runs it) over the node's DHT core, with virtual
 * deadlines and the node's memory store; a publisher and a reader on top. Also the meter that
 * counts the requests (RPCs) a node sends while an operation runs on it.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import type { Clock } from "../core/clock.ts";
import type { Ed25519KeyPair } from "../core/crypto.ts";
import { ContentError } from "../core/errors.ts";
import { decodeMessage, MessageType } from "../dht/messages.ts";
import {
  type AuthorSource,
  DhtRecordNetwork,
  Publisher,
  Reader,
} from "../services/discussion/mod.ts";
import type { SimAsyncDriver } from "./async_driver.ts";
import type { SimCluster, SimSendObserver } from "./cluster.ts";
import type { SimCause, SimNetwork } from "./network.ts";

/**
 * The simulator's clock in whole milliseconds, as the services see a real node's: node wake-ups
 * land on fractions of a millisecond (timers from measured round trips), and a record's creation
 * time or sequence must be a whole number.
 *
 * @param clock The virtual clock.
 * @returns The same time, rounded down to the millisecond.
 */
export function wholeMsClock(clock: Clock): Clock {
  return { nowMs: () => Math.floor(clock.nowMs()) };
}

/** The discussion service as one simulated node runs it. */
export interface SimDiscussionNode {
  /** The node's record network: the DHT adapter a real node uses. */
  records: DhtRecordNetwork;
  /** Publishes for any of the simulation's authors. */
  publisher: Publisher;
  /** Reads listings and threads. */
  reader: Reader;
}

/**
 * The discussion service's DHT adapter on simulated node `index`: puts and gets go to the node
 * through the cluster (which reschedules it), read deadlines are virtual timers, and a read out
 * of time falls back on the node's memory store. Every callback that settles one of its promises
 * wakes the driver, so the service's continuations run at the instant they were settled.
 *
 * @param cluster The cluster.
 * @param network Its network (the clock and the timers).
 * @param index A live node.
 * @param driver The driver that runs the continuations.
 * @returns The adapter.
 */
export function simRecordNetwork(
  cluster: SimCluster,
  network: SimNetwork,
  index: number,
  driver: SimAsyncDriver,
): DhtRecordNetwork {
  return new DhtRecordNetwork({
    dht: {
      putAt: (key, value, done) =>
        cluster.putAt(index, key, value, (result) => {
          driver.wake();
          done(result);
        }),
      get: (key, done) =>
        cluster.get(index, key, (result) => {
          driver.wake();
          done(result);
        }),
      getForUpdate: (key, done) =>
        cluster.getForUpdate(index, key, (result, put) => {
          driver.wake();
          done(result, (value, putDone, ttlS) =>
            put(value, (putResult) => {
              driver.wake();
              putDone(putResult);
            }, ttlS));
        }),
    },
    // Every call goes through the cluster, which reschedules the node itself.
    wake: () => {},
    peers: () => cluster.call(index, (node) => node.routingTableSize()),
    startTimer: (delayMs, fire) => {
      let live = true;
      network.schedule(network.clock.nowMs() + delayMs, () => {
        if (!live) return;
        driver.wake();
        fire();
      });
      return () => {
        live = false;
      };
    },
    held: { store: cluster.store(index), clock: wholeMsClock(network.clock) },
  });
}

/** The simulation's author keys, by name. */
export class SimAuthors {
  readonly #keys = new Map<string, Ed25519KeyPair>();

  /**
   * Adds an author.
   *
   * @param name Its name.
   * @param keyPair Its key.
   */
  add(name: string, keyPair: Ed25519KeyPair): void {
    assert(!this.#keys.has(name), `author ${name} added twice`);
    this.#keys.set(name, keyPair);
  }

  /** The source a publisher loads keys from. */
  readonly source: AuthorSource = (name) => {
    const keyPair = name === undefined ? undefined : this.#keys.get(name);
    if (keyPair === undefined) {
      return Promise.reject(new ContentError("AUTHOR_MISSING", `No author ${name}`));
    }
    return Promise.resolve({ name: name!, keyPair });
  };
}

/**
 * The discussion service of each node, built the first time the node is used (a 10,000-node run
 * uses a few hundred of them).
 */
export class SimDiscussionNodes {
  readonly #cluster: SimCluster;
  readonly #network: SimNetwork;
  readonly #driver: SimAsyncDriver;
  readonly #authors: AuthorSource;
  readonly #nodes = new Map<number, SimDiscussionNode>();

  /**
   * Makes the set, empty.
   *
   * @param cluster The cluster.
   * @param network Its network.
   * @param driver The driver that runs the services' continuations.
   * @param authors Where publishers load author keys.
   */
  constructor(
    cluster: SimCluster,
    network: SimNetwork,
    driver: SimAsyncDriver,
    authors: AuthorSource,
  ) {
    this.#cluster = cluster;
    this.#network = network;
    this.#driver = driver;
    this.#authors = authors;
  }

  /** Nodes whose service was built. */
  get size(): number {
    return this.#nodes.size;
  }

  /**
   * The service on node `index`.
   *
   * @param index A live node.
   * @returns Its service.
   */
  at(index: number): SimDiscussionNode {
    const held = this.#nodes.get(index);
    if (held) return held;
    const records = simRecordNetwork(this.#cluster, this.#network, index, this.#driver);
    const clock = wholeMsClock(this.#network.clock);
    const node = {
      records,
      publisher: new Publisher({ network: records, clock, authors: this.#authors }),
      reader: new Reader({ network: records, clock }),
    };
    this.#nodes.set(index, node);
    return node;
  }
}

/** Message types that are requests: each is one RPC (a reply or a LEAVE is not). */
const requestTypes: ReadonlySet<number> = new Set([
  MessageType.ping,
  MessageType.findNode,
  MessageType.findValue,
  MessageType.store,
]);

/** The requests an operation caused so far: by its own node, and by the others. */
interface RequestCount {
  /** The node the operation runs on. */
  readonly node: number;
  own: number;
  elsewhere: number;
}

function tally(count: RequestCount, sender: number): void {
  if (sender === count.node) count.own++;
  else count.elsewhere++;
}

/**
 * Counts the requests (RPCs) an operation costs the network: those its node sends while the
 * operation runs (datagram requests with their resends, and stream requests), and those other
 * nodes send while handling a datagram the operation caused, directly or down a chain (a holder
 * that passes work on). Each operation gets its own cause (see `SimNetwork.setCauses`): the
 * node's own upkeep meanwhile counts with it; work another node defers to a timer of its own does
 * not.
 */
export class RequestMeter implements SimSendObserver {
  /** The cause of the operation running on each metered node. */
  readonly #causes = new Map<number, number>();
  /** Requests counted per open cause: the operation's node's own, and the others'. */
  readonly #counts = new Map<number, RequestCount>();
  #nextCause = 1;

  /**
   * Opens the count of an operation on node `index`.
   *
   * @param index A node with no count open.
   */
  open(index: number): void {
    assert(!this.#causes.has(index), `node ${index} is metered twice at once`);
    const cause = this.#nextCause++;
    this.#causes.set(index, cause);
    this.#counts.set(cause, { node: index, own: 0, elsewhere: 0 });
  }

  /**
   * Closes the count of the operation on node `index`; datagrams it caused that are still in
   * flight count for nothing.
   *
   * @param index A node with a count open.
   * @returns The requests counted since {@link RequestMeter.open}: the node's own, and those
   *   other nodes sent handling what it caused.
   */
  close(index: number): { own: number; elsewhere: number } {
    const cause = this.#causes.get(index);
    assert(cause !== undefined, `node ${index} is not metered`);
    const { own, elsewhere } = this.#counts.get(cause)!;
    this.#causes.delete(index);
    this.#counts.delete(cause);
    return { own, elsewhere };
  }

  /**
   * The cause node `index` gives what it sends: its operation's, while one runs.
   *
   * @param index A node, or `undefined` (an address with no node).
   * @returns The cause, or `undefined`.
   */
  causeOf(index: number | undefined): SimCause {
    return index === undefined ? undefined : this.#causes.get(index);
  }

  /**
   * Counts a datagram that is a request with an open cause.
   *
   * @param index The sender.
   * @param bytes The datagram.
   * @param cause Its cause.
   */
  datagram(index: number, bytes: Uint8Array, cause: SimCause): void {
    const count = cause === undefined ? undefined : this.#counts.get(cause);
    if (count === undefined) return;
    const message = decodeMessage(bytes);
    if (typeof message !== "string" && requestTypes.has(message.type)) tally(count, index);
  }

  /**
   * Counts a stream request with an open cause.
   *
   * @param index The requester.
   * @param cause Its cause.
   */
  stream(index: number, cause: SimCause): void {
    const count = cause === undefined ? undefined : this.#counts.get(cause);
    if (count !== undefined) tally(count, index);
  }
}
