// Goal: the simulated network is deterministic (one seed, one delivery sequence) and each fault
// knob does what it says: loss and duplication at about their rates, partitions and detached
// addresses drop (and count) datagrams, oversize datagrams never arrive, latency stays within the
// link's bounds, jitter reorders, and runs stop at their bounds.
// Method: attach a few addresses that log every delivery, drive traffic from a seeded generator
// through scheduled callbacks, and check logs and counters. Every assertion names its simSeed.

import assert from "node:assert/strict";
import { AssertionError } from "../../src/core/assert.ts";
import { datagramBytesMax } from "../../src/core/limits.ts";
import { Prng, randomInt } from "../../src/core/rng.ts";
import type { Transport } from "../../src/net/transport.ts";
import { SimNetwork, type SimNetworkOptions } from "../../src/sim/network.ts";
import { at } from "../_address.ts";
import type { PeerAddress } from "../../src/net/address.ts";

const addresses = [
  at("127.0.0.1:7447"),
  at("127.0.0.2:7447"),
  at("127.0.0.3:7447"),
  at("127.0.0.4:7447"),
];

interface Delivery {
  atMs: number;
  from: string;
  to: string;
  id: number;
}

/** A network with every address attached and logging what it receives (id = first 4 bytes). */
function setUp(options: SimNetworkOptions) {
  const network = new SimNetwork(options);
  const deliveries: Delivery[] = [];
  const transports = new Map<string, Transport>();
  for (const address of addresses) {
    transports.set(
      address.key,
      network.attach(address, (from, bytes) => {
        const id = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
        deliveries.push({ atMs: network.clock.nowMs(), from: from.key, to: address.key, id });
      }),
    );
  }
  const send = (from: PeerAddress, to: PeerAddress, id: number, length = 8) => {
    const bytes = new Uint8Array(length);
    new DataView(bytes.buffer).setUint32(0, id);
    transports.get(from.key)!.send(to, bytes);
  };
  return { network, deliveries, transports, send };
}

/** Sends `count` datagrams between random pairs at random times in the first 10 s. */
function randomTraffic(
  network: SimNetwork,
  send: (from: PeerAddress, to: PeerAddress, id: number) => void,
  trafficSeed: number,
  count: number,
): Map<number, number> {
  const prng = new Prng(trafficSeed);
  const sentAtMs = new Map<number, number>();
  const startMs = network.clock.nowMs();
  for (let id = 0; id < count; id++) {
    const from = addresses[randomInt(prng, addresses.length)];
    const to = addresses[randomInt(prng, addresses.length)];
    const atMs = startMs + randomInt(prng, 10_000);
    sentAtMs.set(id, atMs);
    network.schedule(atMs, () => send(from, to, id));
  }
  return sentAtMs;
}

function assertCountersBalance(network: SimNetwork, simSeed: number): void {
  const c = network.counters();
  assert.equal(
    c.sent + c.duplicated,
    c.delivered + c.lost + c.droppedOversize + c.droppedPartition + c.droppedNoReceiver +
      c.droppedNoSender + c.inFlight,
    `every datagram is accounted for, simSeed ${simSeed}: ${JSON.stringify(c)}`,
  );
}

Deno.test("SimNetwork delivers the same sequence for the same seed, another for another seed", () => {
  const trace = (simSeed: number) => {
    const { network, deliveries, send } = setUp({
      simSeed,
      lossRate: 0.1,
      duplicateRate: 0.1,
      jitterFraction: 0.5,
    });
    randomTraffic(network, send, 99, 2_000);
    network.run();
    assertCountersBalance(network, simSeed);
    return JSON.stringify({ deliveries, counters: network.counters() });
  };
  assert.equal(trace(1), trace(1), "simSeed 1 twice");
  assert.notEqual(trace(1), trace(2), "simSeeds 1 and 2");
});

