/**
 * Snapshots: export → import round trips byte for byte; damaged, truncated, wrongly versioned and
 * forged files are refused by verify and import with one line and change nothing; import through
 * a running node's control API stores records the node then serves, repeats as a no-op and
 * refuses a corrupt file whole; an export beside a running node holds every acknowledged
 * record; `--keep`; a full target (`ulimit -f`) leaves nothing behind.
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import denoConfig from "../../deno.json" with { type: "json" };
import { permissionFlags } from "../../scripts/compile.ts";
import { toHex } from "../../src/core/bytes.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import { ed25519Sign, sha256 } from "../../src/core/crypto.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import { resolveConfig } from "../../src/core/config.ts";
import { RhizomeError } from "../../src/core/errors.ts";
import { DataDir } from "../../src/node/data_dir/paths.ts";
import { RhizomeNode } from "../../src/node/node.ts";
import { importSnapshotInto } from "../../src/node/snapshot_import.ts";
import { signedMessage, SnapshotFrameReader } from "../../src/services/snapshots/format.ts";
import { RecordStore } from "../../src/store/record_store.ts";
import { linesOf, runInProcess, withTempDir } from "../_rhizome.ts";
import { startNode, waitFor } from "../_node_process.ts";
import {
  alice,
  bob,
  defaultClasses,
  immutable,
  mutable,
  openStore,
  votes,
} from "../store/_store.ts";
import { docId, docRecord, signMessage, signThread } from "../../src/content/documents.ts";
import {
  entrySeqOf,
  hourOf,
  recentIndex,
  signedEntrySet,
  threadIndex,
  threadsByHourIndex,
} from "../../src/content/key_schema.ts";
import { encodeRecord, recordKey } from "../../src/content/records.ts";
import { controlRoutes } from "../../src/api/routes.ts";

/**
 * A data dir with an identity and a store: `count` immutable records, alice's profile, a votes
 * set (records of Rhizome's content schema, which import checks).
 */
async function makeDataDir(
  directory: string,
  options: { count?: number; payload?: (index: number) => string } = {},
): Promise<void> {
  const init = await runInProcess(["init", "--data-dir", directory]);
  assert.equal(init.status, 0, init.stderr);
  const { store } = openStore(directory, { clock: new VirtualClock(Date.now()) });
  const payload = options.payload ?? ((index) => `value ${index}`);
  for (let index = 0; index < (options.count ?? 50); index++) {
    const record = immutable(payload(index));
    await store.putRecord(record.key, record.bytes);
  }
  const profile = mutable(3);
  await store.putRecord(profile.key, profile.bytes, { published: true });
  const expiresAtS = Math.floor(Date.now() / 1000) + 86_400;
  const set = votes([
    { writer: alice, seq: 1, expiresAtS, direction: 1 },
    { writer: bob, seq: 1, expiresAtS, direction: -1 },
  ]);
  await store.putRecord(set.key, set.bytes, { class: "popular" });
  await store.close();
}

/** {@link makeDataDir}, then a snapshot of it exported to `file`. */
async function makeSnapshot(
  directory: string,
  file: string,
  options?: Parameters<typeof makeDataDir>[1],
): Promise<void> {
  await makeDataDir(directory, options);
  const exported = await exportTo(directory, file);
  assert.equal(exported.status, 0, exported.stderr);
}

/** Every record in a data dir's store: key hex → bytes hex (empty when there is no store). */
function recordsIn(directory: string): Map<string, string> {
  const found = new Map<string, string>();
  try {
    Deno.statSync(join(directory, "records.mdb"));
  } catch {
    return found;
  }
  const store = RecordStore.open({
    path: join(directory, "records.mdb"),
    rules: recordRules,
    clock: { nowMs: () => Date.now() },
    classes: defaultClasses,
    quota: { bytesMax: 1 << 30, recordsMax: 1_000_000 },
    readOnly: true,
  });
  for (const record of store.values()) found.set(record.key.toHex(), toHex(record.value));
  void store.close();
  return found;
}

async function snapshotKeys(path: string): Promise<Set<string>> {
  const keys = new Set<string>();
  const file = await Deno.open(path);
  for await (const frame of new SnapshotFrameReader(file.readable, path).frames()) {
    if (frame.type === "record") keys.add(toHex(frame.record.key));
  }
  return keys;
}

async function exportTo(dataDir: string, out: string, ...more: string[]) {
  return await runInProcess(["snapshot", "export", "--data-dir", dataDir, "--out", out, ...more]);
}

