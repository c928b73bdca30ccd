/**
 * The signed seed list, without I/O: which nodes are seeds, versioned and chained. Version v + 1
 * names the hash of version v and is valid only with the signatures of a supermajority of v's
 * committee (`committeeOf`): seeds admit and demote seeds together, and no seed alone can add
 * itself or drop another. The first version (genesis) is signed by every seed it names and is
 * pinned by its hash in the network's configuration. Every node checks a new version against the
 * one it holds, so the list converges wherever it is gossiped.
 *
 * Also here, because they follow from the list alone and any seed can check them: the leader of an
 * epoch, with its failover order, and the assignment of data categories to seeds.
 *
 * @module
 */

import { assert } from "../../core/assert.ts";
import { bytesEqual, compareBytes, utf8Encode } from "../../core/bytes.ts";
import { type Ed25519KeyPair, ed25519Sign, ed25519Verify, sha256 } from "../../core/crypto.ts";
import { NodeId } from "../../core/node_id.ts";
import { encodeCanonical } from "../../content/canonical.ts";

/**
 * Seeds a list holds at most: the list travels whole in one record (256 × about 100 bytes of entry
 * and the committee's signatures stay under 32 KiB). At the limit: a list naming more is refused.
 */
export const SEED_LIST_SEEDS_MAX = 256;

/**
 * Seeds on a version's committee: enough that a third of them failing still leaves a supermajority
 * reachable, few enough that a new version needs at most 7 signatures.
 */
export const COMMITTEE_SIZE = 9;

/** How long an epoch lasts: the leader changes every hour. */
export const EPOCH_MS = 3_600_000;

/**
 * How long the leader may be silent (no heartbeat heard) before the next in the epoch's order takes
 * over; with heartbeats every 5 s, a dead leader is replaced within 10 to 15 s, under the 30 s the
 * issue allows. Each later candidate waits one more period.
 */
export const LEADER_SILENCE_MS = 10_000;

const listDomain = utf8Encode("rhizome/seed-list/v1");
const committeeDomain = utf8Encode("rhizome/seed-committee/v1");
const leaderDomain = utf8Encode("rhizome/seed-leader/v1");
const categoryDomain = utf8Encode("rhizome/seed-category/v1");

/** One seed on the list. */
export interface SeedListEntry {
  /** Its Ed25519 public key (its node ID follows from it). */
  readonly publicKey: Uint8Array;
  /** Its contact URI. */
  readonly contact: string;
  /** When it was admitted, in seconds since the epoch. */
  readonly admittedAtS: number;
}

/** A version of the seed list, unsigned. */
export interface SeedList {
  /** 1 for genesis, then one more per change. */
  readonly version: number;
  /** SHA-256 of the previous version's bytes; 32 zero bytes for genesis. */
  readonly previous: Uint8Array;
  /** The seeds, ordered by public key, each once. */
  readonly seeds: readonly SeedListEntry[];
}

/** A signature of a version. */
export interface SeedListSignature {
  /** The signer's public key. */
  readonly publicKey: Uint8Array;
  /** Its Ed25519 signature over the version's bytes. */
  readonly signature: Uint8Array;
}

/** A version with its signatures. */
export interface SignedSeedList {
  /** The version. */
  readonly list: SeedList;
  /** Its signatures. */
  readonly signatures: readonly SeedListSignature[];
}

/**
 * A version's bytes: what is signed and hashed.
 *
 * @param list The version.
 * @returns Its canonical encoding after the domain.
 */
export function seedListBytes(list: SeedList): Uint8Array {
  const seeds = list.seeds.map((
    seed,
  ) => [seed.publicKey, utf8Encode(seed.contact), seed.admittedAtS]);
  return new Uint8Array([...listDomain, ...encodeCanonical([list.version, list.previous, seeds])]);
}

/**
 * A version's hash, which the next version names.
 *
 * @param list The version.
 * @returns SHA-256 of its bytes.
 */
export function seedListHash(list: SeedList): Uint8Array {
  return sha256(seedListBytes(list));
}

/**
 * Signs a version.
 *
 * @param list The version.
 * @param seed The signer's key pair.
 * @returns The signature.
 */
export function signSeedList(list: SeedList, seed: Ed25519KeyPair): SeedListSignature {
  return { publicKey: seed.publicKey, signature: ed25519Sign(seed, seedListBytes(list)) };
}

/**
 * The committee of a version: its first {@link COMMITTEE_SIZE} seeds in an order drawn from the
 * version's hash, so membership rotates as the list changes and nobody chooses it.
 *
 * @param list The version.
 * @returns The committee's public keys.
 */
export function committeeOf(list: SeedList): Uint8Array[] {
  const hash = seedListHash(list);
  return rank(list.seeds, (seed) => sha256(committeeDomain, hash, seed.publicKey))
    .slice(0, COMMITTEE_SIZE)
    .map((seed) => seed.publicKey);
}

/**
 * Signatures a committee of `size` needs: more than two thirds.
 *
 * @param size The committee's size.
 * @returns The threshold.
 */
export function supermajority(size: number): number {
  return Math.floor((2 * size) / 3) + 1;
}

