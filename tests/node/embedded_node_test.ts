/**
 * The embedding API (src/node/mod.ts) end to end: nodes started in this process on real UDP and
 * TCP sockets on loopback, with injected identities and stores and no data dir. Three nodes join
 * and a value put on one is read from the network by another; a network-only get ignores the
 * node's own copy; a put that no node holds rejects with its code; stop frees the port; an LMDB
 * store and an identity outlive the node; bad options and arguments reject with one line. Below
 * it, a RhizomeNode without a data dir needs an identity and a named type, and refuses what only
 * a data dir gives (snapshot import into LMDB, author keys).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseContactUri } from "../../src/core/contact_uri.ts";
import { bytesEqual, utf8Decode, utf8Encode } from "../../src/core/bytes.ts";
import {
  type EmbeddedNode,
  identityFromSecretKey,
  newIdentity,
  openLmdbStore,
  openMemoryStore,
  ReplicationError,
  RhizomeError,
  startNode,
  type StartNodeOptions,
} from "../../src/node/mod.ts";
import { resolveConfig } from "../../src/core/config.ts";
import { SystemClock } from "../../src/core/system_clock.ts";
import { MemoryValueStore } from "../../src/store/memory_value_store.ts";
import { RhizomeNode } from "../../src/node/node.ts";
import { withTempDir } from "../_rhizome.ts";
import { waitFor } from "../_node_process.ts";

/** Starts nodes and stops them all when `run` ends, whatever happened. */
async function withNodes(
  run: (start: (options?: Partial<StartNodeOptions>) => Promise<EmbeddedNode>) => Promise<void>,
): Promise<void> {
  const nodes: EmbeddedNode[] = [];
  try {
    await run(async (options = {}) => {
      const node = await startNode({ identity: newIdentity(), ...options });
      nodes.push(node);
      return node;
    });
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
  }
}

/** The port a node's contact URI names. */
function portOf(node: EmbeddedNode): number {
  return parseContactUri(node.contact).port;
}