Deno.test("export → import into a fresh data dir: the same records byte for byte", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const target = join(root, "target");
    const file = join(root, "s.snapshot.gz");
    await makeDataDir(source);
    const exported = await exportTo(source, file, "--json");
    assert.equal(exported.status, 0, exported.stderr);
    const summary = JSON.parse(exported.stdout);
    assert.equal(summary.records, 52);
    assert.deepEqual(summary.counts_by_kind, { immutable: 50, mutable: 1, set: 1 });

    const verified = await runInProcess(["snapshot", "verify", file, "--json"]);
    assert.equal(verified.status, 0, verified.stderr);
    assert.deepEqual(JSON.parse(verified.stdout).counts_by_kind, summary.counts_by_kind);

    const imported = await runInProcess([
      "snapshot",
      "import",
      file,
      "--data-dir",
      target,
      "--json",
    ]);
    assert.equal(imported.status, 0, imported.stderr);
    assert.equal(JSON.parse(imported.stdout).imported, 52);
    const before = recordsIn(source);
    assert.equal(before.size, 52);
    assert.deepEqual(recordsIn(target), before);

    // Twice: nothing changes.
    const again = await runInProcess(["snapshot", "import", file, "--data-dir", target, "--json"]);
    assert.equal(again.status, 0, again.stderr);
    const counts = JSON.parse(again.stdout);
    assert.equal(counts.imported, 0);
    assert.equal(counts.unchanged, 52);
    assert.deepEqual(recordsIn(target), before);

    const listed = await runInProcess(["snapshot", "list", root, "--json"]);
    assert.equal(listed.status, 0, listed.stderr);
    const { directory, snapshots: entries } = JSON.parse(listed.stdout);
    assert.equal(directory, root, "one object, like every --json: the folder and its snapshots");
    assert.equal(entries.length, 1);
    assert.equal(entries[0].node_id, summary.node_id);
  });
});

Deno.test("import keeps a newer version held and counts it", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const target = join(root, "target");
    const file = join(root, "s.snapshot.gz");
    await makeSnapshot(source, file, { count: 2 });
    await makeDataDir(target, { count: 0 });
    const { store } = openStore(target, { clock: new VirtualClock(Date.now()) });
    const newer = mutable(9);
    await store.putRecord(newer.key, newer.bytes);
    await store.close();
    const imported = await runInProcess([
      "snapshot",
      "import",
      file,
      "--data-dir",
      target,
      "--json",
    ]);
    assert.equal(imported.status, 0, imported.stderr);
    const counts = JSON.parse(imported.stdout);
    assert.equal(counts.kept_newer, 1);
    assert.equal(recordsIn(target).get(newer.key.toHex()), toHex(newer.bytes));
  });
});

