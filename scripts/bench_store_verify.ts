/**
 * What a STORE costs a holder (issue 15): signature verifications and time, on a real DhtNode
 * over a real LMDB record store opened with Rhizome's record rules, wrapped to count every
 * `verify`. Each record is a profile (a signed mutable record): one `verify` is one Ed25519
 * verification. The store is the only verifier on write, so a STORE costs one per holder (the DHT
 * verified it too before: two), a replica arriving again costs none (its bytes are held), and a
 * local publish costs one.
 *
 * Usage: deno task bench:store-verify [--records 200]
 *
 * Prints one JSON object: verifications per STORE, per repeated STORE and per local publish;
 * the mean ms of a STORE (from the datagram to the STORED reply, after the LMDB commit) and of
 * one `verify` alone, so the time the second verification cost before is that much more.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { VirtualClock } from "../src/core/clock.ts";
import { resolveConfig } from "../src/core/config.ts";
import { ed25519KeyPairFromSecretKey } from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";
import { Prng, randomBytes } from "../src/core/rng.ts";
import { profileKey, signProfile } from "../src/content/documents.ts";
import { recordRules } from "../src/content/record_rules.ts";
import { encodeRecord } from "../src/content/records.ts";
import { decodeMessage, encodeMessage, type Message, MessageType } from "../src/dht/messages.ts";
import { DhtNode } from "../src/dht/node.ts";
import type { PutResult } from "../src/dht/types.ts";
import { PeerAddress } from "../src/net/address.ts";
import { RecordStore } from "../src/store/record_store.ts";
import type { RecordRules } from "../src/store/record_rules.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: { records: { type: "string", default: "200" } },
});
const records = Number(flags.records);
if (!Number.isSafeInteger(records) || records < 1 || records > 100_000) {
  console.error("bench:store-verify: --records must be a whole number in 1..100000");
  Deno.exit(2);
}

/** Between two requests of the one peer: within its rate limit (50 per second). */
const requestSpacingMs = 25;
const peer = PeerAddress.parse("198.51.100.7:7447")!;
const peerId = NodeId.fromBytes(new Uint8Array(20).fill(0x42));

let verifications = 0;
const counting: RecordRules = {
  ...recordRules,
  verify(key, bytes, held, nowMs) {
    verifications++;
    return recordRules.verify(key, bytes, held, nowMs);
  },
};

const { config } = resolveConfig();
const clock = new VirtualClock(Date.now());
const root = await Deno.makeTempDir({ prefix: "rhizome-bench-store-verify-" });
const store = RecordStore.open({
  path: join(root, "records.mdb"),
  rules: counting,
  clock,
  classes: config.store,
  quota: { bytesMax: 1 << 30, recordsMax: 1_000_000 },
  diskFreeBytesMin: 0,
});
/** Replies by transaction number, as the node sends them. */
const replies = new Map<number, (message: Message) => void>();
const prng = new Prng(15);
const node = new DhtNode({
  nodeId: NodeId.fromBytes(randomBytes(prng, new Uint8Array(20))),
  address: PeerAddress.parse("198.51.100.1:7447")!,
  clock,
  transport: {
    send(_to, bytes) {
      const message = decodeMessage(bytes);
      if (typeof message === "string") return;
      replies.get(message.tx)?.(message);
    },
  },
  store,
  rng: prng.fork(),
  settings: { dht: config.dht, profile: config.profiles.full, store: config.store },
});

let tx = 1;
function request(body: Record<string, unknown>): Promise<Message> {
  const id = tx++;
  clock.advanceBy(requestSpacingMs);
  const answered = new Promise<Message>((resolve) => replies.set(id, resolve));
  const message = { ...body, tx: id, sender: peerId, flags: 0 } as Message;
  node.receive(peer, encodeMessage(message));
  return answered.finally(() => replies.delete(id));
}

const profiles = Array.from({ length: records }, (_, index) => {
  const secret = new Uint8Array(32);
  new DataView(secret.buffer).setUint32(0, index + 1);
  const author = ed25519KeyPairFromSecretKey(secret);
  const record = signProfile(author, clock.nowMs(), {
    name: `author ${index}`,
    about: "measured",
    keys: [],
    updatedMs: clock.nowMs(),
  });
  return { key: profileKey(author.publicKey), bytes: encodeRecord(record) };
});

async function storeAll(): Promise<{ verifications: number; msMean: number; ok: number }> {
  const nodes = await request({ type: MessageType.findNode, target: peerId });
  if (nodes.type !== MessageType.nodes) throw new Error("no NODES reply");
  const before = verifications;
  let ok = 0;
  const startMs = performance.now();
  for (const { key, bytes } of profiles) {
    const reply = await request({
      type: MessageType.store,
      key,
      value: bytes,
      token: nodes.token,
      ttlS: 3600,
    });
    if (reply.type === MessageType.stored && reply.status === 0) ok++;
  }
  return {
    verifications: (verifications - before) / records,
    msMean: (performance.now() - startMs) / records,
    ok,
  };
}

try {
  const first = await storeAll();
  const again = await storeAll();

  // A local publish on a node alone: its own store verifies once, and nothing else does.
  const publishBefore = verifications;
  const localProfiles = profiles.map((_, index) => {
    const secret = new Uint8Array(32).fill(0xee);
    new DataView(secret.buffer).setUint32(0, index + 1);
    const author = ed25519KeyPairFromSecretKey(secret);
    const profile = { name: "local", about: "", keys: [], updatedMs: clock.nowMs() };
    const record = signProfile(author, clock.nowMs(), profile);
    return { key: profileKey(author.publicKey), bytes: encodeRecord(record) };
  });
  // A node of its own on the same store: it knows no peer, so its lookups end at once.
  const alone = new DhtNode({
    nodeId: NodeId.fromBytes(randomBytes(prng, new Uint8Array(20))),
    address: PeerAddress.parse("198.51.100.2:7447")!,
    clock,
    transport: { send() {} },
    store,
    rng: prng.fork(),
    settings: { dht: config.dht, profile: config.profiles.full, store: config.store },
  });
  for (const { key, bytes } of localProfiles) {
    const result = await new Promise<PutResult>((resolve) => alone.putAt(key, bytes, resolve));
    if (!result.ok) throw new Error(`a local publish failed: ${result.localError?.message}`);
  }
  alone.stop();
  const publish = (verifications - publishBefore) / records;

  const verifyStartMs = performance.now();
  for (const { key, bytes } of profiles) recordRules.verify(key, bytes, () => undefined, 0);
  const verifyMs = (performance.now() - verifyStartMs) / records;

  console.log(JSON.stringify({
    records,
    verificationsPerStore: first.verifications,
    verificationsPerRepeatedStore: again.verifications,
    verificationsPerLocalPublish: publish,
    verificationsPerStoreBefore: 2,
    storesAcknowledged: first.ok + again.ok,
    storeMsMean: round(first.msMean),
    repeatedStoreMsMean: round(again.msMean),
    verifyMsMean: round(verifyMs),
    storeMsMeanBeforeEstimate: round(first.msMean + verifyMs),
  }));
} finally {
  node.stop();
  await store.close();
  await Deno.remove(root, { recursive: true });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
