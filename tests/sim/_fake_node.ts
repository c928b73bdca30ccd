/**
 * A tiny stand-in for `DhtNode`, to test the simulator's driver without the DHT: bootstrap pings
 * the seeds and succeeds on the first pong (fails after `FAKE_BOOTSTRAP_TIMEOUT_MS`), a heartbeat
 * wakes it every `FAKE_HEARTBEAT_MS`, and every tick is recorded with the time it ran and the time
 * it had asked for.
 */

import { NodeId } from "../../src/core/node_id.ts";
import type { PeerAddress } from "../../src/net/address.ts";
import type { SimNode } from "../../src/sim/cluster.ts";
import type {
  BootstrapResult,
  Contact,
  DhtNodeOptions,
  GetResult,
  LookupResult,
  PutResult,
  UpdatePut,
} from "../../src/dht/types.ts";

/** How long a fake bootstrap waits for a pong. */
export const FAKE_BOOTSTRAP_TIMEOUT_MS = 1_000;
/** Period of the fake's heartbeat. */
export const FAKE_HEARTBEAT_MS = 60_000;

const PING = 1;
const PONG = 2;

/** A fake node; `nodes` collects every one built, in order. */
export class FakeNode implements SimNode {
  readonly options: DhtNodeOptions;
  /** Address keys heard from. */
  readonly contacts = new Set<string>();
  /** For each tick: when it ran and the earliest wake-up the node had asked for. */
  readonly ticks: { nowMs: number; wantedMs: number }[] = [];
  stopped = false;
  #bootstrapDone: ((result: BootstrapResult) => void) | undefined;
  #bootstrapDeadlineMs = Infinity;
  #heartbeatMs: number;

  constructor(options: DhtNodeOptions) {
    this.options = options;
    this.#heartbeatMs = options.clock.nowMs() + FAKE_HEARTBEAT_MS;
  }

  receive(from: PeerAddress, bytes: Uint8Array): void {
    if (this.stopped) throw new Error("a stopped node received a datagram");
    this.contacts.add(from.key);
    if (bytes[0] === PING) this.options.transport.send(from, new Uint8Array([PONG]));
    if (bytes[0] === PONG) this.#finishBootstrap(true);
  }

  tick(): void {
    const nowMs = this.options.clock.nowMs();
    this.ticks.push({ nowMs, wantedMs: this.nextWakeupMs() });
    if (nowMs >= this.#bootstrapDeadlineMs) this.#finishBootstrap(false);
    while (this.#heartbeatMs <= nowMs) this.#heartbeatMs += FAKE_HEARTBEAT_MS;
  }

  nextWakeupMs(): number {
    return this.stopped ? Infinity : Math.min(this.#heartbeatMs, this.#bootstrapDeadlineMs);
  }

  bootstrap(seeds: Contact[], done: (result: BootstrapResult) => void): void {
    if (seeds.length === 0) {
      done({ ok: true, contacts: 0, wrongIdentity: [] });
      return;
    }
    this.#bootstrapDone = done;
    this.#bootstrapDeadlineMs = this.options.clock.nowMs() + FAKE_BOOTSTRAP_TIMEOUT_MS;
    for (const seed of seeds) this.options.transport.send(seed.address, new Uint8Array([PING]));
  }

  findNode(_target: NodeId, done: (result: LookupResult) => void): void {
    done({ ok: false, closest: [], rounds: 0, messages: 0, durationMs: 0 });
  }

  get(_key: NodeId, done: (result: GetResult) => void): void {
    done({ ok: false, closest: [], rounds: 0, messages: 0, durationMs: 0 });
  }

  putAt(key: NodeId, _value: Uint8Array, done: (result: PutResult) => void): void {
    done({ ok: false, key, stored: 0, holders: 0, quorum: 1, storesHere: true, durationMs: 0 });
  }

  getForUpdate(_key: NodeId, done: (result: GetResult, put: UpdatePut) => void): void {
    done({ ok: false, closest: [], rounds: 0, messages: 0, durationMs: 0 }, () => {});
  }

  answerStream(_bytes: Uint8Array, _peer: NodeId, done: (answer?: Uint8Array) => void): void {
    done();
  }

  put(value: Uint8Array, done: (result: PutResult) => void): NodeId {
    const key = NodeId.fromPublicKey(value);
    done({ ok: false, key, stored: 0, holders: 0, quorum: 1, storesHere: true, durationMs: 0 });
    return key;
  }

  stop(): void {
    this.stopped = true;
    this.#finishBootstrap(false);
  }

  routingTableSize(): number {
    return this.contacts.size;
  }

  #finishBootstrap(ok: boolean): void {
    const done = this.#bootstrapDone;
    if (!done) return;
    this.#bootstrapDone = undefined;
    this.#bootstrapDeadlineMs = Infinity;
    done({ ok, contacts: this.contacts.size, wrongIdentity: [] });
  }
}
