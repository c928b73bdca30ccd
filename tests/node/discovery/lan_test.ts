/**
 * LAN discovery on loopback multicast: two nodes hear each other and not themselves; forged,
 * altered, replayed, skewed and malformed datagrams are dropped and counted; a node that is
 * looking gets an answer without waiting a whole interval.
 */

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { generateEd25519KeyPair } from "../../../src/core/crypto.ts";
import { getLog } from "../../../src/core/log.ts";
import { SystemClock } from "../../../src/core/system_clock.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import type { Contact } from "../../../src/dht/types.ts";
import {
  decodeLanAnnouncement,
  encodeLanAnnouncement,
  LAN_ANNOUNCEMENT_BYTES,
  LanDiscovery,
  type LanDiscoveryOptions,
  lanReceivedPerSecondMax,
} from "../../../src/node/discovery/lan.ts";
import { waitFor } from "../../_node_process.ts";

/** A group and port of this run's own, so tests running beside it never hear it. */
function testGroup(): { host: string; port: number } {
  const byte = () => 1 + Math.floor(Math.random() * 250);
  return { host: `239.255.${byte()}.${byte()}`, port: 20000 + Math.floor(Math.random() * 20000) };
}

async function startLan(
  group: { host: string; port: number },
  port: number,
  heard: Contact[],
  overrides: Partial<LanDiscoveryOptions> = {},
): Promise<{ lan: LanDiscovery; keyPair: ReturnType<typeof generateEd25519KeyPair> }> {
  const keyPair = generateEd25519KeyPair();
  const lan = await LanDiscovery.start({
    keyPair,
    port,
    group,
    interfaceAddress: "127.0.0.1",
    intervalMs: 60_000,
    loopbackOnly: true,
    looking: () => heard.length === 0,
    onPeer: (contact) => heard.push(contact),
    clock: new SystemClock(),
    random: Math.random,
    log: getLog("test"),
    ...overrides,
  });
  assert.ok(typeof lan !== "string", String(lan));
  return { lan, keyPair };
}

Deno.test("encodeLanAnnouncement() gives 112 signed bytes that decode to its fields", () => {
  const keyPair = generateEd25519KeyPair();
  const bytes = encodeLanAnnouncement(keyPair, 7447, 1_700_000_000_000, true);
  assert.equal(bytes.length, LAN_ANNOUNCEMENT_BYTES);
  const decoded = decodeLanAnnouncement(bytes);
  assert.ok(typeof decoded !== "string");
  assert.deepEqual(decoded.publicKey, keyPair.publicKey);
  assert.equal(decoded.port, 7447);
  assert.equal(decoded.sentMs, 1_700_000_000_000);
  assert.equal(decoded.looking, true);
  assert.match(String(decodeLanAnnouncement(bytes.subarray(1))), /111 bytes/);
  const other = new Uint8Array(bytes);
  other[4] = 2;
  assert.match(String(decodeLanAnnouncement(other)), /version 2/);
});

Deno.test("LanDiscovery: two nodes on loopback multicast hear each other, never themselves, and drop bad datagrams", async () => {
  const group = testGroup();
  const heardA: Contact[] = [];
  const heardB: Contact[] = [];
  // A announces rarely; B starts looking, so A answers it within a second or so.
  const a = await startLan(group, 41001, heardA);
  const b = await startLan(group, 41002, heardB);
  const sender = dgram.createSocket({ type: "udp4", reuseAddr: true });
  try {
    await waitFor(
      "A and B hear each other",
      () => Promise.resolve(heardA.length > 0 && heardB.length > 0),
      10_000,
    );
    assert.equal(heardA.length, 1);
    assert.equal(heardB.length, 1);
    assert.ok(heardA[0].nodeId.equals(NodeId.fromPublicKey(b.keyPair.publicKey)));
    assert.equal(heardA[0].address.key, "127.0.0.1:41002");
    assert.equal(heardB[0].address.key, "127.0.0.1:41001");
    assert.ok(a.lan.stats().dropped.own >= 1, "A heard itself and dropped it");

    await new Promise<void>((resolve) => sender.bind(0, "127.0.0.1", () => resolve()));
    sender.setMulticastInterface("127.0.0.1");
    const send = (bytes: Uint8Array) =>
      new Promise<void>((resolve) => sender.send(bytes, group.port, group.host, () => resolve()));
    const before = a.lan.stats();
    const stranger = generateEd25519KeyPair();
    const forged = encodeLanAnnouncement(stranger, 41003, Date.now(), false);
    forged[39] ^= 1; // the port changed after signing
    await send(forged);
    await send(encodeLanAnnouncement(stranger, 41003, Date.now() - 3_600_000, false));
    await send(new Uint8Array(40));
    await send(encodeLanAnnouncement(b.keyPair, 41002, 1, false));
    await waitFor("the bad datagrams are counted", () => {
      const after = a.lan.stats();
      return Promise.resolve(after.received - before.received >= 4);
    }, 10_000);
    const after = a.lan.stats();
    assert.equal(after.dropped.bad_signature - before.dropped.bad_signature, 1);
    assert.equal(after.dropped.malformed - before.dropped.malformed, 1);
    assert.equal(after.dropped.clock_skew - before.dropped.clock_skew, 2, "an hour old, 1970");
    assert.equal(after.accepted, before.accepted);
    assert.equal(a.lan.contacts().length, 1, "nothing bad was learned");

    // A valid announcement is learned once; the same bytes again are a replay.
    const valid = encodeLanAnnouncement(stranger, 41003, Date.now(), false);
    await send(valid);
    await send(valid);
    await waitFor(
      "the replay is counted",
      () => Promise.resolve(a.lan.stats().dropped.replayed - after.dropped.replayed === 1),
      10_000,
    );
    assert.equal(heardA.length, 2);
    assert.equal(heardA[1].address.key, "127.0.0.1:41003");
    assert.ok(a.lan.stats().sent <= 3, `A sent ${a.lan.stats().sent} announcements`);
  } finally {
    sender.close();
    await a.lan.close();
    await b.lan.close();
  }
});

Deno.test("LanDiscovery reads at most its rate and drops the rest unread", async () => {
  const group = testGroup();
  const { lan } = await startLan(group, 41004, []);
  const sender = dgram.createSocket({ type: "udp4", reuseAddr: true });
  try {
    await new Promise<void>((resolve) => sender.bind(0, "127.0.0.1", () => resolve()));
    sender.setMulticastInterface("127.0.0.1");
    const burst = lanReceivedPerSecondMax + 16;
    await Promise.all(
      Array.from(
        { length: burst },
        () =>
          new Promise<void>((resolve) =>
            sender.send(new Uint8Array(40), group.port, group.host, () => resolve())
          ),
      ),
    );
    await waitFor("the burst to arrive", () => {
      const stats = lan.stats();
      return Promise.resolve(stats.dropped.rate_limited + stats.dropped.malformed >= burst);
    }, 10_000);
    const stats = lan.stats();
    assert.ok(stats.dropped.rate_limited >= 1, JSON.stringify(stats));
    assert.ok(stats.dropped.malformed <= lanReceivedPerSecondMax + 8, JSON.stringify(stats));
  } finally {
    sender.close();
    await lan.close();
  }
});
