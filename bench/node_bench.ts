/**
 * What our network stack costs per request: authenticated DHT round trips per second that one
 * real node serves on loopback, against a bare UDP echo measured in the same run (issue 5). The
 * ratio between them is the price of the secure channel, the DHT's decoding and answering, and
 * the node's driver (request limiter, timer re-arming, counters) over what the kernel and
 * node:dgram cost anyway.
 *
 * Every bench in the group runs {@link ROUND_TRIPS} round trips with {@link WINDOW} requests in
 * flight, the datagrams about the size of an encrypted PING ({@link pingDatagramBytes}, 72 B):
 * - raw node:dgram echo (the baseline): two sockets, the echoer sends back what it gets;
 * - {@link UdpTransport} echo: the same through our transport (copies, address canonicalisation);
 * - SecureChannel echo: a session's seal and open on both sides, no DHT;
 * - node PING: a {@link RhizomeNode} started in this process (LMDB store in a temp dir), and a
 *   client with its own identity, channel and socket sending encoded DHT PINGs and decoding the
 *   PONGs: everything a peer's request costs the node, and what the client costs itself;
 * - node FIND_NODE: the same with FIND_NODE for random targets, the node's table filled with 20
 *   peers first so each NODES reply carries 20 contacts and a write token (about 580 bytes).
 *
 * Client and node share this process's one JavaScript thread, as both echo ends do: a figure is
 * the throughput of both ends on one core, so a node alone serves more. `scripts/
 * bench_network.ts` measures a node in its own process too. Each iteration starts what it
 * measures afresh (node, sockets, handshakes) outside the timed part, and stops it afterwards.
 *
 * Needs `--allow-net`, `--allow-read`, `--allow-write`, `--allow-env` and `--allow-ffi` (LMDB),
 * all in the `bench` task. Without `--allow-sys` the node cannot measure memory and disk; it notes
 * that (in a log nobody reads here) and runs as the `full` type it is given.
 *
 * @module
 */

import { resolveConfig } from "../src/core/config.ts";
import { NodeId } from "../src/core/node_id.ts";
import { type Message, MessageType } from "../src/dht/messages.ts";
import type { PeerAddress } from "../src/net/address.ts";
import { DATA_OVERHEAD_BYTES } from "../src/net/session.ts";
import { UdpTransport } from "../src/net/udp_transport.ts";
import { cryptoRandomBytes } from "../src/node/crypto_rng.ts";
import { DataDir } from "../src/node/data_dir/paths.ts";
import { RhizomeNode } from "../src/node/node.ts";
import {
  dhtEndpoint,
  Endpoint,
  pingDatagramBytes,
  rawBind,
  rawClose,
  txBase,
  WINDOW,
  windowed,
  type WindowedRun,
} from "./_loopback_rpc.ts";

/** Round trips per timed iteration: long enough that start-up noise does not matter. */
const ROUND_TRIPS = 4_000;
/** Peers put in the node's table before the FIND_NODE bench: a full NODES reply. */
const TABLE_PEERS = 20;
const ITERATIONS = { n: 10, warmup: 2 };
const GROUP = `loopback round trips, ${WINDOW} in flight`;

/**
 * The node's settings: defaults, a random loopback port, and the request limits lifted. By
 * default a node admits 50 requests a second from one peer address (bursts of 200) and 5,000 from
 * all (`[dht]` `peer_requests_per_s`, `requests_per_s`): this bench measures the stack, so the
 * limiter still runs on every request but never refuses one.
 */
const { config } = resolveConfig({
  overrides: [
    { path: "node.listen", value: "127.0.0.1:0" },
    { path: "dht.peer_requests_per_s", value: 1_000_000 },
    { path: "dht.peer_requests_burst", value: 1_000_000 },
    { path: "dht.requests_per_s", value: 10_000_000 },
    { path: "dht.requests_burst", value: 10_000_000 },
  ].map((setting) => ({ ...setting, origin: "bench" })),
});

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

/** The echo through a session: seal, send, open, seal back, send, open. */
async function channelEcho(b: Deno.BenchContext): Promise<void> {
  const plaintext = new Uint8Array(pingDatagramBytes - DATA_OVERHEAD_BYTES);
  const echoer = await Endpoint.open();
  const pinger = await Endpoint.open();
  echoer.onPlaintext = (from, peer, bytes) => echoer.send(from, peer, bytes);
  let run: WindowedRun | undefined;
  let warm = false;
  pinger.onPlaintext = () => {
    warm = true;
    run?.answered();
  };
  try {
    pinger.send(echoer.address, echoer.id, plaintext);
    await pinger.until("the echo's handshake", () => warm);
    run = windowed(ROUND_TRIPS, WINDOW, () => pinger.send(echoer.address, echoer.id, plaintext));
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
  body: (node: RhizomeNode, address: PeerAddress) => Promise<void>,
): Promise<void> {
  const path = await Deno.makeTempDir({ prefix: "rhizome-node-bench-" });
  try {
    const node = await RhizomeNode.start({ dataDir: new DataDir(path), config, flagType: "full" });
    try {
      await body(node, node.status().listen as PeerAddress);
    } finally {
      await node.stop("the bench is done");
    }
  } finally {
    await Deno.remove(path, { recursive: true });
  }
}

/** Peers PING the node, so they enter its table (their flags say they are not clients). */
async function fillTable(node: RhizomeNode, address: PeerAddress, into: Endpoint[]): Promise<void> {
  let pongs = 0;
  for (let i = 0; i < TABLE_PEERS; i++) {
    const peer = await dhtEndpoint(() => pongs++);
    into.push(peer);
    peer.request(address, node.nodeId, { type: MessageType.ping, tx: txBase });
  }
  await into[0].until("the table's peers", () => pongs === TABLE_PEERS);
  const contacts = node.status().contacts;
  if (contacts !== TABLE_PEERS) throw new Error(`the node took ${contacts} of the peers`);
}

/** Authenticated DHT requests to a node in this process: PING or FIND_NODE. */
async function nodeRoundTrips(b: Deno.BenchContext, kind: "ping" | "findNode"): Promise<void> {
  await withNode(async (node, address) => {
    const endpoints: Endpoint[] = [];
    try {
      if (kind === "findNode") await fillTable(node, address, endpoints);
      const targets = Array.from({ length: 64 }, () => NodeId.fromBytes(cryptoRandomBytes(20)));
      const expected = kind === "ping" ? MessageType.pong : MessageType.nodes;
      const run = windowed(ROUND_TRIPS, WINDOW, (index) => send(index));
      let warm = false;
      const client = await dhtEndpoint((reply: Message) => {
        if (reply.type !== expected) run.abort(new Error(`got reply type ${reply.type}`));
        // The first reply is the one to the warm-up request, before the run.
        if (warm) run.answered();
        warm = true;
      });
      endpoints.push(client);
      const send = (index: number) => {
        const tx = (txBase + index) >>> 0;
        if (kind === "ping") {
          client.request(address, node.nodeId, { type: MessageType.ping, tx });
        } else {
          const target = targets[index % targets.length];
          client.request(address, node.nodeId, { type: MessageType.findNode, tx, target });
        }
      };
      send(0);
      await client.until("the client's handshake", () => warm);
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
