/**
 * Shared fixtures for the DHT tests: settings, seeded IDs, a recording transport, a DhtNode
 * driven by hand on a VirtualClock, and a joined SimCluster.
 */

import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import { resolveConfig } from "../../src/core/config.ts";
import {
  type NodeProfile,
  RECORD_CLASSES,
  type RecordClass,
  type RecordClassPolicy,
} from "../../src/core/config_schema.ts";
import { NODE_ID_BYTES, NodeId } from "../../src/core/node_id.ts";
import { Prng, randomBytes } from "../../src/core/rng.ts";
import { DhtNode } from "../../src/dht/node.ts";
import { decodeMessage, type Message } from "../../src/dht/messages.ts";
import type { DhtSettings, StreamRequester } from "../../src/dht/types.ts";
import type { PeerAddress } from "../../src/net/address.ts";
import type { Transport } from "../../src/net/transport.ts";
import { SimCluster } from "../../src/sim/cluster.ts";
import { SimNetwork } from "../../src/sim/network.ts";
import { runOperations } from "../../src/sim/operations.ts";
import { MemoryValueStore } from "../../src/store/memory_value_store.ts";
import type { RecordRules } from "../../src/store/record_rules.ts";
import { at } from "../_address.ts";

/** The built-in settings of a node type, with some `[dht]` fields and record classes changed. */
export function settingsFor(
  profile: "seed" | "full" | "light" | "mobile" = "full",
  dht: Partial<DhtSettings["dht"]> = {},
  profileChanges: Partial<NodeProfile> = {},
  classChanges: Partial<{ [C in RecordClass]: Partial<RecordClassPolicy> }> = {},
): DhtSettings {
  const { config } = resolveConfig();
  const store = Object.fromEntries(
    RECORD_CLASSES.map((name) => [name, { ...config.store[name], ...classChanges[name] }]),
  ) as Record<RecordClass, RecordClassPolicy>;
  return {
    dht: { ...config.dht, ...dht },
    profile: { ...config.profiles[profile], ...profileChanges },
    store,
  };
}

/** A random node ID from a seeded generator. */
export function randomId(prng: Prng): NodeId {
  return NodeId.fromBytes(randomBytes(prng, new Uint8Array(NODE_ID_BYTES)));
}

/** An ID from 20 bytes given as a short prefix, the rest zero. */
export function idFromPrefix(...prefix: number[]): NodeId {
  const bytes = new Uint8Array(NODE_ID_BYTES);
  bytes.set(prefix);
  return NodeId.fromBytes(bytes);
}

/** `id` with bit `bit` (0 = most significant) flipped. */
export function flipBit(id: NodeId, bit: number): NodeId {
  const bytes = id.toBytes();
  bytes[bit >> 3] ^= 0x80 >> (bit & 7);
  return NodeId.fromBytes(bytes);
}

/** One datagram a node sent. */
export interface Sent {
  to: PeerAddress;
  bytes: Uint8Array;
  /** The node ID the datagram was pinned to. */
  expectedId?: NodeId;
}

/** A transport that only records. */
export class RecordingTransport implements Transport {
  readonly sent: Sent[] = [];

  send(to: PeerAddress, bytes: Uint8Array, expectedId?: NodeId): void {
    this.sent.push({ to, bytes: bytes.slice(), expectedId });
  }

  /** Removes and decodes everything sent so far. */
  take(): { to: PeerAddress; message: Message; expectedId?: NodeId }[] {
    return this.sent.splice(0).map(({ to, bytes, expectedId }) => {
      const message = decodeMessage(bytes);
      assert.ok(
        typeof message !== "string",
        `the node sent an undecodable datagram: ${message}`,
      );
      return { to, message, expectedId };
    });
  }
}

/** A DhtNode driven by hand: a virtual clock, a recording transport, an in-memory store. */
export class NodeHarness {
  readonly clock: VirtualClock;
  readonly transport = new RecordingTransport();
  readonly store: MemoryValueStore;
  readonly node: DhtNode;
  readonly address: PeerAddress;

