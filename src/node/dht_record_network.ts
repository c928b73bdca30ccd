/**
 * The discussion service's view of the network, on the node's DHT: records published under their
 * keys (durable here first, then at the k closest) and fetched verified, versioned records
 * reconciled across every holder.
 *
 * @module
 */

import { RhizomeError } from "../core/errors.ts";
import type { NodeId } from "../core/node_id.ts";
import { decodeStoredRecord, type DhtRecord, encodeRecord, recordKey } from "../content/records.ts";
import type { DhtNode } from "../dht/node.ts";
import type { RecordNetwork } from "../discussion/record_network.ts";

/** {@link RecordNetwork} on a running node's DHT. */
export class DhtRecordNetwork implements RecordNetwork {
  readonly #dht: DhtNode;
  readonly #wake: () => void;

  /**
   * Wraps a DHT node.
   *
   * @param dht The node's DHT (its value rules verify Rhizome's records).
   * @param wake Reschedules the DHT's driver after an operation starts.
   */
  constructor(dht: DhtNode, wake: () => void) {
    this.#dht = dht;
    this.#wake = wake;
  }

  /**
   * Publishes a record: this node's copy is durable, then the k closest nodes are asked to store it.
   *
   * @param record The record (already signed).
   * @returns Its key and how many other nodes acknowledged it durably.
   * @throws {RhizomeError} `RECORD_INVALID` when it does not verify; `UNAVAILABLE` when no node,
   *   this one included, could keep it.
   */
  publish(record: DhtRecord): Promise<{ key: NodeId; stored: number }> {
    const key = recordKey(record);
    const bytes = encodeRecord(record);
    return new Promise((resolve, reject) => {
      try {
        this.#dht.putAt(key, bytes, (result) => {
          if (result.localError && result.stored === 0) {
            const reason = result.localError.message;
            if (result.localError instanceof RhizomeError) return reject(result.localError);
            return reject(
              new RhizomeError("UNAVAILABLE", `Cannot publish ${key.toHex()}: ${reason}`),
            );
          }
          resolve({ key, stored: result.stored });
        });
      } catch (error) {
        // putAt refuses only a record its own rules refuse: say so in the record's terms.
        const reason = error instanceof Error ? error.message : String(error);
        return reject(new RhizomeError("RECORD_INVALID", reason));
      }
      this.#wake();
    });
  }

  /**
   * Finds a record: the first verified copy of an immutable one; every holder's version of a
   * signed record or set, reconciled.
   *
   * @param key The key.
   * @returns The record, or `undefined` when no holder answered with it.
   */
  fetch(key: NodeId): Promise<DhtRecord | undefined> {
    return new Promise((resolve) => {
      this.#dht.get(key, (result) => {
        // The DHT's value rules verified it (key, signatures, content rules) before it got here.
        resolve(result.value ? decodeStoredRecord(result.value) : undefined);
      });
      this.#wake();
    });
  }
}
