/**
 * The UDP transport: one datagram socket behind the {@link Transport} interface the simulator
 * also implements, so the DHT runs unchanged on a real network.
 *
 * Built on `node:dgram` because it is stable in Deno 2.9 and needs only `--allow-net`;
 * `Deno.listenDatagram` still needs `--unstable-net`, and an unstable flag in the `rhizome` task
 * would tie releases to an API that may change.
 *
 * Address families: an IPv4 host gets a `udp4` socket, an IPv6 host a `udp6` socket. A `udp6`
 * socket on `::` is dual-stack where the operating system allows it (Linux with
 * `net.ipv6.bindv6only = 0`, the default, and other systems whose IPv6 sockets start
 * dual-stack; the tests check it on the machine they run on): IPv4 peers then arrive as
 * IPv4-mapped addresses (`::ffff:192.0.2.1`), which are reported as plain IPv4 addresses
 * (`192.0.2.1:7447`), and sends to IPv4 addresses go out through the same socket. Where IPv6
 * sockets are IPv6-only (Linux with `bindv6only = 1`, OpenBSD) `[::]` hears IPv6 peers only,
 * and sends to IPv4 addresses fail and are counted as send errors; a node that wants both
 * families there needs two transports.
 *
 * The kernel's socket buffers are left at the system's defaults (on Linux
 * `net.core.rmem_default`, typically 208 KiB); `/proc/net/udp`'s drop count for the socket is
 * reported in {@link UdpTransportStats.kernelReceiveDrops}. Deno 2.9.6's `setRecvBufferSize` and
 * `setSendBufferSize` never reach the socket (no `setsockopt`): they only set the size of the
 * buffer Deno allocates for each received datagram, doubled. By default that buffer is 64 KiB,
 * allocated for every datagram; {@link receiveBufferBytes} shrinks it to about 2.4 KiB, which
 * more than halved the CPU time of each receive (30 to 13 µs on a loaded 2-core machine) and so
 * doubled the datagrams a flooded node reads before the kernel drops them. A longer datagram is
 * cut to the buffer's length, still over `datagramBytesMax`, so it is dropped as oversize as
 * before. Real kernel buffer sizing would need `setsockopt` through FFI on the socket's
 * descriptor, which node:dgram does not expose.
 *
 * Deno reports every send error other than "message too long" and "bad socket" as `UNKNOWN`,
 * so a send-error line cannot say whether the host was unreachable or the network down.
 *
 * @module
 */

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { clearImmediate, setImmediate } from "node:timers";
import { isIP } from "node:net";
import { InvalidInputError, RhizomeError } from "../core/errors.ts";
import { datagramBytesMax } from "../core/limits.ts";
import type { Log, LogFields } from "../core/log.ts";
import { describeOsError } from "../core/os_error.ts";
import {
  bindError,
  encodeAddress,
  hostPortText,
  netPermissionMissing,
  PeerAddress,
} from "./address.ts";
import type { Transport } from "./transport.ts";
import { isHostName } from "./host_names.ts";
import { readProcFile } from "./proc_file.ts";
import { type BlockedSource, SocketFilter } from "./socket_filter.ts";
import {
  type ReceivePriority,
  receivePriorityCount,
  ReceiveQueue,
  receiveQueueDatagramsMax,
} from "./receive_queue.ts";

/** Where to listen. */
export interface ListenAddress {
  /** An IPv4 or IPv6 address (without brackets), or a host name resolved once at bind time. */
  host: string;
  /** The UDP port; 0 lets the operating system choose one (see {@link UdpTransport.address}). */
  port: number;
}

/**
 * Receives one datagram. Called once per datagram of at most `datagramBytesMax` bytes; the bytes
 * belong to the receiver.
 */
export type UdpReceiver = (from: PeerAddress, bytes: Uint8Array) => void;

/**
 * Decides, cheaply and before any real work, what a datagram is worth: its priority class in the
 * receive queue, or `undefined` to drop it at once (the classifier counts why).
 */
