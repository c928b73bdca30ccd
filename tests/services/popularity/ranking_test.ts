// Goal: a seed's ranking record is signed and checked (a changed byte is refused in one line);
// readers' median over several seeds keeps every item within a few ranks of the honest seeds'
// order when one seed lies, and a lone seed cannot insert an item; a lying holder's report adds
// at most reportOutlierFactor times the median; the local ranking leaves future items out.
// Method: seeded key pairs and hand-built rankings and reports.

import assert from "node:assert/strict";
import { ed25519KeyPairFromSecretKey } from "../../../src/core/crypto.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import {
  combineRankings,
  decodeRanking,
  encodeRanking,
  type HolderReport,
  HyperLogLog,
  keyedHash32,
  type KeyMetrics,
  mergeReports,
  prefixRegisters,
  type RankedItem,
  rankLocally,
  requesterRegisters,
  signRanking,
} from "../../../src/services/popularity/mod.ts";
import { popularitySettings } from "./_settings.ts";

function key(n: number): NodeId {
  const bytes = new Uint8Array(20);
  new DataView(bytes.buffer).setUint32(16, n);
  return NodeId.fromBytes(bytes);
}

function seed(n: number) {
  return ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(n));
}

function ranking(order: number[]): RankedItem[] {
  return order.map((n, i) => ({ key: key(n), score: 1000 - i }));
}

Deno.test("decodeRanking() reads back a signed record and refuses a changed byte in one line", () => {
  const record = signRanking(seed(1), ranking([1, 2, 3]), 5000);
  const bytes = encodeRanking(record);
  const back = decodeRanking(bytes);
  assert.ok(typeof back !== "string");
  assert.deepEqual(
    back.items.map((item) => item.key.toHex()),
    [1, 2, 3].map((n) => key(n).toHex()),
  );
  for (const offset of [0, 20, 45, 60, bytes.length - 1]) {
    const changed = new Uint8Array(bytes);
    changed[offset] ^= 1;
    const refused = decodeRanking(changed);
    assert.equal(typeof refused, "string", `byte ${offset}`);
    assert.ok(!(refused as string).includes("\n"));
  }
  assert.equal(decodeRanking(bytes.subarray(0, 10)), "ranking record too short");
});

Deno.test("combineRankings() moves no item more than 5 ranks when one of three seeds publishes a forged ranking", () => {
  const honest = Array.from({ length: 100 }, (_, i) => i + 1);
  const noisy = [...honest];
  for (let i = 0; i + 1 < noisy.length; i += 7) [noisy[i], noisy[i + 1]] = [noisy[i + 1], noisy[i]];
  const forged = [...honest].reverse();
  forged.unshift(9999); // an item only the liar names
  const records = [
    signRanking(seed(1), ranking(honest), 1),
    signRanking(seed(2), ranking(noisy), 1),
    signRanking(seed(3), ranking(forged), 1),
  ];
  const combined = combineRankings(records);
  assert.ok(!combined.some((item) => item.key.equals(key(9999))), "a lone seed inserts nothing");
  combined.forEach((item, rank) => {
    const truth = honest.findIndex((n) => key(n).equals(item.key));
    assert.ok(Math.abs(truth - rank) <= 5, `item ${truth + 1} shown at ${rank + 1}`);
  });
});

Deno.test("combineRankings() takes a seed's latest record once", () => {
  const old = signRanking(seed(1), ranking([3, 2, 1]), 1);
  const fresh = signRanking(seed(1), ranking([1, 2, 3]), 2);
  const combined = combineRankings([old, fresh]);
  assert.deepEqual(combined.map((item) => item.key.toHex()), [1, 2, 3].map((n) => key(n).toHex()));
});

function item(n: number, rate: number): HolderReport["items"][number] {
  const metrics: KeyMetrics = {
    key: key(n).toHex(),
    requests_per_h: rate,
    request_rate: rate,
    retention_rate: rate * 24,
    audience_size: 0,
    geo_prefixes: rate,
    replies: 1,
    votes: 1,
    view_time_s: 0,
    replication_count: 20,
    seed_coverage: 0,
    created_ms: 0,
    last_activity_ms: 0,
    tracked_since_ms: 0,
  };
  return {
    metrics,
    audience: new Uint8Array(requesterRegisters),
    geo: new Uint8Array(prefixRegisters),
  };
}

Deno.test("mergeReports() caps a lying holder at reportOutlierFactor × the median and counts a holder once", () => {
  const reports: HolderReport[] = [];
  for (let h = 0; h < 10; h++) reports.push({ holder: key(100 + h), items: [item(1, 10)] });
  reports.push({ holder: key(999), items: [item(1, 1e9)] });
  reports.push({ holder: key(999), items: [item(1, 1e9)] });
  const [merged] = mergeReports(reports);
  assert.equal(merged.request_rate, 10 * 10 + 30);
  assert.equal(merged.replication_count, 11);
});

Deno.test("mergeReports() counts a requester that asked every holder once, not once per holder", () => {
  const oneReader = new HyperLogLog(requesterRegisters);
  oneReader.add(keyedHash32(1, new Uint8Array([7])));
  const reports: HolderReport[] = [];
  for (let h = 0; h < 20; h++) {
    const base = item(1, 1);
    reports.push({
      holder: key(100 + h),
      items: [{
        ...base,
        metrics: { ...base.metrics, audience_size: 1 },
        audience: oneReader.registers,
      }],
    });
  }
  const [merged] = mergeReports(reports);
  assert.ok(Math.abs(merged.request_rate - 1) < 0.01, `rate ${merged.request_rate}`);
  assert.ok(Math.abs(merged.audience_size - 1) < 0.01);
});

Deno.test("mergeReports() skips items with bad numbers or sketch sizes", () => {
  const bad = item(2, NaN);
  const short = { ...item(3, 5), audience: new Uint8Array(3) };
  assert.deepEqual(mergeReports([{ holder: key(1), items: [bad, short] }]), []);
});

Deno.test("rankLocally() orders by score and leaves future-dated items out", () => {
  const s = popularitySettings();
  const nowMs = 10 * 86400_000;
  const a = { ...item(1, 50).metrics, created_ms: nowMs - 1000 };
  const b = { ...item(2, 5).metrics, created_ms: nowMs - 1000 };
  const c = { ...item(3, 500).metrics, created_ms: nowMs + 86400_000 };
  const ranked = rankLocally([b, c, a], s, nowMs);
  assert.deepEqual(ranked.map((r) => r.key.toHex()), [key(1).toHex(), key(2).toHex()]);
});
