/**
 * `rhizome id`.
 *
 * @module
 */

import { ControlClient } from "../../api/control_client.ts";
import { controlRoutes } from "../../api/routes.ts";
import { toBase32 } from "../../core/bytes.ts";
import { formatContactUri, makeContact, parseContactUri } from "../../core/contact_uri.ts";
import { formatShareString } from "../../core/share_string.ts";
import { getLog } from "../../core/log.ts";
import type { NodeId } from "../../core/node_id.ts";
import { advertisedAddress } from "../../node/advertised_address.ts";
import { readIdentity } from "../../node/data_dir/identity_file.ts";
import type { Command } from "../command.ts";
import { OK } from "../output.ts";
import { encodeQr, renderQr } from "../qr.ts";

/** Prints the node's ID, public key and contact URI. */
export const idCommand: Command = {
  name: "id",
  summary: "Print the node ID, public key and contact URI",
  usage: "id [--qr]",
  description: [
    "Reads the identity in the data directory and prints the node ID (hex and base32), the",
    "public key (base32) and the contact URI other nodes bootstrap from. When a node runs on",
    "the data directory, the URI is the one it reports (its control API status), with the port",
    "it is bound to. Otherwise the address comes from the configuration, and the output says",
    "so: node.advertise, else node.listen with a wildcard host replaced by loopback (then the",
    "URI works only on this machine, and a warning says so).",
    "",
    "The share string (RHZ1…) is the same contact in 54 characters with a checksum: node ID,",
    "address and port. --bootstrap, node.bootstrap and DNS lists accept it like a URI.",
    "--qr draws it as a QR code in the terminal, to scan with a phone (docs/discovery.md).",
  ].join("\n"),
  examples: [
    "rhizome id",
    "rhizome id --json | jq -r .contact",
    "RHIZOME_NODE_ADVERTISE=203.0.113.7:7447 rhizome id",
    "rhizome id --qr",
  ],
  flags: {
    qr: { type: "boolean", description: "Also draw the share string as a QR code" },
  },
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
    const running = await runningNodeContact(context.dataDir().path, identity.nodeId);
    let contact: string;
    let source: "running node" | "config";
    if (running !== undefined) {
      contact = running;
      source = "running node";
    } else {
      const address = advertisedAddress(config);
      if (address.loopbackOnly) {
        log.warning(
          "the contact URI uses loopback because node.listen is a wildcard; set node.advertise so other machines can reach this node",
        );
      }
      contact = formatContactUri(
        makeContact(identity.keyPair.publicKey, address.host, address.port),
      );
      source = "config";
    }
    const nodeId = identity.nodeId;
    const publicKey = toBase32(identity.keyPair.publicKey);
    const { host, port } = parseContactUri(contact);
    const share = formatShareString({ nodeId, host, port });
    const qr = context.flags.qr === true
      ? renderQr(encodeQr(share), { color: context.env.NO_COLOR === undefined })
      : undefined;
    context.output.result(
      [
        `node ID         ${nodeId.toHex()}`,
        `node ID base32  ${nodeId.toBase32()}`,
        `public key      ${publicKey}`,
        `contact         ${contact}`,
        `share string    ${share}`,
        source === "config"
          ? "address from    the configuration (no node answered on this data dir)"
          : "address from    the running node",
        ...(qr === undefined ? [] : ["", qr]),
      ].join("\n"),
      {
        node_id: nodeId.toHex(),
        node_id_base32: nodeId.toBase32(),
        public_key: publicKey,
        contact,
        contact_source: source,
        share_string: share,
        ...(qr === undefined ? {} : { qr }),
        created: identity.created,
      },
    );
    return OK;
  },
};

/**
 * How long `id` waits for a running node's status. A node answers in milliseconds; a data dir
 * whose node crashed (a stale `api.json`) is refused at once, so this bounds only a hung node.
 */
const nodeStatusTimeoutMs = 3_000;

/**
 * The contact URI the node running on the data dir reports (its bound port, not the configured
 * one), when one runs with this identity and answers; else `undefined`.
 */
async function runningNodeContact(
  dataDirPath: string,
  nodeId: NodeId,
): Promise<string | undefined> {
  try {
    const client = await ControlClient.fromDataDir(dataDirPath, { timeoutMs: nodeStatusTimeoutMs });
    const status = await client.call(controlRoutes.status);
    // A node started before `init --force` runs with the old identity: its URI is not this one.
    if (status.node_id !== nodeId.toHex() || typeof status.contact !== "string") return undefined;
    return status.contact;
  } catch {
    return undefined;
  }
}
