/** Record metadata round-trips, and damaged metadata decodes to `undefined`, never throws. */

import assert from "node:assert/strict";
import { decodeMeta, encodeMeta, type RecordMeta } from "../../src/store/record_meta.ts";

const meta: RecordMeta = {
  kind: 2,
  class: "popular",
  storedAtMs: 1_800_000_000_000,
  expiresAtMs: 1_800_000_086_400,
  activityMs: 1_800_000_000_500,
  bytes: 4096,
  hash: new Uint8Array(32).fill(7),
  published: true,
};

Deno.test("metadata round-trips", () => {
  assert.deepEqual(decodeMeta(encodeMeta(meta)), meta);
});

Deno.test("damaged metadata is undefined", () => {
  const bytes = encodeMeta(meta);
  assert.equal(decodeMeta(bytes.subarray(0, bytes.length - 3)), undefined);
  assert.equal(decodeMeta(new Uint8Array([0xc1])), undefined);
  assert.equal(decodeMeta(encodeMeta({ ...meta, hash: new Uint8Array(5) })), undefined);
  const wrongVersion = bytes.slice();
  wrongVersion[1] = 9;
  assert.equal(decodeMeta(wrongVersion), undefined);
  const badClass = bytes.slice();
  badClass[3] = 7;
  assert.equal(decodeMeta(badClass), undefined);
});
