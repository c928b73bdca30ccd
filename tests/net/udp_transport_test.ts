// Goal: the UDP transport moves datagrams between real sockets exactly as the Transport contract
// says, on IPv4 and IPv6: the sender's address arrives in canonical form and equals the peer's
// own `address`; oversize datagrams are refused on send and dropped on receive, and both are
// counted; sends never throw (errors, closed socket, backlog are counted); a bind that fails
// ends in one line naming the address, with code UNAVAILABLE (port in use, no permission,
// address not here) or INVALID_INPUT (malformed host or port).
// Method: transports on loopback with port 0, a raw node:dgram socket for what the transport
// would never send, bounded polls (2 s) for arrivals, and child processes for the two
// permission cases (no --allow-net; a privileged port as user nobody). IPv6 and dual-stack
// cases are skipped, with a printed reason, where the machine lacks them. Sanitizers stay on.

import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { RhizomeError } from "../../src/core/errors.ts";
import { datagramBytesMax } from "../../src/core/limits.ts";
import type { Log, LogFields } from "../../src/core/log.ts";
import { bindError, PeerAddress } from "../../src/net/address.ts";
import { at } from "../_address.ts";
import {
  readKernelReceiveCounters,
  receiveBufferBytes,
  sendsInFlightMax,
  UdpTransport,
} from "../../src/net/udp_transport.ts";
import type { ReceivePriority } from "../../src/net/receive_queue.ts";
import { kernelFilterSourcesMax } from "../../src/net/socket_filter.ts";

/** Longest wait for a datagram on loopback; arrivals take well under a millisecond. */
const WAIT_MS_MAX = 2_000;

interface Arrival {
  from: PeerAddress;
  bytes: Uint8Array;
}

