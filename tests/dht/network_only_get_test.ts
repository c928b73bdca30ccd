/**
 * `DhtNode.get(key, done, { networkOnly: true })` asks other nodes only: a copy held only here is
 * not found, a copy the others hold is, and a plain get still answers from the node's own copy.
 * Simulation tests name their seed in their messages.
 */

import assert from "node:assert/strict";
import { contentKey } from "../../src/core/content_key.ts";
import type { GetResult, PutResult } from "../../src/dht/types.ts";
import { runOne } from "../../src/sim/operations.ts";
import { joinedCluster, NodeHarness, settingsFor } from "./_helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("a lone node's network-only get does not return its own copy", () => {
  const h = new NodeHarness(0x0e1, settingsFor("full"));
  let put: PutResult | undefined;
  h.node.put(text("only here"), (done) => put = done);
  h.advance(1000);
  assert.ok(put?.ok);
  let local: GetResult | undefined;
  h.node.get(put.key, (done) => local = done);
  assert.ok(local?.value, "a plain get answers from the copy held here at once");
  let remote: GetResult | undefined;
  h.node.get(put.key, (done) => remote = done, { networkOnly: true });
  h.advance(1000);
  assert.ok(remote, "the network-only get finished");
  assert.equal(remote.value, undefined);
});

Deno.test("in a network, a network-only get finds what the others hold, not what only this node holds", () => {
  const simSeed = 7_331;
  const { network, cluster, nodes } = joinedCluster(simSeed, 8, settingsFor("full"));
  const put = runOne<PutResult>(network, (done) => cluster.put(0, text("everywhere"), done));
  assert.ok(put.ok, `simSeed ${simSeed}`);
  const found = runOne<GetResult>(
    network,
    (done) => nodes[5].get(put.key, done, { networkOnly: true }),
  );
  assert.deepEqual(found.value, text("everywhere"), `simSeed ${simSeed}`);

  const value = text("only on node 5");
  const key = contentKey(value);
  cluster.store(5).put(
    { key, value, ttlMs: 3_600_000, published: false },
    (error) => assert.equal(error, undefined),
  );
  const plain = runOne<GetResult>(network, (done) => nodes[5].get(key, done));
  assert.deepEqual(plain.value, value, `simSeed ${simSeed}`);
  const remote = runOne<GetResult>(
    network,
    (done) => nodes[5].get(key, done, { networkOnly: true }),
  );
  assert.equal(remote.value, undefined, `simSeed ${simSeed}: nobody else holds it`);
});
