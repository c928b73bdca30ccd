/**
 * A node under a flood, measured (issue 14): a target `rhizome run` process, a client node
 * (`--mobile`, so it holds no copies of the target's values) whose only contact is the target, a flooder that holds a real session with the
 * target and sends valid requests (PING and FIND_NODE, sealed in that session, from one
 * identity) at `--flood-rate` datagrams a second, and a junk sender at `--junk-rate` (random
 * bytes), all over real UDP on loopback. The client runs `--ops` (gets of values the target holds,
 * puts, or both in turn) through its control API at `--ops-per-s` before, during and after the
 * flood. It reports,
 * as one JSON object on stdout (progress on stderr):
 *
 * - `rates`: what the senders aimed at and achieved (datagrams the socket accepted per second),
 *   and what the target's socket read per second during the flood;
 * - `client`: operation success and latency in each phase (before, during, the first 10 s
 *   after, the rest after), the time from the flood's end to the first success and to the last
 *   failure, and the client's contacts and rejoins at the end (a get succeeds when it returns
 *   the value, a put when at least one remote node stored it; each has `--op-timeout-ms`);
 * - `flooder`: whether the target still answered the flooder's identity after the flood (a PING
 *   through its session), the time from the flooder's first datagram to the target's first
 *   graylisting or ban (polled, an upper bound), and the target's guard counters (graylistings,
 *   bans, drops by reason);
 * - `target`: its peak resident memory (VmHWM) and the most seen while sampling (VmRSS), the
 *   kernel's receive-buffer drops for its socket (`udp.kernel_receive_drops`, from /proc/net/udp)
 *   and the machine-wide UDP `RcvbufErrors` during the run, its receive-queue sheds, and the
 *   sources its kernel filter drops (banned ones; their datagrams count as kernel drops too).
 *
 * The flooder's datagrams are sealed in advance (`--pool` of them) and cycled: after the first
 * pass the repeats are replays, which a target that has graylisted the flooder drops unread
 * anyway.
 *
 * Usage: deno task bench:flood [--flood-rate 100000] [--junk-rate 30000] [--flood-s 20]
 *   [--before-s 5] [--after-s 30] [--ops-per-s 4] [--op-timeout-ms 5000] [--pool 100000] [--ops get|put|get,put]
 *   [--main path/to/main.ts] [--logs DIR] [--timeout-s 300]
 *
 * `--logs` writes the nodes' stderr tails and every operation (start relative to the flood's end)
 * there. `--main` runs the nodes from another checkout (for a before/after comparison); counters that
 * checkout lacks are reported as null. Every wait is bounded, the whole run by `--timeout-s`;
 * the children are killed and the temp dir removed on the way out. Linux only (/proc). Exit
 * status: 0 measured, 1 failed, 2 bad arguments.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { generateEd25519KeyPair } from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";
import { decodeMessage, encodeMessage, MessageType } from "../src/dht/messages.ts";
import { PeerAddress } from "../src/net/address.ts";
import { SecureChannel } from "../src/net/secure_channel.ts";
import { UdpTransport } from "../src/net/udp_transport.ts";
import { cryptoRandomBytes } from "../src/node/crypto_rng.ts";
import { ChildProcesses, type NodeProcess, ownMainPath, within } from "./_node_processes.ts";
import type { SenderReport, SenderTask } from "./bench_flood_sender.ts";
import { controlRoutes } from "../src/api/routes.ts";

/** Values the target holds for the client to get. */
const heldValuesCount = 300;
/** How often the target's memory is sampled. */
const rssSampleMs = 250;

/** Every child started, so the cleanup can find them all. */
const processes = new ChildProcesses();

