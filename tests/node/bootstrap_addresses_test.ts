/**
 * Bootstrap contacts to addresses: IP hosts as they are, host names through the resolver given,
 * a failing name skipped with its reason while the others are used, IPv6 results dropped for a
 * node on IPv4, and at most 8 names resolved at once.
 */

import assert from "node:assert/strict";
import { RhizomeError } from "../../src/core/errors.ts";
import { bootstrapAddresses, type BootstrapContact } from "../../src/node/bootstrap_addresses.ts";

function contact(host: string, port = 7447): BootstrapContact {
  const shown = host.includes(":") ? `[${host}]` : host;
  return { uri: `rhz://key@${shown}:${port}`, host, port };
}

const names: Record<string, string[]> = {
  "seed.example.org": ["192.0.2.10", "2001:db8::10", "192.0.2.11"],
  "v6only.example.org": ["2001:db8::20"],
  "same.example.org": ["192.0.2.1"],
};

async function resolve(host: string): Promise<string[]> {
  await Promise.resolve();
  const found = names[host];
  if (!found) throw new RhizomeError("UNAVAILABLE", "it does not resolve");
  return found;
}

Deno.test("bootstrap addresses: IP hosts as they are, names resolved, duplicates once", async () => {
  const found = await bootstrapAddresses(
    [
      contact("192.0.2.1"),
      contact("2001:DB8:0:0::1", 7448),
      contact("seed.example.org"),
      contact("same.example.org"),
    ],
    resolve,
    false,
  );
  assert.deepEqual(found.addresses, [
    "192.0.2.1:7447",
    "[2001:db8::1]:7448",
    "192.0.2.10:7447",
    "[2001:db8::10]:7447",
    "192.0.2.11:7447",
  ]);
  assert.deepEqual(found.problems, []);
});

Deno.test("bootstrap addresses: a name that fails is skipped with its reason, the rest used", async () => {
  const found = await bootstrapAddresses(
    [contact("gone.example.org"), contact("seed.example.org"), contact("1.2.3")],
    resolve,
    true,
  );
  assert.deepEqual(found.addresses, ["192.0.2.10:7447", "192.0.2.11:7447"]);
  assert.deepEqual(found.problems, [
    { uri: "rhz://key@gone.example.org:7447", problem: "it does not resolve" },
    { uri: "rhz://key@1.2.3:7447", problem: "it is not an IP address and port (1.2.3)" },
  ]);
});

Deno.test("bootstrap addresses: a node on IPv4 drops IPv6 results and says when none is left", async () => {
  const found = await bootstrapAddresses(
    [contact("v6only.example.org"), contact("2001:db8::5")],
    resolve,
    true,
  );
  assert.deepEqual(found.addresses, []);
  assert.deepEqual(found.problems.map((problem) => problem.problem), [
    "it has only IPv6 addresses (2001:db8::20), and this node listens on IPv4",
    "it has only IPv6 addresses (2001:db8::5), and this node listens on IPv4",
  ]);
});

Deno.test("bootstrap addresses: at most 8 names resolve at once, all of them in the end", async () => {
  let inFlight = 0;
  let most = 0;
  const counting = async (host: string) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 1));
    inFlight--;
    return [`192.0.2.${Number(host.split(".")[0].slice(1))}`];
  };
  const contacts = Array.from({ length: 30 }, (_, index) => contact(`n${index + 1}.example.org`));
  const found = await bootstrapAddresses(contacts, counting, true);
  assert.equal(found.addresses.length, 30);
  assert.equal(found.addresses[29], "192.0.2.30:7447");
  assert.equal(most, 8);
});
