/**
 * The seeds service (its first part): proof of storage. A seed commits to the records it holds by
 * a signed Merkle root; challengers ask for random leaves with fresh nonces and check small
 * proofs; a policy per seed tells a stall (contained, re-challenged) from lost data (demoted).
 * Without I/O. Formats, limits and measured figures: `docs/seeds.md`.
 *
 * @module
 */

export { MERKLE_LEAVES_MAX, merkleLeaf, MerkleTree, verifyMerklePath } from "./merkle.ts";
export {
  CHALLENGE_NONCE_BYTES,
  commitmentSeed,
  decodeChallenge,
  decodeProof,
  encodeChallenge,
  encodeProof,
  type HeldCommitment,
  HeldSet,
  proofResponse,
  STORAGE_MESSAGE_BYTES_MAX,
  type StorageChallenge,
  type StorageProof,
  verifyCommitment,
  verifyProof,
} from "./storage_proof.ts";
export {
  CHALLENGE_ANSWER_MS,
  CHALLENGE_INTERVAL_MS,
  type ChallengeDue,
  CONTAINED_MS_MAX,
  RECHALLENGE_DELAYS_MS,
  type SeedStanding,
  SeedWatch,
} from "./challenge_policy.ts";
export {
  assignCategories,
  COMMITTEE_SIZE,
  committeeOf,
  currentLeader,
  EPOCH_MS,
  LEADER_SILENCE_MS,
  leaderOrder,
  SEED_LIST_SEEDS_MAX,
  type SeedList,
  seedListBytes,
  type SeedListEntry,
  seedListHash,
  type SeedListSignature,
  type SignedSeedList,
  signSeedList,
  supermajority,
  verifySeedList,
} from "./seed_list.ts";
