/**
 * How well the DHT serves, beside its traffic counters: how long lookups take and how many
 * succeed, and how many held records the last push found short of holders. The node's metrics
 * (src/api/metrics.ts) read it through {@link DhtNode.health}; it is kept apart from
 * `DhtNode.stats()` so the status report keeps its shape.
 *
 * Sans-I/O: durations come from the DHT's injected clock.
 *
 * @module
 */

import { Histogram, type HistogramSnapshot } from "../core/histogram.ts";

export type { HistogramSnapshot } from "../core/histogram.ts";

/**
 * Upper bounds of the lookup duration buckets, in ms. A lookup on loopback takes a few ms, across
 * the internet a few round trips of 50 to 300 ms, and it ends by `lookup_timeout_ms` (10 s by
 * default) at the latest; roughly a factor of 2.5 per bucket covers that in 11 buckets.
 */
export const lookupDurationBoundsMs: readonly number[] = [
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
];

/**
 * Most keys remembered as short of holders. Each is one string of 40 characters; the set only
 * grows past a few entries when the network is much smaller than the replication target or is
 * falling apart, and 100,000 keys (about 10 MB) is a large node's share of a troubled network. At
 * the limit the longest-remembered key is forgotten for the newcomer, and the gauge reads at most
 * this.
 */
export const shortKeysMax = 100_000;

/** What {@link DhtHealth.snapshot} reports. */
export interface DhtHealthStats {
  /** Durations of finished lookups (FIND_NODE and FIND_VALUE, every purpose), in ms. */
  lookupDurationMs: HistogramSnapshot;
  /** Finished lookups that found what they looked for (nodes that answered, or the value). */
  lookupsSucceeded: number;
  /** Finished lookups that did not (no node answered, the value was not found, timed out). */
  lookupsFailed: number;
  /** Pushes of a held record to its closest nodes (publish, republish, replication). */
  pushes: number;
  /** Pushes after which fewer nodes held the record than its target. */
  pushesShort: number;
  /**
   * Held records whose last push left fewer holders than the target: the record's replica count
   * (from the replication policy), or every node that could hold it when the routing table
   * knows fewer. Records not pushed yet by this node are not counted.
   */
  recordsShort: number;
}

/** The counters of {@link DhtHealthStats}, kept by the DHT node as its lookups and pushes end. */
export class DhtHealth {
  readonly #lookupDuration = new Histogram(lookupDurationBoundsMs);
  #lookupsSucceeded = 0;
  #lookupsFailed = 0;
  #pushes = 0;
  #pushesShort = 0;
  /** Keys (hex) short of holders at their last push, oldest first. */
  readonly #short = new Set<string>();

  /**
   * A lookup finished.
   *
   * @param durationMs How long it took.
   * @param ok Whether it found what it looked for.
   */
  lookupFinished(durationMs: number, ok: boolean): void {
    this.#lookupDuration.observe(durationMs);
    if (ok) this.#lookupsSucceeded++;
    else this.#lookupsFailed++;
  }

  /**
   * A push of a held record finished.
   *
   * @param keyHex The record's key in hex.
   * @param holders Nodes that hold it now, this one included when it is among the closest.
   * @param target Nodes that should.
   */
  pushed(keyHex: string, holders: number, target: number): void {
    this.#pushes++;
    this.#short.delete(keyHex);
    if (holders >= target) return;
    this.#pushesShort++;
    if (this.#short.size >= shortKeysMax) {
      const oldest = this.#short.values().next().value!;
      this.#short.delete(oldest);
    }
    this.#short.add(keyHex);
  }

  /**
   * The record is no longer held (expired, evicted): it no longer counts.
   *
   * @param keyHex The record's key in hex.
   */
  forget(keyHex: string): void {
    this.#short.delete(keyHex);
  }

  /**
   * A copy of the counters.
   *
   * @returns The counters.
   */
  snapshot(): DhtHealthStats {
    return {
      lookupDurationMs: this.#lookupDuration.snapshot(),
      lookupsSucceeded: this.#lookupsSucceeded,
      lookupsFailed: this.#lookupsFailed,
      pushes: this.#pushes,
      pushesShort: this.#pushesShort,
      recordsShort: this.#short.size,
    };
  }
}
