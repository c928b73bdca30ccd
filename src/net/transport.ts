/**
 * The network as the protocol core sees it: a way to send one datagram. Receiving is the
 * driver's job: it hands each datagram to the core (`DhtNode.receive`). Production wires a UDP
 * socket; the simulator wires its virtual network.
 *
 * @module
 */

import type { NodeId } from "../core/node_id.ts";
import type { PeerAddress } from "./address.ts";

/** Sends datagrams. Delivery is not guaranteed: datagrams may be lost, duplicated or reordered. */
export interface Transport {
  /**
   * Sends one datagram. Never throws and never blocks: a datagram that cannot be sent is lost,
   * like one dropped on the way.
   *
   * @param to The peer's address.
   * @param bytes The datagram, at most `datagramBytesMax` bytes.
   * @param expectedId The node ID pinned to `to`, when the sender knows it: an authenticating
   *   transport (the secure channel) delivers only to that identity; one that does not (a raw
   *   socket, the simulator) ignores it, and the receiver of the reply checks its sender.
   */
  send(to: PeerAddress, bytes: Uint8Array, expectedId?: NodeId): void;
}
