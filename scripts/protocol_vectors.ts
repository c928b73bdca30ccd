/**
 * The hex test vectors of docs/protocol.md and docs/records.md: one per DHT message type, the
 * contact URI, and one record of each kind (a raw immutable record, a profile as the signed
 * mutable record, a one-entry `votes` set as the signed set entry, a thread and a message). Keys
 * come from fixed seeds and times from a fixed clock, so the output depends only on the code.
 *
 * Usage: `deno task vectors` rewrites, in place, the text between `<!-- vectors:begin NAME -->`
 * and `<!-- vectors:end NAME -->` in the docs; `--check` only reports (exit 1) the sections that
 * differ; with no flag the blocks are printed. Run it after any change to a wire or record format.
 * tests/docs/vectors_test.ts checks every vector in the docs against the code.
 *
 * @module
 */

import { bytesEqual, concatBytes, toHex, utf8Encode } from "../src/core/bytes.ts";
import { formatContactUri, makeContact, parseContactUri } from "../src/core/contact_uri.ts";
import { ed25519KeyPairFromSecretKey, ed25519Verify } from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";
import { PeerAddress } from "../src/net/address.ts";
import {
  DOC_MAGIC,
  docId,
  docRecord,
  type MessageDoc,
  signMessage,
  signProfile,
  signThread,
  type ThreadDoc,
} from "../src/content/documents.ts";
import { entryLifetimeS, signedEntrySet, votesIndex } from "../src/content/key_schema.ts";
import {
  type DhtRecord,
  encodeRecord,
  type ImmutableRecord,
  recordKey,
  RecordKind,
  type SetRecord,
} from "../src/content/records.ts";
import {
  encodeMessage,
  FLAG_CLIENT,
  type Message,
  MessageType,
  StoreStatus,
} from "../src/dht/messages.ts";

/** The docs holding vectors, relative to the repository root. */
export const VECTOR_DOCS: readonly string[] = ["docs/protocol.md", "docs/records.md"];

/** The clock every vector is made and checked at: ms since the epoch. */
export const VECTOR_NOW_MS = 1_700_000_000_123;

/** One vector: a title, then named values in order (a name may repeat, as `contact` does). */
export interface Vector {
  /** Its marker name in the docs. */
  name: string;
  /** The first line of its block. */
  title: string;
  /** Names and their text: decimal integers, hex bytes, `"JSON strings"`, `true`/`false`. */
  fields: [string, string][];
}

/** Hex digits per line of a wrapped value, so a block stays within the docs' 100 columns. */
const hexPerLine = 80;
/** Column where values start. */
const valueColumn = 16;

const seed = (byte: number) => ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(byte));
/** The secure channel vectors' initiator (seed 32 × 01) sends every DHT message. */
const sender = seed(0x01);
/** Their responder (seed 32 × 02), named in NODES. */
const responder = seed(0x02);
/** The author of the documents and profile (seed 32 × 03). */
const author = seed(0x03);
/** The voter (seed 32 × 04). */
const voter = seed(0x04);

const senderId = NodeId.fromPublicKey(sender.publicKey);
const token = Uint8Array.from([0x5a, 0x17, 0x0e, 0x42, 0x99, 0x03, 0xc4, 0x7d]);
const tx = 0x01020304;

/**
 * Every vector, freshly computed.
 *
 * @returns The vectors, in the order the docs show them.
 * @throws {Error} When a signature does not verify over the signed bytes the script finds (a
 *   record layout or signing label changed: update this script to it).
 */
