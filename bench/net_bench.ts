// Goal: price the secure channel. Per packet: seal then open of one 1200-byte plaintext with
// each AEAD on the table (node:crypto ChaCha20-Poly1305, node:crypto AES-256-GCM, WebCrypto
// AES-GCM, which is async), and the channel's own Session path (1194-byte plaintext, the
// largest that fits a 1232-byte datagram, header and replay window included). Per handshake:
// each side's public-key work and a whole handshake between two SecureChannels.
// Method: `deno bench` over keys and plaintexts built once at load time, a fresh nonce per
// iteration as in real use. The handshake benches reuse two identities, so Ed25519 verification
// hits core/crypto.ts's cache of public KeyObjects (true for rekeys, not for a first contact,
// which costs about 10 µs more per verify). @noble ciphers are not measured: not a dependency.

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { VirtualClock } from "../src/core/clock.ts";
import { ed25519KeyPairFromSecretKey } from "../src/core/crypto.ts";
import { NodeId } from "../src/core/node_id.ts";
import {
  answerHandshake,
  decodeInit,
  decodeResponse,
  finishHandshake,
  startHandshake,
  verifyInit,
} from "../src/net/handshake.ts";
import { PeerAddress } from "../src/net/address.ts";
import { SecureChannel } from "../src/net/secure_channel.ts";
import { Session, sessionPlaintextBytesMax } from "../src/net/session.ts";

const packetBytes = 1200;
const plaintext = new Uint8Array(randomBytes(packetBytes));
const aad = new Uint8Array(22);
const key = new Uint8Array(randomBytes(32));
const nonce = new Uint8Array(12);
let counter = 0;

function nextNonce(): Uint8Array {
  counter++;
  new DataView(nonce.buffer).setUint32(8, counter);
  return nonce;
}

// Keep results observable so the work is not optimised away.
let sink: unknown;

/** Seal then open with node:crypto, the cipher object made per packet as the Session does. */
function nodeSealOpen(gcm: boolean): Uint8Array {
  const iv = nextNonce();
  const options = { authTagLength: 16 } as const;
  const sealer = gcm
    ? createCipheriv("aes-256-gcm", key, iv, options)
    : createCipheriv("chacha20-poly1305", key, iv, options);
  sealer.setAAD(aad, { plaintextLength: plaintext.length });
  const ciphertext = sealer.update(plaintext);
  sealer.final();
  const tag = sealer.getAuthTag();
  const opener = gcm
    ? createDecipheriv("aes-256-gcm", key, iv, options)
    : createDecipheriv("chacha20-poly1305", key, iv, options);
  opener.setAAD(aad, { plaintextLength: ciphertext.length });
  opener.setAuthTag(tag);
  const opened = opener.update(ciphertext);
  opener.final();
  return opened;
}

Deno.bench({
  name: "node:crypto chacha20-poly1305 seal+open, 1200 B",
  group: "aead per packet",
  baseline: true,
  fn() {
    sink = nodeSealOpen(false);
  },
});

Deno.bench({
  name: "node:crypto aes-256-gcm seal+open, 1200 B",
  group: "aead per packet",
  fn() {
    sink = nodeSealOpen(true);
  },
});

const webKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);

Deno.bench({
  name: "WebCrypto AES-GCM seal+open, 1200 B (async)",
  group: "aead per packet",
  async fn() {
    const params = { name: "AES-GCM", iv: new Uint8Array(nextNonce()), additionalData: aad };
    const sealed = await crypto.subtle.encrypt(params, webKey, plaintext);
    sink = await crypto.subtle.decrypt(params, webKey, sealed);
  },
});

const sessionKeys = {
  initiatorToResponder: new Uint8Array(randomBytes(32)),
  responderToInitiator: new Uint8Array(randomBytes(32)),
};
const sealer = new Session({
  role: "initiator",
  localSessionId: new Uint8Array(8).fill(1),
  remoteSessionId: new Uint8Array(8).fill(2),
  keys: sessionKeys,
  peerPublicKey: new Uint8Array(32).fill(9),
  createdMs: 0,
});
const opener = new Session({
  role: "responder",
  localSessionId: new Uint8Array(8).fill(2),
  remoteSessionId: new Uint8Array(8).fill(1),
  keys: sessionKeys,
  peerPublicKey: new Uint8Array(32).fill(8),
  createdMs: 0,
});
const largestPlaintext = new Uint8Array(randomBytes(sessionPlaintextBytesMax));

