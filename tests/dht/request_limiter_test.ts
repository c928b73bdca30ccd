/**
 * Request limits: a peer gets its burst, then its rate; the global bucket caps all peers; a
 * refusal takes no token; forgotten peers are bounded.
 */

import assert from "node:assert/strict";
import { VirtualClock } from "../../src/core/clock.ts";
import { peerBucketsMax, RequestLimiter } from "../../src/dht/request_limiter.ts";

const limits = { peerRequestsPerS: 10, peerRequestsBurst: 5, requestsPerS: 100, requestsBurst: 8 };

Deno.test("a peer gets its burst, then its sustained rate", () => {
  const clock = new VirtualClock(0);
  const limiter = new RequestLimiter(clock, limits);
  const verdicts = Array.from({ length: 6 }, () => limiter.admit("10.0.0.1:1"));
  assert.deepEqual(verdicts, ["ok", "ok", "ok", "ok", "ok", "peer"]);
  clock.advanceBy(100); // one token at 10 per second
  assert.equal(limiter.admit("10.0.0.1:1"), "ok");
  assert.equal(limiter.admit("10.0.0.1:1"), "peer");
});

Deno.test("the global bucket caps all peers together, and a refusal costs nothing", () => {
  const clock = new VirtualClock(0);
  const limiter = new RequestLimiter(clock, limits);
  for (let i = 0; i < 8; i++) assert.equal(limiter.admit(`10.0.0.${i}:1`), "ok");
  assert.equal(limiter.admit("10.0.0.99:1"), "global");
  clock.advanceBy(10); // one global token back
  assert.equal(limiter.admit("10.0.0.99:1"), "ok", "its own bucket was not charged before");
});

Deno.test("peers beyond the bound are forgotten, oldest first", () => {
  const clock = new VirtualClock(0);
  const limiter = new RequestLimiter(clock, { ...limits, requestsBurst: 1e9, requestsPerS: 1e9 });
  for (let i = 0; i < 5; i++) limiter.admit("first:1");
  assert.equal(limiter.admit("first:1"), "peer");
  for (let i = 0; i < peerBucketsMax; i++) limiter.admit(`peer-${i}:1`);
  assert.equal(limiter.admit("first:1"), "ok", "forgotten, so it starts with a full bucket");
});
