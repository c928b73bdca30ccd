/**
 * What our network stack costs per request: authenticated DHT round trips per second that one
 * real node serves on loopback, against a bare UDP echo measured in the same run (issue 5). The
 * ratio between them is the price of the secure channel, the DHT's decoding and answering, and
 * the node's driver (timer re-arming, counters) over what the kernel and node:dgram cost anyway.
 *
 * Every bench in the group runs {@link ROUND_TRIPS} round trips with {@link WINDOW} requests in
 * flight, the datagrams about the size of an encrypted PING ({@link pingDatagramBytes}):
 * - raw node:dgram echo (the baseline): two sockets, the echoer sends back what it gets;
 * - {@link UdpTransport} echo: the same through our transport (copies, address canonicalisation);
 * - {@link SecureChannel} echo: a session's seal and open on both sides, no DHT;
 * - node PING: a {@link RhizomeNode} started in this process (LMDB store in a temp dir), and a
 *   client with its own identity, channel and socket sending encoded DHT PINGs and decoding the
 *   PONGs: everything a peer's request costs the node, and what the client costs itself;
 * - node FIND_NODE: the same with FIND_NODE for random targets, the node's table filled with 20
 *   peers first so each NODES reply carries 20 contacts and a write token (about 580 bytes).
 *
 * Client and node share this process's one JavaScript thread, as both echo ends do: a figure is
 * the throughput of both ends on one core, so the node alone serves more. `scripts/
 * bench_network.ts` measures a node in its own process too. Each iteration starts what it
 * measures afresh (node, handshakes) outside the timed part, and stops it afterwards.
 *
 * Needs `--allow-net`, `--allow-read`, `--allow-write`, `--allow-env` and `--allow-ffi` (LMDB),
 * all in the `bench` task. Without `--allow-sys` the node cannot measure memory and disk; it logs
 * that (to nowhere here) and runs as the `full` type it is given.
 *
 * @module
 */

import { createSocket, type Socket } from "node:dgram";
import { generateEd25519KeyPair } from "../src/core/crypto.ts";
import { resolveConfig } from "../src/core/config.ts";
import { NodeId } from "../src/core/node_id.ts";
import { SystemClock } from "../src/core/system_clock.ts";
import { decodeMessage, encodeMessage, type Message, MessageType } from "../src/dht/messages.ts";
import type { Address } from "../src/net/address.ts";
import { SecureChannel } from "../src/net/secure_channel.ts";
import { DATA_OVERHEAD_BYTES } from "../src/net/session.ts";
import { UdpTransport } from "../src/net/udp_transport.ts";
import { cryptoRandomBytes } from "../src/node/crypto_rng.ts";
import { DataDir } from "../src/node/data_dir.ts";
import { RhizomeNode } from "../src/node/node.ts";

/** Round trips per timed iteration. */
const ROUND_TRIPS = 4_000;
/** Requests in flight at once, as a busy peer's RPC client keeps them. */
const WINDOW = 32;
/** Peers put in the node's table before the FIND_NODE bench: a full NODES reply. */
const TABLE_PEERS = 20;
/** Longest one iteration may wait for its replies before failing (a lost datagram). */
const STALL_MS = 30_000;
const ITERATIONS = { n: 10, warmup: 2 };
const GROUP = `loopback round trips, ${WINDOW} in flight`;

const clock = new SystemClock();
const { config } = resolveConfig({
  overrides: [{ path: "node.listen", value: "127.0.0.1:0", origin: "bench" }],
});

/** A transaction ID as the RPC client draws them: a random 32-bit number (5 bytes packed). */
const txBase = 0x80000000;

/** The datagram an encrypted PING makes: the size every echo bench sends. */
const pingDatagramBytes = encodeMessage({
  type: MessageType.ping,
  tx: txBase,
  sender: NodeId.fromPublicKey(generateEd25519KeyPair().publicKey),
  flags: 0,
}).length + DATA_OVERHEAD_BYTES;

/**
 * Sends `total` requests, `window` at a time: `send(i)` sends request `i`, and the returned
 * `answered` is to be called once per reply. `done` resolves after the last reply and rejects
 * when replies stop coming for {@link STALL_MS}.
 */
function windowed(
  total: number,
  window: number,
  send: (index: number) => void,
): { answered: () => void; start: () => void; abort: (error: Error) => void; done: Promise<void> } {
  let sent = 0;
  let received = 0;
  let finish = () => {};
  let fail = (_error: Error) => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      fail(new Error(`stalled: ${received} of ${total} replies after ${sent} sends`));
    }, STALL_MS);
  };
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  }).finally(() => clearTimeout(timer));
  return {
    answered() {
      received++;
      if (received === total) finish();
      else if (sent < total) send(sent++);
      if (received % 512 === 0) watch();
    },
    abort: (error) => fail(error),
    start() {
      watch();
      while (sent < Math.min(window, total)) send(sent++);
    },
    done,
  };
}

