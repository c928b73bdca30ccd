/**
 * A deterministic virtual network: the simulator's stand-in for UDP and for the passage of time.
 * It owns a virtual clock and a seeded generator; every datagram gets a delivery time from its
 * link's latency plus jitter (so datagrams reorder), may be lost or duplicated, is dropped across
 * a partition or to a crashed address, and is delivered by {@link SimNetwork.run}, which jumps
 * the clock from event to event instead of sleeping. One `simSeed` gives one run, event for event.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { VirtualClock } from "../core/clock.ts";
import { datagramBytesMax } from "../core/limits.ts";
import { Prng, randomFloat } from "../core/rng.ts";
import type { PeerAddress } from "../net/address.ts";
import type { Transport } from "../net/transport.ts";
import { EventQueue } from "./event_queue.ts";
import { deriveSeed, hashText } from "./hash.ts";

/**
 * Events one {@link SimNetwork.run} call may process. A 1000-node scenario phase takes a few
 * million; fifty million is minutes of CPU, so a run that gets there is a node that keeps
 * talking or waking without end (a liveness bug), not a big workload.
 */
export const SIM_EVENTS_MAX = 50_000_000;

/**
 * Events queued at once. Each live node holds at most a few wake-ups and its datagrams in flight
 * (bounded by its `rpc_inflight_max`), so even 10,000 nodes stay far below a million; past it,
 * something schedules without bound.
 */
export const SIM_QUEUED_EVENTS_MAX = 1_000_000;

/** Where virtual time starts: 2025-01-01T00:00:00Z, a realistic epoch time, so no code can
 * mistake "time 0" for "unset". */
export const SIM_START_MS = 1_735_689_600_000;

/** Knobs of a {@link SimNetwork}. Rates are probabilities per datagram, from 0 to 1. */
export interface SimNetworkOptions {
  /** The run's seed: link latencies, jitter, loss and duplication all follow from it. */
  simSeed: number;
  /**
   * Lowest base latency of a link, in ms.
   * @default 20
   */
  latencyMsMin?: number;
  /**
   * Highest base latency of a link, in ms (each ordered link draws one base in [min, max]).
   * @default 200
   */
  latencyMsMax?: number;
  /**
   * Extra delay per datagram, uniform in [0, jitterFraction × base latency]: reorders datagrams.
   * @default 0.1
   */
  jitterFraction?: number;
  /**
   * Probability a datagram is lost.
   * @default 0
   */
  lossRate?: number;
  /**
   * Probability a datagram is delivered twice (each copy with its own jitter).
   * @default 0
   */
  duplicateRate?: number;
  /**
   * Events one `run()` call may process before it fails as a liveness bug.
   * @default SIM_EVENTS_MAX
   */
  eventsMax?: number;
  /**
   * Events queued at once before `schedule()` or a send fails as a liveness bug.
   * @default SIM_QUEUED_EVENTS_MAX
   */
  queuedEventsMax?: number;
  /**
   * The virtual clock's first reading, in ms since the epoch.
   * @default SIM_START_MS
   */
  startMs?: number;
}

/** What happened to datagrams so far. Every sent datagram (and every duplicate) ends up in
 * exactly one of delivered, lost, dropped*, or is still in flight. */
export interface SimNetworkCounters {
  /** `send()` calls. */
  sent: number;
  /** Datagrams handed to a receiver (duplicates included). */
  delivered: number;
  /** Datagrams dropped by the loss rate. */
  lost: number;
  /** Extra copies made by the duplication rate. */
  duplicated: number;
  /** Datagrams over `datagramBytesMax`: a bug in the sender. */
  droppedOversize: number;
  /** Datagrams between different groups of a partition. */
  droppedPartition: number;
  /** Datagrams to an address with nobody attached (crashed, left, never there). */
  droppedNoReceiver: number;
  /** Datagrams sent through the transport of a detached address. */
  droppedNoSender: number;
  /** Datagrams (and copies) scheduled but not yet delivered or dropped. */
  inFlight: number;
  /** Events processed by `run()`: deliveries, drops at delivery time, timers. */
  events: number;
}

/** Why {@link SimNetwork.run} returned. */
export type SimRunStop = "idle" | "time" | "condition";

/** Bounds of one {@link SimNetwork.run} call; with neither, it runs until the queue is empty. */
export interface SimRunOptions {
  /** Stop before the first event later than this; the clock is then set to it. */
  untilMs?: number;
  /** Checked before each event; stop as soon as it returns `true`. */
  until?: () => boolean;
}

