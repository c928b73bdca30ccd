/**
 * A new seed fills its store by sync, commits to what it holds and passes its first challenges:
 * the challenger checks each proof against its own copy of the record. A record the new seed
 * loses afterwards cannot be proven. In one process, on memory stores with Rhizome's record rules.
 */

import assert from "node:assert/strict";
import { VirtualClock } from "../../../src/core/clock.ts";
import { resolveConfig } from "../../../src/core/config.ts";
import { generateEd25519KeyPair, sha256 } from "../../../src/core/crypto.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import { Prng, randomBytes, randomInt } from "../../../src/core/rng.ts";
import { docRecord, signMessage } from "../../../src/content/documents.ts";
import { encodeRecord, recordKey } from "../../../src/content/records.ts";
import { recordRules } from "../../../src/content/record_rules.ts";
import { MemoryValueStore } from "../../../src/store/memory_value_store.ts";
import { runSync, SyncServer } from "../../../src/services/sync/mod.ts";
import { HeldSet, verifyCommitment, verifyProof } from "../../../src/services/seeds/mod.ts";

Deno.test("a seed filled by sync passes its first storage challenges", async () => {
  const nowMs = Date.UTC(2026, 10, 1);
  const clock = new VirtualClock(nowMs);
  const { config } = resolveConfig();
  const author = generateEd25519KeyPair();
  const thread = NodeId.fromBytes(new Uint8Array(20).fill(2));
  const old = new MemoryValueStore({ rules: recordRules, clock, classes: config.store });
  for (let i = 0; i < 300; i++) {
    const doc = signMessage(author, {
      createdMs: nowMs - i * 1000,
      thread,
      parent: thread,
      body: `message ${i}`,
    });
    const record = docRecord(doc);
    old.put(
      { key: recordKey(record), value: encodeRecord(record), published: false },
      (error) => assert.equal(error, undefined),
    );
  }
  const fresh = new MemoryValueStore({ rules: recordRules, clock, classes: config.store });
  const server = new SyncServer({ store: old, clock });
  const report = await runSync({
    store: fresh,
    clock,
    session: new Uint8Array(8),
    exchange: (request) => Promise.resolve(server.answer("fresh", request)),
  });
  assert.equal(report.recordsStored, 300);

  const seedKey = generateEd25519KeyPair();
  const held = [...fresh.values()].map((value) => ({
    key: value.key.toBytes(),
    recordHash: sha256(value.value),
  }));
  const commitment = new HeldSet(held).commit(seedKey, 1);
  assert.ok(verifyCommitment(commitment));
  const heldSet = new HeldSet(held);
  const read = (key: Uint8Array) => fresh.get(NodeId.fromBytes(key))?.value;
  const rng = new Prng(7);
  for (let i = 0; i < 20; i++) {
    const challenge = {
      root: commitment.root,
      index: randomInt(rng, commitment.count),
      nonce: randomBytes(rng, new Uint8Array(16)),
    };
    const proof = heldSet.prove(challenge, read);
    assert.ok(proof, "the seed can answer");
    const copy = old.get(NodeId.fromBytes(proof.key))!.value;
    assert.equal(verifyProof(commitment, challenge, proof, copy), "ok");
  }
  // A record lost after committing cannot be proven.
  const lostIndex = 5;
  const lost = heldSet.prove(
    { root: commitment.root, index: lostIndex, nonce: new Uint8Array(16) },
    read,
  )!;
  fresh.delete(NodeId.fromBytes(lost.key));
  assert.equal(
    heldSet.prove({ root: commitment.root, index: lostIndex, nonce: new Uint8Array(16) }, read),
    undefined,
  );
});
