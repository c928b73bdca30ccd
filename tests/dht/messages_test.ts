// Goal: every DHT message survives encode/decode exactly; the largest legitimate messages fit in
// one datagram; and no datagram a peer can send makes decodeMessage throw: foreign, truncated,
// oversized, mistyped or overlong input comes back as a DecodeFailure string. Decoded byte
// fields are copies, never views into the datagram.
// Method: hand-built examples of every type, fast-check round trips of random messages, hostile
// datagrams crafted with a Packr configured like the codec's own (wrong lengths, types, counts),
// every truncation of every example, and bounded seeded loops of random and bit-flipped bytes.
// Seeds are fixed and printed in assertion messages.

import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr } from "msgpackr";
import {
  datagramValueBytesMax,
  dhtMessageBytesMax,
  recordBytesMax,
  tokenBytes,
} from "../../src/core/limits.ts";
import { NODE_ID_BYTES, NodeId } from "../../src/core/node_id.ts";
import { Prng, randomBytes, randomInt } from "../../src/core/rng.ts";
import {
  contactsPerReplyMax,
  type DecodeFailure,
  decodeMessage,
  encodeMessage,
  FLAG_CLIENT,
  type Message,
  MessageType,
  PROTOCOL_ID,
  PROTOCOL_VERSION,
  StoreStatus,
} from "../../src/dht/messages.ts";
import type { Contact } from "../../src/dht/types.ts";
import { decodeAddress } from "../../src/net/address.ts";
import { at } from "../_address.ts";

const FAILURES: readonly DecodeFailure[] = ["oversize", "protocol", "version", "malformed"];
const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });

const prng = new Prng(0x3e55a9e);
const id = () => NodeId.fromBytes(randomBytes(prng, new Uint8Array(NODE_ID_BYTES)));
const bytes = (length: number) => randomBytes(prng, new Uint8Array(length));
const token = () => bytes(tokenBytes);
const v4 = (i: number): Contact => ({
  nodeId: id(),
  address: at(`192.0.2.${i % 256}:${7000 + i}`),
});
const v6 = (i: number): Contact => ({
  nodeId: id(),
  address: at(`[2001:db8:ffff:ffff:ffff:ffff:ffff:${(0x1000 + i).toString(16)}]:${60000 + i}`),
});

/** One example of every message type, with IPv4, IPv6 and mixed contacts and edge values. */
function examples(): Message[] {
  const sender = id();
  const header = { tx: 7, sender, flags: 0 };
  const value = new TextEncoder().encode("a value");
  return [
    { ...header, type: MessageType.ping },
    { ...header, tx: 0, flags: FLAG_CLIENT, type: MessageType.ping },
    { ...header, tx: 0xffffffff, type: MessageType.pong },
    { ...header, type: MessageType.leave },
    { ...header, type: MessageType.findNode, target: id() },
    { ...header, type: MessageType.nodes, contacts: [], token: token() },
    { ...header, type: MessageType.nodes, contacts: [v4(1), v4(2)], token: token() },
    { ...header, type: MessageType.nodes, contacts: [v6(1), v4(3), v6(2)], token: token() },
    {
      ...header,
      type: MessageType.nodes,
      contacts: Array.from({ length: contactsPerReplyMax }, (_, i) => v6(i)),
      token: token(),
    },
    { ...header, type: MessageType.findValue, key: id() },
    { ...header, type: MessageType.value, value, token: token() },
    { ...header, type: MessageType.value, value: new Uint8Array(0), token: token() },
    { ...header, type: MessageType.value, value: bytes(datagramValueBytesMax), token: token() },
    { ...header, type: MessageType.store, key: id(), value, token: token(), ttlS: 3600 },
    {
      ...header,
      type: MessageType.store,
      key: id(),
      value,
      token: token(),
      ttlS: 3600,
      replicas: 40,
    },
    {
      ...header,
      type: MessageType.store,
      key: id(),
      value: bytes(datagramValueBytesMax),
      token: token(),
      ttlS: 0xffffffff,
    },
    ...Object.values(StoreStatus).map((status) => ({
      ...header,
      type: MessageType.stored,
      status,
    })),
    { ...header, type: MessageType.valueRef, size: 65_000, token: token() },
  ];
}