Deno.test("SimNetwork loses about lossRate of the datagrams", () => {
  for (const [simSeed, lossRate] of [[3, 0.01], [4, 0.1], [5, 0.5]]) {
    const { network, deliveries, send } = setUp({ simSeed, lossRate });
    randomTraffic(network, send, simSeed, 20_000);
    network.run();
    const { lost, sent, delivered } = network.counters();
    assert.equal(sent, 20_000);
    assert.equal(delivered, deliveries.length);
    assert.equal(lost + delivered, sent, `simSeed ${simSeed}`);
    // 20,000 draws: the standard deviation of the rate is at most 0.0036; allow about 4 of them.
    assert.ok(Math.abs(lost / sent - lossRate) < 0.015, `lost ${lost}/${sent}, simSeed ${simSeed}`);
  }
});

Deno.test("SimNetwork with lossRate 1 delivers nothing and with 0 everything", () => {
  for (const lossRate of [0, 1]) {
    const { network, deliveries, send } = setUp({ simSeed: 6, lossRate });
    randomTraffic(network, send, 6, 500);
    network.run();
    assert.equal(deliveries.length, lossRate === 0 ? 500 : 0, `lossRate ${lossRate}, simSeed 6`);
  }
});

Deno.test("SimNetwork duplicates about duplicateRate of the datagrams, each copy delivered", () => {
  const simSeed = 8;
  const { network, deliveries, send } = setUp({ simSeed, duplicateRate: 0.2 });
  randomTraffic(network, send, simSeed, 10_000);
  network.run();
  const { duplicated, delivered } = network.counters();
  assert.equal(delivered, 10_000 + duplicated, `simSeed ${simSeed}`);
  assert.ok(Math.abs(duplicated / 10_000 - 0.2) < 0.02, `duplicated ${duplicated}, simSeed 8`);
  const perId = new Map<number, number>();
  for (const { id } of deliveries) perId.set(id, (perId.get(id) ?? 0) + 1);
  assert.equal(perId.size, 10_000, "every datagram arrives at least once");
  assert.equal([...perId.values()].filter((n) => n === 2).length, duplicated);
});

Deno.test("SimNetwork hands each receiver its own copy of the bytes", () => {
  const network = new SimNetwork({ simSeed: 9, duplicateRate: 1 });
  const got: Uint8Array[] = [];
  const a = network.attach(addresses[0], () => {});
  network.attach(addresses[1], (_from, bytes) => got.push(bytes));
  const bytes = new Uint8Array([1, 2, 3]);
  a.send(addresses[1], bytes);
  bytes[0] = 99; // the sender reuses its buffer
  network.run();
  assert.equal(got.length, 2);
  assert.deepEqual([...got[0]], [1, 2, 3]);
  got[0][1] = 77;
  assert.deepEqual([...got[1]], [1, 2, 3], "copies are independent");
});

Deno.test("SimNetwork drops datagrams across a partition, in flight too, until heal()", () => {
  const simSeed = 10;
  const { network, deliveries, send } = setUp({ simSeed, latencyMsMin: 50, latencyMsMax: 50 });
  const [a, b, c, d] = addresses;
  send(a, b, 1); // in flight when the partition starts
  network.run({ untilMs: network.clock.nowMs() + 10 });
  network.partition([[a, c], [b]]); // d is in no group: it forms the rest group alone
  send(a, c, 2);
  send(a, b, 3);
  send(b, a, 4);
  send(a, d, 5);
  send(d, d, 6);
  network.run();
  assert.deepEqual(deliveries.map((x) => x.id).sort(), [2, 6], `simSeed ${simSeed}`);
  assert.equal(network.counters().droppedPartition, 4);
  network.heal();
  send(a, b, 7);
  send(b, d, 8);
  network.run();
  assert.deepEqual(deliveries.map((x) => x.id).sort(), [2, 6, 7, 8]);
  assertCountersBalance(network, simSeed);
  assert.throws(() => network.partition([[a], [a]]), AssertionError, "an address in two groups");
});

