/**
 * Measures the sync service (`src/services/sync`) in one process, two memory stores with
 * Rhizome's record rules: a full sync of an empty node, incremental syncs (1,000 records missing,
 * the newest ones as for a node that was away, and random ones), partial syncs (a time window, a
 * key range, a category), with bytes on the wire and rounds, against the targets. Every
 * record is verified by the receiving store as it arrives. Prints one JSON object.
 *
 * Usage: deno task bench:sync [--records 100000] [--missing 1000]
 *   [--scenarios full,recent,random,partial]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { VirtualClock } from "../src/core/clock.ts";
import { generateEd25519KeyPair } from "../src/core/crypto.ts";
import { resolveConfig } from "../src/core/config.ts";
import { NodeId } from "../src/core/node_id.ts";
import { docRecord, signMessage } from "../src/content/documents.ts";
import { encodeRecord, recordKey } from "../src/content/records.ts";
import { recordRules } from "../src/content/record_rules.ts";
import { MemoryValueStore } from "../src/store/memory_value_store.ts";
import {
  overheadPerRecord,
  runSync,
  SYNC_CATEGORIES,
  type SyncFilter,
  type SyncReport,
  SyncServer,
} from "../src/services/sync/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    records: { type: "string", default: "100000" },
    missing: { type: "string", default: "1000" },
    scenarios: { type: "string", default: "full,recent,random,partial" },
  },
});
const recordCount = Number(values.records);
const scenarios = new Set(values.scenarios.split(","));
const missingCount = Number(values.missing);
const nowMs = Date.UTC(2026, 11, 1);
const clock = new VirtualClock(nowMs);
const { config } = resolveConfig();

interface Made {
  key: NodeId;
  bytes: Uint8Array;
  createdMs: number;
}

function makeRecords(count: number): Made[] {
  const authors = Array.from({ length: 50 }, () => generateEd25519KeyPair());
  const thread = NodeId.fromBytes(new Uint8Array(20).fill(7));
  const out: Made[] = [];
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < count; i++) {
    // Spread over 30 days, a few posts a second at the busiest.
    const createdMs = nowMs - 30 * 86_400_000 + Math.floor((i / count) * 30 * 86_400_000);
    const length = 200 + Math.floor(random() * 1000);
    const body = "x".repeat(length) + ` ${i}`;
    const doc = signMessage(authors[i % authors.length], {
      createdMs,
      thread,
      parent: thread,
      body,
    });
    const record = docRecord(doc);
    out.push({ key: recordKey(record), bytes: encodeRecord(record), createdMs });
  }
  return out;
}

function storeOf(records: Iterable<Made>): MemoryValueStore {
  const store = new MemoryValueStore({ rules: recordRules, clock, classes: config.store });
  for (const made of records) {
    store.put({ key: made.key, value: made.bytes, published: false }, (error) => {
      if (error) throw error;
    });
  }
  return store;
}

async function sync(
  server: MemoryValueStore,
  client: MemoryValueStore,
  filter?: SyncFilter,
  idBytes?: number,
) {
  const answering = new SyncServer({ store: server, clock });
  const started = performance.now();
  const report: SyncReport = await runSync({
    store: client,
    clock,
    exchange: (request) => Promise.resolve(answering.answer("client", request)),
    session: crypto.getRandomValues(new Uint8Array(8)),
    filter,
    idBytes,
  });
  return { report, ms: Math.round(performance.now() - started) };
}

function summary(
  name: string,
  result: { report: SyncReport; ms: number },
  extra: Record<string, unknown> = {},
) {
  const r = result.report;
  const wire = r.bytesSent + r.bytesReceived;
  return {
    scenario: name,
    complete: r.complete,
    rounds: r.rounds,
    requests: r.requests,
    records_received: r.recordsReceived,
    records_stored: r.recordsStored,
    records_refused: r.recordsRefused,
    record_bytes: r.recordBytesReceived,
    wire_bytes: wire,
    wire_per_record_bytes: r.recordsReceived ? Math.round(wire / r.recordsReceived) : 0,
    overhead_per_record_bytes: Math.round(overheadPerRecord(r)),
    wire_over_record_bytes: r.recordBytesReceived
      ? Number((wire / r.recordBytesReceived).toFixed(3))
      : 0,
    ms: result.ms,
    ...extra,
  };
}

const made = makeRecords(recordCount);
const recordBytes = made.reduce((sum, m) => sum + m.bytes.length, 0);
const server = storeOf(made);
const results: Record<string, unknown>[] = [];

// Full sync: an empty node.
if (scenarios.has("full")) {
  const full = await sync(server, storeOf([]));
  results.push(summary("full", full, {
    target: "wire <= 1.2 x record bytes + 100 B/record",
    target_met: full.report.bytesSent + full.report.bytesReceived <=
        1.2 * full.report.recordBytesReceived + 100 * full.report.recordsReceived &&
      full.report.recordsStored === recordCount,
  }));
}

// Incremental: the newest `missing` records lacking (a node that was away).
if (scenarios.has("recent")) {
  const sorted = [...made].sort((a, b) => a.createdMs - b.createdMs);
  const recent = await sync(server, storeOf(sorted.slice(0, recordCount - missingCount)));
  results.push(summary("incremental_recent", recent, {
    target: "<= 200 B overhead per missing record, <= 6 rounds",
    target_met: overheadPerRecord(recent.report) <= 200 && recent.report.rounds <= 6 &&
      recent.report.recordsStored === missingCount,
  }));
}

// Incremental: `missing` random records lacking (the worst case for ranges).
if (scenarios.has("random")) {
  const dropped = new Set<number>();
  let pick = 987654;
  while (dropped.size < missingCount) {
    pick = (pick * 1103515245 + 12345) % 2 ** 31;
    dropped.add(pick % recordCount);
  }
  const randomClient = made.filter((_, i) => !dropped.has(i));
  for (const idBytes of [32, 16, 8]) {
    const random = await sync(server, storeOf(randomClient), undefined, idBytes);
    results.push(summary(`incremental_random_id${idBytes}`, random, {
      target: "<= 200 B overhead per missing record, <= 6 rounds",
      target_met: overheadPerRecord(random.report) <= 200 && random.report.rounds <= 6 &&
        random.report.recordsStored === missingCount,
    }));
  }
}

// Partial: the last day only, to an empty node.
if (scenarios.has("partial")) {
  const fromS = Math.floor((nowMs - 86_400_000) / 1000);
  const inWindow = made.filter((m) => m.createdMs >= fromS * 1000).length;
  const windowed = await sync(server, storeOf([]), {
    time: { fromS, toS: Math.floor(nowMs / 1000) + 1 },
  });
  results.push(summary("partial_time_window", windowed, {
    records_in_range: inWindow,
    target: "transfers only the range",
    target_met: windowed.report.recordsReceived === inWindow &&
      windowed.report.recordsStored === inWindow,
  }));

  // Partial: a sixteenth of the key space.
  const low = new Uint8Array(20);
  const high = new Uint8Array(20).fill(0xff);
  high[0] = 0x0f;
  const inKeys = made.filter((m) => m.key.toBytes()[0] <= 0x0f).length;
  const keyed = await sync(server, storeOf([]), { keys: { low, high } });
  results.push(summary("partial_key_range", keyed, {
    records_in_range: inKeys,
    target: "transfers only the range",
    target_met: keyed.report.recordsReceived === inKeys && keyed.report.recordsStored === inKeys,
  }));

  // Partial: a category nobody has (profiles): nothing moves.
  const profiles = await sync(server, storeOf([]), {
    categories: 1 << SYNC_CATEGORIES.indexOf("profile"),
  });
  results.push(summary("partial_category_profiles", profiles, {
    records_in_range: 0,
    target: "transfers only the range",
    target_met: profiles.report.recordsReceived === 0,
  }));
}

console.log(
  JSON.stringify(
    { records: recordCount, record_bytes: recordBytes, missing: missingCount, results },
    null,
    2,
  ),
);
