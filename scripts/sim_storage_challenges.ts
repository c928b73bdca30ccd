/**
 * Measures proof of storage (`src/services/seeds`): the sizes of a challenge and a proof, the time
 * to verify a proof, and, by simulating the challenge policy (`SeedWatch`) on virtual time, the
 * probability that a seed which silently dropped 1% of its records is demoted within a day, and
 * the demotions of honest seeds across 10,000 stalls of up to 10 minutes. Prints one JSON object.
 *
 * Usage: deno task sim:storage-challenges [--records 100000] [--days 2000]
 *   [--stalls 10000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { generateEd25519KeyPair, sha256 } from "../src/core/crypto.ts";
import { Prng, randomBytes, randomInt } from "../src/core/rng.ts";
import {
  CHALLENGE_INTERVAL_MS,
  CONTAINED_MS_MAX,
  encodeChallenge,
  encodeProof,
  HeldSet,
  MERKLE_LEAVES_MAX,
  SeedWatch,
  verifyCommitment,
  verifyProof,
} from "../src/services/seeds/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    records: { type: "string", default: "100000" },
    days: { type: "string", default: "2000" },
    stalls: { type: "string", default: "10000" },
  },
});
const recordCount = Number(values.records);
const dayTrials = Number(values.days);
const stallTrials = Number(values.stalls);
const dayMs = 86_400_000;
const rng = new Prng(20261208);

// --- sizes and verification time ---
const records = Array.from({ length: recordCount }, (_, i) => {
  const bytes = new Uint8Array(1000);
  new DataView(bytes.buffer).setUint32(0, i);
  return { key: sha256(bytes).subarray(0, 20), bytes };
});
const byKey = new Map(records.map((record) => [record.key.join(","), record.bytes]));
const builtAt = performance.now();
const held = new HeldSet(records.map((r) => ({ key: r.key, recordHash: sha256(r.bytes) })));
const buildMs = performance.now() - builtAt;
const seed = generateEd25519KeyPair();
const commitment = held.commit(seed, 1);
const commitmentAt = performance.now();
if (!verifyCommitment(commitment)) throw new Error("the commitment does not verify");
const commitmentVerifyMs = performance.now() - commitmentAt;

const samples = 10_000;
const cases = Array.from({ length: samples }, () => {
  const challenge = {
    root: commitment.root,
    index: randomInt(rng, held.count),
    nonce: randomBytes(rng, new Uint8Array(16)),
  };
  const proof = held.prove(challenge, (key) => byKey.get(key.join(",")))!;
  return { challenge, proof, record: byKey.get(proof.key.join(","))! };
});
let challengeBytesMax = 0;
let proofBytesMax = 0;
for (const { challenge, proof } of cases) {
  challengeBytesMax = Math.max(challengeBytesMax, encodeChallenge(challenge).length);
  proofBytesMax = Math.max(proofBytesMax, encodeProof(proof).length);
}
// Warm up the JIT and the hash bindings first: the figure is the steady cost of one check.
for (const { challenge, proof, record } of cases.slice(0, 1000)) {
  verifyProof(commitment, challenge, proof, record);
}
const verifyAt = performance.now();
for (const { challenge, proof, record } of cases) {
  if (verifyProof(commitment, challenge, proof, record) !== "ok") throw new Error("a proof failed");
}
const verifyUs = ((performance.now() - verifyAt) / samples) * 1000;

// --- a seed that dropped 1%: demoted within a day? ---
function dishonestDay(strategy: "silent" | "refuses"): { demoted: boolean; atMs: number } {
  const dropped = new Set<number>();
  while (dropped.size < Math.round(recordCount / 100)) dropped.add(randomInt(rng, recordCount));
  const watch = new SeedWatch(recordCount, 0, rng);
  let nowMs = watch.nextWakeupMs;
  for (let step = 0; step < 100_000 && nowMs <= dayMs; step++) {
    const due = watch.poll(nowMs);
    if (due && !dropped.has(due.index)) watch.answered(nowMs + 50, "ok");
    else if (due && strategy === "refuses") watch.answered(nowMs + 50, "failed");
    if (watch.standing === "demoted") return { demoted: true, atMs: nowMs };
    nowMs = Math.max(nowMs + 1, watch.nextWakeupMs);
  }
  return { demoted: false, atMs: Infinity };
}

function detection(strategy: "silent" | "refuses") {
  let demoted = 0;
  const times: number[] = [];
  for (let trial = 0; trial < dayTrials; trial++) {
    const day = dishonestDay(strategy);
    if (day.demoted) {
      demoted++;
      times.push(day.atMs);
    }
  }
  times.sort((a, b) => a - b);
  return {
    trials: dayTrials,
    demoted_within_day: demoted,
    probability: Number((demoted / dayTrials).toFixed(4)),
    median_hours_to_demotion: Number((times[times.length >> 1] / 3_600_000).toFixed(2)),
  };
}

// --- honest seeds that stall up to 10 minutes ---
function honestStall(): { demoted: boolean; containedMs: number } {
  const watch = new SeedWatch(recordCount, 0, rng);
  const stallStartMs = randomInt(rng, 3_600_000);
  const stallEndMs = stallStartMs + 1 + randomInt(rng, 10 * 60_000);
  let containedFromMs: number | undefined;
  let containedMs = 0;
  let nowMs = watch.nextWakeupMs;
  for (let step = 0; step < 100_000 && nowMs <= stallEndMs + 3_600_000; step++) {
    const due = watch.poll(nowMs);
    const stalled = nowMs >= stallStartMs && nowMs < stallEndMs;
    if (due && !stalled) watch.answered(nowMs + 50, "ok");
    if (watch.standing === "contained") containedFromMs ??= nowMs;
    if (watch.standing === "good" && containedFromMs !== undefined) {
      containedMs = Math.max(containedMs, nowMs - containedFromMs);
      containedFromMs = undefined;
    }
    if (watch.standing === "demoted") return { demoted: true, containedMs };
    nowMs = Math.max(nowMs + 1, watch.nextWakeupMs);
  }
  return { demoted: false, containedMs };
}

let honestDemoted = 0;
let containedMsMax = 0;
let contained = 0;
for (let trial = 0; trial < stallTrials; trial++) {
  const outcome = honestStall();
  if (outcome.demoted) honestDemoted++;
  if (outcome.containedMs > 0) contained++;
  containedMsMax = Math.max(containedMsMax, outcome.containedMs);
}

const challengesPerDay = dayMs / CHALLENGE_INTERVAL_MS;
const silent = detection("silent");
const refuses = detection("refuses");
const usable = Math.floor((dayMs - CONTAINED_MS_MAX) / CHALLENGE_INTERVAL_MS);
console.log(JSON.stringify(
  {
    records: recordCount,
    load_average_1m: Deno.loadavg()[0],
    tree_build_ms: Math.round(buildMs),
    commitment_verify_ms: Number(commitmentVerifyMs.toFixed(3)),
    challenge_bytes: challengeBytesMax,
    proof_bytes_max: proofBytesMax,
    proof_bytes_max_at_2_24_leaves: 85 + 32 * Math.log2(MERKLE_LEAVES_MAX),
    proof_verify_us_mean: Number(verifyUs.toFixed(1)),
    target_sizes_met: challengeBytesMax <= 1024 && proofBytesMax <= 1024,
    target_verify_met: verifyUs <= 1000,
    challenges_per_day: challengesPerDay,
    detection_analytic: Number((1 - 0.99 ** usable).toFixed(4)),
    detection_silent_on_dropped: silent,
    detection_refuses_dropped: refuses,
    target_detection_met: silent.probability >= 0.99 && refuses.probability >= 0.99,
    honest_stalls: stallTrials,
    honest_stalls_contained: contained,
    honest_demoted: honestDemoted,
    honest_contained_minutes_max: Number((containedMsMax / 60_000).toFixed(2)),
    target_honest_met: honestDemoted === 0,
  },
  null,
  2,
));
