/**
 * Peak memory of `rhizome snapshot export` on stores of ~100 MB, ~1 GB and ~3 GB: the export
 * streams from one read transaction, so its memory must stay flat as the store grows (issue 8:
 * the larger may peak at most 1.2× the smaller).
 *
 * Builds each store in a temporary directory, then exports it in a child `deno run` with the
 * `rhizome` task's permissions, reading the child's `VmHWM` (the kernel's own peak of `VmRSS`),
 * `RssAnon` and `RssFile` from `/proc/<pid>/status` (through `cat`: Deno refuses direct `/proc`
 * reads without `-A`) every {@link SAMPLE_MS} ms. Prints one JSON object; the directory is
 * removed at the end. Linux only. `deno task bench` runs it for 100MB and 1GB after the benches;
 * `deno task bench:snapshot-rss` for all three sizes.
 *
 *     deno run --no-prompt --allow-read --allow-write --allow-env --allow-ffi --allow-run \
 *       --allow-sys scripts/snapshot_rss.ts [--sizes 100MB,1GB,3GB] [--stores DIR] [--trace]
 *
 * `--stores DIR` builds the stores in DIR and keeps them there, reusing those already built (a
 * store is rebuilt when its record count differs); `--trace` prints to stderr, as JSON lines,
 * each sample at which the export's peak rose, with the time since it started.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import denoConfig from "../deno.json" with { type: "json" };
import { resolveConfig } from "../src/core/config.ts";
import { SystemClock } from "../src/core/system_clock.ts";
import { recordRules } from "../src/content/record_rules.ts";
import {
  encodeRecord,
  type ImmutableRecord,
  recordKey,
  RecordKind,
} from "../src/content/records.ts";
import { DataDir } from "../src/node/data_dir/paths.ts";
import { createIdentity } from "../src/node/data_dir/identity_file.ts";
import { RecordStore } from "../src/store/record_store.ts";
import { permissionFlags } from "./compile.ts";

/** Payload bytes of a record. */
const PAYLOAD_BYTES = 4096;
/** An encoded record's bytes beyond its payload. */
const RECORD_OVERHEAD_BYTES =
  encodeRecord({ kind: RecordKind.immutable, payload: new Uint8Array(PAYLOAD_BYTES) }).length -
  PAYLOAD_BYTES;
/** Concurrent puts while building (LMDB commits one event-loop turn's together). */
const BUILD_BATCH = 2_000;
/** How often the child's memory is read. */
const SAMPLE_MS = 50;
/** The stores that can be measured: record bytes of each. */
const SIZES = [
  { name: "100MB", bytes: 100e6 },
  { name: "1GB", bytes: 1e9 },
  { name: "3GB", bytes: 3e9 },
];

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const { config } = resolveConfig({});

/** Fills a fresh data dir with `records` immutable records; returns their bytes. */
async function build(dataDir: DataDir, records: number): Promise<number> {
  await dataDir.create();
  await createIdentity(dataDir.identityPath, { created: new Date().toISOString() });
  const store = RecordStore.open({
    path: dataDir.recordsPath,
    rules: recordRules,
    clock: new SystemClock(),
    classes: config.store,
    quota: { bytesMax: 4 * 1024 ** 3, recordsMax: 10_000_000 },
  });
  const filler = new Uint8Array(PAYLOAD_BYTES).map((_, i) => (i * 131 + 7) & 0xff);
  let bytes = 0;
  for (let start = 0; start < records; start += BUILD_BATCH) {
    const puts: Promise<unknown>[] = [];
    for (let index = start; index < Math.min(records, start + BUILD_BATCH); index++) {
      const payload = filler.slice();
      new DataView(payload.buffer).setFloat64(0, index);
      const record: ImmutableRecord = { kind: RecordKind.immutable, payload };
      const encoded = encodeRecord(record);
      bytes += encoded.length;
      puts.push(store.putRecord(recordKey(record), encoded));
    }
    await Promise.all(puts);
  }
  await store.close();
  return bytes;
}

/** The records of a store already built in `dataDir`, or undefined when there is none. */
async function builtCount(dataDir: DataDir): Promise<number | undefined> {
  if (!await Deno.stat(dataDir.recordsPath).catch(() => undefined)) return undefined;
  const store = RecordStore.open({
    path: dataDir.recordsPath,
    rules: recordRules,
    clock: new SystemClock(),
    classes: config.store,
    quota: { bytesMax: Number.MAX_SAFE_INTEGER, recordsMax: Number.MAX_SAFE_INTEGER },
    readOnly: true,
  });
  try {
    return store.stats().values;
  } finally {
    await store.close();
  }
}

/** What a process holds, in kB. */
interface Memory {
  /** Resident, all of it: `VmRSS`. */
  rss: number;
  /** The kernel's high-water mark of `VmRSS`: `VmHWM`. */
  hwm: number;
  /** Resident anonymous memory (heap, stacks, buffers): `RssAnon`. */
  anon: number;
  /** Resident file-backed pages, the store's memory map among them: `RssFile`. */
  file: number;
}

/** The memory of a process, or undefined once it is gone. */
async function memoryOf(pid: number): Promise<Memory | undefined> {
  const { code, stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (code !== 0) return undefined;
  const text = new TextDecoder().decode(stdout);
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  const rss = field("VmRSS");
  if (!Number.isFinite(rss)) return undefined;
  return { rss, hwm: field("VmHWM"), anon: field("RssAnon"), file: field("RssFile") };
}

/**
 * Runs `rhizome --version` once, unmeasured: the first `deno run` after a source change
 * transpiles the changed modules, memory the export itself never needs (a compiled binary never
 * transpiles), so the first store measured would not be measured like the others.
 */
async function warmUp(): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissionFlags(denoConfig.tasks.rhizome), MAIN, "--version"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`rhizome --version failed: ${new TextDecoder().decode(stderr)}`);
}

