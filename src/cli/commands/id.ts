/**
 * `rhizome id`.
 *
 * @module
 */

import { toBase32 } from "../../core/bytes.ts";
import { formatContactUri, makeContact } from "../../core/contact_uri.ts";
import { getLog } from "../../core/log.ts";
import { advertisedAddress } from "../../node/advertised_address.ts";
import { readIdentity } from "../../node/data_dir/identity_file.ts";
import type { Command } from "../command.ts";
import { OK } from "../output.ts";

/** Prints the node's ID, public key and contact URI. */
export const idCommand: Command = {
  name: "id",
  summary: "Print the node ID, public key and contact URI",
  usage: "id",
  description: [
    "Reads the identity in the data directory and prints the node ID (hex and base32), the",
    "public key (base32) and the contact URI other nodes bootstrap from. The URI's address is",
    "node.advertise, else node.listen with a wildcard host replaced by loopback (then the URI",
    "works only on this machine, and a warning says so).",
  ].join("\n"),
  examples: [
    "rhizome id",
    "rhizome id --json | jq -r .contact",
    "RHIZOME_NODE_ADVERTISE=203.0.113.7:7447 rhizome id",
  ],
  flags: {},
  positionals: { min: 0, max: 0 },
  async run(context) {
    const config = await context.config();
    const { identity, exposed } = await readIdentity(context.dataDir().identityPath);
    const log = getLog("cli");
    if (exposed) {
      log.warning("the identity key {path} is readable by other users; run: chmod 600 {path}", {
        path: context.dataDir().identityPath,
      });
    }
    const address = advertisedAddress(config);
    if (address.loopbackOnly) {
      log.warning(
        "the contact URI uses loopback because node.listen is a wildcard; set node.advertise so other machines can reach this node",
      );
    }
    const contact = formatContactUri(
      makeContact(identity.keyPair.publicKey, address.host, address.port),
    );
    const nodeId = identity.nodeId;
    const publicKey = toBase32(identity.keyPair.publicKey);
    context.output.result(
      [
        `node ID         ${nodeId.toHex()}`,
        `node ID base32  ${nodeId.toBase32()}`,
        `public key      ${publicKey}`,
        `contact         ${contact}`,
      ].join("\n"),
      {
        node_id: nodeId.toHex(),
        node_id_base32: nodeId.toBase32(),
        public_key: publicKey,
        contact,
        created: identity.created,
      },
    );
    return OK;
  },
};
