// Goal: peer addresses are parsed once, exactly and strictly, and their wire form is exact.
// Canonical text survives parse/encode/decode, IPv6 comes back in RFC 5952 form (lower case, no
// leading zeros, the longest run of two or more zero groups shown as "::", the first such run
// when two are equally long), IPv4-mapped IPv6 is the IPv4 address, and anything that is not an
// IP address with a port from 1 to 65535 is refused.
// Method: examples of each form and each way to be wrong, plus fast-check properties over random
// wire bytes (fixed seed, printed in every message).

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ADDRESS_V4_BYTES,
  ADDRESS_V6_BYTES,
  decodeAddress,
  encodeAddress,
  PeerAddress,
} from "../../src/net/address.ts";

const SEED = 0x5eed_a0;

/** The wire form of the address `text` names, or `undefined` when it names none. */
function encodeText(text: string): Uint8Array | undefined {
  const address = PeerAddress.parse(text);
  return address && encodeAddress(address);
}

/** The canonical text of a wire form, or `undefined` when it is refused. */
function decodeText(bytes: Uint8Array): string | undefined {
  return decodeAddress(bytes)?.key;
}

/** Whether 18 wire bytes are ::ffff:a.b.c.d (decoded as the IPv4 address). */
function isMapped(bytes: Uint8Array): boolean {
  return bytes.length === ADDRESS_V6_BYTES && bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff;
}

Deno.test("an address is host, port and family, and its key is its canonical text", () => {
  const v4 = PeerAddress.of("192.0.2.1", 7447)!;
  assert.deepEqual([v4.host, v4.port, v4.family, v4.key], ["192.0.2.1", 7447, 4, "192.0.2.1:7447"]);
  const v6 = PeerAddress.of("2001:DB8:0::1", 7447)!;
  assert.deepEqual([v6.host, v6.port, v6.family, v6.key], [
    "2001:db8::1",
    7447,
    6,
    "[2001:db8::1]:7447",
  ]);
  assert.equal(String(v6), "[2001:db8::1]:7447");
  assert.equal(JSON.stringify({ at: v6 }), '{"at":"[2001:db8::1]:7447"}');
  assert.ok(PeerAddress.parse("[2001:db8:0:0::1]:7447")!.equals(v6));
  const mapped = PeerAddress.of("::ffff:192.0.2.1", 7447)!;
  assert.ok(mapped.equals(v4), "an IPv4-mapped IPv6 peer is the IPv4 peer");
  assert.equal(mapped.family, 4);
  assert.equal(PeerAddress.of("example.com", 7447), undefined, "never a host name");
  assert.equal(PeerAddress.of("192.0.2.01", 7447), undefined, "no leading zeros");
  assert.equal(PeerAddress.of("192.0.2.1", 0), undefined);
  assert.equal(PeerAddress.of("192.0.2.1", 1.5), undefined);
});

Deno.test("an IPv4 address encodes to its four octets and a big-endian port", () => {
  assert.deepEqual(encodeText("192.0.2.1:7447"), new Uint8Array([192, 0, 2, 1, 0x1d, 0x17]));
  assert.deepEqual(encodeText("0.0.0.0:1"), new Uint8Array([0, 0, 0, 0, 0, 1]));
  assert.deepEqual(
    encodeText("255.255.255.255:65535"),
    new Uint8Array([255, 255, 255, 255, 255, 255]),
  );
});

Deno.test("an IPv6 address encodes to its sixteen bytes and a big-endian port", () => {
  const bytes = encodeText("[2001:db8::1]:7447");
  const expected = new Uint8Array(ADDRESS_V6_BYTES);
  expected.set([0x20, 0x01, 0x0d, 0xb8], 0);
  expected[15] = 1;
  expected.set([0x1d, 0x17], 16);
  assert.deepEqual(bytes, expected);
});

Deno.test("canonical addresses survive an encode/decode round trip unchanged", () => {
  for (
    const address of [
      "192.0.2.1:7447",
      "127.0.0.1:1",
      "10.255.0.7:65535",
      "[2001:db8::1]:7447",
      "[::]:1",
      "[::1]:65535",
      "[1::]:80",
      "[fe80::1:2]:80",
      "[1:2:3:4:5:6:7:8]:80",
      "[2001:db8:0:1:1:1:1:1]:80",
      "[2001:db8::1:0:0:1]:80",
      "[2001:0:0:1::1]:80",
      "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:80",
    ]
  ) {
    const bytes = encodeText(address);
    assert.ok(bytes, `${address} encodes`);
    assert.equal(decodeText(bytes), address);
  }
});

