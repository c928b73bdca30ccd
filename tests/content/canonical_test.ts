/**
 * One byte string per record: every kind (immutable, mutable profile, set entry, thread, message)
 * is accepted in its canonical encoding, integers ≥ 2^32 included (uint64), and refused with
 * `RECORD_INVALID` and the reason when anything is written otherwise: a float64 integer (what
 * format 1 wrote), a longer int, bin, array header, a string or map, an element too many or too
 * few. A property checks that decoding then encoding any valid record gives back its bytes.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { concatBytes, utf8Encode } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey, ed25519Sign } from "../../src/core/crypto.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { contentKey } from "../../src/core/content_key.ts";
import {
  type CanonicalValue,
  decodeCanonical,
  encodeCanonical,
} from "../../src/content/canonical.ts";
import {
  DOC_MAGIC,
  docRecord,
  PROFILE_NAME,
  profileKey,
  signMessage,
  signProfile,
  signThread,
} from "../../src/content/documents.ts";
import { checkContent, signedEntrySet, votesIndex } from "../../src/content/key_schema.ts";
import {
  decodeRecord,
  decodeStoredRecord,
  type DhtRecord,
  encodeRecord,
  RECORD_VERSION,
  RecordError,
  recordKey,
  RecordKind,
  signMutable,
  signSetEntry,
} from "../../src/content/records.ts";

const SEED = 0xca_0015;
const alice = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
const bob = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2));
/** A time in ms since the epoch: above 2^32, so it takes the uint64 form. */
const nowMs = 1_800_000_000_000;
const nowS = nowMs / 1000;
const threadId = NodeId.fromBytes(new Uint8Array(20).fill(7));

/** What a node does with bytes under a key: decode, check key, signatures and content. */
function accept(key: NodeId, bytes: Uint8Array): DhtRecord {
  const record = decodeRecord(key, bytes);
  checkContent(key, record, nowMs);
  return record;
}

function refused(key: NodeId, bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => accept(key, bytes), (error: unknown) => {
    assert.ok(error instanceof RecordError, String(error));
    assert.equal(error.code, "RECORD_INVALID");
    assert.match(error.message, pattern);
    return true;
  });
}

// Hand-written MessagePack forms, each a longer or other form of a value than the canonical one.
const float64 = (n: number) => {
  const bytes = new Uint8Array(9);
  bytes[0] = 0xcb;
  new DataView(bytes.buffer).setFloat64(1, n);
  return bytes;
};
const uint64 = (n: number) => {
  const bytes = new Uint8Array(9);
  bytes[0] = 0xcf;
  new DataView(bytes.buffer).setBigUint64(1, BigInt(n));
  return bytes;
};
const uint16 = (n: number) => new Uint8Array([0xcd, n >> 8, n & 0xff]);
const bin16 = (b: Uint8Array) => concatBytes(new Uint8Array([0xc5, b.length >> 8, b.length]), b);
const str8 = (b: Uint8Array) => concatBytes(new Uint8Array([0xd9, b.length]), b);
const array16 = (n: number) => new Uint8Array([0xdc, 0, n]);
const fixarray = (n: number) => new Uint8Array([0x90 | n]);
const enc = (value: CanonicalValue) => encodeCanonical(value);

/** A record's bytes from its fields' encodings, under a fixarray header. */
function fieldsToBytes(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(fixarray(parts.length), ...parts);
}

Deno.test("the record format version is 2", () => {
  assert.equal(RECORD_VERSION, 2);
  const bytes = encodeRecord({ kind: RecordKind.immutable, payload: new Uint8Array([1]) });
  assert.deepEqual([...bytes.subarray(0, 3)], [0x93, 0x02, 0x00]);
});

Deno.test("immutable: one key, one byte string; a longer bin header is refused under any key", () => {
  const payload = utf8Encode("hello");
  const record: DhtRecord = { kind: RecordKind.immutable, payload };
  const canonical = encodeRecord(record);
  assert.deepEqual(canonical, fieldsToBytes(enc(2), enc(0), enc(payload)));
  assert.deepEqual(accept(recordKey(record), canonical), record);
  const widened = fieldsToBytes(enc(2), enc(0), bin16(payload));
  // Under the canonical key (the node hashes its own re-encoding) and under its own hash alike.
  refused(recordKey(record), widened, /not canonical: 5 in a bin 16 header/);
  refused(contentKey(widened), widened, /not canonical: 5 in a bin 16 header/);
  refused(contentKey(widened), fieldsToBytes(uint16(2), enc(0), enc(payload)), /uint 16/);
  refused(
    recordKey(record),
    concatBytes(array16(3), enc(2), enc(0), enc(payload)),
    /3 in a array 16 header/,
  );
  refused(recordKey(record), fieldsToBytes(enc(2), enc(0), str8(payload)), /a string/);
  refused(recordKey(record), concatBytes(canonical, new Uint8Array([0])), /trailing bytes/);
  refused(recordKey(record), fieldsToBytes(enc(2), enc(0), enc(payload), enc(0)), /malformed/);
  refused(recordKey(record), fieldsToBytes(enc(2), enc(0)), /not a record array/);
  refused(recordKey(record), new Uint8Array([0x81, 0x01, 0x02]), /a map/);
});