export type UdpClassifier = (from: PeerAddress, bytes: Uint8Array) => ReceivePriority | undefined;

/** Options of {@link UdpTransport.bind}. */
export interface UdpTransportOptions {
  /** Where send and receive problems are reported, at most one line per problem per 10 s. */
  log?: Log;
  /**
   * With a classifier, datagrams are read from the socket as fast as they come, classified, and
   * queued in a bounded {@link ReceiveQueue}; the receiver gets them from the queue, highest
   * class first, in slices of at most {@link receiveDrainSliceMs} so reading goes on between
   * slices. Without one, each datagram goes to the receiver as it is read.
   */
  classify?: UdpClassifier;
  /**
   * Datagrams the receive queue holds.
   *
   * @default {@link receiveQueueDatagramsMax}
   */
  receiveQueueDatagramsMax?: number;
}

/** What a {@link UdpTransport} has done since it was bound. */
export interface UdpTransportStats {
  /** Datagrams the operating system accepted for sending. */
  datagramsSent: number;
  /** Bytes in {@link datagramsSent}. */
  bytesSent: number;
  /** Datagrams handed to the receiver. */
  datagramsReceived: number;
  /** Bytes in {@link datagramsReceived}. */
  bytesReceived: number;
  /**
   * Sends that failed: the operating system refused them (no route, unreachable host, wrong
   * address family).
   */
  sendErrors: number;
  /** Sends refused because the datagram was longer than `datagramBytesMax`. */
  oversizeSendsRefused: number;
  /** Received datagrams longer than `datagramBytesMax`, dropped unread. */
  oversizeReceivesDropped: number;
  /** Sends dropped because {@link sendsInFlightMax} sends were already waiting for the OS. */
  sendsDroppedBacklog: number;
  /** Sends after `close()`: nothing was sent. */
  sendsAfterClose: number;
  /** Errors the socket reported while receiving, and datagrams from unreadable addresses. */
  receiveErrors: number;
  /** Datagrams whose receiver threw (a bug above the transport; the error is logged). */
  receiverErrors: number;
  /** Datagrams the classifier refused as they were read (why: in the classifier's counters). */
  receivesRefused: number;
  /**
   * Datagrams shed from the full receive queue, by priority class (index 0 the highest, see
   * {@link ReceivePriority}).
   */
  receivesShed: number[];
  /** Datagrams in the receive queue now. */
  receiveQueued: number;
  /**
   * Datagrams the kernel dropped because this socket's receive buffer was full, from the
   * `drops` column of `/proc/net/udp` (or `udp6`) for this socket; `null` where that is not
   * available (not Linux, no read permission). Counts since the socket was made.
   */
  kernelReceiveDrops: number | null;
  /** Bytes waiting in this socket's kernel receive buffer now (`rx_queue`); `null` as above. */
  kernelReceiveQueueBytes: number | null;
  /**
   * Sources the kernel drops before they reach the socket's buffer ({@link UdpTransport.blockSources});
   * their datagrams are counted in {@link kernelReceiveDrops}.
   */
  kernelFilterSources: number;
  /** Why the last {@link UdpTransport.blockSources} could not install its filter, if it could not. */
  kernelFilterProblem: string | null;
}

/**
 * Longest one slice of draining the receive queue runs before it yields to the event loop, so
 * the socket is read again at least this often under load: a datagram waits in the kernel at
 * most about this long, and the kernel's buffer (208 KiB by default, about 1,500 datagrams)
 * covers more than that at the flood rates one process can read.
 */
export const receiveDrainSliceMs = 5;

/**
 * What `setRecvBufferSize` is asked for: one byte more than the largest datagram we accept, so a
 * longer one arrives cut but still too long, and is counted as oversize. Deno allocates twice
 * this for each receive (see the module doc).
 */
export const receiveBufferBytes = datagramBytesMax + 1;

/**
 * Sends handed to the socket and not yet finished. `node:dgram` queues sends without limit; when
 * the operating system stops taking datagrams (a full send buffer on a saturated link) this
 * bound keeps the queue to about 5 MiB of datagrams, and further sends are dropped and counted,
 * as a full network card would drop them.
 */
