import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import {
  banMs,
  banPointsMin,
  graylistPointsMin,
  PeerPenalties,
  penaltyHalfLifeMs,
} from "../../src/net/peer_penalties.ts";

Deno.test("a peer is graylisted at the threshold, not before", () => {
  const penalties = new PeerPenalties(new VirtualClock(0));
  for (let i = 1; i < graylistPointsMin; i++) assert.equal(penalties.penalize("a", 1), undefined);
  assert.equal(penalties.standing("a"), "good");
  assert.deepEqual(penalties.penalize("a", 1), {
    key: "a",
    standing: "graylisted",
    points: graylistPointsMin,
  });
  assert.equal(penalties.standing("a"), "graylisted");
  assert.equal(penalties.standing("b"), "good", "other peers are not touched");
  assert.equal(penalties.stats().graylistings, 1);
});

Deno.test("points decay: a graylisted peer that stops is served again", () => {
  const clock = new VirtualClock(0);
  const penalties = new PeerPenalties(clock);
  penalties.penalize("a", graylistPointsMin);
  clock.advanceBy(penaltyHalfLifeMs / 2);
  assert.equal(penalties.standing("a"), "graylisted", "still above half the threshold");
  clock.advanceBy(penaltyHalfLifeMs);
  assert.equal(penalties.standing("a"), "good", "below half the threshold after 1.5 half-lives");
  // Spread thinly, the same points never graylist.
  for (let i = 0; i < 10 * graylistPointsMin; i++) {
    penalties.penalize("slow", 1);
    clock.advanceBy(penaltyHalfLifeMs / 10);
  }
  assert.equal(penalties.standing("slow"), "good");
});

Deno.test("a peer that goes on while graylisted is banned for banMs, then graylisted", () => {
  const clock = new VirtualClock(0);
  const penalties = new PeerPenalties(clock);
  let change;
  for (let i = 0; i < banPointsMin && change?.standing !== "banned"; i++) {
    change = penalties.penalize("a", 1);
  }
  assert.equal(change?.standing, "banned");
  assert.equal(penalties.standing("a"), "banned");
  assert.equal(penalties.penalize("a", 1_000_000), undefined, "points during a ban change nothing");
  clock.advanceBy(banMs - 1);
  assert.equal(penalties.standing("a"), "banned");
  clock.advanceBy(1);
  // Points restart at the graylist threshold, decayed over the ban: forgiven by now.
  assert.equal(penalties.standing("a"), "good");
  const stats = penalties.stats();
  assert.equal(stats.bans, 1);
  assert.equal(stats.banned, 0);
});

Deno.test("the box holds at most penaltyEntriesMax peers, keeping bans", () => {
  const penalties = new PeerPenalties(new VirtualClock(0), { penaltyEntriesMax: 3 });
  penalties.penalize("banned", banPointsMin);
  penalties.penalize("b", 1);
  penalties.penalize("c", 1);
  penalties.penalize("d", 1);
  assert.equal(penalties.standing("banned"), "banned");
  const stats = penalties.stats();
  assert.equal(stats.entries, 3);
  assert.equal(stats.forgotten, 1);
});

Deno.test("PeerPenalties refuses limits out of order or not positive", () => {
  const clock = new VirtualClock(0);
  assert.throws(() => new PeerPenalties(clock, { banMs: 0 }), RangeError);
  assert.throws(
    () => new PeerPenalties(clock, { graylistPointsMin: 10, banPointsMin: 10 }),
    RangeError,
  );
});
