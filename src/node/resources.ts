/**
 * Measuring what the machine offers a node: disk space where the data directory lives, memory and
 * CPUs. The figures feed the choice of node type (`node_type.ts`) at start and again while the
 * node runs.
 *
 * Where each figure comes from:
 * - disk: `statfs` from `node:fs`, which Deno implements (checked on Linux with Deno 2.9; it needs
 *   `--allow-read` for the path and `--allow-sys` for "statfs"). There is no `df` fallback:
 *   spawning `df` would add `--allow-run` to the node's permissions, and where `statfs` fails
 *   the disk figures are reported missing rather than guessed;
 * - memory: `Deno.systemMemoryInfo()` (`--allow-sys`), lowered on Linux to the cgroup memory
 *   limit when there is one: in a container `/proc/meminfo` describes the host, and a node sized
 *   for the host would be killed by the container's limit;
 * - CPUs: `navigator.hardwareConcurrency` (no permission), which counts the CPUs this process
 *   may run on, so CPU affinity (`taskset`) counts.
 *
 * A figure that cannot be measured is `undefined`, and `problems` says why in one line; measuring
 * never throws.
 *
 * @module
 */

import { statfs } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { describeOsError } from "../core/os_error.ts";
import { DATA_DIR_FILES } from "./data_dir/paths.ts";
import { formatBytes } from "../core/format.ts";

/** What the machine offers a node. A figure is `undefined` when it could not be measured. */
export interface Resources {
  /** The directory whose file system was measured: the data directory or, when it does not
   * exist yet, its nearest existing parent (it will be created on that file system). */
  diskPath: string;
  /** Bytes free on that file system for an unprivileged process (reserved blocks excluded). */
  diskFreeBytes: number | undefined;
  /** Size of that file system in bytes. */
  diskTotalBytes: number | undefined;
  /** Bytes this node's record store already takes on disk (0 when there is none). They count
   * as available to the store: without them a node filling its budget would see its free disk
   * shrink and demote itself. */
  storeBytes: number | undefined;
  /** Memory this process may use in all: physical memory, or a lower cgroup limit. */
  memoryTotalBytes: number | undefined;
  /** Memory available now without swapping (the kernel's estimate, within any cgroup limit). */
  memoryAvailableBytes: number | undefined;
  /** CPUs this process may run on. */
  cpuCount: number | undefined;
  /** One line per figure that could not be measured, saying why. */
  problems: string[];
}

/** Where the Linux cgroup files are read from; tests point these at a fake tree. */
export interface CgroupPaths {
  /** The process's cgroup membership file. */
  procSelfCgroup: string;
  /** The mount point of the cgroup file systems. */
  sysFsCgroup: string;
}

const linuxCgroupPaths: CgroupPaths = {
  procSelfCgroup: "/proc/self/cgroup",
  sysFsCgroup: "/sys/fs/cgroup",
};

/**
 * A cgroup v1 "no limit" is a huge number (2^63 rounded down to a page), not a keyword; anything
 * at or above this is no limit. 2^60 bytes (1 EiB) is far above any real memory.
 */
const cgroupUnlimitedBytes = 2 ** 60;

/**
 * Measures disk space at the data directory, memory and CPUs.
 *
 * @param dataDirPath The data directory (it need not exist yet).
 * @param cgroupPaths Where to read cgroup limits (Linux); for tests.
 * @returns The figures; those that could not be measured are `undefined`, with a reason each in
 *   `problems`.
 */
export async function measureResources(
  dataDirPath: string,
  cgroupPaths: CgroupPaths = linuxCgroupPaths,
): Promise<Resources> {
  const problems: string[] = [];
  const diskPath = await nearestExistingDirectory(resolve(dataDirPath));
  const disk = await measureDisk(diskPath, problems);
  const storeBytes = await measureStoreBytes(dataDirPath, problems);
  const memory = await measureMemory(cgroupPaths, problems);
  const cpuCount = measureCpuCount(problems);
  return { diskPath, ...disk, storeBytes, ...memory, cpuCount, problems };
}

