/**
 * Goal: threads, messages and profiles are signed by their author, checked field by field on
 * publish (a one-line ContentError naming the field and the limit) and on arrival (a RecordError),
 * and arrive exactly as written: no forged author, copied signature, oversize field, bad UTF-8,
 * control character, non-canonical encoding or future date gets through.
 * Method: examples of each rule on both sides, payloads built by hand for what signing refuses to
 * make, and fast-check properties (fixed seed) for round trips and for strings signing must never
 * change silently. Keys come from fixed seeds.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { loosePack } from "./_pack.ts";
import { concatBytes, utf8Encode } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey, ed25519Sign } from "../../src/core/crypto.ts";
import { ContentError } from "../../src/core/errors.ts";
import { NodeId } from "../../src/core/node_id.ts";
import {
  type AuthoredDoc,
  bodyBytesMax,
  checkDocTime,
  clockSkewMs,
  decodeDoc,
  decodeProfile,
  DOC_MAGIC,
  docId,
  docOfRecord,
  docRecord,
  isDocPayload,
  PROFILE_NAME,
  profileKey,
  signMessage,
  signProfile,
  signThread,
  titleBytesMax,
} from "../../src/content/documents.ts";
import {
  encodeRecord,
  mutableKey,
  RecordError,
  recordKey,
  RecordKind,
  signMutable,
} from "../../src/content/records.ts";

const SEED = 0x5eed_d0c;
const alice = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
const bob = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2));
const nowMs = 1_800_000_000_000;
const threadFields = { createdMs: nowMs, title: "Gardens", body: "Roots first.", tags: ["soil"] };
const thread = signThread(alice, threadFields);
const threadId = docId(thread);

function invalid(action: () => unknown, message: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof ContentError, String(error));
    assert.equal(error.code, "CONTENT_INVALID");
    assert.equal(error.message, message);
    return true;
  });
}

function refused(action: () => unknown, pattern: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof RecordError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

/** A document with its IDs as hex, so deepEqual compares them (NodeId keeps its bits private). */
function plain(doc: AuthoredDoc): unknown {
  if (doc.type === "thread") return doc;
  return { ...doc, thread: doc.thread.toHex(), parent: doc.parent.toHex() };
}

/** A thread payload from raw fields, signed by `signer` over exactly those fields. */
function handBuiltThread(fields: unknown[], signer = alice): Uint8Array {
  const signed = concatBytes(utf8Encode("rhizome/doc/v1"), loosePack(fields));
  const signature = ed25519Sign(signer, signed);
  return concatBytes(DOC_MAGIC, loosePack([...fields, signature]));
}

function rawThreadFields(overrides: { title?: Uint8Array; body?: Uint8Array; tags?: unknown[] }) {
  return [
    1,
    alice.publicKey,
    nowMs,
    overrides.title ?? utf8Encode("Title"),
    overrides.body ?? utf8Encode("Body"),
    overrides.tags ?? [],
  ];
}

Deno.test("signThread() makes a document that decodes to itself and whose ID is its record key", () => {
  const record = docRecord(thread);
  assert.equal(record.kind, RecordKind.immutable);
  assert.ok(isDocPayload(record.payload));
  assert.deepEqual(record.payload.subarray(0, 8), utf8Encode("RHZDOC1\n"));
  assert.deepEqual(decodeDoc(record.payload), thread);
  assert.deepEqual(docOfRecord(record), thread);
  assert.ok(threadId.equals(recordKey(record)));
  assert.deepEqual(thread.author, alice.publicKey);
});

Deno.test("signMessage() makes a reply that keeps its thread and parent", () => {
  const post = signMessage(bob, {
    createdMs: nowMs,
    thread: threadId,
    parent: threadId,
    body: "Hi",
  });
  const reply = signMessage(alice, {
    createdMs: nowMs + 1,
    thread: threadId,
    parent: docId(post),
    body: "Hello, Bob",
  });
  const decoded = decodeDoc(docRecord(reply).payload);
  assert.deepEqual(plain(decoded), plain(reply));
  assert.equal(decoded.type === "message" && decoded.parent.toHex(), docId(post).toHex());
  assert.notEqual(docId(post).toHex(), docId(reply).toHex());
});