Deno.test("mutable profile: seq and updatedMs ≥ 2^32 are uint64; as float64 they are refused", () => {
  const seq = nowMs; // one-per-writer sequences are times in ms
  const profile = { name: "Alice", about: "", keys: [], updatedMs: nowMs };
  const record = signProfile(alice, seq, profile);
  const key = profileKey(alice.publicKey);
  const canonical = encodeRecord(record);
  const parts = [enc(2), enc(1), enc(record.owner), enc(PROFILE_NAME)];
  const tail = [enc(record.payload), enc(record.signature)];
  assert.deepEqual(canonical, fieldsToBytes(...parts, uint64(seq), ...tail), "seq is uint64 (cf)");
  assert.deepEqual(accept(key, canonical), record);
  refused(key, fieldsToBytes(...parts, float64(seq), ...tail), /not canonical: a float/);
  refused(key, fieldsToBytes(...parts, uint64(5), ...tail), /5 in a uint 64 header/);
  refused(key, fieldsToBytes(...parts, uint64(seq), ...tail, enc(0)), /malformed mutable/);
  refused(key, fieldsToBytes(...parts, uint64(seq), tail[0]), /malformed mutable/);
  refused(
    key,
    fieldsToBytes(enc(2), enc(1), enc(record.owner), bin16(PROFILE_NAME), uint64(seq), ...tail),
    /7 in a bin 16 header/,
  );

  // The payload too: a profile with its update time as float64, validly signed, is refused.
  const name = utf8Encode("Alice");
  const loosePayload = concatBytes(
    fixarray(4),
    enc(name),
    enc(new Uint8Array(0)),
    enc([]),
    float64(nowMs),
  );
  const loose = signMutable(alice, PROFILE_NAME, seq, loosePayload);
  refused(key, encodeRecord(loose), /the profile is not canonical: a float/);
  const widePayload = concatBytes(
    fixarray(4),
    bin16(name),
    enc(new Uint8Array(0)),
    enc([]),
    uint64(nowMs),
  );
  refused(key, encodeRecord(signMutable(alice, PROFILE_NAME, seq, widePayload)), /bin 16 header/);
  const extra = concatBytes(
    fixarray(5),
    enc(name),
    enc(new Uint8Array(0)),
    enc([]),
    uint64(nowMs),
    enc(0),
  );
  refused(key, encodeRecord(signMutable(alice, PROFILE_NAME, seq, extra)), /not a 4-field array/);
});

Deno.test("set entry: seq and expiresAtS in their shortest forms; other forms are refused", () => {
  const address = votesIndex(threadId);
  const seq = nowMs; // votes: seq = max(previous + 1, now in ms), above 2^32
  const set = signedEntrySet(alice, address, seq, nowS + 3600, { direction: 1 });
  const entry = set.entries[0];
  const canonical = encodeRecord(set);
  const head = [enc(2), enc(2), enc(set.name), enc(true), enc(set.policy.entriesMax)];
  const entryWith = (...fields: Uint8Array[]) =>
    concatBytes(fixarray(1), fixarray(fields.length), ...fields);
  const entryFields = (seqBytes: Uint8Array, expiryBytes = enc(entry.expiresAtS)) => [
    enc(entry.writer),
    seqBytes,
    expiryBytes,
    enc(entry.payload),
    enc(entry.signature),
  ];
  assert.deepEqual(canonical, fieldsToBytes(...head, entryWith(...entryFields(uint64(seq)))));
  assert.deepEqual(accept(address.key, canonical), set);
  refused(
    address.key,
    fieldsToBytes(...head, entryWith(...entryFields(float64(seq)))),
    /not canonical: a float/,
  );
  refused(
    address.key,
    fieldsToBytes(...head, entryWith(...entryFields(uint64(seq), uint64(entry.expiresAtS)))),
    /in a uint 64 header/,
  );
  refused(
    address.key,
    fieldsToBytes(...head, entryWith(...entryFields(uint64(seq)), enc(0))),
    /a set entry is malformed/,
  );
  refused(
    address.key,
    fieldsToBytes(...head, entryWith(...entryFields(uint64(seq)).slice(0, 4))),
    /a set entry is malformed/,
  );
  refused(
    address.key,
    fieldsToBytes(
      ...head,
      concatBytes(array16(1), fixarray(5), ...entryFields(uint64(seq))),
    ),
    /1 in a array 16 header/,
  );
  refused(
    address.key,
    fieldsToBytes(
      ...head.slice(0, 4),
      new Uint8Array([0xce, 0, 0, set.policy.entriesMax >> 8, set.policy.entriesMax & 0xff]),
      entryWith(...entryFields(uint64(seq))),
    ),
    /512 in a uint 32 header/,
  );
  // A small sequence as uint64: the same number, a longer form.
  const small = signedEntrySet(bob, address, 7, nowS + 3600, { direction: -1 });
  const smallEntry = small.entries[0];
  refused(
    address.key,
    fieldsToBytes(
      ...head,
      entryWith(
        enc(smallEntry.writer),
        uint64(7),
        enc(smallEntry.expiresAtS),
        enc(smallEntry.payload),
        enc(smallEntry.signature),
      ),
    ),
    /7 in a uint 64 header/,
  );
  // The entry's payload too: [-1] as an int 8 instead of a negative fixint.
  const loose = {
    ...small,
    entries: [signSetEntry(bob, address.key, 7, nowS + 3600, new Uint8Array([0x91, 0xd0, 0xff]))],
  };
  refused(address.key, encodeRecord(loose), /a votes entry is not canonical: -1 in an int 8 form/);
});

