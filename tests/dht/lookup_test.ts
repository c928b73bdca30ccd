// Goal: the iterative lookup asks the right peers at the right time and stops at the right
// moment: alpha requests at first, all of the k closest once a reply brings nothing closer, a
// stalled request frees its slot, the query cap holds, hop counts follow the reply chain; and,
// end to end, a lookup on a small lossless network returns exactly the k closest live nodes.
// Method: LookupState driven by hand with IDs at chosen XOR distances from the target (the ID
// whose last bytes read n is at distance n from the all-zero target); then a seeded 80-node
// SimCluster whose findNode() results are compared with a brute-force sort of every live ID.

import assert from "node:assert/strict";
import { lookupCandidatesMax, lookupQueriesMax } from "../../src/core/limits.ts";
import { NODE_ID_BYTES, NodeId } from "../../src/core/node_id.ts";
import { Prng, randomInt } from "../../src/core/rng.ts";
import { type Candidate, lookupReasksMax, LookupState } from "../../src/dht/lookup.ts";
import type { Contact } from "../../src/dht/types.ts";
import type { GetResult, LookupResult } from "../../src/dht/types.ts";
import { contentKey } from "../../src/core/content_key.ts";
import { runOne } from "../../src/sim/operations.ts";
import { SimCluster } from "../../src/sim/cluster.ts";
import { SimNetwork } from "../../src/sim/network.ts";
import { DhtNode } from "../../src/dht/node.ts";
import { joinedCluster, randomId, settingsFor } from "./_helpers.ts";
import { at as addressOf } from "../_address.ts";
import type { PeerAddress } from "../../src/net/address.ts";

const target = NodeId.fromBytes(new Uint8Array(NODE_ID_BYTES));
/** Far from every test contact: this node's own ID. */
const self = NodeId.fromBytes(new Uint8Array(NODE_ID_BYTES).fill(0xff));

/** The contact at XOR distance `distance` (1..2^32-1) from the all-zero target. */
function at(distance: number): Contact {
  const bytes = new Uint8Array(NODE_ID_BYTES);
  new DataView(bytes.buffer).setUint32(NODE_ID_BYTES - 4, distance);
  return {
    nodeId: NodeId.fromBytes(bytes),
    address: addressOf(`10.0.${distance >> 8 & 255}.${distance & 255}:7447`),
  };
}

const distanceOf = (c: Candidate) => new DataView(c.contact.nodeId.toBytes().buffer).getUint32(16);
const distances = (cs: readonly Candidate[]) => cs.map(distanceOf);
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => at(from + i));

Deno.test("a lookup first asks the alpha closest candidates, nearest first", () => {
  const lookup = new LookupState(target, self, 5, 3);
  lookup.add(range(1, 10).reverse(), 1);
  const first = lookup.next();
  assert.deepEqual(distances(first), [1, 2, 3]);
  assert.ok(first.every((c) => c.state === "asking" && c.hop === 1));
  assert.equal(lookup.queries, 3);
  assert.deepEqual(lookup.next(), [], "every slot is taken");
  assert.equal(lookup.isDone(), false);
});

Deno.test("a get's first round draws alpha candidates at random from the width closest", () => {
  const drawn = new Set<number>();
  for (let draw = 0; draw < 20; draw++) {
    const lookup = new LookupState(target, self, 5, 3);
    lookup.add(range(1, 10).reverse(), 1);
    const prng = new Prng(draw);
    const first = lookup.nextSpread(6, (n) => randomInt(prng, n));
    assert.equal(first.length, 3);
    assert.ok(
      first.every((c) => c.state === "asking" && distanceOf(c) <= 6),
      `${distances(first)}`,
    );
    assert.equal(new Set(distances(first)).size, 3, "three distinct candidates");
    assert.equal(lookup.queries, 3);
    assert.deepEqual(lookup.next(), [], "the drawn ones hold every slot");
    for (const c of first) drawn.add(distanceOf(c));
  }
  assert.ok(drawn.size > 3, `draws spread over the closest six: ${[...drawn]}`);
  // A pick out of range is clamped, fewer candidates than alpha are all asked.
  const few = new LookupState(target, self, 5, 3);
  few.add(range(1, 2), 1);
  assert.deepEqual(distances(few.nextSpread(6, () => 99)).sort(), [1, 2]);
  assert.deepEqual(new LookupState(target, self, 5, 3).nextSpread(6, () => 0), [], "none known");
});

