// Goal: the hashing and signature wrappers of src/core/crypto.ts compute the standard values and
// treat hostile input safely: verification says false, never throws. Method: published test
// vectors (FIPS 180-2 for SHA-256, RFC 8032 §7.1 test 1 for Ed25519), then tampered and malformed
// keys, messages and signatures.

import assert from "node:assert/strict";
import { fromHex, toHex, utf8Encode } from "../../src/core/bytes.ts";
import {
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  aeadOpen,
  aeadSealInto,
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  ed25519KeyPairFromSecretKey,
  ed25519Sign,
  ed25519Verify,
  generateEd25519KeyPair,
  sha256,
} from "../../src/core/crypto.ts";
import { InvalidInputError } from "../../src/core/errors.ts";

const rfc8032 = {
  secretKey: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  signature:
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};

const vectorKeyPair = () => ed25519KeyPairFromSecretKey(fromHex(rfc8032.secretKey));
const message = new TextEncoder().encode("rhizome test message");

Deno.test('sha256() of "abc" equals the FIPS 180-2 vector', () => {
  assert.equal(
    toHex(sha256("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("sha256() of nothing equals the hash of the empty string", () => {
  const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  assert.equal(toHex(sha256()), empty);
  assert.equal(toHex(sha256("")), empty);
  assert.equal(toHex(sha256(new Uint8Array())), empty);
});

Deno.test("sha256() hashes the concatenation of its parts, strings as UTF-8", () => {
  const whole = toHex(sha256("abc"));
  assert.equal(toHex(sha256("a", "bc")), whole);
  assert.equal(toHex(sha256(new Uint8Array([0x61]), "b", new Uint8Array([0x63]))), whole);
  assert.equal(toHex(sha256("é")), toHex(sha256(new Uint8Array([0xc3, 0xa9]))));
  assert.equal(sha256("abc").length, 32);
});

Deno.test("ed25519KeyPairFromSecretKey() derives the RFC 8032 test 1 public key", () => {
  const keyPair = vectorKeyPair();
  assert.equal(toHex(keyPair.secretKey), rfc8032.secretKey);
  assert.equal(toHex(keyPair.publicKey), rfc8032.publicKey);
});

Deno.test("ed25519Sign() gives the RFC 8032 test 1 signature of the empty message", () => {
  const signature = ed25519Sign(vectorKeyPair(), new Uint8Array());
  assert.equal(signature.length, ED25519_SIGNATURE_BYTES);
  assert.equal(toHex(signature), rfc8032.signature);
});

Deno.test("ed25519Verify() accepts the RFC 8032 test 1 signature", () => {
  assert.equal(
    ed25519Verify(fromHex(rfc8032.publicKey), new Uint8Array(), fromHex(rfc8032.signature)),
    true,
  );
});

Deno.test("ed25519Sign() is deterministic and its signatures verify", () => {
  const keyPair = vectorKeyPair();
  const first = ed25519Sign(keyPair, message);
  const second = ed25519Sign(keyPair, message);
  assert.deepEqual(first, second);
  assert.equal(ed25519Verify(keyPair.publicKey, message, first), true);
});

Deno.test("ed25519Verify() returns false for a tampered message", () => {
  const keyPair = vectorKeyPair();
  const signature = ed25519Sign(keyPair, message);
  for (let i = 0; i < message.length; i += 5) {
    const tampered = new Uint8Array(message);
    tampered[i] ^= 1;
    assert.equal(ed25519Verify(keyPair.publicKey, tampered, signature), false, `byte ${i}`);
  }
  assert.equal(ed25519Verify(keyPair.publicKey, message.subarray(1), signature), false);
  assert.equal(ed25519Verify(keyPair.publicKey, new Uint8Array(), signature), false);
});

Deno.test("ed25519Verify() returns false for a tampered signature", () => {
  const keyPair = vectorKeyPair();
  const signature = ed25519Sign(keyPair, message);
  for (const index of [0, 31, 32, 63]) {
    const tampered = new Uint8Array(signature);
    tampered[index] ^= 0x10;
    assert.equal(ed25519Verify(keyPair.publicKey, message, tampered), false, `byte ${index}`);
  }
  assert.equal(ed25519Verify(keyPair.publicKey, message, new Uint8Array(64)), false);
});

Deno.test("ed25519Verify() returns false for another signer's public key", () => {
  const signature = ed25519Sign(vectorKeyPair(), message);
  const other = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
  assert.equal(ed25519Verify(other.publicKey, message, signature), false);
});

Deno.test("ed25519Verify() returns false for a key or signature of the wrong length", () => {
  const keyPair = vectorKeyPair();
  const signature = ed25519Sign(keyPair, message);
  assert.equal(ed25519Verify(keyPair.publicKey.subarray(0, 31), message, signature), false);
  assert.equal(
    ed25519Verify(new Uint8Array([...keyPair.publicKey, 0]), message, signature),
    false,
  );
  assert.equal(ed25519Verify(new Uint8Array(), message, signature), false);
  assert.equal(ed25519Verify(keyPair.publicKey, message, signature.subarray(0, 63)), false);
  assert.equal(ed25519Verify(keyPair.publicKey, message, new Uint8Array([...signature, 0])), false);
  assert.equal(ed25519Verify(keyPair.publicKey, message, new Uint8Array()), false);
});

Deno.test("ed25519Verify() returns false, without throwing, for garbage public keys", () => {
  const signature = ed25519Sign(vectorKeyPair(), message);
  const garbage = [
    new Uint8Array(32), // y = 0: a point of order 4
    new Uint8Array(32).fill(0xff), // y not below the field prime
    new Uint8Array(32).fill(0x7f), // arbitrary bytes
    fromHex("0100000000000000000000000000000000000000000000000000000000000000"), // y = 1: the identity point
  ];
  for (const key of garbage) {
    assert.doesNotThrow(() => ed25519Verify(key, message, signature));
    assert.equal(ed25519Verify(key, message, signature), false, toHex(key));
  }
});

Deno.test("generateEd25519KeyPair() gives a 32-byte seed and a 32-byte public key", () => {
  const keyPair = generateEd25519KeyPair();
  assert.equal(keyPair.secretKey.length, ED25519_SECRET_KEY_BYTES);
  assert.equal(keyPair.publicKey.length, ED25519_PUBLIC_KEY_BYTES);
  assert.equal(ED25519_SECRET_KEY_BYTES, 32);
  assert.equal(ED25519_PUBLIC_KEY_BYTES, 32);
});

Deno.test("generateEd25519KeyPair() gives a seed that rebuilds the same public key", () => {
  const keyPair = generateEd25519KeyPair();
  const rebuilt = ed25519KeyPairFromSecretKey(keyPair.secretKey);
  assert.deepEqual(rebuilt.publicKey, keyPair.publicKey);
  const signature = ed25519Sign(keyPair, message);
  assert.deepEqual(ed25519Sign(rebuilt, message), signature);
  assert.equal(ed25519Verify(keyPair.publicKey, message, signature), true);
});

Deno.test("generateEd25519KeyPair() gives a different key pair each time", () => {
  const a = generateEd25519KeyPair();
  const b = generateEd25519KeyPair();
  assert.notDeepEqual(a.secretKey, b.secretKey);
  assert.notDeepEqual(a.publicKey, b.publicKey);
});

Deno.test("ed25519KeyPairFromSecretKey() copies its input", () => {
  const seed = fromHex(rfc8032.secretKey);
  const keyPair = ed25519KeyPairFromSecretKey(seed);
  seed.fill(0);
  assert.equal(toHex(keyPair.secretKey), rfc8032.secretKey);
});

Deno.test("ed25519KeyPairFromSecretKey() rejects a seed of the wrong length", () => {
  for (const length of [0, 31, 33, 64]) {
    let caught: unknown;
    try {
      ed25519KeyPairFromSecretKey(new Uint8Array(length));
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof InvalidInputError, `length ${length}`);
    assert.equal(caught.code, "INVALID_INPUT");
    assert.equal(
      caught.message,
      `Cannot use Ed25519 secret key: expected 32 bytes, got ${length}`,
    );
  }
});

Deno.test("aeadSealInto() matches RFC 8439 §2.8.2 and aeadOpen() reverses it", () => {
  const key = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = fromHex("070000004041424344454647");
  const aad = fromHex("50515253c0c1c2c3c4c5c6c7");
  const plaintext = utf8Encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the " +
      "future, sunscreen would be it.",
  );
  const sealed = new Uint8Array(3 + plaintext.length + AEAD_TAG_BYTES);
  aeadSealInto(key, nonce, aad, plaintext, sealed, 3);
  assert.equal(toHex(sealed.subarray(3, 7)), "d31a8d34");
  assert.equal(toHex(sealed.subarray(3 + plaintext.length)), "1ae10b594f09e26a7e902ecbd0600691");
  assert.deepEqual(aeadOpen(key, nonce, aad, sealed.subarray(3)), plaintext);
});

Deno.test("aeadOpen() returns undefined for tampered, short or foreign bytes", () => {
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(AEAD_NONCE_BYTES);
  const sealed = new Uint8Array(5 + AEAD_TAG_BYTES);
  aeadSealInto(key, nonce, new Uint8Array(0), utf8Encode("hello"), sealed, 0);
  const tampered = sealed.slice();
  tampered[0] ^= 1;
  assert.equal(aeadOpen(key, nonce, new Uint8Array(0), tampered), undefined);
  assert.equal(aeadOpen(key, nonce, new Uint8Array([1]), sealed), undefined);
  assert.equal(aeadOpen(key, nonce, new Uint8Array(0), sealed.subarray(0, 15)), undefined);
  assert.equal(aeadOpen(new Uint8Array(32), nonce, new Uint8Array(0), sealed), undefined);
});
