// Goal: track the cost of the hot paths of src/core: node ID derivation and the XOR metric (run
// for every routing-table operation), hashing and Ed25519 (run for every signed record), contact
// URI parsing and configuration resolution (run at start and on every bootstrap). Method:
// `deno bench` over fixed inputs built once at load time, in three groups (node ID, crypto,
// parsing), each compared against a cheap, allocation-free or single-pass baseline.

import { resolveConfig } from "../src/core/config.ts";
import { formatContactUri, makeContact, parseContactUri } from "../src/core/contact_uri.ts";
import {
  ed25519KeyPairFromSecretKey,
  ed25519Sign,
  ed25519Verify,
  sha256,
} from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";

const keyPair = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
const otherPublicKey = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2)).publicKey;
const a = NodeId.fromPublicKey(keyPair.publicKey);
const b = NodeId.fromPublicKey(otherPublicKey);
const target = NodeId.fromHex("0123456789abcdef0123456789abcdef01234567");
// Shares 19 of 20 bytes with `a`, so comparisons run to the end of the ID.
const nearA = NodeId.fromBytes(
  Uint8Array.from(a.toBytes(), (byte, i) => (i === 19 ? byte ^ 1 : byte)),
);

const kibibyte = new Uint8Array(1024).map((_, i) => i & 0xff);
const message = new Uint8Array(100).map((_, i) => (i * 7) & 0xff);
const signature = ed25519Sign(keyPair, message);
const uriV4 = formatContactUri(makeContact(keyPair.publicKey, "203.0.113.7", 7447));
const uriV6 = formatContactUri(makeContact(keyPair.publicKey, "2001:db8::1", 7447));

// Keep results observable so the work is not optimised away.
let sink: unknown;

Deno.bench({
  name: "NodeId.fromPublicKey",
  group: "node id",
  fn() {
    sink = NodeId.fromPublicKey(keyPair.publicKey);
  },
});

Deno.bench({
  name: "NodeId.xor",
  group: "node id",
  fn() {
    sink = a.xor(b);
  },
});

Deno.bench({
  name: "NodeId.compareDistance (differ at the last byte)",
  group: "node id",
  baseline: true,
  fn() {
    sink = target.compareDistance(a, nearA);
  },
});

Deno.bench({
  name: "NodeId.commonPrefixLength",
  group: "node id",
  fn() {
    sink = a.commonPrefixLength(nearA);
  },
});

Deno.bench({
  name: "NodeId.toHex",
  group: "node id",
  fn() {
    sink = a.toHex();
  },
});

Deno.bench({
  name: "sha256 of 1 KiB",
  group: "crypto",
  baseline: true,
  fn() {
    sink = sha256(kibibyte);
  },
});

Deno.bench({
  name: "ed25519Sign of 100 bytes",
  group: "crypto",
  fn() {
    sink = ed25519Sign(keyPair, message);
  },
});

Deno.bench({
  name: "ed25519Verify of 100 bytes",
  group: "crypto",
  fn() {
    if (!ed25519Verify(keyPair.publicKey, message, signature)) throw new Error("did not verify");
  },
});

Deno.bench({
  name: "parseContactUri (IPv4)",
  group: "parse",
  baseline: true,
  fn() {
    sink = parseContactUri(uriV4);
  },
});

Deno.bench({
  name: "parseContactUri (IPv6)",
  group: "parse",
  fn() {
    sink = parseContactUri(uriV6);
  },
});

Deno.bench({
  name: "resolveConfig() of the defaults",
  group: "parse",
  fn() {
    sink = resolveConfig();
  },
});

Deno.bench({
  name: "resolveConfig() with a file and variables",
  group: "parse",
  fn() {
    sink = resolveConfig({
      file: { path: "f.toml", text: '[dht]\nk = 24\n[log]\nformat = "json"\n' },
      env: { RHIZOME_LOG_LEVEL: "debug", RHIZOME_BOOTSTRAP: uriV4 },
    });
  },
});

// Referenced once so the linter sees the variable used.
export { sink };
