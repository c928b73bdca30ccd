// Goal: the replication planner decides upkeep from plain data alone: expired records are listed
// for deletion; a live record is due once its interval (times the node's jitter for it) has passed
// since its last push; with the default policy a publisher renews its copies to renew_ttl_s every
// republish_s and a holder passes on what is left every replicate_s, both to k nodes; a policy
// changes replicas, interval and lifetime per record, and terms out of range are brought into
// range and counted; one pass plans at most upkeepPushesMax pushes; a newcomer is handed exactly
// the records whose closest nodes now include it and this node.
// Method: planUpkeep and planHandOff called on hand-built records, seeded random IDs and a routing
// view sorted by XOR distance; times are virtual milliseconds.

import assert from "node:assert/strict";
import { maintenanceIntervalMs } from "../../src/core/limits.ts";
import type { NodeId } from "../../src/core/node_id.ts";
import { Prng } from "../../src/core/rng.ts";
import {
  planHandOff,
  planUpkeep,
  pushIntervalMsMin,
  pushJitter,
  pushJitterMax,
  remainingTtlS,
  replicasPerRecordMax,
  type RoutingView,
  spreadOverPrefixes,
  termsFor,
  upkeepPushesMax,
} from "../../src/dht/replication_plan.ts";
import {
  defaultReplicationPolicy,
  type HeldRecord,
  type ReplicationPolicy,
  type ReplicationSettings,
} from "../../src/dht/replication_policy.ts";
import { randomId } from "./_helpers.ts";

const SEED = 0x91a;
const T0 = 1_735_689_600_000;
const HOUR = 3_600_000;
const settings: ReplicationSettings = {
  k: 20,
  replicate_s: 3600,
  republish_s: 4 * 3600,
  renew_ttl_s: 6 * 3600,
};
const prng = new Prng(SEED);
const self = randomId(prng);

function record(key: NodeId, changes: Partial<HeldRecord> = {}): HeldRecord {
  return {
    key,
    kind: "replica",
    expiresAtMs: T0 + 6 * HOUR,
    storedAtMs: T0,
    pushedAtMs: undefined,
    ...changes,
  };
}

/** A routing table that knows `ids`, by XOR distance. */
function view(ids: readonly NodeId[]): RoutingView {
  return {
    closestIds: (key, count) => [...ids].sort((a, b) => key.compareDistance(a, b)).slice(0, count),
  };
}

/** A policy that gives `key` the terms `changes` and every other record the defaults. */
function policyFor(key: NodeId, changes: Record<string, number>): ReplicationPolicy {
  return {
    termsOf: (held, defaults) => held.key.equals(key) ? { ...defaults, ...changes } : defaults,
  };
}

function plan(held: HeldRecord[], nowMs: number, policy = defaultReplicationPolicy) {
  return planUpkeep({ self, nowMs, held, settings, policy });
}

Deno.test("planUpkeep() lists expired records for deletion and pushes none of them", () => {
  const gone = record(randomId(prng), { expiresAtMs: T0 + HOUR / 2 });
  const live = record(randomId(prng));
  const result = plan([gone, live], T0 + HOUR / 2);
  assert.deepEqual(result.expired, [gone.key]);
  assert.deepEqual(result.pushes, [], `nothing is due half an hour in, seed ${SEED}`);
  assert.equal(result.termsCorrected, 0);
});

Deno.test("planUpkeep() makes a replica due after replicate_s times the jitter, not before", () => {
  const held = record(randomId(prng));
  const dueMs = T0 + settings.replicate_s * 1000 * pushJitter(self, held.key);
  assert.deepEqual(plan([held], Math.ceil(dueMs) - 1).pushes, [], `seed ${SEED}`);
  const [push] = plan([held], Math.ceil(dueMs)).pushes;
  assert.ok(push, `due at replicate_s × jitter, seed ${SEED}`);
  // A holder passes on what its copy has left and does not renew its own.
  assert.deepEqual(push, {
    key: held.key,
    kind: "replica",
    replicas: settings.k,
    ttlS: remainingTtlS(held.expiresAtMs, Math.ceil(dueMs)),
    expiresAtMs: held.expiresAtMs,
  });
});

