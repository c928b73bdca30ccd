/**
 * joinThroughSources() asks the sources in order and stops at the first whose contacts answer;
 * a source with nothing, one that throws and one whose contacts stay silent each hand over to
 * the next, with their reasons; a stopping node asks no further.
 */

import assert from "node:assert/strict";
import { NodeId } from "../../../src/core/node_id.ts";
import type { Contact } from "../../../src/dht/types.ts";
import { PeerAddress } from "../../../src/net/address.ts";
import {
  type JoinSource,
  joinThroughSources,
  uniqueContacts,
} from "../../../src/node/discovery/join_sources.ts";

function contact(byte: number): Contact {
  return {
    nodeId: NodeId.fromHex(byte.toString(16).padStart(2, "0").repeat(20)),
    address: PeerAddress.of("127.0.0.1", 40000 + byte)!,
  };
}

function source(
  name: JoinSource["name"],
  found: Contact[] | string | Error,
  asked: string[],
): JoinSource {
  return {
    name,
    description: `the ${name} source`,
    find: () => {
      asked.push(name);
      if (found instanceof Error) return Promise.reject(found);
      return Promise.resolve(
        typeof found === "string" ? { problem: found } : { contacts: found, named: [] },
      );
    },
  };
}

Deno.test("joinThroughSources() falls through empty, failing and silent sources to one that answers", async () => {
  const asked: string[] = [];
  const answering = contact(3);
  const outcomes = await joinThroughSources(
    [
      source("bootstrap", "none of its 3 contacts has a usable address", asked),
      source("dns", new Error("resolver exploded"), asked),
      source("lan", [contact(2)], asked),
      source("lan", [answering], asked),
      source("dns", [contact(4)], asked),
    ],
    (contacts) =>
      Promise.resolve(
        contacts[0] === answering ? { ok: true } : { ok: false, why: "no contact answered" },
      ),
    () => false,
  );
  assert.deepEqual(asked, ["bootstrap", "dns", "lan", "lan"], "the fifth is never asked");
  assert.deepEqual(outcomes.map((o) => [o.source, o.found, o.joined, o.problem]), [
    ["bootstrap", 0, false, "none of its 3 contacts has a usable address"],
    ["dns", 0, false, "it failed: resolver exploded"],
    ["lan", 1, false, "no contact answered"],
    ["lan", 1, true, undefined],
  ]);
});

Deno.test("joinThroughSources() asks nothing more once the node stops, and skips empty lists", async () => {
  const asked: string[] = [];
  let stopping = false;
  const outcomes = await joinThroughSources(
    [source("bootstrap", [], asked), source("dns", [contact(1)], asked), source("lan", [], asked)],
    () => {
      stopping = true;
      return Promise.resolve({ ok: false });
    },
    () => stopping,
  );
  assert.deepEqual(asked, ["bootstrap", "dns"]);
  assert.equal(outcomes[0].problem, "it gave no contact");
  assert.equal(outcomes.length, 2);
  assert.equal(uniqueContacts([contact(1), contact(1), contact(2)]).length, 2);
});