function progress(message: string): void {
  console.error(`[bench_flood ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a node of `main` with more flags `args`. */
function startNode(
  main: string,
  dataDir: string,
  args: string[],
  opTimeoutMs: number,
): Promise<NodeProcess> {
  return processes.startNode({
    label: "a node",
    dataDir,
    args,
    mainPath: main,
    // The module cache this process uses, so the nodes do not fetch their packages again.
    env: {
      DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache", "deno"),
    },
    startTimeoutMs: 60_000,
    clientTimeoutMs: opTimeoutMs,
  });
}

/**
 * A file under /proc, through `cat`: Deno refuses to read /proc without `--allow-all`.
 *
 * @returns Its text, or `undefined` when it cannot be read.
 */
async function readProc(path: string): Promise<string | undefined> {
  try {
    const { code, stdout } = await new Deno.Command("cat", { args: [path], stderr: "null" })
      .output();
    return code === 0 ? new TextDecoder().decode(stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM of a process, in MB. */
async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number } | undefined> {
  try {
    const text = await readProc(`/proc/${pid}/status`);
    if (text === undefined) return undefined;
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text)?.[1]);
    return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
  } catch {
    return undefined;
  }
}

/** The machine-wide count of UDP datagrams dropped for a full receive buffer. */
async function rcvbufErrors(): Promise<number | undefined> {
  try {
    const lines = ((await readProc("/proc/net/snmp")) ?? "").split("\n")
      .filter((line) => line.startsWith("Udp:"));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    return Number(values[names.indexOf("RcvbufErrors")]);
  } catch {
    return undefined;
  }
}

/** Runs a sender worker to completion. */
function runSender(task: SenderTask): Promise<SenderReport> {
  const worker = new Worker(new URL("./bench_flood_sender.ts", import.meta.url), {
    type: "module",
  });
  return new Promise<SenderReport>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<SenderReport>) => {
      resolve(event.data);
      worker.terminate();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`a sender failed: ${event.message}`));
      worker.terminate();
    };
    worker.postMessage(task, [task.pool]);
  });
}

/** Datagrams packed back to back, with their offsets. */
function pack(datagrams: Uint8Array[]): { pool: ArrayBuffer; offsets: Uint32Array } {
  const offsets = new Uint32Array(datagrams.length + 1);
  let total = 0;
  for (const [index, datagram] of datagrams.entries()) {
    offsets[index] = total;
    total += datagram.length;
  }
  offsets[datagrams.length] = total;
  const pool = new Uint8Array(total);
  for (const [index, datagram] of datagrams.entries()) pool.set(datagram, offsets[index]);
  return { pool: pool.buffer, offsets };
}

/** A peer with its own identity and a session with the target, and its socket's port. */
async function connectFlooder(targetAddress: PeerAddress, targetId: NodeId) {
  const identity = generateEd25519KeyPair();
  const ownId = NodeId.fromPublicKey(identity.publicKey);
  const pongs: number[] = [];
  const link: { channel?: SecureChannel } = {};
  const udp = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, (from, bytes) => {
    const received = link.channel?.receive(from, bytes);
    if (!received) return;
    const message = decodeMessage(received.plaintext);
    if (typeof message !== "string" && message.type === MessageType.pong) pongs.push(message.tx);
  });
  const channel = new SecureChannel({
    identity,
    clock: { nowMs: () => Date.now() },
    transport: udp,
    randomBytes: cryptoRandomBytes,
  });
  link.channel = channel;
  /** Sends a PING and waits (bounded) for its PONG. */
  const ping = async (tx: number, waitMs: number): Promise<boolean> => {
    channel.send(
      targetAddress,
      targetId,
      encodeMessage({ type: MessageType.ping, tx, sender: ownId, flags: 0 }),
    );
    const untilMs = performance.now() + waitMs;
    while (performance.now() < untilMs) {
      channel.tick();
      if (pongs.includes(tx)) return true;
      await sleep(20);
    }
    return false;
  };
  return { ownId, udp, channel, ping };
}

interface Op {
  startMs: number;
  ok: boolean;
  /** Why it failed: the API's error, "not found", or "not stored". */
  error?: string;
  latencyMs: number;
  kind: "get" | "put";
}

function summary(ops: Op[]) {
  const latencies = ops.filter((op) => op.ok).map((op) => op.latencyMs).sort((a, b) => a - b);
  const at = (q: number) =>
    latencies.length === 0
      ? null
      : Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]);
  const ok = ops.filter((op) => op.ok).length;
  return {
    operations: ops.length,
    succeeded: ok,
    success_pct: ops.length === 0 ? null : Math.round((1000 * ok) / ops.length) / 10,
    latency_ms_p50: at(0.5),
    latency_ms_p95: at(0.95),
  };
}

async function main(): Promise<number> {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: {
      "flood-rate": { type: "string", default: "100000" },
      "junk-rate": { type: "string", default: "30000" },
      "flood-s": { type: "string", default: "20" },
      "before-s": { type: "string", default: "5" },
      "after-s": { type: "string", default: "30" },
      "ops-per-s": { type: "string", default: "4" },
      "op-timeout-ms": { type: "string", default: "5000" },
      pool: { type: "string", default: "100000" },
      main: { type: "string", default: ownMainPath },
      "timeout-s": { type: "string", default: "300" },
      logs: { type: "string" },
      ops: { type: "string", default: "get" },
    },
  });
  const number = (name: keyof typeof args) => {
    const value = Number(args[name]);
    if (!Number.isFinite(value) || value < 0) {
      console.error(`bench_flood: --${name} must be a number ≥ 0`);
      Deno.exit(2);
    }
    return value;
  };
  const floodRate = number("flood-rate");
  const junkRate = number("junk-rate");
  const floodMs = number("flood-s") * 1000;
  const beforeMs = number("before-s") * 1000;
  const afterMs = number("after-s") * 1000;
  const opsPerS = Math.max(0.1, number("ops-per-s"));
  const opTimeoutMs = number("op-timeout-ms");
  const poolCount = Math.max(1, Math.floor(number("pool")));
  const timeoutMs = number("timeout-s") * 1000;
  const mainPath = args.main!;
  const kinds = args.ops!.split(",");
  if (kinds.length === 0 || kinds.some((kind) => kind !== "get" && kind !== "put")) {
    console.error("bench_flood: --ops must be get, put or get,put");
    return 2;
  }
  const root = await Deno.makeTempDir({ prefix: "rhizome-bench-flood-" });
  const overall = setTimeout(() => {
    progress(`the run took longer than ${timeoutMs / 1000} s; stopping`);
    processes.killAllNow();
    Deno.removeSync(root, { recursive: true });
    Deno.exit(1);
  }, timeoutMs);
  try {
    progress("starting the target and the client");
    const target = await startNode(mainPath, join(root, "target"), ["--full"], opTimeoutMs);
    // Put before the client joins, so the values are the target's alone and every get of the
    // client goes through it.
    progress(`putting ${heldValuesCount} values at the target`);
    const held: { key: string; value: Uint8Array }[] = [];
    for (let i = 0; i < heldValuesCount; i++) {
      const value = crypto.getRandomValues(new Uint8Array(64));
      const { key } = await target.client.call(controlRoutes.put, { value });
      held.push({ key, value });
    }

    const client = await startNode(
      mainPath,
      join(root, "client"),
      ["--mobile", "--bootstrap", target.contact],
      opTimeoutMs,
    );
    await within(
      "the client to know the target",
      30_000,
      (async () => {
        while ((await client.client.call(controlRoutes.status)).contacts < 1) await sleep(100);
      })(),
    );
    const targetStatus = await target.client.call(controlRoutes.status);
    const targetAddress = PeerAddress.parse(targetStatus.listen as string)!;
    const targetPort = targetAddress.port;
    const targetId = NodeId.fromHex(target.nodeId);

    progress(`sealing ${poolCount} requests from the flooder's identity`);
    const flooder = await connectFlooder(targetAddress, targetId);
    if (!(await flooder.ping(1, 10_000))) throw new Error("the flooder got no PONG before");
    const session = flooder.channel.currentSession(targetAddress);
    if (session === undefined) throw new Error("the flooder has no session");
    const requests: Uint8Array[] = [];
    for (let tx = 0; tx < poolCount; tx++) {
      const message = tx % 2 === 0
        ? encodeMessage({ type: MessageType.ping, tx: 1000 + tx, sender: flooder.ownId, flags: 0 })
        : encodeMessage({
          type: MessageType.findNode,
          tx: 1000 + tx,
          sender: flooder.ownId,
          flags: 0,
          target: NodeId.fromBytes(crypto.getRandomValues(new Uint8Array(20))),
        });
      requests.push(session.seal(message));
    }
    const junk: Uint8Array[] = [];
    for (let i = 0; i < 1024; i++) {
      junk.push(crypto.getRandomValues(new Uint8Array(64 + Math.floor(Math.random() * 448))));
    }

    // The client's operations, started at a fixed rate through the whole run.
    const ops: Op[] = [];
    let opIndex = 0;
    let running = true;
    const pending: Promise<void>[] = [];
    const operate = async () => {
      while (running) {
        const index = opIndex++;
        const startMs = performance.now();
        const kind = kinds[index % kinds.length] as Op["kind"];
        pending.push((async () => {
          let error: string | undefined;
          try {
            if (kind === "get") {
              const wanted = held[index % held.length];
              const got = await client.client.call(controlRoutes.get, NodeId.fromHex(wanted.key));
              const same = got !== undefined && got.length === wanted.value.length &&
                got.every((byte, i) => byte === wanted.value[i]);
              if (!same) error = got === undefined ? "not found" : "another value";
            } else {
              const report = await client.client.call(controlRoutes.put, {
                value: crypto.getRandomValues(new Uint8Array(64)),
              });
              if (report.stored < 1) error = "not stored";
            }
          } catch (failure) {
            error = String((failure as Error).message ?? failure).slice(0, 200);
          }
          const latencyMs = performance.now() - startMs;
          ops.push({ startMs, ok: error === undefined, error, latencyMs, kind });
        })());
        await sleep(1000 / opsPerS);
      }
    };
    let peakRssMb = 0;
    const sampler = setInterval(async () => {
      const memory = await memoryOf(target.proc.pid);
      if (memory) peakRssMb = Math.max(peakRssMb, memory.rssMb);
    }, rssSampleMs);

    const runStartMs = performance.now();
    const rcvbufBefore = await rcvbufErrors();
    const operating = operate();
    progress(`before: ${beforeMs / 1000} s of client operations`);
    await sleep(beforeMs);
    const received = async () =>
      ((await target.client.call(controlRoutes.status)).udp as { datagrams_received: number })
        .datagrams_received;
    const receivedBefore = await received();
    const floodStartMs = performance.now();
    progress(
      `flooding: ${floodRate}/s valid requests and ${junkRate}/s junk for ${floodMs / 1000} s`,
    );
    // How soon the target penalizes the flood: its guard's graylistings and bans, polled.
    const penalized = async () => {
      const guard = (await target.client.call(controlRoutes.status)).guard as
        | { penalties: { graylistings: number; bans: number } }
        | undefined;
      return guard === undefined ? undefined : guard.penalties.graylistings + guard.penalties.bans;
    };
    const penalizedBefore = await penalized();
    let graylistedAtEpochMs: number | undefined;
    const watching = (async () => {
      while (penalizedBefore !== undefined && graylistedAtEpochMs === undefined) {
        if (performance.now() - floodStartMs > floodMs) return;
        const now = await penalized().catch(() => undefined);
        if (now !== undefined && now > penalizedBefore) graylistedAtEpochMs = Date.now();
        await sleep(50);
      }
    })();
    const floodPort = flooder.udp.address.port;
    // The flood leaves from the port that made the session, so the target sees one peer.
    await flooder.udp.close();
    const senders: Promise<SenderReport | undefined>[] = [];
    if (floodRate > 0) {
      senders.push(runSender({
        host: "127.0.0.1",
        port: targetPort,
        fromPort: floodPort,
        ratePerS: floodRate,
        durationMs: floodMs,
        ...pack(requests),
      }));
    } else senders.push(Promise.resolve(undefined));
    if (junkRate > 0) {
      senders.push(runSender({
        host: "127.0.0.1",
        port: targetPort,
        fromPort: 0,
        ratePerS: junkRate,
        durationMs: floodMs,
        ...pack(junk),
      }));
    } else senders.push(Promise.resolve(undefined));
    const [floodReport, junkReport] = await within(
      "the senders",
      floodMs + 30_000,
      Promise.all(senders),
    );
    const floodEndMs = performance.now();
    await watching;
    const targetRead = (await received()) - receivedBefore;
    progress(`after: ${afterMs / 1000} s of client operations`);
    await sleep(afterMs);
    running = false;
    await operating;
    await within("the last operations", opTimeoutMs + 10_000, Promise.all(pending));
    clearInterval(sampler);

    // Does the target still answer the flooder's identity? A fresh socket on the same port.
    const again = await flooderAnswered(targetAddress, floodPort, flooder);
    const targetAfter = await target.client.call(controlRoutes.status);
    const clientAfter = await client.client.call(controlRoutes.status);
    const memory = await memoryOf(target.proc.pid);
    const rcvbufAfter = await rcvbufErrors();

    const phase = (fromMs: number, toMs: number) =>
      ops.filter((op) => op.startMs >= fromMs && op.startMs < toMs);
    const after = ops.filter((op) => op.startMs >= floodEndMs).sort((a, b) =>
      a.startMs - b.startMs
    );
    const firstOk = after.find((op) => op.ok);
    const lastFailure = after.filter((op) => !op.ok).at(-1);
    const seconds = (ms: number | undefined) =>
      ms === undefined ? null : Math.round((ms - floodEndMs) / 100) / 10;
    const udp = targetAfter.udp as Record<string, unknown>;
    const rate = (report: SenderReport | undefined, aimed: number) =>
      report === undefined ? null : {
        aimed_per_s: aimed,
        achieved_per_s: Math.round(report.sent / (report.elapsedMs / 1000)),
        send_errors: report.errors,
      };
    const result = {
      conditions: {
        flood_s: floodMs / 1000,
        ops_per_s: opsPerS,
        op_timeout_ms: opTimeoutMs,
        main: mainPath,
        load_average: (await readProc("/proc/loadavg"))?.trim() ?? null,
      },
      rates: {
        valid_requests: rate(floodReport, floodRate),
        junk: rate(junkReport, junkRate),
        target_read_per_s: Math.round(targetRead / ((floodEndMs - floodStartMs) / 1000)),
      },
      client: {
        before: summary(phase(runStartMs, floodStartMs)),
        during: summary(phase(floodStartMs, floodEndMs)),
        after_first_10_s: summary(phase(floodEndMs, floodEndMs + 10_000)),
        after_rest: summary(phase(floodEndMs + 10_000, Infinity)),
        first_success_after_flood_s: seconds(firstOk?.startMs),
        last_failure_after_flood_s: seconds(lastFailure?.startMs),
        contacts_at_end: clientAfter.contacts,
        // Its own puts only, when the gets went through the target (held elsewhere).
        stored_records_at_end: clientAfter.stored_records,
        puts: ops.filter((op) => op.kind === "put").length,
        rejoins: clientAfter.rejoins ?? null,
      },
      flooder: {
        answered_after_flood: again,
        // From the flooder's first datagram to the target's first graylisting or ban, seen by
        // polling the status API (every 50 ms plus its answer time): an upper bound.
        first_penalty_after_flood_start_ms:
          graylistedAtEpochMs === undefined || floodReport === undefined
            ? null
            : Math.max(0, graylistedAtEpochMs - floodReport.startedAtEpochMs),
        // The same from the target's log: its first graylisting or ban line (of the flooder or
        // the junk source), after the first datagram of either sender.
        first_guard_line_after_flood_start_ms: firstGuardLineMs(
          target.stderr(),
          Math.min(
            floodReport?.startedAtEpochMs ?? Infinity,
            junkReport?.startedAtEpochMs ?? Infinity,
          ),
        ),
        guard: targetAfter.guard ?? null,
      },
      target: {
        peak_rss_mb: memory ? Math.round(memory.peakMb) : null,
        max_sampled_rss_mb: Math.round(peakRssMb),
        kernel_receive_drops: udp.kernel_receive_drops ?? null,
        machine_udp_rcvbuf_errors: rcvbufBefore !== undefined && rcvbufAfter !== undefined
          ? rcvbufAfter - rcvbufBefore
          : null,
        receive_queue_shed: udp.receives_shed ?? null,
        kernel_filter_sources: udp.kernel_filter_sources ?? null,
        kernel_filter_problem: udp.kernel_filter_problem ?? null,
        receives_refused: udp.receives_refused ?? null,
        channel_dropped: (targetAfter.channel as { dropped: unknown }).dropped,
        dht_dropped: (targetAfter.dht as { dropped: unknown }).dropped,
      },
    };
    console.log(JSON.stringify(result, null, 2));
    if (args.logs !== undefined) {
      await Deno.writeTextFile(join(args.logs, "target.log"), target.stderr());
      await Deno.writeTextFile(join(args.logs, "client.log"), client.stderr());
      await Deno.writeTextFile(
        join(args.logs, "ops.json"),
        JSON.stringify(ops.map((op) => ({ ...op, startMs: Math.round(op.startMs - floodEndMs) }))),
      );
    }
    return 0;
  } catch (error) {
    progress(`failed: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    clearTimeout(overall);
    await processes.killAll().catch((error) => progress(String(error)));
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

/** Milliseconds from `startEpochMs` to the first guard line in a node's log, or `null`. */
function firstGuardLineMs(log: string, startEpochMs: number): number | null {
  const line = /^(\S+) WARN\s+rhizome\.guard: (graylisted|banned) /m.exec(log);
  const atMs = line === null ? NaN : Date.parse(line[1]);
  return Number.isFinite(atMs) && Number.isFinite(startEpochMs) ? atMs - startEpochMs : null;
}

/**
 * Rebinds the flooder's port and sends one PING sealed in its session, as its flood was: `true`
 * when the target answered within 3 s (it should not: the flooder is graylisted or banned).
 */
async function flooderAnswered(
  targetAddress: PeerAddress,
  port: number,
  flooder: Awaited<ReturnType<typeof connectFlooder>>,
): Promise<boolean> {
  const session = flooder.channel.currentSession(targetAddress);
  if (session === undefined) return false;
  const tx = 7;
  let answered = false;
  const udp = await UdpTransport.bind({ host: "127.0.0.1", port }, (from, bytes) => {
    const received = flooder.channel.receive(from, bytes);
    if (!received) return;
    const message = decodeMessage(received.plaintext);
    if (typeof message !== "string" && message.type === MessageType.pong && message.tx === tx) {
      answered = true;
    }
  });
  try {
    udp.send(
      targetAddress,
      session.seal(encodeMessage({ type: MessageType.ping, tx, sender: flooder.ownId, flags: 0 })),
    );
    const untilMs = performance.now() + 3_000;
    while (!answered && performance.now() < untilMs) await sleep(20);
    return answered;
  } finally {
    await udp.close();
  }
}

if (import.meta.main) Deno.exit(await main());
