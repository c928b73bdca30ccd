/**
 * Crash safety of the record store: a child process puts records in a loop and is killed with
 * SIGKILL at a random moment, 20 times over the same store file. After each kill the store opens
 * cleanly, every write acknowledged in any round so far is present with its exact bytes (a
 * mutable record at least at its acknowledged sequence), every record held verifies against its
 * key, and no read fails its integrity check. The kill times come from a seeded generator
 * (`RHIZOME_CRASH_SEED` replays one); a failure names the seed.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { recordRules } from "../../src/content/record_rules.ts";
import { decodeRecord, RecordKind } from "../../src/content/records.ts";
import { toHex } from "../../src/core/bytes.ts";
import { resolveConfig } from "../../src/core/config.ts";
import { sha256 } from "../../src/core/crypto.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { Prng, randomBytes, randomInt } from "../../src/core/rng.ts";
import { SystemClock } from "../../src/core/system_clock.ts";
import { RecordStore, type RecordStoreOptions } from "../../src/store/record_store.ts";
import { withTempDir } from "../_rhizome.ts";

const rounds = 20;
const readyTimeoutMs = 15_000;
/** A round waits this long at most for its first acknowledgement before failing. */
const ackTimeoutMs = 10_000;
const writerPath = new URL("./_crash_writer.ts", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;

/** One acknowledged put, as the writer printed it. */
interface Ack {
  key: string;
  hash: string;
  kind: "immutable" | "mutable";
  seq: number;
}

/** What a mutable key must hold at least: the highest acknowledged sequence and its hash. */
interface MutableAck {
  seq: number;
  hash: string;
}

function storeOptions(path: string): RecordStoreOptions {
  return {
    path,
    rules: recordRules,
    // The writer stamps expiries with the wall clock, so the checker must read the same one.
    clock: new SystemClock(),
    classes: resolveConfig({}).config.store,
    quota: { bytesMax: 2 ** 30, recordsMax: 1_000_000 },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The writer's stdout as lines; a partial last line (cut by the kill) is dropped. */
class LineReader {
  readonly lines: string[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let partial = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (partial + text).split("\n");
      partial = parts.pop()!;
      this.lines.push(...parts);
    }
  }
}

/** Polls `condition` until it holds or `timeoutMs` passes (or the writer stopped early). */
async function waitUntil(
  condition: () => boolean,
  timeoutMs: number,
  exited: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (exited() || Date.now() >= deadline) return false;
    await sleep(5);
  }
  return true;
}

/** Runs the writer against `path`, kills it with SIGKILL after `killAfterMs`; its acks. */
async function crashRound(
  path: string,
  round: number,
  secretHex: string,
  seed: number,
  killAfterMs: number,
): Promise<Ack[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      writerPath,
      path,
      String(round),
      secretHex,
      String(seed),
    ],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = new LineReader(child.stdout);
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  let failure: unknown;
  try {
    const ready = await waitUntil(() => reader.lines.length > 0, readyTimeoutMs, () => exited);
    assert.ok(!exited, "the writer exited before it was ready");
    assert.ok(ready, `the writer was not ready within ${readyTimeoutMs} ms`);
    assert.equal(reader.lines[0], "ready");
    const readyAtMs = Date.now();
    // A random moment, but not before the loop has acknowledged something: puts are in flight.
    const acked = await waitUntil(
      () => Date.now() - readyAtMs >= killAfterMs && reader.lines.length > 1,
      killAfterMs + ackTimeoutMs,
      () => exited,
    );
    assert.ok(!exited, "the writer exited before it was killed");
    assert.ok(acked, `the writer acknowledged nothing within ${killAfterMs + ackTimeoutMs} ms`);
  } catch (error) {
    failure = error;
  }
  // Whatever happened above, the writer goes and its pipes are drained: nothing outlives a round.
  try {
    child.kill("SIGKILL");
  } catch {
    // It has exited already; its status says how.
  }
  const ended = await status;
  await reader.done;
  const errors = await stderr;
  if (failure === undefined && ended.signal !== "SIGKILL") {
    failure = new Error(`the writer ended on its own (code ${ended.code})`);
  }
  if (failure !== undefined) {
    throw new Error(`round ${round}: writer stderr:\n${errors}`, { cause: failure });
  }
  return reader.lines.slice(1).map((line) => JSON.parse(line) as Ack);
}

