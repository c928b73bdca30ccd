/**
 * The [discovery] settings: the defaults hold the placeholder seeds and DNS list, and every bad
 * value is refused with one line naming the field, what was expected and where it came from.
 */

import assert from "node:assert/strict";
import { resolveConfig } from "../../src/core/config.ts";
import { ConfigError } from "../../src/core/errors.ts";

Deno.test("the built-in seeds and DNS list are placeholders under .invalid", () => {
  const { discovery } = resolveConfig().config;
  assert.equal(discovery.seeds.length, 3);
  for (const seed of discovery.seeds) {
    assert.match(seed, /^rhz:\/\/[a-z2-7]{52}@seed[123]\.rhizome\.invalid:7447$/);
  }
  assert.equal(discovery.dns_name, "_rhizome-seeds.rhizome.invalid");
  assert.deepEqual(discovery.dns_servers, []);
  assert.equal(discovery.lan, true);
  assert.equal(discovery.lan_group, "239.192.74.47:7449");
  assert.equal(discovery.lan_interval_s, 30);
});

Deno.test("bad [discovery] values are refused with one line each", () => {
  const cases: [string, string, RegExp][] = [
    [
      "RHIZOME_DISCOVERY_DNS_SERVERS",
      "dns.example:53",
      /dns_servers\[0\]: expected an IP address and port/,
    ],
    ["RHIZOME_DISCOVERY_DNS_SERVERS", "1.1.1.1:53,".repeat(9), /expected at most 8 servers/],
    ["RHIZOME_DISCOVERY_DNS_KEY", "abc", /dns_key: expected an Ed25519 public key/],
    [
      "RHIZOME_DISCOVERY_DNS_NAME",
      "x".repeat(101) + ".example",
      /dns_name: expected a DNS name of at most 100/,
    ],
    ["RHIZOME_DISCOVERY_DNS_NAME", "no spaces.example", /dns_name: expected a DNS name/],
    [
      "RHIZOME_DISCOVERY_LAN_GROUP",
      "224.0.0.251:5353",
      /lan_group: expected an IPv4 multicast group/,
    ],
    ["RHIZOME_DISCOVERY_LAN_GROUP", "239.1.2.3", /lan_group: expected an IPv4 multicast group/],
    ["RHIZOME_DISCOVERY_LAN_INTERFACE", "eth0", /lan_interface: expected an IPv4 address/],
    ["RHIZOME_DISCOVERY_LAN_INTERVAL_S", "0", /lan_interval_s: expected an integer 1\.\.3600/],
    [
      "RHIZOME_DISCOVERY_SEEDS",
      "rhz://x@y:1",
      /seeds\[0\]: expected a contact URI or share string/,
    ],
  ];
  for (const [name, value, pattern] of cases) {
    assert.throws(() => resolveConfig({ env: { [name]: value } }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, pattern);
      assert.match(error.message, new RegExp(`\\(from ${name}\\)$`));
      assert.equal(error.message.split("\n").length, 1, error.message);
      return true;
    });
  }
  const off = resolveConfig({
    env: {
      RHIZOME_DISCOVERY_DNS_NAME: "",
      RHIZOME_DISCOVERY_LAN: "false",
      RHIZOME_DISCOVERY_SEEDS: "",
    },
  }).config.discovery;
  assert.equal(off.dns_name, "");
  assert.equal(off.lan, false);
  assert.deepEqual(off.seeds, []);
});
