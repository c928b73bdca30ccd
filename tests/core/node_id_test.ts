// Goal: NodeId (src/core/node_id.ts) parses and prints its two text forms strictly, derives IDs
// from public keys deterministically, and computes the Kademlia XOR metric correctly. Method:
// fixed examples and malformed inputs, an exhaustive sweep over the 160 bit positions for the
// shared prefix, and a seeded PRNG that checks compareDistance() against comparing XOR values.

import assert from "node:assert/strict";
import { compareBytes, toBase32 } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey, sha256 } from "../../src/core/crypto.ts";
import { NODE_ID_BITS, NODE_ID_BYTES, NodeId } from "../../src/core/node_id.ts";
import { assertInvalid } from "./_assert.ts";

/** Mulberry32: a small deterministic PRNG, so the randomized tests are reproducible. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomId(next: () => number): NodeId {
  const bytes = new Uint8Array(NODE_ID_BYTES);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
  return NodeId.fromBytes(bytes);
}

/** The ID with only bit `index` set (bit 0 is the most significant). */
function idWithBit(index: number): NodeId {
  const bytes = new Uint8Array(NODE_ID_BYTES);
  bytes[index >> 3] = 0x80 >> (index & 7);
  return NodeId.fromBytes(bytes);
}

const zero = NodeId.fromBytes(new Uint8Array(NODE_ID_BYTES));
const sampleHex = "0123456789abcdef0123456789abcdef01234567";

Deno.test("NodeId constants describe a 160-bit ID", () => {
  assert.equal(NODE_ID_BYTES, 20);
  assert.equal(NODE_ID_BITS, 160);
});

Deno.test("NodeId.fromHex() round-trips through toHex()", () => {
  const id = NodeId.fromHex(sampleHex);
  assert.equal(id.toHex(), sampleHex);
  assert.equal(id.toString(), sampleHex);
  assert.equal(NodeId.fromHex(sampleHex.toUpperCase()).toHex(), sampleHex);
});

Deno.test("NodeId.fromHexText() takes 40 hex digits of either case and nothing else", () => {
  const hex = "0123456789abcdef0123456789abcdef01234567";
  assert.equal(NodeId.fromHexText(hex)?.toHex(), hex);
  assert.equal(NodeId.fromHexText(hex.toUpperCase())?.toHex(), hex);
  for (
    const bad of [hex.slice(1), `${hex}0`, "", ` ${hex.slice(1)}`, `${hex.slice(1)}g`, 7, null]
  ) {
    assert.equal(NodeId.fromHexText(bad), undefined, JSON.stringify(bad));
  }
});

Deno.test("NodeId.fromHex() rejects 39 digits", () => {
  assertInvalid(() => NodeId.fromHex(sampleHex.slice(1)), /expected 40 hex digits, got 39/);
});

Deno.test("NodeId.fromHex() rejects 41 and 0 digits", () => {
  assertInvalid(() => NodeId.fromHex(sampleHex + "0"), /expected 40 hex digits, got 41/);
  assertInvalid(() => NodeId.fromHex(""), /expected 40 hex digits, got 0/);
});

Deno.test("NodeId.fromHex() rejects 40 characters that are not all hex digits", () => {
  assertInvalid(() => NodeId.fromHex("g" + sampleHex.slice(1)), /Cannot decode hex/);
  assertInvalid(() => NodeId.fromHex(" " + sampleHex.slice(1)), /Cannot decode hex/);
});

Deno.test("NodeId.fromBase32() round-trips through toBase32()", () => {
  const id = NodeId.fromHex(sampleHex);
  const text = id.toBase32();
  assert.equal(text.length, 32);
  assert.match(text, /^[a-z2-7]{32}$/);
  assert.ok(NodeId.fromBase32(text).equals(id));
  assert.ok(NodeId.fromBase32(text.toUpperCase()).equals(id));
});

Deno.test("NodeId.fromBase32() rejects 31 and 33 characters", () => {
  const text = NodeId.fromHex(sampleHex).toBase32();
  assertInvalid(() => NodeId.fromBase32(text.slice(1)), /expected 32 base32 characters, got 31/);
  assertInvalid(() => NodeId.fromBase32(text + "a"), /expected 32 base32 characters, got 33/);
});