/** Ways to damage a snapshot, each with what the refusal must say. */
const damages: { name: string; expect: RegExp; damage(file: Uint8Array): Uint8Array }[] = [
  {
    name: "a flipped byte",
    // A flip in the compressed stream can surface at any check the reader makes first (the
    // gzip CRC comes last): a frame length, MessagePack, the canonical form, key order, the hash.
    expect: /is refused: [a-z]/,
    damage(file) {
      const damaged = file.slice();
      damaged[Math.floor(damaged.length / 2)] ^= 0x40;
      return damaged;
    },
  },
  {
    name: "a flipped byte inside a record",
    expect: /refused: record \d+ \([0-9a-f]{40}\) does not verify/,
    damage: (file) =>
      rewritten(file, (plain) => {
        // The last byte of the first record frame is the last byte of its record.
        const headerLength = new DataView(plain.buffer).getUint32(0);
        const recordStart = 4 + headerLength;
        const recordLength = new DataView(plain.buffer).getUint32(recordStart);
        plain[recordStart + 4 + recordLength - 1] ^= 0x01;
      }),
  },
  {
    name: "a truncated file",
    expect: /refused: it is truncated/,
    damage: (file) => file.slice(0, Math.floor(file.length * 0.6)),
  },
  {
    name: "a wrong version",
    expect: /refused: its format version is 4, this build reads 3\n/,
    // u32 length, array tag, the magic as a 17-byte fixstr, then the version.
    damage: (file) => rewritten(file, (plain) => plain[4 + 1 + 17] = 4),
  },
  {
    name: "a snapshot of record format 1",
    expect:
      /refused: its format version is 1, this build reads 3 \(an older build wrote it, and there is no converting: export a new snapshot with this build\)/,
    damage: (file) => rewritten(file, (plain) => plain[4 + 1 + 17] = 1),
  },
  {
    name: "a version-2 snapshot (times as float64)",
    expect:
      /refused: its format version is 2, this build reads 3 \(an older build wrote it, and there is no converting: export a new snapshot with this build\)/,
    damage: (file) => rewritten(file, (plain) => plain[4 + 1 + 17] = 2),
  },
  {
    name: "a time as float64 instead of uint 64",
    expect:
      /refused: its header is not in its one encoding \(integers in their shortest form, uint 64 from 2\^32; shortest headers\)/,
    damage: (file) =>
      rewritten(file, (plain) => {
        // createdAtMs follows the version, the node ID (c4 14 + 20) and the key (c4 20 + 32):
        // `cf` + 8 bytes, rewritten as the float64 `cb` + 8 bytes of the same number.
        const at = 4 + 1 + 17 + 1 + 22 + 34;
        assert.equal(plain[at], 0xcf);
        const view = new DataView(plain.buffer);
        const createdAtMs = Number(view.getBigUint64(at + 1));
        plain[at] = 0xcb;
        view.setFloat64(at + 1, createdAtMs);
      }),
  },
  {
    name: "a forged signature",
    expect: /refused: its signature is not by node [0-9a-f]{40}/,
    damage: (file) =>
      rewritten(file, (plain) => {
        // The trailer ends with the hash (bin 32) and the signature (bin 64).
        const hash = plain.slice(plain.length - 66 - 32, plain.length - 66);
        plain.set(ed25519Sign(bob, signedMessage(hash)), plain.length - 64);
      }),
  },
];

function rewritten(file: Uint8Array, change: (plain: Uint8Array) => void): Uint8Array {
  const plain = new Uint8Array(gunzipSync(file));
  change(plain);
  return new Uint8Array(gzipSync(plain));
}

for (const { name, expect, damage } of damages) {
  Deno.test(`${name} is refused by verify and by import, which change nothing`, async () => {
    await withTempDir(async (root) => {
      const source = join(root, "source");
      const file = join(root, "s.snapshot.gz");
      await makeSnapshot(source, file, { count: 20 });
      const bad = join(root, "bad.snapshot.gz");
      await Deno.writeFile(bad, damage(await Deno.readFile(file)));

      const verified = await runInProcess(["snapshot", "verify", bad]);
      assert.equal(verified.status, 1, verified.stdout);
      assert.equal(linesOf(verified.stderr).length, 1, verified.stderr);
      assert.match(verified.stderr, expect);

      // Into a data dir holding other records: unchanged.
      const held = join(root, "held");
      await makeDataDir(held, { count: 3, payload: (index) => `held ${index}` });
      const before = recordsIn(held);
      const imported = await runInProcess(["snapshot", "import", bad, "--data-dir", held]);
      assert.equal(imported.status, 1, imported.stdout);
      assert.equal(linesOf(imported.stderr).length, 1, imported.stderr);
      assert.match(imported.stderr, expect);
      assert.deepEqual(recordsIn(held), before);

      // Into a data dir that does not exist: still does not.
      const fresh = join(root, "fresh");
      const intoFresh = await runInProcess(["snapshot", "import", bad, "--data-dir", fresh]);
      assert.equal(intoFresh.status, 1);
      await assert.rejects(Deno.stat(fresh), Deno.errors.NotFound);
    });
  });
}

Deno.test("--keep keeps the newest N of this node's snapshots", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const out = join(root, "snapshots");
    await makeDataDir(source, { count: 5 });
    const other = join(out, "rhizome-20000101T000000Z-000000000000.snapshot.gz");
    await Deno.mkdir(out);
    await Deno.writeFile(other, new Uint8Array([1]));
    const paths: string[] = [];
    for (let round = 0; round < 4; round++) {
      const exported = await exportTo(source, out, "--keep", "2", "--json");
      assert.equal(exported.status, 0, exported.stderr);
      paths.push(JSON.parse(exported.stdout).path);
    }
    const left = [...Deno.readDirSync(out)].map((entry) => join(out, entry.name)).sort();
    // Another node's snapshot is not this export's to delete.
    assert.deepEqual(left, [other, ...paths.slice(2)].sort());
    const quiet = await exportTo(source, out, "--keep", "2", "--quiet");
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.equal(quiet.stdout, "");
    assert.equal(quiet.stderr, "");
  });
});