for (const type of ["thread", "message"] as const) {
  Deno.test(`${type} document: createdMs is uint64; float64, longer headers and extra fields are refused`, () => {
    const doc = type === "thread"
      ? signThread(alice, { createdMs: nowMs, title: "Soil", body: "Loam", tags: ["soil"] })
      : signMessage(alice, { createdMs: nowMs, thread: threadId, parent: threadId, body: "Loam" });
    const record = docRecord(doc);
    const key = recordKey(record);
    const bodyFields = type === "thread"
      ? [enc(utf8Encode("Soil")), enc(utf8Encode("Loam")), enc([utf8Encode("soil")])]
      : [enc(threadId.toBytes()), enc(threadId.toBytes()), enc(utf8Encode("Loam"))];
    const docBytes = (created: Uint8Array, fields = bodyFields, extra: Uint8Array[] = []) => {
      const signedFields = concatBytes(
        fixarray(3 + fields.length),
        enc(type === "thread" ? 1 : 2),
        enc(alice.publicKey),
        created,
        ...fields,
      );
      const signature = ed25519Sign(
        alice,
        concatBytes(utf8Encode("rhizome/doc/v1"), signedFields),
      );
      const all = [enc(type === "thread" ? 1 : 2), enc(alice.publicKey), created, ...fields];
      return concatBytes(
        DOC_MAGIC,
        fixarray(all.length + 1 + extra.length),
        ...all,
        enc(signature),
        ...extra,
      );
    };
    assert.deepEqual(record.payload, docBytes(uint64(nowMs)), "createdMs is uint64 (cf)");
    assert.ok(accept(key, encodeRecord(record)));
    const asRecord = (payload: Uint8Array) => {
      const bytes = encodeRecord({ kind: RecordKind.immutable, payload });
      return [contentKey(bytes), bytes] as const;
    };
    refused(
      ...asRecord(docBytes(float64(nowMs))),
      new RegExp(`the document is not canonical: a float`),
    );
    const wide = [bin16(bodyFields[0].subarray(type === "thread" ? 1 : 2)), ...bodyFields.slice(1)];
    refused(
      ...asRecord(docBytes(uint64(nowMs), wide)),
      /the document is not canonical: .* bin 16 header/,
    );
    refused(...asRecord(docBytes(uint64(nowMs), bodyFields, [enc(0)])), /not a 7-field array/);
    refused(...asRecord(docBytes(uint64(nowMs), bodyFields.slice(0, 2))), /not a 7-field array/);
  });
}

