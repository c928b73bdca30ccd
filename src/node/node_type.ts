/**
 * Choosing a node's type (ROADMAP 3.2–3.3): set by a flag, by `node.type` in the configuration,
 * or, for `auto`, the largest profile the measured machine can honour. An `auto` node measures
 * again while it runs and changes type when its resources change, with a margin so that a figure
 * hovering at a threshold does not make it flap between two types.
 *
 * Everything here is pure: the figures come from `resources.ts`.
 *
 * @module
 */

import { NODE_TYPES, type NodeProfile, type NodeType } from "../core/config_schema.ts";
import { formatBytes } from "../core/format.ts";
import type { Resources } from "./resources.ts";

/**
 * Free disk must be this many times a profile's `disk_bytes_max`. The budget counts record bytes
 * plus a fixed overhead per record, but the LMDB file is larger than that (pages are part-empty
 * after random inserts, freed pages are kept for open readers, and the file never shrinks), and
 * the rest of the machine (logs, updates, other programs) needs room too. A full disk is the
 * failure that hurts most, so the margin is generous.
 */
export const DISK_HEADROOM_FACTOR = 1.5;

/**
 * Memory must be this many times a profile's `memory_bytes_max`. The budget covers Rhizome's
 * caches and tables; the runtime itself, LMDB's mapped pages and the operating system need room
 * beyond it. 1.5 keeps a 512 MB VM (about 480 MiB usable) a light node rather than a client.
 */
export const MEMORY_HEADROOM_FACTOR = 1.5;

/**
 * CPUs each type needs. A seed serves the most peers (256 requests in flight) and checks an
 * Ed25519 signature on every record it takes; a full node needs one CPU for the event loop and
 * one for LMDB's write thread and the network stack; light and mobile nodes run on anything.
 */
export const CPU_COUNT_MIN: Readonly<Record<NodeType, number>> = {
  seed: 4,
  full: 2,
  light: 1,
  mobile: 1,
};

/**
 * The uptime an operator must commit to for a node to become a seed automatically, in percent.
 * Others fall back on seeds when they lose content (ROADMAP 6.1); 99% is at most about 7 hours
 * down a month.
 */
export const SEED_UPTIME_PERCENT_MIN = 99;

/**
 * The upload bandwidth an operator must commit to for a seed, in bytes per second: 10 Mbit/s,
 * enough to hand a new full node its whole 20 GiB budget (ROADMAP 6.3, full sync) in about
 * five hours.
 */
export const SEED_BANDWIDTH_BYTES_PER_S_MIN = 1_250_000;

/**
 * Hysteresis of re-classification at run time, as a fraction of the disk and memory needs. A
 * running node moves up only when the stronger type's needs are met with this much to spare, and
 * moves down only when its current type's needs are missed by this much. Free disk moves by a
 * few percent with logs, temporary files and compaction; 10% of a threshold (3 GiB of a full
 * node's 30 GiB) is well above that jitter and still small next to a real change such as a disk
 * filling up. CPU counts and commitments do not drift, so they get no margin: a whole CPU is a
 * real change.
 */
export const RECLASSIFY_MARGIN = 0.1;

/**
 * What an operator promises for a seed. They cannot be measured at start, so they are taken on
 * the operator's word; without them a node never becomes a seed by itself. (Verifying a seed by
 * proof of storage is ROADMAP 6.1, later.)
 */
export interface SeedCommitments {
  /** Share of the time the node will be up, in percent. */
  uptimePercent?: number;
  /** Upload bandwidth the node will give, in bytes per second. */
  bandwidthBytesPerS?: number;
}

/** The type the machine qualifies for, and why. */
export interface NodeClassification {
  /** The strongest type whose needs the machine meets; `mobile` when it meets none. */
  type: NodeType;
  /** One line: the figures that decided, and what each stronger type lacked. */
  reason: string;
  /**
   * For each type, how well the machine meets its needs: the smallest ratio of measured to
   * needed for disk and memory (1 or more: it qualifies), or 0 when it lacks a CPU or a seed
   * commitment, or a figure is unknown.
   */
  fit: Record<NodeType, number>;
  /** For each type, what the machine lacks for it (empty when it qualifies). */
  shortfalls: Record<NodeType, string[]>;
}

