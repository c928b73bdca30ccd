/**
 * Gets through one holder behind a lossy link (issue 14): a client node (mobile type, so it holds
 * no copies) whose only contact is a UDP relay in front of the only holder of every key; the relay
 * drops a share of the datagrams going to the holder, none coming back. Real UDP sockets on
 * loopback, one process, DhtNodes driven by timers (no secure channel: the relay would need the
 * keys).
 *
 * Usage: deno task bench:lossy-get [--loss 0.1,0.3] [--gets 1000] [--seed 1]
 *
 * Prints one JSON object per loss rate: gets, successes, the success share, the latency p50 and
 * p99 in ms, and the relay's counts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Clock } from "../src/core/clock.ts";
import { resolveConfig } from "../src/core/config.ts";
import { NODE_ID_BYTES, NodeId } from "../src/core/node_id.ts";
import { Prng, randomBytes } from "../src/core/rng.ts";
import { CryptoRng } from "../src/node/crypto_rng.ts";
import { contentKey } from "../src/core/content_key.ts";
import { DhtNode } from "../src/dht/node.ts";
import type { DhtSettings, GetResult } from "../src/dht/types.ts";
import type { PeerAddress } from "../src/net/address.ts";
import { UdpTransport } from "../src/net/udp_transport.ts";
import { MemoryValueStore } from "../src/store/memory_value_store.ts";

const clock: Clock = { nowMs: () => performance.timeOrigin + performance.now() };

/** A DhtNode on a real UDP socket, woken by a timer whenever it has something due. */
class DrivenNode {
  readonly node: DhtNode;
  readonly udp: UdpTransport;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  private constructor(node: DhtNode, udp: UdpTransport) {
    this.node = node;
    this.udp = udp;
  }

  static async start(settings: DhtSettings, store: MemoryValueStore): Promise<DrivenNode> {
    let driven: DrivenNode | undefined = undefined;
    const udp = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, (from, bytes) => {
      driven?.node.receive(from, bytes);
      driven?.schedule();
    });
    const nodeId = NodeId.fromBytes(randomBytes(new CryptoRng(), new Uint8Array(NODE_ID_BYTES)));
    const node = new DhtNode({
      nodeId,
      address: udp.address,
      clock,
      transport: udp,
      store,
      rng: new CryptoRng(),
      settings,
    });
    driven = new DrivenNode(node, udp);
    driven.schedule();
    return driven;
  }

  schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    const waitMs = Math.max(0, Math.min(this.node.nextWakeupMs() - clock.nowMs(), 1000));
    this.#timer = setTimeout(() => {
      this.node.tick();
      this.schedule();
    }, waitMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.node.stop();
    await this.udp.close();
  }
}

/** Forwards datagrams between one client and one holder, dropping `loss` of those to the holder. */
async function startRelay(holder: PeerAddress, loss: number, prng: Prng) {
  const counts = { toHolder: 0, dropped: 0, toClient: 0 };
  let client: PeerAddress | undefined;
  let front: UdpTransport | undefined = undefined;
  const back = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, (_from, bytes) => {
    if (client === undefined) return;
    counts.toClient++;
    front!.send(client, bytes);
  });
  front = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, (from, bytes) => {
    client = from;
    counts.toHolder++;
    if (prng.nextUint32() / 2 ** 32 < loss) {
      counts.dropped++;
      return;
    }
    back.send(holder, bytes);
  });
  return {
    address: front.address,
    counts,
    close: async () => {
      await front!.close();
      await back.close();
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function run(loss: number, gets: number, seed: number) {
  const { config } = resolveConfig();
  const settings: DhtSettings = {
    dht: config.dht,
    profile: config.profiles.full,
    store: config.store,
  };
  const holderStore = new MemoryValueStore({ clock, classes: config.store });
  const keys: NodeId[] = [];
  const prng = new Prng(seed);
  for (let i = 0; i < gets; i++) {
    const value = new TextEncoder().encode(`lossy value ${seed} ${i}`);
    const key = contentKey(value);
    holderStore.put({ key, value, ttlMs: 3_600_000, published: false }, () => {});
    keys.push(key);
  }
  const holder = await DrivenNode.start(settings, holderStore);
  const relay = await startRelay(holder.udp.address, loss, prng);
  // A client node (the mobile type): the holder does not hand it copies, so every get asks.
  const clientSettings: DhtSettings = { ...settings, profile: config.profiles.mobile };
  const client = await DrivenNode.start(
    clientSettings,
    new MemoryValueStore({ clock, classes: config.store }),
  );
  const joined = await new Promise<boolean>((resolve) => {
    client.node.bootstrap(
      [{ nodeId: holder.node.id, address: relay.address }],
      (result) => resolve(result.ok),
    );
    client.schedule();
  });
  const durations: number[] = [];
  let successes = 0;
  const startMs = clock.nowMs();
  for (const key of keys) {
    const result = await new Promise<GetResult>((resolve) => {
      client.node.get(key, resolve);
      client.schedule();
    });
    if (result.ok) successes++;
    durations.push(result.durationMs);
  }
  const wallMs = clock.nowMs() - startMs;
  durations.sort((a, b) => a - b);
  const stats = client.node.stats();
  await client.stop();
  await relay.close();
  await holder.stop();
  return {
    loss,
    joined,
    gets,
    successes,
    success: successes / gets,
    latencyMsP50: Math.round(percentile(durations, 0.5)),
    latencyMsP99: Math.round(percentile(durations, 0.99)),
    wallS: Math.round(wallMs / 100) / 10,
    relay: relay.counts,
    clientRetries: stats.rpc.retries,
    clientTimeouts: stats.rpc.timeouts,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      loss: { type: "string", default: "0.1,0.3" },
      gets: { type: "string", default: "1000" },
      seed: { type: "string", default: "1" },
    },
  });
  const gets = Number(values.gets);
  const seed = Number(values.seed);
  const losses = values.loss.split(",").map(Number);
  if (!Number.isInteger(gets) || gets < 1 || losses.some((l) => !(l >= 0 && l < 1))) {
    console.error("usage: bench_lossy_get.ts [--loss 0.1,0.3] [--gets N] [--seed S]");
    Deno.exit(2);
  }
  for (const loss of losses) console.log(JSON.stringify(await run(loss, gets, seed)));
}
