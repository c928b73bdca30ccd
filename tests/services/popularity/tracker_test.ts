// Goal: metrics are collected as documented and cannot be inflated by repetition: one requester
// counts once per key per window however often it asks; requesters of one /24 count at most
// prefix_requesters_max times; view time is capped and taken once per requester per window;
// engagement notes are idempotent; memory stays within tracked_keys_max keys of at most 2 KB,
// keeping the active keys; bad input changes nothing.
// Method: a tracker driven by hand with seeded requesters and addresses on a virtual time line.

import assert from "node:assert/strict";
import { NodeId } from "../../../src/core/node_id.ts";
import { PeerAddress } from "../../../src/net/address.ts";
import {
  PopularityTracker,
  trackedKeyBytes,
  trackedKeyBytesMax,
} from "../../../src/services/popularity/mod.ts";
import { popularitySettings } from "./_settings.ts";

const hourMs = 3600_000;

function id(n: number): NodeId {
  const bytes = new Uint8Array(20);
  new DataView(bytes.buffer).setUint32(16, n);
  bytes[0] = 0xab;
  return NodeId.fromBytes(bytes);
}

function address(a: number, b: number, c: number, d: number): PeerAddress {
  return PeerAddress.of(`${a}.${b}.${c}.${d}`, 7447)!;
}

function tracker(changes = {}) {
  return new PopularityTracker({ settings: popularitySettings(changes), salt: 99 });
}

Deno.test("PopularityTracker counts one requester once per window, however often it asks", () => {
  const t = tracker();
  const key = id(1);
  for (let i = 0; i < 3600; i++) {
    t.observe({ key, requester: id(500), address: address(8, 8, 8, 8), nowMs: 1000 + i });
  }
  const metrics = t.metricsOf(key, 2000)!;
  assert.ok(metrics.request_rate <= 1.01, `rate ${metrics.request_rate}`);
  assert.ok(metrics.requests_per_h > 1000, "every read counts in requests_per_h");
  assert.ok(Math.abs(metrics.audience_size - 1) < 0.1);
});

Deno.test("PopularityTracker counts 50 requesters of one /24 as prefix_requesters_max, of 50 /24s as 50", () => {
  const t = tracker();
  const sybil = id(1);
  const honest = id(2);
  for (let i = 0; i < 50; i++) {
    t.observe({ key: sybil, requester: id(1000 + i), address: address(9, 9, 9, i + 1), nowMs: 10 });
    t.observe({ key: honest, requester: id(2000 + i), address: address(9, 9, i, 1), nowMs: 10 });
  }
  const s = t.metricsOf(sybil, 20)!;
  const h = t.metricsOf(honest, 20)!;
  assert.ok(s.request_rate <= 2.05, `sybil ${s.request_rate}`);
  assert.ok(h.request_rate > 40, `honest ${h.request_rate}`);
  assert.ok(s.geo_prefixes < 1.5 && h.geo_prefixes > 40);
});

Deno.test("PopularityTracker counts loopback requesters one prefix each when local ranges are exempt", () => {
  const t = tracker();
  const key = id(3);
  for (let i = 0; i < 10; i++) {
    t.observe({ key, requester: id(10 + i), address: address(127, 0, 0, 1), nowMs: 10 });
  }
  assert.ok(t.metricsOf(key, 20)!.request_rate > 9);
});

Deno.test("PopularityTracker folds windows into a rate that decays without reads", () => {
  const t = tracker();
  const key = id(4);
  // 20 distinct requesters every hour for 12 hours.
  for (let hour = 0; hour < 12; hour++) {
    for (let i = 0; i < 20; i++) {
      t.observe({
        key,
        requester: id(hour * 100 + i),
        address: address(1, hour, i, 1),
        nowMs: hour * hourMs + i,
      });
    }
  }
  const steady = t.metricsOf(key, 12 * hourMs)!.request_rate;
  assert.ok(steady > 15 && steady < 25, `steady ${steady}`);
  const later = t.metricsOf(key, 18 * hourMs)!.request_rate;
  assert.ok(later < steady / 20, `after 6 quiet hours ${later}`);
  assert.ok(t.metricsOf(key, 18 * hourMs)!.retention_rate > 100, "retention remembers longer");
});

Deno.test("PopularityTracker.noteViewTime() caps a report and takes one per requester per window", () => {
  const t = tracker({ view_report_s_max: 600 });
  const key = id(5);
  assert.equal(t.noteViewTime(key, id(9), 60, 0), false, "untracked keys take no view time");
  t.observe({ key, requester: id(9), address: address(5, 5, 5, 5), nowMs: 0 });
  assert.equal(t.noteViewTime(key, id(9), 1e9, 0), true);
  assert.equal(t.noteViewTime(key, id(9), 100, 10), false);
  for (const bad of [NaN, -5, 0, Infinity]) {
    assert.equal(t.noteViewTime(key, id(10), bad, 10), false);
  }
  assert.ok(Math.abs(t.metricsOf(key, 10)!.view_time_s - 600) < 1);
  assert.equal(t.noteViewTime(key, id(9), 100, hourMs + 1), true, "a new window takes it again");
});

Deno.test("PopularityTracker.noteEngagement() takes absolute counts: repeating a note inflates nothing", () => {
  const t = tracker();
  const key = id(6);
  t.noteEngagement(key, { replies: 5, votes: 3 }, 100);
  t.noteEngagement(key, { replies: 5, votes: 3 }, 200);
  t.noteEngagement(key, { replies: NaN, votes: -4 }, 300);
  const metrics = t.metricsOf(key, 300)!;
  assert.equal(metrics.replies, 5);
  assert.equal(metrics.votes, 3);
  assert.equal(metrics.last_activity_ms, 100);
  t.noteEngagement(id(7), { replies: 0, votes: 0 }, 0);
  assert.equal(t.has(id(7)), false, "nothing to note tracks nothing");
});

Deno.test("PopularityTracker keeps at most tracked_keys_max keys of at most 2 KB, and keeps the active ones", () => {
  assert.ok(trackedKeyBytes <= trackedKeyBytesMax);
  const t = tracker({ tracked_keys_max: 64 });
  const hot = id(1);
  for (let i = 0; i < 30; i++) {
    t.observe({ key: hot, requester: id(100 + i), address: address(2, 2, i, 1), nowMs: 0 });
  }
  for (let n = 0; n < 5000; n++) {
    t.observe({ key: id(10_000 + n), requester: id(7), address: address(3, 3, 3, 3), nowMs: n });
  }
  assert.equal(t.size, 64);
  assert.ok(t.evicted >= 5000 - 64);
  assert.ok(t.has(hot), "the active key survives a flood of one-read keys");
  assert.ok(t.bytes() <= 64 * trackedKeyBytesMax);
});

Deno.test("PopularityTracker.holdersDropped() says when a push reached fewer holders than the one before", () => {
  const t = tracker();
  const key = id(8);
  t.observe({ key, requester: id(1), nowMs: 0 });
  t.noteHolders(key, 20, 0);
  assert.equal(t.holdersDropped(key), false);
  t.noteHolders(key, 14, 10);
  assert.equal(t.holdersDropped(key), true);
  assert.equal(t.metricsOf(key, 10)!.replication_count, 14);
  t.noteHolders(key, 14, 20);
  assert.equal(t.holdersDropped(key), false);
});
