/**
 * The one lifetime policy (the record classes): a write lives its class's ttl_s at most when it
 * comes from the network and never shortens an expiry; a restored record keeps up to ttl_max_s;
 * a read extends by extension_s within ttl_max_s of the first store, never shortening.
 */

import assert from "node:assert/strict";
import { classOfWrite, expiryAfterRead, expiryAfterWrite } from "../../src/store/lifetime.ts";

const policy = { ttl_s: 3600, extension_s: 600, ttl_max_s: 7200, retention_s: 0 };
const nowMs = 1_800_000_000_000;

Deno.test("classOfWrite(): the class asked for, else the held one, else personal or normal", () => {
  assert.equal(classOfWrite("popular", "active", true), "popular");
  assert.equal(classOfWrite(undefined, "active", true), "active");
  assert.equal(classOfWrite(undefined, undefined, true), "personal");
  assert.equal(classOfWrite(undefined, undefined, false), "normal");
});

Deno.test("expiryAfterWrite(): ttl_s by default and as the network's cap, ttl_max_s restored", () => {
  assert.equal(expiryAfterWrite(policy, nowMs, undefined, "ttl"), nowMs + 3_600_000);
  assert.equal(expiryAfterWrite(policy, nowMs, 60_000, "ttl"), nowMs + 60_000);
  assert.equal(expiryAfterWrite(policy, nowMs, 1e12, "ttl"), nowMs + 3_600_000);
  assert.equal(expiryAfterWrite(policy, nowMs, 1e12, "ttl_max"), nowMs + 7_200_000);
  assert.equal(
    expiryAfterWrite(policy, nowMs, 60_000, "ttl", nowMs + 5_000_000),
    nowMs + 5_000_000,
    "a write never shortens an expiry",
  );
});

Deno.test("expiryAfterRead(): extension_s, never past ttl_max_s after the first store", () => {
  const storedAtMs = nowMs - 6_800_000;
  assert.equal(expiryAfterRead(policy, nowMs, nowMs, nowMs + 100_000), nowMs + 600_000);
  assert.equal(
    expiryAfterRead(policy, nowMs, storedAtMs, nowMs + 100_000),
    storedAtMs + 7_200_000,
    "capped",
  );
  assert.equal(
    expiryAfterRead(policy, nowMs, nowMs, nowMs + 900_000),
    nowMs + 900_000,
    "never shortened",
  );
});
