// Goal: a post costs at most postRequestsMax requests (issue 16), counted across a 100-node
// simulated network with the real DHT, and what a post writes is what another node's reader shows.
// Method: threads from one node, posts and votes from others (deterministic by seed); the
// requests every node answered are summed before and after each operation.

import assert from "node:assert/strict";
import {
  type RequestCounts,
  requestsBetween,
  simAuthor,
  SimDiscussion,
} from "./_sim_discussion.ts";

/** The bound on the requests one post costs. */
const postRequestsMax = 120;

const nodes = 100;
const threads = 4;
const posts = 24;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function summary(label: string, costs: RequestCounts[]): string {
  const totals = costs.map((cost) => cost.sent);
  const mean = (pick: (cost: RequestCounts) => number) =>
    (costs.reduce((sum, cost) => sum + pick(cost), 0) / costs.length).toFixed(1);
  return `${label}: sent median ${median(totals)}, max ${Math.max(...totals)}, mean ${
    mean((cost) => cost.sent)
  }; answered network-wide: mean ${mean((cost) => cost.total)} (FIND_NODE ${
    mean((cost) => cost.findNode)
  }, FIND_VALUE ${mean((cost) => cost.findValue)}, STORE ${mean((cost) => cost.store)}, PING ${
    mean((cost) => cost.ping)
  })`;
}

Deno.test("a post costs at most 120 requests in a 100-node network, and another node shows it", async () => {
  const simSeed = 16;
  const sim = new SimDiscussion(nodes, simSeed, simAuthor());
  const measure = async <T>(
    index: number,
    work: (node: SimDiscussion["nodes"][number]) => Promise<T>,
  ) => {
    const before = sim.requests(index);
    const result = await sim.drive(work(sim.nodes[index]));
    return { result, cost: requestsBetween(before, sim.requests(index)) };
  };
  const threadCosts: RequestCounts[] = [];
  const threadIds: string[] = [];
  for (let t = 0; t < threads; t++) {
    const { result, cost } = await measure(
      t,
      (node) => node.publisher.newThread({ title: `thread ${t}`, body: "opening post" }),
    );
    threadIds.push(result.id);
    threadCosts.push(cost);
  }
  const postCosts: RequestCounts[] = [];
  const messageIds: string[][] = threadIds.map(() => []);
  for (let p = 0; p < posts; p++) {
    const thread = p % threads;
    const replyTo = p >= threads * 2 ? messageIds[thread][0] : undefined;
    const { result, cost } = await measure(
      10 + (p * 7) % (nodes - 10),
      (node) =>
        node.publisher.post({ thread: threadIds[thread], reply_to: replyTo, body: `post ${p}` }),
    );
    messageIds[thread].push(result.id);
    postCosts.push(cost);
  }
  const voteCosts: RequestCounts[] = [];
  for (let v = 0; v < threads; v++) {
    const { cost } = await measure(
      50 + v,
      (node) => node.publisher.vote({ target: messageIds[v][0], direction: "up" }),
    );
    voteCosts.push(cost);
  }
  console.log(summary("thread", threadCosts));
  console.log(summary("post", postCosts));
  console.log(summary("vote", voteCosts));

  for (let t = 0; t < threads; t++) {
    const view = await sim.drive(
      sim.nodes[99 - t].reader.showThread({ thread: threadIds[t], limit: 50 }),
    );
    const shown = new Set<string>();
    const walk = (list: typeof view.messages) => {
      for (const message of list) {
        shown.add(message.id);
        walk(message.replies);
      }
    };
    walk(view.messages);
    assert.deepEqual(
      [...shown].sort(),
      [...messageIds[t]].sort(),
      `thread ${t}, simSeed ${simSeed}`,
    );
    assert.equal(view.thread.messages, messageIds[t].length, `count of thread ${t}`);
  }
  const listed = await sim.drive(sim.nodes[98].reader.listThreads({ order: "recent", limit: 20 }));
  assert.deepEqual(listed.threads.map((thread) => thread.id).sort(), [...threadIds].sort());
  const popular = await sim.drive(
    sim.nodes[97].reader.listThreads({ order: "popular", limit: 20 }),
  );
  assert.deepEqual(popular.threads.map((thread) => thread.id).sort(), [...threadIds].sort());

  assert.ok(
    median(postCosts.map((cost) => cost.sent)) <= postRequestsMax,
    summary("post", postCosts),
  );
});