export function makeVectors(): Vector[] {
  const raw: ImmutableRecord = { kind: RecordKind.immutable, payload: utf8Encode("hello") };
  const rawBytes = encodeRecord(raw);
  const rawKey = recordKey(raw);
  const thread = signThread(author, {
    createdMs: VECTOR_NOW_MS,
    title: "Hello",
    body: "First post",
    tags: ["intro"],
  });
  const threadId = docId(thread);
  const message = signMessage(author, {
    createdMs: VECTOR_NOW_MS,
    thread: threadId,
    parent: threadId,
    body: "A reply",
  });
  const profile = signProfile(author, VECTOR_NOW_MS, {
    name: "Alice",
    about: "Gardener",
    keys: [],
    updatedMs: VECTOR_NOW_MS,
  });
  const votes = votesIndex(threadId);
  const expiresAtS = Math.floor(VECTOR_NOW_MS / 1000) + entryLifetimeS;
  const vote = signedEntrySet(voter, votes, VECTOR_NOW_MS, expiresAtS, { direction: 1 });
  const contacts = [
    {
      nodeId: NodeId.fromPublicKey(responder.publicKey),
      address: PeerAddress.parse("192.0.2.1:7447")!,
    },
    {
      nodeId: NodeId.fromPublicKey(author.publicKey),
      address: PeerAddress.parse("[2001:db8::1]:7448")!,
    },
  ];
  return [
    dhtVector("dht-ping", "PING", { type: MessageType.ping }),
    dhtVector("dht-pong", "PONG", { type: MessageType.pong }),
    dhtVector("dht-find-node", "FIND_NODE", { type: MessageType.findNode, target: rawKey }),
    dhtVector("dht-nodes", "NODES", { type: MessageType.nodes, contacts, token }),
    dhtVector("dht-find-value", "FIND_VALUE, from a DHT client (flags 1)", {
      type: MessageType.findValue,
      key: rawKey,
    }, FLAG_CLIENT),
    dhtVector("dht-value", "VALUE", { type: MessageType.value, value: rawBytes, token }),
    dhtVector("dht-store", "STORE", {
      type: MessageType.store,
      key: rawKey,
      value: rawBytes,
      token,
      ttlS: 86_400,
    }),
    dhtVector("dht-stored", "STORED", { type: MessageType.stored, status: StoreStatus.full }),
    dhtVector("dht-leave", "LEAVE (tx 0: it gets no reply)", { type: MessageType.leave }, 0, 0),
    dhtVector("dht-value-ref", "VALUE_REF", { type: MessageType.valueRef, size: 40_000, token }),
    {
      name: "contact-uri",
      title: "Contact URI of the initiator's key (seed 32 × 01) at 192.0.2.1:7447",
      fields: [
        ["public-key", toHex(sender.publicKey)],
        ["node-id", senderId.toHex()],
        ["host", JSON.stringify("192.0.2.1")],
        ["port", "7447"],
        ["uri", JSON.stringify(formatContactUri(makeContact(sender.publicKey, "192.0.2.1", 7447)))],
      ],
    },
    {
      name: "contact-uri-ipv6",
      title: "The same key at [2001:db8::1]:7447; `input`, in upper case, reads as `uri`",
      fields: [
        ["public-key", toHex(sender.publicKey)],
        ["node-id", senderId.toHex()],
        ["host", JSON.stringify(ipv6Host)],
        ["port", "7447"],
        ["uri", JSON.stringify(ipv6Uri)],
        ["input", JSON.stringify(ipv6Uri.toUpperCase())],
      ],
    },
    {
      name: "contact-uri-refused",
      title: 'Refused texts, each with its reason (after "Cannot parse contact URI "<text>": ")',
      fields: refusedContactUris().flatMap((text): [string, string][] => [
        ["text", JSON.stringify(text)],
        ["reason", JSON.stringify(contactUriRefusal(text))],
      ]),
    },
    {
      name: "record-immutable",
      title: 'Immutable record (kind 0), raw payload "hello"',
      fields: [
        ["version", String(rawBytes[1])],
        ["kind", "0"],
        ["payload", toHex(raw.payload)],
        ["key", rawKey.toHex()],
        ["bytes", toHex(rawBytes)],
      ],
    },
    mutableVector(profile),
    setVector(vote, votes.key),
    docVector("doc-thread", "Thread document (type 1), author seed 32 × 03", thread),
    docVector("doc-message", "Message document (type 2), a top-level post in that thread", message),
  ];
}

const ipv6Host = "2001:db8::1";
const ipv6Uri = formatContactUri(makeContact(sender.publicKey, ipv6Host, 7447));

