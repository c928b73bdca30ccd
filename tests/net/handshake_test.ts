// Goal: the handshake packets have exactly the layout docs/protocol.md gives, every signed byte
// is covered by its signature, the RESPONSE's signature binds the INIT it answers, both sides
// derive the same two traffic keys, unusable X25519 keys are refused without an exception, and
// the key schedule matches an independent implementation of the written spec.
// Method: fixed identities and ephemeral secrets; byte-by-byte tampering; WebCrypto (X25519,
// HKDF, SHA-256) as the second implementation of the key schedule.

import assert from "node:assert/strict";
import { concatBytes, fromHex, toHex, utf8Encode } from "../../src/core/bytes.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { datagramBytesMax } from "../../src/core/limits.ts";
import { encodeMessage, MessageType } from "../../src/dht/messages.ts";
import { NodeId } from "../../src/core/node_id.ts";
import {
  answerHandshake,
  decodeInit,
  decodeResponse,
  deriveTrafficKeys,
  finishHandshake,
  INIT_BYTES,
  PacketType,
  packetTypeOf,
  readUint64,
  RESPONSE_BYTES,
  SECURE_PROTOCOL_ID,
  startHandshake,
  transcriptHash,
  verifyInit,
  verifyResponse,
  writeUint64,
  x25519KeyPairFromSecretKey,
  x25519SharedSecret,
} from "../../src/net/handshake.ts";

const alice = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
const bob = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2));
const aliceEphemeralSecret = new Uint8Array(32).fill(0xa1);
const bobEphemeralSecret = new Uint8Array(32).fill(0xb2);
const initiatorSessionId = fromHex("0102030405060708");
const responderSessionId = fromHex("1112131415161718");
const timestampMs = 1_700_000_000_123;

/** A copy on a plain ArrayBuffer, as WebCrypto's types ask. */
function plain(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

function handshake() {
  const state = startHandshake(alice, aliceEphemeralSecret, { initiatorSessionId, timestampMs });
  const init = decodeInit(state.initBytes);
  assert.ok(init);
  const answer = answerHandshake(
    bob,
    bobEphemeralSecret,
    state.initBytes,
    init,
    responderSessionId,
  );
  assert.ok(answer);
  return { state, init, answer };
}

Deno.test("encodeInit() lays out header, session ID, timestamp, keys and signature", () => {
  const { state } = handshake();
  const bytes = state.initBytes;
  assert.equal(bytes.length, INIT_BYTES);
  assert.equal(INIT_BYTES, 150);
  assert.deepEqual(bytes.subarray(0, 6), new Uint8Array([0x52, 0x48, 0x5a, 0x53, 1, 1]));
  assert.deepEqual(bytes.subarray(6, 14), initiatorSessionId);
  assert.equal(readUint64(bytes, 14), timestampMs);
  assert.deepEqual(
    bytes.subarray(22, 54),
    x25519KeyPairFromSecretKey(aliceEphemeralSecret).publicKey,
  );
  assert.deepEqual(bytes.subarray(54, 86), alice.publicKey);
  const init = decodeInit(bytes);
  assert.ok(init);
  assert.equal(init.timestampMs, timestampMs);
  assert.ok(verifyInit(bytes, init));
});

Deno.test("encodeResponse() echoes the INIT's session ID and adds its own, keys, signature", () => {
  const { state, answer } = handshake();
  const bytes = answer.responseBytes;
  assert.equal(bytes.length, RESPONSE_BYTES);
  assert.ok(RESPONSE_BYTES <= INIT_BYTES, "a RESPONSE never amplifies a spoofed INIT");
  assert.ok(INIT_BYTES <= datagramBytesMax);
  assert.deepEqual(bytes.subarray(0, 6), new Uint8Array([0x52, 0x48, 0x5a, 0x53, 1, 2]));
  assert.deepEqual(bytes.subarray(6, 14), initiatorSessionId);
  assert.deepEqual(bytes.subarray(14, 22), responderSessionId);
  assert.deepEqual(
    bytes.subarray(22, 54),
    x25519KeyPairFromSecretKey(bobEphemeralSecret).publicKey,
  );
  assert.deepEqual(bytes.subarray(54, 86), bob.publicKey);
  const response = decodeResponse(bytes);
  assert.ok(response);
  assert.ok(verifyResponse(state.initBytes, bytes, response));
});

Deno.test("both sides derive the same keys, one per direction", () => {
  const { state, answer } = handshake();
  const response = decodeResponse(answer.responseBytes);
  assert.ok(response);
  const keys = finishHandshake(state, answer.responseBytes, response);
  assert.ok(typeof keys !== "string");
  assert.deepEqual(keys, answer.keys);
  assert.notDeepEqual(keys.initiatorToResponder, keys.responderToInitiator);
});

Deno.test("every byte of an INIT is covered: a flipped bit fails decoding or the signature", () => {
  const { state } = handshake();
  for (let i = 0; i < INIT_BYTES; i++) {
    const tampered = state.initBytes.slice();
    tampered[i] ^= 0x01;
    const init = decodeInit(tampered);
    assert.ok(init === undefined || !verifyInit(tampered, init), `byte ${i} is not covered`);
  }
});

Deno.test("every byte of a RESPONSE is covered: finishHandshake() refuses a flipped bit", () => {
  const { state, answer } = handshake();
  for (let i = 0; i < RESPONSE_BYTES; i++) {
    const tampered = answer.responseBytes.slice();
    tampered[i] ^= 0x01;
    const response = decodeResponse(tampered);
    if (response === undefined) continue;
    assert.equal(finishHandshake(state, tampered, response), "badSignature", `byte ${i}`);
  }
});

Deno.test("a RESPONSE verifies only against the INIT it answers", () => {
  const { answer } = handshake();
  const otherInit = startHandshake(alice, aliceEphemeralSecret, {
    initiatorSessionId,
    timestampMs: timestampMs + 1,
  });
  const response = decodeResponse(answer.responseBytes);
  assert.ok(response);
  assert.equal(finishHandshake(otherInit, answer.responseBytes, response), "badSignature");
});

Deno.test("a RESPONSE re-signed by another key carries that key's node ID", () => {
  // What a man in the middle can do: answer with his own key. The packet is valid; the node ID
  // check in the channel is what refuses it.
  const mallory = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(9));
  const { state, init } = handshake();
  const answer = answerHandshake(
    mallory,
    bobEphemeralSecret,
    state.initBytes,
    init,
    responderSessionId,
  );
  assert.ok(answer);
  const response = decodeResponse(answer.responseBytes);
  assert.ok(response);
  assert.ok(typeof finishHandshake(state, answer.responseBytes, response) !== "string");
  assert.ok(
    !NodeId.fromPublicKey(response.staticPublicKey).equals(NodeId.fromPublicKey(bob.publicKey)),
  );
});