/** Where a chosen node type came from. */
export type NodeTypeSource = "flag" | "config" | "auto";

/** The type a node runs as. */
export interface NodeTypeChoice {
  /** The type. */
  type: NodeType;
  /** One line for the log. */
  reason: string;
  /** Flag, configuration or measurement; only `auto` nodes re-classify while running. */
  source: NodeTypeSource;
  /** What the machine qualifies for, whatever the source (to warn when a chosen type exceeds
   * it, and as the start of re-classification). */
  classification: NodeClassification;
}

interface Need {
  /** "disk for records", "CPUs", …: what is measured. */
  what: string;
  measured: number | undefined;
  needed: number;
  show: (value: number) => string;
  /** Whether the figure is a count or a promise that does not drift (CPUs, commitments): the
   * re-classification margin applies only to figures that do (disk, memory). */
  steady?: boolean;
}

function needsOf(
  type: NodeType,
  resources: Resources,
  profile: NodeProfile,
  commitments: SeedCommitments | undefined,
): Need[] {
  const diskForRecords = resources.diskFreeBytes === undefined
    ? undefined
    : resources.diskFreeBytes + (resources.storeBytes ?? 0);
  const needs: Need[] = [
    {
      what: "disk for records",
      measured: diskForRecords,
      needed: profile.disk_bytes_max * DISK_HEADROOM_FACTOR,
      show: formatBytes,
    },
    {
      what: "memory",
      measured: resources.memoryTotalBytes,
      needed: profile.memory_bytes_max * MEMORY_HEADROOM_FACTOR,
      show: formatBytes,
    },
    {
      what: "CPUs",
      measured: resources.cpuCount,
      needed: CPU_COUNT_MIN[type],
      show: String,
      steady: true,
    },
  ];
  if (type === "seed") {
    needs.push(
      {
        what: "committed uptime",
        measured: commitments?.uptimePercent,
        needed: SEED_UPTIME_PERCENT_MIN,
        show: (value) => `${value}%`,
        steady: true,
      },
      {
        what: "committed bandwidth",
        measured: commitments?.bandwidthBytesPerS,
        needed: SEED_BANDWIDTH_BYTES_PER_S_MIN,
        show: (value) => `${Number((value * 8 / 1e6).toPrecision(3))} Mbit/s`,
        steady: true,
      },
    );
  }
  return needs;
}

function ratioOf(need: Need): number {
  if (need.measured === undefined || !Number.isFinite(need.measured)) return 0;
  return Math.max(0, need.measured / need.needed);
}

/** How well a set of needs is met: 0 when a steady need is missed, else the smallest ratio of
 * the drifting ones, so that a margin on it is a margin on disk and memory only. */
function fitOf(needs: Need[]): number {
  if (needs.some((need) => need.steady && ratioOf(need) < 1)) return 0;
  return Math.min(...needs.filter((need) => !need.steady).map(ratioOf));
}

function describeNeed(need: Need): string {
  const measured = need.measured === undefined ? "unknown" : need.show(need.measured);
  return `${need.what} ${measured} (needs ${need.show(need.needed)})`;
}

/**
 * The largest profile the machine can honour: enough free disk (counting what the node's own
 * record store already holds) for the profile's disk budget times {@link DISK_HEADROOM_FACTOR},
 * enough memory for its memory budget times {@link MEMORY_HEADROOM_FACTOR}, at least
 * {@link CPU_COUNT_MIN} CPUs, and for a seed the operator's commitments. An unknown figure meets
 * no need. When the machine meets not even the mobile profile's needs it is still a mobile node,
 * the thinnest there is, and the reason says what it lacks.
 *
 * @param resources Measured figures.
 * @param profiles The budgets of each type (`config.profiles`).
 * @param commitments Uptime and bandwidth promised for a seed; without them, never a seed.
 * @returns The type, the reason, and how well each type's needs are met.
 */
