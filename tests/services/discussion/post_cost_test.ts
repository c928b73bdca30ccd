// Goal: the median post costs at most postRequestsMax requests (issue 16), counted on the simulator's
// cluster with the real DHT at 100 nodes, and what posts and votes write is what another node's
// reader shows (every message, the count, both listings).
// Method: threads from some nodes, posts, replies and votes from others (deterministic by seed),
// on a lossless network; the requests each operation cost the network (its node's, and what other
// nodes sent handling what it caused) are counted, as the discussion workload counts them.

import assert from "node:assert/strict";
import { NodeId } from "../../../src/core/node_id.ts";
import type { MessageView } from "../../../src/services/discussion/reports.ts";
import { simAuthor, SimDiscussion } from "./_sim_discussion.ts";

/** The bound on the requests one post costs. */
const postRequestsMax = 120;

const nodes = 100;
const threads = 4;
const posts = 24;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function summary(label: string, counts: number[]): string {
  const mean = counts.reduce((sum, count) => sum + count, 0) / counts.length;
  return `${label}: requests median ${median(counts)}, max ${Math.max(...counts)}, mean ${
    mean.toFixed(1)
  }`;
}

Deno.test("the median post costs at most 120 requests in a 100-node network, and another node shows it", async () => {
  const simSeed = 16;
  const sim = new SimDiscussion(nodes, simSeed);
  const author = simAuthor;
  const threadCosts: number[] = [];
  const threadIds: string[] = [];
  for (let t = 0; t < threads; t++) {
    const { result, requests } = await sim.run(
      t,
      (node) => node.publisher.newThread({ title: `thread ${t}`, body: "opening post", author }),
    );
    threadIds.push(result.id);
    threadCosts.push(requests);
  }
  const postCosts: number[] = [];
  const postOwnCosts: number[] = [];
  const messageIds: string[][] = threadIds.map(() => []);
  for (let p = 0; p < posts; p++) {
    const thread = p % threads;
    const replyTo = p >= threads * 2 ? messageIds[thread][0] : undefined;
    const { result, requests, own } = await sim.run(
      10 + (p * 7) % (nodes - 10),
      (node) =>
        node.publisher.post({
          thread: NodeId.fromHex(threadIds[thread]),
          replyTo: replyTo === undefined ? undefined : NodeId.fromHex(replyTo),
          body: `post ${p}`,
          author,
        }),
    );
    messageIds[thread].push(result.id);
    postCosts.push(requests);
    postOwnCosts.push(own);
  }
  const voteCosts: number[] = [];
  for (let v = 0; v < threads; v++) {
    const { requests } = await sim.run(
      50 + v,
      (node) =>
        node.publisher.vote({
          target: NodeId.fromHex(messageIds[v][0]),
          direction: "up",
          author,
        }),
    );
    voteCosts.push(requests);
  }
  console.log(summary("thread", threadCosts));
  console.log(summary("post", postCosts));
  console.log(summary("post, the posting node's own", postOwnCosts));
  console.log(summary("vote", voteCosts));

  for (let t = 0; t < threads; t++) {
    const { result: view } = await sim.run(
      99 - t,
      (node) => node.reader.showThread({ thread: NodeId.fromHex(threadIds[t]), limit: 50 }),
    );
    const shown: string[] = [];
    const walk = (list: MessageView[]) => {
      for (const message of list) {
        shown.push(message.id);
        walk(message.replies);
      }
    };
    walk(view.messages);
    assert.deepEqual(shown.sort(), [...messageIds[t]].sort(), `thread ${t}, simSeed ${simSeed}`);
    assert.equal(view.thread.messages, messageIds[t].length, `count of thread ${t}`);
  }
  for (const order of ["recent", "popular"] as const) {
    const { result } = await sim.run(90, (node) => node.reader.listThreads({ order, limit: 20 }));
    assert.deepEqual(result.threads.map((thread) => thread.id).sort(), [...threadIds].sort());
  }
  assert.ok(postCosts.every((count) => count > 0), "every post was metered");
  assert.ok(median(postCosts) <= postRequestsMax, summary("post", postCosts));
});
