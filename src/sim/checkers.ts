/**
 * Checks of global state that no single node can see: how many live nodes hold a value. They
 * read the nodes' stores directly, so they measure what the DHT did, not what it reports.
 *
 * @module
 */

import type { NodeId } from "../core/node_id.ts";
import type { SimCluster } from "./cluster.ts";

/**
 * Live nodes whose store holds `key` and has not let it expire.
 *
 * @param cluster The cluster.
 * @param key The value's key.
 * @param nowMs The virtual time now (values expiring at or before it do not count).
 * @returns The count.
 */
export function countReplicas(cluster: SimCluster, key: NodeId, nowMs: number): number {
  let replicas = 0;
  for (const index of cluster.liveIndexes()) {
    const stored = cluster.store(index).get(key);
    if (stored && stored.expiresAtMs > nowMs) replicas++;
  }
  return replicas;
}

/**
 * Where the holders of `key` stand among all live nodes by XOR distance to the key: rank 0 is
 * the closest live node. A healthy DHT keeps a value on ranks 0..k-1, plus its publisher and a
 * few cached copies; a long tail of far ranks is over-replication.
 *
 * @param cluster The cluster.
 * @param key The value's key.
 * @param nowMs The virtual time now (values expiring at or before it do not count).
 * @returns The ranks of the live holders, ascending.
 */
export function replicaRanks(cluster: SimCluster, key: NodeId, nowMs: number): number[] {
  const live = cluster.liveIndexes();
  live.sort((a, b) => key.compareDistance(cluster.nodeId(a), cluster.nodeId(b)));
  const ranks: number[] = [];
  live.forEach((index, rank) => {
    const stored = cluster.store(index).get(key);
    if (stored && stored.expiresAtMs > nowMs) ranks.push(rank);
  });
  return ranks;
}
