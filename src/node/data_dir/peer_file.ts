/**
 * The routing table on disk, so a restarted node rejoins through the peers it knew instead of only
 * its bootstrap list. `peers.json` in the data dir: `{"version": 1, "savedAtMs": N, "contacts":
 * [{"id": "<40 hex>", "address": "host:port"}, ...]}`, nearest to this node first. Written
 * atomically; a damaged file is reported and ignored (the node still has its bootstrap list),
 * never fatal.
 *
 * @module
 */

import { NodeId } from "../../core/node_id.ts";
import { describeOsError } from "../../core/os_error.ts";
import type { Contact } from "../../dht/types.ts";
import { PeerAddress } from "../../net/address.ts";
import { writeFileAtomic } from "../../core/fs.ts";

/** The format version of `peers.json`. */
export const PEER_FILE_VERSION = 1;

/**
 * Largest `peers.json` read. A seed's table (3,200 contacts) is about 260 KB; 4 MiB leaves room
 * for bigger tables and refuses a wrong file before parsing it. At the limit: ignored, reported.
 */
export const peerFileBytesMax = 4 * 1024 * 1024;

/** What {@link readPeerFile} found. */
export interface PeerFileContents {
  /** The valid contacts, in file order. */
  contacts: Contact[];
  /** When the file was written. */
  savedAtMs: number;
  /** Entries skipped as malformed. */
  skipped: number;
}

/**
 * Saves contacts.
 *
 * @param path The file.
 * @param contacts The contacts, nearest first.
 * @param savedAtMs The time.
 */
export async function writePeerFile(
  path: string,
  contacts: readonly Contact[],
  savedAtMs: number,
): Promise<void> {
  const body = {
    version: PEER_FILE_VERSION,
    savedAtMs,
    contacts: contacts.map((contact) => ({
      id: contact.nodeId.toHex(),
      address: contact.address.key,
    })),
  };
  await writeFileAtomic(path, `${JSON.stringify(body)}\n`, { mode: 0o600 });
}

/**
 * Reads saved contacts.
 *
 * @param path The file.
 * @returns The contacts, `undefined` when there is no file, or a one-line reason it was ignored.
 */
export async function readPeerFile(
  path: string,
): Promise<PeerFileContents | undefined | { problem: string }> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (info.size > peerFileBytesMax) {
      return { problem: `${path} is ${info.size} bytes, over the ${peerFileBytesMax} limit` };
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    return { problem: `cannot read ${path}: ${describeOsError(error)}` };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { problem: `${path} is not valid JSON` };
  }
  const table = body as { version?: unknown; savedAtMs?: unknown; contacts?: unknown };
  if (typeof body !== "object" || body === null || table.version !== PEER_FILE_VERSION) {
    return { problem: `${path} is not a version ${PEER_FILE_VERSION} peer file` };
  }
  if (!Array.isArray(table.contacts) || !Number.isSafeInteger(table.savedAtMs)) {
    return { problem: `${path} lacks its contacts or its time` };
  }
  const contacts: Contact[] = [];
  let skipped = 0;
  for (const entry of table.contacts) {
    const contact = contactOf(entry);
    if (contact) contacts.push(contact);
    else skipped++;
  }
  return { contacts, savedAtMs: table.savedAtMs as number, skipped };
}

function contactOf(entry: unknown): Contact | undefined {
  if (typeof entry !== "object" || entry === null) return undefined;
  const { id, address } = entry as { id?: unknown; address?: unknown };
  const nodeId = NodeId.fromHexText(id);
  const peer = typeof address === "string" ? PeerAddress.parse(address) : undefined;
  if (nodeId === undefined || peer === undefined) return undefined;
  return { nodeId, address: peer };
}