/**
 * A message as plain data, IDs as hex and bytes as arrays: node:assert cannot see a NodeId's
 * private bytes, so two different IDs would compare equal as objects.
 */
function plain(value: unknown): unknown {
  if (value instanceof NodeId) return `id:${value.toHex()}`;
  if (value instanceof Uint8Array) return `bytes:${Array.from(value).join(",")}`;
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** A datagram with a valid header around arbitrary MessagePack fields. */
function frame(fields: unknown): Uint8Array {
  const packed = packr.pack(fields);
  const datagram = new Uint8Array(PROTOCOL_ID.length + 1 + packed.length);
  datagram.set(PROTOCOL_ID);
  datagram[PROTOCOL_ID.length] = PROTOCOL_VERSION;
  datagram.set(packed, PROTOCOL_ID.length + 1);
  return datagram;
}

/**
 * The NODES contacts field as the codec writes it: one binary field holding, per contact, the
 * 20-byte ID, a length byte and the wire address. `length` overrides the length byte.
 */
function contactsField(
  contacts: readonly { id: Uint8Array; address: Uint8Array; length?: number }[],
): Uint8Array {
  const parts = contacts.flatMap((c) => [
    ...c.id,
    c.length ?? c.address.length,
    ...c.address,
  ]);
  return new Uint8Array(parts);
}

function decodeOrThrow(datagram: Uint8Array): Message {
  const message = decodeMessage(datagram);
  assert.ok(typeof message !== "string", `decoded: ${message}`);
  return message;
}

/** Decodes, failing the test if it throws; returns the result. */
function decodeSafely(datagram: Uint8Array, why: string): Message | DecodeFailure {
  try {
    return decodeMessage(datagram);
  } catch (error) {
    assert.fail(`decodeMessage threw ${error}; ${why}`);
  }
}

function assertRoundTrip(message: Message, why = "") {
  const datagram = encodeMessage(message);
  assert.ok(datagram.length <= dhtMessageBytesMax, `${datagram.length} bytes; ${why}`);
  assert.deepEqual(plain(decodeOrThrow(datagram)), plain(message), why);
}

// --- round trips and sizes ---

Deno.test("every message type survives an encode/decode round trip", () => {
  const all = examples();
  assert.deepEqual(
    new Set(all.map((m) => m.type)),
    new Set(Object.values(MessageType)),
    "the examples cover every type",
  );
  all.forEach((message, i) => assertRoundTrip(message, `example ${i} (type ${message.type})`));
});

Deno.test("a datagram starts with the protocol ID and version", () => {
  const datagram = encodeMessage({ type: MessageType.ping, tx: 1, sender: id(), flags: 0 });
  assert.deepEqual(datagram.subarray(0, 3), new TextEncoder().encode("RHZ"));
  assert.equal(datagram[3], PROTOCOL_VERSION);
});

Deno.test("a NODES reply with contactsPerReplyMax IPv6 contacts fits in one datagram", () => {
  const contacts = Array.from({ length: contactsPerReplyMax }, (_, i) => v6(i));
  const datagram = encodeMessage({
    type: MessageType.nodes,
    tx: 0xffffffff,
    sender: id(),
    flags: 0xffffffff,
    contacts,
    token: token(),
  });
  assert.ok(datagram.length <= dhtMessageBytesMax, `${datagram.length} > ${dhtMessageBytesMax}`);
});

Deno.test("a STORE and a VALUE carrying datagramValueBytesMax bytes fit in one datagram", () => {
  const header = { tx: 0xffffffff, sender: id(), flags: 0xffffffff };
  const value = bytes(datagramValueBytesMax);
  for (
    const message of [
      { ...header, type: MessageType.store, key: id(), value, token: token(), ttlS: 3600 },
      { ...header, type: MessageType.value, value, token: token() },
    ] as Message[]
  ) {
    assert.ok(encodeMessage(message).length <= dhtMessageBytesMax, `type ${message.type}`);
  }
});

Deno.test("encodeMessage refuses a message too large for one datagram", () => {
  assert.throws(
    () =>
      encodeMessage({
        type: MessageType.value,
        tx: 1,
        sender: id(),
        flags: 0,
        value: bytes(dhtMessageBytesMax),
        token: token(),
      }),
    RangeError,
  );
});

Deno.test("random messages of every type survive an encode/decode round trip", () => {
  const seed = 0xc0de;
  const idArb = fc.uint8Array({ minLength: NODE_ID_BYTES, maxLength: NODE_ID_BYTES })
    .map((b) => NodeId.fromBytes(b));
  const tokenArb = fc.uint8Array({ minLength: tokenBytes, maxLength: tokenBytes });
  const addressArb = fc.oneof(
    fc.uint8Array({ minLength: 6, maxLength: 6 }),
    fc.uint8Array({ minLength: 18, maxLength: 18 }),
  ).filter((b) => (b[b.length - 2] | b[b.length - 1]) !== 0).map((b) => decodeAddress(b)!);
  const contactArb = fc.record({ nodeId: idArb, address: addressArb });
  const header = {
    tx: fc.nat({ max: 0xffffffff }),
    sender: idArb,
    flags: fc.oneof(fc.constant(0), fc.constant(FLAG_CLIENT), fc.nat({ max: 0xffffffff })),
  };
  const valueArb = fc.uint8Array({ maxLength: datagramValueBytesMax });
  const messageArb: fc.Arbitrary<Message> = fc.oneof(
    fc.record({ ...header, type: fc.constantFrom(MessageType.ping, MessageType.pong) }),
    fc.record({ ...header, type: fc.constant(MessageType.findNode), target: idArb }),
    fc.record({
      ...header,
      type: fc.constant(MessageType.nodes),
      contacts: fc.array(contactArb, { maxLength: contactsPerReplyMax }),
      token: tokenArb,
    }),
    fc.record({ ...header, type: fc.constant(MessageType.findValue), key: idArb }),
    fc.record({
      ...header,
      type: fc.constant(MessageType.value),
      value: valueArb,
      token: tokenArb,
    }),
    fc.record({
      ...header,
      type: fc.constant(MessageType.store),
      key: idArb,
      value: valueArb,
      token: tokenArb,
      ttlS: fc.integer({ min: 0, max: 0xffffffff }),
    }),
    fc.record({
      ...header,
      type: fc.constant(MessageType.stored),
      status: fc.nat({ max: 0xffffffff }),
    }),
  ) as fc.Arbitrary<Message>;
  fc.assert(
    fc.property(messageArb, (message) => assertRoundTrip(message, `seed ${seed}`)),
    { seed, numRuns: 300 },
  );
});

// --- hostile input ---

Deno.test("a datagram of another protocol, another version, or too many bytes is dropped unread", () => {
  const datagram = encodeMessage({ type: MessageType.ping, tx: 1, sender: id(), flags: 0 });
  for (let i = 0; i < PROTOCOL_ID.length; i++) {
    const foreign = datagram.slice();
    foreign[i] ^= 0x20;
    assert.equal(decodeMessage(foreign), "protocol", `byte ${i} changed`);
  }
  for (const version of [0, PROTOCOL_VERSION + 1, 255]) {
    const other = datagram.slice();
    other[PROTOCOL_ID.length] = version;
    assert.equal(decodeMessage(other), "version", `version ${version}`);
  }
  const oversize = new Uint8Array(dhtMessageBytesMax + 1);
  oversize.set(datagram);
  assert.equal(decodeMessage(oversize), "oversize");
  assert.equal(decodeMessage(new Uint8Array(1 << 16)), "oversize");
});

Deno.test("every truncation of every valid message is malformed", () => {
  examples().forEach((message, i) => {
    const datagram = encodeMessage(message);
    for (let length = 0; length < datagram.length; length++) {
      assert.equal(
        decodeSafely(datagram.subarray(0, length), `example ${i}, ${length} bytes`),
        "malformed",
        `example ${i} (type ${message.type}) cut to ${length} of ${datagram.length} bytes`,
      );
    }
  });
});

Deno.test("trailing bytes after a valid message make it malformed", () => {
  for (const message of examples().slice(0, 6)) {
    const datagram = encodeMessage(message);
    const longer = new Uint8Array(datagram.length + 1);
    longer.set(datagram);
    assert.equal(decodeMessage(longer), "malformed", `type ${message.type}`);
  }
});

Deno.test("fields of the wrong type or length make a message malformed", () => {
  const sender = id().toBytes();
  const idOf = (length: number) => new Uint8Array(length).fill(7);
  const tok = token();
  const v4Address = new Uint8Array([192, 0, 2, 1, 0x1d, 0x17]);
  const v6Address = new Uint8Array(18).fill(0x20);
  const one = { id: id().toBytes(), address: v4Address };
  const contacts = contactsField([one, { id: id().toBytes(), address: v6Address }]);
  const nodes = (field: unknown) => [4, 1, sender, 0, field, tok];
  const hostile: [string, unknown][] = [
    ["not an array", 42],
    ["a map", { 0: 1, 1: 2 }],
    ["an empty array", []],
    ["a string", "RHZ"],
    ["unknown type 0", [0, 1, sender, 0]],
    ["unknown type 11", [11, 1, sender, 0]],
    ["LEAVE with a body", [9, 1, sender, 0, 1]],
    ["unknown type 255", [255, 1, sender, 0]],
    ["type as text", ["1", 1, sender, 0]],
    ["negative tx", [1, -1, sender, 0]],
    ["tx of 2^32", [1, 2 ** 32, sender, 0]],
    ["fractional tx", [1, 1.5, sender, 0]],
    ["tx as text", [1, "1", sender, 0]],
    ["tx missing", [1, null, sender, 0]],
    ["negative flags", [1, 1, sender, -1]],
    ["19-byte sender", [1, 1, idOf(19), 0]],
    ["21-byte sender", [1, 1, idOf(21), 0]],
    ["sender as array", [1, 1, Array.from(sender), 0]],
    ["sender as text", [1, 1, "a".repeat(20), 0]],
    ["PING with a body", [1, 1, sender, 0, 5]],
    ["PONG without flags", [2, 1, sender]],
    ["FIND_NODE with a 19-byte target", [3, 1, sender, 0, idOf(19)]],
    ["FIND_NODE without a target", [3, 1, sender, 0]],
    ["FIND_VALUE with a 21-byte key", [5, 1, sender, 0, idOf(21)]],
    ["NODES with a 7-byte token", [4, 1, sender, 0, contacts, new Uint8Array(7)]],
    ["NODES with a 9-byte token", [4, 1, sender, 0, contacts, new Uint8Array(9)]],
    ["NODES without a token", [4, 1, sender, 0, contacts]],
    ["NODES with contacts as a list", nodes([[one.id, one.address]])],
    ["NODES with contacts as text", nodes(at("192.0.2.1:7447"))],
    ["NODES with contacts as a map", nodes({ a: contacts })],
    [
      "NODES with too many contacts",
      nodes(contactsField(Array.from({ length: contactsPerReplyMax + 1 }, () => one))),
    ],
    ["NODES with a 19-byte contact ID", nodes(contactsField([{ ...one, id: idOf(19) }]))],
    [
      "NODES with a 5-byte address",
      nodes(contactsField([{ ...one, address: v4Address.subarray(0, 5) }])),
    ],
    ["NODES with a 17-byte address", nodes(contactsField([{ ...one, address: idOf(17) }]))],
    ["NODES with a 0-byte address", nodes(contactsField([{ ...one, address: idOf(0) }]))],
    [
      "NODES with an address length past the end",
      nodes(contactsField([{ ...one, length: 18 }])),
    ],
    [
      "NODES with port 0",
      nodes(contactsField([{ ...one, address: new Uint8Array([192, 0, 2, 1, 0, 0]) }])),
    ],
    ["NODES with a partial contact at the end", nodes(contacts.subarray(0, contacts.length - 3))],
    ["NODES with an ID and no address", nodes(one.id)],
    [
      "VALUE over datagramValueBytesMax",
      [6, 1, sender, 0, new Uint8Array(datagramValueBytesMax + 1), tok],
    ],
    ["VALUE with a 7-byte token", [6, 1, sender, 0, new Uint8Array(3), new Uint8Array(7)]],
    ["VALUE as text", [6, 1, sender, 0, "value", tok]],
    [
      "STORE over datagramValueBytesMax",
      [7, 1, sender, 0, idOf(20), new Uint8Array(datagramValueBytesMax + 1), tok],
    ],
    ["STORE with a 19-byte key", [7, 1, sender, 0, idOf(19), new Uint8Array(3), tok]],
    ["STORE with a 7-byte token", [7, 1, sender, 0, idOf(20), new Uint8Array(3), idOf(7)]],
    ["STORE without a token", [7, 1, sender, 0, idOf(20), new Uint8Array(3)]],
    ["STORE with 0 replicas", [7, 1, sender, 0, idOf(20), new Uint8Array(3), tok, 60, 0]],
    ["STORE with 61 replicas", [7, 1, sender, 0, idOf(20), new Uint8Array(3), tok, 60, 61]],
    ["STORE with replicas as text", [7, 1, sender, 0, idOf(20), new Uint8Array(3), tok, 60, "9"]],
    ["STORE with two replica counts", [
      7,
      1,
      sender,
      0,
      idOf(20),
      new Uint8Array(3),
      tok,
      60,
      40,
      40,
    ]],
    ["STORED with a negative status", [8, 1, sender, 0, -1]],
    ["STORED with a status as text", [8, 1, sender, 0, "ok"]],
    ["STORED with two statuses", [8, 1, sender, 0, 0, 0]],
  ];
  for (const [what, fields] of hostile) {
    const datagram = frame(fields);
    assert.ok(datagram.length <= dhtMessageBytesMax, `${what} fits in a datagram`);
    assert.equal(decodeSafely(datagram, what), "malformed", what);
  }
  // The same frames with valid fields decode: the rejections above are about the bad field.
  assert.equal(decodeOrThrow(frame([1, 1, sender, 0])).type, MessageType.ping);
  const decodedNodes = decodeOrThrow(frame(nodes(contacts)));
  assert.ok(decodedNodes.type === MessageType.nodes);
  assert.deepEqual(decodedNodes.contacts.map((c) => c.address), [
    at("192.0.2.1:7447"),
    at("[2020:2020:2020:2020:2020:2020:2020:2020]:8224"),
  ]);
  const full = Array.from({ length: contactsPerReplyMax }, () => one);
  assert.equal(decodeOrThrow(frame(nodes(contactsField(full)))).type, MessageType.nodes);
  assert.equal(decodeOrThrow(frame(nodes(new Uint8Array(0)))).type, MessageType.nodes);
  assert.equal(
    decodeOrThrow(frame([6, 1, sender, 0, new Uint8Array(datagramValueBytesMax), tok])).type,
    MessageType.value,
  );
});

Deno.test("random bytes never make decodeMessage throw", () => {
  const seed = 0xbad5eed;
  const random = new Prng(seed);
  const header = frame([1]).subarray(0, PROTOCOL_ID.length + 1);
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    const length = randomInt(random, i % 10 === 0 ? dhtMessageBytesMax + 50 : 64);
    const datagram = randomBytes(random, new Uint8Array(length));
    // Mostly behind a valid header, so the bytes reach the MessagePack parser.
    if (i % 4 !== 0 && length >= header.length) datagram.set(header);
    const result = decodeSafely(datagram, `iteration ${i}, seed ${seed}`);
    if (typeof result === "string") {
      assert.ok(FAILURES.includes(result), `iteration ${i}: ${result}, seed ${seed}`);
    } else {
      decoded++;
      // Anything that decodes is a well-formed message: it encodes back to itself.
      assertRoundTrip(result, `iteration ${i}, seed ${seed}`);
    }
  }
  assert.ok(decoded < 200, `random bytes rarely decode (${decoded}), seed ${seed}`);
});