Deno.test("SimNetwork drops datagrams to a detached address and from its dead transport", () => {
  const simSeed = 12;
  const { network, deliveries, send, transports } = setUp({ simSeed });
  const [a, b] = addresses;
  send(a, b, 1); // in flight when b crashes
  network.detach(b);
  send(a, b, 2);
  transports.get(b.key)!.send(a, new Uint8Array(8)); // b's old transport is dead
  network.run();
  assert.equal(deliveries.length, 0, `simSeed ${simSeed}`);
  const counters = network.counters();
  assert.equal(counters.droppedNoReceiver, 2);
  assert.equal(counters.droppedNoSender, 1);
  assert.equal(network.isAttached(b), false);
  assert.throws(() => network.detach(b), AssertionError);
  // Re-attaching gives a new transport; the old one stays dead.
  const fresh = network.attach(b, () => {});
  fresh.send(a, new Uint8Array(8));
  transports.get(b.key)!.send(a, new Uint8Array(8));
  network.run();
  assert.equal(deliveries.length, 1);
  assert.equal(network.counters().droppedNoSender, 2);
  assertCountersBalance(network, simSeed);
  assert.throws(() => network.attach(b, () => {}), AssertionError, "address taken");
});

Deno.test("SimNetwork never delivers a datagram over datagramBytesMax", () => {
  const { network, deliveries, send } = setUp({ simSeed: 13 });
  send(addresses[0], addresses[1], 1, datagramBytesMax);
  send(addresses[0], addresses[1], 2, datagramBytesMax + 1);
  network.run();
  assert.deepEqual(deliveries.map((x) => x.id), [1]);
  assert.equal(network.counters().droppedOversize, 1);
});

Deno.test("SimNetwork keeps each link's latency within [min, max] plus jitter, stable per link", () => {
  const simSeed = 14;
  const latencyMsMin = 20;
  const latencyMsMax = 200;
  const jitterFraction = 0.1;
  const { network, deliveries, send } = setUp({
    simSeed,
    latencyMsMin,
    latencyMsMax,
    jitterFraction,
  });
  const sentAtMs = randomTraffic(network, send, simSeed, 5_000);
  network.run();
  const bases = new Set<number>();
  for (const { atMs, from, to, id } of deliveries) {
    const baseMs = network.linkLatencyMs(at(from), at(to));
    bases.add(baseMs);
    assert.ok(baseMs >= latencyMsMin && baseMs <= latencyMsMax, `base ${baseMs}, simSeed 14`);
    const delayMs = atMs - sentAtMs.get(id)!;
    assert.ok(delayMs >= baseMs, `delay ${delayMs} < base ${baseMs}, simSeed ${simSeed}`);
    assert.ok(
      delayMs <= Math.round(baseMs * (1 + jitterFraction)),
      `delay ${delayMs} > base ${baseMs} + jitter, simSeed ${simSeed}`,
    );
  }
  assert.ok(bases.size > 8, `16 links should not share a few latencies, simSeed ${simSeed}`);
  const twin = new SimNetwork({ simSeed, latencyMsMin, latencyMsMax });
  assert.equal(
    twin.linkLatencyMs(addresses[0], addresses[1]),
    network.linkLatencyMs(addresses[0], addresses[1]),
    "a link's latency follows from the seed alone",
  );
  const fixed = new SimNetwork({ simSeed, latencyMsMin: 30, latencyMsMax: 30 });
  assert.equal(fixed.linkLatencyMs(addresses[2], addresses[3]), 30);
});

Deno.test("SimNetwork jitter reorders datagrams sent back to back on one link", () => {
  const simSeed = 15;
  const { network, deliveries, send } = setUp({ simSeed, jitterFraction: 0.5 });
  for (let id = 0; id < 100; id++) send(addresses[0], addresses[1], id);
  network.run();
  const ids = deliveries.map((x) => x.id);
  assert.equal(ids.length, 100);
  assert.notDeepEqual(ids, [...ids].sort((a, b) => a - b), `simSeed ${simSeed}`);
  const calm = setUp({ simSeed, jitterFraction: 0 });
  for (let id = 0; id < 100; id++) calm.send(addresses[0], addresses[1], id);
  calm.network.run();
  assert.deepEqual(calm.deliveries.map((x) => x.id), [...Array(100).keys()], "no jitter, FIFO");
});