Deno.test("planUpkeep() counts the interval from the last push, when there was one", () => {
  const pushedAtMs = T0 + 2 * HOUR;
  const held = record(randomId(prng), { pushedAtMs, expiresAtMs: T0 + 10 * HOUR });
  const intervalMs = settings.replicate_s * 1000 * pushJitter(self, held.key);
  assert.deepEqual(plan([held], T0 + intervalMs + 1).pushes, [], `seed ${SEED}`);
  assert.equal(plan([held], Math.ceil(pushedAtMs + intervalMs)).pushes.length, 1);
});

Deno.test("planUpkeep() has a publisher republish every republish_s, renewing to renew_ttl_s", () => {
  const held = record(randomId(prng), { kind: "published", expiresAtMs: T0 + 5 * HOUR });
  const replicateMs = T0 + settings.replicate_s * 1000;
  assert.deepEqual(plan([held], replicateMs).pushes, [], "replicate_s does not apply");
  const nowMs = Math.ceil(T0 + settings.republish_s * 1000 * pushJitter(self, held.key));
  assert.deepEqual(plan([held], nowMs).pushes, [{
    key: held.key,
    kind: "published",
    replicas: settings.k,
    ttlS: settings.renew_ttl_s,
    expiresAtMs: nowMs + settings.renew_ttl_s * 1000,
  }], `seed ${SEED}`);
});

Deno.test("planUpkeep() never shortens a local copy's life when it renews", () => {
  const expiresAtMs = T0 + 20 * HOUR;
  const held = record(randomId(prng), { kind: "published", expiresAtMs });
  const [push] = plan([held], T0 + 5 * HOUR).pushes;
  assert.equal(push.expiresAtMs, expiresAtMs);
  assert.equal(push.ttlS, settings.renew_ttl_s, "the copies get the renewal");
});

Deno.test("planUpkeep() plans at most upkeepPushesMax pushes a pass; the rest stay due", () => {
  const held = Array.from({ length: 3 * upkeepPushesMax }, () => record(randomId(prng)));
  const gone = record(randomId(prng), { expiresAtMs: T0 + HOUR });
  const nowMs = T0 + 2 * HOUR;
  const first = plan([...held, gone], nowMs);
  assert.equal(first.pushes.length, upkeepPushesMax, `seed ${SEED}`);
  assert.deepEqual(first.expired, [gone.key], "expiry is not capped");
  assert.deepEqual(
    first.pushes.map((push) => push.key),
    held.slice(0, upkeepPushesMax).map((h) => h.key),
    "in the order walked",
  );
  const pushed = new Set(first.pushes.map((push) => push.key.toHex()));
  const next = plan(
    held.map((h) => pushed.has(h.key.toHex()) ? { ...h, pushedAtMs: nowMs } : h),
    nowMs + maintenanceIntervalMs,
  );
  assert.deepEqual(
    next.pushes.map((push) => push.key),
    held.slice(upkeepPushesMax, 2 * upkeepPushesMax).map((h) => h.key),
    "the next pass takes the next ones",
  );
  assert.equal(plan(held, nowMs).pushes.length, upkeepPushesMax);
  assert.equal(
    planUpkeep({ self, nowMs, held, settings, policy: defaultReplicationPolicy, pushesMax: 3 })
      .pushes.length,
    3,
  );
});

Deno.test("planUpkeep() takes a policy's replicas, interval and lifetime for one record", () => {
  const hot = record(randomId(prng));
  const cold = record(randomId(prng));
  const policy = policyFor(hot.key, {
    replicas: 2 * settings.k,
    intervalMs: 10 * 60_000,
    renewS: settings.renew_ttl_s,
  });
  const nowMs = T0 + 20 * 60_000;
  const pushes = plan([hot, cold], nowMs, policy).pushes;
  assert.deepEqual(pushes, [{
    key: hot.key,
    kind: "replica",
    replicas: 2 * settings.k,
    ttlS: settings.renew_ttl_s,
    expiresAtMs: nowMs + settings.renew_ttl_s * 1000,
  }], `only the hot record is due after 20 min, seed ${SEED}`);
  const later = plan([hot, cold], T0 + 2 * HOUR, policy).pushes;
  assert.deepEqual(later.map((push) => push.replicas), [2 * settings.k, settings.k]);
});

