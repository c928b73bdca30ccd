/**
 * The challenge policy on virtual time: a seed that stalls for ten minutes is contained,
 * re-challenged on the same leaf and back in good standing once it answers; one silent on a leaf
 * for thirty minutes is demoted; a failed proof demotes at once.
 */

import assert from "node:assert/strict";
import { Prng } from "../../../src/core/rng.ts";
import {
  CHALLENGE_ANSWER_MS,
  CONTAINED_MS_MAX,
  SeedWatch,
} from "../../../src/services/seeds/mod.ts";

/** Drives a watch until `untilMs`; the seed answers `ok` unless `silent(nowMs, index)`. */
function drive(
  watch: SeedWatch,
  untilMs: number,
  silent: (nowMs: number, index: number) => boolean,
) {
  const asked: { atMs: number; index: number; repeat: boolean }[] = [];
  let nowMs = watch.nextWakeupMs;
  for (let step = 0; step < 10_000 && nowMs <= untilMs; step++) {
    const due = watch.poll(nowMs);
    if (due) {
      asked.push({ atMs: nowMs, ...due });
      if (!silent(nowMs, due.index)) watch.answered(nowMs + 10, "ok");
    }
    if (watch.standing === "demoted") break;
    nowMs = Math.max(nowMs + 1, watch.nextWakeupMs);
  }
  return asked;
}

Deno.test("SeedWatch contains a seed that stalls ten minutes and clears it afterwards", () => {
  const watch = new SeedWatch(1000, 0, new Prng(1));
  const stallFromMs = 600_000;
  const stallToMs = stallFromMs + 10 * 60_000;
  let wasContained = false;
  const asked = drive(watch, 3_600_000, (nowMs) => {
    const stalled = nowMs >= stallFromMs && nowMs < stallToMs;
    if (stalled && nowMs > stallFromMs) wasContained ||= watch.standing !== "good";
    return stalled;
  });
  assert.equal(watch.standing, "good");
  assert.ok(wasContained, "the stall was noticed");
  const repeats = asked.filter((challenge) => challenge.repeat);
  assert.ok(repeats.length > 0);
  const first = asked.find((challenge) => challenge.atMs >= stallFromMs)!;
  for (const repeat of repeats) assert.equal(repeat.index, first.index, "the same leaf again");
});

Deno.test("SeedWatch demotes a seed silent on one leaf for thirty minutes", () => {
  const watch = new SeedWatch(1000, 0, new Prng(2));
  let target: number | undefined;
  drive(watch, 86_400_000, (_nowMs, index) => {
    target ??= index;
    return index === target;
  });
  assert.equal(watch.standing, "demoted");
  assert.match(watch.reason, /silent .* 30 minutes/);
});

Deno.test("SeedWatch demotes at once on a failed proof, and ignores answers afterwards", () => {
  const watch = new SeedWatch(10, 0, new Prng(3));
  const due = watch.poll(watch.nextWakeupMs);
  assert.ok(due);
  watch.answered(watch.nextWakeupMs, "failed");
  assert.equal(watch.standing, "demoted");
  watch.answered(0, "ok");
  assert.equal(watch.standing, "demoted");
  assert.equal(watch.poll(1e12), undefined);
  assert.equal(watch.nextWakeupMs, Infinity);
});

Deno.test("SeedWatch counts containment from the first unanswered challenge", () => {
  const watch = new SeedWatch(10, 0, new Prng(4));
  const firstMs = watch.nextWakeupMs;
  drive(watch, firstMs + CONTAINED_MS_MAX - 2 * CHALLENGE_ANSWER_MS, () => true);
  assert.equal(watch.standing, "contained");
  drive(watch, firstMs + CONTAINED_MS_MAX + CHALLENGE_ANSWER_MS, () => true);
  assert.equal(watch.standing, "demoted");
});
