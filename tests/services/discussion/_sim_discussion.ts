/**
 * The discussion service on simulated DHT nodes, for counting what an operation costs: the
 * simulator's cluster with Rhizome's value and record rules and its stream stand-in (index pages
 * outgrow a datagram after a few entries), each node's service as `deno task sim --workload
 * discussion` builds it, and its request meter (requests an operation costs the network: its
 * node's, resends and streams included, and those other nodes send handling what it caused), on
 * a lossless network so a count depends on the design alone.
 */

import { ed25519KeyPairFromSecretKey } from "../../../src/core/crypto.ts";
import { recordRules } from "../../../src/content/record_rules.ts";
import { SimAsyncDriver } from "../../../src/sim/async_driver.ts";
import { SimCluster } from "../../../src/sim/cluster.ts";
import {
  RequestMeter,
  SimAuthors,
  type SimDiscussionNode,
  SimDiscussionNodes,
} from "../../../src/sim/discussion_nodes.ts";
import { SimNetwork } from "../../../src/sim/network.ts";
import { runOperations } from "../../../src/sim/operations.ts";
import { defaultSettings } from "../../sim/_settings.ts";

/** Virtual time the nodes get to settle after joining (probes, first refreshes), in ms. */
const settleMs = 60_000;

/** The one author every node signs for. */
export const simAuthor = "sim";

/** A network of simulated nodes running the discussion service. */
export class SimDiscussion {
  readonly #network: SimNetwork;
  readonly #driver: SimAsyncDriver;
  readonly #services: SimDiscussionNodes;
  readonly #meter = new RequestMeter();

  /**
   * Builds and joins `count` nodes.
   *
   * @param count Nodes.
   * @param simSeed The run's seed.
   */
  constructor(count: number, simSeed: number) {
    this.#network = new SimNetwork({ simSeed, latencyMsMin: 10, latencyMsMax: 100 });
    const cluster = new SimCluster(this.#network, {
      simSeed,
      settings: defaultSettings(),
      rules: recordRules,
      streams: true,
      observer: this.#meter,
    });
    // What a node sends counts for the operation whose datagrams it is handling.
    this.#network.setCauses((from) => this.#meter.causeOf(cluster.indexOf(from)));
    for (let i = 0; i < count; i++) cluster.add();
    runOperations(this.#network, {
      label: "join",
      count,
      startAtMs: (index) => this.#network.clock.nowMs() + index * 200,
      operationMsMax: 100_000,
    }, (index, done) => cluster.join(index, index === 0 ? [] : [0], done));
    this.#network.run({ untilMs: this.#network.clock.nowMs() + settleMs });
    this.#driver = new SimAsyncDriver(
      this.#network,
      () => new Promise((resolve) => setTimeout(resolve, 0)),
    );
    const authors = new SimAuthors();
    authors.add(simAuthor, ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(7)));
    this.#services = new SimDiscussionNodes(cluster, this.#network, this.#driver, authors.source);
  }

  /**
   * Runs `work` on node `index` to its end, counting the requests it costs.
   *
   * @param index The node.
   * @param work What its service does.
   * @returns The result, the requests it cost the network and those its own node sent.
   */
  async run<T>(
    index: number,
    work: (node: SimDiscussionNode) => Promise<T>,
  ): Promise<{ result: T; requests: number; own: number }> {
    let settled = false;
    this.#meter.open(index);
    const running = work(this.#services.at(index));
    running.then(() => settled = true, () => settled = true);
    this.#driver.wake();
    let counted = { own: 0, elsewhere: 0 };
    try {
      await this.#driver.runUntil(() => settled, `an operation on node ${index}`);
    } finally {
      counted = this.#meter.close(index);
    }
    return { result: await running, requests: counted.own + counted.elsewhere, own: counted.own };
  }
}
