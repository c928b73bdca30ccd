// Goal: the byte helpers of src/core/bytes.ts encode and decode hex, base32 and base64url
// exactly (one canonical text per value), compare and join byte arrays, and decode UTF-8
// strictly. Method: published test vectors (RFC 4648), hand-picked malformed inputs that must be
// rejected with InvalidInputError, and a bounded randomized round trip driven by a seeded PRNG so
// every run checks the same values.

import assert from "node:assert/strict";
import {
  bytesEqual,
  compareBytes,
  concatBytes,
  fromBase32,
  fromBase64Url,
  fromHex,
  toBase32,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
} from "../../src/core/bytes.ts";
import { InvalidInputError } from "../../src/core/errors.ts";
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

function randomBytes(next: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

const ascii = (text: string) => new TextEncoder().encode(text);

// --- hex ---

Deno.test("toHex() writes two lower-case digits per byte", () => {
  assert.equal(toHex(new Uint8Array()), "");
  assert.equal(toHex(new Uint8Array([0, 1, 0x0f, 0x10, 0xab, 0xff])), "00010f10abff");
});

Deno.test("fromHex() reads either case", () => {
  assert.deepEqual(fromHex(""), new Uint8Array());
  assert.deepEqual(fromHex("00010f10abff"), new Uint8Array([0, 1, 0x0f, 0x10, 0xab, 0xff]));
  assert.deepEqual(fromHex("ABcdEF"), new Uint8Array([0xab, 0xcd, 0xef]));
});

Deno.test("fromHex() rejects an odd number of digits", () => {
  assertInvalid(() => fromHex("abc"), /Cannot decode hex: expected pairs of hex digits, got "abc"/);
  assertInvalid(() => fromHex("0"), /Cannot decode hex/);
});

Deno.test("fromHex() rejects characters that are not hex digits", () => {
  for (const text of ["zz", "0g", "0x12", " 12", "12 ", "+1", "é1", "1-"]) {
    assertInvalid(() => fromHex(text), /Cannot decode hex/);
  }
});

// --- base32 ---

const rfc4648Base32: [string, string][] = [
  ["", ""],
  ["f", "my"],
  ["fo", "mzxq"],
  ["foo", "mzxw6"],
  ["foob", "mzxw6yq"],
  ["fooba", "mzxw6ytb"],
  ["foobar", "mzxw6ytboi"],
];

Deno.test("toBase32() matches the RFC 4648 test vectors in lower case without padding", () => {
  for (const [plain, encoded] of rfc4648Base32) {
    assert.equal(toBase32(ascii(plain)), encoded, `toBase32("${plain}")`);
  }
});

Deno.test("fromBase32() decodes the RFC 4648 test vectors", () => {
  for (const [plain, encoded] of rfc4648Base32) {
    assert.deepEqual(fromBase32(encoded), ascii(plain), `fromBase32("${encoded}")`);
  }
});

Deno.test("fromBase32() accepts upper case as the same value", () => {
  for (const [plain, encoded] of rfc4648Base32) {
    assert.deepEqual(fromBase32(encoded.toUpperCase()), ascii(plain));
  }
});

Deno.test("fromBase32() rejects non-zero unused bits in the last character", () => {
  // "my" is "f"; "mz" carries the same byte plus a set bit in the two unused bits.
  assertInvalid(() => fromBase32("mz"), /Cannot decode base32: "mz" is not in canonical form/);
  // "mzxq" is "fo"; "mzxr" sets the last of its four unused bits.
  assertInvalid(() => fromBase32("mzxr"), /not in canonical form/);
  // "mzxw6" is "foo" with one unused bit; "mzxw7" sets it.
  assertInvalid(() => fromBase32("mzxw7"), /not in canonical form/);
  assertInvalid(() => fromBase32("mzxw6yr"), /not in canonical form/);
  assertInvalid(() => fromBase32("mzxw6ytboj"), /not in canonical form/);
});

Deno.test("fromBase32() rejects lengths of 1, 3 or 6 characters mod 8", () => {
  for (const length of [1, 3, 6, 9, 11, 14]) {
    assertInvalid(
      () => fromBase32("a".repeat(length)),
      new RegExp(`Cannot decode base32: length ${length} is impossible`),
    );
  }
});

Deno.test("fromBase32() accepts every possible length: 0, 2, 4, 5, 7 characters mod 8", () => {
  for (const length of [0, 2, 4, 5, 7, 8, 10, 12, 13, 15, 16]) {
    const bytes = fromBase32("a".repeat(length));
    assert.equal(bytes.length, Math.floor((length * 5) / 8));
    assert.ok(bytes.every((byte) => byte === 0));
  }
});

Deno.test("fromBase32() rejects characters outside a-z and 2-7, naming the position", () => {
  assertInvalid(() => fromBase32("m1"), /"1" at position 1 is not in a-z, 2-7/);
  assertInvalid(() => fromBase32("0y"), /"0" at position 0/);
  assertInvalid(() => fromBase32("m8"), /"8" at position 1/);
  assertInvalid(() => fromBase32("my=="), /Cannot decode base32/);
  assertInvalid(() => fromBase32("m "), /" " at position 1/);
  assertInvalid(() => fromBase32("mé"), /"é" at position 1/);
  assertInvalid(() => fromBase32("m\u{1F600}"), /Cannot decode base32/);
});

// --- base64url ---

Deno.test("toBase64Url() writes unpadded base64url with - and _", () => {
  assert.equal(toBase64Url(new Uint8Array()), "");
  assert.equal(toBase64Url(ascii("f")), "Zg");
  assert.equal(toBase64Url(ascii("fo")), "Zm8");
  assert.equal(toBase64Url(ascii("foo")), "Zm9v");
  assert.equal(toBase64Url(ascii("foobar")), "Zm9vYmFy");
  assert.equal(toBase64Url(new Uint8Array([0xfb, 0xff, 0xbf])), "-_-_");
});

Deno.test("fromBase64Url() decodes unpadded base64url", () => {
  assert.deepEqual(fromBase64Url(""), new Uint8Array());
  assert.deepEqual(fromBase64Url("Zg"), ascii("f"));
  assert.deepEqual(fromBase64Url("Zm8"), ascii("fo"));
  assert.deepEqual(fromBase64Url("Zm9vYmFy"), ascii("foobar"));
  assert.deepEqual(fromBase64Url("-_-_"), new Uint8Array([0xfb, 0xff, 0xbf]));
});

Deno.test("fromBase64Url() rejects padding, + and / and other characters", () => {
  for (const text of ["Zg==", "Zm8=", "+/+/", "Zm 9v", "Zm9v\n", "Zm9v!", "Zé"]) {
    assertInvalid(() => fromBase64Url(text), /Cannot decode base64url: ".*" is not base64url/s);
  }
});

Deno.test("fromBase64Url() rejects a length of 1 mod 4", () => {
  for (const text of ["Z", "Zm9vY"]) {
    assertInvalid(() => fromBase64Url(text), /is not base64url/);
  }
});

Deno.test("fromBase64Url() rejects non-zero unused bits in the last character", () => {
  assertInvalid(
    () => fromBase64Url("Zh"),
    /Cannot decode base64url: "Zh" is not in canonical form/,
  );
  assertInvalid(() => fromBase64Url("Zm9"), /not in canonical form/);
});

// --- randomized round trips ---

Deno.test("hex, base32 and base64url round-trip 500 random byte strings", () => {
  const next = prng(0x5eed_1234);
  for (let iteration = 0; iteration < 500; iteration++) {
    const bytes = randomBytes(next, Math.floor(next() * 70));
    const hex = toHex(bytes);
    assert.equal(hex.length, bytes.length * 2);
    assert.deepEqual(fromHex(hex), bytes);
    assert.deepEqual(fromHex(hex.toUpperCase()), bytes);

    const base32 = toBase32(bytes);
    assert.equal(base32.length, Math.ceil((bytes.length * 8) / 5));
    assert.match(base32, /^[a-z2-7]*$/);
    assert.deepEqual(fromBase32(base32), bytes);
    assert.deepEqual(fromBase32(base32.toUpperCase()), bytes);

    const base64 = toBase64Url(bytes);
    assert.equal(base64.length, Math.ceil((bytes.length * 8) / 6));
    assert.match(base64, /^[A-Za-z0-9_-]*$/);
    assert.deepEqual(fromBase64Url(base64), bytes);
  }
});

Deno.test("base32 and base64url decoders accept no second spelling of a random value", () => {
  // Changing the last character of a canonical text must either change the decoded bytes or be
  // rejected: never give back the same value.
  const next = prng(42);
  const base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (let iteration = 0; iteration < 200; iteration++) {
    const bytes = randomBytes(next, 1 + Math.floor(next() * 40));
    for (
      const [text, alphabet, decode] of [
        [toBase32(bytes), base32Alphabet, fromBase32],
        [toBase64Url(bytes), base64Alphabet, fromBase64Url],
      ] as const
    ) {
      const last = text[text.length - 1];
      const other = alphabet[
        (alphabet.indexOf(last) + 1 + Math.floor(next() * (alphabet.length - 1))) %
        alphabet.length
      ];
      assert.notEqual(other, last);
      const changed = text.slice(0, -1) + other;
      let decoded: Uint8Array | undefined;
      try {
        decoded = decode(changed);
      } catch (error) {
        assert.ok(error instanceof InvalidInputError);
      }
      if (decoded) assert.ok(!bytesEqual(decoded, bytes), `"${changed}" decoded like "${text}"`);
    }
  }
});

// --- comparison and concatenation ---

Deno.test("bytesEqual() compares length and content", () => {
  assert.equal(bytesEqual(new Uint8Array(), new Uint8Array()), true);
  assert.equal(bytesEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])), true);
  assert.equal(bytesEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])), false);
  assert.equal(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])), false);
  assert.equal(bytesEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2])), false);
  assert.equal(bytesEqual(new Uint8Array([0]), new Uint8Array()), false);
});

