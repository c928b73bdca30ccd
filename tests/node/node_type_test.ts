/**
 * Choosing a node type: machines of each size against the default profiles, seeds only on the
 * operator's commitments, flag over config over auto, and re-classification that does not flap
 * when a figure hovers at a threshold.
 */

import assert from "node:assert/strict";
import { resolveConfig } from "../../src/core/config.ts";
import type { NodeType } from "../../src/core/config_schema.ts";
import {
  chooseNodeType,
  classifyNode,
  RECLASSIFY_MARGIN,
  type SeedCommitments,
  shouldReclassify,
} from "../../src/node/node_type.ts";
import { formatBytes } from "../../src/core/format.ts";
import type { Resources } from "../../src/node/resources.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const profiles = resolveConfig().config.profiles;
const enough: SeedCommitments = { uptimePercent: 99.5, bandwidthBytesPerS: 5_000_000 };

/** A machine; figures left out are `undefined` (not measured). */
function machine(figures: {
  diskFree?: number;
  store?: number;
  memory?: number;
  cpus?: number;
}): Resources {
  return {
    diskPath: "/data",
    diskFreeBytes: figures.diskFree,
    diskTotalBytes: figures.diskFree === undefined ? undefined : figures.diskFree * 2,
    storeBytes: figures.store ?? 0,
    memoryTotalBytes: figures.memory,
    memoryAvailableBytes: figures.memory === undefined ? undefined : figures.memory / 2,
    cpuCount: figures.cpus,
    problems: [],
  };
}

const bigServer = machine({ diskFree: 2000 * GiB, memory: 64 * GiB, cpus: 16 });

Deno.test("classifyNode() picks the largest profile the machine can honour", () => {
  const cases: {
    name: string;
    resources: Resources;
    commitments?: SeedCommitments;
    type: NodeType;
    reason: RegExp;
  }[] = [
    {
      name: "512 MB VM",
      resources: machine({ diskFree: 10 * GiB, memory: 480 * MiB, cpus: 1 }),
      type: "light",
      reason: /^light: .*; not full: disk for records 10 GiB \(needs 30 GiB\), memory 480 MiB/,
    },
    {
      name: "256 MB VM",
      resources: machine({ diskFree: 10 * GiB, memory: 240 * MiB, cpus: 1 }),
      type: "mobile",
      reason: /not light: memory 240 MiB \(needs 384 MiB\)/,
    },
    {
      name: "phone with little free storage",
      resources: machine({ diskFree: 1 * GiB, memory: 3 * GiB, cpus: 8 }),
      type: "mobile",
      reason: /not light: disk for records 1 GiB \(needs 1.5 GiB\)/,
    },
    {
      name: "big server without commitments",
      resources: bigServer,
      type: "full",
      reason: /not seed: no uptime or bandwidth commitment was given/,
    },
    {
      name: "big server with commitments",
      resources: bigServer,
      commitments: enough,
      type: "seed",
      reason: /^seed: .*committed uptime 99.5% \(needs 99%\), committed bandwidth 40 Mbit\/s/,
    },
    {
      name: "big server, uptime too low",
      resources: bigServer,
      commitments: { uptimePercent: 95, bandwidthBytesPerS: 5_000_000 },
      type: "full",
      reason: /not seed: committed uptime 95% \(needs 99%\)$/,
    },
    {
      name: "big server, bandwidth not committed",
      resources: bigServer,
      commitments: { uptimePercent: 99.9 },
      type: "full",
      reason: /not seed: committed bandwidth unknown \(needs 10 Mbit\/s\)$/,
    },
    {
      name: "seed-sized but 2 CPUs",
      resources: machine({ diskFree: 2000 * GiB, memory: 64 * GiB, cpus: 2 }),
      commitments: enough,
      type: "full",
      reason: /not seed: CPUs 2 \(needs 4\)$/,
    },
    {
      name: "full-sized disk and memory, 1 CPU",
      resources: machine({ diskFree: 100 * GiB, memory: 8 * GiB, cpus: 1 }),
      type: "light",
      reason: /not full: CPUs 1 \(needs 2\)$/,
    },
    {
      name: "the record store's own bytes count as room for records",
      resources: machine({ diskFree: 20 * GiB, store: 15 * GiB, memory: 4 * GiB, cpus: 2 }),
      type: "full",
      reason: /^full: disk for records 35 GiB \(needs 30 GiB\)/,
    },
    {
      name: "below even mobile",
      resources: machine({ diskFree: 50 * MiB, memory: 4 * GiB, cpus: 2 }),
      type: "mobile",
      reason: /^mobile, the thinnest type, though the machine falls short of it: disk for/,
    },
    {
      name: "disk and memory not measured",
      resources: machine({ cpus: 4 }),
      type: "mobile",
      reason: /falls short of it: disk for records unknown \(needs 96 MiB\), memory unknown/,
    },
  ];
  for (const { name, resources, commitments, type, reason } of cases) {
    const classification = classifyNode(resources, profiles, commitments);
    assert.equal(classification.type, type, `${name}: ${classification.reason}`);
    assert.match(classification.reason, reason, name);
    assert.ok(!classification.reason.includes("\n"), name);
  }
});