/** Texts a contact URI parser must refuse: one per rule of the grammar in docs/protocol.md. */
function refusedContactUris(): string[] {
  const key = formatContactUri(makeContact(sender.publicKey, "192.0.2.1", 7447)).slice(6, 58);
  const at = (host: string, port = "7447", keyText = key) => `rhz://${keyText}@${host}:${port}`;
  return [
    at("192.0.2.1", "7447", `${key}====`), // padding
    at("192.0.2.1", "7447", `${key.slice(0, -1)}b`), // non-zero unused bits in the last character
    at("192.0.2.1", "7447", key.slice(1)), // 51 characters
    `http://${key}@192.0.2.1:7447`,
    at("192.0.2.1", "0"),
    at("192.0.2.1", "07447"),
    at("192.0.2.1", "65536"),
    at("192.0.2.01"), // a leading zero in a dotted quad
    at("2001:db8::1"), // IPv6 without brackets
    at("[fe80::1%eth0]"), // a zone index
    at("-bad-.example"),
  ];
}

/** The reason `parseContactUri` gives for refusing `text`, without its "Cannot parse …" prefix. */
function contactUriRefusal(text: string): string {
  try {
    parseContactUri(text);
  } catch (error) {
    const prefix = `Cannot parse contact URI ${JSON.stringify(text)}: `;
    const message = (error as Error).message;
    if (!message.startsWith(prefix)) throw new Error(`unexpected refusal of ${text}: ${message}`);
    return message.slice(prefix.length);
  }
  throw new Error(`contact URI ${text} was accepted; the vectors list it as refused`);
}

type MessageBody = DistributiveOmit<Message, "tx" | "sender" | "flags">;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function dhtVector(
  name: string,
  title: string,
  body: MessageBody,
  flags = 0,
  txOf = tx,
): Vector {
  const message = { ...body, tx: txOf, sender: senderId, flags } as Message;
  const fields: [string, string][] = [
    ["type", String(message.type)],
    ["tx", String(message.tx)],
    ["sender", senderId.toHex()],
    ["flags", String(flags)],
  ];
  switch (message.type) {
    case MessageType.findNode:
      fields.push(["target", message.target.toHex()]);
      break;
    case MessageType.findValue:
      fields.push(["key", message.key.toHex()]);
      break;
    case MessageType.nodes:
      for (const contact of message.contacts) {
        fields.push(["contact", `${contact.nodeId.toHex()} ${contact.address}`]);
      }
      fields.push(["token", toHex(message.token)]);
      break;
    case MessageType.value:
      fields.push(["value", toHex(message.value)], ["token", toHex(message.token)]);
      break;
    case MessageType.store:
      fields.push(
        ["key", message.key.toHex()],
        ["value", toHex(message.value)],
        ["token", toHex(message.token)],
        ["ttlS", String(message.ttlS)],
      );
      break;
    case MessageType.stored:
      fields.push(["status", String(message.status)]);
      break;
    case MessageType.valueRef:
      fields.push(["size", String(message.size)], ["token", toHex(message.token)]);
      break;
  }
  fields.push(["bytes", toHex(encodeMessage(message))]);
  return { name, title, fields };
}

function mutableVector(record: DhtRecord): Vector {
  if (record.kind !== RecordKind.mutable) throw new Error("a profile is a mutable record");
  const bytes = encodeRecord(record);
  // [version, kind, owner, name, seq, payload, signature]: owner to payload follow the array
  // header and the two one-byte fixints, and the signature (c4 40 + 64 bytes) ends the record.
  const signed = signedFrom("rhizome/mutable/v1", [0x94], bytes.subarray(3, -signatureField));
  assertVerifies(signed, record.owner, record.signature);
  return {
    name: "record-mutable",
    title: "Mutable record (kind 1): a profile, owner seed 32 × 03",
    fields: [
      ["version", String(bytes[1])],
      ["kind", "1"],
      ["owner", toHex(record.owner)],
      ["name", toHex(record.name)],
      ["seq", String(record.seq)],
      ["payload", toHex(record.payload)],
      ["signed", toHex(signed)],
      ["signature", toHex(record.signature)],
      ["key", recordKey(record).toHex()],
      ["bytes", toHex(bytes)],
    ],
  };
}

