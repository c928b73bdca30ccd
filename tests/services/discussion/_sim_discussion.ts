/**
 * The discussion service on simulated DHT nodes, for counting what an operation costs: every node
 * a real `DhtNode` with Rhizome's value rules, a store that merges sets as the record store does,
 * and the stream transport stood in by direct calls at link latency (index pages outgrow a
 * datagram after a few entries). Each node has a `DhtRecordNetwork`, a publisher and a reader.
 *
 * The simulator runs synchronously while the service awaits promises, so {@link SimDiscussion.drive}
 * alternates: run the network until a DHT callback fires, then let the promises settle.
 *
 * Requests are counted as the nodes answered them (`DhtStats.requests`), datagram and stream alike.
 */

import { ed25519KeyPairFromSecretKey } from "../../../src/core/crypto.ts";
import type { NodeId } from "../../../src/core/node_id.ts";
import { recordValueRules } from "../../../src/content/dht_rules.ts";
import { DhtNode } from "../../../src/dht/node.ts";
import { MessageType } from "../../../src/dht/messages.ts";
import type { DhtNodeOptions, StreamRequester, ValueRules } from "../../../src/dht/types.ts";
import type { Address } from "../../../src/net/address.ts";
import { DhtRecordNetwork } from "../../../src/services/discussion/dht_record_network.ts";
import { SimCluster } from "../../../src/sim/cluster.ts";
import { SimNetwork } from "../../../src/sim/network.ts";
import { runOperations } from "../../../src/sim/operations.ts";
import { type Author, Publisher } from "../../../src/services/discussion/publisher.ts";
import { Reader } from "../../../src/services/discussion/reader.ts";
import type { StoredValue, ValueStore } from "../../../src/store/value_store.ts";
import { defaultSettings } from "../../sim/_settings.ts";

/** Requests answered across the network, by kind, and those one node sent. */
export interface RequestCounts {
  findNode: number;
  findValue: number;
  store: number;
  ping: number;
  total: number;
  /** Requests the node measured sent: datagrams (resends included) and streams. */
  sent: number;
}

/** One simulated node running the discussion service. */
export interface SimDiscussionNode {
  publisher: Publisher;
  reader: Reader;
  network: DhtRecordNetwork;
}

/** Virtual time the nodes get to settle after joining (probes, first refreshes), in ms. */
const settleMs = 120_000;

/** Virtual time one drive step may run without a DHT callback before it gives up, in ms. */
const driveStepMsMax = 60_000;

/** A network of simulated nodes running the discussion service. */
export class SimDiscussion {
  readonly net: SimNetwork;
  readonly cluster: SimCluster;
  readonly nodes: SimDiscussionNode[] = [];
  readonly #dhts: DhtNode[] = [];
  readonly #indexByAddress = new Map<Address, number>();
  /** Stream requests each node sent. */
  readonly #streamsSent: number[] = [];
  #fired = false;

  /**
   * Builds and joins `count` nodes.
   *
   * @param count Nodes.
   * @param simSeed The run's seed.
   * @param author Signs everything the nodes publish.
   */
  constructor(count: number, simSeed: number, author: Author) {
    this.net = new SimNetwork({ simSeed, latencyMsMin: 10, latencyMsMax: 100 });
    const clock = this.net.clock;
    const rules = recordValueRules(clock);
    this.cluster = new SimCluster(this.net, {
      simSeed,
      settings: defaultSettings(),
      createNode: (options: DhtNodeOptions) => {
        const index = this.#dhts.length;
        this.#indexByAddress.set(options.address, index);
        const node = new DhtNode({
          ...options,
          values: rules,
          store: mergingStore(options.store, rules, () => clock.nowMs()),
          streams: this.#streams(options.address),
        });
        this.#dhts.push(node);
        return node;
      },
    });
    for (let i = 0; i < count; i++) this.cluster.add();
    runOperations(this.net, {
      label: "join",
      count,
      startAtMs: (index) => clock.nowMs() + index * 200,
      operationMsMax: 100_000,
    }, (index, done) => this.cluster.join(index, index === 0 ? [] : [0], done));
    this.net.run({ untilMs: clock.nowMs() + settleMs });
    for (let index = 0; index < count; index++) {
      const dht = this.#dhts[index];
      const fire = <T>(done: (result: T) => void) => (result: T) => {
        this.#fired = true;
        done(result);
      };
      const network = new DhtRecordNetwork({
        dht: {
          putAt: (key, value, done, ttlS) => dht.putAt(key, value, fire(done), ttlS),
          get: (key, done) => dht.get(key, fire(done)),
          getForUpdate: (key, done) =>
            dht.getForUpdate(key, (result, put) => {
              this.#fired = true;
              done(result, (value, putDone, ttlS) => put(value, fire(putDone), ttlS));
            }),
        },
        wake: () => this.cluster.call(index, () => {}),
        peers: () => dht.routingTableSize(),
        startTimer: (delayMs, timerFired) => {
          let cancelled = false;
          this.net.schedule(clock.nowMs() + delayMs, () => {
            if (cancelled) return;
            this.#fired = true;
            timerFired();
          });
          return () => cancelled = true;
        },
        held: { store: this.cluster.store(index), clock },
      });
      const authors = () => Promise.resolve(author);
      this.nodes.push({
        network,
        publisher: new Publisher({ network, clock, authors }),
        reader: new Reader({ network, clock }),
      });
    }
  }