Deno.test("NodeId.fromBase32() rejects characters outside the base32 alphabet", () => {
  assertInvalid(() => NodeId.fromBase32("1" + "a".repeat(31)), /"1" at position 0/);
  assertInvalid(() => NodeId.fromBase32("a".repeat(31) + "8"), /"8" at position 31/);
});

Deno.test("NodeId.parse() tells hex from base32 by length", () => {
  const id = NodeId.fromHex(sampleHex);
  assert.ok(NodeId.parse(sampleHex).equals(id));
  assert.ok(NodeId.parse(id.toBase32()).equals(id));
});

Deno.test("NodeId.parse() rejects other lengths, quoting the text", () => {
  for (const text of ["", "abc", sampleHex.slice(1), sampleHex + "00", "a".repeat(33)]) {
    assertInvalid(
      () => NodeId.parse(text),
      new RegExp(`expected 40 hex digits or 32 base32 characters, got "${text}"`),
    );
  }
});

Deno.test("NodeId.parse() rejects bad characters in either form", () => {
  assertInvalid(() => NodeId.parse("x".repeat(40)), /Cannot decode hex/);
  assertInvalid(() => NodeId.parse("0".repeat(32)), /Cannot decode base32/);
});

Deno.test("NodeId.fromBytes() copies exactly 20 bytes and rejects other lengths", () => {
  const bytes = new Uint8Array(NODE_ID_BYTES).fill(7);
  const id = NodeId.fromBytes(bytes);
  bytes[0] = 0;
  assert.equal(id.byteAt(0), 7, "the ID does not share memory with its input");
  const copy = id.toBytes();
  copy[1] = 0;
  assert.equal(id.byteAt(1), 7, "toBytes() returns a copy");
  assertInvalid(() => NodeId.fromBytes(new Uint8Array(19)), /expected 20 bytes, got 19/);
  assertInvalid(() => NodeId.fromBytes(new Uint8Array(32)), /expected 20 bytes, got 32/);
});

Deno.test("NodeId.fromPublicKey() is deterministic and gives 20 bytes", () => {
  const publicKey = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1)).publicKey;
  const a = NodeId.fromPublicKey(publicKey);
  const b = NodeId.fromPublicKey(new Uint8Array(publicKey));
  assert.ok(a.equals(b));
  assert.equal(a.toBytes().length, NODE_ID_BYTES);
  assert.equal(a.toHex().length, 40);
});

Deno.test("NodeId.fromPublicKey() hashes the domain-separated key with SHA-256", () => {
  const publicKey = new Uint8Array(32).fill(9);
  const expected = sha256("rhizome/node-id/v1", publicKey).subarray(0, NODE_ID_BYTES);
  assert.deepEqual(NodeId.fromPublicKey(publicKey).toBytes(), expected);
  assert.notDeepEqual(
    NodeId.fromPublicKey(publicKey).toBytes(),
    sha256(publicKey).subarray(0, NODE_ID_BYTES),
    "the ID is not the bare hash of the key",
  );
});

Deno.test("NodeId.fromPublicKey() differs for different keys", () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 20; seed++) {
    const publicKey = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(seed)).publicKey;
    seen.add(NodeId.fromPublicKey(publicKey).toHex());
  }
  assert.equal(seen.size, 20);
  const oneBitApart = new Uint8Array(32);
  const other = new Uint8Array(32);
  other[31] = 1;
  assert.ok(!NodeId.fromPublicKey(oneBitApart).equals(NodeId.fromPublicKey(other)));
});

Deno.test("NodeId.xor() combines bytes and is its own inverse", () => {
  const a = NodeId.fromHex("8000000000000000000000000000000000000000");
  const b = NodeId.fromHex("c0000000000000000000000000000000000000ff");
  assert.equal(a.xor(b).toHex(), "40000000000000000000000000000000000000ff");
  assert.ok(a.xor(a).equals(zero), "the distance to itself is zero");
  assert.ok(a.xor(b).equals(b.xor(a)), "XOR is symmetric");
  assert.ok(a.xor(b).xor(b).equals(a));
  assert.equal(a.toHex(), "8000000000000000000000000000000000000000", "xor() leaves its inputs");
});

