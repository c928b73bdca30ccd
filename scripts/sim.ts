/**
 * Runs the standard simulation (src/sim/scenario.ts) and prints its report: progress on stderr, a
 * short summary on stdout, then the JSON report as the last line of stdout. Node settings are the
 * built-in defaults, changed by `RHIZOME_*` variables as for a real node (`RHIZOME_DHT_K=24`).
 *
 * Usage: deno task sim [--nodes N] [--lookups L] [--values V] [--seed S] [--loss P] [--churn P]
 *   [--latency MIN-MAX] [--json-only]
 *   [--workload discussion [--authors A] [--threads T] [--posts P] [--votes V] [--reads R]]
 *   [--churn-model weibull|lognormal [--session-median DUR] [--session-shape X] [--duration DUR]
 *   [--window DUR] [--crash-fraction P]]
 *
 * Without `--churn-model` it runs the standard scenario: `--churn P` crashes that fraction of the
 * nodes at once before the last round of gets. With it, the continuous-churn scenario
 * (src/sim/churn_scenario.ts): nodes arrive as a Poisson process and stay for sessions drawn from
 * the model (median `--session-median`, default 1h; Weibull shape k or log-normal σ
 * `--session-shape`, default 0.5 or 1.5), a `--crash-fraction` of departures (default 0.5) being
 * crashes and the rest graceful; `--lookups` gets arrive over `--duration` (default 2h) and the
 * report has one row per `--window` (default 10m). Durations are a number with a unit (`ms`, `s`,
 * `m`, `h`; a bare number is seconds). `--churn` cannot be combined with `--churn-model`.
 *
 * `--workload discussion` runs the discussion workload instead (src/sim/discussion_scenario.ts):
 * simulated nodes run the discussion service over the simulated DHT; `--authors A` authors (each
 * with its own key) start `--threads T` threads, then `--posts P` posts and replies, `--votes V`
 * votes and `--reads R` reads (thread lists and shows, threads by Zipf popularity) run in a
 * shuffled mix from random nodes (defaults: 100 nodes, 20 authors, 10 threads, 50 posts, 20
 * votes, 50 reads). Its report has success, latency p50/p99 and RPCs per operation kind, RPCs per
 * post and per listing, and how soon a post is visible on another node. `--lookups`, `--values`
 * and the churn flags do not apply to it.
 *
 * `--json-only` leaves the summary out: stdout is then the JSON line alone (progress still goes to
 * stderr).
 *
 * Exit status: 0 done, 1 the simulation hit a bug (the message names the seed), 2 bad flags,
 * 3 bad `RHIZOME_*` settings.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { parseArgs } from "node:util";
import { resolveConfig } from "../src/core/config.ts";
import { type DiscussionReport, runDiscussionScenario } from "../src/sim/discussion_scenario.ts";
import { runScenario, type ScenarioOptions, type ScenarioReport } from "../src/sim/scenario.ts";
import { type ChurnReport, runChurnScenario } from "../src/sim/churn_scenario.ts";
import {
  SESSION_MODELS,
  SESSION_SHAPE_DEFAULT,
  type SessionModelName,
} from "../src/sim/session_model.ts";

const usage = "usage: deno task sim [--nodes N] [--lookups L] [--values V] [--seed S] " +
  "[--loss P] [--churn P] [--latency MIN-MAX] [--json-only]\n" +
  "  continuous churn: --churn-model weibull|lognormal [--session-median DUR] " +
  "[--session-shape X] [--duration DUR] [--window DUR] [--crash-fraction P]\n" +
  "  (DUR: a number with ms, s, m or h; a bare number is seconds)\n" +
  "  discussion workload: --workload discussion [--authors A] [--threads T] [--posts P] " +
  "[--votes V] [--reads R] (with --nodes, --seed, --loss, --latency, --json-only)";

/** The discussion workload's sizes, set with `--workload discussion`. */
export interface DiscussionFlags {
  /** Authors, each with its own key. */
  authors: number;
  /** Threads started. */
  threads: number;
  /** Posts and replies. */
  posts: number;
  /** Votes. */
  votes: number;
  /** Thread lists and shows. */
  reads: number;
}

