/**
 * Rhizome inside another program: start a node in-process with an identity and a record store
 * the program gives it (in memory or LMDB) and no data dir, wait until it joined, then look up
 * nodes, put values and get them back, from anywhere or from the network only, and stop it.
 *
 * It is the node `rhizome run` starts (real UDP and TCP sockets, the authenticated secure
 * channel, the Kademlia DHT, the record rules), without the control API and without files:
 * nothing is written to disk unless the store is an LMDB one. Logs go to the `rhizome` logtape
 * category, silent until `configureLogging` (from `@rhizome/rhizome/core`) sets them up. It needs
 * `--allow-net`, `--allow-read`, `--allow-env` and `--allow-ffi` (the LMDB module loads its native
 * code on import, whatever the store), and `--allow-write` for an LMDB store.
 *
 * - {@link startNode} starts one; {@link EmbeddedNode} is the running node.
 * - {@link newIdentity} and {@link identityFromSecretKey} make identities.
 * - {@link openMemoryStore} and {@link openLmdbStore} open stores a program owns.
 * - A put resolves only once enough nodes hold the value; otherwise it rejects with a
 *   {@link ReplicationError}. Bad options and arguments reject with one line (`INVALID_INPUT`,
 *   `CONFIG_INVALID`).
 *
 * @example Two nodes on loopback: a value put on one is read from the network by the other
 * ```ts
 * import { newIdentity, startNode } from "./mod.ts";
 *
 * const first = await startNode({ identity: newIdentity() });
 * const second = await startNode({ identity: newIdentity(), bootstrap: [first.contact] });
 * try {
 *   await second.joined;
 *   const { key, holders } = await first.put(new TextEncoder().encode("hello"));
 *   if (holders !== 2) throw new Error(`expected both nodes to hold it, got ${holders}`);
 *   const value = await second.get(key, { networkOnly: true });
 *   if (new TextDecoder().decode(value) !== "hello") throw new Error("not read back");
 * } finally {
 *   await second.stop();
 *   await first.stop();
 * }
 * ```
 *
 * @module
 */

export {
  embeddedListenDefault,
  type EmbeddedNode,
  embeddedTypeDefault,
  type GetOptions,
  identityFromSecretKey,
  newIdentity,
  openLmdbStore,
  openMemoryStore,
  type Peer,
  type PutOptions,
  type PutReport,
  startNode,
  type StartNodeOptions,
} from "./embedded_node.ts";
export type { NodeStatus, NodeStore } from "./node.ts";
export type { StoredValue, ValueStore, ValueStoreStats } from "../store/value_store.ts";
export type { Identity } from "../core/identity.ts";
export type { Ed25519KeyPair } from "../core/crypto.ts";
export { NodeId } from "../core/node_id.ts";
export { NODE_TYPES, type NodeType } from "../core/config_schema.ts";
export {
  type Acknowledgements,
  ConfigError,
  type ErrorCode,
  InvalidInputError,
  ReplicationError,
  RhizomeError,
  type RhizomeErrorOptions,
  StoreError,
} from "../core/errors.ts";