function setVector(record: SetRecord, key: NodeId): Vector {
  const [entry] = record.entries;
  const bytes = encodeRecord(record);
  // The only entry is the record's last element: an array of one (91) holding [writer, seq,
  // expiresAtS, payload, signature] (95); the entry's signed array puts the key before writer.
  const start = indexOf(bytes, concatBytes(Uint8Array.of(0x91, 0x95, 0xc4, 0x20), entry.writer));
  const signed = signedFrom(
    "rhizome/set-entry/v1",
    concatBytes(Uint8Array.of(0x95, 0xc4, 0x14), key.toBytes()),
    bytes.subarray(start + 2, -signatureField),
  );
  assertVerifies(signed, entry.writer, entry.signature);
  return {
    name: "record-set",
    title: "Set (kind 2) with one signed entry: an up-vote on the thread below, voter seed 32 × 04",
    fields: [
      ["version", String(bytes[1])],
      ["kind", "2"],
      ["name", toHex(record.name)],
      ["onePerWriter", String(record.policy.onePerWriter)],
      ["entriesMax", String(record.policy.entriesMax)],
      ["writer", toHex(entry.writer)],
      ["seq", String(entry.seq)],
      ["expiresAtS", String(entry.expiresAtS)],
      ["payload", toHex(entry.payload)],
      ["signed", toHex(signed)],
      ["signature", toHex(entry.signature)],
      ["key", recordKey(record).toHex()],
      ["bytes", toHex(bytes)],
    ],
  };
}

function docVector(name: string, title: string, doc: ThreadDoc | MessageDoc): Vector {
  const record = docRecord(doc);
  // "RHZDOC1\n", then [type, author, createdMs, …, signature] (97): the signed array is the same
  // without its signature (96).
  const fieldsStart = DOC_MAGIC.length + 1;
  const signed = signedFrom(
    "rhizome/doc/v1",
    [0x96],
    record.payload.subarray(fieldsStart, -signatureField),
  );
  assertVerifies(signed, doc.author, doc.signature);
  const fields: [string, string][] = [
    ["type", doc.type === "thread" ? "1" : "2"],
    ["author", toHex(doc.author)],
    ["createdMs", String(doc.createdMs)],
  ];
  if (doc.type === "thread") {
    fields.push(["title", JSON.stringify(doc.title)], ["body", JSON.stringify(doc.body)]);
    for (const tag of doc.tags) fields.push(["tag", JSON.stringify(tag)]);
  } else {
    fields.push(
      ["thread", doc.thread.toHex()],
      ["parent", doc.parent.toHex()],
      ["body", JSON.stringify(doc.body)],
    );
  }
  fields.push(
    ["signed", toHex(signed)],
    ["signature", toHex(doc.signature)],
    ["payload", toHex(record.payload)],
    ["bytes", toHex(encodeRecord(record))],
    ["id", docId(doc).toHex()],
  );
  return { name, title, fields };
}

/** A 64-byte signature as the last element of an array: bin 8 header `c4 40`, then the bytes. */
const signatureField = 2 + 64;

/**
 * The bytes a signature covers: its domain label, then the MessagePack array of the signed fields.
 * MessagePack writes an array as its header and then each element's own encoding, so the fields'
 * bytes are taken from the record's encoding as they are: the vectors follow whatever integer
 * forms the record encoder writes, with no second encoder here to drift from it.
 */
function signedFrom(domain: string, head: ArrayLike<number>, elements: Uint8Array): Uint8Array {
  return concatBytes(utf8Encode(domain), Uint8Array.from(head), elements);
}

function assertVerifies(signed: Uint8Array, signer: Uint8Array, signature: Uint8Array): void {
  if (!ed25519Verify(signer, signed, signature)) {
    throw new Error(
      "a signature does not verify over the signed bytes this script finds in the record: the " +
        "layout or a signing label changed; update scripts/protocol_vectors.ts to it",
    );
  }
}

function indexOf(bytes: Uint8Array, part: Uint8Array): number {
  for (let i = 0; i + part.length <= bytes.length; i++) {
    if (bytesEqual(bytes.subarray(i, i + part.length), part)) return i;
  }
  throw new Error("the set entry is not where the record layout puts it");
}

/**
 * A vector as the markdown between its markers: a fenced block, one value a line, hex wrapped.
 *
 * @param vector The vector.
 * @returns The text, starting and ending with a blank line.
 */
