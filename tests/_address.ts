/**
 * Peer addresses for tests, written as the text they print as.
 */

import { PeerAddress } from "../src/net/address.ts";

/**
 * The address `text` names.
 *
 * @param text `a.b.c.d:port` or `[v6]:port`.
 * @returns The address.
 * @throws {Error} When the text is not an IP address and port: a typo in the test.
 */
export function at(text: string): PeerAddress {
  const address = PeerAddress.parse(text);
  if (address === undefined) throw new Error(`not an address: ${text}`);
  return address;
}
