/**
 * A small discussion world for the tests: a virtual clock, an in-memory network, two authors
 * with fixed keys (so every run is the same), a publisher and a reader over them.
 */

import { VirtualClock } from "../../../src/core/clock.ts";
import { ed25519KeyPairFromSecretKey } from "../../../src/core/crypto.ts";
import { ContentError } from "../../../src/core/errors.ts";
import type { NodeId } from "../../../src/core/node_id.ts";
import {
  type Author,
  type AuthorSource,
  Publisher,
} from "../../../src/services/discussion/publisher.ts";
import { Reader } from "../../../src/services/discussion/reader.ts";
import { MemoryRecordNetwork } from "./_memory_network.ts";

/** 2027-01-01T12:00:00Z: a fixed start, so hour shards fall the same way every run. */
export const startMs = 1_798_804_800_000;

/** Everything a test needs. */
export interface World {
  clock: VirtualClock;
  network: MemoryRecordNetwork;
  publisher: Publisher;
  reader: Reader;
  alice: Author;
  bob: Author;
  /** Keys the reader reported through its read hook. */
  read: NodeId[];
}

/**
 * Makes a world. `alice` is the current author.
 *
 * @returns The world.
 */
export function world(): World {
  const clock = new VirtualClock(startMs);
  const network = new MemoryRecordNetwork(clock);
  const alice = { name: "alice", keyPair: ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1)) };
  const bob = { name: "bob", keyPair: ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2)) };
  const byName = new Map([["alice", alice], ["bob", bob]]);
  const authors: AuthorSource = (name = "alice") => {
    const author = byName.get(name);
    if (author === undefined) {
      return Promise.reject(
        new ContentError("AUTHOR_MISSING", `Cannot sign: no author key named ${name}`),
      );
    }
    return Promise.resolve(author);
  };
  const read: NodeId[] = [];
  return {
    clock,
    network,
    publisher: new Publisher({ network, clock, authors }),
    reader: new Reader({ network, clock, onRead: (key) => read.push(key) }),
    alice,
    bob,
    read,
  };
}

/**
 * Checks that `promise` rejects with a RhizomeError of `code` whose message matches `pattern`.
 *
 * @param promise The call.
 * @param code The expected code.
 * @param pattern The expected message.
 */
export async function rejects(
  promise: Promise<unknown>,
  code: string,
  pattern: RegExp,
): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof Error) || (caught as { code?: string }).code !== code) {
    throw new Error(`expected ${code}, got ${caught}`);
  }
  if (!pattern.test(caught.message)) {
    throw new Error(`expected a message matching ${pattern}, got "${caught.message}"`);
  }
  if (caught.message.includes("\n")) {
    throw new Error(`the message is not one line: ${caught.message}`);
  }
}
