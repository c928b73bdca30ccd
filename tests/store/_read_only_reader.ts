/**
 * The second process of the read-only test: opens a store read-only beside its running owner,
 * prints one JSON line of what it sees, and again for each line read from stdin, until stdin
 * ends. Usage: `_read_only_reader.ts STORE_PATH KEY_HEX`.
 */

import { RhizomeError } from "../../src/core/errors.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import { RecordStore } from "../../src/store/record_store.ts";
import { defaultClasses, startMs } from "./_store.ts";

const [path, keyHex] = Deno.args;
const store = RecordStore.open({
  path,
  rules: recordRules,
  clock: { nowMs: () => startMs },
  classes: defaultClasses,
  quota: { bytesMax: 1 << 30, recordsMax: 1_000_000 },
  readOnly: true,
});
const key = NodeId.fromHex(keyHex);

async function report(): Promise<void> {
  let writeError = "none";
  try {
    await store.putRecord(key, new Uint8Array(1));
  } catch (error) {
    writeError = error instanceof RhizomeError ? error.code : String(error);
  }
  const line = {
    values: store.stats().values,
    found: store.getRecord(key) !== undefined,
    writeError,
  };
  console.log(JSON.stringify(line));
}

await report();
for await (const _ of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) await report();
await store.close();