export function classifyNode(
  resources: Resources,
  profiles: Readonly<Record<NodeType, NodeProfile>>,
  commitments?: SeedCommitments,
): NodeClassification {
  const fit = {} as Record<NodeType, number>;
  const shortfalls = {} as Record<NodeType, string[]>;
  const met = {} as Record<NodeType, string[]>;
  for (const type of NODE_TYPES) {
    const needs = needsOf(type, resources, profiles[type], commitments);
    fit[type] = fitOf(needs);
    shortfalls[type] = needs.filter((need) => ratioOf(need) < 1).map(describeNeed);
    met[type] = needs.filter((need) => ratioOf(need) >= 1).map(describeNeed);
  }
  const type = NODE_TYPES.find((candidate) => fit[candidate] >= 1);
  const chosen = type ?? "mobile";
  const rejected = NODE_TYPES.slice(0, NODE_TYPES.indexOf(chosen)).map((stronger) => {
    if (
      stronger === "seed" && commitments?.uptimePercent === undefined &&
      commitments?.bandwidthBytesPerS === undefined
    ) {
      return "not seed: no uptime or bandwidth commitment was given, and a node becomes a " +
        "seed only on its operator's word";
    }
    return `not ${stronger}: ${shortfalls[stronger].join(", ")}`;
  });
  const head = type
    ? `${chosen}: ${met[chosen].join(", ")}`
    : `mobile, the thinnest type, though the machine falls short of it: ` +
      shortfalls.mobile.join(", ");
  return { type: chosen, reason: [head, ...rejected].join("; "), fit, shortfalls };
}

/**
 * The type a node starts as. Precedence: a flag (`--seed`, `--full`, `--light`, `--mobile`), then
 * `node.type` in the configuration, then `auto`'s classification. A type set by hand is obeyed
 * even when the machine falls short of it (the operator may know better, for example about a
 * disk that will be mounted); the reason then says what is short, for a warning.
 *
 * @param configuredType `config.node.type`.
 * @param flagType The type given by a flag, if any.
 * @param resources Measured figures.
 * @param profiles `config.profiles`.
 * @param commitments Seed commitments, for `auto`.
 * @returns The type, its source, and the classification of the machine.
 */
export function chooseNodeType(
  configuredType: "auto" | NodeType,
  flagType: NodeType | undefined,
  resources: Resources,
  profiles: Readonly<Record<NodeType, NodeProfile>>,
  commitments?: SeedCommitments,
): NodeTypeChoice {
  const classification = classifyNode(resources, profiles, commitments);
  const manual = flagType !== undefined
    ? { type: flagType, source: "flag" as const, why: `set by the --${flagType} flag` }
    : configuredType !== "auto"
    ? { type: configuredType, source: "config" as const, why: "set by node.type in the config" }
    : undefined;
  if (!manual) {
    const { type, reason } = classification;
    return { type, reason, source: "auto", classification };
  }
  const short = classification.shortfalls[manual.type];
  const reason = short.length === 0
    ? `${manual.type}: ${manual.why}`
    : `${manual.type}: ${manual.why}, though the machine falls short of it: ${short.join(", ")}`;
  return { type: manual.type, reason, source: manual.source, classification };
}

/**
 * Whether an `auto` node running as `current` should change type, given a fresh classification.
 * It moves down only when `current`'s needs are missed by more than {@link RECLASSIFY_MARGIN},
 * and up only to a type whose needs are met with that much to spare (the strongest such type up
 * to `next.type`), so a figure hovering at a threshold does not make it flap.
 *
 * @param current The type the node runs as.
 * @param next A classification of freshly measured resources.
 * @returns The type to change to and why, or `undefined` to stay.
 */
export function shouldReclassify(
  current: NodeType,
  next: NodeClassification,
): { type: NodeType; reason: string } | undefined {
  const rank = (type: NodeType) => NODE_TYPES.indexOf(type); // lower is stronger
  if (next.type === current) return undefined;
  const percent = (fit: number) => `${Math.round((fit - 1) * 100)}%`;
  if (rank(next.type) > rank(current)) {
    if (next.fit[current] >= 1 - RECLASSIFY_MARGIN) return undefined;
    return { type: next.type, reason: `down from ${current} to ${next.reason}` };
  }
  for (const type of NODE_TYPES.slice(rank(next.type), rank(current))) {
    if (next.fit[type] < 1 + RECLASSIFY_MARGIN) continue;
    const reason = type === next.type
      ? `up from ${current} to ${next.reason}`
      : `up from ${current} to ${type}, whose needs are met with ${percent(next.fit[type])} ` +
        `to spare (${next.type}'s only with ${percent(next.fit[next.type])})`;
    return { type, reason };
  }
  return undefined;
}