export function renderVector(vector: Vector): string {
  const lines = [vector.title];
  for (const [name, value] of vector.fields) {
    const chunks = /^[0-9a-f]+$/.test(value) && value.length > hexPerLine
      ? value.match(new RegExp(`.{1,${hexPerLine}}`, "g"))!
      : [value];
    lines.push(`  ${name.padEnd(valueColumn - 2)}${chunks[0]}`);
    for (const chunk of chunks.slice(1)) lines.push(`${" ".repeat(valueColumn)}${chunk}`);
  }
  // Blank lines around the fence, as deno fmt writes them.
  return `\n\n\`\`\`\n${lines.join("\n")}\n\`\`\`\n\n`;
}

const markerPattern = /<!-- vectors:begin ([a-z0-9-]+) -->([\s\S]*?)<!-- vectors:end \1 -->/g;

/**
 * The vectors written in a doc, parsed back from their blocks.
 *
 * @param markdown The doc's text.
 * @returns Each marked section's name, its raw text and its vector.
 * @throws {Error} When a section's block is not in the form {@link renderVector} writes.
 */
export function parseVectors(markdown: string): { name: string; text: string; vector: Vector }[] {
  const found = [];
  for (const match of markdown.matchAll(markerPattern)) {
    const [, name, text] = match;
    const block = /^\s*```\n([\s\S]*?)\n```\s*$/.exec(text);
    if (!block) throw new Error(`vector ${name}: expected one fenced block between its markers`);
    const [title, ...lines] = block[1].split("\n");
    const fields: [string, string][] = [];
    for (const line of lines) {
      const field = /^ {2}(\S+) +(.*)$/.exec(line);
      if (field) {
        fields.push([field[1], field[2]]);
      } else if (/^ {3,}[0-9a-f]+$/.test(line) && fields.length > 0) {
        fields[fields.length - 1][1] += line.trim();
      } else {
        throw new Error(`vector ${name}: cannot read the line "${line}"`);
      }
    }
    found.push({ name, text, vector: { name, title, fields } });
  }
  return found;
}

/**
 * A doc with each marked section replaced by the freshly computed vector of that name.
 *
 * @param markdown The doc's text.
 * @param vectors The vectors by name.
 * @returns The new text and the names of the sections that changed.
 * @throws {Error} When a marker names no vector.
 */
export function rewriteDoc(
  markdown: string,
  vectors: ReadonlyMap<string, Vector>,
): { text: string; changed: string[] } {
  const changed: string[] = [];
  const text = markdown.replace(markerPattern, (whole, name: string, old: string) => {
    const vector = vectors.get(name);
    if (!vector) throw new Error(`the docs mark a vector "${name}" that the script does not make`);
    const fresh = renderVector(vector);
    if (fresh !== old) changed.push(name);
    return whole.replace(old, () => fresh);
  });
  return { text, changed };
}

if (import.meta.main) {
  const mode = Deno.args[0];
  if (mode !== undefined && mode !== "--write" && mode !== "--check") {
    console.error(`usage: protocol_vectors.ts [--write | --check], got "${mode}"`);
    Deno.exit(2);
  }
  const vectors = makeVectors();
  if (mode === undefined) {
    for (const vector of vectors) {
      console.log(
        `<!-- vectors:begin ${vector.name} -->${renderVector(vector)}` +
          `<!-- vectors:end ${vector.name} -->\n`,
      );
    }
    Deno.exit(0);
  }
  const byName = new Map(vectors.map((vector) => [vector.name, vector]));
  const placed = new Set<string>();
  let stale = 0;
  for (const doc of VECTOR_DOCS) {
    const path = new URL(`../${doc}`, import.meta.url);
    const markdown = await Deno.readTextFile(path);
    for (const match of markdown.matchAll(markerPattern)) placed.add(match[1]);
    const { text, changed } = rewriteDoc(markdown, byName);
    stale += changed.length;
    if (changed.length === 0) continue;
    if (mode === "--write") await Deno.writeTextFile(path, text);
    console.error(`${doc}: ${mode === "--write" ? "rewrote" : "stale"} ${changed.join(", ")}`);
  }
  const unplaced = vectors.filter((vector) => !placed.has(vector.name)).map((v) => v.name);
  if (unplaced.length > 0) {
    console.error(`no markers in the docs for: ${unplaced.join(", ")}`);
    Deno.exit(1);
  }
  Deno.exit(mode === "--check" && stale > 0 ? 1 : 0);
}
