// Goal: a seed's ranking and a holder's report travel as mutable records ("ranking", "report")
// that every holder checks:
// one signed by its owner passes the content rules; one whose ranking another key signed, one
// dated ahead, or a malformed payload is refused in one line; other mutable names stay refused.
// Method: seeded key pairs, records built with signMutable, checkContent on each.

import assert from "node:assert/strict";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { checkContent } from "../../src/content/key_schema.ts";
import { encodeRanking, RANKING_NAME, signRanking } from "../../src/content/ranking_records.ts";
import { decodeReport, encodeReport, REPORT_NAME } from "../../src/content/popularity_reports.ts";
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

Deno.test("decodeReport() reads back a report and refuses bad bytes in one line; checkContent() takes it as a 'report' record", () => {
  const metrics = {
    key: "ab".repeat(20),
    requests_per_h: 10,
    request_rate: 5,
    retention_rate: 100,
    audience_size: 40,
    geo_prefixes: 30,
    replies: 3,
    votes: 2,
    view_time_s: 60,
    replication_count: 20,
    seed_coverage: 1,
    created_ms: nowMs - 1000,
    last_activity_ms: null,
    tracked_since_ms: nowMs - 5000,
  };
  const item = { metrics, audience: new Uint8Array(256).fill(3), geo: new Uint8Array(64).fill(2) };
  const payload = encodeReport({ atMs: nowMs, items: [item] });
  const back = decodeReport(payload);
  assert.ok(typeof back !== "string");
  assert.deepEqual(back.items[0].metrics, metrics);
  assert.deepEqual(back.items[0].audience, item.audience);
  check(signMutable(seed, REPORT_NAME, nowMs, payload))();
  for (
    const bad of [payload.subarray(0, 20), new Uint8Array(payload.length), payload.subarray(1)]
  ) {
    const refused = decodeReport(bad);
    assert.equal(typeof refused, "string");
    assert.ok(!(refused as string).includes("\n"));
  }
  const nan = new Uint8Array(payload);
  new DataView(nan.buffer).setFloat32(18 + 20, NaN);
  assert.match(decodeReport(nan) as string, /not a number/);
  assert.throws(check(signMutable(seed, REPORT_NAME, nowMs, nan)), RecordError);
  assert.throws(
    () => encodeReport({ atMs: nowMs, items: [{ ...item, geo: new Uint8Array(3) }] }),
    RangeError,
  );
});
