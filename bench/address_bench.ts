/**
 * The address work on the receive path, per datagram: the socket's sender made an address, the
 * session table looked up by it, the DHT's receive (a PING from a known peer: rate limit, table,
 * PONG) and the reply's address turned back into host and port for the socket. 64 senders in
 * turn, so the tables hold several entries. `deno task bench` runs it; compare ratios within one
 * run.
 */

import { VirtualClock } from "../src/core/clock.ts";
import { resolveConfig } from "../src/core/config.ts";
import { NodeId } from "../src/core/node_id.ts";
import { Prng, randomBytes } from "../src/core/rng.ts";
import { encodeMessage, MessageType } from "../src/dht/messages.ts";
import { DhtNode } from "../src/dht/node.ts";
import { PeerAddress, sharedWireForm } from "../src/net/address.ts";
import { MemoryValueStore } from "../src/store/memory_value_store.ts";

const sendersCount = 64;
const prng = new Prng(7);
const randomId = () => NodeId.fromBytes(randomBytes(prng, new Uint8Array(20)));
const { config } = resolveConfig();
// Limits lifted: the bench measures the path, not the rate limiter's refusals.
const dht = {
  ...config.dht,
  peer_requests_per_s: 1e9,
  peer_requests_burst: 1e9,
  requests_per_s: 1e9,
  requests_burst: 1e9,
};
let sent = 0;
const clock = new VirtualClock(1_735_689_600_000);
const node = new DhtNode({
  nodeId: randomId(),
  address: PeerAddress.of("10.0.0.1", 7447)!,
  clock,
  transport: {
    send(to) {
      // What the UDP transport needs of the address to send.
      const { host, port, family } = to;
      sent += host.length + port + family;
    },
  },
  store: new MemoryValueStore({ clock, classes: config.store }),
  rng: prng.fork(),
  settings: { dht, profile: config.profiles.full, store: config.store },
});
const senders = Array.from({ length: sendersCount }, (_, i) => {
  const id = randomId();
  return {
    id,
    host: `198.51.100.${i + 1}`,
    port: 7447 + i,
    ping: encodeMessage({ type: MessageType.ping, tx: i, sender: id, flags: 0 }),
  };
});
const sessions = new Map<string, number>();
for (const [i, sender] of senders.entries()) {
  sessions.set(PeerAddress.of(sender.host, sender.port)!.key, i);
}
let turn = 0;

Deno.bench("receive path: address from the socket, session, DHT PING, PONG's address", () => {
  const sender = senders[turn++ % sendersCount];
  const from = PeerAddress.of(sender.host, sender.port)!;
  sent += sessions.get(from.key)! + sharedWireForm(from).length;
  node.receive(from, sender.ping, sender.id);
});
