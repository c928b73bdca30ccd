/**
 * The JSON of `POST /v1/sync`: a command survives format then parse, and each bad field is
 * refused with one line naming it.
 */

import assert from "node:assert/strict";
import { formatSyncCommand, parseSyncCommand } from "../../src/api/sync_wire.ts";
import { SYNC_CATEGORIES } from "../../src/services/sync/mod.ts";

Deno.test("a sync command round-trips through its JSON", () => {
  const command = {
    idBytes: 16,
    filter: {
      keys: { low: new Uint8Array(20), high: new Uint8Array(20).fill(0x3f) },
      time: { fromS: 10, toS: 20 },
      categories: (1 << SYNC_CATEGORIES.indexOf("thread")) | 1 << SYNC_CATEGORIES.indexOf("seeds"),
    },
  };
  assert.deepEqual(parseSyncCommand(formatSyncCommand(command)), command);
  assert.deepEqual(parseSyncCommand({}), {});
});

Deno.test("parseSyncCommand() names the bad field", () => {
  const cases: [unknown, RegExp][] = [
    [[], /JSON object/],
    [{ extra: 1 }, /unknown field "extra"/],
    [{ from: "nope" }, /"from" is not a contact URI/],
    [{ id_bytes: 7 }, /id_bytes/],
    [{ partial: { key_low: "zz" } }, /key_low/],
    [{ partial: { key_low: "ff".repeat(20), key_high: "00".repeat(20) } }, /above/],
    [{ partial: { from_s: 20, to_s: 10 } }, /before/],
    [{ partial: { from_s: -1 } }, /from_s/],
    [{ partial: { categories: ["novel"] } }, /"novel", not one of/],
    [{ partial: { categories: [] } }, /non-empty/],
    [{ partial: { when: 1 } }, /unknown field "when"/],
  ];
  for (const [body, message] of cases) {
    assert.throws(() => parseSyncCommand(body), message, JSON.stringify(body));
  }
});