Deno.bench({
  name: "Session seal+open (chacha20-poly1305), 1194 B in a 1232 B datagram",
  group: "aead per packet",
  fn() {
    sink = opener.open(sealer.seal(largestPlaintext));
  },
});

const alice = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1));
const bob = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(2));
const sessionId = () => new Uint8Array(randomBytes(8));
const secret = () => new Uint8Array(randomBytes(32));
const timestampMs = 1_700_000_000_000;

// One finished handshake to time each side against.
const sampleState = startHandshake(alice, secret(), {
  initiatorSessionId: sessionId(),
  timestampMs,
});
const sampleInit = decodeInit(sampleState.initBytes)!;
const sampleAnswer = answerHandshake(
  bob,
  secret(),
  sampleState.initBytes,
  sampleInit,
  sessionId(),
)!;
const sampleResponse = decodeResponse(sampleAnswer.responseBytes)!;

Deno.bench({
  name: "initiator: X25519 key + sign INIT",
  group: "handshake",
  fn() {
    sink = startHandshake(alice, secret(), { initiatorSessionId: sessionId(), timestampMs });
  },
});

Deno.bench({
  name: "responder: verify INIT + X25519 key + DH + sign RESPONSE + HKDF",
  group: "handshake",
  fn() {
    const init = decodeInit(sampleState.initBytes)!;
    if (!verifyInit(sampleState.initBytes, init)) throw new Error("bad INIT");
    sink = answerHandshake(bob, secret(), sampleState.initBytes, init, sessionId());
  },
});

Deno.bench({
  name: "initiator: verify RESPONSE + DH + HKDF",
  group: "handshake",
  fn() {
    sink = finishHandshake(sampleState, sampleAnswer.responseBytes, sampleResponse);
  },
});

Deno.bench({
  name: "whole handshake, both sides (packet functions)",
  group: "handshake",
  baseline: true,
  fn() {
    const state = startHandshake(alice, secret(), { initiatorSessionId: sessionId(), timestampMs });
    const init = decodeInit(state.initBytes)!;
    if (!verifyInit(state.initBytes, init)) throw new Error("bad INIT");
    const answer = answerHandshake(bob, secret(), state.initBytes, init, sessionId())!;
    sink = finishHandshake(state, answer.responseBytes, decodeResponse(answer.responseBytes)!);
  },
});

// Two channels on one clock; the wire is a plain array the bench drains by hand.
const clock = new VirtualClock(timestampMs);
const wire: { to: PeerAddress; bytes: Uint8Array }[] = [];
const transport = { send: (to: PeerAddress, bytes: Uint8Array) => wire.push({ to, bytes }) };
const atAlice = PeerAddress.of("192.0.2.1", 7447)!;
const atBob = PeerAddress.of("192.0.2.2", 7447)!;
const randomSource = (byteLength: number) => new Uint8Array(randomBytes(byteLength));
const bobId = NodeId.fromPublicKey(bob.publicKey);
const hello = new Uint8Array(100);

Deno.bench({
  name: "whole handshake + first packet, two SecureChannels",
  group: "handshake",
  fn() {
    // A fresh pair each time: otherwise the second send would reuse the session.
    const a = new SecureChannel({ identity: alice, clock, transport, randomBytes: randomSource });
    const b = new SecureChannel({ identity: bob, clock, transport, randomBytes: randomSource });
    a.send(atBob, bobId, hello);
    b.receive(atAlice, wire.shift()!.bytes);
    a.receive(atBob, wire.shift()!.bytes);
    sink = b.receive(atAlice, wire.shift()!.bytes);
    if (sink === undefined || wire.length !== 0) throw new Error("the handshake failed");
  },
});
