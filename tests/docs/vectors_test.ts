/**
 * Every hex test vector in docs/protocol.md and docs/records.md, checked against the code: the
 * bytes decode to the fields the doc states, encode back to the same bytes, keys are the hashes
 * the docs define, and signatures verify over the signed bytes the doc gives. The docs' sections
 * must also be exactly what `deno task vectors` writes, so a format change that is not carried
 * into the docs fails here.
 */

import assert from "node:assert/strict";
import { unpack } from "msgpackr";
import { bytesEqual, concatBytes, fromHex, toHex, utf8Encode } from "../../src/core/bytes.ts";
import { formatContactUri, parseContactUri } from "../../src/core/contact_uri.ts";
import { ed25519Verify, sha256 } from "../../src/core/crypto.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { decodeDoc, decodeProfile, DOC_MAGIC } from "../../src/content/documents.ts";
import { checkContent, decodeEntry } from "../../src/content/key_schema.ts";
import {
  decodeRecord,
  type DhtRecord,
  encodeRecord,
  RecordError,
  RecordKind,
} from "../../src/content/records.ts";
import { dhtMessageBytesMax } from "../../src/core/limits.ts";
import { decodeMessage, encodeMessage, type Message } from "../../src/dht/messages.ts";
import {
  makeVectors,
  parseVectors,
  renderVector,
  type Vector,
  VECTOR_DOCS,
  VECTOR_NOW_MS,
} from "../../scripts/protocol_vectors.ts";

const root = new URL("../../", import.meta.url);
const documented = new Map<string, { doc: string; text: string; vector: Vector }>();
for (const doc of VECTOR_DOCS) {
  for (const found of parseVectors(await Deno.readTextFile(new URL(doc, root)))) {
    assert.ok(!documented.has(found.name), `vector ${found.name} appears twice in the docs`);
    documented.set(found.name, { doc, ...found });
  }
}

/** The one value of `name` (a vector's fields may repeat only where the test reads them all). */
function field(vector: Vector, name: string): string {
  const values = vector.fields.filter(([key]) => key === name).map(([, value]) => value);
  assert.equal(values.length, 1, `vector ${vector.name}: expected one "${name}"`);
  return values[0];
}

function fields(vector: Vector, name: string): string[] {
  return vector.fields.filter(([key]) => key === name).map(([, value]) => value);
}

const hex = (vector: Vector, name: string) => fromHex(field(vector, name));
const text = (vector: Vector, name: string) => JSON.parse(field(vector, name)) as string;
const integer = (vector: Vector, name: string) => Number(field(vector, name));
const key = (vector: Vector, name: string) => NodeId.fromHex(field(vector, name));

/** SHA-256 of the parts, cut to the 160 bits of a key. */
function keyOf(...parts: Uint8Array[]): string {
  return toHex(sha256(...parts).subarray(0, 20));
}

/** The signed bytes: the domain label, then a MessagePack array equal to `expected`. */
function assertSigned(vector: Vector, domain: string, signer: Uint8Array, expected: unknown[]) {
  const signed = hex(vector, "signed");
  const label = utf8Encode(domain);
  assert.ok(bytesEqual(signed.subarray(0, label.length), label), `${vector.name}: signed label`);
  const decoded = unpack(signed.subarray(label.length)) as unknown[];
  assert.deepEqual(decoded.map(comparable), expected.map(comparable), `${vector.name}: signed`);
  assert.ok(ed25519Verify(signer, signed, hex(vector, "signature")), `${vector.name}: signature`);
}

/** Numbers as decimal text, so an integer decoded as a BigInt or a float compares equal. */
function comparable(value: unknown): unknown {
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(comparable);
  return value;
}

/** Decodes the record under the stated key, then re-encodes it to the same bytes. */
function recordOf(vector: Vector, keyName = "key"): DhtRecord {
  const bytes = hex(vector, "bytes");
  const record = decodeRecord(key(vector, keyName), bytes);
  assert.equal(toHex(encodeRecord(record)), toHex(bytes), `${vector.name}: re-encoding`);
  const [version, kind] = unpack(bytes) as unknown[];
  if (fields(vector, "version").length > 0) {
    assert.equal(String(version), field(vector, "version"), `${vector.name}: version`);
  }
  assert.equal(String(kind), String(record.kind), `${vector.name}: kind`);
  checkContent(key(vector, keyName), record, VECTOR_NOW_MS);
  return record;
}