/**
 * Checks a version against the one before it (or, for genesis, against its own seeds).
 *
 * @param next The new version and its signatures.
 * @param held The version held now; `undefined` for genesis.
 * @returns `"ok"` or why it is refused.
 */
export function verifySeedList(next: SignedSeedList, held: SeedList | undefined): string {
  const { list } = next;
  if (list.seeds.length === 0) return "the list names no seed";
  if (list.seeds.length > SEED_LIST_SEEDS_MAX) {
    return `the list names over ${SEED_LIST_SEEDS_MAX} seeds`;
  }
  for (let i = 0; i < list.seeds.length; i++) {
    if (list.seeds[i].publicKey.length !== 32) return "a seed's key is not 32 bytes";
    if (i > 0 && compareBytes(list.seeds[i - 1].publicKey, list.seeds[i].publicKey) >= 0) {
      return "the seeds are not in key order, each once";
    }
  }
  let committee: Uint8Array[];
  if (held === undefined) {
    if (list.version !== 1 || !bytesEqual(list.previous, new Uint8Array(32))) {
      return "a genesis list must be version 1 with no previous version";
    }
    committee = list.seeds.map((seed) => seed.publicKey);
  } else {
    if (list.version !== held.version + 1) {
      return `version ${list.version} does not follow the held ${held.version}`;
    }
    if (!bytesEqual(list.previous, seedListHash(held))) return "it names another previous version";
    committee = committeeOf(held);
  }
  const needed = held === undefined ? committee.length : supermajority(committee.length);
  const bytes = seedListBytes(list);
  const signers = new Set<string>();
  for (const { publicKey, signature } of next.signatures) {
    if (!committee.some((member) => bytesEqual(member, publicKey))) continue;
    const id = NodeId.fromPublicKey(publicKey).toHex();
    if (signers.has(id)) continue;
    if (!ed25519Verify(publicKey, bytes, signature)) return "a committee signature does not verify";
    signers.add(id);
  }
  if (signers.size < needed) {
    return `${signers.size} committee signatures, ${needed} of ${committee.length} needed`;
  }
  return "ok";
}

/**
 * The order in which seeds lead an epoch: the first leads; when it is silent for
 * {@link LEADER_SILENCE_MS}, the second; and so on.
 *
 * @param list The seed list.
 * @param epoch The epoch number (`Math.floor(nowMs / EPOCH_MS)`).
 * @returns The seeds' public keys in leading order.
 */
export function leaderOrder(list: SeedList, epoch: number): Uint8Array[] {
  const hash = seedListHash(list);
  const epochBytes = encodeCanonical(epoch);
  return rank(list.seeds, (seed) => sha256(leaderDomain, hash, epochBytes, seed.publicKey))
    .map((seed) => seed.publicKey);
}

/**
 * The leader now, as every node computes it from the list and when it last heard each seed: the
 * first of the epoch's order not silent for {@link LEADER_SILENCE_MS} × its place (the k-th
 * candidate waits k periods, so two candidates never take over at once).
 *
 * @param list The seed list.
 * @param nowMs Now.
 * @param lastHeardMs When each seed (by public key in hex) was last heard; absent is never.
 * @param epochStartMs When this node started counting silences in this epoch (its start, or
 *   when the node joined).
 * @returns The leader's public key.
 */
export function currentLeader(
  list: SeedList,
  nowMs: number,
  lastHeardMs: (publicKey: Uint8Array) => number | undefined,
  epochStartMs = Math.floor(nowMs / EPOCH_MS) * EPOCH_MS,
): Uint8Array {
  const order = leaderOrder(list, Math.floor(nowMs / EPOCH_MS));
  assert(order.length > 0, "a seed list names seeds");
  for (let place = 0; place < order.length; place++) {
    const heard = Math.max(lastHeardMs(order[place]) ?? -Infinity, epochStartMs);
    if (nowMs - heard < LEADER_SILENCE_MS * (place + 1)) return order[place];
  }
  return order[order.length - 1];
}

/**
 * Which seeds hold each category of data: the `replicas` seeds ranked highest for it (rendezvous
 * hashing), so removing a seed moves only its own categories and every category keeps
 * min(replicas, seeds) holders.
 *
 * @param list The seed list.
 * @param categories The categories (key ranges, thread tags), by name.
 * @param replicas Seeds per category.
 * @returns For each category, its seeds' public keys.
 */
export function assignCategories(
  list: SeedList,
  categories: readonly string[],
  replicas: number,
): Map<string, Uint8Array[]> {
  assert(Number.isInteger(replicas) && replicas >= 1, "at least one replica");
  const assignment = new Map<string, Uint8Array[]>();
  for (const category of categories) {
    const name = utf8Encode(category);
    const chosen = rank(list.seeds, (seed) => sha256(categoryDomain, name, seed.publicKey))
      .slice(0, replicas)
      .map((seed) => seed.publicKey);
    assert(chosen.length > 0 || list.seeds.length === 0, "a category always has a seed");
    assignment.set(category, chosen);
  }
  return assignment;
}

function rank<T>(items: readonly T[], score: (item: T) => Uint8Array): T[] {
  return items
    .map((item) => ({ item, score: score(item) }))
    .sort((a, b) => compareBytes(a.score, b.score))
    .map((scored) => scored.item);
}