Deno.test("bit flips and byte changes in valid messages never make decodeMessage throw", () => {
  const seed = 0xf11b;
  const random = new Prng(seed);
  const datagrams = examples().map((message) => encodeMessage(message));
  for (let i = 0; i < 10_000; i++) {
    const datagram = datagrams[i % datagrams.length].slice();
    const changes = 1 + randomInt(random, 4);
    for (let c = 0; c < changes; c++) {
      const at = PROTOCOL_ID.length + 1 +
        randomInt(random, datagram.length - PROTOCOL_ID.length - 1);
      if (randomInt(random, 2) === 0) datagram[at] ^= 1 << randomInt(random, 8);
      else datagram[at] = randomInt(random, 256);
    }
    const result = decodeSafely(datagram, `iteration ${i}, seed ${seed}`);
    if (typeof result !== "string") assertRoundTrip(result, `iteration ${i}, seed ${seed}`);
  }
});

// --- aliasing ---

Deno.test("decoded fields do not alias the datagram: changing it afterwards changes nothing", () => {
  for (const message of examples()) {
    const datagram = encodeMessage(message);
    // Decode from a view into a larger buffer, as a driver reusing its receive buffer would.
    const buffer = new Uint8Array(datagram.length + 16);
    buffer.set(datagram, 8);
    const decoded = decodeOrThrow(buffer.subarray(8, 8 + datagram.length));
    const before = plain(decoded);
    buffer.fill(0xaa);
    assert.deepEqual(plain(decoded), before, `type ${message.type}`);
    assert.deepEqual(plain(decoded), plain(message), `type ${message.type}`);
  }
});