Deno.test("fresh ephemeral keys give fresh traffic keys for the same two identities", () => {
  const first = handshake().answer.keys;
  const state = startHandshake(alice, new Uint8Array(32).fill(0xa3), {
    initiatorSessionId,
    timestampMs,
  });
  const init = decodeInit(state.initBytes);
  assert.ok(init);
  const second = answerHandshake(
    bob,
    bobEphemeralSecret,
    state.initBytes,
    init,
    responderSessionId,
  );
  assert.ok(second);
  assert.notDeepEqual(first.initiatorToResponder, second.keys.initiatorToResponder);
});

Deno.test("x25519SharedSecret() refuses low-order and malformed keys without throwing", () => {
  const { privateKeyObject } = x25519KeyPairFromSecretKey(aliceEphemeralSecret);
  const lowOrder = [
    new Uint8Array(32),
    fromHex("0100000000000000000000000000000000000000000000000000000000000000"),
    fromHex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    fromHex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    fromHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
  ];
  for (const key of lowOrder) assert.equal(x25519SharedSecret(privateKeyObject, key), undefined);
  assert.equal(x25519SharedSecret(privateKeyObject, new Uint8Array(31)), undefined);
  const { state, init } = handshake();
  const lowOrderInit = { ...init, ephemeralPublicKey: new Uint8Array(32) };
  assert.equal(
    answerHandshake(bob, bobEphemeralSecret, state.initBytes, lowOrderInit, responderSessionId),
    undefined,
  );
});

Deno.test("packetTypeOf() tells our packets from short, foreign and future ones", () => {
  assert.equal(packetTypeOf(new Uint8Array(5)), "malformed");
  const dhtMessage = encodeMessage({
    type: MessageType.ping,
    tx: 1,
    sender: NodeId.fromPublicKey(alice.publicKey),
    flags: 0,
  });
  assert.equal(packetTypeOf(dhtMessage), "protocol", "a bare DHT message is not a secure packet");
  const future = concatBytes(SECURE_PROTOCOL_ID, new Uint8Array([2, PacketType.data]));
  assert.equal(packetTypeOf(future), "version");
  const data = concatBytes(SECURE_PROTOCOL_ID, new Uint8Array([1, PacketType.data]));
  assert.equal(packetTypeOf(data), PacketType.data);
});

Deno.test("decodeInit() and decodeResponse() refuse wrong lengths, types and timestamps", () => {
  const { state, answer } = handshake();
  assert.equal(decodeInit(state.initBytes.subarray(0, INIT_BYTES - 1)), undefined);
  assert.equal(decodeInit(concatBytes(state.initBytes, new Uint8Array(1))), undefined);
  assert.equal(decodeInit(answer.responseBytes), undefined, "a RESPONSE is not an INIT");
  assert.equal(decodeResponse(state.initBytes), undefined, "an INIT is not a RESPONSE");
  assert.equal(decodeResponse(answer.responseBytes.subarray(1)), undefined);
  const farFuture = state.initBytes.slice();
  farFuture[14] = 0x00;
  farFuture[15] = 0x20; // 2^53: no number holds it exactly
  assert.equal(decodeInit(farFuture), undefined);
});