Deno.test("export --scope global holds the global indexes and the threads they list, nothing else", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const target = join(root, "target");
    const file = join(root, "global.snapshot.gz");
    await makeDataDir(source, { count: 3 });
    const nowMs = Date.now();
    const listed = signThread(alice, { createdMs: nowMs, title: "Listed", body: "", tags: [] });
    const byHour = signThread(bob, { createdMs: nowMs, title: "By hour", body: "", tags: [] });
    const message = signMessage(alice, {
      createdMs: nowMs,
      thread: docId(listed),
      parent: docId(listed),
      body: "Not global",
    });
    const expiresAtS = Math.floor(nowMs / 1000) + 3600;
    const recent = signedEntrySet(alice, recentIndex(), entrySeqOf(docId(listed)), expiresAtS, {
      thread: docId(listed),
      createdMs: nowMs,
    });
    const hour = signedEntrySet(bob, threadsByHourIndex(hourOf(nowMs)), 1, expiresAtS, {
      thread: docId(byHour),
      createdMs: nowMs,
    });
    const index = signedEntrySet(alice, threadIndex(docId(listed), 0), 1, expiresAtS, {
      message: docId(message),
      parent: docId(listed),
      createdMs: nowMs,
    });
    const { store } = openStore(source, { clock: new VirtualClock(nowMs) });
    for (
      const record of [
        docRecord(listed),
        docRecord(byHour),
        docRecord(message),
        recent,
        hour,
        index,
      ]
    ) {
      await store.putRecord(recordKey(record), encodeRecord(record));
    }
    await store.close();

    const exported = await exportTo(source, file, "--scope", "global", "--json");
    assert.equal(exported.status, 0, exported.stderr);
    const expected = [docRecord(listed), docRecord(byHour), recent, hour]
      .map((record) => recordKey(record).toHex()).sort();
    assert.deepEqual([...await snapshotKeys(file)].sort(), expected);
    const summary = JSON.parse(exported.stdout);
    assert.equal(summary.scope, "global");
    assert.deepEqual(summary.counts_by_kind, {
      immutable: 2,
      mutable: 0,
      set: 2,
    });
    const verified = await runInProcess(["snapshot", "verify", file]);
    assert.equal(verified.status, 0, verified.stderr);
    const imported = await runInProcess(["snapshot", "import", file, "--data-dir", target]);
    assert.equal(imported.status, 0, imported.stderr);
    assert.deepEqual([...recordsIn(target).keys()].sort(), expected);
  });
});

Deno.test("export refuses a missing data dir and a bad --keep in one line", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    await makeDataDir(source, { count: 1 });
    const missing = await exportTo(join(root, "nowhere"), join(root, "x.gz"));
    assert.equal(missing.status, 5);
    assert.equal(linesOf(missing.stderr).length, 1);
    const keep = await exportTo(source, join(root, "x.gz"), "--keep", "0");
    assert.equal(keep.status, 2);
    await assert.rejects(Deno.stat(join(root, "x.gz")), Deno.errors.NotFound);
  });
});

/** `rhizome status --json` of the node on `dataDir`: its stored record count. */
async function storedRecords(dataDir: string): Promise<number> {
  const status = await runInProcess(["status", "--data-dir", dataDir, "--json"]);
  assert.equal(status.status, 0, status.stderr);
  return JSON.parse(status.stdout).stored_records;
}

/** The snapshot with the last byte of its last record flipped: that record does not verify. */
function lastRecordFlipped(file: Uint8Array): Uint8Array {
  return rewritten(file, (plain) => {
    const view = new DataView(plain.buffer);
    const starts: number[] = [];
    for (let offset = 0; offset < plain.length; offset += 4 + view.getUint32(offset)) {
      starts.push(offset);
    }
    // The last frame is the trailer; the one before it the last record.
    const last = starts[starts.length - 2];
    plain[last + 4 + view.getUint32(last) - 1] ^= 0x01;
  });
}

