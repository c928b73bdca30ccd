/**
 * A bare UDP echo in Deno: the baseline the authenticated stack (handshake, sessions, secure
 * channel) will be compared with. Two {@link UdpTransport}s on loopback bounce a datagram back
 * and forth, one in flight at a time, so an iteration's time divided by {@link ROUND_TRIPS} is
 * one round trip through the event loop, node:dgram and the kernel twice. The same echo over raw
 * `node:dgram` sockets, in the same run, shows what the transport itself costs (copies, address
 * canonicalisation, counters).
 *
 * Needs `--allow-net`. Sockets are bound outside the timed part of each iteration.
 *
 * @module
 */

import { createSocket, type Socket } from "node:dgram";
import { datagramBytesMax } from "../src/core/limits.ts";
import { UdpTransport } from "../src/net/udp_transport.ts";

/** Round trips per timed iteration: enough that timer resolution does not matter. */
const ROUND_TRIPS = 1_000;
/** A small request (a PING is about this size) and the largest datagram. */
const SIZES = [64, datagramBytesMax];
const ITERATIONS = { n: 20, warmup: 2 };

/** Bounces `ROUND_TRIPS` datagrams between two transports; resolves after the last echo. */
async function transportEcho(b: Deno.BenchContext, size: number): Promise<void> {
  let finished = () => {};
  let left = ROUND_TRIPS;
  const payload = new Uint8Array(size);
  const echoer: UdpTransport = await UdpTransport.bind(
    { host: "127.0.0.1", port: 0 },
    (from, bytes) => echoer.send(from, bytes),
  );
  const pinger = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, () => {
    if (--left === 0) finished();
    else pinger.send(echoer.address, payload);
  });
  const done = new Promise<void>((resolve) => finished = resolve);
  b.start();
  pinger.send(echoer.address, payload);
  await done;
  b.end();
  await pinger.close();
  await echoer.close();
}

function rawBind(): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: "udp4" });
    socket.bind({ address: "127.0.0.1", port: 0 }, () => resolve(socket));
  });
}

/** The same echo on raw node:dgram sockets. */
async function rawEcho(b: Deno.BenchContext, size: number): Promise<void> {
  const echoer = await rawBind();
  const pinger = await rawBind();
  const echoPort = echoer.address().port;
  const payload = new Uint8Array(size);
  let left = ROUND_TRIPS;
  echoer.on("message", (message, from) => echoer.send(message, from.port, from.address));
  const done = new Promise<void>((resolve) => {
    pinger.on("message", () => {
      if (--left === 0) resolve();
      else pinger.send(payload, echoPort, "127.0.0.1");
    });
  });
  b.start();
  pinger.send(payload, echoPort, "127.0.0.1");
  await done;
  b.end();
  await new Promise<void>((resolve) => pinger.close(() => resolve()));
  await new Promise<void>((resolve) => echoer.close(() => resolve()));
}

for (const size of SIZES) {
  Deno.bench({
    name: `UdpTransport echo, ${ROUND_TRIPS} round trips of ${size} B`,
    group: `echo ${size} B`,
    baseline: true,
    ...ITERATIONS,
    // An async function: Deno.bench awaits only those, not a function that returns a promise.
    fn: async (b) => await transportEcho(b, size),
  });
  Deno.bench({
    name: `raw node:dgram echo, ${ROUND_TRIPS} round trips of ${size} B`,
    group: `echo ${size} B`,
    ...ITERATIONS,
    fn: async (b) => await rawEcho(b, size),
  });
}