Deno.test("this node's own ID is never a candidate", () => {
  const lookup = new LookupState(target, self, 5, 3);
  assert.equal(lookup.add([{ nodeId: self, address: addressOf("10.9.9.9:7447") }], 1), false);
  assert.deepEqual(lookup.next(), []);
  assert.equal(lookup.isDone(), true, "nothing to ask: done at once");
});

Deno.test("add() reports whether a contact is closer than every candidate known before", () => {
  const lookup = new LookupState(target, self, 5, 3);
  assert.equal(lookup.add([at(10)], 1), true, "the first contact is closer than nothing");
  assert.deepEqual(lookup.add([at(20), at(15)], 1), false);
  assert.deepEqual(lookup.add([at(30), at(5)], 1), true);
  assert.equal(lookup.add([at(5)], 1), false, "a known contact is not news");
});

Deno.test("a reply that brings a closer candidate keeps alpha requests in flight", () => {
  const lookup = new LookupState(target, self, 5, 2);
  lookup.add(range(10, 20), 1);
  const [a] = lookup.next();
  lookup.answered(a, [at(3)]);
  const next = lookup.next();
  assert.deepEqual(distances(next), [3], "one free slot, given to the new nearest candidate");
  assert.equal(next[0].hop, 2);
});

Deno.test("a reply that brings nothing closer escalates to all of the k closest not yet asked", () => {
  const lookup = new LookupState(target, self, 5, 2);
  lookup.add(range(1, 10), 1);
  const [a] = lookup.next(); // 1 and 2 asking.
  lookup.answered(a, [at(50), at(60)]);
  assert.deepEqual(distances(lookup.next()), [3, 4, 5], "the rest of the 5 closest at once");
  assert.deepEqual(lookup.next(), [], "never past the k closest");
  // A later reply that brings something closer returns to alpha in flight.
  const lookup2 = new LookupState(target, self, 5, 2);
  lookup2.add(range(10, 20), 1);
  const [b, c] = lookup2.next();
  lookup2.answered(b, []);
  assert.equal(lookup2.next().length, 3, "escalated: 4 in flight");
  lookup2.answered(c, [at(1)]);
  assert.deepEqual(lookup2.next(), [], "back to alpha = 2, and 3 are still in flight");
});

Deno.test("a stalled request frees its slot and escalates; its late reply still counts", () => {
  const lookup = new LookupState(target, self, 4, 2);
  lookup.add(range(1, 8), 1);
  const [a, b] = lookup.next();
  lookup.stalled(a);
  assert.equal(a.state, "stalled");
  // The stalled slot is reused, and the rest of the k closest are asked at once; the stalled
  // candidate no longer counts among them, so the window slides to 5.
  assert.deepEqual(distances(lookup.next()), [3, 4, 5]);
  lookup.answered(b, []);
  assert.deepEqual(distances(lookup.next()), []);
  // Its late reply is accepted.
  lookup.answered(a, []);
  assert.equal(a.state, "answered");
  assert.deepEqual(distances(lookup.closestAnswered(10)), [1, 2]);
  // stalled() only applies to a request in flight.
  lookup.stalled(a);
  assert.equal(a.state, "answered");
});

Deno.test("a lookup is done when the k closest live candidates have all answered", () => {
  const lookup = new LookupState(target, self, 3, 3);
  lookup.add(range(1, 6), 1);
  const asked = lookup.next();
  assert.equal(lookup.isDone(), false, "requests in flight");
  lookup.answered(asked[0], []);
  lookup.answered(asked[1], []);
  assert.equal(lookup.isDone(), false, "one of the 3 closest still in flight");
  lookup.answered(asked[2], []);
  assert.equal(lookup.isDone(), true, "farther candidates never asked do not matter");
  assert.deepEqual(lookup.next(), []);
});