/** Exports a data dir in a child process, sampling its memory; returns seconds and peaks (MB). */
async function measureExport(dataDir: DataDir, out: string, trace: boolean) {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissionFlags(denoConfig.tasks.rhizome),
      MAIN,
      "snapshot",
      "export",
      "--data-dir",
      dataDir.path,
      "--out",
      out,
      "--json",
    ],
    env: { NO_COLOR: "1", HOME: Deno.env.get("HOME") ?? "/nonexistent" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const peak: Memory = { rss: 0, hwm: 0, anon: 0, file: 0 };
  let done = false;
  const sampling = (async () => {
    while (!done) {
      const memory = await memoryOf(child.pid);
      if (trace && memory && memory.hwm > peak.hwm) {
        const seconds = Number(((performance.now() - started) / 1000).toFixed(2));
        console.error(JSON.stringify({ seconds, ...memory }));
      }
      for (const name of ["rss", "hwm", "anon", "file"] as const) {
        if (Number.isFinite(memory?.[name])) peak[name] = Math.max(peak[name], memory![name]);
      }
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  })();
  const result = await child.output();
  const seconds = (performance.now() - started) / 1000;
  done = true;
  await sampling;
  if (result.code !== 0) {
    throw new Error(`export failed (${result.code}): ${new TextDecoder().decode(result.stderr)}`);
  }
  const summary = JSON.parse(new TextDecoder().decode(result.stdout));
  return { seconds, peak, summary };
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: SIZES.map((size) => size.name).join(",") },
    stores: { type: "string" },
    trace: { type: "boolean", default: false },
  },
});
const chosen = values.sizes.split(",").map((name) => {
  const size = SIZES.find((known) => known.name === name);
  if (!size) {
    console.error(`--sizes: unknown size ${JSON.stringify(name)} (known: 100MB, 1GB, 3GB)`);
    Deno.exit(2);
  }
  return size;
});

await warmUp();
const root = values.stores ?? await Deno.makeTempDir({ prefix: "rhizome-snapshot-rss-" });
if (values.stores) await Deno.mkdir(root, { recursive: true });
try {
  const results: Record<string, unknown> = {};
  const peaks: number[] = [];
  const anonPeaks: number[] = [];
  for (const size of chosen) {
    const dataDir = new DataDir(join(root, size.name));
    const records = Math.ceil(size.bytes / (PAYLOAD_BYTES + RECORD_OVERHEAD_BYTES));
    const buildStarted = performance.now();
    const built = values.stores ? await builtCount(dataDir) : undefined;
    if (built !== undefined && built !== records) {
      await Deno.remove(dataDir.path, { recursive: true });
    }
    const recordBytes = built === records
      ? records * (PAYLOAD_BYTES + RECORD_OVERHEAD_BYTES)
      : await build(dataDir, records);
    const buildSeconds = (performance.now() - buildStarted) / 1000;
    const storeFileBytes = (await Deno.stat(dataDir.recordsPath)).size;
    const out = join(root, `${size.name}.snapshot.gz`);
    const measured = await measureExport(dataDir, out, values.trace);
    // VmHWM is the kernel's own high-water mark, exact; the sampled VmRSS may miss a spike.
    peaks.push(Math.max(measured.peak.rss, measured.peak.hwm));
    anonPeaks.push(measured.peak.anon);
    const mb = (kb: number) => Number((kb / 1024).toFixed(1));
    results[size.name] = {
      records,
      record_bytes: recordBytes,
      store_file_bytes: storeFileBytes,
      build_seconds: Number(buildSeconds.toFixed(1)),
      exported_records: measured.summary.records,
      snapshot_bytes: measured.summary.bytes,
      export_seconds: Number(measured.seconds.toFixed(2)),
      export_duration_ms: measured.summary.duration_ms,
      mb_per_s: Number((recordBytes / 1e6 / measured.seconds).toFixed(1)),
      records_per_s: Math.round(records / measured.seconds),
      peak_rss_sampled_mb: mb(measured.peak.rss),
      peak_rss_hwm_mb: mb(measured.peak.hwm),
      peak_rss_anon_mb: mb(measured.peak.anon),
      peak_rss_file_mb: mb(measured.peak.file),
    };
    if (!values.stores) await Deno.remove(dataDir.path, { recursive: true });
    await Deno.remove(out);
  }
  // The store is read through a memory map: the pages a read touches count in VmRSS (RssFile)
  // until the read-only store unmaps them again, every few hundred entries. RssAnon is the
  // export's own memory, which a garbage collection every 32 MiB of records keeps level.
  const ratios: Record<string, number> = {};
  const anonRatios: Record<string, number> = {};
  for (let index = 1; index < chosen.length; index++) {
    const pair = `${chosen[index].name}/${chosen[index - 1].name}`;
    ratios[pair] = Number((peaks[index] / peaks[index - 1]).toFixed(3));
    anonRatios[pair] = Number((anonPeaks[index] / anonPeaks[index - 1]).toFixed(3));
  }
  console.log(JSON.stringify({
    ...results,
    peak_rss_ratio: ratios,
    peak_rss_anon_ratio: anonRatios,
    flat: Object.values(ratios).every((ratio) => ratio <= 1.2),
  }));
} finally {
  if (!values.stores) await Deno.remove(root, { recursive: true });
}