/** The workload flags and their defaults. */
const discussionDefaults: Record<keyof DiscussionFlags, string> = {
  authors: "20",
  threads: "10",
  posts: "50",
  votes: "20",
  reads: "50",
};

/** The continuous-churn settings the flags set (present only with `--churn-model`). */
export interface ChurnFlags {
  /** The session-length distribution. */
  sessionModel: SessionModelName;
  /** Median session, in ms. */
  sessionMedianMs: number;
  /** Weibull k or log-normal σ. */
  sessionShape: number;
  /** How long the churn lasts, in ms. */
  durationMs: number;
  /** One report row per this many ms. */
  windowMs: number;
  /** Fraction of departures that are crashes. */
  crashFraction: number;
}

/** The scenario options the flags set. */
export type SimFlags =
  & Required<
    Pick<
      ScenarioOptions,
      | "nodes"
      | "lookups"
      | "values"
      | "simSeed"
      | "lossRate"
      | "churnFraction"
      | "latencyMsMin"
      | "latencyMsMax"
    >
  >
  & {
    /** Print the JSON line alone. */
    jsonOnly: boolean;
    /** Set with `--churn-model`: run the continuous-churn scenario instead. */
    churn?: ChurnFlags;
    /** Set with `--workload discussion`: run the discussion workload instead. */
    discussion?: DiscussionFlags;
  };