Deno.test("a failed candidate leaves the k closest; a stalled one frees its slot and is not waited for once k others answered", () => {
  const lookup = new LookupState(target, self, 2, 2);
  lookup.add(range(1, 5), 1);
  const [a, b] = lookup.next();
  lookup.failed(a);
  lookup.answered(b, []);
  assert.equal(lookup.isDone(), false, "candidate 3 now ranks among the 2 closest, unasked");
  const [c] = lookup.next();
  assert.equal(distanceOf(c), 3);
  lookup.stalled(c);
  assert.equal(lookup.isDone(), false, "candidate 4 moves up");
  const [d] = lookup.next();
  assert.equal(distanceOf(d), 4);
  lookup.answered(d, []);
  assert.equal(lookup.isDone(), true, "2 and 4 answered: k settle it, silent 3 holds nothing");
  assert.deepEqual(distances(lookup.closestAnswered(5)), [2, 4]);
});

Deno.test("a stalled candidate is waited for while fewer than k others can settle the lookup", () => {
  const lookup = new LookupState(target, self, 3, 3);
  lookup.add(range(1, 2), 1);
  const [a, b] = lookup.next();
  lookup.stalled(a);
  lookup.answered(b, []);
  assert.equal(lookup.isDone(), false, "1 stalled and only 2 answered: its retries may answer");
  lookup.answered(a, []);
  assert.equal(lookup.isDone(), true);
  assert.deepEqual(distances(lookup.closestAnswered(5)), [1, 2]);
});

Deno.test("a lookup whose only candidate stalled waits for its retries (issue 14)", () => {
  const lookup = new LookupState(target, self, 20, 3);
  lookup.add([at(7)], 1);
  const [only] = lookup.next();
  lookup.stalled(only);
  assert.deepEqual(lookup.next(), []);
  assert.equal(lookup.isDone(), false, "one lost datagram does not end the lookup");
  lookup.answered(only, []);
  assert.equal(lookup.isDone(), true);
  assert.deepEqual(distances(lookup.closestAnswered(20)), [7]);
});

Deno.test("a stalled candidate farther than the k closest answered ones is not waited for", () => {
  const lookup = new LookupState(target, self, 2, 3);
  lookup.add(range(1, 3), 1);
  const [a, b, c] = lookup.next();
  assert.equal(c, undefined, "only the 2 closest are asked");
  lookup.stalled(b);
  const [third] = lookup.next();
  assert.equal(distanceOf(third), 3);
  lookup.stalled(third);
  lookup.answered(a, []);
  lookup.answered(b, []);
  assert.equal(lookup.isDone(), true, "1 and 2 answered; 3 still retrying but out of the k");
});

Deno.test("a lookup with nothing left to ask and nothing in flight is done", () => {
  const empty = new LookupState(target, self, 20, 3);
  assert.equal(empty.isDone(), true);
  const lookup = new LookupState(target, self, 20, 3);
  lookup.add(range(1, 2), 1);
  const asked = lookup.next();
  asked.forEach((c) => lookup.failed(c));
  assert.equal(lookup.isDone(), true, "every candidate failed");
  assert.deepEqual(lookup.closestAnswered(20), []);
});

Deno.test("a lookup stops asking after lookupQueriesMax requests", () => {
  const k = 20;
  const lookup = new LookupState(target, self, k, 3);
  // Every reply names three new candidates closer than all before: an endless stream of news.
  let nextDistance = 1_000_000;
  lookup.add([at(nextDistance--), at(nextDistance--), at(nextDistance--)], 1);
  const inFlight: Candidate[] = [...lookup.next()];
  while (inFlight.length > 0) {
    const candidate = inFlight.shift()!;
    lookup.answered(candidate, [at(nextDistance--), at(nextDistance--), at(nextDistance--)]);
    inFlight.push(...lookup.next());
    assert.ok(lookup.queries <= lookupQueriesMax, `queries ${lookup.queries}`);
  }
  assert.equal(lookup.queries, lookupQueriesMax);
  assert.deepEqual(lookup.next(), []);
  assert.equal(lookup.isDone(), true, "done at the cap, with candidates never asked");
  assert.equal(lookup.closestAnswered(k).length, k);
});

