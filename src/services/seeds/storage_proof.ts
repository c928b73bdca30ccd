/**
 * Proof of storage, without I/O: a seed commits to the records it holds (a signed Merkle root
 * over its keys and record hashes, `merkle.ts`); a challenger names a random leaf of that
 * commitment and a fresh nonce; the seed answers with the leaf's key and record hash, the Merkle
 * path, and SHA-256 over a domain, the nonce and the record's bytes, which it can compute only
 * from the record itself. The challenger checks the path against the signed root and the answer
 * against its own copy of the record (from its store, or fetched from the network and checked
 * against the record hash). Every message is well under 1 KiB; a check is one path (at most 24
 * hashes) and one hash over the record.
 *
 * What it proves: the seed could read the record when asked. A seed may still fetch a record it
 * dropped from another holder in the answer's time; the deadline (`docs/seeds.md`) makes that
 * costly, not impossible.
 *
 * @module
 */

import { bytesEqual, concatBytes, utf8Encode } from "../../core/bytes.ts";
import { type Ed25519KeyPair, ed25519Sign, ed25519Verify, sha256 } from "../../core/crypto.ts";
import { NODE_ID_BYTES, NodeId } from "../../core/node_id.ts";
import { MERKLE_LEAVES_MAX, merkleLeaf, MerkleTree, verifyMerklePath } from "./merkle.ts";

/** Bytes of a challenge's nonce: 128 bits, never repeated by chance. */
export const CHALLENGE_NONCE_BYTES = 16;

/** Largest challenge or proof on the wire: the bound, with room to spare. */
export const STORAGE_MESSAGE_BYTES_MAX = 1024;

const commitmentDomain = utf8Encode("rhizome/held-commitment/v1");
const proofDomain = utf8Encode("rhizome/storage-proof/v1");

/** A seed's signed statement of what it holds. */
export interface HeldCommitment {
  /** The seed's Ed25519 public key. */
  readonly seedKey: Uint8Array;
  /** Higher replaces lower (a seed recommits as its store changes). */
  readonly seq: number;
  /** Records committed to. */
  readonly count: number;
  /** The Merkle root. */
  readonly root: Uint8Array;
  /** The seed's signature over the fields above. */
  readonly signature: Uint8Array;
}

/** A challenge: which leaf of which commitment, and a fresh nonce. */
export interface StorageChallenge {
  /** The commitment's root. */
  readonly root: Uint8Array;
  /** The leaf, chosen at random by the challenger. */
  readonly index: number;
  /** Fresh randomness. */
  readonly nonce: Uint8Array;
}

/** A seed's answer. */
export interface StorageProof {
  /** The leaf's record key. */
  readonly key: Uint8Array;
  /** SHA-256 of the record. */
  readonly recordHash: Uint8Array;
  /** SHA-256(domain ‖ nonce ‖ record). */
  readonly response: Uint8Array;
  /** The Merkle path. */
  readonly path: Uint8Array[];
}

/** What a seed keeps to answer challenges: its tree and the key of each leaf. */
export class HeldSet {
  readonly #tree: MerkleTree;
  readonly #keys: Uint8Array[];
  readonly #hashes: Uint8Array[];

  /**
   * Commits to records.
   *
   * @param records Key and record hash of each, any order (sorted by key here); 1..2^24.
   */
  constructor(records: readonly { key: Uint8Array; recordHash: Uint8Array }[]) {
    const sorted = [...records].sort((a, b) => compare(a.key, b.key));
    this.#keys = sorted.map((record) => record.key);
    this.#hashes = sorted.map((record) => record.recordHash);
    this.#tree = new MerkleTree(sorted.map((record) => merkleLeaf(record.key, record.recordHash)));
  }

  /** Records committed to. */
  get count(): number {
    return this.#tree.count;
  }

  /** The root. */
  get root(): Uint8Array {
    return this.#tree.root;
  }

  /**
   * Signs the commitment.
   *
   * @param seed The seed's key pair.
   * @param seq Its sequence number.
   * @returns The signed commitment.
   */
  commit(seed: Ed25519KeyPair, seq: number): HeldCommitment {
    const unsigned = { seedKey: seed.publicKey, seq, count: this.count, root: this.root };
    return { ...unsigned, signature: ed25519Sign(seed, commitmentBytes(unsigned)) };
  }

