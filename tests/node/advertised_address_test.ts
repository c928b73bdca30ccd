/** The address a node advertises: node.advertise, else node.listen with wildcards replaced. */

import assert from "node:assert/strict";
import { resolveConfig } from "../../src/core/config.ts";
import { advertisedAddress } from "../../src/node/advertised_address.ts";

function configWith(node: Record<string, string>) {
  return resolveConfig({
    file: { path: "t.toml", text: "" },
    overrides: Object.entries(node).map(
      ([key, value]) => ({ path: `node.${key}`, value, origin: "test" }),
    ),
  }).config;
}

Deno.test("advertisedAddress() replaces an IPv4 wildcard with 127.0.0.1 and says so", () => {
  assert.deepEqual(advertisedAddress(configWith({ listen: "0.0.0.0:7000" })), {
    host: "127.0.0.1",
    port: 7000,
    loopbackOnly: true,
  });
});

Deno.test("advertisedAddress() replaces an IPv6 wildcard with ::1", () => {
  assert.deepEqual(advertisedAddress(configWith({ listen: "[::]:7000" })), {
    host: "::1",
    port: 7000,
    loopbackOnly: true,
  });
});

Deno.test("advertisedAddress() uses a concrete listen address as it is", () => {
  assert.deepEqual(advertisedAddress(configWith({ listen: "192.0.2.1:7000" })), {
    host: "192.0.2.1",
    port: 7000,
    loopbackOnly: false,
  });
});

Deno.test("advertisedAddress() prefers node.advertise", () => {
  const config = configWith({ listen: "0.0.0.0:7000", advertise: "node.example.org:9000" });
  assert.deepEqual(advertisedAddress(config), {
    host: "node.example.org",
    port: 9000,
    loopbackOnly: false,
  });
});
