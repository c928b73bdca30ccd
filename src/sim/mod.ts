/**
 * The deterministic simulator: a second driver of the DHT core, with a virtual clock, a seeded
 * faulty network ({@link SimNetwork}), a cluster of nodes ({@link SimCluster}) and the standard
 * scenario ({@link runScenario}). Nothing here touches the Deno namespace, wall time, timers or
 * ambient randomness: one seed gives one run.
 *
 * @module
 */

export * from "./async_driver.ts";
export * from "./checkers.ts";
export * from "./churn_report.ts";
export * from "./churn_scenario.ts";
export * from "./cluster.ts";
export * from "./discussion_nodes.ts";
export * from "./discussion_report.ts";
export * from "./discussion_scenario.ts";
export * from "./event_queue.ts";
export * from "./hash.ts";
export * from "./index_set.ts";
export * from "./network.ts";
export * from "./operations.ts";
export * from "./scenario.ts";
export * from "./scenario_report.ts";
export * from "./session_model.ts";
export * from "./stats.ts";