Deno.test("NodeId.compareDistance() agrees with comparing XOR values", () => {
  const next = prng(20260101);
  for (let iteration = 0; iteration < 500; iteration++) {
    const target = randomId(next);
    const a = randomId(next);
    // Some pairs share a long prefix, so later bytes decide.
    const b = next() < 0.3
      ? NodeId.fromBytes(
        Uint8Array.from(a.toBytes(), (byte, i) => (i < 15 ? byte : Math.floor(next() * 256))),
      )
      : randomId(next);
    const expected = Math.sign(target.xor(a).compare(target.xor(b)));
    assert.equal(Math.sign(target.compareDistance(a, b)), expected);
    assert.equal(Math.sign(target.compareDistance(b, a)), -expected, "swapping a and b flips it");
    assert.equal(target.compareDistance(a, a), 0);
  }
});

Deno.test("NodeId.compareDistance() prefers the ID that shares the longer prefix", () => {
  const target = zero;
  assert.ok(target.compareDistance(idWithBit(159), idWithBit(0)) < 0);
  assert.ok(target.compareDistance(idWithBit(0), idWithBit(1)) > 0);
  assert.equal(target.compareDistance(idWithBit(5), idWithBit(5)), 0);
});

Deno.test("NodeId.commonPrefixLength() is 0 when the top bit differs", () => {
  const a = NodeId.fromHex("0".repeat(40));
  const b = NodeId.fromHex("8" + "0".repeat(39));
  assert.equal(a.commonPrefixLength(b), 0);
  assert.equal(b.commonPrefixLength(a), 0);
  assert.equal(NodeId.fromHex("f".repeat(40)).commonPrefixLength(zero), 0);
});

Deno.test("NodeId.commonPrefixLength() is 160 for equal IDs", () => {
  assert.equal(zero.commonPrefixLength(zero), 160);
  const id = NodeId.fromHex(sampleHex);
  assert.equal(id.commonPrefixLength(NodeId.fromHex(sampleHex)), NODE_ID_BITS);
});

Deno.test("NodeId.commonPrefixLength() is i when only bit i differs, for every i", () => {
  const next = prng(7);
  for (let i = 0; i < NODE_ID_BITS; i++) {
    assert.equal(zero.commonPrefixLength(idWithBit(i)), i, `bit ${i} against zero`);
    const base = randomId(next);
    assert.equal(base.commonPrefixLength(base.xor(idWithBit(i))), i, `bit ${i} flipped`);
  }
});

Deno.test("NodeId.commonPrefixLength() ignores the bits after the first difference", () => {
  const a = NodeId.fromHex("ffff" + "0".repeat(36));
  const b = NodeId.fromHex("fff0" + "f".repeat(36));
  assert.equal(a.commonPrefixLength(b), 12);
});

Deno.test("NodeId.compare() orders IDs as unsigned 160-bit numbers", () => {
  const ids = ["ff", "00", "80", "7f", "01"].map((top) => NodeId.fromHex(top + "0".repeat(38)));
  ids.push(NodeId.fromHex("0".repeat(39) + "1"));
  const sorted = [...ids].sort((a, b) => a.compare(b)).map((id) => id.toHex().slice(0, 2));
  assert.deepEqual(sorted, ["00", "00", "01", "7f", "80", "ff"]);
  assert.equal(zero.compare(zero), 0);
  const next = prng(99);
  for (let iteration = 0; iteration < 100; iteration++) {
    const a = randomId(next);
    const b = randomId(next);
    assert.equal(Math.sign(a.compare(b)), Math.sign(compareBytes(a.toBytes(), b.toBytes())));
    assert.equal(a.equals(b), a.compare(b) === 0);
  }
});

Deno.test("NodeId.toJSON() gives the hex form, so IDs print readably", () => {
  const id = NodeId.fromHex(sampleHex);
  assert.equal(id.toJSON(), sampleHex);
  assert.equal(JSON.stringify({ id }), `{"id":"${sampleHex}"}`);
  assert.equal(`${id}`, sampleHex);
});

Deno.test("NodeId.toBase32() agrees with the byte helper", () => {
  const id = NodeId.fromHex(sampleHex);
  assert.equal(id.toBase32(), toBase32(id.toBytes()));
});