Deno.test("import through a running node: found by get, twice unchanged, corrupt imports nothing", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const file = join(root, "s.snapshot.gz");
    await makeSnapshot(source, file, { count: 20 });
    const other = join(root, "other");
    const bad = join(root, "bad.snapshot.gz");
    await makeDataDir(other, { count: 20, payload: (index) => `other ${index}` });
    assert.equal((await exportTo(other, join(root, "other.snapshot.gz"))).status, 0);
    await Deno.writeFile(
      bad,
      lastRecordFlipped(await Deno.readFile(join(root, "other.snapshot.gz"))),
    );

    const node = await startNode(join(root, "running"));
    try {
      const before = await storedRecords(node.dataDir);
      // A relative path: the CLI sends the node the absolute one.
      const relativePath = relative(Deno.cwd(), file);
      const imported = await runInProcess([
        "snapshot",
        "import",
        relativePath,
        "--data-dir",
        node.dataDir,
        "--json",
      ]);
      assert.equal(imported.status, 0, imported.stderr);
      assert.equal(imported.stderr, "");
      assert.deepEqual(JSON.parse(imported.stdout), {
        path: relativePath,
        data_dir: node.dataDir,
        node_id: JSON.parse((await runInProcess(["id", "--data-dir", source, "--json"])).stdout)
          .node_id,
        records: 22,
        imported: 22,
        unchanged: 0,
        expired: 0,
        kept_newer: 0,
        refused_full: 0,
      });
      assert.equal(await storedRecords(node.dataDir), before + 22);
      for (const index of [0, 7, 19]) {
        const key = immutable(`value ${index}`).key.toHex();
        const got = await runInProcess(["get", key, "--data-dir", node.dataDir]);
        assert.equal(got.status, 0, got.stderr);
        assert.equal(got.stdout, `value ${index}`, "the bytes as stored, no newline added");
      }

      // Twice: everything unchanged; the human summary is the local import's.
      const again = await runInProcess(["snapshot", "import", file, "--data-dir", node.dataDir]);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(
        again.stdout,
        `imported ${file} into ${node.dataDir}: 0 imported, 22 unchanged, 0 expired (skipped), ` +
          "0 kept newer (of 22 records)\n",
      );
      assert.equal(await storedRecords(node.dataDir), before + 22);

      // A corrupt snapshot (its last record damaged) imports nothing, not even the records
      // before the damage.
      const refused = await runInProcess(["snapshot", "import", bad, "--data-dir", node.dataDir]);
      assert.equal(refused.status, 1, refused.stdout);
      assert.equal(linesOf(refused.stderr).length, 1, refused.stderr);
      assert.match(refused.stderr, /refused: record 22 \([0-9a-f]{40}\) does not verify/);
      assert.equal(await storedRecords(node.dataDir), before + 22);
      const otherKey = immutable("other 0").key.toHex();
      const absent = await runInProcess(["get", otherKey, "--data-dir", node.dataDir]);
      assert.equal(absent.status, 1, absent.stdout);

      // A file that is not there: one line, nothing imported.
      const missing = await runInProcess([
        "snapshot",
        "import",
        join(root, "missing.snapshot.gz"),
        "--data-dir",
        node.dataDir,
      ]);
      assert.equal(missing.status, 1);
      assert.equal(linesOf(missing.stderr).length, 1, missing.stderr);
      assert.match(missing.stderr, /^rhizome: Cannot read snapshot .*missing\.snapshot\.gz: /);
      assert.equal(await storedRecords(node.dataDir), before + 22);
    } finally {
      await (await node.client()).call(controlRoutes.stop).catch(() => {});
      await node.exited;
    }
  });
});

Deno.test("import beside a node whose control API does not answer is refused in one line", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const file = join(root, "s.snapshot.gz");
    await makeSnapshot(source, file, { count: 1 });
    const node = await startNode(join(root, "running"));
    const address = join(node.dataDir, "api.json");
    const saved = await Deno.readTextFile(address);
    try {
      // Without api.json the CLI cannot reach the node; the data-dir lock still shows it.
      await Deno.remove(address);
      const imported = await runInProcess(["snapshot", "import", file, "--data-dir", node.dataDir]);
      assert.equal(imported.status, 5);
      assert.equal(linesOf(imported.stderr).length, 1, imported.stderr);
      assert.match(
        imported.stderr,
        /is running there: stop it before importing, or import while its control API answers$/m,
      );
    } finally {
      await Deno.writeTextFile(address, saved);
      await (await node.client()).call(controlRoutes.stop).catch(() => {});
      await node.exited;
    }
  });
});