  /**
   * Runs the simulation until `work` settles.
   *
   * @param work What the service does.
   * @returns Its result.
   */
  async drive<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    work.then(() => settled = true, () => settled = true);
    await flush();
    while (!settled) {
      this.#fired = false;
      const stop = this.net.run({
        until: () => this.#fired,
        untilMs: this.net.clock.nowMs() + driveStepMsMax,
      });
      await flush();
      if (!settled && stop !== "condition") throw new Error("the service waits on nothing");
    }
    return await work;
  }

  /**
   * Requests answered by all nodes so far, and those node `origin` sent.
   *
   * @param origin The node whose requests are counted in `sent`.
   * @returns The counts.
   */
  requests(origin: number): RequestCounts {
    const sent = this.#dhts[origin].stats().rpc.sent + (this.#streamsSent[origin] ?? 0);
    const counts = { findNode: 0, findValue: 0, store: 0, ping: 0, total: 0, sent };
    for (const dht of this.#dhts) {
      const { requests } = dht.stats();
      counts.findNode += requests[MessageType.findNode] ?? 0;
      counts.findValue += requests[MessageType.findValue] ?? 0;
      counts.store += requests[MessageType.store] ?? 0;
      counts.ping += requests[MessageType.ping] ?? 0;
    }
    counts.total = counts.findNode + counts.findValue + counts.store + counts.ping;
    return counts;
  }

  /** Stream requests go straight to the addressed node, after the link's latency each way. */
  #streams(from: Address): StreamRequester {
    return {
      request: (to, expectedId, message, done) => {
        const origin = this.#indexByAddress.get(from)!;
        this.#streamsSent[origin] = (this.#streamsSent[origin] ?? 0) + 1;
        const index = this.#indexByAddress.get(to);
        const there = this.net.clock.nowMs() + this.net.linkLatencyMs(from, to);
        this.net.schedule(there, () => {
          if (index === undefined || this.cluster.state(index) !== "joined") return done(undefined);
          this.cluster.call(
            index,
            () =>
              this.#dhts[index].answerStream(message, this.#senderOf(from), (answer) => {
                const back = this.net.clock.nowMs() + this.net.linkLatencyMs(to, from);
                this.net.schedule(back, () => {
                  this.cluster.call(this.#indexByAddress.get(from)!, () => done(answer));
                });
              }),
          );
        });
        void expectedId;
      },
    };
  }

  #senderOf(address: Address): NodeId {
    return this.cluster.nodeId(this.#indexByAddress.get(address)!);
  }
}

/** A fixed author, so every run signs the same. */
export function simAuthor(): Author {
  return { name: "sim", keyPair: ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(7)) };
}

/** Requests between two counts. */
export function requestsBetween(before: RequestCounts, after: RequestCounts): RequestCounts {
  return {
    findNode: after.findNode - before.findNode,
    findValue: after.findValue - before.findValue,
    store: after.store - before.store,
    ping: after.ping - before.ping,
    total: after.total - before.total,
    sent: after.sent - before.sent,
  };
}

/** Lets every pending promise continuation run. */
function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A store that merges a set with the version held, as the record store does. */
function mergingStore(store: ValueStore, rules: ValueRules, nowMs: () => number): ValueStore {
  return new Proxy(store, {
    get(target, property) {
      if (property !== "put") {
        const member = Reflect.get(target, property, target);
        return typeof member === "function" ? member.bind(target) : member;
      }
      return (entry: StoredValue, done: (error?: Error) => void) => {
        const held = target.get(entry.key);
        const value = held === undefined || rules.isFinal(entry.value)
          ? entry.value
          : rules.reconcile(entry.key, held.value, entry.value, nowMs());
        target.put({ ...entry, value }, done);
      };
    },
  });
}
