// Goal: the identity key file (src/core/identity.ts) round-trips, and any damage to it is caught
// as IdentityError IDENTITY_CORRUPT, with a message that names the file and the problem, instead
// of silently loading another identity. Method: encode a fixed identity, then decode the text
// with one thing wrong at a time.

import assert from "node:assert/strict";
import { fromBase64Url, toBase64Url } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { IdentityError } from "../../src/core/errors.ts";
import {
  decodeIdentityFile,
  encodeIdentityFile,
  IDENTITY_FORMAT,
  IDENTITY_VERSION,
  identityOf,
} from "../../src/core/identity.ts";
import { NodeId } from "../../src/core/node_id.ts";

const path = "/var/lib/rhizome/identity.json";
const created = "2026-01-01T00:00:00.000Z";
const keyPair = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(3));
const identity = identityOf(keyPair, created);
const text = encodeIdentityFile(identity);

/** The key file's fields, to change one and encode them again. */
function fields(): Record<string, unknown> {
  return JSON.parse(text);
}

function withFields(change: (fields: Record<string, unknown>) => void): string {
  const changed = fields();
  change(changed);
  return JSON.stringify(changed);
}

/** Expects decoding to fail as IDENTITY_CORRUPT, naming the path and matching `pattern`. */
function assertCorrupt(fileText: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    decodeIdentityFile(path, fileText);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof IdentityError, `expected IdentityError, got ${caught}`);
  assert.equal(caught.code, "IDENTITY_CORRUPT");
  assert.ok(
    caught.message.startsWith(`Cannot use identity key ${path}: `),
    `the message names the path: ${caught.message}`,
  );
  assert.match(caught.message, pattern);
}

Deno.test("identityOf() derives the node ID from the public key", () => {
  assert.ok(identity.nodeId.equals(NodeId.fromPublicKey(keyPair.publicKey)));
  assert.equal(identity.created, created);
  assert.equal(identity.keyPair, keyPair);
});

Deno.test("encodeIdentityFile() writes one JSON object and a newline", () => {
  assert.ok(text.endsWith("}\n"));
  assert.equal(text.trimEnd().includes("\n"), false);
  assert.deepEqual(fields(), {
    format: IDENTITY_FORMAT,
    version: IDENTITY_VERSION,
    algorithm: "ed25519",
    secret_key: toBase64Url(keyPair.secretKey),
    public_key: toBase64Url(keyPair.publicKey),
    node_id: identity.nodeId.toHex(),
    created,
  });
  assert.equal(IDENTITY_FORMAT, "rhizome-identity");
  assert.equal(IDENTITY_VERSION, 1);
});

Deno.test("decodeIdentityFile() gives back the encoded identity", () => {
  const decoded = decodeIdentityFile(path, text);
  assert.deepEqual(decoded.keyPair.secretKey, keyPair.secretKey);
  assert.deepEqual(decoded.keyPair.publicKey, keyPair.publicKey);
  assert.ok(decoded.nodeId.equals(identity.nodeId));
  assert.equal(decoded.created, created);
  assert.equal(encodeIdentityFile(decoded), text);
});

Deno.test("decodeIdentityFile() accepts the text without its final newline, and extra fields", () => {
  assert.ok(decodeIdentityFile(path, text.trimEnd()).nodeId.equals(identity.nodeId));
  const extra = withFields((f) => f.comment = "made by hand");
  assert.ok(decodeIdentityFile(path, extra).nodeId.equals(identity.nodeId));
});

Deno.test("decodeIdentityFile() rejects text that is not JSON", () => {
  for (const bad of ["", "not json", text.slice(0, 40), "{", "\u0000"]) {
    assertCorrupt(bad, /it is not valid JSON \(the file is damaged\)$/);
  }
});

Deno.test("decodeIdentityFile() rejects JSON that is not an object", () => {
  for (const bad of ["[]", `[${text}]`, "null", "42", '"rhizome-identity"', "true"]) {
    assertCorrupt(bad, /it is not a JSON object$/);
  }
});

Deno.test("decodeIdentityFile() rejects a wrong format field", () => {
  assertCorrupt(withFields((f) => f.format = "other"), /it is not a rhizome-identity file$/);
  assertCorrupt(withFields((f) => delete f.format), /it is not a rhizome-identity file$/);
  assertCorrupt("{}", /it is not a rhizome-identity file$/);
});

