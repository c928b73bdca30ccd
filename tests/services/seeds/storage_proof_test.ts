/**
 * Proof of storage: Merkle paths verify for every leaf of trees of many shapes and fail for any
 * change; a seed's proof verifies against its signed commitment and the challenger's copy of the
 * record, and fails for a wrong nonce, a different record, another root or a lost record; the
 * encodings round-trip, refuse malformed bytes and stay under 1 KiB.
 */

import assert from "node:assert/strict";
import { generateEd25519KeyPair, sha256 } from "../../../src/core/crypto.ts";
import {
  decodeChallenge,
  decodeProof,
  encodeChallenge,
  encodeProof,
  HeldSet,
  merkleLeaf,
  MerkleTree,
  STORAGE_MESSAGE_BYTES_MAX,
  verifyCommitment,
  verifyMerklePath,
  verifyProof,
} from "../../../src/services/seeds/mod.ts";

function leaves(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => sha256(`leaf ${i}`));
}

Deno.test("verifyMerklePath() accepts every leaf's path and refuses any change", () => {
  for (let count = 1; count <= 33; count++) {
    const all = leaves(count);
    const tree = new MerkleTree(all);
    for (let index = 0; index < count; index++) {
      const path = tree.path(index);
      assert.ok(verifyMerklePath(tree.root, count, index, all[index], path), `${count}/${index}`);
      if (count > 1) {
        assert.ok(!verifyMerklePath(tree.root, count, (index + 1) % count, all[index], path));
        const bent = path.map((node, i) => i === 0 ? sha256(node) : node);
        assert.ok(!verifyMerklePath(tree.root, count, index, all[index], bent));
        assert.ok(!verifyMerklePath(tree.root, count, index, all[index], [...path, path[0]]));
      }
      assert.ok(!verifyMerklePath(tree.root, count, index, sha256("other"), path));
    }
  }
  assert.ok(!verifyMerklePath(sha256("root"), 0, 0, sha256("x"), []));
});

const records = Array.from({ length: 1000 }, (_, i) => {
  const bytes = new TextEncoder().encode(`record ${i}`);
  return { key: sha256(bytes).subarray(0, 20), bytes };
});
const byKey = new Map(records.map((record) => [record.key.join(), record.bytes]));
const read = (key: Uint8Array) => byKey.get(key.join());
const seed = generateEd25519KeyPair();
const held = new HeldSet(records.map((r) => ({ key: r.key, recordHash: sha256(r.bytes) })));
const commitment = held.commit(seed, 7);

Deno.test("a seed's proof verifies against its commitment and the record", () => {
  assert.ok(verifyCommitment(commitment));
  assert.ok(!verifyCommitment({ ...commitment, count: commitment.count + 1 }));
  const challenge = { root: commitment.root, index: 421, nonce: new Uint8Array(16).fill(5) };
  const proof = held.prove(challenge, read)!;
  const record = read(proof.key)!;
  assert.equal(verifyProof(commitment, challenge, proof, record), "ok");
  assert.equal(verifyProof(commitment, challenge, proof, undefined), "needRecord");
  assert.equal(
    verifyProof(commitment, { ...challenge, nonce: new Uint8Array(16) }, proof, record),
    "badResponse",
  );
  assert.equal(verifyProof(commitment, challenge, proof, records[0].bytes), "recordMismatch");
  assert.equal(verifyProof(commitment, { ...challenge, index: 420 }, proof, record), "badPath");
  assert.equal(
    verifyProof(commitment, { ...challenge, root: sha256("x") }, proof, record),
    "wrongRoot",
  );
  assert.equal(merkleLeaf(proof.key, proof.recordHash).length, 32);
});

Deno.test("HeldSet.prove() cannot answer for a record it lost or another root", () => {
  const challenge = { root: commitment.root, index: 3, nonce: new Uint8Array(16) };
  assert.equal(held.prove(challenge, () => undefined), undefined);
  assert.equal(held.prove(challenge, () => new Uint8Array([1, 2, 3])), undefined);
  assert.equal(held.prove({ ...challenge, root: sha256("y") }, read), undefined);
  assert.equal(held.prove({ ...challenge, index: 5000 }, read), undefined);
});

Deno.test("challenges and proofs round-trip, refuse malformed bytes and stay under 1 KiB", () => {
  const challenge = { root: commitment.root, index: 999, nonce: new Uint8Array(16).fill(1) };
  const bytes = encodeChallenge(challenge);
  assert.equal(bytes.length, 52);
  assert.deepEqual(decodeChallenge(bytes), challenge);
  assert.equal(decodeChallenge(bytes.subarray(1)), undefined);
  const proof = held.prove(challenge, read)!;
  const encoded = encodeProof(proof);
  assert.ok(encoded.length <= STORAGE_MESSAGE_BYTES_MAX);
  assert.deepEqual(decodeProof(encoded), proof);
  assert.equal(decodeProof(encoded.subarray(0, encoded.length - 1)), undefined);
  const tooLong = encoded.slice();
  tooLong[84] = 30;
  assert.equal(decodeProof(tooLong), undefined);
  assert.equal(decodeProof(new Uint8Array(2000)), undefined);
});