Deno.test("IPv6 text comes back in RFC 5952 form whatever form it was written in", () => {
  const cases: [string, string][] = [
    // Leading zeros dropped, the zero run compressed.
    ["[2001:0db8:0000:0000:0000:0000:0000:0001]:7447", "[2001:db8::1]:7447"],
    // A single zero group is not compressed.
    ["[2001:db8:0:1:1:1:1:1]:1", "[2001:db8:0:1:1:1:1:1]:1"],
    ["[2001:db8::1:1:1:1:1]:1", "[2001:db8:0:1:1:1:1:1]:1"],
    // Two runs of equal length: the first is compressed.
    ["[2001:db8:0:0:1:0:0:1]:1", "[2001:db8::1:0:0:1]:1"],
    // Two runs of different length: the longer is compressed.
    ["[2001:0:0:1:0:0:0:1]:1", "[2001:0:0:1::1]:1"],
    ["[0:0:0:0:0:0:0:0]:1", "[::]:1"],
    ["[0:0:0:0:0:0:0:1]:1", "[::1]:1"],
    ["[1:0:0:0:0:0:0:0]:1", "[1::]:1"],
    ["[0000:0:0:0:0:0:0:0001]:9", "[::1]:9"],
    // IPv4-mapped addresses are the IPv4 address, in hex or dotted form.
    ["[::ffff:c000:201]:80", "192.0.2.1:80"],
    ["[::ffff:1.2.3.4]:80", "1.2.3.4:80"],
  ];
  for (const [written, canonical] of cases) {
    const bytes = encodeText(written);
    assert.ok(bytes, `${written} encodes`);
    assert.equal(decodeText(bytes), canonical, `${written}`);
    assert.equal(PeerAddress.parse(written)?.key, canonical, `${written}`);
  }
});

Deno.test("text that is not an IP address and a port is refused", () => {
  for (
    const address of [
      "",
      "example.com:7447",
      "localhost:80",
      "192.0.2.1",
      "192.0.2.1:",
      "192.0.2.1:0",
      "192.0.2.1:65536",
      "192.0.2.1:-1",
      "192.0.2.1:99999",
      "192.0.2.1:123456",
      "256.0.0.1:80",
      "1.256.0.1:80",
      "1.2.3.999:80",
      "1.2.3:80",
      "1.2.3.4.5:80",
      " 1.2.3.4:80",
      "1.2.3.4:80 ",
      "1.2.3.4:8o",
      "::1:80",
      "[::1]",
      "[::1]:",
      "[::1]:0",
      "[::1]:65536",
      "[]:80",
      "[:]:80",
      "[1:2:3:4:5:6:7]:80",
      "[1:2:3:4:5:6:7:8:9]:80",
      "[::1:2:3:4:5:6:7:8]:80",
      "[1::2::3]:80",
      "[12345::]:80",
      "[:1::]:80",
      "[1:::2]:80",
      "[g::1]:80",
      "[fe80::1%eth0]:80",
      "[192.0.2.1]:80",
    ]
  ) {
    assert.equal(PeerAddress.parse(address), undefined, JSON.stringify(address));
  }
});

Deno.test("wire bytes of the wrong length or with port 0 are refused", () => {
  for (const length of [0, 1, 4, 5, 7, 16, 17, 19, 32]) {
    assert.equal(decodeAddress(new Uint8Array(length).fill(1)), undefined, `length ${length}`);
  }
  assert.equal(decodeAddress(new Uint8Array([192, 0, 2, 1, 0, 0])), undefined);
  assert.equal(decodeAddress(new Uint8Array(ADDRESS_V6_BYTES).fill(0xff, 0, 16)), undefined);
});

Deno.test("an IPv4-mapped wire address decodes as the IPv4 address", () => {
  const bytes = new Uint8Array(ADDRESS_V6_BYTES);
  bytes.set([0xff, 0xff, 192, 0, 2, 1, 0x1d, 0x17], 10);
  assert.equal(decodeText(bytes), "192.0.2.1:7447");
  assert.deepEqual(encodeAddress(decodeAddress(bytes)!), new Uint8Array([192, 0, 2, 1, 29, 23]));
});