Deno.test("compareBytes() orders as big-endian unsigned numbers, a prefix first", () => {
  const sign = (a: number[], b: number[]) =>
    Math.sign(compareBytes(new Uint8Array(a), new Uint8Array(b)));
  assert.equal(sign([], []), 0);
  assert.equal(sign([1, 2, 3], [1, 2, 3]), 0);
  assert.equal(sign([1, 2, 3], [1, 2, 4]), -1);
  assert.equal(sign([1, 2, 4], [1, 2, 3]), 1);
  assert.equal(sign([0x7f], [0x80]), -1, "bytes compare unsigned");
  assert.equal(sign([0xff, 0], [0x00, 0xff]), 1, "the first byte is the most significant");
  assert.equal(sign([1, 2], [1, 2, 0]), -1, "a prefix sorts first");
  assert.equal(sign([1, 2, 0], [1, 2]), 1);
  assert.equal(sign([], [0]), -1);
});

Deno.test("concatBytes() joins arrays in order into a new array", () => {
  const a = new Uint8Array([1, 2]);
  const b = new Uint8Array([]);
  const c = new Uint8Array([3]);
  const joined = concatBytes(a, b, c);
  assert.deepEqual(joined, new Uint8Array([1, 2, 3]));
  joined[0] = 99;
  assert.equal(a[0], 1, "the result does not share memory with its parts");
  assert.deepEqual(concatBytes(), new Uint8Array());
  const view = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
  assert.deepEqual(concatBytes(view, view), new Uint8Array([8, 7, 8, 7]));
});