Deno.test("a node imports one snapshot at a time and holds what it imported", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const file = join(root, "s.snapshot.gz");
    await makeSnapshot(source, file, { count: 5 });
    const { config } = resolveConfig({
      overrides: [
        { path: "node.listen", value: "127.0.0.1:0", origin: "test" },
        { path: "node.type", value: "full", origin: "test" },
      ],
    });
    const node = await RhizomeNode.start({ dataDir: new DataDir(join(root, "node")), config });
    try {
      const first = node.importSnapshot(file);
      await assert.rejects(node.importSnapshot(file), (error: unknown) => {
        assert.ok(error instanceof RhizomeError);
        assert.equal(error.code, "UNAVAILABLE");
        assert.match(error.message, /is importing .*s\.snapshot\.gz; one import at a time$/);
        return true;
      });
      const summary = await first;
      assert.equal(summary.imported, 7);
      assert.equal(node.status().stored_records, 7);
      // Once it is done, another may start: the same file changes nothing.
      const again = await node.importSnapshot(file);
      assert.equal(again.unchanged, 7);
      assert.equal(again.imported, 0);
      assert.equal(node.status().stored_records, 7);
    } finally {
      await node.stop("the test is over");
    }
  });
});

Deno.test("an export beside a running node holds every record acknowledged before it", async () => {
  await withTempDir(async (root) => {
    // Records reach the exported node through the network: a second node puts them, and its
    // put resolves once the first one acknowledged a durable write.
    const holder = await startNode(join(root, "holder"), ["--full"]);
    const writerNode = await startNode(join(root, "writer"), ["--bootstrap", holder.contact]);
    const client = await writerNode.client();
    await waitFor(
      "the writer to know the holder",
      async () => (await client.call(controlRoutes.peers)).length > 0,
    );
    const acknowledged: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let index = 0; writing; index++) {
        const report = await client.call(controlRoutes.put, {
          value: new TextEncoder().encode(`record ${index}`),
        });
        if (report.stored >= 1) acknowledged.push(report.key);
      }
    })();
    try {
      await waitFor("30 acknowledged puts", () => Promise.resolve(acknowledged.length >= 30));
      const before = [...acknowledged];
      const file = join(root, "live.snapshot.gz");
      const exported = await runProcessExport(holder.dataDir, file);
      assert.equal(exported.status, 0, exported.stderr);
      const verified = await runInProcess(["snapshot", "verify", file, "--json"]);
      assert.equal(verified.status, 0, verified.stderr);
      const keys = await snapshotKeys(file);
      for (const key of before) assert.ok(keys.has(key), `acknowledged ${key} is missing`);
      // Writes went on during the export.
      const during = acknowledged.length;
      await waitFor("more puts", () => Promise.resolve(acknowledged.length >= during + 5));
    } finally {
      writing = false;
      await writer.catch(() => {});
      for (const node of [writerNode, holder]) {
        await (await node.client()).call(controlRoutes.stop).catch(() => {});
        await node.exited;
      }
    }
  });
});

const mainPath = new URL("../../main.ts", import.meta.url).pathname;

/** `rhizome snapshot export` as its own process, optionally under a shell limit first. */
async function runProcessExport(dataDir: string, out: string, limit?: string, ...more: string[]) {
  const deno = [
    Deno.execPath(),
    "run",
    // V8's code cache is a file too; under `ulimit -f` it would be the first to fail.
    "--no-code-cache",
    ...permissionFlags(denoConfig.tasks.rhizome),
    mainPath,
    "snapshot",
    "export",
    "--data-dir",
    dataDir,
    "--out",
    out,
    ...more,
  ];
  const result = await new Deno.Command("sh", {
    args: ["-c", `${limit ?? ":"}; exec "$@"`, "sh", ...deno],
    // The real HOME: Deno's module cache is under it.
    env: {
      NO_COLOR: "1",
      HOME: Deno.env.get("HOME") ?? "/nonexistent",
      PATH: Deno.env.get("PATH") ?? "",
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    status: result.code,
    stdout: decoder.decode(result.stdout),
    stderr: decoder.decode(result.stderr),
  };
}

Deno.test("an export out of space leaves no file nor temp file, older ones kept", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const out = join(root, "snapshots");
    // Random payloads do not compress: about 320 KB, beyond the 100 KB limit below.
    await makeDataDir(source, {
      count: 40,
      payload: () => toHex(crypto.getRandomValues(new Uint8Array(4000))),
    });
    const older: string[] = [];
    for (let round = 0; round < 2; round++) {
      const exported = await exportTo(source, out, "--keep", "2", "--json");
      assert.equal(exported.status, 0, exported.stderr);
      older.push(JSON.parse(exported.stdout).path);
    }
    const storeHash = toHex(sha256(await Deno.readFile(join(source, "records.mdb"))));

    // dash counts ulimit -f in 512-byte blocks: 200 = 100 KB.
    const full = await runProcessExport(source, out + "/", "ulimit -f 200", "--keep", "1");
    assert.equal(full.status, 1, full.stderr);
    assert.equal(linesOf(full.stderr).length, 1, full.stderr);
    assert.match(full.stderr, /^rhizome: Cannot write snapshot .*: File too large/);
    const left = [...Deno.readDirSync(out)].map((entry) => join(out, entry.name)).sort();
    assert.deepEqual(left, older.sort());
    for (const path of older) {
      assert.equal((await runInProcess(["snapshot", "verify", path])).status, 0);
    }
    assert.equal(toHex(sha256(await Deno.readFile(join(source, "records.mdb")))), storeHash);

    // The same to a named file.
    const named = join(root, "named.snapshot.gz");
    const toFile = await runProcessExport(source, named, "ulimit -f 200");
    assert.equal(toFile.status, 1, toFile.stderr);
    assert.deepEqual(
      [...Deno.readDirSync(root)].map((entry) => entry.name).sort(),
      ["snapshots", "source"],
    );
  });
});

