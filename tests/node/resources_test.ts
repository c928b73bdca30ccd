/**
 * Measuring the machine: real figures on this machine, the file system of a data directory that
 * does not exist yet, the record store counted as the node's own, cgroup memory limits (v1 and
 * v2, read from a fake tree), and figures reported missing, not thrown, without --allow-sys.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { DATA_DIR_FILES } from "../../src/node/data_dir/paths.ts";
import {
  type CgroupPaths,
  describeResources,
  measureResources,
  readCgroupMemory,
} from "../../src/node/resources.ts";
import { withTempDir } from "../_rhizome.ts";

const MiB = 2 ** 20;

Deno.test("measureResources() measures disk, memory and CPUs of this machine", async () => {
  await withTempDir(async (directory) => {
    const resources = await measureResources(directory);
    assert.deepEqual(resources.problems, []);
    assert.equal(resources.diskPath, directory);
    for (const figure of ["diskFreeBytes", "diskTotalBytes", "memoryTotalBytes"] as const) {
      const value = resources[figure];
      assert.ok(Number.isSafeInteger(value) && value! > 0, `${figure} = ${value}`);
    }
    assert.ok(resources.diskFreeBytes! <= resources.diskTotalBytes!);
    assert.ok(resources.memoryAvailableBytes! <= resources.memoryTotalBytes!);
    assert.equal(resources.storeBytes, 0);
    assert.equal(resources.cpuCount, navigator.hardwareConcurrency);
    assert.match(describeResources(resources), /^disk .+ free of .+ at .+, \d+ CPUs$/);
  });
});

Deno.test("measureResources() measures a missing data dir's nearest existing parent", async () => {
  await withTempDir(async (directory) => {
    const resources = await measureResources(join(directory, "not", "yet"));
    assert.equal(resources.diskPath, directory);
    assert.ok(resources.diskFreeBytes! > 0);
    assert.equal(resources.storeBytes, 0);
  });
});

Deno.test("measureResources() counts the record store's allocated bytes", async () => {
  await withTempDir(async (directory) => {
    await Deno.writeFile(join(directory, DATA_DIR_FILES.records), new Uint8Array(MiB).fill(7));
    const resources = await measureResources(directory);
    assert.ok(resources.storeBytes! >= MiB, `storeBytes = ${resources.storeBytes}`);
    assert.ok(resources.storeBytes! < 2 * MiB, `storeBytes = ${resources.storeBytes}`);
  });
});

/** Writes a fake `/proc/self/cgroup` and `/sys/fs/cgroup` tree under `root`. */
async function fakeCgroups(
  root: string,
  membership: string,
  files: Record<string, string>,
): Promise<CgroupPaths> {
  const paths = { procSelfCgroup: join(root, "cgroup"), sysFsCgroup: join(root, "sys") };
  await Deno.writeTextFile(paths.procSelfCgroup, membership);
  for (const [path, text] of Object.entries(files)) {
    const full = join(paths.sysFsCgroup, path);
    await Deno.mkdir(dirname(full), { recursive: true });
    await Deno.writeTextFile(full, text + "\n");
  }
  return paths;
}

Deno.test("readCgroupMemory() finds the tightest limit of the cgroup and its parents", async () => {
  const cases: {
    name: string;
    membership: string;
    files: Record<string, string>;
    expected: { limitBytes: number; availableBytes: number } | undefined;
  }[] = [
    {
      name: "v2 leaf limit",
      membership: "0::/a/b\n",
      files: {
        "a/memory.max": "max",
        "a/b/memory.max": String(512 * MiB),
        "a/b/memory.current": String(100 * MiB),
      },
      expected: { limitBytes: 512 * MiB, availableBytes: 412 * MiB },
    },
    {
      name: "v2 parent tighter",
      membership: "0::/a/b\n",
      files: {
        "a/memory.max": String(256 * MiB),
        "a/memory.current": String(200 * MiB),
        "a/b/memory.max": String(512 * MiB),
        "a/b/memory.current": String(100 * MiB),
      },
      expected: { limitBytes: 256 * MiB, availableBytes: 56 * MiB },
    },
    {
      name: "v2 in a container (own cgroup mounted as the root, host path absent)",
      membership: "0::/system.slice/docker-abc.scope\n",
      files: { "memory.max": String(1024 * MiB), "memory.current": String(24 * MiB) },
      expected: { limitBytes: 1024 * MiB, availableBytes: 1000 * MiB },
    },
    {
      name: "v1 hybrid, container root",
      membership: "4:memory:/docker/abc\n0::/\n",
      files: {
        "memory/memory.limit_in_bytes": String(2048 * MiB),
        "memory/memory.usage_in_bytes": String(48 * MiB),
      },
      expected: { limitBytes: 2048 * MiB, availableBytes: 2000 * MiB },
    },
    {
      name: "v1 without limit",
      membership: "4:memory:/x\n",
      files: { "memory/x/memory.limit_in_bytes": "9223372036854771712" },
      expected: undefined,
    },
    { name: "no cgroup files", membership: "0::/\n", files: {}, expected: undefined },
  ];
  for (const { name, membership, files, expected } of cases) {
    await withTempDir(async (root) => {
      const paths = await fakeCgroups(root, membership, files);
      assert.deepEqual(await readCgroupMemory(paths), expected, name);
    });
  }
  assert.equal(
    await readCgroupMemory({ procSelfCgroup: "/nonexistent/cgroup", sysFsCgroup: "/nonexistent" }),
    undefined,
  );
});

Deno.test("measureResources() lowers memory to a cgroup limit", async () => {
  await withTempDir(async (root) => {
    const paths = await fakeCgroups(root, "0::/\n", {
      "memory.max": String(64 * MiB),
      "memory.current": String(60 * MiB),
    });
    const resources = await measureResources(root, paths);
    assert.equal(resources.memoryTotalBytes, 64 * MiB);
    assert.equal(resources.memoryAvailableBytes, 4 * MiB);
  });
});

Deno.test("measureResources() without --allow-sys says what is missing, in one line", async () => {
  const moduleUrl = new URL("../../src/node/resources.ts", import.meta.url).href;
  const code = `import { measureResources } from ${JSON.stringify(moduleUrl)};
const r = await measureResources(Deno.cwd());
console.log(JSON.stringify({ ...r, diskFreeBytes: r.diskFreeBytes ?? null,
  memoryTotalBytes: r.memoryTotalBytes ?? null }));`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", "-"],
    cwd: new URL("../..", import.meta.url).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(code));
  await writer.close();
  const output = await child.output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const resources = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(resources.diskFreeBytes, null);
  assert.equal(resources.memoryTotalBytes, null);
  assert.ok(resources.cpuCount >= 1, "CPUs need no permission");
  assert.equal(resources.problems.length, 2);
  for (const problem of resources.problems) {
    assert.match(problem, /^Cannot measure (disk space at .+|memory): .*--allow-sys/);
    assert.ok(!problem.includes("\n"));
  }
});