Deno.test("decodeCanonical() refuses every longer form of an integer and accepts the shortest", () => {
  const cases: [number, Uint8Array, RegExp][] = [
    [5, new Uint8Array([0xcc, 5]), /5 in a uint 8 header/],
    [200, new Uint8Array([0xcd, 0, 200]), /200 in a uint 16 header/],
    [300, new Uint8Array([0xce, 0, 0, 1, 44]), /300 in a uint 32 header/],
    [5, new Uint8Array([0xd0, 5]), /5 in a signed int 8 form/],
    [-1, new Uint8Array([0xd0, 0xff]), /-1 in an int 8 form/],
    [-100, new Uint8Array([0xd1, 0xff, 0x9c]), /-100 in an int 16 form/],
    [2 ** 40, float64(2 ** 40), /a float/],
  ];
  for (const [value, bytes, pattern] of cases) {
    assert.throws(() => decodeCanonical(bytes, "the value"), pattern);
    assert.equal(decodeCanonical(encodeCanonical(value), "the value"), value);
  }
  assert.throws(() => decodeCanonical(uint64(2 ** 53), "the value"), /beyond ±\(2\^53 - 1\)/);
  const deep = new Uint8Array(64).fill(0x91);
  assert.throws(() => decodeCanonical(deep, "the value"), /nested deeper than 8/);
  assert.throws(
    () => decodeCanonical(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), "v"),
    /truncated/,
  );
  assert.deepEqual(
    [
      -(2 ** 53) + 1,
      -(2 ** 31) - 1,
      -(2 ** 31),
      -129,
      -33,
      -32,
      127,
      128,
      255,
      256,
      65536,
      2 ** 32,
      2 ** 53 - 1,
    ]
      .map((n) => encodeCanonical(n).length),
    [9, 9, 5, 3, 2, 1, 1, 2, 2, 3, 5, 9, 9],
  );
});

Deno.test("decode then encode gives back the bytes of any valid record (property)", () => {
  const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });
  const whole = fc.oneof(
    fc.integer({ min: 0, max: 300 }),
    fc.integer({ min: 0, max: 2 ** 32 + 5 }),
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  );
  const immutable = bytes(300).map((payload): DhtRecord => ({
    kind: RecordKind.immutable,
    payload,
  }));
  const mutable = fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), whole, bytes(300))
    .map(([name, seq, payload]): DhtRecord => signMutable(alice, name, seq, payload));
  const set = fc.tuple(
    fc.uint8Array({ minLength: 1, maxLength: 64 }),
    fc.integer({ min: 1, max: 65535 }),
    whole,
    whole,
    bytes(300),
  ).map(([name, entriesMax, seq, expiresAtS, payload]): DhtRecord => {
    const policy = { onePerWriter: true, entriesMax };
    const record: DhtRecord = { kind: RecordKind.set, name, policy, entries: [] };
    const entry = signSetEntry(bob, recordKey(record), seq, expiresAtS, payload);
    return { ...record, entries: [entry] };
  });
  const docs = fc.tuple(
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    fc.string({ minLength: 1, maxLength: 100 }),
  )
    .filter(([, body]) => !/[\uD800-\uDFFF]/.test(body))
    .map(([createdMs, body]): DhtRecord =>
      docRecord(signMessage(alice, { createdMs, thread: threadId, parent: threadId, body }))
    );
  fc.assert(
    fc.property(fc.oneof(immutable, mutable, set, docs), (record) => {
      const encoded = encodeRecord(record);
      const decoded = decodeRecord(recordKey(record), encoded);
      assert.deepEqual(encodeRecord(decoded), encoded, `seed ${SEED}`);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("hostile bytes are refused with a RecordError, and what decodes is canonical", () => {
  const valid = [
    encodeRecord({ kind: RecordKind.immutable, payload: utf8Encode("hello") }),
    encodeRecord(signMutable(alice, utf8Encode("profile"), 2 ** 40, utf8Encode("about"))),
  ];
  // Random bytes, and valid records with bytes flipped, cut short or extended.
  const mutated = fc.tuple(
    fc.constantFrom(...valid),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
    fc.nat({ max: 40 }),
    fc.uint8Array({ maxLength: 8 }),
  ).map(([bytes, flips, cut, tail]) => {
    const changed = bytes.slice(0, Math.max(0, bytes.length - cut));
    for (const [at, mask] of flips) {
      if (changed.length > 0) changed[at % changed.length] ^= mask;
    }
    return concatBytes(changed, tail);
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated), (bytes) => {
      const decoders: [() => unknown, (value: unknown) => Uint8Array][] = [
        [() => decodeCanonical(bytes, "input"), (v) => encodeCanonical(v as CanonicalValue)],
        [() => decodeStoredRecord(bytes), (v) => encodeRecord(v as DhtRecord)],
      ];
      for (const [decode, encode] of decoders) {
        let decoded: unknown;
        try {
          decoded = decode();
        } catch (error) {
          assert.ok(error instanceof RecordError, `${error}, seed ${SEED}`);
          assert.ok(!(error as Error).message.includes("\n"), `one line, seed ${SEED}`);
          continue;
        }
        assert.deepEqual(encode(decoded), bytes, `what decodes is the one encoding, seed ${SEED}`);
      }
    }),
    { seed: SEED, numRuns: 2000 },
  );
});