export const sendsInFlightMax = 4096;

/**
 * Least time between two log lines about the same recurring problem (send errors, receive
 * errors, receiver errors). A dead network makes every send fail; one line every 10 s, with the
 * count since the previous line, says so without drowning the log.
 */
const problemLogIntervalMs = 10_000;

/** Logs a recurring problem at most once per {@link problemLogIntervalMs}, with a count. */
class ProblemLog {
  readonly #log: Log | undefined;
  readonly #message: string;
  readonly #level: "warning" | "error";
  #loggedAtMs = -Infinity;
  #unlogged = 0;

  constructor(log: Log | undefined, message: string, level: "warning" | "error" = "warning") {
    this.#log = log;
    this.#message = message;
    this.#level = level;
  }

  report(fields: LogFields): void {
    this.#unlogged++;
    if (this.#log === undefined) return;
    const nowMs = performance.now();
    if (nowMs - this.#loggedAtMs < problemLogIntervalMs) return;
    this.#log[this.#level](this.#message, { ...fields, occurrences: this.#unlogged });
    this.#loggedAtMs = nowMs;
    this.#unlogged = 0;
  }
}

/**
 * A bound UDP socket that sends and receives datagrams of at most `datagramBytesMax` bytes.
 *
 * @example Two transports on loopback
 * ```ts ignore
 * const a = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, (from, bytes) => {});
 * const b = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, (from, bytes) => {
 *   // from.equals(a.address)
 * });
 * a.send(b.address, new Uint8Array([1, 2, 3]));
 * await a.close();
 * await b.close();
 * ```
 */
export class UdpTransport implements Transport {
  /** The bound address, with the port the operating system chose when port 0 was asked. */
  readonly address: PeerAddress;

  readonly #socket: Socket;
  readonly #ipv4Only: boolean;
  readonly #receive: UdpReceiver;
  readonly #stats: UdpTransportStats = {
    datagramsSent: 0,
    bytesSent: 0,
    datagramsReceived: 0,
    bytesReceived: 0,
    sendErrors: 0,
    oversizeSendsRefused: 0,
    oversizeReceivesDropped: 0,
    sendsDroppedBacklog: 0,
    sendsAfterClose: 0,
    receiveErrors: 0,
    receiverErrors: 0,
    receivesRefused: 0,
    receivesShed: new Array(receivePriorityCount).fill(0),
    receiveQueued: 0,
    kernelReceiveDrops: null,
    kernelReceiveQueueBytes: null,
    kernelFilterSources: 0,
    kernelFilterProblem: null,
  };
  readonly #classify: UdpClassifier | undefined;
  readonly #queue: ReceiveQueue<{ from: PeerAddress; bytes: Uint8Array }> | undefined;
  #drainTimer: ReturnType<typeof setImmediate> | undefined;
  readonly #sendErrorLog: ProblemLog;
  readonly #oversizeSendLog: ProblemLog;
  readonly #backlogLog: ProblemLog;
  readonly #receiveErrorLog: ProblemLog;
  readonly #receiverErrorLog: ProblemLog;
  #sendsInFlight = 0;
  #sendsDrained: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  readonly #filter: SocketFilter;
  #filterProblem: string | undefined;

  private constructor(socket: Socket, receive: UdpReceiver, options: UdpTransportOptions) {
    const log = options.log;
    this.#classify = options.classify;
    if (options.classify !== undefined) {
      this.#queue = new ReceiveQueue(options.receiveQueueDatagramsMax ?? receiveQueueDatagramsMax);
    }
    const bound = socket.address();
    // The operating system reports an IP address and a real port.
    this.address = PeerAddress.of(bound.address, bound.port)!;
    this.#socket = socket;
    this.#ipv4Only = bound.family === "IPv4";
    this.#filter = new SocketFilter(this.address, this.#ipv4Only);
    this.#receive = receive;
    this.#sendErrorLog = new ProblemLog(log, "cannot send to {to}: {reason}");
    this.#oversizeSendLog = new ProblemLog(
      log,
      `refused to send {bytes} bytes to {to}: datagrams are at most ${datagramBytesMax} bytes`,
    );
    this.#backlogLog = new ProblemLog(
      log,
      `dropped a datagram to {to}: ${sendsInFlightMax} sends are waiting for the network`,
    );
    this.#receiveErrorLog = new ProblemLog(log, "cannot receive on {address}: {reason}");
    // A receiver that throws is a bug, not a network problem: logged as an error.
    this.#receiverErrorLog = new ProblemLog(
      log,
      "a datagram from {from} failed: {error}",
      "error",
    );
    socket.on("message", this.#onMessage);
    socket.on("error", (error) => {
      this.#stats.receiveErrors++;
      this.#receiveErrorLog.report({ address: this.address, reason: describeOsError(error) });
    });
  }

  /**
   * Opens a UDP socket on `listen`.
   *
   * @param listen The host and port; a host name is resolved once, here.
   * @param receive Called with each datagram that arrives, until `close()`.
   * @param options Where to log.
   * @returns The bound transport.
   * @throws {InvalidInputError} When the host is neither an IP address nor a host name, or the
   *   port is not 0 to 65535.
   * @throws {RhizomeError} `UNAVAILABLE`, one line naming the address, when the socket cannot
   *   be bound: "Cannot listen on 0.0.0.0:7447: the port is in use" (or "permission denied",
   *   "the address is not available here", "the host name does not resolve", "network access was
   *   not granted (run with --allow-net)").
   */
  static async bind(
    listen: ListenAddress,
    receive: UdpReceiver,
    options: UdpTransportOptions = {},
  ): Promise<UdpTransport> {
    const shown = hostPortText(listen.host, listen.port);
    if (!Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65535) {
      throw new InvalidInputError(
        `Cannot listen on ${shown}: the port must be a whole number from 0 to 65535`,
      );
    }
    const host = await resolveListenHost(listen.host, shown);
    // Without the permission Deno throws from inside node:dgram, where nothing can catch it.
    const permission = await Deno.permissions.query({
      name: "net",
      host: hostPortText(host.address, listen.port),
    });
    if (permission.state !== "granted") throw bindError(shown, new Deno.errors.NotCapable());
    const socket = createSocket({ type: host.family === 6 ? "udp6" : "udp4" });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind({ address: host.address, port: listen.port }, () => {
          socket.off("error", reject);
          resolve();
        });
      });
    } catch (error) {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      throw bindError(shown, error);
    }
    // Only the per-receive buffer in Deno 2.9 (see the module doc), not the kernel's SO_RCVBUF.
    socket.setRecvBufferSize(receiveBufferBytes);
    return new UdpTransport(socket, receive, options);
  }

  /**
   * Sends one datagram. Never throws and never blocks; `bytes` is copied, so the caller may
   * reuse it at once. A datagram longer than `datagramBytesMax`, to an address that is not an IP
   * address and port, or sent after `close()`, is dropped and counted.
   *
   * @param to The peer's canonical address.
   * @param bytes At most `datagramBytesMax` bytes.
   */
  send(to: PeerAddress, bytes: Uint8Array): void {
    const stats = this.#stats;
    if (this.#closing !== undefined) {
      stats.sendsAfterClose++;
      return;
    }
    if (bytes.length > datagramBytesMax) {
      stats.oversizeSendsRefused++;
      this.#oversizeSendLog.report({ to, bytes: bytes.length });
      return;
    }
    if (this.#sendsInFlight >= sendsInFlightMax) {
      stats.sendsDroppedBacklog++;
      this.#backlogLog.report({ to });
      return;
    }
    // A PeerAddress holds an IP address, never a host name node:dgram would resolve.
    const { host, port, family } = to;
    if (family === 6 && this.#ipv4Only) {
      this.#sendFailed(to, "an IPv6 address cannot be reached from an IPv4 socket");
      return;
    }
    const length = bytes.length;
    this.#sendsInFlight++;
    try {
      // node:dgram reads the bytes a tick later; the copy keeps the caller free to reuse its own.
      this.#socket.send(bytes.slice(), port, host, (error) => this.#sendDone(to, length, error));
    } catch (error) {
      this.#sendDone(to, length, error);
    }
  }

  #sendDone(to: PeerAddress, length: number, error: unknown): void {
    this.#sendsInFlight--;
    if (error) {
      this.#sendFailed(to, describeOsError(error));
    } else {
      this.#stats.datagramsSent++;
      this.#stats.bytesSent += length;
    }
    if (this.#sendsInFlight === 0) this.#sendsDrained?.();
  }

  #sendFailed(to: PeerAddress, reason: string): void {
    this.#stats.sendErrors++;
    this.#sendErrorLog.report({ to, reason });
  }

  #onMessage = (buffer: Uint8Array, remote: RemoteInfo): void => {
    const stats = this.#stats;
    // node:dgram gives a Buffer, whose slice() is a view: a plain Uint8Array's copies.
    const message = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (this.#closing !== undefined) return;
    if (message.length > datagramBytesMax) {
      stats.oversizeReceivesDropped++;
      return;
    }
    const from = PeerAddress.of(remote.address, remote.port);
    if (from === undefined) {
      stats.receiveErrors++;
      this.#receiveErrorLog.report({
        address: this.address,
        reason: `unreadable sender address ${JSON.stringify(remote.address)}`,
      });
      return;
    }
    stats.datagramsReceived++;
    stats.bytesReceived += message.length;
    // Deno hands each datagram up as a view of a fresh buffer (64 KiB before the first receive
    // completes, 2.4 KiB after, see receiveBufferBytes); a receiver that keeps the bytes would
    // keep the whole buffer, so what goes on is a copy. Refused datagrams are not copied:
    // allocating one costs more than classifying it.
    if (this.#queue === undefined) return this.#deliver(from, message.slice());
    let priority: ReceivePriority | undefined;
    try {
      priority = this.#classify!(from, message);
    } catch (error) {
      stats.receiverErrors++;
      this.#receiverErrorLog.report({ from, error });
      return;
    }
    if (priority === undefined) {
      stats.receivesRefused++;
      return;
    }
    const bytes = message.slice();
    const outcome = this.#queue.push(priority, { from, bytes });
    if (outcome.shed !== undefined) stats.receivesShed[outcome.shed]++;
    // setImmediate, not setTimeout(0): a timer waits a millisecond or more (2.4 ms on a loaded
    // machine), which every datagram would add to its round trip; an immediate runs within
    // tens of microseconds, after the socket has been read again.
    this.#drainTimer ??= setImmediate(this.#drain);
  };

  /** One slice of the receive queue: highest class first, until empty or the slice is over. */
  #drain = (): void => {
    this.#drainTimer = undefined;
    const queue = this.#queue!;
    const endMs = performance.now() + receiveDrainSliceMs;
    for (let count = 1; this.#closing === undefined; count++) {
      const next = queue.shift();
      if (next === undefined) return;
      this.#deliver(next.from, next.bytes);
      // Reading the clock costs more than most datagrams: every 16th is often enough.
      if (count % 16 === 0 && performance.now() >= endMs) break;
    }
    if (queue.size > 0 && this.#closing === undefined) {
      this.#drainTimer = setImmediate(this.#drain);
    }
  };

  #deliver(from: PeerAddress, bytes: Uint8Array): void {
    try {
      this.#receive(from, bytes);
    } catch (error) {
      // node:dgram in Deno swallows what a message listener throws; say so rather than lose it.
      this.#stats.receiverErrors++;
      this.#receiverErrorLog.report({ from, error });
    }
  }

  /**
   * Has the kernel drop datagrams from `sources` before they reach this socket's buffer (see
   * `socket_filter.ts`), replacing the sources given before; none removes the filter. Meant for
   * banned peers: a flood from them then costs the process nothing and takes no buffer space
   * from anybody else.
   *
   * @param sources What to drop; the last `kernelFilterSourcesMax` (256) are used.
   * @returns `undefined` when installed, else why not in one line (also in the stats).
   */
  blockSources(sources: readonly BlockedSource[]): string | undefined {
    if (this.#closing !== undefined) return "the socket is closed";
    this.#filterProblem = this.#filter.install(sources);
    return this.#filterProblem;
  }

  /**
   * What this transport has done so far.
   *
   * @returns A copy of the counters.
   */
  stats(): UdpTransportStats {
    const kernel = readKernelReceiveCounters(this.address, this.#ipv4Only);
    return {
      ...this.#stats,
      receivesShed: [...this.#stats.receivesShed],
      receiveQueued: this.#queue?.size ?? 0,
      kernelReceiveDrops: kernel?.drops ?? null,
      kernelReceiveQueueBytes: kernel?.queueBytes ?? null,
      kernelFilterSources: this.#filter.installed,
      kernelFilterProblem: this.#filterProblem ?? null,
    };
  }

  /**
   * Stops receiving, lets the sends already handed to the socket finish, and closes it. Sends
   * after this are dropped and counted. Calling it again returns the same promise.
   *
   * @returns Resolves once the socket is closed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#drainTimer !== undefined) clearImmediate(this.#drainTimer);
    if (this.#sendsInFlight > 0) {
      await new Promise<void>((resolve) => this.#sendsDrained = resolve);
    }
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }
}

/** The IP address to bind: `host` itself, or what the host name resolves to. */
async function resolveListenHost(
  host: string,
  shown: string,
): Promise<{ address: string; family: number }> {
  const family = isIP(host);
  if (family !== 0) return { address: host, family };
  if (!isHostName(host)) {
    throw new InvalidInputError(
      `Cannot listen on ${shown}: "${host}" is not an IP address or host name`,
    );
  }
  try {
    return await lookup(host);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new RhizomeError(
      "UNAVAILABLE",
      `Cannot listen on ${shown}: ${
        code === "EPERM" ? netPermissionMissing : "the host name does not resolve"
      }`,
      { cause: error },
    );
  }
}

/**
 * This socket's line in `/proc/net/udp` (IPv4 sockets) or `/proc/net/udp6` (IPv6 ones), matched
 * by local address and port: the kernel's count of datagrams dropped because the receive buffer
 * was full, and the bytes waiting in it. Linux only; `undefined` elsewhere or without read
 * permission. The addresses there are 32-bit words in host order (little-endian assumed, as on
 * every Linux machine Deno runs on). Read through libc (`proc_file.ts`), so it needs
 * `--allow-ffi`, not `--allow-all`.
 *
 * @param address The socket's bound address, canonical.
 * @param ipv4Socket Whether it is an IPv4 socket.
 * @returns The counters, or `undefined` when not available.
 */
export function readKernelReceiveCounters(
  address: PeerAddress,
  ipv4Socket: boolean,
): { drops: number; queueBytes: number } | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const wire = encodeAddress(address);
  const hostBytes = wire.subarray(0, wire.length - 2);
  let hostHex = "";
  for (let word = 0; word < hostBytes.length; word += 4) {
    for (let i = 3; i >= 0; i--) hostHex += hostBytes[word + i].toString(16).padStart(2, "0");
  }
  const port = (wire[wire.length - 2] << 8) | wire[wire.length - 1];
  // A dual-stack IPv6 socket sees IPv4 peers, but its own line is in udp6.
  const local = `${hostHex}:${port.toString(16).padStart(4, "0")}`.toUpperCase();
  const table = readProcFile(ipv4Socket ? "/proc/net/udp" : "/proc/net/udp6");
  if (table === undefined) return undefined;
  for (const line of table.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== local || fields.length < 13) continue;
    const queueBytes = parseInt(fields[4].split(":")[1] ?? "", 16);
    const drops = Number(fields[12]);
    if (!Number.isSafeInteger(drops) || !Number.isSafeInteger(queueBytes)) return undefined;
    return { drops, queueBytes };
  }
  return undefined;
}
