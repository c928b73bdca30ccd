/**
 * The saved routing table: contacts round-trip; a missing file is no contacts; a damaged,
 * foreign or oversize file is reported and ignored; malformed entries are skipped and counted.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { NodeId } from "../../../src/core/node_id.ts";
import {
  peerFileBytesMax,
  readPeerFile,
  writePeerFile,
} from "../../../src/node/data_dir/peer_file.ts";
import { withTempDir } from "../../_rhizome.ts";
import { at } from "../../_address.ts";

const contacts = [
  { nodeId: NodeId.fromHex("11".repeat(20)), address: at("127.0.0.1:7447") },
  { nodeId: NodeId.fromHex("22".repeat(20)), address: at("[::1]:7448") },
];

Deno.test("contacts round-trip through peers.json, mode 0600", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "peers.json");
    await writePeerFile(path, contacts, 1234);
    const read = await readPeerFile(path);
    assert.ok(read && !("problem" in read));
    assert.equal(read.savedAtMs, 1234);
    assert.equal(read.skipped, 0);
    assert.deepEqual(
      read.contacts.map((c) => [c.nodeId.toHex(), c.address.key]),
      contacts.map((c) => [c.nodeId.toHex(), c.address.key]),
    );
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  });
});

Deno.test("a missing peers.json is no contacts, not an error", async () => {
  await withTempDir(async (directory) => {
    assert.equal(await readPeerFile(join(directory, "peers.json")), undefined);
  });
});

Deno.test("damaged, foreign and oversize files are reported in one line and ignored", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "peers.json");
    const cases: [string, RegExp][] = [
      ["{not json", /not valid JSON/],
      ['{"version": 7, "savedAtMs": 1, "contacts": []}', /not a version 1 peer file/],
      ['{"version": 1, "contacts": []}', /lacks its contacts or its time/],
      ["[]", /not a version 1 peer file/],
    ];
    for (const [text, pattern] of cases) {
      await Deno.writeTextFile(path, text);
      const read = await readPeerFile(path);
      assert.ok(read && "problem" in read, text);
      assert.match(read.problem, pattern);
      assert.ok(!read.problem.includes("\n"));
    }
    await Deno.writeTextFile(path, " ".repeat(peerFileBytesMax + 1));
    const big = await readPeerFile(path);
    assert.ok(big && "problem" in big && /over the \d+ limit/.test(big.problem));
  });
});

Deno.test("malformed entries are skipped and counted; the good ones kept", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "peers.json");
    const body = {
      version: 1,
      savedAtMs: 5,
      contacts: [
        { id: "11".repeat(20), address: "127.0.0.1:1" },
        { id: "xyz", address: "127.0.0.1:2" },
        { id: "22".repeat(20), address: "example.org:7447" },
        { id: "33".repeat(20) },
        null,
        { id: "44".repeat(20), address: "[::1]:3" },
      ],
    };
    await Deno.writeTextFile(path, JSON.stringify(body));
    const read = await readPeerFile(path);
    assert.ok(read && !("problem" in read));
    assert.equal(read.skipped, 4);
    assert.deepEqual(read.contacts.map((c) => c.address.key), ["127.0.0.1:1", "[::1]:3"]);
  });
});
