/**
 * "Joins by itself": `rhizome run` with no flags at all (its settings in the data dir's
 * config.toml, as an operator would write them) joins a network of two real nodes on loopback,
 * through a DNS server this test runs (a signed TXT list naming one of them) and, when the DNS
 * list cannot be trusted, through LAN multicast on loopback. Each time the node logs which
 * source worked, and `status` says so. The built-in seeds stay at their placeholders, which
 * never resolve: the fall-through from them is part of what is tested.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import denoConfig from "../../../deno.json" with { type: "json" };
import { permissionFlags } from "../../../scripts/compile.ts";
import { ControlClient } from "../../../src/api/control_client.ts";
import { controlRoutes } from "../../../src/api/routes.ts";
import { toBase32 } from "../../../src/core/bytes.ts";
import { generateEd25519KeyPair } from "../../../src/core/crypto.ts";
import {
  dnsEntryName,
  dnsEntryStrings,
  formatDnsListRoot,
  signDnsList,
} from "../../../src/node/discovery/dns_list.ts";
import { startDnsServer, type TestDnsServer } from "../../_dns_server.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../../_node_process.ts";
import { withTempDir } from "../../_rhizome.ts";

const mainPath = new URL("../../../main.ts", import.meta.url).pathname;
const listName = "_rhizome-seeds.test.example";

/** A multicast group and port of this run's own, so tests running beside it never hear it. */
function lanGroup(): string {
  const byte = () => 1 + Math.floor(Math.random() * 250);
  return `239.255.${byte()}.${byte()}:${20000 + Math.floor(Math.random() * 20000)}`;
}

/** The config.toml of a node: loopback ports of the system's choice, LAN on loopback. */
function configToml(group: string, dns?: { server: string; key: string }): string {
  return [
    "[node]",
    'listen = "127.0.0.1:0"',
    'api = "127.0.0.1:0"',
    "[discovery]",
    `lan_group = "${group}"`,
    'lan_interface = "127.0.0.1"',
    "lan_interval_s = 5",
    dns
      ? `dns_name = "${listName}"\ndns_key = "${dns.key}"\ndns_servers = ["${dns.server}"]`
      : 'dns_name = ""',
    "",
  ].join("\n");
}

/** A `rhizome run` with no arguments but the command, its data dir from the environment. */
interface BareRun {
  child: Deno.ChildProcess;
  stderr(): string;
  exited: Promise<number>;
}

function runBare(dataDir: string): BareRun {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissionFlags(denoConfig.tasks.rhizome), mainPath, "run"],
    env: {
      NO_COLOR: "1",
      HOME: dataDir,
      PATH: Deno.env.get("PATH") ?? "",
      RHIZOME_DATA_DIR: dataDir,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let logged = "";
  const done = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      logged = (logged + text).slice(-64 * 1024);
    }
  })();
  return {
    child,
    stderr: () => logged,
    exited: child.status.then(async (status) => {
      await done.catch(() => {});
      return status.code;
    }),
  };
}

/** Publishes a list naming `contacts`, signed by `key`, in the server's table. */
function publish(
  server: TestDnsServer,
  contacts: string[],
  key: ReturnType<typeof generateEd25519KeyPair>,
): void {
  const list = signDnsList(listName, 1, contacts, key);
  server.records.set(listName, [[formatDnsListRoot(list)]]);
  list.entries.forEach((entry, index) => {
    server.records.set(dnsEntryName(listName, index), [dnsEntryStrings(entry)]);
  });
}

/** Two LAN peers that found each other over multicast, and the bare run's outcome. */
async function joinByItself(
  root: string,
  dns: (server: TestDnsServer, peers: NodeProcess[]) => void,
): Promise<{ status: Record<string, unknown>; log: string; peers: NodeProcess[] }> {
  const group = lanGroup();
  const server = await startDnsServer();
  const listKey = generateEd25519KeyPair();
  const peers: NodeProcess[] = [];
  let bare: BareRun | undefined;
  try {
    for (const index of [0, 1]) {
      await Deno.mkdir(nodeDir(root, index), { recursive: true });
      await Deno.writeTextFile(join(nodeDir(root, index), "config.toml"), configToml(group));
      peers.push(await startNode(nodeDir(root, index)));
    }
    // Whichever hears the other first joins through it; both know each other then.
    await waitFor("the two LAN peers to find each other", async () => {
      for (const peer of peers) {
        const status = await (await peer.client()).call(controlRoutes.status);
        if (status.contacts < 1) return false;
      }
      return peers.some((peer) =>
        /joined the network through 1 contacts from "the nodes heard on the LAN"/.test(
          peer.stderr(),
        )
      );
    }, 30_000);
    dns(server, peers);
    const dir = nodeDir(root, 2);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, "config.toml"),
      configToml(group, { server: server.address, key: toBase32(listKey.publicKey) }),
    );
    // The list is signed by the key the node pins, unless the scenario replaced it.
    if (!server.records.has(listName)) publish(server, [peers[0].contact], listKey);
    bare = runBare(dir);
    let status: Record<string, unknown> = {};
    await waitFor("the bare `rhizome run` to join both peers", async () => {
      const client = await ControlClient.fromDataDir(dir);
      status = await client.call(controlRoutes.status);
      return status.contacts === 2 && /joined the network through/.test(bare!.stderr());
    }, 40_000);
    return { status, log: bare.stderr(), peers };
  } catch (error) {
    for (const [index, peer] of peers.entries()) {
      console.error(`--- peer ${index} ---\n${peer.stderr().slice(-3000)}`);
    }
    console.error(`--- bare run ---\n${bare?.stderr().slice(-5000)}`);
    throw error;
  } finally {
    if (bare) {
      bare.child.kill("SIGTERM");
      await bare.exited;
    }
    for (const peer of peers) await killNode(peer);
    await server.close();
  }
}

Deno.test({
  name:
    "`rhizome run` with no flags joins through a signed DNS list, after the built-in seeds fail",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const { status, log } = await joinByItself(root, () => {});
      assert.match(log, /skipping bootstrap contact rhz:\/\/\S+@seed1\.rhizome\.invalid:7447/);
      assert.match(
        log,
        /discovery: "the built-in seeds": "none of its 3 contacts has a usable address"/,
      );
      assert.match(
        log,
        /joined the network through 1 contacts from "the DNS list _rhizome-seeds\.test\.example"/,
      );
      const discovery = status.discovery as { joined_through: string; dns: { newest_seq: number } };
      assert.equal(discovery.joined_through, "dns");
      assert.equal(discovery.dns.newest_seq, 1);
    });
  },
});

Deno.test({
  name:
    "`rhizome run` with no flags falls back to the LAN when the DNS list is not signed by its key",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const { status, log } = await joinByItself(root, (server, peers) => {
        publish(server, [peers[0].contact], generateEd25519KeyPair());
      });
      assert.match(
        log,
        /discovery: "the DNS list _rhizome-seeds\.test\.example": "its signature does not check/,
      );
      assert.match(
        log,
        /joined the network through [12] contacts from "the nodes heard on the LAN"/,
      );
      const discovery = status.discovery as { joined_through: string; lan: { accepted: number } };
      assert.equal(discovery.joined_through, "lan");
      assert.ok(discovery.lan.accepted >= 1);
    });
  },
});