Deno.test("hop counts follow the reply chain, and the shortest path wins", () => {
  const lookup = new LookupState(target, self, 20, 1);
  lookup.add([at(100)], 1);
  const [first] = lookup.next();
  assert.equal(first.hop, 1);
  lookup.answered(first, [at(50), at(70)]);
  const [second] = lookup.next();
  assert.equal(distanceOf(second), 50);
  assert.equal(second.hop, 2);
  lookup.answered(second, [at(10), at(70)]);
  const [third] = lookup.next();
  assert.equal(distanceOf(third), 10);
  assert.equal(third.hop, 3);
  // 70 was heard of at hop 2 first; hearing of it again at hop 3 keeps 2.
  lookup.answered(third, [at(70)]);
  const [fourth] = lookup.next();
  assert.equal(distanceOf(fourth), 70);
  assert.equal(fourth.hop, 2);
  // A candidate not yet asked takes a shorter path when one appears.
  const relay = new LookupState(target, self, 20, 1);
  relay.add([at(5)], 3);
  relay.add([at(5)], 1);
  assert.equal(relay.next()[0].hop, 1);
});

Deno.test("a lookup keeps only the lookupCandidatesMax nearest candidates", () => {
  const n = lookupCandidatesMax + 20;
  const lookup = new LookupState(target, self, n, n);
  lookup.add(range(1, n).reverse(), 1);
  const asked = lookup.next();
  assert.equal(asked.length, Math.min(lookupCandidatesMax, lookupQueriesMax));
  assert.deepEqual(distances(asked), range(1, asked.length).map((_, i) => i + 1));
  // Candidates beyond the cap are dropped, not just unasked: answer all and check what is left.
  asked.forEach((c) => lookup.answered(c, []));
  assert.equal(lookup.closestAnswered(n).length, asked.length);
});

Deno.test("closestAnswered() lists the answered candidates nearest first", () => {
  const lookup = new LookupState(target, self, 6, 6);
  lookup.add(range(1, 6), 1);
  const asked = lookup.next();
  for (const index of [4, 0, 2]) lookup.answered(asked[index], []);
  lookup.failed(asked[1]);
  assert.deepEqual(distances(lookup.closestAnswered(10)), [1, 3, 5]);
  assert.deepEqual(distances(lookup.closestAnswered(2)), [1, 3]);
});

// --- end to end ---

Deno.test("lookups agree with a brute-force k-closest set in small networks", () => {
  const settings = settingsFor("full");
  const { k } = settings.dht;
  for (
    const { simSeed, nodes } of [{ simSeed: 4_101, nodes: 50 }, { simSeed: 4_102, nodes: 100 }]
  ) {
    const { network, cluster } = joinedCluster(simSeed, nodes, settings);
    const prng = new Prng(simSeed);
    for (const asker of [0, 1, 17, 42, nodes - 1]) {
      // Random targets and a target equal to another node's ID.
      const targets = [randomId(prng), randomId(prng), cluster.nodeId((asker + 7) % nodes)];
      for (const target of targets) {
        const result = runOne<LookupResult>(
          network,
          (done) => cluster.findNode(asker, target, done),
        );
        const expected = cluster.liveIndexes()
          .filter((index) => index !== asker)
          .sort((a, b) => target.compareDistance(cluster.nodeId(a), cluster.nodeId(b)))
          .slice(0, k);
        const why = `${nodes} nodes, asker ${asker}, target ${target.toHex()}, simSeed ${simSeed}`;
        assert.ok(result.ok, why);
        assert.deepEqual(
          result.closest.map((c) => c.nodeId.toHex()),
          expected.map((index) => cluster.nodeId(index).toHex()),
          why,
        );
        assert.deepEqual(
          result.closest.map((c) => c.address),
          expected.map((index) => cluster.address(index)),
          why,
        );
        assert.ok(result.rounds >= 1 && result.rounds <= 6, `rounds ${result.rounds}; ${why}`);
        assert.ok(result.messages >= 2 * k, `messages ${result.messages}; ${why}`);
      }
    }
  }
});

