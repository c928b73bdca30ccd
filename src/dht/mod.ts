/**
 * The Kademlia DHT, sans-I/O: a {@link DhtNode} driven by a clock, a transport and a store that
 * its caller injects.
 *
 * @module
 */

export * from "./health.ts";
export * from "./lookup.ts";
export * from "./messages.ts";
export * from "./node.ts";
export * from "./replication_plan.ts";
export * from "./replication_policy.ts";
export * from "./routing_table.ts";
export * from "./rpc.ts";
export * from "./tokens.ts";
export * from "./types.ts";
