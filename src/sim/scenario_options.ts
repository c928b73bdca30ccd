/**
 * The options of the simulator's scenarios and their resolved numbers: apart from the scenarios,
 * so that their reports can name what they report on without importing the scenarios back.
 *
 * @module
 */

import type { DhtSettings } from "../dht/types.ts";
import type { SimNodeFactory } from "./cluster.ts";
import type { SessionModelName } from "./session_model.ts";

/** The settings every scenario takes; every field but `simSeed` and `settings` has a default. */
export interface CommonScenarioOptions {
  /** The run's seed. */
  simSeed: number;
  /** Kademlia parameters and budgets of every node. */
  settings: DhtSettings;
  /** Builds each node. @default the real `DhtNode` */
  createNode?: SimNodeFactory;
  /** Probability a datagram is lost. @default 0.01 */
  lossRate?: number;
  /** Probability a datagram is delivered twice. @default 0 */
  duplicateRate?: number;
  /** Lowest base latency of a link, in ms. @default 20 */
  latencyMsMin?: number;
  /** Highest base latency of a link, in ms. @default 200 */
  latencyMsMax?: number;
  /** Per-datagram jitter as a fraction of the link's base latency. @default 0.1 */
  jitterFraction?: number;
  /** Smallest value stored, in bytes. @default 32 */
  valueBytesMin?: number;
  /** Largest value stored, in bytes. @default 256 */
  valueBytesMax?: number;
  /** Events one phase may process before it fails as a liveness bug. @default SIM_EVENTS_MAX */
  eventsMax?: number;
}

/** Settings of `runScenario`; every field but `simSeed` and `settings` has a default. */
export interface ScenarioOptions extends CommonScenarioOptions {
  /** Nodes in the network. @default 1000 */
  nodes?: number;
  /** Gets measured for the lookup figures. @default 1000 */
  lookups?: number;
  /** Values stored. @default 100 */
  values?: number;
  /** Fraction of nodes crashed at once before the last round of gets (0..1). @default 0.3 */
  churnFraction?: number;
  /** Node i starts joining at i × this, in ms. @default 1000 */
  joinSpacingMs?: number;
  /** Virtual time the network runs idle after the last join, in ms. @default 300000 */
  settleMs?: number;
  /** Puts or gets running at once. @default 16 */
  operationsInflightMax?: number;
}

/** Every option of {@link ScenarioOptions} with a number, resolved. */
export type ScenarioNumbers = Required<Omit<ScenarioOptions, "settings" | "createNode">>;

/** Settings of `runChurnScenario`; every field but `simSeed` and `settings` has a default. */
export interface ChurnScenarioOptions extends CommonScenarioOptions {
  /** Nodes online at the start, and on average while churning. @default 1000 */
  nodes?: number;
  /** Values stored before the churn starts. @default 100 */
  values?: number;
  /** Gets started during the churn (a Poisson process spread over `durationMs`). @default 1000 */
  lookups?: number;
  /** The session-length distribution. @default "weibull" */
  sessionModel?: SessionModelName;
  /** Median session length, in ms. @default 3600000 (one hour) */
  sessionMedianMs?: number;
  /** Weibull k or log-normal σ. @default 0.5 for Weibull, 1.5 for log-normal */
  sessionShape?: number;
  /** Virtual time the churn lasts, in ms. @default 7200000 (two hours) */
  durationMs?: number;
  /** Length of one report window, in ms. @default 600000 (ten minutes) */
  windowMs?: number;
  /** Fraction of departures that are crashes; the others leave gracefully (0..1). @default 0.5 */
  crashFraction?: number;
  /** While growing the network, node i starts joining at i × this, in ms. @default 100 */
  joinSpacingMs?: number;
  /** Virtual time the grown network runs idle before the puts, in ms. @default 60000 */
  settleMs?: number;
  /** Puts running at once. @default 16 */
  operationsInflightMax?: number;
}

/** Every option of {@link ChurnScenarioOptions} but the settings and factory, resolved. */
export type ChurnScenarioNumbers =
  & Required<Omit<ChurnScenarioOptions, "settings" | "createNode" | "sessionModel">>
  & { sessionModel: SessionModelName };

/** Settings of `runDiscussionScenario`; every field but `simSeed` and `settings` has a default. */
export interface DiscussionScenarioOptions extends CommonScenarioOptions {
  /** Nodes in the network. @default 100 */
  nodes?: number;
  /** Authors, each with its own key. @default 20 */
  authors?: number;
  /** Threads started. @default 10 */
  threads?: number;
  /** Messages posted (top-level posts and replies). @default 50 */
  posts?: number;
  /** Votes cast. @default 20 */
  votes?: number;
  /** Reads: thread listings and thread shows, half each. @default 50 */
  reads?: number;
  /** Fraction of posts that reply to a message of the thread (when it has one). @default 0.5 */
  replyFraction?: number;
  /** Exponent s of the Zipf popularity of threads (thread of rank r weighs 1/r^s). @default 1 */
  zipfExponent?: number;
  /** Node i starts joining at i × this, in ms. @default 100 */
  joinSpacingMs?: number;
  /** Virtual time the network runs idle after the last join, in ms. @default 60000 */
  settleMs?: number;
  /** Operations running at once (each on its own node). @default 8 */
  operationsInflightMax?: number;
}

/** Every option of {@link DiscussionScenarioOptions} with a number, resolved. */
export type DiscussionNumbers = Required<
  Omit<DiscussionScenarioOptions, "settings" | "createNode">
>;