/** A node that loses a share of the datagrams it receives, once `lossRate` is set. */
class LossyDhtNode extends DhtNode {
  lossRate = 0;
  readonly #prng = new Prng(4_104);
  override receive(from: PeerAddress, bytes: Uint8Array, peer?: NodeId): void {
    if (this.#prng.nextUint32() / 2 ** 32 < this.lossRate) return;
    super.receive(from, bytes, peer);
  }
}

Deno.test("gets through an only contact behind 30% loss succeed (retries, not stalls)", () => {
  const simSeed = 4_103;
  const network = new SimNetwork({ simSeed, latencyMsMin: 10, latencyMsMax: 100 });
  const nodes: LossyDhtNode[] = [];
  const cluster = new SimCluster(network, {
    simSeed,
    settings: settingsFor("full"),
    createNode: (options) => {
      const node = new LossyDhtNode(options);
      nodes.push(node);
      return node;
    },
  });
  // Two nodes: the reader's only contact is the holder, which loses 30% of what reaches it.
  const [holder, reader] = [cluster.add(), cluster.add()];
  runOne(network, (done) => cluster.join(holder, [], done));
  runOne(network, (done) => cluster.join(reader, [holder], done));
  nodes[holder].lossRate = 0.3;
  const gets = 100;
  let found = 0;
  for (let i = 0; i < gets; i++) {
    const value = new TextEncoder().encode(`held by the holder alone ${i}`);
    const key = contentKey(value);
    const nowMs = network.clock.nowMs();
    const entry = { key, value, expiresAtMs: nowMs + 3_600_000, storedAtMs: nowMs };
    cluster.store(holder).put({ ...entry, published: false }, () => {});
    const result = runOne<GetResult>(network, (done) => cluster.get(reader, key, done));
    if (result.ok) found++;
  }
  // A get now fails only when all three attempts are lost (0.3^3 = 2.7%); before the fix, a
  // lost first attempt ended it (about 30% of gets).
  assert.ok(found >= 94, `${found} of ${gets} found, simSeed ${simSeed}`);
});

Deno.test("an only contact that failed is asked again, lookupReasksMax times, while nobody answered", () => {
  const lookup = new LookupState(target, self, 20, 3);
  lookup.add([at(7)], 1);
  for (let round = 0; round < lookupReasksMax; round++) {
    const [only] = lookup.next();
    assert.equal(distanceOf(only), 7, `asked again in round ${round}`);
    assert.equal(lookup.reask(only), true);
    assert.equal(lookup.isDone(), false);
  }
  const [last] = lookup.next();
  assert.equal(lookup.reask(last), false, "at the limit it fails for good");
  lookup.failed(last);
  assert.equal(lookup.isDone(), true);
  assert.equal(lookup.queries, lookupReasksMax + 1);
});

Deno.test("a failed candidate is not asked again once another answered, nor one learnt from a reply", () => {
  const lookup = new LookupState(target, self, 20, 3);
  lookup.add([at(7), at(9)], 1);
  const [near, far] = lookup.next();
  lookup.answered(far, [at(3)]);
  assert.equal(lookup.reask(near), false, "another candidate answered");
  lookup.failed(near);
  const [learnt] = lookup.next();
  assert.equal(distanceOf(learnt), 3);
  const fresh = new LookupState(target, self, 20, 3);
  fresh.add([at(3)], 2);
  const [secondHop] = fresh.next();
  assert.equal(fresh.reask(secondHop), false, "only the node's own contacts are asked again");
});

Deno.test("gets through an only contact behind 70% loss mostly succeed (asked again, issue 14)", () => {
  const simSeed = 4_104;
  const network = new SimNetwork({ simSeed, latencyMsMin: 10, latencyMsMax: 100 });
  const nodes: LossyDhtNode[] = [];
  const cluster = new SimCluster(network, {
    simSeed,
    settings: settingsFor("full"),
    createNode: (options) => {
      const node = new LossyDhtNode(options);
      nodes.push(node);
      return node;
    },
  });
  const [holder, reader] = [cluster.add(), cluster.add()];
  runOne(network, (done) => cluster.join(holder, [], done));
  runOne(network, (done) => cluster.join(reader, [holder], done));
  nodes[holder].lossRate = 0.7;
  const gets = 50;
  let found = 0;
  for (let i = 0; i < gets; i++) {
    const value = new TextEncoder().encode(`held behind a flood ${i}`);
    const key = contentKey(value);
    const nowMs = network.clock.nowMs();
    const entry = { key, value, expiresAtMs: nowMs + 3_600_000, storedAtMs: nowMs };
    cluster.store(holder).put({ ...entry, published: false }, () => {});
    const result = runOne<GetResult>(network, (done) => cluster.get(reader, key, done));
    if (result.ok) found++;
  }
  // Nine attempts (three requests of three) all lost: 0.7^9 = 4%; with one request, 34%.
  assert.ok(found >= 42, `${found} of ${gets} found, simSeed ${simSeed}`);
});
