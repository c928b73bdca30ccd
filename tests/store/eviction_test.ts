/**
 * Eviction planning on its own: expired first, then the lowest score outside retention (longest
 * unread first among equals), never inside retention, and `undefined` when the room cannot be
 * made.
 */

import assert from "node:assert/strict";
import type { RecordClass } from "../../src/core/config_schema.ts";
import { classScore, type EvictionCandidate, planEviction } from "../../src/store/eviction.ts";
import type { RecordMeta } from "../../src/store/record_meta.ts";

const nowMs = 1_000_000;
const retentionMs: Record<RecordClass, number> = {
  popular: 500,
  active: 500,
  normal: 100,
  personal: 900_000,
};

function candidate(
  name: string,
  meta: Partial<RecordMeta>,
): EvictionCandidate {
  return {
    key: new TextEncoder().encode(name),
    meta: {
      kind: 0,
      class: "normal",
      storedAtMs: 0,
      expiresAtMs: nowMs + 1000,
      activityMs: 0,
      bytes: 100,
      hash: new Uint8Array(32),
      published: false,
      ...meta,
    },
  };
}

function plan(candidates: EvictionCandidate[], records: number, want = records) {
  const victims = planEviction({
    candidates,
    need: { bytes: 0, records },
    want: { bytes: 0, records: want },
    nowMs,
    retentionMs,
    score: classScore,
    quotaBytes: (meta) => meta.bytes,
  });
  return victims?.map((victim) => new TextDecoder().decode(victim.key));
}

Deno.test("expired records go first, the longest expired first, retention or not", () => {
  const candidates = [
    candidate("fresh", {}),
    candidate("expired late", { expiresAtMs: nowMs - 10, storedAtMs: nowMs - 50 }),
    candidate("expired early", { expiresAtMs: nowMs - 20, class: "personal" }),
  ];
  assert.deepEqual(plan(candidates, 2), ["expired early", "expired late"]);
});

Deno.test("then the lowest class, and the longest unread among equals", () => {
  const candidates = [
    candidate("popular", { class: "popular", activityMs: 1 }),
    candidate("normal read lately", { activityMs: 900 }),
    candidate("active", { class: "active", activityMs: 2 }),
    candidate("normal unread", { activityMs: 10 }),
  ];
  assert.deepEqual(plan(candidates, 4), [
    "normal unread",
    "normal read lately",
    "active",
    "popular",
  ]);
});

Deno.test("nothing inside its retention goes; too little room is undefined", () => {
  const candidates = [
    candidate("recent", { storedAtMs: nowMs - 50 }),
    candidate("personal", { class: "personal", storedAtMs: nowMs - 500_000 }),
    candidate("old", {}),
  ];
  assert.deepEqual(plan(candidates, 1), ["old"]);
  assert.equal(plan(candidates, 2), undefined);
});

Deno.test("slack takes more victims when available, but only what is needed is required", () => {
  const candidates = [candidate("a", {}), candidate("b", { activityMs: 5 })];
  assert.deepEqual(plan(candidates, 1, 2), ["a", "b"]);
  assert.deepEqual(plan(candidates, 1, 5), ["a", "b"]);
  assert.deepEqual(plan([candidate("a", {})], 1, 5), ["a"]);
});

Deno.test("a byte need counts the quota bytes of each victim", () => {
  const candidates = [
    candidate("small", { bytes: 10 }),
    candidate("big", { bytes: 1000, activityMs: 5 }),
  ];
  const victims = planEviction({
    candidates,
    need: { bytes: 500, records: 0 },
    want: { bytes: 500, records: 0 },
    nowMs,
    retentionMs,
    score: classScore,
    quotaBytes: (meta) => meta.bytes + 256,
  });
  assert.deepEqual(victims?.map((victim) => victim.meta.bytes), [10, 1000]);
});