// --- UTF-8 ---

Deno.test("utf8Encode() and utf8Decode() round-trip text outside ASCII", () => {
  for (const text of ["", "rhizome", "é", "日本語", "\u{1F331} seedling", "a\u0000b"]) {
    assert.equal(utf8Decode(utf8Encode(text)), text);
  }
  assert.deepEqual(utf8Encode("é"), new Uint8Array([0xc3, 0xa9]));
});

Deno.test("utf8Decode() rejects invalid UTF-8 with InvalidInputError", () => {
  const invalid: number[][] = [
    [0xff], // never valid
    [0x80], // a lone continuation byte
    [0xc3], // a truncated two-byte sequence
    [0x61, 0xe6, 0x97], // a truncated three-byte sequence after valid text
    [0xc0, 0x80], // an overlong NUL
    [0xe0, 0x80, 0xaf], // an overlong "/"
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  ];
  for (const bytes of invalid) {
    const error = assertInvalid(
      () => utf8Decode(new Uint8Array(bytes)),
      /^Cannot decode text: the bytes are not valid UTF-8$/,
    );
    assert.ok(error.cause instanceof TypeError, "the decoder's error is kept as the cause");
  }
});

Deno.test("utf8Decode() keeps a leading byte-order mark: decoding is exact", () => {
  assert.equal(utf8Decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x61])), "\ufeffa");
});
