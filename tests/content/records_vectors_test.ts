/**
 * The hex test vectors of docs/records.md (record format 2) are what this code encodes, key and
 * bytes, and each decodes and verifies: a second implementation can check its encoder against
 * them, and the docs cannot drift from the code.
 */

import assert from "node:assert/strict";
import { toHex, utf8Encode } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { docRecord, signMessage, signProfile, signThread } from "../../src/content/documents.ts";
import { checkContent, signedEntrySet, votesIndex } from "../../src/content/key_schema.ts";
import {
  decodeRecord,
  type DhtRecord,
  encodeRecord,
  recordKey,
  RecordKind,
} from "../../src/content/records.ts";

/** The author of every vector: the Ed25519 key whose 32-byte seed is all 0x01. */
const author = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
/** 2027-01-15T08:00:00Z in ms: above 2^32, so every time is a uint 64. */
const createdMs = 1_800_000_000_000;

const thread = docRecord(
  signThread(author, { createdMs, title: "Soil", body: "Loam or clay?", tags: ["soil"] }),
);
const threadId = recordKey(thread);

/** The records the docs give vectors of, by name. */
const vectorRecords: Record<string, DhtRecord> = {
  immutable: { kind: RecordKind.immutable, payload: utf8Encode("hello") },
  profile: signProfile(author, createdMs, {
    name: "Alice",
    about: "gardener",
    keys: [],
    updatedMs: createdMs,
  }),
  "set-entry": signedEntrySet(author, votesIndex(threadId), createdMs, 1_800_003_600, {
    direction: 1,
  }),
  thread,
  message: docRecord(
    signMessage(author, { createdMs, thread: threadId, parent: threadId, body: "Loam." }),
  ),
};

const vectorPattern = /\*\*Vector `([a-z-]+)`\*\*, key `([0-9a-f]{40})`:\n\n```\n([0-9a-f\n]+)```/g;

Deno.test("every record vector in docs/records.md matches the code, and every kind has one", async () => {
  const text = await Deno.readTextFile(new URL("../../docs/records.md", import.meta.url));
  const found = new Map<string, { key: string; hex: string }>();
  for (const [, name, key, hex] of text.matchAll(vectorPattern)) {
    found.set(name, { key, hex: hex.replaceAll("\n", "") });
  }
  assert.deepEqual([...found.keys()].sort(), Object.keys(vectorRecords).sort());
  for (const [name, record] of Object.entries(vectorRecords)) {
    const bytes = encodeRecord(record);
    const key = recordKey(record);
    assert.equal(found.get(name)?.key, key.toHex(), `${name}: key`);
    assert.equal(found.get(name)?.hex, toHex(bytes), `${name}: bytes`);
    const decoded = decodeRecord(key, bytes);
    checkContent(key, decoded, createdMs);
  }
});

if (import.meta.main) {
  // Prints the docs' vector section (run by hand after a format change).
  for (const [name, record] of Object.entries(vectorRecords)) {
    const hex = toHex(encodeRecord(record)).match(/.{1,96}/g)!.join("\n");
    console.log(
      `**Vector \`${name}\`**, key \`${recordKey(record).toHex()}\`:\n\n\`\`\`\n${hex}\n\`\`\`\n`,
    );
  }
}
