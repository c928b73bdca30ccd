/**
 * The network layer: typed peer addresses and their wire form, the transport interface the DHT
 * sends through, and the secure channel that encrypts and authenticates every datagram, pinning
 * each peer's identity.
 *
 * @module
 */

export * from "./address.ts";
export type { Transport } from "./transport.ts";
