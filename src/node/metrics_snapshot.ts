/**
 * The figures a running node reports as metrics: every counter of its parts, read at one moment,
 * as plain numbers. {@link RhizomeNode.metrics} gathers it; the control API's metrics module
 * (src/api/metrics.ts) is the one place that names, types and documents each figure for
 * Prometheus, JSON, the dashboard and `rhizome top`.
 *
 * @module
 */

import type { NodeType } from "../core/config_schema.ts";
import type { DhtHealthStats } from "../dht/health.ts";
import type { DhtStats } from "../dht/node.ts";
import type { ReceiveGuardStats } from "../net/receive_guard.ts";
import type { SecureChannelStats } from "../net/secure_channel.ts";
import type { StreamListenerStats } from "../net/stream_transport.ts";
import type { UdpTransportStats } from "../net/udp_transport.ts";
import type { RecordStoreStats } from "../store/record_store.ts";
import type { ValueStoreStats } from "../store/value_store.ts";
import type { EventLoopLagStats } from "./event_loop_lag.ts";
import type { ReceiveProbeStats } from "./receive_probe.ts";

/** The process's memory, as `Deno.memoryUsage()` reports it, in bytes. */
export interface ProcessMemory {
  /** Resident set size. */
  rss: number;
  /** V8 heap in use. */
  heapUsed: number;
  /** V8 heap reserved. */
  heapTotal: number;
  /** Memory outside the V8 heap held by JavaScript objects (buffers). */
  external: number;
}

/** Every counter of a running node at one moment. */
export interface NodeMetrics {
  /** The node ID in hex. */
  nodeId: string;
  /** The type it runs as. */
  nodeType: NodeType;
  /** Seconds since it started. */
  uptimeS: number;
  /** Contacts in the routing table. */
  peers: number;
  /**
   * The record store's counts; an LMDB store adds its budgets, classes and refusals, a store in
   * memory has the totals only.
   */
  store: ValueStoreStats & Partial<RecordStoreStats>;
  /** The DHT's traffic counters. */
  dht: DhtStats;
  /** Lookup durations and outcomes, pushes and records short of holders. */
  health: DhtHealthStats;
  /** The secure channel's counters. */
  channel: SecureChannelStats;
  /** The receive guard's drops, graylistings and bans. */
  guard: ReceiveGuardStats;
  /** The UDP socket's counters. */
  udp: UdpTransportStats;
  /** The stream listener's counters. */
  stream: StreamListenerStats;
  /** The receive-queue probe's counters. */
  receiveProbe: ReceiveProbeStats;
  /** Rejoin attempts since start. */
  rejoins: number;
  /** Event-loop lag as the node measures it. */
  eventLoop: EventLoopLagStats;
  /** The process's memory. */
  memory: ProcessMemory;
}