/** Receives the datagrams sent to one address. */
export type SimReceiver = (from: PeerAddress, bytes: Uint8Array) => void;

/**
 * Names what caused a datagram (an operation a scenario counts the messages of), or `undefined`.
 * A datagram sent while the network delivers one with a cause inherits that cause, so the
 * messages an operation sets off on other nodes are counted with it; see {@link SimNetwork.setCauses}.
 */
export type SimCause = number | undefined;

type NetworkEvent =
  | { kind: "datagram"; from: PeerAddress; to: PeerAddress; bytes: Uint8Array; cause: SimCause }
  | { kind: "timer"; callback: () => void; cause: SimCause };

/** One attachment of a receiver; a later attach at the same address is a different one. */
interface Attachment {
  readonly receive: SimReceiver;
}

/**
 * The virtual network and clock.
 *
 * @example Two addresses exchange a datagram
 * ```ts
 * import { PeerAddress } from "../net/address.ts";
 * import { SimNetwork } from "./network.ts";
 * const network = new SimNetwork({ simSeed: 1, latencyMsMin: 10, latencyMsMax: 10 });
 * const got: string[] = [];
 * const a = network.attach(PeerAddress.parse("127.0.0.1:7447")!, () => {});
 * network.attach(PeerAddress.parse("127.0.0.2:7447")!, (from) => got.push(from.key));
 * a.send(PeerAddress.parse("127.0.0.2:7447")!, new Uint8Array([1]));
 * network.run();
 * if (got[0] !== "127.0.0.1:7447") throw new Error("not delivered");
 * ```
 */
