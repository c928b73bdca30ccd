/**
 * scripts/dns_list.ts prints zone-file records that read back as a list signed by the key, a
 * long contact split into two quoted strings.
 */

import assert from "node:assert/strict";
import { generateEd25519KeyPair } from "../../src/core/crypto.ts";
import { toBase32 } from "../../src/core/bytes.ts";
import { parseDnsListRoot, verifyDnsList } from "../../src/node/discovery/dns_list.ts";
import { zoneLines } from "../../scripts/dns_list.ts";

Deno.test("zoneLines() gives a root and one record per entry that verify with the key", () => {
  const key = generateEd25519KeyPair();
  const long = `rhz://${toBase32(key.publicKey)}@${"a".repeat(63)}.${"b".repeat(63)}.${
    "c".repeat(63)
  }.example:7447`;
  const short = `rhz://${toBase32(key.publicKey)}@192.0.2.1:7447`;
  const lines = zoneLines("_seeds.example.org", 9, [short, long], key);
  assert.equal(lines.length, 3);
  assert.match(
    lines[0],
    /^_seeds\.example\.org\. 3600 IN TXT "v=rhz1 seq=9 n=2 sig=[a-z2-7]{103}"$/,
  );
  assert.match(lines[1], /^0\._seeds\.example\.org\. 3600 IN TXT "rhz:\/\/[^"]+"$/);
  const strings = [...lines[2].matchAll(/"([^"]*)"/g)].map((m) => m[1]);
  assert.equal(strings.length, 2, "a 278-character URI takes two strings");
  assert.equal(strings.join(""), long);
  const root = parseDnsListRoot([[/"(.*)"/.exec(lines[0])![1]]]);
  assert.ok(typeof root !== "string");
  const list = verifyDnsList("_seeds.example.org.", root, [short, long], key.publicKey);
  assert.ok(typeof list !== "string", String(list));
  assert.equal(list.contacts.length, 2);
});