  /**
   * Answers a challenge.
   *
   * @param challenge The challenge.
   * @param read Reads a held record by key (`undefined` when it is gone).
   * @returns The proof, or `undefined` when the challenge is for another root or the record is
   *   gone (the seed cannot prove it).
   */
  prove(
    challenge: StorageChallenge,
    read: (key: Uint8Array) => Uint8Array | undefined,
  ): StorageProof | undefined {
    if (!bytesEqual(challenge.root, this.root)) return undefined;
    if (challenge.index < 0 || challenge.index >= this.count) return undefined;
    const key = this.#keys[challenge.index];
    const record = read(key);
    if (!record || !bytesEqual(sha256(record), this.#hashes[challenge.index])) return undefined;
    return {
      key,
      recordHash: this.#hashes[challenge.index],
      response: proofResponse(challenge.nonce, record),
      path: this.#tree.path(challenge.index),
    };
  }
}

/**
 * Whether a commitment's signature holds.
 *
 * @param commitment The commitment.
 * @returns `true` when the seed signed it and its fields are in range.
 */
export function verifyCommitment(commitment: HeldCommitment): boolean {
  if (commitment.count < 1 || commitment.count > MERKLE_LEAVES_MAX) return false;
  if (commitment.root.length !== 32 || commitment.seedKey.length !== 32) return false;
  return ed25519Verify(commitment.seedKey, commitmentBytes(commitment), commitment.signature);
}

/**
 * The answer a seed must give: SHA-256(domain ‖ nonce ‖ record).
 *
 * @param nonce The challenge's nonce.
 * @param record The record's bytes.
 * @returns 32 bytes.
 */
export function proofResponse(nonce: Uint8Array, record: Uint8Array): Uint8Array {
  return sha256(proofDomain, nonce, record);
}

/**
 * Checks a proof against a (verified) commitment, a challenge and the challenger's copy of the
 * record: one Merkle path and two hashes over the record.
 *
 * @param commitment The seed's commitment, its signature already checked.
 * @param challenge What was asked.
 * @param proof The answer.
 * @param record The record's bytes as the challenger holds them (checked against the proof's
 *   record hash), or `undefined` to check only the path (then fetch the record and call again).
 * @returns `"ok"`, or why the proof fails.
 */
export function verifyProof(
  commitment: HeldCommitment,
  challenge: StorageChallenge,
  proof: StorageProof,
  record: Uint8Array | undefined,
): "ok" | "wrongRoot" | "badPath" | "recordMismatch" | "badResponse" | "needRecord" {
  if (!bytesEqual(challenge.root, commitment.root)) return "wrongRoot";
  if (proof.key.length !== NODE_ID_BYTES || proof.recordHash.length !== 32) return "badPath";
  const leaf = merkleLeaf(proof.key, proof.recordHash);
  if (!verifyMerklePath(commitment.root, commitment.count, challenge.index, leaf, proof.path)) {
    return "badPath";
  }
  if (record === undefined) return "needRecord";
  if (!bytesEqual(sha256(record), proof.recordHash)) return "recordMismatch";
  return bytesEqual(proofResponse(challenge.nonce, record), proof.response) ? "ok" : "badResponse";
}

/**
 * A challenge's bytes: root (32) ‖ index (u32) ‖ nonce (16) = 52 bytes.
 *
 * @param challenge The challenge.
 * @returns Its encoding.
 */
export function encodeChallenge(challenge: StorageChallenge): Uint8Array {
  const index = new Uint8Array(4);
  new DataView(index.buffer).setUint32(0, challenge.index);
  return concatBytes(challenge.root, index, challenge.nonce);
}

/**
 * Decodes a challenge.
 *
 * @param bytes 52 bytes.
 * @returns The challenge, or `undefined` when malformed.
 */
export function decodeChallenge(bytes: Uint8Array): StorageChallenge | undefined {
  if (bytes.length !== 32 + 4 + CHALLENGE_NONCE_BYTES) return undefined;
  const index = new DataView(bytes.buffer, bytes.byteOffset + 32, 4).getUint32(0);
  return { root: bytes.slice(0, 32), index, nonce: bytes.slice(36) };
}

/**
 * A proof's bytes: key (20) ‖ record hash (32) ‖ response (32) ‖ path length (1) ‖ path (32 each):
 * 85 + 32 × ⌈log2 count⌉, at most 853 bytes.
 *
 * @param proof The proof.
 * @returns Its encoding.
 */
export function encodeProof(proof: StorageProof): Uint8Array {
  return concatBytes(
    proof.key,
    proof.recordHash,
    proof.response,
    new Uint8Array([proof.path.length]),
    ...proof.path,
  );
}

/**
 * Decodes a proof.
 *
 * @param bytes The encoding.
 * @returns The proof, or `undefined` when malformed or over {@link STORAGE_MESSAGE_BYTES_MAX}.
 */
export function decodeProof(bytes: Uint8Array): StorageProof | undefined {
  if (bytes.length > STORAGE_MESSAGE_BYTES_MAX || bytes.length < 85) return undefined;
  const length = bytes[84];
  if (length > 24 || bytes.length !== 85 + 32 * length) return undefined;
  const path: Uint8Array[] = [];
  for (let i = 0; i < length; i++) path.push(bytes.slice(85 + 32 * i, 117 + 32 * i));
  return {
    key: bytes.slice(0, 20),
    recordHash: bytes.slice(20, 52),
    response: bytes.slice(52, 84),
    path,
  };
}

/**
 * The seed's node ID, from its commitment.
 *
 * @param commitment The commitment.
 * @returns The node ID its key gives.
 */
export function commitmentSeed(commitment: HeldCommitment): NodeId {
  return NodeId.fromPublicKey(commitment.seedKey);
}

function commitmentBytes(fields: {
  seedKey: Uint8Array;
  seq: number;
  count: number;
  root: Uint8Array;
}): Uint8Array {
  const numbers = new Uint8Array(16);
  const view = new DataView(numbers.buffer);
  view.setBigUint64(0, BigInt(fields.seq));
  view.setBigUint64(8, BigInt(fields.count));
  return concatBytes(commitmentDomain, fields.seedKey, numbers, fields.root);
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}
