/** Host names: what is a name to resolve, and resolving one through the system (localhost). */

import assert from "node:assert/strict";
import { RhizomeError } from "../../src/core/errors.ts";
import { isHostName, resolveHostName } from "../../src/net/host_names.ts";

Deno.test("isHostName: names yes; IP addresses, digits-and-dots and junk no", () => {
  for (const name of ["localhost", "seed.example.org", "a-1.b2", "x"]) {
    assert.equal(isHostName(name), true, name);
  }
  for (const other of ["127.0.0.1", "::1", "2001:db8::1", "1.2.3", "256.1.1.1", "", "-a", "a_b"]) {
    assert.equal(isHostName(other), false, other);
  }
});

Deno.test("resolveHostName: localhost resolves through the system to a loopback address", async () => {
  const addresses = await resolveHostName("localhost");
  assert.ok(addresses.length >= 1 && addresses.length <= 8);
  assert.ok(
    addresses.some((address) => address === "::1" || address.startsWith("127.")),
    addresses.join(", "),
  );
});

Deno.test({
  name: "resolveHostName: without network permission it says so in one line",
  permissions: { net: false, read: true, env: true, sys: true },
  async fn() {
    await assert.rejects(
      resolveHostName("localhost"),
      (error) =>
        error instanceof RhizomeError && error.code === "UNAVAILABLE" &&
        /--allow-net/.test(error.message) && !error.message.includes("\n"),
    );
  },
});