Deno.test("planUpkeep() never pushes a record whose policy interval is Infinity", () => {
  const held = record(randomId(prng), { expiresAtMs: T0 + 1000 * HOUR });
  const result = plan([held], T0 + 999 * HOUR, policyFor(held.key, { intervalMs: Infinity }));
  assert.deepEqual(result.pushes, []);
  assert.equal(result.termsCorrected, 0, "Infinity is a valid interval");
});

Deno.test("termsFor() brings a policy's terms out of range into range and says so", () => {
  const held = record(randomId(prng));
  const rules = (changes: Record<string, number>) => ({
    settings,
    policy: policyFor(held.key, changes),
  });
  const cases: [Record<string, number>, Record<string, number>][] = [
    [{ replicas: NaN }, { replicas: settings.k }],
    [{ replicas: 0 }, { replicas: 1 }],
    [{ replicas: -5 }, { replicas: 1 }],
    [{ replicas: 2.5 }, { replicas: 2 }],
    [{ replicas: 10_000 }, { replicas: replicasPerRecordMax }],
    [{ intervalMs: 5 }, { intervalMs: pushIntervalMsMin }],
    [{ intervalMs: NaN }, { intervalMs: settings.replicate_s * 1000 }],
    [{ renewS: -1 }, { renewS: 0 }],
    [{ renewS: 10 * settings.renew_ttl_s }, { renewS: settings.renew_ttl_s }],
    [{ renewS: Infinity }, { renewS: settings.renew_ttl_s }],
  ];
  for (const [asked, expected] of cases) {
    const { terms, corrected } = termsFor(held, rules(asked));
    const defaults = termsFor(held, { settings, policy: defaultReplicationPolicy }).terms;
    assert.deepEqual(terms, { ...defaults, ...expected }, JSON.stringify(asked));
    assert.ok(corrected, JSON.stringify(asked));
  }
  const fine = termsFor(held, rules({ replicas: 3, intervalMs: 2 * HOUR, renewS: 60 }));
  assert.deepEqual(fine, {
    terms: { replicas: 3, intervalMs: 2 * HOUR, renewS: 60 },
    corrected: false,
  });
});

Deno.test("termsFor() never caps replicas below k, whatever k is", () => {
  const held = record(randomId(prng));
  const bigK = { ...settings, k: replicasPerRecordMax + 4 };
  const policy = policyFor(held.key, { replicas: 10_000 });
  assert.equal(termsFor(held, { settings: bigK, policy }).terms.replicas, bigK.k);
  const defaults = termsFor(held, { settings: bigK, policy: defaultReplicationPolicy });
  assert.deepEqual(defaults.terms.replicas, bigK.k);
  assert.equal(defaults.corrected, false);
});

Deno.test("planUpkeep() counts the records a policy gave terms out of range", () => {
  const held = Array.from({ length: 5 }, () => record(randomId(prng)));
  const policy: ReplicationPolicy = {
    termsOf: (_record, defaults) => ({ ...defaults, replicas: NaN }),
  };
  const result = plan(held, T0 + 2 * HOUR, policy);
  assert.equal(result.termsCorrected, 5);
  assert.deepEqual(result.pushes.map((push) => push.replicas), held.map(() => settings.k));
});

Deno.test("pushJitter() is 1 - pushJitterMax to 1 - pushJitterMax / 2, fixed per node and key", () => {
  const other = randomId(prng);
  let differs = 0;
  for (let i = 0; i < 200; i++) {
    const key = randomId(prng);
    const jitter = pushJitter(self, key);
    assert.ok(
      jitter >= 1 - pushJitterMax && jitter <= 1 - pushJitterMax / 2,
      `${jitter}, seed ${SEED}`,
    );
    assert.equal(pushJitter(self, key), jitter);
    if (pushJitter(other, key) !== jitter) differs++;
  }
  assert.ok(differs > 150, `holders of one key come due apart (${differs}/200), seed ${SEED}`);
});