Deno.test("decodeDoc() refuses a document claiming another author than the key that signed it", () => {
  const claimed = { ...thread, author: bob.publicKey };
  refused(() => decodeDoc(docRecord(claimed).payload), /the author's signature does not verify/);
});

Deno.test("decodeDoc() refuses a signature copied onto another body", () => {
  const copied = { ...thread, body: "Roots last." };
  refused(() => decodeDoc(docRecord(copied).payload), /the author's signature does not verify/);
  const message = signMessage(alice, {
    createdMs: nowMs,
    thread: threadId,
    parent: threadId,
    body: "one",
  });
  const moved = { ...message, thread: NodeId.fromBytes(new Uint8Array(20).fill(9)) };
  refused(() => decodeDoc(docRecord(moved).payload), /the author's signature does not verify/);
});

Deno.test("signThread() refuses an oversize title, body or tag list with one-line errors", () => {
  const title = "a".repeat(250);
  invalid(
    () => signThread(alice, { ...threadFields, title }),
    "Cannot publish thread: the title is 250 bytes, the limit is 200",
  );
  // Bytes, not characters: 67 three-byte characters are 201 bytes.
  invalid(
    () => signThread(alice, { ...threadFields, title: "€".repeat(67) }),
    "Cannot publish thread: the title is 201 bytes, the limit is 200",
  );
  assert.equal(
    signThread(alice, { ...threadFields, title: "a".repeat(titleBytesMax) }).type,
    "thread",
  );
  invalid(
    () => signThread(alice, { ...threadFields, body: "b".repeat(bodyBytesMax + 1) }),
    "Cannot publish thread: the body is 16385 bytes, the limit is 16384",
  );
  assert.equal(signThread(alice, { ...threadFields, body: "" }).body, "");
  const nine = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
  invalid(
    () => signThread(alice, { ...threadFields, tags: nine }),
    "Cannot publish thread: there are 9 tags, the limit is 8",
  );
  invalid(
    () => signThread(alice, { ...threadFields, tags: ["t".repeat(33)] }),
    `Cannot publish thread: the tag "${"t".repeat(33)}" is 33 bytes, the limit is 32`,
  );
});

Deno.test("signThread() refuses malformed, empty and repeated tags", () => {
  for (const tag of ["Soil", "-soil", "so il", "sоil", "soil_2"]) {
    invalid(
      () => signThread(alice, { ...threadFields, tags: [tag] }),
      `Cannot publish thread: the tag ${
        JSON.stringify(tag)
      } must be lower-case letters, digits and hyphens, not starting with a hyphen`,
    );
  }
  invalid(
    () => signThread(alice, { ...threadFields, tags: [""] }),
    'Cannot publish thread: the tag "" is empty',
  );
  invalid(
    () => signThread(alice, { ...threadFields, tags: ["soil", "roots", "soil"] }),
    'Cannot publish thread: the tag "soil" is listed twice',
  );
  assert.deepEqual(signThread(alice, { ...threadFields, tags: ["0-day", "a-b-"] }).tags, [
    "0-day",
    "a-b-",
  ]);
});

Deno.test("signThread() refuses a title that is empty or is not one line", () => {
  invalid(
    () => signThread(alice, { ...threadFields, title: "" }),
    "Cannot publish thread: the title is empty",
  );
  for (
    const title of ["two\nlines", "tab\there", "bell\u0007", "del\u007f", "c1\u0085", "ls\u2028"]
  ) {
    invalid(
      () => signThread(alice, { ...threadFields, title }),
      "Cannot publish thread: the title holds a control character or line break",
    );
  }
  // A body may have as many lines as it likes.
  assert.equal(signThread(alice, { ...threadFields, body: "a\nb\tc" }).body, "a\nb\tc");
});

Deno.test("signing refuses lone surrogates, which UTF-8 cannot carry", () => {
  invalid(
    () => signThread(alice, { ...threadFields, title: "half \ud83d" }),
    "Cannot publish thread: the title is not valid UTF-8 (it holds a lone surrogate)",
  );
  invalid(
    () =>
      signMessage(alice, { createdMs: nowMs, thread: threadId, parent: threadId, body: "\udc00" }),
    "Cannot publish message: the body is not valid UTF-8 (it holds a lone surrogate)",
  );
  assert.equal(signThread(alice, { ...threadFields, title: "whole 🌱" }).title, "whole 🌱");
});

Deno.test("signMessage() refuses an empty or oversize body and a bad time", () => {
  const fields = { createdMs: nowMs, thread: threadId, parent: threadId };
  invalid(
    () => signMessage(alice, { ...fields, body: "" }),
    "Cannot publish message: the body is empty",
  );
  invalid(
    () => signMessage(alice, { ...fields, body: "x".repeat(20_000) }),
    "Cannot publish message: the body is 20000 bytes, the limit is 16384",
  );
  for (const createdMs of [-1, 1.5, Number.NaN, 2 ** 53]) {
    invalid(
      () => signMessage(alice, { ...fields, createdMs, body: "x" }),
      "Cannot publish message: the creation time must be a whole number of milliseconds since the epoch",
    );
  }
});

Deno.test("decodeDoc() refuses invalid UTF-8 in a hand-built payload, though it is signed", () => {
  const badBody = handBuiltThread(rawThreadFields({ body: new Uint8Array([0x68, 0xff, 0xfe]) }));
  refused(() => decodeDoc(badBody), /^Cannot accept record: the body is not valid UTF-8$/);
  const overlong = handBuiltThread(rawThreadFields({ title: new Uint8Array([0xc0, 0xaf]) }));
  refused(() => decodeDoc(overlong), /the title is not valid UTF-8/);
  const badTag = handBuiltThread(rawThreadFields({ tags: [new Uint8Array([0xed, 0xa0, 0x80])] }));
  refused(() => decodeDoc(badTag), /a tag is not valid UTF-8/);
  // The same builder with valid fields makes an acceptable document.
  assert.equal(decodeDoc(handBuiltThread(rawThreadFields({}))).type, "thread");
});

Deno.test("decodeDoc() applies every publishing limit to what arrives", () => {
  const cases: [unknown[], RegExp][] = [
    [
      rawThreadFields({ title: utf8Encode("a".repeat(250)) }),
      /the title is 250 bytes, the limit is 200/,
    ],
    [rawThreadFields({ title: utf8Encode("a\nb") }), /the title holds a control character/],
    [rawThreadFields({ title: new Uint8Array(0) }), /the title is empty/],
    [
      rawThreadFields({ body: new Uint8Array(bodyBytesMax + 1).fill(0x61) }),
      /the body is 16385 bytes/,
    ],
    [rawThreadFields({ tags: [utf8Encode("Caps")] }), /the tag "Caps" must be lower-case/],
    [rawThreadFields({ tags: ["soil"] }), /not canonical: a string where bytes belong/],
    [rawThreadFields({ tags: Array.from({ length: 9 }, (_, i) => utf8Encode(`t${i}`)) }), /9 tags/],
  ];
  for (const [fields, pattern] of cases) refused(() => decodeDoc(handBuiltThread(fields)), pattern);
});

Deno.test("decodeDoc() refuses malformed shapes, unknown types and non-canonical encodings", () => {
  const payload = docRecord(thread).payload;
  refused(() => decodeDoc(payload.subarray(8)), /no RHZDOC1 header/);
  refused(() => decodeDoc(payload.subarray(0, payload.length - 1)), /not valid MessagePack/);
  refused(() => decodeDoc(concatBytes(payload, new Uint8Array([0]))), /trailing bytes/);
  refused(() => decodeDoc(concatBytes(DOC_MAGIC, loosePack(5))), /not an array/);
  const fields = rawThreadFields({});
  refused(() => decodeDoc(handBuiltThread([3, ...fields.slice(1)])), /document type 3 is unknown/);
  refused(() => decodeDoc(handBuiltThread(fields.slice(0, 5))), /not a 7-field array/);
  refused(
    () => decodeDoc(handBuiltThread([1, alice.publicKey.subarray(1), ...fields.slice(2)])),
    /the author key is not 32 bytes/,
  );
  refused(
    () => decodeDoc(handBuiltThread([1, alice.publicKey, -5, ...fields.slice(3)])),
    /creation time/,
  );
  // The same values with the time written as a u32 instead of the shortest form: one signed
  // document must have one ID, so only the canonical bytes are accepted.
  const small = signThread(alice, { ...threadFields, createdMs: 1000 });
  const canonical = docRecord(small).payload;
  const packed = loosePack;
  const widened = concatBytes(
    DOC_MAGIC,
    new Uint8Array([0x97]),
    packed(1),
    packed(small.author),
    new Uint8Array([0xce, 0, 0, 0x03, 0xe8]),
    packed(utf8Encode(small.title)),
    packed(utf8Encode(small.body)),
    packed(small.tags.map(utf8Encode)),
    packed(small.signature),
  );
  assert.notDeepEqual(widened, canonical);
  refused(() => decodeDoc(widened), /not canonical: 1000 in a uint 32 header/);
  assert.deepEqual(decodeDoc(canonical), small);
});

Deno.test("docOfRecord() passes raw payloads, mutable records and sets, and refuses a broken doc", () => {
  assert.equal(
    docOfRecord({ kind: RecordKind.immutable, payload: utf8Encode("raw bytes") }),
    undefined,
  );
  assert.equal(docOfRecord({ kind: RecordKind.immutable, payload: new Uint8Array(0) }), undefined);
  assert.equal(docOfRecord(signMutable(alice, PROFILE_NAME, 1, DOC_MAGIC)), undefined);
  assert.equal(
    docOfRecord({
      kind: RecordKind.set,
      name: new Uint8Array([1]),
      policy: { onePerWriter: false, entriesMax: 400 },
      entries: [],
    }),
    undefined,
  );
  const broken = {
    kind: RecordKind.immutable,
    payload: concatBytes(DOC_MAGIC, utf8Encode("junk")),
  };
  refused(() => docOfRecord(broken), /Cannot accept record: the document/);
});

Deno.test("checkDocTime() refuses a document dated beyond the clock skew, in whole seconds", () => {
  const future = signThread(alice, { ...threadFields, createdMs: nowMs + 3_600_000 });
  refused(
    () => checkDocTime(future, nowMs),
    /^Cannot accept record: it was written 3600 s in the future \(clock skew limit 300 s\)$/,
  );
  checkDocTime(signThread(alice, { ...threadFields, createdMs: nowMs + clockSkewMs }), nowMs);
  refused(
    () =>
      checkDocTime(
        signThread(alice, { ...threadFields, createdMs: nowMs + clockSkewMs + 1 }),
        nowMs,
      ),
    /written 301 s in the future/,
  );
  checkDocTime(signThread(alice, { ...threadFields, createdMs: 0 }), nowMs);
});

Deno.test("signProfile() makes the author's profile record, which decodes to itself", () => {
  const profile = {
    name: "Alice",
    about: "Gardener.\nLikes roots.",
    keys: [bob.publicKey],
    updatedMs: nowMs,
  };
  const record = signProfile(alice, 7, profile);
  assert.equal(record.seq, 7);
  assert.deepEqual(record.name, utf8Encode("profile"));
  assert.ok(recordKey(record).equals(profileKey(alice.publicKey)));
  assert.ok(profileKey(alice.publicKey).equals(mutableKey(alice.publicKey, PROFILE_NAME)));
  assert.deepEqual(decodeProfile(record.payload), profile);
  const empty = { name: "", about: "", keys: [], updatedMs: 0 };
  assert.deepEqual(decodeProfile(signProfile(alice, 0, empty).payload), empty);
  assert.ok(encodeRecord(record).length < 2000);
});

Deno.test("signProfile() refuses fields beyond the profile limits", () => {
  const base = { name: "Alice", about: "", keys: [], updatedMs: nowMs };
  const cases: [Parameters<typeof signProfile>[2], string][] = [
    [{ ...base, name: "n".repeat(65) }, "the name is 65 bytes, the limit is 64"],
    [{ ...base, name: "two\nlines" }, "the name holds a control character or line break"],
    [{ ...base, about: "a".repeat(1025) }, "the about text is 1025 bytes, the limit is 1024"],
    [{ ...base, about: "\ud800" }, "the about text is not valid UTF-8 (it holds a lone surrogate)"],
    [
      { ...base, keys: Array.from({ length: 9 }, (_, i) => new Uint8Array(32).fill(i)) },
      "there are 9 keys, the limit is 8",
    ],
    [{ ...base, keys: [bob.publicKey, new Uint8Array(31)] }, "key 2 is not 32 bytes"],
    [{ ...base, keys: [bob.publicKey, new Uint8Array(bob.publicKey)] }, "a key is listed twice"],
    [
      { ...base, updatedMs: -1 },
      "the update time must be a whole number of milliseconds since the epoch",
    ],
  ];
  for (const [profile, problem] of cases) {
    invalid(() => signProfile(alice, 1, profile), `Cannot publish profile: ${problem}`);
  }
  invalid(
    () => signProfile(alice, -1, base),
    "Cannot publish profile: the sequence number must be a whole number, at least 0",
  );
});

Deno.test("decodeProfile() refuses hand-built payloads that break the rules", () => {
  const packed = loosePack;
  const name = utf8Encode("Alice");
  const cases: [Uint8Array, RegExp][] = [
    [packed([new Uint8Array([0xff]), name, [], 0]), /the profile's name is not valid UTF-8/],
    [packed(["Alice", name, [], 0]), /the profile is not canonical: a string/],
    [packed([name, name, [new Uint8Array(32), new Uint8Array(5)], 0]), /key 2 is not 32 bytes/],
    [packed([name, name, "keys", 0]), /the profile is not canonical: a string/],
    [packed([name, name, [5], 0]), /keys are not a list of byte strings/],
    [packed([name, name, [], 0, 0]), /not a 4-field array/],
    [packed([name, new Uint8Array(1025).fill(0x61), [], 0]), /1025 bytes, the limit is 1024/],
    [packed({ name }), /the profile is not canonical: a map/],
    [packed(5), /the profile is not an array/],
    [new Uint8Array([0x94, 0xc4]), /not valid MessagePack/],
    [packed([name, name, [], 1.5]), /not canonical: a float/],
    [packed([name, name, [], -1]), /update time/],
  ];
  for (const [payload, pattern] of cases) refused(() => decodeProfile(payload), pattern);
});

Deno.test("any well-formed text within the limits round-trips through a signed message", () => {
  // Any Unicode scalar value: ASCII, the rest of the BMP around the surrogates, and beyond.
  const codePoint = fc.oneof(
    fc.integer({ min: 0, max: 0x7f }),
    fc.integer({ min: 0x80, max: 0xd7ff }),
    fc.integer({ min: 0xe000, max: 0xffff }),
    fc.integer({ min: 0x10000, max: 0x10ffff }),
  ).map((code) => String.fromCodePoint(code));
  fc.assert(
    fc.property(
      fc.string({ unit: codePoint, minLength: 1, maxLength: 200 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      (body, createdMs) => {
        const message = signMessage(alice, { createdMs, thread: threadId, parent: threadId, body });
        const decoded = decodeDoc(docRecord(message).payload);
        assert.deepEqual(plain(decoded), plain(message), `seed ${SEED}`);
        assert.equal(decoded.body, body, `seed ${SEED}`);
      },
    ),
    { seed: SEED, numRuns: 200 },
  );
});

Deno.test("signThread() either refuses a title or signs exactly that title, never a changed one", () => {
  const codeUnit = fc.oneof(
    fc.integer({ min: 0, max: 0xffff }),
    fc.integer({ min: 0x20, max: 0x7e }),
    fc.integer({ min: 0xd800, max: 0xdfff }),
  ).map((code) => String.fromCharCode(code));
  fc.assert(
    fc.property(fc.string({ unit: codeUnit, maxLength: 80 }), (title) => {
      let doc;
      try {
        doc = signThread(alice, { ...threadFields, title });
      } catch (error) {
        assert.ok(error instanceof ContentError, `${error}, seed ${SEED}`);
        return;
      }
      const decoded = decodeDoc(docRecord(doc).payload);
      assert.equal(decoded.type === "thread" && decoded.title, title, `seed ${SEED}`);
      assert.ok(utf8Encode(title).length <= titleBytesMax, `seed ${SEED}`);
    }),
    { seed: SEED, numRuns: 300 },
  );
});