/**
 * One line for logs: what was measured, and what could not be.
 *
 * @param resources Measured figures.
 * @returns For example "disk 79.7 GiB free of 252 GiB at /srv/rhizome, record store 0 B, memory
 *   21.9 GiB available of 23.5 GiB, 2 CPUs".
 */
export function describeResources(resources: Resources): string {
  const bytes = (value: number | undefined) => value === undefined ? "unknown" : formatBytes(value);
  const disk = resources.diskFreeBytes === undefined
    ? `disk space unknown at ${resources.diskPath}`
    : `disk ${bytes(resources.diskFreeBytes)} free of ${bytes(resources.diskTotalBytes)} at ` +
      resources.diskPath;
  const memory = resources.memoryTotalBytes === undefined
    ? "memory unknown"
    : `memory ${bytes(resources.memoryAvailableBytes)} available of ` +
      bytes(resources.memoryTotalBytes);
  const cpus = resources.cpuCount === undefined ? "CPUs unknown" : `${resources.cpuCount} CPUs`;
  return [disk, `record store ${bytes(resources.storeBytes)}`, memory, cpus].join(", ");
}

async function nearestExistingDirectory(path: string): Promise<string> {
  let candidate = path;
  while (true) {
    try {
      if ((await Deno.stat(candidate)).isDirectory) return candidate;
    } catch {
      // Missing or unreadable: try the parent. If none can be read, statfs reports why below.
    }
    const parent = dirname(candidate);
    if (parent === candidate) return path;
    candidate = parent;
  }
}

async function measureDisk(
  path: string,
  problems: string[],
): Promise<Pick<Resources, "diskFreeBytes" | "diskTotalBytes">> {
  try {
    const stats = await statfs(path);
    // The block counts are in units of the fragment size (POSIX statvfs); Deno reports it as
    // `frsize` on some systems. Where it is absent the two sizes are the same.
    const frsize = (stats as { frsize?: unknown }).frsize;
    const unit = typeof frsize === "number" && frsize > 0 ? frsize : stats.bsize;
    const free = stats.bavail * unit;
    const total = stats.blocks * unit;
    if (!Number.isSafeInteger(free) || !Number.isSafeInteger(total) || unit <= 0) {
      problems.push(`Cannot measure disk space at ${path}: statfs returned unusable figures`);
      return { diskFreeBytes: undefined, diskTotalBytes: undefined };
    }
    return { diskFreeBytes: free, diskTotalBytes: total };
  } catch (error) {
    problems.push(`Cannot measure disk space at ${path}: ${describeOsError(error)}`);
    return { diskFreeBytes: undefined, diskTotalBytes: undefined };
  }
}

async function measureStoreBytes(
  dataDirPath: string,
  problems: string[],
): Promise<number | undefined> {
  const path = join(resolve(dataDirPath), DATA_DIR_FILES.records);
  try {
    const info = await Deno.stat(path);
    // Allocated blocks, not the apparent size: an LMDB file may be sparse.
    return info.blocks !== null ? info.blocks * 512 : info.size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    problems.push(`Cannot measure the record store ${path}: ${describeOsError(error)}`);
    return undefined;
  }
}

async function measureMemory(
  cgroupPaths: CgroupPaths,
  problems: string[],
): Promise<Pick<Resources, "memoryTotalBytes" | "memoryAvailableBytes">> {
  let info: Deno.SystemMemoryInfo;
  try {
    info = Deno.systemMemoryInfo();
  } catch (error) {
    problems.push(`Cannot measure memory: ${describeOsError(error)}`);
    return { memoryTotalBytes: undefined, memoryAvailableBytes: undefined };
  }
  const cgroup = Deno.build.os === "linux" ? await readCgroupMemory(cgroupPaths) : undefined;
  if (!cgroup) return { memoryTotalBytes: info.total, memoryAvailableBytes: info.available };
  return {
    memoryTotalBytes: Math.min(info.total, cgroup.limitBytes),
    memoryAvailableBytes: Math.min(info.available, cgroup.availableBytes),
  };
}

