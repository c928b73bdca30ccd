/**
 * Hot paths of the DHT: the datagram codec, the routing table's closest-contacts query and
 * observe, and a lookup step. `deno task bench` runs it; compare ratios within one run.
 */

import { NodeId } from "../src/core/node_id.ts";
import { Prng, randomBytes } from "../src/core/rng.ts";
import { LookupState } from "../src/dht/lookup.ts";
import { decodeMessage, encodeMessage, type Message, MessageType } from "../src/dht/messages.ts";
import { RoutingTable } from "../src/dht/routing_table.ts";
import type { Contact } from "../src/dht/types.ts";
import { PeerAddress } from "../src/net/address.ts";

const prng = new Prng(1);
const randomId = () => NodeId.fromBytes(randomBytes(prng, new Uint8Array(20)));
const self = randomId();
const contacts: Contact[] = Array.from({ length: 2000 }, (_, i) => ({
  nodeId: randomId(),
  address: PeerAddress.of(`127.0.${i >> 8}.${i & 255}`, 7447)!,
}));
const table = new RoutingTable(self, {
  k: 20,
  replacementCacheMax: 8,
  contactsMax: 3200,
  peerFailuresMax: 3,
});
for (const contact of contacts) table.observe(contact, 0);

const nodes: Message = {
  type: MessageType.nodes,
  tx: 7,
  sender: self,
  flags: 0,
  contacts: contacts.slice(0, 20),
  token: new Uint8Array(8),
};
const nodesBytes = encodeMessage(nodes);
const findNode: Message = {
  type: MessageType.findNode,
  tx: 7,
  sender: self,
  flags: 0,
  target: self,
};
const findNodeBytes = encodeMessage(findNode);
const targets = Array.from({ length: 256 }, randomId);
let next = 0;

Deno.bench("encode NODES with 20 contacts", { group: "codec", baseline: true }, () => {
  encodeMessage(nodes);
});
Deno.bench("decode NODES with 20 contacts", { group: "codec" }, () => {
  decodeMessage(nodesBytes);
});
Deno.bench("encode + decode FIND_NODE", { group: "codec" }, () => {
  decodeMessage(encodeMessage(findNode));
  decodeMessage(findNodeBytes);
});

Deno.bench("RoutingTable.closest(k = 20)", { group: "table", baseline: true }, () => {
  table.closest(targets[next++ & 255], 20);
});
Deno.bench("RoutingTable.observe of a known contact", { group: "table" }, () => {
  table.observe(contacts[next++ % contacts.length], next);
});

Deno.bench("LookupState: add 20 contacts and pick the next 3", { group: "lookup" }, () => {
  const state = new LookupState(targets[next++ & 255], self, 20, 3);
  state.add(contacts.slice(0, 20), 1);
  for (const candidate of state.next()) state.answered(candidate, contacts.slice(20, 40));
  state.next();
});
