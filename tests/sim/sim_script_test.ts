// Goal: `deno task sim` validates every flag (one line on stderr, exit 2) and prints its JSON
// report as the last line of stdout, with the machine-dependent figures filled in.
// Method: parseSimFlags() directly for the flag rules; one small run as a real process with the
// task's exact permissions for the output contract.

import assert from "node:assert/strict";
import { parseSimFlags, UsageError } from "../../scripts/sim.ts";

const root = new URL("../../", import.meta.url).pathname;
/** The `sim` task's command after `deno`, as deno.json is to have it. */
const taskArgs = [
  "run",
  "--no-prompt",
  "--v8-flags=--expose-gc",
  "--allow-read",
  "--allow-env",
  "scripts/sim.ts",
];

Deno.test("parseSimFlags() fills in the defaults", () => {
  assert.deepEqual(parseSimFlags([]), {
    nodes: 1000,
    lookups: 1000,
    values: 100,
    simSeed: 1,
    lossRate: 0.01,
    churnFraction: 0.3,
    latencyMsMin: 20,
    latencyMsMax: 200,
    jsonOnly: false,
  });
  assert.equal(parseSimFlags(["--help"]), "help");
});

Deno.test("parseSimFlags() reads every flag", () => {
  const flags = parseSimFlags([
    "--nodes=200",
    "--lookups",
    "50",
    "--values",
    "0",
    "--seed",
    "4294967295",
    "--loss",
    "0.25",
    "--churn",
    ".5",
    "--latency",
    "5-5",
    "--json-only",
  ]);
  assert.deepEqual(flags, {
    nodes: 200,
    lookups: 50,
    values: 0,
    simSeed: 4294967295,
    lossRate: 0.25,
    churnFraction: 0.5,
    latencyMsMin: 5,
    latencyMsMax: 5,
    jsonOnly: true,
  });
});

Deno.test("parseSimFlags() refuses bad values, naming the flag", () => {
  const bad: [string[], RegExp][] = [
    [["--nodes", "0"], /--nodes/],
    [["--nodes", "1e3"], /--nodes/],
    [["--nodes", "-5"], /--nodes/],
    [["--lookups", "x"], /--lookups/],
    [["--values", "1.5"], /--values/],
    [["--seed", "4294967296"], /--seed/],
    [["--loss", "1.5"], /--loss/],
    [["--loss", ""], /--loss/],
    [["--loss", "-0.1"], /--loss/],
    [["--churn", "1"], /--churn/],
    [["--latency", "200-20"], /--latency/],
    [["--latency", "20"], /--latency/],
    [["--latency", "a-b"], /--latency/],
    [["--bogus"], /bogus/],
    [["stray"], /stray|positional/i],
    [["--nodes"], /nodes/],
  ];
  for (const [args, pattern] of bad) {
    assert.throws(() => parseSimFlags(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, pattern, args.join(" "));
      return true;
    });
  }
});

Deno.test("parseSimFlags() reads the continuous-churn flags, with defaults", () => {
  const defaults = parseSimFlags(["--churn-model", "weibull"]);
  assert.deepEqual(defaults !== "help" && defaults.churn, {
    sessionModel: "weibull",
    sessionMedianMs: 3_600_000,
    sessionShape: 0.5,
    durationMs: 7_200_000,
    windowMs: 600_000,
    crashFraction: 0.5,
  });
  const lognormal = parseSimFlags(["--churn-model", "lognormal"]);
  assert.equal(lognormal !== "help" && lognormal.churn?.sessionShape, 1.5);
  const flags = parseSimFlags([
    "--churn-model=lognormal",
    "--session-median",
    "90s",
    "--session-shape",
    "2.25",
    "--duration",
    "1.5h",
    "--window",
    "15000ms",
    "--crash-fraction",
    "1",
  ]);
  assert.deepEqual(flags !== "help" && flags.churn, {
    sessionModel: "lognormal",
    sessionMedianMs: 90_000,
    sessionShape: 2.25,
    durationMs: 5_400_000,
    windowMs: 15_000,
    crashFraction: 1,
  });
  const bare = parseSimFlags(["--churn-model", "weibull", "--duration", "600", "--window", "1m"]);
  assert.equal(bare !== "help" && bare.churn?.durationMs, 600_000, "a bare number is seconds");
  assert.equal(bare !== "help" && bare.churn?.windowMs, 60_000);
  const plain = parseSimFlags([]);
  assert.ok(plain !== "help" && !("churn" in plain), "no churn settings without --churn-model");
});

Deno.test("parseSimFlags() refuses bad continuous-churn flags, naming the flag", () => {
  const bad: [string[], RegExp][] = [
    [["--churn-model", "pareto"], /--churn-model: expected weibull or lognormal/],
    [["--churn-model", "weibull", "--churn", "0.3"], /--churn .*cannot be combined/],
    [["--session-median", "1h"], /--session-median needs --churn-model/],
    [["--duration", "1h"], /--duration needs --churn-model/],
    [["--churn-model", "weibull", "--session-median", "0s"], /--session-median/],
    [["--churn-model", "weibull", "--session-median", "1d"], /--session-median/],
    [["--churn-model", "weibull", "--duration", "-5m"], /--duration/],
    [["--churn-model", "weibull", "--duration", "31d"], /--duration/],
    [["--churn-model", "weibull", "--duration", "2h", "--window", "1s"], /--window/],
    [["--churn-model", "weibull", "--session-shape", "0.01"], /--session-shape/],
    [["--churn-model", "weibull", "--session-shape", "abc"], /--session-shape/],
    [["--churn-model", "weibull", "--crash-fraction", "1.2"], /--crash-fraction/],
  ];
  for (const [args, pattern] of bad) {
    assert.throws(() => parseSimFlags(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, pattern, args.join(" "));
      return true;
    });
  }
});