Deno.test("any valid wire address decodes and encodes back to the same bytes", () => {
  const wire = fc.oneof(
    fc.uint8Array({ minLength: ADDRESS_V4_BYTES, maxLength: ADDRESS_V4_BYTES }),
    // Zero groups are common in real IPv6 addresses: bias the bytes towards zero.
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), {
      minLength: ADDRESS_V6_BYTES,
      maxLength: ADDRESS_V6_BYTES,
    }).map((bytes) => new Uint8Array(bytes)),
  ).filter((bytes) => (bytes[bytes.length - 2] | bytes[bytes.length - 1]) !== 0)
    .filter((bytes) => !isMapped(bytes));
  fc.assert(
    fc.property(wire, (bytes) => {
      const address = decodeAddress(bytes);
      assert.ok(address !== undefined, `decodes, seed ${SEED}`);
      assert.deepEqual(encodeAddress(address), bytes, `${address}, seed ${SEED}`);
      assert.equal(PeerAddress.parse(address.key)?.key, address.key, `stable, seed ${SEED}`);
    }),
    { seed: SEED, numRuns: 500 },
  );
});

Deno.test("decoded IPv6 text follows every RFC 5952 rule", () => {
  const groups = fc.array(
    fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
    {
      minLength: 8,
      maxLength: 8,
    },
  );
  fc.assert(
    fc.property(groups, fc.integer({ min: 1, max: 65535 }), (words, port) => {
      const bytes = new Uint8Array(ADDRESS_V6_BYTES);
      words.forEach((word, i) => {
        bytes[2 * i] = word >> 8;
        bytes[2 * i + 1] = word & 0xff;
      });
      bytes[16] = port >> 8;
      bytes[17] = port & 0xff;
      if (isMapped(bytes)) return;
      const text = decodeText(bytes)!;
      const context = `${words.join(",")} → ${text}, seed ${SEED}`;
      const match = /^\[([0-9a-f:]+)\]:([0-9]+)$/.exec(text);
      assert.ok(match, context);
      assert.equal(Number(match[2]), port, context);
      const host = match[1];
      // Lower case and no leading zeros.
      for (const group of host.split(":").filter((g) => g !== "")) {
        assert.match(group, /^(0|[1-9a-f][0-9a-f]{0,3})$/, context);
      }
      // The longest run of two or more zero groups, the first among equals, is "::".
      let bestStart = -1;
      let bestLength = 1;
      for (let i = 0; i < 8; i++) {
        let j = i;
        while (j < 8 && words[j] === 0) j++;
        if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
      }
      const doubleColons = host.split("::").length - 1;
      if (bestStart < 0) {
        assert.equal(doubleColons, 0, context);
        assert.equal(host.split(":").length, 8, context);
      } else {
        assert.equal(doubleColons, 1, context);
        const [head, tail] = host.split("::");
        assert.equal(head === "" ? 0 : head.split(":").length, bestStart, context);
        assert.equal(tail === "" ? 0 : tail.split(":").length, 8 - bestStart - bestLength, context);
      }
    }),
    { seed: SEED, numRuns: 500 },
  );
});

Deno.test("random text never makes PeerAddress.parse throw, and what it accepts decodes back", () => {
  const alphabet = fc.constantFrom(..."0123456789abcdefg.:[]% -x".split(""));
  fc.assert(
    fc.property(fc.string({ unit: alphabet, maxLength: 48 }), (text) => {
      const bytes = encodeText(text);
      if (bytes === undefined) return;
      assert.ok(
        bytes.length === ADDRESS_V4_BYTES || bytes.length === ADDRESS_V6_BYTES,
        `${text}, seed ${SEED}`,
      );
      assert.notEqual(decodeAddress(bytes), undefined, `${text}, seed ${SEED}`);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test({
  // Regression: the parse cache once handed out its own array, so a caller could corrupt it.
  name: "the bytes encodeAddress returns belong to the caller: changing them changes nothing else",
  fn() {
    const first = encodeText("192.0.2.77:7447")!;
    first[0] = 9;
    assert.deepEqual(encodeText("192.0.2.77:7447"), new Uint8Array([192, 0, 2, 77, 0x1d, 0x17]));
  },
});
