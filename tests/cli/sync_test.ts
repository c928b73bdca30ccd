/**
 * `rhizome sync`'s flags: each --partial form becomes its filter, several combine, and a bad one
 * is a usage error naming the flag; without a running node the command fails with one JSON error.
 */

import assert from "node:assert/strict";
import { syncCommandOf } from "../../src/cli/commands/sync.ts";
import { SYNC_CATEGORIES } from "../../src/services/sync/mod.ts";
import { runInProcess, withTempDir } from "../_rhizome.ts";

const nowMs = Date.UTC(2026, 11, 8);

Deno.test("syncCommandOf() turns --partial forms into one filter", () => {
  const command = syncCommandOf({
    flags: {
      partial: ["keys:0a..0b", "since:24h", "category:thread,message"],
      "id-bytes": "8",
      from: undefined,
    },
  }, nowMs);
  assert.equal(command.idBytes, 8);
  assert.equal(command.filter?.keys?.low[0], 0x0a);
  assert.equal(command.filter?.keys?.low[19], 0x00);
  assert.equal(command.filter?.keys?.high[0], 0x0b);
  assert.equal(command.filter?.keys?.high[19], 0xff);
  assert.equal(command.filter?.time?.fromS, nowMs / 1000 - 86400);
  assert.equal(
    command.filter?.categories,
    (1 << SYNC_CATEGORIES.indexOf("thread")) | (1 << SYNC_CATEGORIES.indexOf("message")),
  );
  const timed = syncCommandOf({ flags: { partial: "time:100..200" } }, nowMs);
  assert.deepEqual(timed.filter, { time: { fromS: 100, toS: 200 } });
  const odd = syncCommandOf({ flags: { partial: "keys:a..b" } }, nowMs);
  assert.equal(odd.filter?.keys?.low[0], 0xa0);
  assert.equal(odd.filter?.keys?.high[0], 0xbf);
});

Deno.test("syncCommandOf() refuses bad flags with a usage error", () => {
  for (
    const partial of ["keys:zz..00", "since:3w", "time:5..5", "category:nope", "weather:rain"]
  ) {
    assert.throws(() => syncCommandOf({ flags: { partial } }, nowMs), /--partial/, partial);
  }
  assert.throws(() => syncCommandOf({ flags: { "id-bytes": "40" } }, nowMs), /--id-bytes/);
});

Deno.test("rhizome sync --json without a running node answers one JSON error", async () => {
  await withTempDir(async (dir) => {
    const run = await runInProcess(["sync", "--data-dir", dir, "--json"]);
    assert.equal(run.status, 1);
    const answer = JSON.parse(run.stdout);
    assert.equal(answer.error.code, "UNAVAILABLE");
    assert.match(answer.error.message, /no node is running/);
  });
});