/** The byte offset, in a snapshot's plain (gunzipped) bytes, of the last byte of record `index`. */
function lastByteOfRecord(plain: Uint8Array, index: number): number {
  const view = new DataView(plain.buffer, plain.byteOffset, plain.length);
  let at = 4 + view.getUint32(0); // past the header frame
  for (let record = 1; record < index; record++) at += 4 + view.getUint32(at);
  return at + 4 + view.getUint32(at) - 1;
}

Deno.test("an import of 1,100 records in groups of 256 stores them all, twice unchanged", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const file = join(root, "big.snapshot.gz");
    await makeSnapshot(source, file, { count: 1_100 });
    const { store } = openStore(join(root, "target"), { clock: new VirtualClock(Date.now()) });
    try {
      const clock = new VirtualClock(Date.now());
      const first = await importSnapshotInto(store, file, clock);
      assert.equal(first.records, 1_102);
      assert.equal(first.imported, 1_102);
      const again = await importSnapshotInto(store, file, clock);
      assert.equal(again.unchanged, 1_102);
      assert.equal(again.imported, 0);
      assert.equal(store.stats().values, 1_102);
    } finally {
      await store.close();
    }
    assert.deepEqual(recordsIn(join(root, "target")), recordsIn(source));
  });
});

Deno.test("a snapshot changed between the two passes stores nothing from the changed group on", async () => {
  await withTempDir(async (root) => {
    const source = join(root, "source");
    const good = join(root, "good.snapshot.gz");
    const changed = join(root, "changed.snapshot.gz");
    await makeSnapshot(source, good, { count: 1_000 });
    const plain = new Uint8Array(gunzipSync(await Deno.readFile(good)));
    plain[lastByteOfRecord(plain, 300)] ^= 1;
    await Deno.writeFile(changed, new Uint8Array(gzipSync(plain)));
    // The second pass opens the file again: it gets the changed one, as if swapped meanwhile.
    const realOpen = Deno.open;
    let opens = 0;
    Object.defineProperty(Deno, "open", {
      value: (path: string | URL, options?: Deno.OpenOptions) =>
        realOpen(path === good && ++opens === 2 ? changed : path, options),
      configurable: true,
      writable: true,
    });
    const { store } = openStore(join(root, "target"), { clock: new VirtualClock(Date.now()) });
    try {
      await assert.rejects(
        importSnapshotInto(store, good, new VirtualClock(Date.now())),
        (error: unknown) => {
          assert.ok(error instanceof RhizomeError);
          assert.equal(error.code, "SNAPSHOT_INVALID");
          assert.match(
            error.message,
            /is refused: it changed after it was verified \(records 257 to 512 differ\)/,
          );
          return true;
        },
      );
      assert.equal(opens, 2);
      // Groups 1 (records 1–256) went in whole; nothing of record 257 on.
      assert.equal(store.stats().values, 256);
      assert.equal(store.stats().refused.invalid, 0);
    } finally {
      Object.defineProperty(Deno, "open", { value: realOpen, configurable: true, writable: true });
      await store.close();
    }
  });
});
