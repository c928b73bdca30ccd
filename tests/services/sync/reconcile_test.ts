/**
 * Range-based set reconciliation on bare item sets: two sides that differ end up knowing exactly
 * what each lacks, every message stays within its budget, and malformed messages are refused with
 * a reason. Items are made from a seeded generator so every run is the same.
 */

import assert from "node:assert/strict";
import { toHex } from "../../../src/core/bytes.ts";
import { sha256 } from "../../../src/core/crypto.ts";
import { type SyncItem, SyncItemSet } from "../../../src/services/sync/items.ts";
import {
  decodeRanges,
  EMPTY_FINGERPRINT,
  Reconciler,
  type StepResult,
} from "../../../src/services/sync/reconcile.ts";
import { ByteReader, encodeVarint } from "../../../src/services/sync/varint.ts";

function item(n: number, timeS = Math.floor(n / 3)): SyncItem {
  return { timeS, id: sha256(`item ${n}`), key: sha256(`key ${n}`).subarray(0, 20) };
}

/** Runs a whole reconciliation; returns what the client learnt and the messages' sizes. */
function reconcile(client: SyncItem[], server: SyncItem[], bytesMax = 4096, idBytes = 32) {
  const clientSide = new Reconciler(new SyncItemSet(client), "client", idBytes);
  const serverSide = new Reconciler(new SyncItemSet(server), "server", idBytes);
  const need = new Set<string>();
  const pushed = new Set<string>();
  const have = new Set<string>();
  const sizes: number[] = [];
  let message = clientSide.initiate(bytesMax);
  let rounds = 0;
  while (message.length > 0) {
    assert.ok(++rounds < 1000, "reconciliation converges");
    sizes.push(message.length);
    const fromServer: StepResult = serverSide.step(
      decodeRanges(message, idBytes, 100_000) as never,
      { bytesMax, pushBytes: () => 100 },
    );
    for (const pushedItem of fromServer.push) pushed.add(toHex(pushedItem.id));
    sizes.push(fromServer.message.length + fromServer.push.length * 100);
    const fromClient = clientSide.step(
      decodeRanges(fromServer.message, idBytes, 100_000) as never,
      {
        bytesMax,
      },
    );
    for (const id of fromClient.need) need.add(toHex(id));
    for (const ours of fromClient.have) have.add(toHex(ours.id.subarray(0, idBytes)));
    message = fromClient.message;
  }
  return { need, pushed, have, sizes, rounds };
}

Deno.test("Reconciler: a client learns every item it lacks, by ID list or by push", () => {
  const all = Array.from({ length: 3000 }, (_, n) => item(n));
  const server = all.filter((_, n) => n % 7 !== 0);
  const client = all.filter((_, n) => n % 11 !== 0);
  const result = reconcile(client, server);
  const lacking = server.filter((x) => !client.includes(x)).map((x) => toHex(x.id));
  const got = new Set([...result.need, ...result.pushed]);
  assert.deepEqual([...got].sort(), lacking.sort());
  const serverLacks = client.filter((x) => !server.includes(x)).map((x) => toHex(x.id));
  for (const id of result.have) assert.ok(serverLacks.includes(id), "have names only server gaps");
});

Deno.test("Reconciler: every message stays within its budget", () => {
  const all = Array.from({ length: 5000 }, (_, n) => item(n));
  const result = reconcile([], all, 2000);
  assert.equal(result.pushed.size, 5000);
  for (const size of result.sizes) assert.ok(size <= 2000, `message of ${size} bytes`);
});

Deno.test("Reconciler: equal sets finish after the first exchange", () => {
  const all = Array.from({ length: 2000 }, (_, n) => item(n));
  const result = reconcile(all, [...all].reverse());
  assert.equal(result.rounds, 1);
  assert.equal(result.need.size + result.pushed.size, 0);
});

Deno.test("Reconciler: an empty client gets everything pushed, identical times included", () => {
  const all = Array.from({ length: 700 }, (_, n) => item(n, 5));
  const result = reconcile([], all, 3000);
  assert.equal(result.pushed.size, 700);
});

Deno.test("Reconciler: short ID prefixes reconcile the same sets", () => {
  const all = Array.from({ length: 2000 }, (_, n) => item(n));
  const server = all.filter((_, n) => n % 5 !== 0);
  const client = all.filter((_, n) => n % 3 !== 0);
  const result = reconcile(client, server, 8000, 8);
  const lacking = server.filter((x) => !client.includes(x)).map((x) => toHex(x.id.subarray(0, 8)));
  const got = new Set([...result.need, ...[...result.pushed].map((hex) => hex.slice(0, 16))]);
  assert.deepEqual([...got].sort(), lacking.sort());
});

Deno.test("decodeRanges() refuses malformed messages with a reason", () => {
  const fingerprint = [...EMPTY_FINGERPRINT];
  // time 5, no prefix, fingerprint; then time 3 (a lower bound): not increasing
  const decreasing = new Uint8Array([6, 0, 1, ...fingerprint, 0, 0, 0]);
  assert.equal(typeof decodeRanges(new Uint8Array([6, 0, 1, ...fingerprint]), 32, 10), "object");
  assert.match(String(decodeRanges(new Uint8Array([6, 0, 1, 1, 2]), 32, 10)), /truncated/);
  assert.match(String(decodeRanges(new Uint8Array([6, 0, 9]), 32, 10)), /unknown/);
  assert.match(String(decodeRanges(new Uint8Array([6, 33]), 32, 10)), /over 32/);
  assert.match(String(decodeRanges(new Uint8Array([0, 0, 0, 6, 0, 0]), 32, 10)), /end bound/);
  assert.match(String(decodeRanges(new Uint8Array([6, 0, 2, 20]), 32, 10)), /truncated/);
  const ids = new Uint8Array([0, 0, 2, 2, ...new Uint8Array(64)]);
  assert.match(String(decodeRanges(ids, 32, 1)), /over 1 IDs/);
  assert.equal(typeof decodeRanges(decreasing, 32, 10), "object", "skip to infinity is fine");
  const twice = new Uint8Array([6, 0, 0, 1, 0, 0]);
  assert.match(String(decodeRanges(twice, 32, 10)), /not increasing/);
});

Deno.test("varints round-trip and refuse non-minimal or oversize forms", () => {
  for (const value of [0, 1, 127, 128, 16383, 16384, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
    assert.equal(new ByteReader(encodeVarint(value)).varint(), value);
  }
  assert.equal(new ByteReader(new Uint8Array([0x80, 0x01])).varint(), undefined);
  assert.equal(new ByteReader(new Uint8Array([0x81])).varint(), undefined);
  assert.equal(new ByteReader(new Uint8Array(9).fill(0x81)).varint(), undefined);
});