Deno.test("writeUint64() and readUint64() agree up to 2^53 - 1 and refuse beyond", () => {
  const bytes = new Uint8Array(8);
  for (const value of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, timestampMs, Number.MAX_SAFE_INTEGER]) {
    writeUint64(bytes, 0, value);
    assert.equal(readUint64(bytes, 0), value);
  }
  writeUint64(bytes, 0, 2 ** 32 + 5);
  assert.deepEqual(bytes, new Uint8Array([0, 0, 0, 1, 0, 0, 0, 5]), "big-endian");
  assert.equal(readUint64(new Uint8Array([0, 0x20, 0, 0, 0, 0, 0, 0]), 0), undefined);
});

Deno.test("the key schedule matches a WebCrypto implementation of docs/protocol.md", async () => {
  const { state, answer } = handshake();
  const subtle = crypto.subtle;
  const pkcs8Prefix = fromHex("302e020100300506032b656e04220420");
  const alicePrivate = await subtle.importKey(
    "pkcs8",
    plain(concatBytes(pkcs8Prefix, aliceEphemeralSecret)),
    { name: "X25519" },
    false,
    ["deriveBits"],
  );
  const bobEphemeralPublic = await subtle.importKey(
    "raw",
    plain(answer.responseBytes.subarray(22, 54)),
    { name: "X25519" },
    true,
    [],
  );
  const shared = new Uint8Array(
    await subtle.deriveBits({ name: "X25519", public: bobEphemeralPublic }, alicePrivate, 256),
  );
  const salt = new Uint8Array(
    await subtle.digest(
      "SHA-256",
      plain(concatBytes(
        utf8Encode("rhizome/secure/v1/transcript"),
        state.initBytes,
        answer.responseBytes,
      )),
    ),
  );
  assert.deepEqual(transcriptHash(state.initBytes, answer.responseBytes), salt);
  const ikm = await subtle.importKey("raw", plain(shared), "HKDF", false, ["deriveBits"]);
  const hkdf = async (label: string) =>
    new Uint8Array(
      await subtle.deriveBits(
        { name: "HKDF", hash: "SHA-256", salt, info: plain(utf8Encode(label)) },
        ikm,
        256,
      ),
    );
  assert.deepEqual(answer.keys, {
    initiatorToResponder: await hkdf("rhizome/secure/v1/initiator-to-responder"),
    responderToInitiator: await hkdf("rhizome/secure/v1/responder-to-initiator"),
  });
  assert.deepEqual(deriveTrafficKeys(shared, state.initBytes, answer.responseBytes), answer.keys);
});

Deno.test("signatures use the documented messages: label, then the signed bytes", async () => {
  const { state, answer } = handshake();
  const verifyWith = async (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => {
    const key = await crypto.subtle.importKey("raw", plain(publicKey), { name: "Ed25519" }, false, [
      "verify",
    ]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, plain(signature), plain(message));
  };
  const initSigned = concatBytes(
    utf8Encode("rhizome/secure/v1/init"),
    state.initBytes.subarray(0, 86),
  );
  assert.ok(await verifyWith(alice.publicKey, initSigned, state.initBytes.subarray(86)));
  const responseSigned = concatBytes(
    utf8Encode("rhizome/secure/v1/response"),
    state.initBytes,
    answer.responseBytes.subarray(0, 86),
  );
  assert.ok(await verifyWith(bob.publicKey, responseSigned, answer.responseBytes.subarray(86)));
});

Deno.test("the handshake reproduces the test vector of docs/protocol.md byte for byte", () => {
  const { state, answer } = handshake();
  assert.equal(
    toHex(state.initBytes),
    "52485a53010101020304050607080000018bcfe5687bc306fb0ef2bf8b7f93bad98155fa37daec74db0c4cbe" +
      "da6c6f1dba9d365582528a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c3c9b" +
      "d16ab4300df3e60298a9c6e62b2c3bee1a7b0c5f0444f6af031b0a544d6b8d4755df6760eac1f48193c73fdc" +
      "cff326e77deea1af8f449b2da51a393fa007",
  );
  assert.equal(
    toHex(answer.responseBytes),
    "52485a53010201020304050607081112131415161718db48257e1237976a74ad8cfedca00213408fe89ac625" +
      "1f1b930245f242b5c31a8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394edfc" +
      "f371666a7e609df90c8ec62557a1c3f531fc2066819f8b848405f992ac595826a3d90c156e0ad88804141a7b" +
      "9bcca278eb01f3d4ff834c19793200854e0d",
  );
  assert.equal(
    toHex(transcriptHash(state.initBytes, answer.responseBytes)),
    "afda0be65e4df9e31289db2c71a70d94c61eb1e41f776531358e40f5f9708f4f",
  );
  assert.equal(
    toHex(answer.keys.initiatorToResponder),
    "5186a0a32b8d2c9157e23ac2e964a3189440ba892d2a5d792477983ca53e3cad",
  );
  assert.equal(
    toHex(answer.keys.responderToInitiator),
    "47aa823c64dab1a8ff4d921a31be79e72a95a5b461bf6a3d28b308a9f3197ce7",
  );
});
