/**
 * The memory store (the simulator's) keeps the record store's promises: it verifies every write by
 * its rules (the same bytes again are not verified), merges a new version with the held one
 * (refusing an older mutable record with RECORD_STALE), and dates values by the record classes.
 */

import assert from "node:assert/strict";
import { utf8Encode } from "../../src/core/bytes.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import { RhizomeError } from "../../src/core/errors.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { profileKey, signProfile } from "../../src/content/documents.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import { encodeRecord } from "../../src/content/records.ts";
import { contentKey } from "../../src/dht/content_key.ts";
import { MemoryValueStore } from "../../src/store/memory_value_store.ts";
import type { RecordRules } from "../../src/store/record_rules.ts";
import type { ValueWrite, ValueWritten } from "../../src/store/value_store.ts";
import { alice, defaultClasses, startMs } from "./_store.ts";

function put(store: MemoryValueStore, write: ValueWrite): [RhizomeError?, ValueWritten?] {
  let outcome: [RhizomeError?, ValueWritten?] | undefined;
  store.put(write, (error, written) => outcome = [error as RhizomeError | undefined, written]);
  assert.ok(outcome, "done runs before put returns");
  return outcome;
}

Deno.test("a memory store refuses what does not verify, and stores nothing", () => {
  const clock = new VirtualClock(startMs);
  const store = new MemoryValueStore({ clock, classes: defaultClasses });
  const key = NodeId.fromBytes(new Uint8Array(20));
  const [error] = put(store, { key, value: utf8Encode("x"), published: false });
  assert.equal(error?.code, "RECORD_INVALID");
  const [tooLarge] = put(store, { key, value: new Uint8Array(70_000), published: false });
  assert.equal(tooLarge?.code, "RECORD_INVALID");
  assert.equal(store.get(key), undefined);
  assert.deepEqual(store.stats(), { values: 0, bytes: 0 });
});

Deno.test("a memory store merges versions by its rules and verifies the same bytes once", () => {
  const clock = new VirtualClock(startMs);
  let verifications = 0;
  const counting: RecordRules = {
    ...recordRules,
    verify(key, bytes, held, nowMs) {
      verifications++;
      return recordRules.verify(key, bytes, held, nowMs);
    },
  };
  const store = new MemoryValueStore({ clock, classes: defaultClasses, rules: counting });
  const key = profileKey(alice.publicKey);
  const version = (seq: number) =>
    encodeRecord(signProfile(alice, seq, { name: `v${seq}`, about: "", keys: [], updatedMs: seq }));
  assert.deepEqual(put(store, { key, value: version(2), published: false })[1]?.value, version(2));
  put(store, { key, value: version(2), published: false });
  assert.equal(verifications, 1, "the same bytes again are not verified");
  const [stale] = put(store, { key, value: version(1), published: false });
  assert.equal(stale?.code, "RECORD_STALE");
  const [, written] = put(store, { key, value: version(3), published: false });
  assert.deepEqual(written?.value, version(3));
  assert.deepEqual(store.get(key)?.value, version(3));
});

Deno.test("a memory store dates values by the record classes, and a read extends them", () => {
  const clock = new VirtualClock(startMs);
  const store = new MemoryValueStore({ clock, classes: defaultClasses });
  const value = utf8Encode("dated");
  const key = contentKey(value);
  const [, written] = put(store, { key, value, ttlMs: 1e12, published: false });
  const normal = defaultClasses.normal;
  assert.equal(written?.expiresAtMs, startMs + normal.ttl_s * 1000, "capped at ttl_s");
  clock.advanceBy(normal.ttl_s * 1000 - 1000);
  store.noteRead(key);
  assert.equal(store.get(key)?.expiresAtMs, clock.nowMs() + normal.extension_s * 1000);
  clock.advanceBy(normal.extension_s * 1000);
  assert.equal(store.get(key), undefined, "expired: not served");
  const mine = utf8Encode("mine");
  const [, published] = put(store, { key: contentKey(mine), value: mine, published: true });
  assert.equal(published?.expiresAtMs, clock.nowMs() + defaultClasses.personal.ttl_s * 1000);
  assert.equal(store.get(contentKey(mine))?.published, true);
});
