/**
 * The replication policy: per held record, how many nodes should hold it, how often this node
 * pushes it to them, and how long each push makes the copies live. The replication planner
 * (`replication_plan.ts`) asks the policy for every record it looks at; the default policy keeps
 * the Kademlia terms (k replicas, `republish_s` for a publisher, `replicate_s` for a holder, a
 * publisher renewing to the personal class's `ttl_s`, a holder passing on what is left). A service above the
 * DHT (popularity, ROADMAP §5–§6) plugs in its own policy, usually one that starts from these
 * defaults and changes them for the records it knows about, without editing the DHT.
 *
 * @module
 */

import type { NodeId } from "../core/node_id.ts";

/**
 * What this node is to a held record: `published`, its original publisher (it republishes the
 * record, renewing the copies' lifetime); `replica`, one of its holders (it passes copies on with
 * the lifetime they have left).
 */
export type HeldRecordKind = "published" | "replica";

/** A record this node holds, as the planner and the policy see it: bookkeeping, no bytes. */
export interface HeldRecord {
  /** The record's key. */
  readonly key: NodeId;
  /** Publisher or holder. */
  readonly kind: HeldRecordKind;
  /** When the local copy expires, in ms of the node's clock. */
  readonly expiresAtMs: number;
  /** When the record was first stored here. */
  readonly storedAtMs: number;
  /**
   * When this node last pushed the record (a put, a republish, a replication), or another holder
   * pushed a copy covering it here; `undefined` when neither happened since it was stored.
   */
  readonly pushedAtMs: number | undefined;
  /**
   * The largest replica count other holders pushed this record at within the last two
   * replication periods, when above k (a STORE's `replicas`); absent when none. A policy that
   * counts replicas by what it alone observed should take at least this, so holders agree.
   */
  readonly replicasHint?: number;
}

/** How one record is replicated, as a policy decides it. */
export interface ReplicationTerms {
  /** Nodes closest to the key that should hold the record: a push stores it at this many. */
  readonly replicas: number;
  /**
   * Time between two pushes of the record by this node, in ms (`Infinity`: never pushed again).
   * Each node adds its own jitter of up to a tenth, so holders come due one after another.
   */
  readonly intervalMs: number;
  /**
   * Lifetime each push gives the record, here and at the holders, in seconds; `0`: none, the
   * copies keep what this one has left. At most `renew_ttl_s`; each holder caps a copy by its own classes.
   */
  readonly renewS: number;
  /**
   * Place the replicas on distinct network prefixes where possible (at most one per /24 or /48,
   * loopback and private addresses exempt): the push looks a little wider than `replicas` and
   * skips a node whose prefix already holds a copy while others remain. Absent: the closest.
   */
  readonly spreadPrefixes?: boolean;
}

/** The settings the default terms come from: the `[dht]` table's replication fields. */
export interface ReplicationSettings {
  /** Nodes that hold each record (Kademlia's k). */
  readonly k: number;
  /** Replication period of holders, in seconds. */
  readonly replicate_s: number;
  /** Republish period of publishers, in seconds. */
  readonly republish_s: number;
  /**
   * The lifetime a publisher renews its own records to, in seconds: the `personal` record
   * class's `ttl_s`. Each holder caps a copy by its own classes.
   */
  readonly renew_ttl_s: number;
}

/**
 * Decides the replication terms of each held record. Called by the planner on every upkeep pass
 * for every record it considers, when a newcomer joins near held records and at each put, so it
 * must be cheap, must not change what it is given, and must decide from its own state and the
 * record alone (no clock or randomness of its own: the simulator replays it from a seed). Terms
 * out of range are brought into range by the planner, counted and logged; a policy that throws
 * is a bug and stops the tick like any other.
 */
export interface ReplicationPolicy {
  /**
   * The terms for one record.
   *
   * @param record The record's bookkeeping.
   * @param defaults The default terms for it ({@link defaultTermsOf}): a policy that changes
   *   nothing returns them.
   * @returns The terms to use.
   */
  termsOf(record: HeldRecord, defaults: ReplicationTerms): ReplicationTerms;
}

/**
 * The Kademlia terms: k replicas; a publisher pushes every `republish_s` and renews the copies to
 * `renew_ttl_s`; a holder pushes every `replicate_s` and passes on the lifetime left, so copies
 * die with the publisher's last republish.
 *
 * @param record The record.
 * @param settings The replication settings.
 * @returns The terms.
 */
export function defaultTermsOf(
  record: HeldRecord,
  settings: ReplicationSettings,
): ReplicationTerms {
  const published = record.kind === "published";
  return {
    replicas: settings.k,
    intervalMs: (published ? settings.republish_s : settings.replicate_s) * 1000,
    renewS: published ? settings.renew_ttl_s : 0,
  };
}

/** The policy that keeps the default terms for every record. */
export const defaultReplicationPolicy: ReplicationPolicy = {
  termsOf: (_record, defaults) => defaults,
};