function measureCpuCount(problems: string[]): number | undefined {
  const count = navigator.hardwareConcurrency;
  if (Number.isSafeInteger(count) && count > 0) return count;
  problems.push("Cannot count CPUs: the runtime did not report them");
  return undefined;
}

/** The tightest cgroup memory limit on this process, and what is left under it. */
export interface CgroupMemory {
  /** The lowest limit among the process's cgroup and its ancestors. */
  limitBytes: number;
  /** Limit minus current usage, at whichever level leaves the least. Usage includes page cache
   * the kernel could reclaim, so this errs low. */
  availableBytes: number;
}

/**
 * Reads the memory limit of the process's cgroup and its ancestors, v2 (`memory.max`,
 * `memory.current`) or v1 (`memory.limit_in_bytes`, `memory.usage_in_bytes`). A container sees
 * its own cgroup as the root of the tree, so the walk up to the root finds its limit whether or
 * not `/proc/self/cgroup` names a path that exists inside it.
 *
 * @param paths Where the membership file and the cgroup mount are.
 * @returns The limit, or `undefined` when there is none or no cgroup file can be read (not Linux,
 *   no permission): an absent limit is the normal case, not a problem.
 */
export async function readCgroupMemory(paths: CgroupPaths): Promise<CgroupMemory | undefined> {
  let membership: string;
  try {
    membership = await Deno.readTextFile(paths.procSelfCgroup);
  } catch {
    return undefined;
  }
  const levels: { limitFile: string; usageFile: string }[] = [];
  for (const line of membership.split("\n")) {
    // "hierarchy-ID:controller-list:cgroup-path"; v2's line is "0::/path".
    const match = /^(\d+):([^:]*):(\/.*)$/.exec(line.trim());
    if (!match) continue;
    const [, , controllers, cgroupPath] = match;
    if (controllers === "") {
      for (const directory of selfAndAncestors(join(paths.sysFsCgroup, cgroupPath))) {
        if (!directory.startsWith(paths.sysFsCgroup)) break;
        levels.push({
          limitFile: join(directory, "memory.max"),
          usageFile: join(directory, "memory.current"),
        });
      }
    } else if (controllers.split(",").includes("memory")) {
      const mount = join(paths.sysFsCgroup, "memory");
      for (const directory of selfAndAncestors(join(mount, cgroupPath))) {
        if (!directory.startsWith(mount)) break;
        levels.push({
          limitFile: join(directory, "memory.limit_in_bytes"),
          usageFile: join(directory, "memory.usage_in_bytes"),
        });
      }
    }
  }
  let tightest: CgroupMemory | undefined;
  for (const level of levels) {
    const limit = await readCgroupNumber(level.limitFile);
    if (limit === undefined || limit >= cgroupUnlimitedBytes) continue;
    const usage = await readCgroupNumber(level.usageFile) ?? 0;
    const available = Math.max(0, limit - usage);
    tightest = {
      limitBytes: Math.min(tightest?.limitBytes ?? Infinity, limit),
      availableBytes: Math.min(tightest?.availableBytes ?? Infinity, available),
    };
  }
  return tightest;
}

function selfAndAncestors(directory: string): string[] {
  const directories = [directory];
  for (let parent = dirname(directory); parent !== directories.at(-1); parent = dirname(parent)) {
    directories.push(parent);
  }
  return directories;
}

/** A number from a cgroup file; `undefined` for "max", a missing file or anything else. */
async function readCgroupNumber(path: string): Promise<number | undefined> {
  try {
    const text = (await Deno.readTextFile(path)).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