  constructor(
    seed: number,
    settings: DhtSettings,
    address: PeerAddress = at("10.0.0.1:7447"),
    rules?: RecordRules,
  ) {
    const prng = new Prng(seed);
    this.clock = new VirtualClock(1_735_689_600_000);
    this.store = new MemoryValueStore({ clock: this.clock, classes: settings.store, rules });
    this.address = address;
    this.node = new DhtNode({
      nodeId: randomId(prng),
      address,
      clock: this.clock,
      transport: this.transport,
      store: this.store,
      rng: prng.fork(),
      settings,
    });
  }

  /** Moves the clock forward by `ms`, ticking at every wake-up on the way. */
  advance(ms: number): void {
    const endMs = this.clock.nowMs() + ms;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const wakeMs = Math.max(this.node.nextWakeupMs(), this.clock.nowMs());
      if (wakeMs > endMs) break;
      this.clock.advanceTo(wakeMs);
      this.node.tick();
    }
    this.clock.advanceTo(endMs);
    this.node.tick();
  }
}

/**
 * A node as the secure channel drives it: every datagram comes with its sender's node ID (here
 * taken from the message, since the simulated network has no handshake), so write tokens are
 * bound to node IDs and good on the stream transport too.
 */
class AuthenticatedDhtNode extends DhtNode {
  override receive(from: PeerAddress, bytes: Uint8Array): void {
    const message = decodeMessage(bytes);
    super.receive(from, bytes, typeof message === "string" ? undefined : message.sender);
  }
}

/** A cluster whose nodes all joined, on a lossless network. */
export interface JoinedCluster {
  network: SimNetwork;
  cluster: SimCluster;
  /** The DhtNode objects by index (the cluster exposes them only as SimNode). */
  nodes: DhtNode[];
}

/**
 * Builds `count` nodes, joins them one after another through random joined nodes, then lets
 * the network settle for `settleMs`.
 */
export function joinedCluster(
  simSeed: number,
  count: number,
  settings: DhtSettings,
  options: {
    settleMs?: number;
    settingsOf?: (index: number) => DhtSettings | undefined;
    /** Give every node a stream transport: requests reach the peer's `answerStream` in 20 ms. */
    streams?: boolean;
    /** Record rules for every node's store (which then verifies and merges by them). */
    rules?: RecordRules;
    /** Probability a datagram is lost (joins included). */
    lossRate?: number;
  } = {},
): JoinedCluster {
  const network = new SimNetwork({
    simSeed,
    latencyMsMin: 10,
    latencyMsMax: 100,
    lossRate: options.lossRate ?? 0,
  });
  const nodes: DhtNode[] = [];
  const byAddress = new Map<string, DhtNode>();
  const streamFor = (self: NodeId): StreamRequester => ({
    request(to, expectedId, message, done) {
      const peer = byAddress.get(to.key);
      const later = (action: () => void) => network.schedule(network.clock.nowMs() + 20, action);
      if (!peer || !peer.id.equals(expectedId)) return later(() => done(undefined));
      later(() => peer.answerStream(message, self, (answer) => later(() => done(answer))));
    },
  });
  const cluster = new SimCluster(network, {
    simSeed,
    settings,
    rules: options.rules,
    createNode: (nodeOptions) => {
      const index = nodes.length;
      const nodeSettings = {
        ...nodeOptions,
        settings: options.settingsOf?.(index) ?? nodeOptions.settings,
      };
      const node = options.streams
        ? new AuthenticatedDhtNode({ ...nodeSettings, streams: streamFor(nodeOptions.nodeId) })
        : new DhtNode(nodeSettings);
      nodes.push(node);
      byAddress.set(nodeOptions.address.key, node);
      return node;
    },
  });
  for (let i = 0; i < count; i++) cluster.add();
  runOperations(network, {
    label: "join",
    count,
    startAtMs: (index) => network.clock.nowMs() + index * 300,
    operationMsMax: 100_000,
  }, (index, done) => cluster.join(index, index === 0 ? [] : [cluster.pickJoined() ?? 0], done));
  assert.equal(cluster.joinedCount, count, `every node joined, simSeed ${simSeed}`);
  network.run({ untilMs: network.clock.nowMs() + (options.settleMs ?? 30_000) });
  return { network, cluster, nodes };
}
