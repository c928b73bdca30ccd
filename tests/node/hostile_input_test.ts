/**
 * A real node under hostile input: random bytes, truncated and oversize datagrams, replays of
 * datagrams captured from a real session, a forged handshake signature, and DHT messages under a
 * forged node ID sent through a valid session. Everything is dropped and counted by reason, and
 * the node keeps serving its peer and its control API throughout. The source of the random bytes
 * is graylisted by the receive guard once it has sent 100 of them; the replays come from another
 * source, so they reach the replay window.
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { generateEd25519KeyPair } from "../../src/core/crypto.ts";
import { utf8Decode, utf8Encode } from "../../src/core/bytes.ts";
import { NodeId } from "../../src/core/node_id.ts";
import { Prng, randomBytes, randomInt } from "../../src/core/rng.ts";
import { decodeMessage, encodeMessage, MessageType } from "../../src/dht/messages.ts";
import { at } from "../_address.ts";
import { SecureChannel } from "../../src/net/secure_channel.ts";
import { UdpTransport } from "../../src/net/udp_transport.ts";
import { cryptoRandomBytes } from "../../src/node/crypto_rng.ts";
import { killNode, nodeDir, type NodeProcess, startNode, waitFor } from "../_node_process.ts";
import { withTempDir } from "../_rhizome.ts";
import { controlRoutes } from "../../src/api/routes.ts";

const seed = 0x5eed;

Deno.test("hostile datagrams are dropped and counted; the node keeps serving", async () => {
  await withTempDir(async (root) => {
    const nodes: NodeProcess[] = [];
    const raw = createSocket("udp4");
    await new Promise<void>((resolve) => raw.bind(0, "127.0.0.1", resolve));
    const replayer = createSocket("udp4");
    await new Promise<void>((resolve) => replayer.bind(0, "127.0.0.1", resolve));
    let attacker: UdpTransport | undefined;
    try {
      nodes.push(await startNode(nodeDir(root, 0)));
      nodes.push(await startNode(nodeDir(root, 1), ["--bootstrap", nodes[0].contact]));
      const [target, peer] = nodes;
      const api = await target.client();
      const targetAddress = at((await api.call(controlRoutes.status)).listen as string);
      const { host, port } = targetAddress;
      const sendRaw = (bytes: Uint8Array) =>
        new Promise<void>((resolve) => raw.send(bytes, port, host, () => resolve()));
      const replay = (bytes: Uint8Array) =>
        new Promise<void>((resolve) => replayer.send(bytes, port, host, () => resolve()));

      // A peer with a real identity and session, whose every datagram is captured.
      const identity = generateEd25519KeyPair();
      const ownId = NodeId.fromPublicKey(identity.publicKey);
      const captured: Uint8Array[] = [];
      const replies: number[] = [];
      // Filled once the channel exists: the socket's receiver needs it, the channel the socket.
      const link: { channel?: SecureChannel } = {};
      attacker = await UdpTransport.bind({ host: "127.0.0.1", port: 0 }, (from, bytes) => {
        const received = link.channel?.receive(from, bytes);
        if (received) {
          const message = decodeMessage(received.plaintext);
          if (typeof message !== "string") replies.push(message.type);
        }
      });
      const wire = attacker;
      const channel = new SecureChannel({
        identity,
        clock: { nowMs: () => Date.now() },
        transport: {
          send: (to, bytes) => {
            captured.push(bytes.slice());
            wire.send(to, bytes);
          },
        },
        randomBytes: cryptoRandomBytes,
      });
      link.channel = channel;
      const ping = (sender: NodeId, tx: number) =>
        encodeMessage({ type: MessageType.ping, tx, sender, flags: 0 });
      channel.send(targetAddress, NodeId.fromHex(target.nodeId), ping(ownId, 1));
      await waitFor("a PONG through a real session", () => {
        channel.tick();
        return Promise.resolve(replies.includes(MessageType.pong));
      }, 10_000);
      const [init, ...sessionPackets] = captured;
      assert.ok(sessionPackets.length >= 1, "a DATA packet was captured");

      // The hostile datagrams.
      const prng = new Prng(seed);
      for (let i = 0; i < 200; i++) {
        await sendRaw(randomBytes(prng, new Uint8Array(1 + randomInt(prng, 1232))));
        // Paced: a burst of 200 would overflow the socket's receive buffer on a busy machine,
        // and datagrams the kernel drops are never seen, let alone counted.
        if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      for (const packet of sessionPackets) await replay(packet);
      for (const packet of sessionPackets) await replay(packet.subarray(0, packet.length - 5));
      await replay(new Uint8Array(1500)); // oversize
      const forgedInit = init.slice();
      forgedInit[forgedInit.length - 1] ^= 1;
      await replay(forgedInit);
      // Through the valid session, messages claiming to come from the peer node.
      for (let tx = 10; tx < 20; tx++) {
        channel.send(targetAddress, undefined, ping(NodeId.fromHex(peer.nodeId), tx));
      }

      // Counted by reason, and the node still serves: its API, and a value via its peer.
      await waitFor("every hostile datagram to be counted", async () => {
        const status = await api.call(controlRoutes.status);
        const dropped = (status.channel as { dropped: Record<string, number> }).dropped;
        const udp = status.udp as { oversize_receives_dropped: number };
        const dht = status.dht as { dropped: Record<string, number> };
        const all = Object.values(dropped).reduce((sum, count) => sum + count, 0);
        return all >= 200 + 2 * sessionPackets.length && udp.oversize_receives_dropped === 1 &&
          dht.dropped.impostor === 10 && dropped.replay >= sessionPackets.length &&
          dropped.bad_signature + dropped.handshake_replay >= 1;
      }, 10_000);
      const status = await api.call(controlRoutes.status);
      const dropped = (status.channel as { dropped: Record<string, number> }).dropped;
      // Random bytes: junk until their source is graylisted, refused unread after.
      assert.ok(
        dropped.protocol + dropped.malformed + dropped.version + dropped.refused >= 190,
        "random bytes",
      );
      const guard = status.guard as { penalties: { graylistings: number } };
      assert.ok(guard.penalties.graylistings >= 1, "the source of random bytes is graylisted");
      // A truncated copy of a packet already seen is stopped by the replay window before its tag.
      assert.ok(
        dropped.unauthenticated + dropped.malformed + dropped.replay >= 2 * sessionPackets.length,
        "replayed and truncated packets",
      );

      const value = utf8Encode("still serving");
      const { key } = await (await peer.client()).call(controlRoutes.put, { value: value });
      const got = await api.call(controlRoutes.get, NodeId.fromHex(key));
      assert.ok(got && utf8Decode(got) === "still serving");
      assert.equal(
        replies.filter((type) => type === MessageType.pong).length,
        1,
        "no PONG to an impostor",
      );
    } catch (error) {
      for (const [index, node] of nodes.entries()) {
        console.error(`--- node ${index} stderr ---\n${node.stderr().slice(-3000)}`);
      }
      throw error;
    } finally {
      await attacker?.close();
      await new Promise<void>((resolve) => raw.close(() => resolve()));
      await new Promise<void>((resolve) => replayer.close(() => resolve()));
      await Promise.all(nodes.map((node) => killNode(node)));
    }
  });
});
