/**
 * Posts per second one node accepts, without the network: the discussion {@link Publisher} over a
 * real LMDB {@link RecordStore}, so each post is what the node itself does for it — read the
 * thread and its index page and stats, sign the message and six index entries with the author key,
 * verify all seven records against their keys and the content rules, merge the sets and commit
 * each write durably — and none of what other nodes do (the lookups and STOREs at the k closest,
 * which `scripts/bench_network.ts` measures over 100 real processes).
 *
 * Posts go in batches of {@link BATCH} concurrent ones, as the control API admits several
 * requests at once; divide a batch's time by {@link BATCH} for one post. Every post goes into one
 * thread, moving to a new thread before its index pages could fill.
 *
 * @module
 */

import { resolveConfig } from "../src/core/config.ts";
import { ed25519KeyPairFromSecretKey } from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";
import { SystemClock } from "../src/core/system_clock.ts";
import { recordRules } from "../src/content/record_rules.ts";
import {
  decodeStoredRecord,
  type DhtRecord,
  encodeRecord,
  recordKey,
} from "../src/content/records.ts";
import { Publisher } from "../src/services/discussion/publisher.ts";
import type { RecordNetwork } from "../src/services/discussion/record_network.ts";
import { RecordStore } from "../src/store/record_store.ts";

/** Concurrent posts per timed iteration. */
const BATCH = 8;
/** Posts into one thread before the next thread (well under 64 index pages of 256). */
const POSTS_PER_THREAD = 2_000;

const dir = Deno.makeTempDirSync({ prefix: "rhizome-discussion-bench-" });
const clock = new SystemClock();
const store = RecordStore.open({
  path: `${dir}/store.mdb`,
  rules: recordRules,
  clock,
  classes: resolveConfig({}).config.store,
  quota: { bytesMax: 1024 ** 3, recordsMax: 10_000_000 },
});

/** The node's own half of publishing: durable here; nothing sent. */
const local: RecordNetwork = {
  async publish(record: DhtRecord) {
    const key = recordKey(record);
    await store.putRecord(key, encodeRecord(record));
    return { key, stored: 0, holders: 1, quorum: 1 };
  },
  fetch(key: NodeId) {
    const held = store.getRecord(key);
    return Promise.resolve(held ? decodeStoredRecord(held.value) : undefined);
  },
  async fetchWithin(key: NodeId) {
    return { record: await this.fetch(key), complete: true };
  },
  async fetchForUpdate(key: NodeId) {
    return { record: await this.fetch(key), publish: (record: DhtRecord) => this.publish(record) };
  },
};

const author = { name: "bench", keyPair: ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(7)) };
const publisher = new Publisher({ network: local, clock, authors: () => Promise.resolve(author) });

let thread: NodeId | undefined;
let posts = POSTS_PER_THREAD;
async function post(index: number): Promise<void> {
  if (posts >= POSTS_PER_THREAD) {
    thread = NodeId.fromHex(
      (await publisher.newThread({ title: `bench ${index}`, body: `Bench ${index}.` })).id,
    );
    posts = 0;
  }
  posts++;
  await publisher.post({ thread: thread!, body: `post ${index}: ${"lorem ipsum ".repeat(20)}` });
}

let counter = 0;
Deno.bench({
  name: `post: ${BATCH} at once, each 7 signed records written durably (local only)`,
  group: "discussion",
  async fn() {
    await Promise.all(Array.from({ length: BATCH }, () => post(counter++)));
  },
});

globalThis.addEventListener("unload", () => {
  // As in store_bench.ts: the LMDB environment is left to the process's exit (closing it here
  // cannot be awaited, and an exit during the close crashes the native addon, exit 139).
  Deno.removeSync(dir, { recursive: true });
});