/** What the store held after a kill. */
interface Held {
  records: number;
  /** Writes that landed but were never acknowledged: immutable keys, mutable `key:seq`. */
  unacknowledged: Set<string>;
}

/** Opens the store after a kill and checks every acknowledged write so far. */
async function verifyStore(
  path: string,
  immutable: Map<string, string>,
  mutable: Map<string, MutableAck>,
): Promise<Held> {
  const store = RecordStore.open(storeOptions(path));
  try {
    for (const [hex, hash] of immutable) {
      const key = NodeId.fromHex(hex);
      const found = store.getRecord(key);
      assert.ok(found, `acknowledged immutable record ${hex} is missing`);
      assert.equal(toHex(sha256(found.value)), hash, `immutable record ${hex} has other bytes`);
      assert.equal(decodeRecord(key, found.value).kind, RecordKind.immutable);
    }
    for (const [hex, acked] of mutable) {
      const key = NodeId.fromHex(hex);
      const found = store.getRecord(key);
      assert.ok(found, `acknowledged mutable record ${hex} is missing`);
      const record = decodeRecord(key, found.value);
      assert.equal(record.kind, RecordKind.mutable);
      assert.ok(
        record.seq >= acked.seq,
        `mutable record ${hex} went back to sequence ${record.seq} from ${acked.seq}`,
      );
      if (record.seq === acked.seq) {
        assert.equal(toHex(sha256(found.value)), acked.hash, `mutable record ${hex} differs`);
      }
    }
    // Unacknowledged writes may or may not have landed, but whatever is held must be whole.
    const held: Held = { records: 0, unacknowledged: new Set() };
    for (const found of store.values()) {
      const record = decodeRecord(found.key, found.value);
      const hex = found.key.toHex();
      held.records++;
      if (record.kind === RecordKind.immutable && !immutable.has(hex)) {
        held.unacknowledged.add(hex);
      }
      if (record.kind === RecordKind.mutable && record.seq > (mutable.get(hex)?.seq ?? -1)) {
        held.unacknowledged.add(`${hex}:${record.seq}`);
      }
    }
    assert.ok(held.records >= immutable.size + mutable.size);
    const stats = store.stats();
    assert.equal(stats.values, held.records, "the counts rebuilt at open match the records");
    assert.equal(stats.integrityFailures, 0);
    assert.equal(stats.quarantined, 0);
    return held;
  } finally {
    await store.close();
  }
}

Deno.test("RecordStore keeps every acknowledged write through 20 SIGKILLs", async () => {
  const seedText = Deno.env.get("RHIZOME_CRASH_SEED");
  const seed = seedText === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(seedText);
  const prng = new Prng(seed);
  const secretHex = toHex(randomBytes(prng, new Uint8Array(32)));
  const immutable = new Map<string, string>();
  const mutable = new Map<string, MutableAck>();
  let acks = 0;
  // Rounds whose kill fell between a commit and its acknowledgement (a write landed unannounced).
  let caughtMidWrite = 0;
  let unacknowledged = new Set<string>();
  let round = 0;
  try {
    await withTempDir(async (directory) => {
      const path = join(directory, "records.lmdb");
      for (round = 1; round <= rounds; round++) {
        const killAfterMs = 20 + randomInt(prng, 281);
        const acked = await crashRound(path, round, secretHex, prng.nextUint32(), killAfterMs);
        for (const ack of acked) {
          acks++;
          if (ack.kind === "immutable") {
            immutable.set(ack.key, ack.hash);
          } else if ((mutable.get(ack.key)?.seq ?? -1) < ack.seq) {
            mutable.set(ack.key, { seq: ack.seq, hash: ack.hash });
          }
        }
        const held = await verifyStore(path, immutable, mutable);
        if ([...held.unacknowledged].some((write) => !unacknowledged.has(write))) caughtMidWrite++;
        unacknowledged = held.unacknowledged;
      }
    });
  } catch (error) {
    throw new Error(
      `crash test failed in round ${round} (replay with RHIZOME_CRASH_SEED=${seed})`,
      { cause: error },
    );
  }
  // Rounds caught mid-write are not asserted (a kill may fall between commits by chance), only
  // shown when the test fails.
  assert.ok(
    acks > 100,
    `only ${acks} writes were acknowledged in ${rounds} rounds (${caughtMidWrite} rounds killed ` +
      "between a commit and its acknowledgement)",
  );
});
