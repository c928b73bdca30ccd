/**
 * A node's identity: its Ed25519 key pair and the node ID derived from the public key, and the
 * text format of the key file that keeps them.
 *
 * The key file is one JSON object:
 * `{"format":"rhizome-identity","version":1,"algorithm":"ed25519","secret_key":"<base64url>",
 * "public_key":"<base64url>","node_id":"<hex>","created":"<RFC 3339>"}`. The public key and the
 * node ID are redundant on purpose: they must match what the secret key derives, so a damaged
 * file is detected instead of silently becoming another identity.
 *
 * @module
 */

import { bytesEqual, fromBase64Url, toBase64Url } from "./bytes.ts";
import { type Ed25519KeyPair, ed25519KeyPairFromSecretKey } from "./crypto.ts";
import { IdentityError } from "./errors.ts";
import { NodeId } from "./node_id.ts";

/** The `format` field of every key file. */
export const IDENTITY_FORMAT = "rhizome-identity";
/** The key-file version this build writes and reads. */
export const IDENTITY_VERSION = 1;

/** A node's identity. */
export interface Identity {
  /** The Ed25519 key pair. */
  readonly keyPair: Ed25519KeyPair;
  /** The node ID derived from the public key. */
  readonly nodeId: NodeId;
  /** When the identity was made (RFC 3339). */
  readonly created: string;
}

/**
 * The identity of a key pair.
 *
 * @param keyPair The key pair.
 * @param created When it was made (RFC 3339).
 * @returns The identity, with its node ID derived.
 */
export function identityOf(keyPair: Ed25519KeyPair, created: string): Identity {
  return { keyPair, nodeId: NodeId.fromPublicKey(keyPair.publicKey), created };
}

/**
 * The key-file text of an identity.
 *
 * @param identity The identity.
 * @returns One JSON object and a newline.
 */
export function encodeIdentityFile(identity: Identity): string {
  return JSON.stringify({
    format: IDENTITY_FORMAT,
    version: IDENTITY_VERSION,
    algorithm: "ed25519",
    secret_key: toBase64Url(identity.keyPair.secretKey),
    public_key: toBase64Url(identity.keyPair.publicKey),
    node_id: identity.nodeId.toHex(),
    created: identity.created,
  }) + "\n";
}

/**
 * Reads key-file text, checking that every field is present and that the public key and node ID
 * are the ones the secret key derives.
 *
 * @param path The file's path, for messages.
 * @param text The file's text.
 * @returns The identity.
 * @throws {IdentityError} `IDENTITY_CORRUPT`, saying what is wrong.
 */
export function decodeIdentityFile(path: string, text: string): Identity {
  const corrupt = (reason: string): never => {
    throw new IdentityError("IDENTITY_CORRUPT", `Cannot use identity key ${path}: ${reason}`);
  };
  let fields: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      corrupt("it is not a JSON object");
    }
    fields = parsed as Record<string, unknown>;
  } catch (error) {
    if (error instanceof IdentityError) throw error;
    corrupt("it is not valid JSON (the file is damaged)");
  }
  if (fields.format !== IDENTITY_FORMAT) corrupt(`it is not a ${IDENTITY_FORMAT} file`);
  if (fields.version !== IDENTITY_VERSION) {
    corrupt(
      `version ${JSON.stringify(fields.version)} is not supported (expected ${IDENTITY_VERSION})`,
    );
  }
  if (fields.algorithm !== "ed25519") {
    corrupt(`algorithm ${JSON.stringify(fields.algorithm)} is not supported (expected "ed25519")`);
  }
  for (const name of ["secret_key", "public_key", "node_id", "created"]) {
    if (typeof fields[name] !== "string") corrupt(`the field "${name}" is missing`);
  }
  let keyPair: Ed25519KeyPair | undefined;
  let publicKey: Uint8Array = new Uint8Array();
  try {
    keyPair = ed25519KeyPairFromSecretKey(fromBase64Url(fields.secret_key as string));
    publicKey = fromBase64Url(fields.public_key as string);
  } catch {
    corrupt("a key is not 32 bytes of base64url (the file is damaged)");
  }
  if (!keyPair || !bytesEqual(keyPair.publicKey, publicKey)) {
    corrupt("the public key does not match the secret key (the file is damaged)");
  }
  const identity = identityOf(keyPair!, fields.created as string);
  if (identity.nodeId.toHex() !== fields.node_id) {
    corrupt("the node ID does not match the key (the file is damaged)");
  }
  return identity;
}