function rawBind(): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: "udp4" });
    socket.bind({ address: "127.0.0.1", port: 0 }, () => resolve(socket));
  });
}

function rawClose(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** The baseline: two node:dgram sockets, the echoer returning each datagram as it came. */
async function rawEcho(b: Deno.BenchContext): Promise<void> {
  const echoer = await rawBind();
  const pinger = await rawBind();
  const echoPort = echoer.address().port;
  const payload = new Uint8Array(pingDatagramBytes);
  echoer.on("message", (message, from) => echoer.send(message, from.port, from.address));
  const run = windowed(ROUND_TRIPS, WINDOW, () => pinger.send(payload, echoPort, "127.0.0.1"));
  pinger.on("message", run.answered);
  b.start();
  run.start();
  await run.done;
  b.end();
  await rawClose(pinger);
  await rawClose(echoer);
}

/** The same echo through two {@link UdpTransport}s. */
async function transportEcho(b: Deno.BenchContext): Promise<void> {
  const payload = new Uint8Array(pingDatagramBytes);
  const echoer: UdpTransport = await UdpTransport.bind(
    { host: "127.0.0.1", port: 0 },
    (from, bytes) => echoer.send(from, bytes),
  );
  let answered = () => {};
  const pinger = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, () => answered());
  const run = windowed(ROUND_TRIPS, WINDOW, () => pinger.send(echoer.address, payload));
  answered = run.answered;
  b.start();
  run.start();
  await run.done;
  b.end();
  await pinger.close();
  await echoer.close();
}

/** A DHT message before the sender fills in its ID and flags. */
type WithoutHeader<T> = T extends unknown ? Omit<T, "sender" | "flags"> : never;

/** One side of a secure-channel link: an identity, a socket and a channel over it. */
class Endpoint {
  readonly keyPair = generateEd25519KeyPair();
  readonly id: NodeId = NodeId.fromPublicKey(this.keyPair.publicKey);
  /** Called with each plaintext received, and who sent it from where. */
  onPlaintext: (from: Address, peer: NodeId, plaintext: Uint8Array) => void = () => {};
  #udp!: UdpTransport;
  #channel!: SecureChannel;

  static async open(): Promise<Endpoint> {
    const endpoint = new Endpoint();
    endpoint.#udp = await UdpTransport.bind(
      { host: "127.0.0.1", port: 0 },
      (from, bytes) => {
        const received = endpoint.#channel.receive(from, bytes);
        if (received) endpoint.onPlaintext(from, received.peer, received.plaintext);
      },
    );
    endpoint.#channel = new SecureChannel({
      identity: endpoint.keyPair,
      clock,
      transport: endpoint.#udp,
      randomBytes: cryptoRandomBytes,
    });
    return endpoint;
  }

  get address(): Address {
    return this.#udp.address;
  }

  send(to: Address, peer: NodeId, plaintext: Uint8Array): void {
    this.#channel.send(to, peer, plaintext);
  }

  /** Sends a DHT message from this endpoint's identity. */
  request(to: Address, peer: NodeId, message: WithoutHeader<Message>): void {
    this.send(to, peer, encodeMessage({ ...message, sender: this.id, flags: 0 } as Message));
  }

  /** Drives handshake retries until `ready()` holds; throws after 10 s. */
  async until(what: string, ready: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      this.#channel.tick();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  close(): Promise<void> {
    return this.#udp.close();
  }
}

/** A peer the node may ask things: it answers PINGs, and hands other DHT replies on. */
async function dhtEndpoint(onReply: (message: Message) => void): Promise<Endpoint> {
  const endpoint = await Endpoint.open();
  endpoint.onPlaintext = (from, peer, plaintext) => {
    const message = decodeMessage(plaintext);
    if (typeof message === "string") return;
    if (message.type === MessageType.ping) {
      endpoint.request(from, peer, { type: MessageType.pong, tx: message.tx });
    } else if (message.type % 2 === 0) {
      onReply(message);
    }
  };
  return endpoint;
}

