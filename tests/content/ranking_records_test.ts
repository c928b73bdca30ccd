// Goal: a seed's ranking travels as a mutable record named "ranking" that every holder checks:
// one signed by its owner passes the content rules; one whose ranking another key signed, one
// dated ahead, or a malformed payload is refused in one line; other mutable names stay refused.
// Method: seeded key pairs, records built with signMutable, checkContent on each.

import assert from "node:assert/strict";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { checkContent } from "../../src/content/key_schema.ts";
import { encodeRanking, RANKING_NAME, signRanking } from "../../src/content/ranking_records.ts";
import { RecordError, recordKey, signMutable } from "../../src/content/records.ts";

const nowMs = 1_700_000_000_000;
const seed = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(4));
const other = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(5));
const items = [1, 2, 3].map((n) => ({
  key: NodeId.fromBytes(new Uint8Array(20).fill(n)),
  score: 10 - n,
}));

function check(record: ReturnType<typeof signMutable>) {
  return () => checkContent(recordKey(record), record, nowMs);
}

Deno.test("checkContent() accepts a seed's ranking record signed by its owner", () => {
  const payload = encodeRanking(signRanking(seed, items, nowMs));
  check(signMutable(seed, RANKING_NAME, nowMs, payload))();
});

Deno.test("checkContent() refuses a ranking signed by another key, dated ahead, or malformed", () => {
  const foreign = encodeRanking(signRanking(other, items, nowMs));
  assert.throws(check(signMutable(seed, RANKING_NAME, nowMs, foreign)), /another key/);
  const ahead = encodeRanking(signRanking(seed, items, nowMs + 3600_000));
  assert.throws(check(signMutable(seed, RANKING_NAME, nowMs, ahead)), /ahead/);
  assert.throws(check(signMutable(seed, RANKING_NAME, nowMs, new Uint8Array(10))), RecordError);
  const named = signMutable(seed, new TextEncoder().encode("other"), nowMs, new Uint8Array(1));
  assert.throws(check(named), /"profile", a "ranking" or a "report"/);
});
