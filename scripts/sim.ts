/**
 * Runs the standard simulation (src/sim/scenario.ts) and prints its report: progress on stderr, a
 * short summary on stdout, then the JSON report as the last line of stdout. Node settings are the
 * built-in defaults, changed by `RHIZOME_*` variables as for a real node (`RHIZOME_DHT_K=24`).
 *
 * Usage: deno task sim [--nodes N] [--lookups L] [--values V] [--seed S] [--loss P] [--churn P]
 *   [--latency MIN-MAX] [--json-only]
 *
 * `--json-only` leaves the summary out: stdout is then the JSON line alone (progress still goes to
 * stderr).
 *
 * Exit status: 0 done, 1 the simulation hit a bug (the message names the seed), 2 bad flags,
 * 3 bad `RHIZOME_*` settings.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolveConfig } from "../src/core/config.ts";
import { runScenario, type ScenarioOptions, type ScenarioReport } from "../src/sim/scenario.ts";

const usage = "usage: deno task sim [--nodes N] [--lookups L] [--values V] [--seed S] " +
  "[--loss P] [--churn P] [--latency MIN-MAX] [--json-only]";

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
  & { jsonOnly: boolean };

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
        nodes: { type: "string", default: "1000" },
        lookups: { type: "string", default: "1000" },
        values: { type: "string", default: "100" },
        seed: { type: "string", default: "1" },
        loss: { type: "string", default: "0.01" },
        churn: { type: "string", default: "0.3" },
        latency: { type: "string", default: "20-200" },
        "json-only": { type: "boolean", default: false },
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
  return {
    nodes: integer("--nodes", values.nodes, 1, 100_000),
    lookups: integer("--lookups", values.lookups, 0, 10_000_000),
    values: integer("--values", values.values, 0, 1_000_000),
    simSeed: integer("--seed", values.seed, 0, 0xffffffff),
    lossRate: rate("--loss", values.loss, 1),
    churnFraction: rate("--churn", values.churn, 0.99),
    latencyMsMin: Number(latency[1]),
    latencyMsMax: Number(latency[2]),
    jsonOnly: values["json-only"],
  };
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

function heapBytes(): number {
  // Present only under --v8-flags=--expose-gc; without it the figure includes garbage.
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().heapUsed;
}

function main(args: string[]): number {
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
    settings = { dht: config.dht, profile: config.profiles.full };
  } catch (error) {
    console.error(`sim: ${error instanceof Error ? error.message : error}`);
    return 3;
  }
  const { jsonOnly, ...options } = flags;
  const startMs = performance.now();
  let report;
  try {
    report = runScenario({ ...options, settings }, {
      heapBytes,
      progress: (line) => console.error(`sim: ${line}`),
    });
  } catch (error) {
    console.error(`sim: ${error instanceof Error ? error.message : error}`);
    if (error instanceof Error && error.cause instanceof Error) console.error(error.cause.stack);
    return 1;
  }
  report.wall_ms = Math.round(performance.now() - startMs);
  if (!jsonOnly) console.log(summarise(report));
  console.log(JSON.stringify(report));
  return 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
