/**
 * Discussions across ten real `rhizome run` processes, driven by real `rhizome` CLI processes: a
 * thread created on node A shows in `thread list --recent` on node B; replies and votes made on C
 * and D show on A as a reply tree with counts; a profile set on A is read on B; and a forged
 * signature, an oversize body, a repeated vote and a reply to a missing parent are each refused
 * with one clear line and change nothing.
 */

import assert from "node:assert/strict";
import { docRecord, signThread } from "../../src/content/documents.ts";
import { encodeRecord, recordKey } from "../../src/content/records.ts";
import { bodyBytesMax } from "../../src/content/documents.ts";
import { AuthorKeys } from "../../src/node/data_dir/author_keys.ts";
import type {
  PublishReport,
  ThreadList,
  ThreadView,
} from "../../src/services/discussion/reports.ts";
import { type NodeProcess, startNetwork, waitFor } from "../_node_process.ts";
import { rhizomeJson, withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";
import { NodeId } from "../../src/core/node_id.ts";

const nodesCount = 10;

const rhizome = rhizomeJson;

Deno.test({
  name: "10 nodes: threads, replies, votes and profiles travel; bad posts change nothing",
  sanitizeResources: true,
  async fn() {
    await withTempDir(async (root) => {
      const nodes: NodeProcess[] = [];
      try {
        await startNetwork(root, nodesCount, nodes);
        const [a, b, c, d] = [
          nodes[1].dataDir,
          nodes[4].dataDir,
          nodes[6].dataDir,
          nodes[8].dataDir,
        ];
        for (const [dir, name] of [[a, "alice"], [b, "bob"], [c, "carol"], [d, "dave"]]) {
          const made = await rhizome(dir, "author", "new", name);
          assert.equal(made.status, 0, made.stderr);
        }

        // A starts a thread; B sees it in the recent list.
        const created = await rhizome<PublishReport>(
          a,
          "thread",
          "new",
          "--title",
          "Gardening on balconies",
          "--tag",
          "garden",
          "What grows in the shade?",
        );
        assert.equal(created.status, 0, created.stderr);
        const threadId = created.json!.id;
        assert.ok(created.json!.stored >= 5, `thread stored at ${created.json!.stored} nodes`);
        const listedAtMs = Date.now();
        let listed: ThreadList | undefined;
        await waitFor("the thread in B's recent list", async () => {
          listed = (await rhizome<ThreadList>(b, "thread", "list", "--recent")).json;
          return listed?.threads.some((thread) => thread.id === threadId) ?? false;
        }, 10_000);
        const seen = listed!.threads.find((thread) => thread.id === threadId)!;
        assert.equal(seen.title, "Gardening on balconies");
        assert.deepEqual(seen.tags, ["garden"]);
        console.log(`thread visible on B after ${Date.now() - listedAtMs} ms (CLI runs included)`);

        // C replies to the thread, D replies to C and votes on both.
        const fromC = await rhizome<PublishReport>(c, "post", threadId, "Ferns, mostly.");
        assert.equal(fromC.status, 0, fromC.stderr);
        const fromD = await rhizome<PublishReport>(
          d,
          "post",
          threadId,
          "--reply-to",
          fromC.json!.id,
          "Ferns and hostas here.",
        );
        assert.equal(fromD.status, 0, fromD.stderr);
        for (const [target, direction] of [[threadId, "up"], [fromC.json!.id, "up"]]) {
          const voted = await rhizome<PublishReport>(d, "vote", target, direction);
          assert.equal(voted.status, 0, voted.stderr);
        }
        const downFromC = await rhizome<PublishReport>(c, "vote", fromD.json!.id, "down");
        assert.equal(downFromC.status, 0, downFromC.stderr);

        const shown = await rhizome<ThreadView>(a, "thread", "show", threadId);
        assert.equal(shown.status, 0, shown.stderr);
        const view = shown.json!;
        assert.deepEqual(view.missing, []);
        assert.equal(view.thread.title, "Gardening on balconies");
        assert.deepEqual(view.thread.votes, { up: 1, down: 0 });
        assert.equal(view.messages.length, 1, "one top-level post");
        const top = view.messages[0];
        assert.equal(top.id, fromC.json!.id);
        assert.equal(top.body, "Ferns, mostly.");
        assert.deepEqual(top.votes, { up: 1, down: 0 });
        assert.equal(top.replies.length, 1);
        assert.equal(top.replies[0].id, fromD.json!.id);
        assert.equal(top.replies[0].parent, fromC.json!.id);
        assert.deepEqual(top.replies[0].votes, { up: 0, down: 1 });

        // A profile set on A is read on B.
        const profile = await rhizome<PublishReport>(a, "profile", "set", "--name", "Alice");
        assert.equal(profile.status, 0, profile.stderr);
        const profileOnB = await rhizome<{ name: string }>(
          b,
          "profile",
          "show",
          profile.json!.author!,
        );
        assert.equal(profileOnB.status, 0, profileOnB.stderr);
        assert.equal(profileOnB.json!.name, "Alice");

        // Refusals: one line, a non-zero exit, and the thread as it was.
        const refusals: [RegExp, Awaited<ReturnType<typeof rhizome>>][] = [];
        refusals.push([
          /^rhizome: Cannot vote: you already voted up on [0-9a-f]{40}$/,
          await rhizome(d, "vote", threadId, "up"),
        ]);
        refusals.push([
          /^rhizome: Cannot post the message: the body is 16385 bytes, the limit is 16384$/,
          await rhizome(c, "post", threadId, "x".repeat(bodyBytesMax + 1)),
        ]);
        refusals.push([
          /^rhizome: Cannot post.*(ab){20}.*not on the network$/,
          await rhizome(c, "post", threadId, "--reply-to", "ab".repeat(20), "Who?"),
        ]);
        // A thread whose author signature was made over another title.
        const alice = await new AuthorKeys(`${a}/authors`).load();
        const genuine = signThread(alice.keyPair, {
          createdMs: Date.now(),
          title: "A real title",
          body: "",
          tags: [],
        });
        const forged = docRecord({ ...genuine, title: "A forged title" });
        const forgedKey = recordKey(forged);
        const forgedClient = await nodes[4].client();
        const forgedError = await forgedClient.call(controlRoutes.publishRecord, {
          key: forgedKey,
          record: encodeRecord(forged),
        })
          .then(() => undefined, (error: Error & { code?: string }) => error);
        assert.equal(forgedError?.code, "RECORD_INVALID", String(forgedError));
        assert.match(forgedError!.message, /signature/);
        for (const [message, run] of refusals) {
          assert.equal(run.status, 1, run.stderr);
          assert.equal(run.stderr.trim().split("\n").length, 1, `one line: ${run.stderr}`);
          assert.match(run.stderr.trim(), message);
        }
        // The node refuses what the CLI would have caught, for callers of the API.
        const oversize = await forgedClient.call(controlRoutes.post, {
          thread: NodeId.fromHex(threadId),
          body: "x".repeat(bodyBytesMax + 1),
        })
          .then(() => undefined, (error: Error & { code?: string }) => error);
        assert.equal(oversize?.code, "CONTENT_INVALID", String(oversize));
        const after = (await rhizome<ThreadView>(b, "thread", "show", threadId)).json!;
        assert.deepEqual(after.thread.votes, { up: 1, down: 0 }, "the repeated vote counted once");
        assert.equal(after.thread.messages, view.thread.messages, "no post was added");
        assert.deepEqual(
          after.messages.map((m) => [m.id, m.replies.map((r) => r.id)]),
          view.messages.map((m) => [m.id, m.replies.map((r) => r.id)]),
        );
        for (const node of nodes) {
          assert.equal(
            await (await node.client()).call(controlRoutes.get, NodeId.fromHex(forgedKey.toHex())),
            undefined,
          );
        }
      } finally {
        for (const node of nodes) node.child.kill("SIGTERM");
        await Promise.all(nodes.map((node) => node.exited));
      }
    });
  },
});