/** The echo through a session: seal, send, open, seal back, open. */
async function channelEcho(b: Deno.BenchContext): Promise<void> {
  const plaintext = new Uint8Array(pingDatagramBytes - DATA_OVERHEAD_BYTES);
  const echoer = await Endpoint.open();
  const pinger = await Endpoint.open();
  echoer.onPlaintext = (from, peer, bytes) => echoer.send(from, peer, bytes);
  let answered = () => {};
  let warm = false;
  pinger.onPlaintext = () => {
    warm = true;
    answered();
  };
  try {
    pinger.send(echoer.address, echoer.id, plaintext);
    await pinger.until("the echo's handshake", () => warm);
    const run = windowed(
      ROUND_TRIPS,
      WINDOW,
      () => pinger.send(echoer.address, echoer.id, plaintext),
    );
    answered = run.answered;
    b.start();
    run.start();
    await run.done;
    b.end();
  } finally {
    await pinger.close();
    await echoer.close();
  }
}

/** A fresh node in a temp dir for `body`; stopped and removed afterwards. */
async function withNode(
  body: (node: RhizomeNode, address: Address) => Promise<void>,
): Promise<void> {
  const path = await Deno.makeTempDir({ prefix: "rhizome-node-bench-" });
  try {
    const node = await RhizomeNode.start({ dataDir: new DataDir(path), config, flagType: "full" });
    try {
      await body(node, node.status().listen as Address);
    } finally {
      await node.stop("the bench is done");
    }
  } finally {
    await Deno.remove(path, { recursive: true });
  }
}

/** Authenticated DHT requests to a node in this process: PING or FIND_NODE. */
async function nodeRoundTrips(b: Deno.BenchContext, kind: "ping" | "findNode"): Promise<void> {
  await withNode(async (node, address) => {
    const endpoints: Endpoint[] = [];
    try {
      if (kind === "findNode") {
        // Peers that PING the node enter its table (their flags say they are not clients).
        let pongs = 0;
        for (let i = 0; i < TABLE_PEERS; i++) {
          const peer = await dhtEndpoint(() => pongs++);
          endpoints.push(peer);
          peer.request(address, node.nodeId, { type: MessageType.ping, tx: txBase });
        }
        await endpoints[0].until("the table's peers", () => pongs === TABLE_PEERS);
        if (node.status().contacts !== TABLE_PEERS) throw new Error("the peers were not added");
      }
      const targets = Array.from({ length: 64 }, () => NodeId.fromBytes(cryptoRandomBytes(20)));
      const expected = kind === "ping" ? MessageType.pong : MessageType.nodes;
      let run: ReturnType<typeof windowed> | undefined;
      let warm = false;
      const client = await dhtEndpoint((reply) => {
        if (reply.type !== expected) run?.abort(new Error(`unexpected reply type ${reply.type}`));
        warm = true;
        run?.answered();
      });
      endpoints.push(client);
      const send = (index: number) => {
        const tx = (txBase + index) >>> 0;
        if (kind === "ping") client.request(address, node.nodeId, { type: MessageType.ping, tx });
        else {
          const target = targets[index % targets.length];
          client.request(address, node.nodeId, { type: MessageType.findNode, tx, target });
        }
      };
      send(0);
      await client.until("the client's handshake", () => warm);
      run = windowed(ROUND_TRIPS, WINDOW, send);
      b.start();
      run.start();
      await run.done;
      b.end();
    } finally {
      for (const endpoint of endpoints) await endpoint.close();
    }
  });
}

const suffix = `${ROUND_TRIPS} round trips`;

Deno.bench({
  name: `raw node:dgram echo, ${pingDatagramBytes} B, ${suffix}`,
  group: GROUP,
  baseline: true,
  ...ITERATIONS,
  // Async functions: Deno.bench awaits only those, not a function that returns a promise.
  fn: async (b) => await rawEcho(b),
});

Deno.bench({
  name: `UdpTransport echo, ${pingDatagramBytes} B, ${suffix}`,
  group: GROUP,
  ...ITERATIONS,
  fn: async (b) => await transportEcho(b),
});

Deno.bench({
  name: `SecureChannel echo, ${pingDatagramBytes} B, ${suffix}`,
  group: GROUP,
  ...ITERATIONS,
  fn: async (b) => await channelEcho(b),
});

Deno.bench({
  name: `node PING → PONG, ${suffix}`,
  group: GROUP,
  ...ITERATIONS,
  fn: async (b) => await nodeRoundTrips(b, "ping"),
});

Deno.bench({
  name: `node FIND_NODE → NODES (${TABLE_PEERS} contacts), ${suffix}`,
  group: GROUP,
  ...ITERATIONS,
  fn: async (b) => await nodeRoundTrips(b, "findNode"),
});
