// Goal: `deno task bench:churn` checks its flags (one line, exit 2) and, on a tiny network, runs
// churn, the workload and the silent identities to the end and prints its JSON report.
// Method: parseSettings() directly for the flag rules; one 10-second run of 4 processes with the
// task's exact permissions for the output contract (no figure is asserted: the machine is shared).

import assert from "node:assert/strict";
import { parseSettings } from "../../scripts/churn_network.ts";

const root = new URL("../../", import.meta.url).pathname;
const taskArgs = [
  "run",
  "--no-prompt",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-net",
  "--allow-sys",
  "--allow-run",
  "scripts/churn_network.ts",
];

Deno.test("parseSettings() fills in the defaults and reads every flag", () => {
  assert.deepEqual(parseSettings([]), {
    durationMs: 600_000,
    nodes: 30,
    stable: 5,
    silent: 5,
    churnIntervalMs: 5_000,
    killFraction: 0.5,
    windowMs: 60_000,
    values: 20,
    threads: 5,
  });
  assert.deepEqual(
    parseSettings([
      ...["--duration", "60s", "--nodes", "10", "--stable", "2", "--silent", "0"],
      ...["--churn-interval", "1500ms", "--kill-fraction", "1", "--window", "2m"],
      ...["--values", "3", "--threads", "1"],
    ]),
    {
      durationMs: 60_000,
      nodes: 10,
      stable: 2,
      silent: 0,
      churnIntervalMs: 1_500,
      killFraction: 1,
      windowMs: 120_000,
      values: 3,
      threads: 1,
    },
  );
});

Deno.test("parseSettings() refuses bad values, naming the flag", () => {
  const bad: [string[], RegExp][] = [
    [["--duration", "5s"], /--duration/],
    [["--duration", "ten"], /--duration/],
    [["--nodes", "2"], /--nodes/],
    [["--stable", "30"], /--stable: must be below --nodes/],
    [["--kill-fraction", "2"], /--kill-fraction/],
    [["--churn-interval", "0"], /--churn-interval/],
    [["--bogus"], /bogus/],
  ];
  for (const [args, pattern] of bad) {
    assert.throws(() => parseSettings(args), pattern, args.join(" "));
  }
});

Deno.test("bench:churn exits 2 with one line on stderr for a bad flag", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...taskArgs, "--nodes", "1"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
  assert.match(stderr, /^churn_network: --nodes: /);
});

Deno.test("bench:churn runs a tiny churning network and prints its JSON report", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      ...taskArgs,
      ...["--nodes", "4", "--stable", "2", "--silent", "1", "--duration", "12s"],
      ...["--churn-interval", "3s", "--window", "6s", "--values", "2", "--threads", "1"],
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const report = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(report.settings.nodes, 4);
  assert.ok(report.population.started >= 1, JSON.stringify(report.population));
  assert.ok(
    report.population.stopped_sigint + report.population.killed_sigkill >= 1,
    JSON.stringify(report.population),
  );
  assert.equal(report.silent_identities.count, 1, JSON.stringify(report.silent_identities));
  for (const operation of ["get", "put", "thread_list", "thread_show", "post", "thread_new"]) {
    assert.ok(operation in report.operations, operation);
  }
  const total = Object.values(report.operations as Record<string, { count: number }>)
    .reduce((sum, summary) => sum + summary.count, 0);
  assert.ok(total > 0, JSON.stringify(report.operations));
  assert.equal(report.windows.length, 2);
  assert.ok("put_p50_not_risen" in report.targets);
  assert.match(stderr, /removing their data dirs/);
});
