// Goal: the score is the documented formula, computed from the raw counters alone; its weights
// move from velocity to retention as an item ages; a future-dated item scores 0; an old idle item
// is multiplied by stale_factor; bad counters score as 0, never NaN.
// Method: hand-built KeyMetrics against the formula written out in the test.

import assert from "node:assert/strict";
import { explainScore, type KeyMetrics, scoreOf } from "../../../src/services/popularity/mod.ts";
import { popularitySettings } from "./_settings.ts";

const dayMs = 86400_000;
const nowMs = 100 * dayMs;

function metrics(changes: Partial<KeyMetrics> = {}): KeyMetrics {
  return {
    key: "ab".repeat(20),
    requests_per_h: 100,
    request_rate: 15,
    retention_rate: 255,
    audience_size: 63,
    geo_prefixes: 40,
    replies: 4,
    votes: 3,
    view_time_s: 127,
    replication_count: 20,
    seed_coverage: 1,
    created_ms: nowMs - dayMs,
    last_activity_ms: nowMs - 1000,
    tracked_since_ms: nowMs - dayMs,
    ...changes,
  };
}

Deno.test("scoreOf() is the documented weighted sum of log2(1 + metric), reproducible from a JSON copy", () => {
  const s = popularitySettings();
  const m = metrics();
  const youth = Math.exp(-86400 / s.age_pivot_s);
  const expected = (youth * s.weight_velocity_young + (1 - youth) * s.weight_velocity_old) * 4 +
    (youth * s.weight_retention_young + (1 - youth) * s.weight_retention_old) * 8 +
    s.weight_audience * 6 + s.weight_geo * Math.log2(41) + s.weight_engagement * 3 +
    s.weight_view_time * 7 +
    s.weight_replication * Math.log2(21) + s.weight_seed_coverage * 1;
  assert.ok(Math.abs(scoreOf(m, s, nowMs) - expected) < 1e-9);
  assert.equal(scoreOf(JSON.parse(JSON.stringify(m)), s, nowMs), scoreOf(m, s, nowMs));
});

Deno.test("explainScore() counts at most prefix_requesters_max readers per network prefix in the audience", () => {
  const s = popularitySettings({ prefix_requesters_max: 2 });
  const sybil = explainScore(metrics({ audience_size: 1000, geo_prefixes: 1 }), s, nowMs);
  assert.equal(sybil.parts.audience_size.value, 2);
});

Deno.test("explainScore() weighs velocity most for a new item and retention most for an old one", () => {
  const s = popularitySettings();
  const young = explainScore(metrics({ created_ms: nowMs }), s, nowMs);
  const old = explainScore(metrics({ created_ms: nowMs - 30 * dayMs }), s, nowMs);
  assert.ok(young.parts.request_rate.weight > young.parts.retention_rate.weight);
  assert.ok(old.parts.retention_rate.weight > old.parts.request_rate.weight);
  assert.equal(young.youth, 1);
});

Deno.test("explainScore() gives a future-dated item 0, within future_skew_s a normal score", () => {
  const s = popularitySettings({ future_skew_s: 300 });
  const future = explainScore(metrics({ created_ms: nowMs + 301_000 }), s, nowMs);
  assert.equal(future.score, 0);
  assert.equal(future.future, true);
  assert.ok(scoreOf(metrics({ created_ms: nowMs + 200_000 }), s, nowMs) > 0);
});

Deno.test("explainScore() multiplies an old item idle for stale_idle_s by stale_factor", () => {
  const s = popularitySettings({ stale_factor: 0.1 });
  const active = metrics({ created_ms: nowMs - 8 * dayMs, last_activity_ms: nowMs - 3600_000 });
  const idle = metrics({ created_ms: nowMs - 8 * dayMs, last_activity_ms: nowMs - 2 * dayMs });
  const a = explainScore(active, s, nowMs);
  const b = explainScore(idle, s, nowMs);
  assert.equal(a.stale, false);
  assert.equal(b.stale, true);
  assert.ok(Math.abs(b.score - a.score * 0.1) < 1e-9);
});

Deno.test("explainScore() takes bad counters as 0 and an unknown creation time as age 0", () => {
  const s = popularitySettings();
  const bad = metrics({
    request_rate: NaN,
    retention_rate: -5,
    audience_size: Infinity,
    geo_prefixes: NaN,
    created_ms: null,
  });
  const explained = explainScore(bad, s, nowMs);
  assert.ok(Number.isFinite(explained.score));
  assert.equal(explained.parts.request_rate.points, 0);
  assert.equal(explained.parts.audience_size.points, 0);
  assert.equal(explained.age_s, null);
});
