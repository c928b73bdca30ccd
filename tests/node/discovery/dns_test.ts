/**
 * DNS discovery against a DNS server the test starts on loopback: a signed list is read whole and
 * its contacts returned; an altered, unsigned, incomplete or older list gives nothing; every
 * answer, even for the longest name and contact allowed, fits 512 bytes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { generateEd25519KeyPair } from "../../../src/core/crypto.ts";
import { toBase32 } from "../../../src/core/bytes.ts";
import { dnsListNameLengthMax } from "../../../src/core/config_schema.ts";
import { formatShareString } from "../../../src/core/share_string.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import { DnsDiscovery, dnsListFileMemory } from "../../../src/node/discovery/dns.ts";
import {
  dnsEntryName,
  dnsEntryStrings,
  type DnsList,
  formatDnsListRoot,
  signDnsList,
} from "../../../src/node/discovery/dns_list.ts";
import { startDnsServer, type TestDnsServer } from "../../_dns_server.ts";
import { withTempDir } from "../../_rhizome.ts";

const listKey = generateEd25519KeyPair();
const name = "_rhizome-seeds.test.example";

function uri(host: string, port = 7447): string {
  return `rhz://${toBase32(generateEd25519KeyPair().publicKey)}@${host}:${port}`;
}

/** Puts a signed list into the server's table. */
function publish(server: TestDnsServer, list: DnsList, at = name): void {
  server.records.set(at, [[formatDnsListRoot(list)]]);
  list.entries.forEach((entry, index) => {
    server.records.set(dnsEntryName(at, index), [dnsEntryStrings(entry)]);
  });
}

async function withServer(test: (server: TestDnsServer) => Promise<void>): Promise<void> {
  const server = await startDnsServer();
  try {
    await test(server);
  } finally {
    await server.close();
  }
}

function discovery(server: TestDnsServer, key = listKey.publicKey): DnsDiscovery {
  return new DnsDiscovery({ name, key: toBase32(key), servers: [server.address] });
}

Deno.test("DnsDiscovery.fetch() returns the contacts of a signed list, long URIs split over two strings", async () => {
  await withServer(async (server) => {
    const longHost = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.example`;
    const share = formatShareString({
      nodeId: NodeId.fromHex("11".repeat(20)),
      host: "127.0.0.1",
      port: 40001,
    });
    const entries = [uri("127.0.0.1", 40000), uri(longHost), share];
    publish(server, signDnsList(name, 7, entries, listKey));
    const result = await discovery(server).fetch();
    assert.ok("contacts" in result, JSON.stringify(result));
    assert.equal(result.seq, 7);
    assert.deepEqual(result.contacts.map((c) => c.text), entries);
    assert.equal(result.contacts[1].contact.host, longHost);
    assert.equal(result.contacts[2].contact.port, 40001);
    assert.ok(dnsEntryStrings(entries[1]).length === 2, "the long URI takes two strings");
    assert.ok(server.answers.every((a) => a.bytes <= 512), JSON.stringify(server.answers));
  });
});

Deno.test("A list at the longest name with the longest contact URI fits 512-byte answers", async () => {
  await withServer(async (server) => {
    const longName = `_s.${"x".repeat(60)}.${
      "y".repeat(dnsListNameLengthMax - 60 - 3 - 9)
    }.example`;
    assert.equal(longName.length, dnsListNameLengthMax);
    const host = ["a", "b", "c"].map((c) => c.repeat(63)).join(".") + "." + "d".repeat(61);
    const entries = Array.from({ length: 12 }, () => uri(host, 65535));
    assert.equal(entries[0].length, 318);
    publish(server, signDnsList(longName, 1, entries, listKey), longName);
    const result = await new DnsDiscovery({
      name: longName,
      key: toBase32(listKey.publicKey),
      servers: [server.address],
    }).fetch();
    assert.ok("contacts" in result, JSON.stringify(result));
    assert.equal(result.contacts.length, 12);
    const largest = Math.max(...server.answers.map((a) => a.bytes));
    assert.ok(largest <= 512, `largest answer ${largest} bytes`);
  });
});

Deno.test("DnsDiscovery.fetch() refuses an altered entry, another key, a missing entry and two roots", async () => {
  await withServer(async (server) => {
    const entries = [uri("127.0.0.1", 40000), uri("127.0.0.1", 40001)];
    publish(server, signDnsList(name, 3, entries, listKey));
    server.records.set(dnsEntryName(name, 1), [[uri("127.0.0.1", 40002)]]);
    let result = await discovery(server).fetch();
    assert.ok("problem" in result && /signature/.test(result.problem), JSON.stringify(result));

    publish(server, signDnsList(name, 3, entries, listKey));
    result = await discovery(server, generateEd25519KeyPair().publicKey).fetch();
    assert.ok("problem" in result && /signature/.test(result.problem), JSON.stringify(result));

    server.records.delete(dnsEntryName(name, 1));
    result = await discovery(server).fetch();
    assert.ok("problem" in result && /entry 1\./.test(result.problem), JSON.stringify(result));

    publish(server, signDnsList(name, 3, entries, listKey));
    const root = server.records.get(name)!;
    server.records.set(name, [...root, ...root]);
    result = await discovery(server).fetch();
    assert.ok("problem" in result && /2 root records/.test(result.problem), JSON.stringify(result));

    server.records.set(name, [["v=spf1 -all"], [`v=rhz1 seq=1 n=99 sig=${"a".repeat(103)}`]]);
    result = await discovery(server).fetch();
    assert.ok("problem" in result && /limit is 32/.test(result.problem), JSON.stringify(result));
  });
});

Deno.test("DnsDiscovery.fetch() refuses a list older than one it accepted, across restarts", async () => {
  await withTempDir(async (dir) => {
    await withServer(async (server) => {
      const path = join(dir, "dns_list.json");
      const memory = () => dnsListFileMemory(path, name, toBase32(listKey.publicKey));
      const make = () =>
        new DnsDiscovery({
          name,
          key: toBase32(listKey.publicKey),
          servers: [server.address],
          memory: memory(),
        });
      publish(server, signDnsList(name, 5, [uri("127.0.0.1", 40000)], listKey));
      assert.ok("contacts" in await make().fetch());
      publish(server, signDnsList(name, 4, [uri("127.0.0.1", 40001)], listKey));
      const first = make();
      const result = await first.fetch();
      assert.ok("problem" in result && /older than 5/.test(result.problem), JSON.stringify(result));
      assert.equal(first.newestSeq, 5);
      publish(server, signDnsList(name, 5, [uri("127.0.0.1", 40000)], listKey));
      assert.ok("contacts" in await make().fetch(), "the same sequence again is accepted");
      publish(server, signDnsList(name, 6, [uri("127.0.0.1", 40003)], listKey));
      assert.ok("contacts" in await make().fetch());
      assert.equal(await memory().load(), 6);
    });
  });
});

Deno.test("DnsDiscovery.fetch() says so when there is no list or no answer", async () => {
  await withServer(async (server) => {
    const result = await discovery(server).fetch();
    assert.ok("problem" in result && /no TXT record/.test(result.problem), JSON.stringify(result));
  });
  // A socket that never answers: the fetch ends after its tries with one line.
  const { default: dgram } = await import("node:dgram");
  const silent = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", () => resolve()));
  try {
    const result = await new DnsDiscovery({
      name,
      key: toBase32(listKey.publicKey),
      servers: [`127.0.0.1:${silent.address().port}`],
    }).fetch();
    assert.ok("problem" in result && /no answer/.test(result.problem), JSON.stringify(result));
  } finally {
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});