/** A flag that cannot be used; its message is the one line printed. */
export class UsageError extends Error {
  /**
   * Makes a usage error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parses and checks the command line.
 *
 * @param args The arguments after the script name.
 * @returns The options, defaults filled in.
 * @throws {UsageError} On an unknown flag, a missing value, or a value out of range.
 */
export function parseSimFlags(args: string[]): SimFlags | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        nodes: { type: "string" },
        lookups: { type: "string", default: "1000" },
        values: { type: "string", default: "100" },
        seed: { type: "string", default: "1" },
        loss: { type: "string", default: "0.01" },
        churn: { type: "string" },
        latency: { type: "string", default: "20-200" },
        "json-only": { type: "boolean", default: false },
        "churn-model": { type: "string" },
        "session-median": { type: "string" },
        "session-shape": { type: "string" },
        duration: { type: "string" },
        window: { type: "string" },
        "crash-fraction": { type: "string" },
        workload: { type: "string" },
        authors: { type: "string" },
        threads: { type: "string" },
        posts: { type: "string" },
        votes: { type: "string" },
        reads: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  if (values.help) return "help";
  const latency = /^([0-9]{1,6})-([0-9]{1,6})$/.exec(values.latency);
  if (!latency || Number(latency[1]) > Number(latency[2])) {
    throw new UsageError(
      `--latency: expected MIN-MAX in ms with MIN ≤ MAX, got "${values.latency}"`,
    );
  }
  const workload = values.workload ?? "standard";
  if (workload !== "standard" && workload !== "discussion") {
    throw new UsageError(`--workload: expected standard or discussion, got "${workload}"`);
  }
  const discussionOnly = Object.keys(discussionDefaults)
    .filter((name) => values[name as keyof typeof values] !== undefined);
  if (workload === "standard" && discussionOnly.length > 0) {
    throw new UsageError(`--${discussionOnly[0]} needs --workload discussion`);
  }
  const flags: SimFlags = {
    nodes: integer(
      "--nodes",
      values.nodes ?? (workload === "discussion" ? "100" : "1000"),
      workload === "discussion" ? 2 : 1,
      100_000,
    ),
    lookups: integer("--lookups", values.lookups, 0, 10_000_000),
    values: integer("--values", values.values, 0, 1_000_000),
    simSeed: integer("--seed", values.seed, 0, 0xffffffff),
    lossRate: rate("--loss", values.loss, 1),
    churnFraction: rate("--churn", values.churn ?? "0.3", 0.99),
    latencyMsMin: Number(latency[1]),
    latencyMsMax: Number(latency[2]),
    jsonOnly: values["json-only"],
  };
  const churnOnly = ["session-median", "session-shape", "duration", "window", "crash-fraction"]
    .filter((name) => values[name as keyof typeof values] !== undefined);
  const model = values["churn-model"];
  if (workload === "discussion") {
    const standardOnly = ["lookups", "values", "churn", "churn-model", ...churnOnly]
      .filter((name) => args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`)));
    if (standardOnly.length > 0) {
      throw new UsageError(`--${standardOnly[0]} does not apply to --workload discussion`);
    }
    const size = (name: keyof DiscussionFlags, min: number) =>
      integer(`--${name}`, values[name] ?? discussionDefaults[name], min, 1_000_000);
    return {
      ...flags,
      lookups: 0,
      values: 0,
      churnFraction: 0,
      discussion: {
        authors: size("authors", 1),
        threads: size("threads", 1),
        posts: size("posts", 0),
        votes: size("votes", 0),
        reads: size("reads", 0),
      },
    };
  }
  if (model === undefined) {
    if (churnOnly.length > 0) throw new UsageError(`--${churnOnly[0]} needs --churn-model`);
    return flags;
  }
  if (!(SESSION_MODELS as readonly string[]).includes(model)) {
    throw new UsageError(
      `--churn-model: expected ${SESSION_MODELS.join(" or ")}, got "${model}"`,
    );
  }
  if (values.churn !== undefined) {
    throw new UsageError(
      "--churn (one crash of a fraction of the nodes) cannot be combined with --churn-model",
    );
  }
  const sessionModel = model as SessionModelName;
  const durationMs = duration("--duration", values.duration ?? "2h");
  const windowMs = duration("--window", values.window ?? "10m");
  if (durationMs / windowMs > 1000) {
    throw new UsageError(`--window: at most 1000 windows per run, got ${durationMs / windowMs}`);
  }
  flags.churn = {
    sessionModel,
    sessionMedianMs: duration("--session-median", values["session-median"] ?? "1h"),
    sessionShape: decimal(
      "--session-shape",
      values["session-shape"] ?? String(SESSION_SHAPE_DEFAULT[sessionModel]),
      0.1,
      10,
    ),
    durationMs,
    windowMs,
    crashFraction: rate("--crash-fraction", values["crash-fraction"] ?? "0.5", 1),
  };
  return flags;
}

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration such as `90s`, `30m`, `2h`, `1500ms` or `45` (seconds), in whole ms, 1 ms to 30 days. */
function duration(flag: string, text: string): number {
  const match = /^([0-9]{1,9}(?:\.[0-9]{1,3})?)(ms|s|m|h)?$/.exec(text);
  const valueMs = match ? Math.round(Number(match[1]) * durationUnitsMs[match[2] ?? "s"]) : NaN;
  if (!(valueMs >= 1 && valueMs <= 30 * 86_400_000)) {
    throw new UsageError(
      `${flag}: expected a duration such as 90s, 30m or 2h (1 ms to 30 days), got "${text}"`,
    );
  }
  return valueMs;
}

function decimal(flag: string, text: string, min: number, max: number): number {
  const value = /^[0-9]{1,6}(\.[0-9]{1,6})?$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(`${flag}: expected a number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(`${flag}: expected an integer from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

function rate(flag: string, text: string, max: number): number {
  const value = /^(0|1)?(\.[0-9]+)?$/.test(text) && text !== "" && text !== "."
    ? Number(text)
    : NaN;
  if (!(value >= 0 && value <= max)) {
    throw new UsageError(`${flag}: expected a fraction from 0 to ${max}, got "${text}"`);
  }
  return value;
}

/**
 * A few lines for people; the JSON line follows.
 *
 * @param report The report.
 * @returns The summary text.
 */
export function summarise(report: ScenarioReport): string {
  const { lookup, values } = report;
  return [
    `nodes ${report.nodes}, seed ${report.seed}, ${report.events} events, ` +
    `virtual ${Math.round(report.virtual_ms / 1000)} s, wall ${Math.round(report.wall_ms)} ms`,
    `lookups: success ${lookup.success_rate}, rounds p50/p99 ${lookup.rounds.p50}/${lookup.rounds.p99}, ` +
    `latency p50/p99 ${lookup.latency_ms.p50}/${lookup.latency_ms.p99} ms, ` +
    `messages p50/p99 ${lookup.messages.p50}/${lookup.messages.p99}`,
    `values: stored ${values.stored}, retrievable ${values.retrievable}, ` +
    `after churn ${values.retrievable_after_churn}`,
    `memory: ${report.memory.bytes_per_node} bytes per node`,
  ].join("\n");
}

/**
 * A few lines for people about a continuous-churn run, one per window; the JSON line follows.
 *
 * @param report The report.
 * @returns The summary text.
 */
export function summariseChurn(report: ChurnReport): string {
  const { churn, get, population, values } = report;
  const percent = (rate: number | null) => rate === null ? "-" : `${(rate * 100).toFixed(2)}%`;
  return [
    `nodes ${report.nodes}, seed ${report.seed}, ${report.events} events, ` +
    `virtual ${Math.round(report.virtual_ms / 1000)} s, wall ${Math.round(report.wall_ms)} ms`,
    `churn: ${churn.model} sessions, median ${churn.session_median_s} s, shape ` +
    `${churn.session_shape}, mean ${churn.session_mean_s} s, ${churn.arrivals_per_s} arrivals/s, ` +
    `${churn.duration_s} s`,
    `population: ${population.joins} joins, ${population.leaves} leaves, ` +
    `${population.crashes} crashes, online ${population.online_min}..${population.online_max}`,
    `gets: success ${percent(get.success_rate)} of ${get.count - get.aborted} ` +
    `(${get.aborted} aborted), latency p50/p99 ${get.latency_ms.p50}/${get.latency_ms.p99} ms, ` +
    `misses with live replicas ${get.missed_with_live_replicas}, without ` +
    `${get.missed_without_live_replica}`,
    `values: ${values.stored} stored, replicas min/p50 at end ` +
    `${values.replicas_at_end.min}/${values.replicas_at_end.p50}, lost ${values.lost}`,
    `memory: ${report.memory.bytes_per_node} bytes per node`,
    "window_s  online  joins  leaves  crashes  gets  success  p50_ms  p99_ms  replicas_min",
    ...report.windows.map((window) =>
      [
        String(window.start_s).padStart(8),
        String(window.online).padStart(7),
        String(window.joins).padStart(6),
        String(window.leaves).padStart(7),
        String(window.crashes).padStart(8),
        String(window.gets).padStart(5),
        percent(window.success_rate).padStart(8),
        String(window.latency_ms.p50 ?? "-").padStart(7),
        String(window.latency_ms.p99 ?? "-").padStart(7),
        String(window.replicas.min ?? "-").padStart(13),
      ].join(" ")
    ),
  ].join("\n");
}

/**
 * A few lines for people about a discussion run; the JSON line follows.
 *
 * @param report The report.
 * @returns The summary text.
 */
export function summariseDiscussion(report: DiscussionReport): string {
  const { publish, read, post_visible: visible } = report;
  const percent = (rate: number | null) => rate === null ? "-" : `${(rate * 100).toFixed(2)}%`;
  const range = (p: { p50: number | null; p99: number | null }) =>
    `${p.p50 ?? "-"}/${p.p99 ?? "-"}`;
  return [
    `nodes ${report.nodes}, seed ${report.seed}, ${report.events} events, ` +
    `virtual ${Math.round(report.virtual_ms / 1000)} s, wall ${Math.round(report.wall_ms)} ms`,
    `publish: success ${percent(publish.success_rate)} of ${publish.count}; ` +
    `read: success ${percent(read.success_rate)} of ${read.count}, complete ` +
    `${percent(read.complete_rate)}`,
    `rpcs per post mean/p50/p99 ${report.rpcs_per_post.mean}/${range(report.rpcs_per_post)} ` +
    `(the posting node's own ${report.rpcs_per_post_own.mean}/${
      range(report.rpcs_per_post_own)
    }), per listing ${report.rpcs_per_listing.mean}/${range(report.rpcs_per_listing)}`,
    `post visible on another node: ${visible.visible}/${visible.posts}, p50/p99 ` +
    `${range(visible.after_start_ms)} ms after the post's start, ` +
    `${range(visible.after_ack_ms)} ms after its acknowledgement`,
    `memory: ${report.memory.bytes_per_node} bytes per node settled, ` +
    `${report.memory.bytes_per_node_after_workload} after the workload`,
    "kind      count     ok  complete  p50_ms  p99_ms  rpcs_mean  rpcs_p50  rpcs_p99  own_mean  errors",
    ...Object.entries(report.operations).map(([kind, figures]) =>
      [
        kind.padEnd(6),
        String(figures.count).padStart(8),
        String(figures.ok).padStart(6),
        String(figures.complete).padStart(9),
        String(figures.latency_ms.p50 ?? "-").padStart(7),
        String(figures.latency_ms.p99 ?? "-").padStart(7),
        String(figures.rpcs.mean ?? "-").padStart(10),
        String(figures.rpcs.p50 ?? "-").padStart(9),
        String(figures.rpcs.p99 ?? "-").padStart(9),
        String(figures.rpcs_own.mean ?? "-").padStart(9),
        " " + (Object.entries(figures.errors).map(([code, n]) => `${code}:${n}`).join(",") || "-"),
      ].join(" ")
    ),
  ].join("\n");
}

/**
 * Resolves at the next task, once every promise continuation queued so far (and every one those
 * queue) has run: what the simulator's async driver waits for between events. `setImmediate` is
 * a true task that is not clamped as nested timers are (a `setTimeout(0)` chain waits 1-4 ms per
 * turn); a `MessageChannel` message is not enough in Deno: it can arrive before a long chain of
 * continuations has run.
 *
 * @returns A promise resolved at the next task.
 */
export function nextTask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function heapBytes(): number {
  // Present only under --v8-flags=--expose-gc; without it the figure includes garbage.
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().heapUsed;
}

async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseSimFlags(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`sim: ${error.message} (see --help)`);
    return 2;
  }
  if (flags === "help") {
    console.log(usage);
    return 0;
  }
  let settings;
  try {
    const { config } = resolveConfig({ env: Deno.env.toObject() });
    settings = { dht: config.dht, profile: config.profiles.full, store: config.store };
  } catch (error) {
    console.error(`sim: ${error instanceof Error ? error.message : error}`);
    return 3;
  }
  const { jsonOnly, churn, discussion, ...options } = flags;
  const startMs = performance.now();
  const hooks = { heapBytes, progress: (line: string) => console.error(`sim: ${line}`) };
  let report: ScenarioReport | ChurnReport | DiscussionReport;
  try {
    if (discussion) {
      const { lookups: _lookups, values: _values, churnFraction: _churn, ...common } = options;
      report = await runDiscussionScenario(
        { ...common, ...discussion, settings },
        { ...hooks, nextTask },
      );
    } else if (churn) {
      const { churnFraction: _oneShot, ...common } = options;
      report = runChurnScenario({ ...common, ...churn, settings }, hooks);
    } else {
      report = runScenario({ ...options, settings }, hooks);
    }
  } catch (error) {
    console.error(`sim: ${error instanceof Error ? error.message : error}`);
    if (error instanceof Error && error.cause instanceof Error) console.error(error.cause.stack);
    return 1;
  }
  report.wall_ms = Math.round(performance.now() - startMs);
  if (!jsonOnly) {
    if ("scenario" in report) console.log(summariseDiscussion(report));
    else if ("churn" in report) console.log(summariseChurn(report));
    else console.log(summarise(report));
  }
  console.log(JSON.stringify(report));
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
