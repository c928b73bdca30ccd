/**
 * The child process of the record store crash test: opens the store, prints `ready`, then puts
 * records forever (immutable records and profiles, several puts in flight so LMDB batches them)
 * until the test kills it with SIGKILL. Each acknowledged put is printed as one JSON line, so the
 * test knows exactly which writes the store promised were durable.
 *
 * Usage: `_crash_writer.ts <storePath> <round> <ownerSecretHex> <seed>`; the owners of the
 * profiles are derived from the secret, so every round writes the same mutable keys.
 *
 * @module
 */

import { profileKeysMax, signProfile } from "../../src/content/documents.ts";
import { recordRules } from "../../src/content/record_rules.ts";
import { type DhtRecord, encodeRecord, recordKey, RecordKind } from "../../src/content/records.ts";
import { fromHex, toHex, utf8Encode } from "../../src/core/bytes.ts";
import { resolveConfig } from "../../src/core/config.ts";
import { ed25519KeyPairFromSecretKey, sha256 } from "../../src/core/crypto.ts";
import { Prng, randomBytes, randomInt } from "../../src/core/rng.ts";
import { SystemClock } from "../../src/core/system_clock.ts";
import { RecordStore } from "../../src/store/record_store.ts";

/** Puts outstanding at once: enough that LMDB commits several in one transaction. */
const inFlightMax = 8;
/**
 * Mutable records: one profile per owner (the schema allows no other mutable record), one put in
 * flight per owner, so sequences arrive in order.
 */
const mutableNames = 4;
/** Each round's sequences start above every earlier round's, whatever that round reached. */
const seqPerRound = 1_000_000;

const [path, roundText, secretHex, seedText] = Deno.args;
const round = Number(roundText);
const ownerSecret = fromHex(secretHex);
const owners = Array.from(
  { length: mutableNames },
  (_, name) => ed25519KeyPairFromSecretKey(sha256(ownerSecret, utf8Encode(`crash-${name}`))),
);
const prng = new Prng(Number(seedText));
const encoder = new TextEncoder();

/** Writes a whole line synchronously, so a line is on the pipe before the next put settles. */
function writeLine(text: string): void {
  const bytes = encoder.encode(`${text}\n`);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

const store = RecordStore.open({
  path,
  rules: recordRules,
  clock: new SystemClock(),
  classes: resolveConfig({}).config.store,
  quota: { bytesMax: 2 ** 30, recordsMax: 1_000_000 },
});
writeLine("ready");

const nextSeq = Array.from({ length: mutableNames }, () => round * seqPerRound);
const busyNames = new Set<number>();

function payload(): Uint8Array {
  return randomBytes(prng, new Uint8Array(100 + randomInt(prng, 3901)));
}

/** A profile of random size (its about text up to the 1,024-byte limit, up to 8 keys). */
function profile(name: number): DhtRecord {
  const about = toHex(randomBytes(prng, new Uint8Array(randomInt(prng, 513))));
  const keys = Array.from(
    { length: randomInt(prng, profileKeysMax + 1) },
    () => randomBytes(prng, new Uint8Array(32)),
  );
  return signProfile(owners[name], nextSeq[name]++, {
    name: `crash-${name}`,
    about,
    keys,
    updatedMs: Date.now(),
  });
}

async function putOne(): Promise<void> {
  const free = [...nextSeq.keys()].filter((name) => !busyNames.has(name));
  let record: DhtRecord;
  let name: number | undefined;
  if (free.length > 0 && randomInt(prng, 3) === 0) {
    name = free[randomInt(prng, free.length)];
    busyNames.add(name);
    record = profile(name);
  } else {
    record = { kind: RecordKind.immutable, payload: payload() };
  }
  try {
    const key = recordKey(record);
    const bytes = encodeRecord(record);
    await store.putRecord(key, bytes);
    writeLine(JSON.stringify({
      key: key.toHex(),
      hash: toHex(sha256(bytes)),
      kind: record.kind === RecordKind.mutable ? "mutable" : "immutable",
      seq: record.kind === RecordKind.mutable ? record.seq : 0,
    }));
  } finally {
    if (name !== undefined) busyNames.delete(name);
  }
}

const inFlight = new Set<Promise<void>>();
try {
  while (true) {
    while (inFlight.size >= inFlightMax) await Promise.race(inFlight);
    const put: Promise<void> = putOne().finally(() => inFlight.delete(put));
    inFlight.add(put);
  }
} catch (error) {
  // A refused put is a failure of the test, not a crash: say so and exit on our own.
  console.error(`crash writer: ${error instanceof Error ? error.stack : String(error)}`);
  Deno.exit(1);
}