function checkDhtMessage(vector: Vector): void {
  const bytes = hex(vector, "bytes");
  assert.ok(bytes.length <= dhtMessageBytesMax);
  const message = decodeMessage(bytes);
  assert.ok(typeof message !== "string", `${vector.name}: ${message}`);
  assert.equal(message.type, integer(vector, "type"));
  assert.equal(message.tx, integer(vector, "tx"));
  assert.equal(message.sender.toHex(), field(vector, "sender"));
  assert.equal(message.flags, integer(vector, "flags"));
  const body = bodyOf(message);
  const stated = vector.fields.filter(([name]) =>
    !["type", "tx", "sender", "flags", "bytes"].includes(name)
  );
  assert.deepEqual(body, stated, `${vector.name}: body fields`);
  assert.equal(toHex(encodeMessage(message)), toHex(bytes), `${vector.name}: re-encoding`);
}

/** A decoded message's body as the doc writes it. */
function bodyOf(message: Message): [string, string][] {
  switch (message.type) {
    case 3:
      return [["target", message.target.toHex()]];
    case 4:
      return [
        ...message.contacts.map((
          c,
        ): [string, string] => ["contact", `${c.nodeId.toHex()} ${c.address}`]),
        ["token", toHex(message.token)],
      ];
    case 5:
      return [["key", message.key.toHex()]];
    case 6:
      return [["value", toHex(message.value)], ["token", toHex(message.token)]];
    case 7:
      return [
        ["key", message.key.toHex()],
        ["value", toHex(message.value)],
        ["token", toHex(message.token)],
        ["ttlS", String(message.ttlS)],
      ];
    case 8:
      return [["status", String(message.status)]];
    case 10:
      return [["size", String(message.size)], ["token", toHex(message.token)]];
    default:
      return [];
  }
}

function checkDoc(vector: Vector): void {
  const bytes = hex(vector, "bytes");
  assert.equal(keyOf(bytes), field(vector, "id"), "a document's ID is the hash of its record");
  const record = recordOf(vector, "id");
  assert.equal(record.kind, RecordKind.immutable);
  const payload = hex(vector, "payload");
  assert.equal(toHex(record.payload), toHex(payload));
  assert.ok(bytesEqual(payload.subarray(0, DOC_MAGIC.length), DOC_MAGIC));
  const doc = decodeDoc(payload);
  const author = hex(vector, "author");
  assert.equal(toHex(doc.author), toHex(author));
  assert.equal(doc.createdMs, integer(vector, "createdMs"));
  assert.equal(toHex(doc.signature), field(vector, "signature"));
  const head = [integer(vector, "type"), author, integer(vector, "createdMs")];
  if (doc.type === "thread") {
    assert.equal(doc.title, text(vector, "title"));
    assert.equal(doc.body, text(vector, "body"));
    const tags = fields(vector, "tag").map((tag) => JSON.parse(tag) as string);
    assert.deepEqual(doc.tags, tags);
    assertSigned(vector, "rhizome/doc/v1", author, [
      ...head,
      utf8Encode(doc.title),
      utf8Encode(doc.body),
      tags.map(utf8Encode),
    ]);
  } else {
    assert.equal(doc.thread.toHex(), field(vector, "thread"));
    assert.equal(doc.parent.toHex(), field(vector, "parent"));
    assert.equal(doc.body, text(vector, "body"));
    assertSigned(vector, "rhizome/doc/v1", author, [
      ...head,
      hex(vector, "thread"),
      hex(vector, "parent"),
      utf8Encode(doc.body),
    ]);
  }
}

