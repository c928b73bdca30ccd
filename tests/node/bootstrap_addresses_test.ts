/**
 * Bootstrap contacts to addresses: IP hosts as they are, host names through the resolver given
 * (asked for IPv4 only by a node on IPv4), a failing name skipped with its reason while the
 * others are used, at most 8 names resolved at once and all within one time limit; and two real
 * nodes in this process, the second joining through a name the resolver knows only on its second
 * attempt.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveConfig } from "../../src/core/config.ts";
import { RhizomeError } from "../../src/core/errors.ts";
import { NodeId } from "../../src/core/node_id.ts";
import type { AddressFamily } from "../../src/net/host_names.ts";
import {
  type BootstrapAddresses,
  bootstrapAddresses,
  type BootstrapContact,
} from "../../src/node/bootstrap_addresses.ts";
import { DataDir } from "../../src/node/data_dir/paths.ts";
import { RhizomeNode } from "../../src/node/node.ts";
import { waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";

function contact(host: string, port = 7447): BootstrapContact {
  const shown = host.includes(":") ? `[${host}]` : host;
  return { uri: `rhz://key@${shown}:${port}`, nodeId: seedId, host, port };
}

const seedId = NodeId.fromHex("22".repeat(20));

/** The addresses found, in order; every seed is pinned to its contact's node ID. */
function addressesOf(found: BootstrapAddresses): string[] {
  assert.ok(found.seeds.every((seed) => seed.contact.nodeId.equals(seedId)));
  return found.seeds.map((seed) => seed.contact.address.key);
}

const names: Record<string, string[]> = {
  "seed.example.org": ["2001:db8::10", "192.0.2.10", "192.0.2.11"],
  "v6only.example.org": ["2001:db8::20"],
  "same.example.org": ["192.0.2.1"],
};

/** A resolver over {@link names} that answers for the family asked, as the system's does. */
const asked: [string, AddressFamily][] = [];
async function resolve(host: string, family: AddressFamily): Promise<string[]> {
  asked.push([host, family]);
  await Promise.resolve();
  const found = (names[host] ?? []).filter((address) =>
    family === 0 || (family === 4) !== address.includes(":")
  );
  if (found.length === 0) {
    throw new RhizomeError("UNAVAILABLE", family ? `it has no IPv${family} address` : "unknown");
  }
  return found;
}

Deno.test("bootstrap addresses: IP hosts as they are, names resolved, duplicates once", async () => {
  asked.length = 0;
  const found = await bootstrapAddresses(
    [
      contact("192.0.2.1"),
      contact("2001:DB8:0:0::1", 7448),
      contact("seed.example.org"),
      contact("same.example.org"),
      contact("localhost", 7449),
    ],
    resolve,
    false,
  );
  assert.deepEqual(addressesOf(found), [
    "192.0.2.1:7447",
    "[2001:db8::1]:7448",
    "[2001:db8::10]:7447",
    "192.0.2.10:7447",
    "192.0.2.11:7447",
    "127.0.0.1:7449",
  ]);
  assert.deepEqual(found.problems, []);
  // localhost is 127.0.0.1 without asking; a dual-stack node asks for both families.
  assert.deepEqual(asked, [["seed.example.org", 0], ["same.example.org", 0]]);
});

Deno.test("bootstrap addresses: a node on IPv4 asks for IPv4, keeps mapped addresses", async () => {
  asked.length = 0;
  const found = await bootstrapAddresses(
    [
      contact("seed.example.org"),
      contact("v6only.example.org"),
      contact("2001:db8::5"),
      contact("::ffff:192.0.2.7"),
    ],
    resolve,
    true,
  );
  assert.deepEqual(addressesOf(found), ["192.0.2.10:7447", "192.0.2.11:7447", "192.0.2.7:7447"]);
  assert.deepEqual(found.problems, [
    { uri: "rhz://key@v6only.example.org:7447", problem: "it has no IPv4 address" },
    {
      uri: "rhz://key@[2001:db8::5]:7447",
      problem: "it has only IPv6 addresses (2001:db8::5), and this node listens on IPv4",
    },
  ]);
  assert.deepEqual(asked, [["seed.example.org", 4], ["v6only.example.org", 4]]);
});

Deno.test("bootstrap addresses: a name that fails is skipped with its reason, the rest used", async () => {
  const found = await bootstrapAddresses(
    [contact("gone.example.org"), contact("seed.example.org"), contact("1.2.3")],
    resolve,
    true,
  );
  assert.deepEqual(addressesOf(found), ["192.0.2.10:7447", "192.0.2.11:7447"]);
  assert.deepEqual(found.problems, [
    { uri: "rhz://key@gone.example.org:7447", problem: "it has no IPv4 address" },
    { uri: "rhz://key@1.2.3:7447", problem: "it is not an IP address and port (1.2.3)" },
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
  assert.equal(addressesOf(found).length, 30);
  assert.equal(addressesOf(found)[29], "192.0.2.30:7447");
  assert.equal(most, 8);
});

Deno.test("bootstrap addresses: a silent resolver costs the time limit once, for all names", async () => {
  const silent = () => new Promise<string[]>(() => {});
  const contacts = Array.from({ length: 20 }, (_, index) => contact(`n${index}.example.org`));
  const started = Date.now();
  const found = await bootstrapAddresses([contact("192.0.2.1"), ...contacts], silent, true, 50);
  assert.ok(Date.now() - started < 2_000);
  assert.deepEqual(addressesOf(found), ["192.0.2.1:7447"]);
  assert.equal(found.problems.length, 20);
  for (const { problem } of found.problems) {
    assert.equal(problem, "the resolver did not answer within 0.05 s");
  }
});

Deno.test("a node joins through a host name its resolver knows on the second attempt", async () => {
  await withTempDir(async (root) => {
    const config = (bootstrap: string[] = []) =>
      resolveConfig({
        overrides: [
          { path: "node.listen", value: "127.0.0.1:0", origin: "test" },
          { path: "node.type", value: "full", origin: "test" },
          { path: "node.bootstrap", value: bootstrap, origin: "test" },
        ],
      }).config;
    const first = await RhizomeNode.start({
      dataDir: new DataDir(join(root, "a")),
      config: config(),
    });
    let second: RhizomeNode | undefined;
    try {
      const named = first.contact.replace("@127.0.0.1:", "@seed.test:");
      const lookups: [string, AddressFamily][] = [];
      const flaky = (host: string, family: AddressFamily) => {
        lookups.push([host, family]);
        return lookups.length === 1
          ? Promise.reject(new RhizomeError("UNAVAILABLE", "it does not resolve"))
          : Promise.resolve(["127.0.0.1"]);
      };
      second = await RhizomeNode.start({
        dataDir: new DataDir(join(root, "b")),
        config: config([named]),
        resolveHost: flaky,
      });
      const joined = second;
      await waitFor(
        "the second node to know the first",
        () => Promise.resolve(joined.peers().some((peer) => peer.node_id === first.nodeId.toHex())),
      );
      assert.deepEqual(lookups.slice(0, 2), [["seed.test", 4], ["seed.test", 4]]);
    } finally {
      await second?.stop("the test is over");
      await first.stop("the test is over");
    }
  });
});