Deno.test("planHandOff() offers a newcomer the records it and this node are now closest to", () => {
  const others = Array.from({ length: 10 }, () => randomId(prng));
  const newcomer = randomId(prng);
  const table = view([...others, newcomer]);
  const held = Array.from({ length: 40 }, () => record(randomId(prng)));
  const offers = planHandOff({
    self,
    newcomer,
    nowMs: T0 + HOUR,
    held,
    table,
    settings: { ...settings, k: 8 },
    policy: defaultReplicationPolicy,
    pushSettleMs: 10_000,
  }).offers;
  // Brute force: the 8 closest known nodes include the newcomer, and this node beats the 8th.
  const expected = held.filter(({ key }) => {
    const closest = table.closestIds(key, 8);
    return closest.some((id) => id.equals(newcomer)) &&
      key.compareDistance(self, closest[7]) < 0;
  }).map(({ key }) => key);
  assert.ok(expected.length > 0 && expected.length < held.length, `a mixed case, seed ${SEED}`);
  assert.deepEqual(offers, expected, `seed ${SEED}`);
});

Deno.test("planHandOff() skips records pushed within pushSettleMs and ones this node is far from", () => {
  const newcomer = randomId(prng);
  const key = randomId(prng);
  const nowMs = T0 + HOUR;
  const input = {
    self,
    newcomer,
    nowMs,
    table: view([newcomer]),
    settings,
    policy: defaultReplicationPolicy,
    pushSettleMs: 10_000,
  };
  assert.deepEqual(
    planHandOff({ ...input, held: [record(key)] }).offers,
    [key],
    "few known: offer",
  );
  const recent = record(key, { pushedAtMs: nowMs - 9_999 });
  assert.deepEqual(planHandOff({ ...input, held: [recent] }).offers, [], "a push still settling");
  const settled = record(key, { pushedAtMs: nowMs - 10_000 });
  assert.deepEqual(planHandOff({ ...input, held: [settled] }).offers, [key]);
  // k = 1: this node hands the record on only when it is nearer than the newcomer.
  const selfNearer = key.compareDistance(self, newcomer) < 0;
  const narrow = planHandOff({ ...input, held: [record(key)], settings: { ...settings, k: 1 } });
  assert.deepEqual(narrow.offers, selfNearer ? [key] : [], `seed ${SEED}`);
});

Deno.test("planHandOff() follows a policy that gives a record more replicas", () => {
  // Twenty nodes nearer the key than the newcomer: with k = 20 it is not among the closest, with
  // 40 replicas it is; this node is nearer than all of them.
  const key = randomId(prng);
  const candidates = Array.from({ length: 400 }, () => randomId(prng))
    .sort((a, b) => key.compareDistance(a, b));
  const me = candidates[0];
  const nearer = candidates.slice(1, 21);
  const newcomer = candidates[25];
  const input = {
    self: me,
    newcomer,
    nowMs: T0 + HOUR,
    held: [record(key)],
    table: view([...nearer, newcomer]),
    settings,
    pushSettleMs: 10_000,
  };
  assert.deepEqual(planHandOff({ ...input, policy: defaultReplicationPolicy }).offers, []);
  const hot = policyFor(key, { replicas: 2 * settings.k });
  assert.deepEqual(planHandOff({ ...input, policy: hot }).offers, [key], `seed ${SEED}`);
});

Deno.test("spreadOverPrefixes() takes one per prefix where possible, then fills with the set-aside, nearest first", () => {
  const candidates = ["a1", "a2", "b1", "c1", "a3", "x1", "x2"];
  const prefixOf = (c: string) => c.startsWith("x") ? undefined : c[0];
  assert.deepEqual(spreadOverPrefixes(candidates, 4, prefixOf), ["a1", "b1", "c1", "x1"]);
  assert.deepEqual(spreadOverPrefixes(candidates, 6, prefixOf), [
    "a1",
    "b1",
    "c1",
    "x1",
    "x2",
    "a2",
  ]);
  assert.deepEqual(spreadOverPrefixes(candidates, 0, prefixOf), []);
  assert.deepEqual(spreadOverPrefixes(["a1", "a2"], 5, prefixOf), ["a1", "a2"]);
});