Deno.test("decodeIdentityFile() rejects version 2", () => {
  assertCorrupt(withFields((f) => f.version = 2), /version 2 is not supported \(expected 1\)$/);
  assertCorrupt(withFields((f) => f.version = "1"), /version "1" is not supported/);
  assertCorrupt(withFields((f) => delete f.version), /version undefined is not supported/);
});

Deno.test('decodeIdentityFile() rejects the algorithm "rsa"', () => {
  assertCorrupt(
    withFields((f) => f.algorithm = "rsa"),
    /algorithm "rsa" is not supported \(expected "ed25519"\)$/,
  );
});

Deno.test("decodeIdentityFile() rejects each missing field, naming it", () => {
  for (const name of ["secret_key", "public_key", "node_id", "created"]) {
    assertCorrupt(withFields((f) => delete f[name]), new RegExp(`the field "${name}" is missing$`));
    assertCorrupt(withFields((f) => f[name] = 7), new RegExp(`the field "${name}" is missing$`));
  }
});

Deno.test("decodeIdentityFile() rejects a secret key with one character changed", () => {
  const secret = fields().secret_key as string;
  const changed = (secret[0] === "A" ? "B" : "A") + secret.slice(1);
  assert.equal(fromBase64Url(changed).length, 32, "the changed key is still 32 bytes");
  assertCorrupt(
    withFields((f) => f.secret_key = changed),
    /the public key does not match the secret key \(the file is damaged\)$/,
  );
});

Deno.test("decodeIdentityFile() rejects a public key with one character changed", () => {
  const publicKey = fields().public_key as string;
  const changed = publicKey[5] === "A" ? "B" : "A";
  assertCorrupt(
    withFields((f) => f.public_key = publicKey.slice(0, 5) + changed + publicKey.slice(6)),
    /the public key does not match the secret key/,
  );
});

Deno.test("decodeIdentityFile() rejects a changed node ID", () => {
  const nodeId = fields().node_id as string;
  const changed = (nodeId[0] === "0" ? "1" : "0") + nodeId.slice(1);
  assertCorrupt(
    withFields((f) => f.node_id = changed),
    /the node ID does not match the key \(the file is damaged\)$/,
  );
  assertCorrupt(
    withFields((f) => f.node_id = nodeId.toUpperCase()),
    /the node ID does not match the key/,
  );
  assertCorrupt(withFields((f) => f.node_id = ""), /the node ID does not match the key/);
});

Deno.test("decodeIdentityFile() rejects keys that are not 32 bytes of base64url", () => {
  const secret = fields().secret_key as string;
  const publicKey = fields().public_key as string;
  const bad: [string, string][] = [
    ["secret_key", "!!!not base64url!!!"],
    ["secret_key", secret + "="],
    ["secret_key", secret.replaceAll("-", "+").replaceAll("_", "/") + "+"],
    ["secret_key", secret.slice(0, 40)],
    ["secret_key", toBase64Url(new Uint8Array(64))],
    ["secret_key", ""],
    ["public_key", "*" + publicKey.slice(1)],
    ["public_key", publicKey + "A"],
  ];
  for (const [name, value] of bad) {
    const pattern = name === "secret_key"
      ? /a key is not 32 bytes of base64url \(the file is damaged\)$/
      : /a key is not 32 bytes of base64url|the public key does not match the secret key/;
    assertCorrupt(withFields((f) => f[name] = value), pattern);
  }
});

Deno.test("decodeIdentityFile() puts the given path in every message", () => {
  for (const otherPath of ["identity.json", "C:\\rhizome\\identity.json", "/tmp/a b/key"]) {
    let message = "";
    try {
      decodeIdentityFile(otherPath, "nope");
    } catch (error) {
      message = (error as Error).message;
    }
    assert.equal(
      message,
      `Cannot use identity key ${otherPath}: it is not valid JSON (the file is damaged)`,
    );
  }
});

Deno.test("decodeIdentityFile() round-trips identities of several keys", () => {
  for (let seed = 0; seed < 16; seed++) {
    const other = identityOf(ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(seed)), created);
    const decoded = decodeIdentityFile(path, encodeIdentityFile(other));
    assert.ok(decoded.nodeId.equals(other.nodeId));
    assert.deepEqual(decoded.keyPair.publicKey, other.keyPair.publicKey);
  }
});