export class SimNetwork {
  /** The virtual clock; only `run()` moves it. */
  readonly clock: VirtualClock;
  readonly #options: Required<SimNetworkOptions>;
  readonly #prng: Prng;
  readonly #linkSeed: number;
  readonly #queue: EventQueue<NetworkEvent>;
  /** By address key. */
  readonly #attachments = new Map<string, Attachment>();
  /** Partition group by address key. */
  #groups: Map<string, number> | undefined;
  #restGroup = 0;
  /** The cause of the event being processed. */
  #cause: SimCause;
  /** The cause a sender gives what it sends itself, whatever it is handling. */
  #causeOf: (from: PeerAddress) => SimCause = () => undefined;
  readonly #counters: SimNetworkCounters = {
    sent: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    droppedOversize: 0,
    droppedPartition: 0,
    droppedNoReceiver: 0,
    droppedNoSender: 0,
    inFlight: 0,
    events: 0,
  };

  /**
   * Makes an empty network with its clock at `startMs`.
   *
   * @param options The seed and the fault knobs.
   * @throws {RangeError} When an option is out of range, naming it and its value.
   */
  constructor(options: SimNetworkOptions) {
    this.#options = checkOptions(options);
    this.clock = new VirtualClock(this.#options.startMs);
    this.#prng = new Prng(deriveSeed(this.#options.simSeed, "network"));
    this.#linkSeed = deriveSeed(this.#options.simSeed, "links");
    this.#queue = new EventQueue(this.#options.queuedEventsMax);
  }

  /**
   * A copy of the counters.
   *
   * @returns The counters now.
   */
  counters(): SimNetworkCounters {
    return { ...this.#counters };
  }

  /**
   * Connects a receiver to `address` and returns the transport that sends from it.
   *
   * @param address The address; nobody else may be attached there.
   * @param receive Called with each datagram delivered to `address`.
   * @returns Sends from `address`; it goes dead (drops and counts) once `address` is detached.
   * @throws {AssertionError} When `address` is taken.
   */
  attach(address: PeerAddress, receive: SimReceiver): Transport {
    assert(!this.#attachments.has(address.key), `address ${address} is already attached`);
    const attachment: Attachment = { receive };
    this.#attachments.set(address.key, attachment);
    return {
      send: (to, bytes) => {
        if (this.#attachments.get(address.key) !== attachment) {
          this.#counters.sent++;
          this.#counters.droppedNoSender++;
          return;
        }
        this.#send(address, to, bytes);
      },
    };
  }

  /**
   * Disconnects `address`, as in a crash: datagrams to it are dropped and counted from now on,
   * including those already in flight, and its transport goes dead.
   *
   * @param address An attached address.
   * @throws {AssertionError} When nothing is attached there.
   */
  detach(address: PeerAddress): void {
    assert(this.#attachments.delete(address.key), `address ${address} is not attached`);
  }

  /**
   * Whether a receiver is attached at `address`.
   *
   * @param address The address.
   * @returns `true` when attached.
   */
  isAttached(address: PeerAddress): boolean {
    return this.#attachments.has(address.key);
  }

  /**
   * Splits the network: datagrams between addresses of different groups are dropped (also those
   * already in flight). Addresses in no group form one more group together. Replaces any earlier
   * partition.
   *
   * @param groups Disjoint lists of addresses.
   * @throws {AssertionError} When an address appears twice.
   */
  partition(groups: PeerAddress[][]): void {
    const map = new Map<string, number>();
    groups.forEach((group, index) => {
      for (const address of group) {
        assert(!map.has(address.key), `address ${address} is in two partition groups`);
        map.set(address.key, index);
      }
    });
    this.#groups = map;
    this.#restGroup = groups.length;
  }

  /** Ends any partition: every address reaches every other again. */
  heal(): void {
    this.#groups = undefined;
  }

  /**
   * The base latency of the ordered link `from` → `to`: stable for the whole run, derived from
   * the seed and the pair, uniform in [latencyMsMin, latencyMsMax].
   *
   * @param from The sender.
   * @param to The receiver.
   * @returns Whole milliseconds.
   */
  linkLatencyMs(from: PeerAddress, to: PeerAddress): number {
    const { latencyMsMin, latencyMsMax } = this.#options;
    const span = latencyMsMax - latencyMsMin + 1;
    return latencyMsMin + (hashText(this.#linkSeed, `${from}>${to}`) % span);
  }

  /**
   * Runs `callback` when the clock reaches `atMs` (after events already due then).
   *
   * @param atMs When; not in the past.
   * @param callback What to run.
   * @param cause What the callback's datagrams are caused by (a reply carried by a timer).
   * @throws {AssertionError} When `atMs` lies in the past.
   * @throws {RangeError} When the queue is full (a liveness bug).
   */
  schedule(atMs: number, callback: () => void, cause?: SimCause): void {
    const nowMs = this.clock.nowMs();
    assert(atMs >= nowMs, `cannot schedule at ${atMs}, the clock is already at ${nowMs}`);
    this.#queue.push(atMs, { kind: "timer", callback, cause });
  }

  /**
   * Says which senders cause what they send themselves (a node running a counted operation):
   * their datagrams carry that cause; every other datagram carries the cause of the datagram (or
   * timer) being handled when it was sent, if any.
   *
   * @param causeOf The cause of a sender's own datagrams, `undefined` for none.
   */
  setCauses(causeOf: (from: PeerAddress) => SimCause): void {
    this.#causeOf = causeOf;
  }

  /**
   * The cause a datagram from `from` sent now carries.
   *
   * @param from The sender.
   * @returns Its own cause, else that of the event being processed.
   */
  causeOf(from: PeerAddress): SimCause {
    return this.#causeOf(from) ?? this.#cause;
  }

  /**
   * Processes events in time order, moving the clock to each, until a bound is reached.
   *
   * @param options When to stop; without bounds, when no event is left.
   * @returns Why it stopped.
   * @throws {RangeError} When it processed `eventsMax` events without reaching a bound: a
   *   liveness bug. Whatever a receiver or callback throws passes through.
   */
  run(options: SimRunOptions = {}): SimRunStop {
    const { untilMs, until } = options;
    assert(untilMs === undefined || untilMs >= this.clock.nowMs(), "untilMs lies in the past");
    for (let processed = 0;; processed++) {
      if (until?.()) return "condition";
      const nextMs = this.#queue.peekTimeMs();
      if (untilMs !== undefined && nextMs > untilMs) {
        this.clock.advanceTo(untilMs);
        return nextMs === Infinity ? "idle" : "time";
      }
      if (nextMs === Infinity) return "idle";
      if (processed >= this.#options.eventsMax) {
        throw new RangeError(
          `Cannot finish the run: ${processed} events processed at ${this.clock.nowMs()} ms, limit is ${this.#options.eventsMax} (a liveness bug)`,
        );
      }
      const event = this.#queue.pop()!;
      this.clock.advanceTo(event.timeMs);
      this.#counters.events++;
      this.#cause = event.payload.cause;
      try {
        if (event.payload.kind === "timer") event.payload.callback();
        else this.#deliver(event.payload.from, event.payload.to, event.payload.bytes);
      } finally {
        this.#cause = undefined;
      }
    }
  }

  #send(from: PeerAddress, to: PeerAddress, bytes: Uint8Array): void {
    const counters = this.#counters;
    counters.sent++;
    if (bytes.length > datagramBytesMax) {
      counters.droppedOversize++;
      return;
    }
    if (!this.#connected(from, to)) {
      counters.droppedPartition++;
      return;
    }
    if (randomFloat(this.#prng) < this.#options.lossRate) {
      counters.lost++;
      return;
    }
    // Each copy gets its own bytes: the sender may reuse its buffer, a receiver may scribble.
    const cause = this.causeOf(from);
    this.#enqueue(from, to, bytes.slice(), cause);
    if (randomFloat(this.#prng) < this.#options.duplicateRate) {
      counters.duplicated++;
      this.#enqueue(from, to, bytes.slice(), cause);
    }
  }

  #enqueue(from: PeerAddress, to: PeerAddress, bytes: Uint8Array, cause: SimCause): void {
    const baseMs = this.linkLatencyMs(from, to);
    const jitterMs = randomFloat(this.#prng) * this.#options.jitterFraction * baseMs;
    this.#queue.push(this.clock.nowMs() + Math.round(baseMs + jitterMs), {
      kind: "datagram",
      from,
      to,
      bytes,
      cause,
    });
    this.#counters.inFlight++;
  }

  #deliver(from: PeerAddress, to: PeerAddress, bytes: Uint8Array): void {
    const counters = this.#counters;
    counters.inFlight--;
    assert(counters.inFlight >= 0, "more datagrams delivered than sent");
    if (!this.#connected(from, to)) {
      counters.droppedPartition++;
      return;
    }
    const attachment = this.#attachments.get(to.key);
    if (!attachment) {
      counters.droppedNoReceiver++;
      return;
    }
    counters.delivered++;
    attachment.receive(from, bytes);
  }

  #connected(from: PeerAddress, to: PeerAddress): boolean {
    const groups = this.#groups;
    if (!groups) return true;
    return (groups.get(from.key) ?? this.#restGroup) === (groups.get(to.key) ?? this.#restGroup);
  }
}

function checkOptions(options: SimNetworkOptions): Required<SimNetworkOptions> {
  const checked: Required<SimNetworkOptions> = {
    simSeed: options.simSeed,
    latencyMsMin: options.latencyMsMin ?? 20,
    latencyMsMax: options.latencyMsMax ?? 200,
    jitterFraction: options.jitterFraction ?? 0.1,
    lossRate: options.lossRate ?? 0,
    duplicateRate: options.duplicateRate ?? 0,
    eventsMax: options.eventsMax ?? SIM_EVENTS_MAX,
    queuedEventsMax: options.queuedEventsMax ?? SIM_QUEUED_EVENTS_MAX,
    startMs: options.startMs ?? SIM_START_MS,
  };
  const problem = (name: string, value: unknown, expected: string) =>
    new RangeError(`Cannot make a simulated network: ${name} is ${value}, expected ${expected}`);
  if (!Number.isSafeInteger(checked.simSeed)) {
    throw problem("simSeed", checked.simSeed, "an integer");
  }
  for (const name of ["latencyMsMin", "latencyMsMax"] as const) {
    if (!Number.isSafeInteger(checked[name]) || checked[name] < 0) {
      throw problem(name, checked[name], "a whole number of ms, 0 or more");
    }
  }
  if (checked.latencyMsMax < checked.latencyMsMin) {
    throw problem("latencyMsMax", checked.latencyMsMax, `at least latencyMsMin`);
  }
  for (const name of ["jitterFraction", "lossRate", "duplicateRate"] as const) {
    if (!(checked[name] >= 0 && checked[name] <= 1)) throw problem(name, checked[name], "0..1");
  }
  for (const name of ["eventsMax", "queuedEventsMax"] as const) {
    if (!Number.isSafeInteger(checked[name]) || checked[name] < 1) {
      throw problem(name, checked[name], "a positive integer");
    }
  }
  if (!Number.isFinite(checked.startMs)) throw problem("startMs", checked.startMs, "finite");
  return checked;
}