/** A transport on `host` port 0 that records what it receives. */
async function listening(
  host = "127.0.0.1",
  log?: Log,
): Promise<{ transport: UdpTransport; arrivals: Arrival[] }> {
  const arrivals: Arrival[] = [];
  const transport = await UdpTransport.bind(
    { host, port: 0 },
    (from, bytes) => arrivals.push({ from, bytes }),
    { log },
  );
  return { transport, arrivals };
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS_MAX;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`waited ${WAIT_MS_MAX} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A log that keeps its warning lines. */
function recordingLog(): Log & { warnings: { message: string; fields?: LogFields }[] } {
  const warnings: { message: string; fields?: LogFields }[] = [];
  const ignore = () => {};
  return {
    warnings,
    trace: ignore,
    debug: ignore,
    info: ignore,
    warning: (message, fields) => warnings.push({ message, fields }),
    error: (message, fields) => warnings.push({ message, fields }),
    fatal: ignore,
  };
}

function rawSocket(type: "udp4" | "udp6", address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type });
    socket.once("error", (error) => socket.close(() => reject(error)));
    socket.bind({ address, port: 0 }, () => resolve(socket));
  });
}

function closeRaw(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

function rawSend(socket: Socket, to: UdpTransport, bytes: Uint8Array): Promise<void> {
  const port = to.address.port;
  const host = to.address.family === 6 ? "::1" : "127.0.0.1";
  return new Promise((resolve, reject) => {
    socket.send(bytes, port, host, (error) => error ? reject(error) : resolve());
  });
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message: string,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RhizomeError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

/** Why IPv6 loopback cannot be used here, or undefined when it can. */
async function ipv6LoopbackMissing(): Promise<string | undefined> {
  try {
    await closeRaw(await rawSocket("udp6", "::1"));
    return undefined;
  } catch (error) {
    return `cannot bind [::1]: ${(error as Error).message}`;
  }
}

/** Why `[::]` does not also hear IPv4 here, or undefined when it does. */
async function dualStackMissing(): Promise<string | undefined> {
  let wildcard: Socket;
  try {
    wildcard = await rawSocket("udp6", "::");
  } catch (error) {
    return `cannot bind [::]: ${(error as Error).message}`;
  }
  const sender = await rawSocket("udp4", "127.0.0.1");
  try {
    const heard = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 500);
      wildcard.once("message", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    sender.send(new Uint8Array([1]), wildcard.address().port, "127.0.0.1");
    return (await heard) ? undefined : "[::] did not receive from 127.0.0.1 (IPv6-only sockets)";
  } finally {
    await closeRaw(sender);
    await closeRaw(wildcard);
  }
}

const noIpv6 = await ipv6LoopbackMissing();
const noDualStack = noIpv6 ?? await dualStackMissing();
if (noIpv6) console.log(`Skipping the IPv6 tests: ${noIpv6}`);
else if (noDualStack) console.log(`Skipping the dual-stack test: ${noDualStack}`);

async function exchangeBothWays(host: string, addressPattern: RegExp): Promise<void> {
  const a = await listening(host);
  const b = await listening(host);
  try {
    assert.match(a.transport.address.key, addressPattern);
    assert.notEqual(a.transport.address.key, b.transport.address.key);
    a.transport.send(b.transport.address, new Uint8Array([1, 2, 3]));
    b.transport.send(a.transport.address, new Uint8Array([4, 5]));
    await waitUntil(() => a.arrivals.length === 1 && b.arrivals.length === 1, "both datagrams");
    assert.deepEqual(b.arrivals, [{ from: a.transport.address, bytes: new Uint8Array([1, 2, 3]) }]);
    assert.deepEqual(a.arrivals, [{ from: b.transport.address, bytes: new Uint8Array([4, 5]) }]);
    await waitUntil(() => a.transport.stats().datagramsSent === 1, "a's send to complete");
    const { kernelReceiveDrops, kernelReceiveQueueBytes, ...counters } = a.transport.stats();
    // Read from /proc/net/udp on Linux: nothing dropped, nothing waiting.
    const kernel = Deno.build.os === "linux" ? 0 : null;
    assert.equal(kernelReceiveDrops, kernel);
    assert.equal(kernelReceiveQueueBytes, kernel);
    assert.deepEqual(counters, {
      datagramsSent: 1,
      bytesSent: 3,
      datagramsReceived: 1,
      bytesReceived: 2,
      sendErrors: 0,
      oversizeSendsRefused: 0,
      oversizeReceivesDropped: 0,
      sendsDroppedBacklog: 0,
      sendsAfterClose: 0,
      receiveErrors: 0,
      receiverErrors: 0,
      receivesRefused: 0,
      receivesShed: [0, 0, 0, 0],
      receiveQueued: 0,
      kernelFilterSources: 0,
      kernelFilterProblem: null,
    });
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
}

/**
 * Blocks one of two senders through the kernel filter: its datagrams never arrive (and are
 * counted as kernel drops), the other's do; clearing the filter lets the first through again.
 * Each round is marked by the other sender's datagram, which arrives after the blocked one would
 * have (loopback keeps order).
 */
async function blockOneSender(host: string, senderHost: string): Promise<void> {
  const target = await listening(host);
  const blocked = await listening(senderHost);
  const other = await listening(senderHost);
  const to = PeerAddress.of(
    senderHost === "::1" ? "::1" : "127.0.0.1",
    target.transport.address.port,
  )!;
  try {
    assert.equal(
      target.transport.blockSources([{ address: blocked.transport.address, wholeHost: false }]),
      undefined,
    );
    assert.equal(target.transport.stats().kernelFilterSources, 1);
    blocked.transport.send(to, new Uint8Array([1]));
    other.transport.send(to, new Uint8Array([2]));
    await waitUntil(() => target.arrivals.length >= 1, "the other sender's datagram");
    const fromBlocked = (arrival: Arrival) => arrival.from.equals(blocked.transport.address);
    assert.equal(target.arrivals.filter(fromBlocked).length, 0);
    assert.equal(target.transport.stats().kernelReceiveDrops, 1);
    assert.equal(target.transport.blockSources([]), undefined);
    assert.equal(target.transport.stats().kernelFilterSources, 0);
    blocked.transport.send(to, new Uint8Array([3]));
    await waitUntil(() => target.arrivals.some(fromBlocked), "the unblocked sender's datagram");
  } finally {
    await target.transport.close();
    await blocked.transport.close();
    await other.transport.close();
  }
}

Deno.test({
  name: "blockSources: the kernel drops a blocked IPv4 source (address and port), not another",
  ignore: Deno.build.os !== "linux",
  fn: () => blockOneSender("127.0.0.1", "127.0.0.1"),
});

Deno.test({
  name: "blockSources: the kernel drops a blocked IPv6 source, not another",
  ignore: Deno.build.os !== "linux" || noIpv6 !== undefined,
  fn: () => blockOneSender("::1", "::1"),
});

Deno.test({
  name: "blockSources: a dual-stack socket drops a blocked IPv4 source, not another",
  ignore: Deno.build.os !== "linux" || noDualStack !== undefined,
  fn: () => blockOneSender("::", "127.0.0.1"),
});

Deno.test({
  name: "blockSources: a whole blocked host is dropped on every port",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const target = await listening("127.0.0.1");
    const sender = await listening("127.0.0.1");
    try {
      const anyPort = PeerAddress.of("127.0.0.1", 1)!;
      assert.equal(
        target.transport.blockSources([{ address: anyPort, wholeHost: true }]),
        undefined,
      );
      sender.transport.send(target.transport.address, new Uint8Array([1]));
      await waitUntil(() => target.transport.stats().kernelReceiveDrops === 1, "the drop");
      assert.equal(target.arrivals.length, 0);
      // The same list again changes nothing; more than the cap keeps the newest.
      assert.equal(
        target.transport.blockSources([{ address: anyPort, wholeHost: true }]),
        undefined,
      );
      const many = Array.from({ length: kernelFilterSourcesMax + 10 }, (_, i) => ({
        address: PeerAddress.of("10.0.0.1", 1000 + i)!,
        wholeHost: false,
      }));
      assert.equal(target.transport.blockSources(many), undefined);
      assert.equal(target.transport.stats().kernelFilterSources, kernelFilterSourcesMax);
      sender.transport.send(target.transport.address, new Uint8Array([2]));
      await waitUntil(
        () => target.arrivals.length === 1,
        "the datagram of a host no longer blocked",
      );
    } finally {
      await target.transport.close();
      await sender.transport.close();
    }
  },
});

Deno.test("blockSources after close says so and changes nothing", async () => {
  const target = await listening("127.0.0.1");
  await target.transport.close();
  assert.equal(
    target.transport.blockSources([{ address: target.transport.address, wholeHost: false }]),
    "the socket is closed",
  );
  assert.equal(target.transport.stats().kernelFilterSources, 0);
});

Deno.test("two IPv4 transports exchange datagrams both ways; `from` is the peer's address", () =>
  exchangeBothWays("127.0.0.1", /^127\.0\.0\.1:[1-9][0-9]*$/));

Deno.test({
  name: "two IPv6 transports exchange datagrams both ways; `from` is the peer's address",
  ignore: noIpv6 !== undefined,
  fn: () => exchangeBothWays("::1", /^\[::1\]:[1-9][0-9]*$/),
});

Deno.test({
  name: "[::] hears an IPv4 peer as a plain IPv4 address and can answer it",
  ignore: noDualStack !== undefined,
  async fn() {
    const wildcard = await listening("::");
    const v4 = await listening("127.0.0.1");
    try {
      assert.match(wildcard.transport.address.key, /^\[::\]:[1-9][0-9]*$/);
      const port = wildcard.transport.address.port;
      v4.transport.send(at(`127.0.0.1:${port}`), new Uint8Array([7]));
      await waitUntil(() => wildcard.arrivals.length === 1, "the datagram from IPv4");
      // Seen through the dual-stack socket it came from ::ffff:127.0.0.1: canonical form drops
      // the mapping, so the DHT sees the same address the peer reports for itself.
      assert.equal(wildcard.arrivals[0].from.key, v4.transport.address.key);
      wildcard.transport.send(wildcard.arrivals[0].from, new Uint8Array([8]));
      await waitUntil(() => v4.arrivals.length === 1, "the answer over IPv4");
      assert.equal(v4.arrivals[0].from.key, `127.0.0.1:${port}`);
    } finally {
      await wildcard.transport.close();
      await v4.transport.close();
    }
  },
});

Deno.test("a host name is resolved once at bind time", async () => {
  const { transport } = await listening("localhost");
  try {
    assert.match(transport.address.key, /^(127\.0\.0\.1|\[::1\]):[1-9][0-9]*$/);
  } finally {
    await transport.close();
  }
});

Deno.test("a datagram of datagramBytesMax bytes goes through, one byte more is not", async () => {
  const log = recordingLog();
  const a = await listening("127.0.0.1", log);
  const b = await listening();
  try {
    a.transport.send(b.transport.address, new Uint8Array(datagramBytesMax + 1));
    a.transport.send(b.transport.address, new Uint8Array(datagramBytesMax + 1));
    assert.equal(a.transport.stats().oversizeSendsRefused, 2);
    assert.deepEqual(log.warnings.map((line) => line.fields?.bytes), [datagramBytesMax + 1]);
    a.transport.send(b.transport.address, new Uint8Array(datagramBytesMax).fill(9));
    await waitUntil(() => b.arrivals.length === 1, "the largest datagram");
    assert.deepEqual(b.arrivals[0].bytes, new Uint8Array(datagramBytesMax).fill(9));
    await waitUntil(() => a.transport.stats().datagramsSent === 1, "the send to complete");
    assert.equal(a.transport.stats().bytesSent, datagramBytesMax);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test("an oversize datagram from a raw socket is dropped unread and counted", async () => {
  const b = await listening();
  const raw = await rawSocket("udp4", "127.0.0.1");
  try {
    await rawSend(raw, b.transport, new Uint8Array(datagramBytesMax + 1));
    await rawSend(raw, b.transport, new Uint8Array(60_000));
    await rawSend(raw, b.transport, new Uint8Array([42]));
    await waitUntil(
      () => b.transport.stats().oversizeReceivesDropped === 2 && b.arrivals.length === 1,
      "two drops and one arrival",
    );
    assert.deepEqual(b.arrivals[0].bytes, new Uint8Array([42]));
    assert.equal(b.arrivals[0].from.key, `127.0.0.1:${raw.address().port}`);
    assert.equal(b.transport.stats().datagramsReceived, 1);
  } finally {
    await closeRaw(raw);
    await b.transport.close();
  }
});

Deno.test("send copies the bytes: the caller may reuse its buffer at once", async () => {
  const a = await listening();
  const b = await listening();
  try {
    const buffer = new Uint8Array([1, 2, 3]);
    a.transport.send(b.transport.address, buffer);
    buffer.fill(0);
    await waitUntil(() => b.arrivals.length === 1, "the datagram");
    assert.deepEqual(b.arrivals[0].bytes, new Uint8Array([1, 2, 3]));
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
});

Deno.test("send errors are counted and logged at most once per 10 s, never thrown", async () => {
  const log = recordingLog();
  const { transport } = await listening("127.0.0.1", log);
  try {
    transport.send(at("[::1]:7447"), new Uint8Array([1]));
    transport.send(at("[::1]:7447"), new Uint8Array([1]));
    assert.equal(transport.stats().sendErrors, 2);
    assert.deepEqual(log.warnings, [{
      message: "cannot send to {to}: {reason}",
      fields: {
        to: at("[::1]:7447"),
        reason: "an IPv6 address cannot be reached from an IPv4 socket",
        occurrences: 1,
      },
    }]);
  } finally {
    await transport.close();
  }
});

Deno.test("a send to an unreachable address fails in the background and is counted", async () => {
  const { transport } = await listening();
  try {
    // Broadcast without SO_BROADCAST: refused by the operating system, not by the transport.
    transport.send(at("255.255.255.255:7447"), new Uint8Array([1]));
    await waitUntil(() => transport.stats().sendErrors === 1, "the send error");
    assert.equal(transport.stats().datagramsSent, 0);
  } finally {
    await transport.close();
  }
});

Deno.test("sends beyond sendsInFlightMax waiting for the OS are dropped and counted", async () => {
  const a = await listening();
  const b = await listening();
  try {
    // Completions arrive only after this synchronous loop, so all of them are in flight at once.
    for (let i = 0; i < sendsInFlightMax + 100; i++) {
      a.transport.send(b.transport.address, new Uint8Array([1]));
    }
    assert.equal(a.transport.stats().sendsDroppedBacklog, 100);
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
  // close() waited for the sends in flight.
  assert.equal(a.transport.stats().datagramsSent, sendsInFlightMax);
});

Deno.test("a receiver that throws is counted and logged; later datagrams arrive", async () => {
  const log = recordingLog();
  let calls = 0;
  const b = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, () => {
    calls++;
    if (calls === 1) throw new Error("receiver bug");
  }, { log });
  const a = await listening();
  try {
    a.transport.send(b.address, new Uint8Array([1]));
    await waitUntil(() => calls === 1, "the first datagram");
    a.transport.send(b.address, new Uint8Array([2]));
    await waitUntil(() => calls === 2, "the second datagram");
    assert.equal(b.stats().receiverErrors, 1);
    assert.equal(log.warnings.length, 1);
    assert.equal(String(log.warnings[0].fields?.from), a.transport.address.key);
  } finally {
    await a.transport.close();
    await b.close();
  }
});

Deno.test("after close, send is a counted no-op and close may be called again", async () => {
  const a = await listening();
  const b = await listening();
  const closing = a.transport.close();
  assert.equal(a.transport.close(), closing);
  await closing;
  await a.transport.close();
  a.transport.send(b.transport.address, new Uint8Array([1]));
  assert.equal(a.transport.stats().sendsAfterClose, 1);
  assert.equal(a.transport.stats().datagramsSent, 0);
  await b.transport.close();
  assert.equal(b.arrivals.length, 0);
});

Deno.test("binding a port in use fails with one UNAVAILABLE line naming the address", async () => {
  const { transport } = await listening();
  const port = transport.address.port;
  try {
    await rejectsWith(
      UdpTransport.bind({ host: "127.0.0.1", port }, () => {}),
      "UNAVAILABLE",
      `Cannot listen on 127.0.0.1:${port}: the port is in use`,
    );
    await rejectsWith(
      UdpTransport.bind({ host: "0.0.0.0", port }, () => {}),
      "UNAVAILABLE",
      `Cannot listen on 0.0.0.0:${port}: the port is in use`,
    );
  } finally {
    await transport.close();
  }
});

Deno.test("a bad host or port fails clearly before any socket is opened", async () => {
  await rejectsWith(
    UdpTransport.bind({ host: "1.2.3.999", port: 7447 }, () => {}),
    "INVALID_INPUT",
    'Cannot listen on 1.2.3.999:7447: "1.2.3.999" is not an IP address or host name',
  );
  await rejectsWith(
    UdpTransport.bind({ host: "no host", port: 7447 }, () => {}),
    "INVALID_INPUT",
    'Cannot listen on no host:7447: "no host" is not an IP address or host name',
  );
  await rejectsWith(
    UdpTransport.bind({ host: "127.0.0.1", port: 65536 }, () => {}),
    "INVALID_INPUT",
    "Cannot listen on 127.0.0.1:65536: the port must be a whole number from 0 to 65535",
  );
});

Deno.test("an address this machine does not have fails with UNAVAILABLE", async () => {
  // 192.0.2.0/24 is reserved for documentation (RFC 5737): never assigned to an interface.
  await rejectsWith(
    UdpTransport.bind({ host: "192.0.2.1", port: 7447 }, () => {}),
    "UNAVAILABLE",
    "Cannot listen on 192.0.2.1:7447: the address is not available here",
  );
});

Deno.test("each operating-system bind error has its one-line reason", () => {
  const cases: [unknown, string][] = [
    [{ code: "EADDRINUSE" }, "the port is in use"],
    [{ code: "EACCES" }, "permission denied"],
    [{ code: "EPERM" }, "permission denied"],
    [{ code: "EADDRNOTAVAIL" }, "the address is not available here"],
    [{ code: "EAFNOSUPPORT" }, "the address family is not supported here"],
    [new Deno.errors.NotCapable("x"), "network access was not granted (run with --allow-net)"],
    [new Error("bind EINVAL 1.2.3.4\nmore"), "bind EINVAL 1.2.3.4"],
  ];
  for (const [cause, reason] of cases) {
    const error = bindError("0.0.0.0:7447", cause);
    assert.equal(error.code, "UNAVAILABLE");
    assert.equal(error.message, `Cannot listen on 0.0.0.0:7447: ${reason}`);
    assert.equal(error.cause, cause);
  }
});

const modulePath = new URL("../../src/net/udp_transport.ts", import.meta.url).href;

/** A script for `deno run -` that binds and prints the outcome as JSON. */
function bindScript(host: string, port: number): string {
  return `import { UdpTransport } from ${JSON.stringify(modulePath)};
try {
  const transport = await UdpTransport.bind({ host: "${host}", port: ${port} }, () => {});
  console.log(JSON.stringify({ bound: transport.address }));
  await transport.close();
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message }));
}`;
}

async function runChild(command: string, args: string[], script: string, cwd?: string) {
  const child = new Deno.Command(command, {
    args,
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const output = await child.output();
  return {
    status: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("without --allow-net, bind fails with one UNAVAILABLE line, not a crash", async () => {
  const run = await runChild(
    Deno.execPath(),
    ["run", "--no-prompt", "--allow-read", "-"],
    bindScript("127.0.0.1", 0),
  );
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), {
    code: "UNAVAILABLE",
    message: "Cannot listen on 127.0.0.1:0: network access was not granted (run with --allow-net)",
  });
});

/** Why a real "permission denied" cannot be provoked here, or undefined when it can. */
async function privilegedPortUnavailable(): Promise<string | undefined> {
  try {
    // Deno lets only --allow-all read /proc, so ask cat.
    const sysctl = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    const cat = await new Deno.Command("cat", { args: [sysctl], stderr: "null" }).output();
    if (!cat.success) return `no ${sysctl} (not Linux)`;
    const start = new TextDecoder().decode(cat.stdout).trim();
    if (Number(start) <= 7) return `every port is unprivileged (${sysctl} is ${start})`;
    const id = await new Deno.Command("id", { args: ["-u"] }).output();
    if (new TextDecoder().decode(id.stdout).trim() !== "0") {
      return "not root, so cannot switch to user nobody";
    }
    const setpriv = await new Deno.Command("setpriv", { args: ["--version"] }).output();
    if (!setpriv.success) return "setpriv does not run";
  } catch (error) {
    return `cannot run id or setpriv: ${(error as Error).message}`;
  }
  return undefined;
}

const noPrivilegedPort = await privilegedPortUnavailable();
if (noPrivilegedPort) console.log(`Skipping the permission-denied bind test: ${noPrivilegedPort}`);

Deno.test({
  name: "a privileged port as an unprivileged user fails with permission denied",
  ignore: noPrivilegedPort !== undefined,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "rhizome-udp-nobody-" });
    try {
      await Deno.chmod(home, 0o777);
      const run = await runChild(
        "setpriv",
        [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "env",
          `HOME=${home}`,
          `DENO_DIR=${home}/deno`,
          Deno.execPath(),
          "run",
          "--no-prompt",
          "--allow-read",
          "--allow-net",
          "-",
        ],
        bindScript("127.0.0.1", 7),
        home,
      );
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), {
        code: "UNAVAILABLE",
        message: "Cannot listen on 127.0.0.1:7: permission denied",
      });
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test("sender addresses come out canonical", () => {
  const cases: [string, number, string | undefined][] = [
    ["192.0.2.1", 7447, "192.0.2.1:7447"],
    ["::ffff:192.0.2.1", 7447, "192.0.2.1:7447"],
    ["::FFFF:c000:201", 7447, "192.0.2.1:7447"],
    ["0:0:0:0:0:ffff:192.0.2.1", 1, "192.0.2.1:1"],
    ["::1", 65535, "[::1]:65535"],
    ["::", 80, "[::]:80"],
    ["2001:DB8:0:0:0:0:0:1", 80, "[2001:db8::1]:80"],
    ["2001:0db8:0000:0001:0000:0000:0000:0001", 80, "[2001:db8:0:1::1]:80"],
    ["64:ff9b::192.0.2.33", 80, "[64:ff9b::c000:221]:80"],
    ["::192.0.2.1", 80, "[::c000:201]:80"],
    ["01.2.3.4", 80, undefined],
    ["1.2.3.256", 80, undefined],
    ["::ffff:1.2.3.256", 80, undefined],
    ["fe80::1%eth0", 80, undefined],
    ["1:2:3:4:5:6:7:8:9", 80, undefined],
    ["localhost", 80, undefined],
    ["192.0.2.1", 0, undefined],
    ["192.0.2.1", 65536, undefined],
  ];
  for (const [host, port, expected] of cases) {
    assert.equal(PeerAddress.of(host, port)?.key, expected, `${host} ${port}`);
  }
});

Deno.test("with a classifier, refused datagrams are counted and the rest delivered", async () => {
  const arrivals: Arrival[] = [];
  // The first byte says the class; 9 is refused.
  const transport = await UdpTransport.bind(
    { host: "127.0.0.1", port: 0 },
    (from, bytes) => arrivals.push({ from, bytes }),
    { classify: (_from, bytes) => bytes[0] === 9 ? undefined : bytes[0] as ReceivePriority },
  );
  const sender = await listening();
  try {
    for (const first of [3, 9, 0, 2, 9, 1]) {
      sender.transport.send(transport.address, new Uint8Array([first, 42]));
    }
    await waitUntil(() => arrivals.length === 4, "the four admitted datagrams");
    assert.deepEqual(arrivals.map((arrival) => arrival.bytes[0]).sort(), [0, 1, 2, 3]);
    const stats = transport.stats();
    assert.equal(stats.receivesRefused, 2);
    assert.equal(stats.datagramsReceived, 6);
    assert.deepEqual(stats.receivesShed, [0, 0, 0, 0]);
    assert.equal(stats.receiveQueued, 0);
  } finally {
    await transport.close();
    await sender.transport.close();
  }
});

Deno.test({
  name: "readKernelReceiveCounters() finds a bound socket in /proc/net/udp and no other",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { transport } = await listening();
    try {
      assert.deepEqual(readKernelReceiveCounters(transport.address, true), {
        drops: 0,
        queueBytes: 0,
      });
      assert.equal(readKernelReceiveCounters(at("192.0.2.1:9"), true), undefined);
    } finally {
      await transport.close();
    }
  },
});

Deno.test("the kernel's receive buffer is not shrunk: a burst of 50 datagrams all arrive", async () => {
  // setRecvBufferSize(receiveBufferBytes) only sizes Deno's per-receive buffer; were it ever to
  // set SO_RCVBUF instead, a 2.4 KiB kernel buffer would hold two of these and drop the rest.
  const receiver = await listening();
  const raw = await rawSocket("udp4", "127.0.0.1");
  try {
    const port = receiver.transport.address.port;
    for (let i = 0; i < 50; i++) raw.send(new Uint8Array(200).fill(i), port, "127.0.0.1");
    await waitUntil(() => receiver.arrivals.length === 50, "all 50 datagrams");
    assert.equal(receiveBufferBytes, datagramBytesMax + 1);
  } finally {
    await receiver.transport.close();
    await closeRaw(raw);
  }
});