Deno.test("deno task sim exits 2 with one line on stderr for a bad flag", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs, "--loss", "2"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
  assert.match(stderr, /^sim: --loss: /);
  assert.equal(output.stdout.length, 0);
});

Deno.test("deno task sim prints progress on stderr and the JSON report last on stdout", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs, "--nodes", "30", "--lookups", "20", "--values", "5", "--seed", "9"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.match(stderr, /^sim: joined 30\/30 nodes/m);
  const lines = new TextDecoder().decode(output.stdout).trimEnd().split("\n");
  const report = JSON.parse(lines.at(-1)!);
  assert.equal(report.nodes, 30);
  assert.equal(report.seed, 9);
  assert.ok(report.wall_ms > 0, "the script measures wall time");
  assert.ok(report.memory.bytes_per_node > 0, "and heap growth, with --expose-gc");
  assert.equal(report.lookup.count, 20);
});

Deno.test("deno task sim --churn-model prints a row per window and the JSON report last", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      ...taskArgs,
      ...["--churn-model", "weibull", "--nodes", "30", "--lookups", "40", "--values", "4"],
      ...["--seed", "9", "--session-median", "5m", "--duration", "10m", "--window", "5m"],
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.match(stderr, /^sim: window 2\/2: /m);
  const lines = new TextDecoder().decode(output.stdout).trimEnd().split("\n");
  assert.match(lines.join("\n"), /^window_s +online +joins/m);
  const report = JSON.parse(lines.at(-1)!);
  assert.equal(report.seed, 9);
  assert.equal(report.churn.model, "weibull");
  assert.equal(report.churn.session_median_s, 300);
  assert.equal(report.windows.length, 2);
  assert.ok(report.wall_ms > 0, "the script measures wall time");
  assert.ok(report.get.count > 0, JSON.stringify(report.get));
});

Deno.test("parseSimFlags() reads the discussion workload's flags, with defaults", () => {
  const defaults = parseSimFlags(["--workload", "discussion"]);
  assert.ok(defaults !== "help");
  assert.equal(defaults.nodes, 100, "a discussion run defaults to 100 nodes");
  assert.deepEqual(defaults.discussion, {
    authors: 20,
    threads: 10,
    posts: 50,
    votes: 20,
    reads: 50,
  });
  const flags = parseSimFlags([
    ...["--workload=discussion", "--nodes", "10000", "--seed", "3", "--authors", "100"],
    ...["--threads", "20", "--posts", "300", "--votes", "0", "--reads", "80"],
  ]);
  assert.ok(flags !== "help");
  assert.equal(flags.nodes, 10_000);
  assert.equal(flags.simSeed, 3);
  assert.deepEqual(flags.discussion, {
    authors: 100,
    threads: 20,
    posts: 300,
    votes: 0,
    reads: 80,
  });
  const standard = parseSimFlags(["--workload", "standard"]);
  assert.ok(standard !== "help" && standard.discussion === undefined && standard.nodes === 1000);
});

Deno.test("parseSimFlags() refuses bad discussion flags, naming the flag", () => {
  const bad: [string[], RegExp][] = [
    [["--workload", "forum"], /--workload: expected standard or discussion/],
    [["--posts", "5"], /--posts needs --workload discussion/],
    [["--workload", "discussion", "--lookups", "5"], /--lookups does not apply/],
    [["--workload", "discussion", "--churn", "0.1"], /--churn does not apply/],
    [["--workload", "discussion", "--churn-model", "weibull"], /--churn-model does not apply/],
    [["--workload", "discussion", "--threads", "0"], /--threads/],
    [["--workload", "discussion", "--authors", "x"], /--authors/],
    [["--workload", "discussion", "--nodes", "1"], /--nodes/],
  ];
  for (const [args, pattern] of bad) {
    assert.throws(() => parseSimFlags(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, pattern, args.join(" "));
      return true;
    });
  }
});

Deno.test("deno task sim --workload discussion prints its summary and the JSON report last", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      ...taskArgs,
      ...["--workload", "discussion", "--nodes", "30", "--seed", "9", "--authors", "4"],
      ...["--threads", "2", "--posts", "4", "--votes", "2", "--reads", "2"],
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const lines = new TextDecoder().decode(output.stdout).trimEnd().split("\n");
  assert.match(lines[0], /^nodes 30, seed 9/);
  assert.ok(lines.some((line) => /^rpcs per post mean\/p50\/p99 /.test(line)), lines.join("\n"));
  const report = JSON.parse(lines.at(-1)!);
  assert.equal(report.scenario, "discussion");
  assert.equal(report.publish.count, 2 + 4 + 2);
  assert.ok(report.wall_ms > 0, "the script measures wall time");
  assert.ok(report.memory.bytes_per_node > 0, "and heap growth, with --expose-gc");
});