/** Checks that `promise` rejects with a Rhizome error of `code` whose message is one line. */
async function rejectsWithOneLine(promise: Promise<unknown>, code: string): Promise<string> {
  let message = "";
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RhizomeError, `a RhizomeError, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes("\n"), `one line: ${error.message}`);
    message = error.message;
    return true;
  });
  return message;
}

Deno.test("three embedded nodes join; a value put on one is read from the network by another", async () => {
  await withNodes(async (start) => {
    const first = await start();
    await first.joined;
    const second = await start({ bootstrap: [first.contact] });
    const third = await start({ bootstrap: [first.contact] });
    await Promise.all([second.joined, third.joined]);

    assert.equal(third.status().node_id, third.nodeId);
    assert.ok(third.status().contacts >= 1, "it knows the node it joined through");
    const found = await third.lookup(second.nodeId);
    const ids = found.map((peer) => peer.nodeId);
    assert.equal(ids[0], second.nodeId, "the lookup finds the node with that ID first");
    assert.ok(ids.includes(first.nodeId), "and the other node it knows");
    assert.ok(!ids.includes(third.nodeId), "never itself");

    const value = utf8Encode("embedded in another program");
    const report = await first.put(value);
    assert.match(report.key, /^[0-9a-f]{40}$/);
    assert.equal(report.holders, 3, "every node of three is among the k closest");
    assert.equal(report.quorum, 2);
    assert.equal(report.stored, 2);

    const read = await second.get(report.key, { networkOnly: true });
    assert.ok(read !== undefined && bytesEqual(read, value), "read back from the others");
    assert.equal(utf8Decode((await third.get(report.key))!), "embedded in another program");
  });
});

Deno.test("a network-only get ignores the node's own copy", async () => {
  await withNodes(async (start) => {
    const alone = await start();
    await alone.joined;
    const { key, holders, quorum } = await alone.put(utf8Encode("only here"));
    assert.equal(holders, 1, "a lone node's own copy is the one holder there can be");
    assert.equal(quorum, 1);
    assert.equal(utf8Decode((await alone.get(key))!), "only here");
    assert.equal(await alone.get(key, { networkOnly: true }), undefined, "no other node holds it");
  });
});

Deno.test("a put that no node holds rejects with NOT_STORED", async () => {
  await withNodes(async (start) => {
    // A mobile node is a DHT client: its own copy never counts, and it knows nobody else.
    const client = await start({ type: "mobile" });
    await client.joined;
    const message = await rejectsWithOneLine(client.put(utf8Encode("nobody")), "NOT_STORED");
    assert.match(message, /0 of the 1 holders needed acknowledged it/);
    await assert.rejects(client.put(utf8Encode("nobody")), (error: unknown) => {
      assert.ok(error instanceof ReplicationError);
      assert.deepEqual(error.acknowledgements, { stored: 0, holders: 0, quorum: 1 });
      return true;
    });
  });
});

Deno.test("a put whose other holders left rejects with NOT_REPLICATED", async () => {
  await withNodes(async (start) => {
    const first = await start();
    const second = await start({ bootstrap: [first.contact] });
    await second.joined;
    // The second node leaves; the first knew it, so two holders could exist and two are needed
    // even with its routing table empty.
    await second.stop();
    await waitFor(
      "the LEAVE to empty the table",
      () => Promise.resolve(first.status().contacts === 0),
    );
    const message = await rejectsWithOneLine(first.put(utf8Encode("left")), "NOT_REPLICATED");
    assert.match(message, /only 1 of the 2 holders needed acknowledged it/);
  });
});

Deno.test("stop frees the port: a node starts on it again at once", async () => {
  await withNodes(async (start) => {
    const first = await start();
    const port = portOf(first);
    await first.stop();
    assert.equal(await first.stop(), undefined, "a second stop is the same stop");
    await first.stopped;
    const again = await start({ listen: `127.0.0.1:${port}` });
    assert.equal(portOf(again), port);
  });
});

Deno.test("an injected LMDB store and identity outlive the node they ran", async () => {
  await withTempDir(async (root) => {
    const store = openLmdbStore(join(root, "records.mdb"));
    const secretKey = newIdentity().keyPair.secretKey;
    try {
      let key = "";
      let nodeId = "";
      await withNodes(async (start) => {
        const node = await start({ identity: identityFromSecretKey(secretKey), store });
        nodeId = node.nodeId;
        key = (await node.put(utf8Encode("kept on disk"))).key;
      });
      assert.equal(store.stats().values, 1, "the store stays open after the node stopped");
      await withNodes(async (start) => {
        const node = await start({ identity: identityFromSecretKey(secretKey), store });
        assert.equal(node.nodeId, nodeId, "the same secret key is the same node");
        assert.equal(utf8Decode((await node.get(key))!), "kept on disk");
      });
    } finally {
      await store.close();
    }
  });
});

Deno.test("an injected memory store serves the next node started on it", async () => {
  const store = openMemoryStore();
  try {
    let key = "";
    await withNodes(async (start) => {
      key = (await (await start({ store })).put(utf8Encode("in memory"))).key;
    });
    await withNodes(async (start) => {
      assert.equal(utf8Decode((await (await start({ store })).get(key))!), "in memory");
    });
  } finally {
    await store.close();
  }
});

Deno.test("startNode() rejects bad options with one line and starts nothing", async () => {
  const identity = newIdentity();
  const cases: [string, unknown, string, RegExp][] = [
    ["no options", undefined, "INVALID_INPUT", /options must be an object/],
    ["no identity", {}, "INVALID_INPUT", /options\.identity must be an identity/],
    [
      "a forged identity",
      { identity: { ...identity, nodeId: newIdentity().nodeId } },
      "INVALID_INPUT",
      /options\.identity must be an identity/,
    ],
    [
      "a key pair that is not the identity's",
      {
        identity: {
          ...identity,
          keyPair: { ...newIdentity().keyPair, publicKey: identity.keyPair.publicKey },
        },
      },
      "INVALID_INPUT",
      /options\.identity must be an identity/,
    ],
    ["an unknown option", { identity, port: 1 }, "INVALID_INPUT", /unknown option port/],
    ["a store that is not one", { identity, store: {} }, "INVALID_INPUT", /options\.store/],
    [
      "a store with rules of its own",
      {
        identity,
        store: new MemoryValueStore({
          clock: new SystemClock(),
          classes: resolveConfig().config.store,
        }),
      },
      "INVALID_INPUT",
      /options\.store must be a store checking Rhizome's records/,
    ],
    ["an unknown type", { identity, type: "huge" }, "INVALID_INPUT", /options\.type must be/],
    ["a bad listen address", { identity, listen: "nowhere" }, "CONFIG_INVALID", /node\.listen/],
    ["a bad bootstrap URI", { identity, bootstrap: ["http://x"] }, "CONFIG_INVALID", /bootstrap/],
    [
      "a bad setting",
      { identity, settings: { "dht.k": -1, "dht.alpha": 0 } },
      "CONFIG_INVALID",
      /dht\.k: .*; dht\.alpha/,
    ],
    ["an unknown setting", { identity, settings: { "dht.nope": 1 } }, "CONFIG_INVALID", /nope/],
    ["settings not an object", { identity, settings: 3 }, "INVALID_INPUT", /options\.settings/],
  ];
  for (const [what, options, code, pattern] of cases) {
    const message = await rejectsWithOneLine(startNode(options as StartNodeOptions), code);
    assert.match(message, pattern, what);
  }
});

Deno.test("an embedded node rejects bad arguments with one line", async () => {
  await withNodes(async (start) => {
    const node = await start();
    await rejectsWithOneLine(node.get("not a key"), "INVALID_INPUT");
    await rejectsWithOneLine(node.lookup("ab".repeat(21)), "INVALID_INPUT");
    await rejectsWithOneLine(node.put("text" as unknown as Uint8Array), "INVALID_INPUT");
    await rejectsWithOneLine(node.put(utf8Encode("x"), { ttlS: 0 }), "INVALID_INPUT");
    await rejectsWithOneLine(node.put(new Uint8Array(200_000)), "RECORD_INVALID");
    // It still works.
    const { key } = await node.put(utf8Encode("still serving"));
    assert.equal(utf8Decode((await node.get(key))!), "still serving");
  });
});

Deno.test("a node stopped before it joined rejects joined with UNAVAILABLE", async () => {
  await withNodes(async (start) => {
    // A contact on a port nobody answers: the node keeps trying until it stops.
    const silent = await start();
    const contact = silent.contact;
    await silent.stop();
    const waiting = await start({ bootstrap: [contact] });
    const joined = waiting.joined;
    await waiting.stop();
    await rejectsWithOneLine(joined, "UNAVAILABLE");
  });
});

Deno.test("RhizomeNode.start() without a data dir needs an identity and a named type", async () => {
  const { config } = resolveConfig({
    overrides: [{ path: "node.listen", value: "127.0.0.1:0", origin: "test" }],
  });
  const noIdentity = await rejectsWithOneLine(RhizomeNode.start({ config }), "INVALID_INPUT");
  assert.match(noIdentity, /without a data dir: give it an identity/);
  const auto = await rejectsWithOneLine(
    RhizomeNode.start({ config, identity: newIdentity() }),
    "INVALID_INPUT",
  );
  assert.match(auto, /as node\.type auto .*name its type/);
  const node = await RhizomeNode.start({ config, identity: newIdentity(), flagType: "light" });
  try {
    assert.equal(node.type, "light");
    await rejectsWithOneLine(
      node.importSnapshot("/nonexistent.snapshot.gz"),
      "UNAVAILABLE",
    );
    await rejectsWithOneLine(node.newThread({ title: "t", body: "b", tags: [] }), "AUTHOR_MISSING");
  } finally {
    await node.stop();
  }
});