Deno.test("encoding does not keep references to the message's bytes", () => {
  const value = new TextEncoder().encode("value");
  const message: Message = {
    type: MessageType.store,
    tx: 1,
    sender: id(),
    flags: 0,
    key: id(),
    value,
    token: token(),
    ttlS: 60,
  };
  const datagram = encodeMessage(message);
  const copy = datagram.slice();
  value.fill(0);
  message.token.fill(0);
  assert.deepEqual(datagram, copy);
});

Deno.test("a value too large for a datagram travels in a stream-sized message only", () => {
  const store: Message = {
    type: MessageType.store,
    tx: 3,
    sender: id(),
    flags: 0,
    key: id(),
    value: bytes(recordBytesMax),
    token: token(),
    ttlS: 60,
  };
  assert.throws(() => encodeMessage(store), RangeError);
  const encoded = encodeMessage(store, "stream");
  assert.equal(decodeMessage(encoded), "oversize", "never accepted as a datagram");
  const decoded = decodeMessage(encoded, "stream");
  assert.ok(typeof decoded !== "string" && decoded.type === MessageType.store);
  assert.equal(decoded.value.length, recordBytesMax);
  const tooLarge = { ...store, value: bytes(recordBytesMax + 1) };
  assert.equal(decodeMessage(encodeMessage(tooLarge, "stream"), "stream"), "malformed");
});