Deno.test("classifyNode() never makes a seed without commitments, whatever the machine", () => {
  const huge = machine({ diskFree: 100_000 * GiB, memory: 1024 * GiB, cpus: 256 });
  for (const commitments of [undefined, {}]) {
    const classification = classifyNode(huge, profiles, commitments);
    assert.equal(classification.type, "full");
    assert.equal(classification.fit.seed, 0);
    assert.match(classification.reason, /a node becomes a seed only on its operator's word/);
  }
});

Deno.test("chooseNodeType() applies flag over config over auto", () => {
  const smallVm = machine({ diskFree: 10 * GiB, memory: 480 * MiB, cpus: 1 });
  const cases: {
    configured: "auto" | NodeType;
    flag: NodeType | undefined;
    type: NodeType;
    source: string;
    reason: RegExp;
  }[] = [
    { configured: "auto", flag: undefined, type: "light", source: "auto", reason: /^light: / },
    {
      configured: "mobile",
      flag: undefined,
      type: "mobile",
      source: "config",
      reason: /^mobile: set by node.type in the config$/,
    },
    {
      configured: "mobile",
      flag: "light",
      type: "light",
      source: "flag",
      reason: /^light: set by the --light flag$/,
    },
    {
      configured: "auto",
      flag: "full",
      type: "full",
      source: "flag",
      reason: /^full: set by the --full flag, though the machine falls short of it: disk for /,
    },
    {
      configured: "seed",
      flag: undefined,
      type: "seed",
      source: "config",
      reason: /falls short of it: .*committed uptime unknown/,
    },
  ];
  for (const { configured, flag, type, source, reason } of cases) {
    const choice = chooseNodeType(configured, flag, smallVm, profiles);
    const name = `config ${configured}, flag ${flag}`;
    assert.equal(choice.type, type, name);
    assert.equal(choice.source, source, name);
    assert.match(choice.reason, reason, name);
    assert.equal(choice.classification.type, "light", name);
  }
});

/** A machine that is full-sized apart from its free disk. */
function withDisk(diskFree: number): Resources {
  return machine({ diskFree, memory: 16 * GiB, cpus: 4 });
}

Deno.test("shouldReclassify() moves only past the margin", () => {
  const fullNeeds = profiles.full.disk_bytes_max * 1.5; // 30 GiB
  const cases: { current: NodeType; diskFree: number; expected: NodeType | undefined }[] = [
    { current: "full", diskFree: 100 * GiB, expected: undefined },
    { current: "full", diskFree: fullNeeds * 0.97, expected: undefined },
    { current: "full", diskFree: fullNeeds * (1 - RECLASSIFY_MARGIN) + MiB, expected: undefined },
    { current: "full", diskFree: fullNeeds * (1 - RECLASSIFY_MARGIN) - MiB, expected: "light" },
    { current: "full", diskFree: 1 * GiB, expected: "mobile" },
    { current: "light", diskFree: fullNeeds * 1.03, expected: undefined },
    { current: "light", diskFree: fullNeeds * (1 + RECLASSIFY_MARGIN) - MiB, expected: undefined },
    { current: "light", diskFree: fullNeeds * (1 + RECLASSIFY_MARGIN) + MiB, expected: "full" },
    { current: "mobile", diskFree: 100 * GiB, expected: "full" },
  ];
  for (const { current, diskFree, expected } of cases) {
    const change = shouldReclassify(current, classifyNode(withDisk(diskFree), profiles));
    const name = `${current} at ${formatBytes(diskFree)} free`;
    assert.equal(change?.type, expected, name);
    if (change) assert.match(change.reason, new RegExp(`^(up|down) from ${current} to `), name);
  }
});

Deno.test("shouldReclassify() does not flap while free disk hovers at a threshold", () => {
  const threshold = profiles.full.disk_bytes_max * 1.5;
  for (const start of ["full", "light"] as const) {
    let current: NodeType = start;
    let changes = 0;
    let naiveChanges = 0;
    let naive: NodeType = start;
    for (let step = 0; step < 200; step++) {
      // ±5% around the threshold, crossing it about every other step.
      const diskFree = threshold * (1 + 0.05 * Math.sin(step * 1.7));
      const next = classifyNode(withDisk(diskFree), profiles);
      if (next.type !== naive) naiveChanges++;
      naive = next.type;
      const change = shouldReclassify(current, next);
      if (change) {
        current = change.type;
        changes++;
      }
    }
    assert.ok(naiveChanges > 50, "without the margin it would flap");
    assert.equal(changes, 0, `starting as ${start}`);
    assert.equal(current, start);
  }
});

Deno.test("shouldReclassify() steps up to the strongest type cleared with the margin", () => {
  // Seed's disk need (300 GiB) is met by only 5%; full's by far more.
  const resources = machine({ diskFree: 315 * GiB, memory: 64 * GiB, cpus: 8 });
  const next = classifyNode(resources, profiles, enough);
  assert.equal(next.type, "seed");
  const change = shouldReclassify("light", next);
  assert.equal(change?.type, "full");
  assert.match(change!.reason, /^up from light to full, whose needs are met with \d+% to spare/);
  assert.equal(shouldReclassify("full", next), undefined);
});

Deno.test("shouldReclassify() moves down at once when a CPU or commitment is lost", () => {
  const seed = machine({ diskFree: 2000 * GiB, memory: 64 * GiB, cpus: 16 });
  assert.equal(shouldReclassify("seed", classifyNode(seed, profiles))?.type, "full");
  const oneCpu = machine({ diskFree: 100 * GiB, memory: 8 * GiB, cpus: 1 });
  assert.equal(shouldReclassify("full", classifyNode(oneCpu, profiles))?.type, "light");
});
