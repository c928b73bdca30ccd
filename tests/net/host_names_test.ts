/** Host names: what is a name to resolve, and resolving one through the system (localhost). */

import assert from "node:assert/strict";
import { RhizomeError } from "../../src/core/errors.ts";
import { isHostName, isInvalidDomainName, resolveHostName } from "../../src/net/host_names.ts";

Deno.test("isHostName: names yes; IP addresses, digits-and-dots and junk no", () => {
  for (const name of ["localhost", "seed.example.org", "seed.example.org.", "a-1.b2", "x"]) {
    assert.equal(isHostName(name), true, name);
  }
  for (
    const other of ["127.0.0.1", "::1", "1.2.3", "1.2.3.", "256.1.1.1", "", "-a", "a_b", "a.."]
  ) {
    assert.equal(isHostName(other), false, other);
  }
});

Deno.test("resolveHostName: localhost resolves through the system, in the family asked", async () => {
  const any = await resolveHostName("localhost", 0);
  assert.ok(any.length >= 1 && any.length <= 8);
  assert.ok(any.some((address) => address === "::1" || address.startsWith("127.")), any.join());
  const v4 = await resolveHostName("localhost", 4);
  assert.ok(v4.length >= 1 && v4.every((address) => address.startsWith("127.")), v4.join());
});

Deno.test({
  name: "resolveHostName: without network permission it says so in one line",
  permissions: { net: false, read: true, env: true, sys: true },
  async fn() {
    await assert.rejects(
      resolveHostName("localhost", 0),
      (error) =>
        error instanceof RhizomeError && error.code === "UNAVAILABLE" &&
        /network access is not allowed for it \(--allow-net\)/.test(error.message) &&
        !error.message.includes("\n"),
    );
  },
});

Deno.test("names under .invalid fail at once, without asking the resolver (RFC 6761)", async () => {
  for (const name of ["seed1.rhizome.invalid", "INVALID", "a.Invalid.", "invalid."]) {
    assert.ok(isInvalidDomainName(name), name);
  }
  for (const name of ["invalid.example", "notinvalid", "seed.invalidx", "example.org"]) {
    assert.ok(!isInvalidDomainName(name), name);
  }
  await assert.rejects(
    resolveHostName("seed1.rhizome.invalid", 0),
    (error: unknown) => error instanceof RhizomeError && /never do/.test(error.message),
  );
});
