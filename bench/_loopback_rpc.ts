/**
 * Pieces shared by `bench/node_bench.ts` and `scripts/bench_network.ts` to measure round trips on
 * loopback: a sender that keeps a fixed number of requests in flight, raw node:dgram sockets for
 * the bare echo, and an endpoint with its own identity, UDP socket and secure channel that speaks
 * the DHT's messages to a real node, as a peer would.
 *
 * Not a bench itself (the leading underscore keeps `deno bench bench/` from running it).
 *
 * @module
 */

import { createSocket, type Socket } from "node:dgram";
import { generateEd25519KeyPair } from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";
import { SystemClock } from "../src/core/system_clock.ts";
import { decodeMessage, encodeMessage, type Message, MessageType } from "../src/dht/messages.ts";
import type { PeerAddress } from "../src/net/address.ts";
import { SecureChannel } from "../src/net/secure_channel.ts";
import { DATA_OVERHEAD_BYTES } from "../src/net/session.ts";
import { UdpTransport } from "../src/net/udp_transport.ts";
import { cryptoRandomBytes } from "../src/node/crypto_rng.ts";

/** Requests in flight at once, as a busy peer's RPC client keeps them. */
export const WINDOW = 32;

/** Longest a run waits for its next replies before failing (a lost datagram stalls it). */
const STALL_MS = 30_000;

/** A transaction ID as the RPC client draws them: a random 32-bit number (5 bytes packed). */
export const txBase = 0x80000000;

/** The datagram an encrypted PING makes (72 bytes): the size the bare echoes send. */
export const pingDatagramBytes: number = encodeMessage({
  type: MessageType.ping,
  tx: txBase,
  sender: NodeId.fromPublicKey(generateEd25519KeyPair().publicKey),
  flags: 0,
}).length + DATA_OVERHEAD_BYTES;

/** A run of requests with a fixed number in flight; see {@link windowed}. */
export interface WindowedRun {
  /** To be called once per reply: sends the next request, or finishes the run. */
  answered(): void;
  /** Sends the first `window` requests. */
  start(): void;
  /** Fails the run. */
  abort(error: Error): void;
  /** Resolves after the last reply; rejects when replies stop coming for 30 s. */
  done: Promise<void>;
}

/**
 * Sends `total` requests, `window` at a time.
 *
 * @param total Requests in all.
 * @param window Requests in flight at once.
 * @param send Sends request `index`.
 * @returns The run, not started.
 */
export function windowed(
  total: number,
  window: number,
  send: (index: number) => void,
): WindowedRun {
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
      // Re-arming a timer per reply would cost more than the echo itself.
      if (received % 512 === 0) watch();
    },
    start() {
      watch();
      while (sent < Math.min(window, total)) send(sent++);
    },
    abort: (error) => fail(error),
    done,
  };
}

/**
 * A node:dgram socket on a random loopback port.
 *
 * @returns The bound socket.
 */
export function rawBind(): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: "udp4" });
    socket.bind({ address: "127.0.0.1", port: 0 }, () => resolve(socket));
  });
}

/**
 * Closes a node:dgram socket.
 *
 * @param socket The socket.
 * @returns When closed.
 */
export function rawClose(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/**
 * Times `total` bare echoes of {@link pingDatagramBytes}-byte datagrams, {@link WINDOW} in
 * flight, from a fresh socket to an echoer at `port` on 127.0.0.1.
 *
 * @param port The echoer's port.
 * @param total Round trips.
 * @returns Milliseconds from the first send to the last reply.
 */
export async function timeRawEcho(port: number, total: number): Promise<number> {
  const pinger = await rawBind();
  const payload = new Uint8Array(pingDatagramBytes);
  try {
    const run = windowed(total, WINDOW, () => pinger.send(payload, port, "127.0.0.1"));
    pinger.on("message", run.answered);
    const startMs = performance.now();
    run.start();
    await run.done;
    return performance.now() - startMs;
  } finally {
    await rawClose(pinger);
  }
}

/** A DHT message before the sender fills in its ID and flags. */
export type WithoutHeader<T> = T extends unknown ? Omit<T, "sender" | "flags"> : never;

const clock = new SystemClock();

/** One end of a secure-channel link: an identity, a UDP socket and a channel over it. */
export class Endpoint {
  /** The identity. */
  readonly keyPair = generateEd25519KeyPair();
  /** Its node ID. */
  readonly id: NodeId = NodeId.fromPublicKey(this.keyPair.publicKey);
  /** Called with each plaintext received, who sent it and from where. */
  onPlaintext: (from: PeerAddress, peer: NodeId, plaintext: Uint8Array) => void = () => {};
  #udp!: UdpTransport;
  #channel!: SecureChannel;

  private constructor() {}

  /**
   * An endpoint on a random loopback port.
   *
   * @returns It, with no session yet.
   */
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

  /** @returns Where it listens. */
  get address(): PeerAddress {
    return this.#udp.address;
  }

  /**
   * Sends a plaintext through the channel (a handshake first if there is no session).
   *
   * @param to The peer's address.
   * @param peer The peer's node ID, which its handshake must prove.
   * @param plaintext The bytes.
   */
  send(to: PeerAddress, peer: NodeId, plaintext: Uint8Array): void {
    this.#channel.send(to, peer, plaintext);
  }

  /**
   * Sends a DHT message under this endpoint's ID, flagged as a full peer (not a client).
   *
   * @param to The node's address.
   * @param peer The node's ID.
   * @param message The message without sender and flags.
   */
  request(to: PeerAddress, peer: NodeId, message: WithoutHeader<Message>): void {
    this.send(to, peer, encodeMessage({ ...message, sender: this.id, flags: 0 } as Message));
  }

  /**
   * Drives handshake retries until `ready()` holds.
   *
   * @param what What is awaited, for the error.
   * @param ready The condition.
   * @throws {Error} After 10 s.
   */
  async until(what: string, ready: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      this.#channel.tick();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** @returns When its socket is closed. */
  close(): Promise<void> {
    return this.#udp.close();
  }
}

/**
 * An endpoint that behaves as a DHT peer: it answers PINGs, and hands replies to `onReply`.
 *
 * @param onReply Called with each reply (PONG, NODES, VALUE, STORED) received.
 * @returns The endpoint.
 */
export async function dhtEndpoint(onReply: (message: Message) => void): Promise<Endpoint> {
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

/**
 * Times `total` PINGs to a node, {@link WINDOW} in flight, from a fresh client endpoint: the
 * handshake and a first PING happen before the clock starts.
 *
 * @param address The node's UDP address.
 * @param nodeId Its node ID.
 * @param total Round trips.
 * @returns Milliseconds from the first timed send to the last PONG.
 */
export async function timePings(
  address: PeerAddress,
  nodeId: NodeId,
  total: number,
): Promise<number> {
  let run: WindowedRun | undefined;
  let warm = false;
  const client = await dhtEndpoint((reply) => {
    if (reply.type !== MessageType.pong) run?.abort(new Error(`got reply type ${reply.type}`));
    warm = true;
    run?.answered();
  });
  try {
    const send = (index: number) =>
      client.request(address, nodeId, { type: MessageType.ping, tx: (txBase + index) >>> 0 });
    send(0);
    await client.until("the first PONG", () => warm);
    run = windowed(total, WINDOW, send);
    const startMs = performance.now();
    run.start();
    await run.done;
    return performance.now() - startMs;
  } finally {
    await client.close();
  }
}