const checks: Record<string, (vector: Vector) => void> = {
  "contact-uri": (vector) => {
    const uri = text(vector, "uri");
    const contact = parseContactUri(uri);
    assert.equal(toHex(contact.publicKey), field(vector, "public-key"));
    assert.equal(contact.nodeId.toHex(), field(vector, "node-id"));
    assert.equal(
      keyOf(utf8Encode("rhizome/node-id/v1"), contact.publicKey),
      field(vector, "node-id"),
    );
    assert.equal(contact.host, text(vector, "host"));
    assert.equal(contact.port, integer(vector, "port"));
    assert.equal(formatContactUri(contact), uri);
    // The key's base32 may be written in upper case; padding is refused.
    assert.equal(parseContactUri(uri.toUpperCase().replace("RHZ", "rhz")).port, contact.port);
    assert.throws(() => parseContactUri(uri.replace("@", "====@")), /not base32|52 base32/);
  },
  "contact-uri-ipv6": (vector) => {
    const uri = text(vector, "uri");
    const contact = parseContactUri(uri);
    assert.equal(toHex(contact.publicKey), field(vector, "public-key"));
    assert.equal(contact.nodeId.toHex(), field(vector, "node-id"));
    assert.equal(contact.host, text(vector, "host"));
    assert.equal(contact.port, integer(vector, "port"));
    assert.equal(formatContactUri(contact), uri);
    assert.equal(formatContactUri(parseContactUri(text(vector, "input"))), uri);
  },
  "contact-uri-refused": (vector) => {
    const texts = fields(vector, "text").map((value) => JSON.parse(value) as string);
    const reasons = fields(vector, "reason").map((value) => JSON.parse(value) as string);
    assert.equal(texts.length, reasons.length);
    assert.ok(texts.length > 0);
    texts.forEach((uri, index) => {
      assert.throws(() => parseContactUri(uri), {
        message: `Cannot parse contact URI ${JSON.stringify(uri)}: ${reasons[index]}`,
      });
    });
  },
  "record-immutable": (vector) => {
    const bytes = hex(vector, "bytes");
    assert.equal(keyOf(bytes), field(vector, "key"));
    const record = recordOf(vector);
    assert.equal(record.kind, RecordKind.immutable);
    assert.equal(toHex(record.payload), field(vector, "payload"));
  },
  "record-mutable": (vector) => {
    const record = recordOf(vector);
    assert.equal(record.kind, RecordKind.mutable);
    const owner = hex(vector, "owner");
    const name = hex(vector, "name");
    assert.equal(toHex(record.owner), toHex(owner));
    assert.equal(toHex(record.name), toHex(name));
    assert.equal(String(record.seq), field(vector, "seq"));
    assert.equal(toHex(record.payload), field(vector, "payload"));
    assert.equal(toHex(record.signature), field(vector, "signature"));
    assert.equal(keyOf(utf8Encode("rhizome/mutable/v1"), owner, name), field(vector, "key"));
    assertSigned(vector, "rhizome/mutable/v1", owner, [
      owner,
      name,
      integer(vector, "seq"),
      hex(vector, "payload"),
    ]);
    decodeProfile(record.payload);
  },
  "record-set": (vector) => {
    const record = recordOf(vector);
    assert.equal(record.kind, RecordKind.set);
    const name = hex(vector, "name");
    const entriesMax = integer(vector, "entriesMax");
    const onePerWriter = field(vector, "onePerWriter") === "true";
    assert.equal(toHex(record.name), toHex(name));
    assert.deepEqual(record.policy, { onePerWriter, entriesMax });
    const policy = Uint8Array.of(onePerWriter ? 1 : 0, entriesMax >> 8, entriesMax & 0xff);
    assert.equal(keyOf(utf8Encode("rhizome/set/v1"), policy, name), field(vector, "key"));
    assert.equal(record.entries.length, 1);
    const [entry] = record.entries;
    const writer = hex(vector, "writer");
    assert.equal(toHex(entry.writer), toHex(writer));
    assert.equal(String(entry.seq), field(vector, "seq"));
    assert.equal(entry.expiresAtS, integer(vector, "expiresAtS"));
    assert.equal(toHex(entry.payload), field(vector, "payload"));
    assert.equal(toHex(entry.signature), field(vector, "signature"));
    assertSigned(vector, "rhizome/set-entry/v1", writer, [
      hex(vector, "key"),
      writer,
      integer(vector, "seq"),
      integer(vector, "expiresAtS"),
      hex(vector, "payload"),
    ]);
    assert.deepEqual(decodeEntry("votes", entry.payload), { direction: 1 });
  },
  "doc-thread": checkDoc,
  "doc-message": checkDoc,
};

Deno.test("the docs hold every vector the script makes, each once, as it writes them", () => {
  for (const vector of makeVectors()) {
    const found = documented.get(vector.name);
    assert.ok(found, `no <!-- vectors:begin ${vector.name} --> section in the docs`);
    assert.equal(
      found.text,
      renderVector(vector),
      `${found.doc}: vector ${vector.name} is stale: run deno task vectors`,
    );
  }
  const made = new Set(makeVectors().map((vector) => vector.name));
  for (const name of documented.keys()) assert.ok(made.has(name), `unknown vector ${name}`);
});

for (const [name, { doc, vector }] of documented) {
  Deno.test(`${doc}: vector ${name} decodes to its stated fields and re-encodes`, () => {
    if (name.startsWith("dht-")) return checkDhtMessage(vector);
    const check = checks[name];
    assert.ok(check, `no check for vector ${name}`);
    check(vector);
  });
}

Deno.test("a vector with one bit changed is refused", () => {
  for (const name of ["record-mutable", "record-set", "doc-thread"]) {
    const { vector } = documented.get(name)!;
    const bytes = hex(vector, "bytes");
    const keyName = name === "doc-thread" ? "id" : "key";
    // The last byte lies in the (last) signature.
    const flipped = concatBytes(bytes.subarray(0, -1), Uint8Array.of(bytes.at(-1)! ^ 1));
    assert.throws(() => decodeRecord(key(vector, keyName), flipped), RecordError);
  }
  const store = hex(documented.get("dht-store")!.vector, "bytes");
  assert.equal(decodeMessage(store.subarray(0, -1)), "malformed");
});