Deno.test("SimNetwork.run() stops at untilMs, at a condition, or when idle", () => {
  const network = new SimNetwork({ simSeed: 16 });
  const startMs = network.clock.nowMs();
  const fired: number[] = [];
  for (const offsetMs of [10, 20, 30]) {
    network.schedule(startMs + offsetMs, () => fired.push(offsetMs));
  }
  assert.equal(network.run({ untilMs: startMs + 15 }), "time");
  assert.deepEqual(fired, [10]);
  assert.equal(network.clock.nowMs(), startMs + 15, "the clock moves to untilMs");
  assert.equal(network.run({ until: () => fired.length === 2 }), "condition");
  assert.equal(network.clock.nowMs(), startMs + 20);
  assert.equal(network.run(), "idle");
  assert.deepEqual(fired, [10, 20, 30]);
  assert.equal(network.run({ untilMs: startMs + 100 }), "idle");
  assert.equal(network.clock.nowMs(), startMs + 100, "time passes even with nothing to do");
  assert.equal(network.counters().events, 3);
  assert.throws(() => network.schedule(startMs, () => {}), AssertionError, "past");
});

Deno.test("SimNetwork.run() fails a run that exceeds eventsMax as a liveness bug", () => {
  const network = new SimNetwork({ simSeed: 17, eventsMax: 100 });
  const again = () => network.schedule(network.clock.nowMs() + 1, again);
  again();
  assert.throws(() => network.run(), /liveness/);
  assert.equal(network.counters().events, 100);
});

Deno.test("SimNetwork refuses options out of range, naming them", () => {
  const bad: [Partial<SimNetworkOptions>, RegExp][] = [
    [{ lossRate: 1.5 }, /lossRate/],
    [{ duplicateRate: -0.1 }, /duplicateRate/],
    [{ jitterFraction: NaN }, /jitterFraction/],
    [{ latencyMsMin: -1 }, /latencyMsMin/],
    [{ latencyMsMin: 50, latencyMsMax: 40 }, /latencyMsMax/],
    [{ eventsMax: 0 }, /eventsMax/],
    [{ simSeed: 1.5 }, /simSeed/],
  ];
  for (const [options, pattern] of bad) {
    assert.throws(() => new SimNetwork({ simSeed: 1, ...options }), pattern);
  }
});

Deno.test("a datagram carries its sender's own cause, else the cause of what was being handled", () => {
  const network = new SimNetwork({
    simSeed: 5,
    latencyMsMin: 10,
    latencyMsMax: 10,
    jitterFraction: 0,
    startMs: 0,
  });
  const [a, b, c, d] = addresses;
  const causes: [string, number | undefined][] = [];
  // Each receiver notes the cause it handles; b passes what it got on to c.
  const forward = (self: PeerAddress, to?: PeerAddress) => (from: PeerAddress) => {
    causes.push([`${from}>${network.clock.nowMs()}`, network.causeOf(d)]);
    if (to) transports.get(self.key)!.send(to, new Uint8Array(1));
  };
  const transports = new Map<string, Transport>([
    [a.key, network.attach(a, () => {})],
    [b.key, network.attach(b, forward(b, c))],
    [c.key, network.attach(c, forward(c))],
  ]);
  network.attach(d, () => {});
  // a runs operation 7: what it sends carries 7, and so does what b sends on while handling it.
  network.setCauses((from) => from.equals(a) ? 7 : undefined);
  transports.get(a.key)!.send(b, new Uint8Array(1));
  // A timer given a cause passes it to what it runs; one without passes none.
  network.schedule(50, () => causes.push(["timer", network.causeOf(d)]), 9);
  network.schedule(60, () => causes.push(["plain", network.causeOf(d)]));
  network.run();
  assert.deepEqual(causes, [
    [`${a}>10`, 7],
    [`${b}>20`, 7],
    ["timer", 9],
    ["plain", undefined],
  ]);
  assert.equal(network.causeOf(a), 7, "a sender's own cause holds outside any event");
  assert.equal(network.causeOf(d), undefined);
});
