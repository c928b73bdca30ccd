/**
 * The commands that talk to a running node through its control API: `status`, `peers`, `put`,
 * `get` and `stop`. They find the node by its data directory (`api.json` and `api.token`).
 *
 * @module
 */

import { toBase64Url, utf8Decode, utf8Encode } from "../../core/bytes.ts";
import { ContentError, InvalidInputError, RhizomeError } from "../../core/errors.ts";
import { recordBytesMax } from "../../core/limits.ts";
import { ControlApiError, ControlClient } from "../../api/control_client.ts";
import { isDataDirLockHeld } from "../../node/data_dir/lock.ts";
import { controlRoutes } from "../../api/routes.ts";
import { parseKeyHex, parseTtlSeconds } from "../../api/wire.ts";
import type { Command, CommandContext } from "../command.ts";
import { OK } from "../output.ts";
import { statusText } from "../status_text.ts";
import { isIdPrefix, resolveId } from "../ids.ts";

/** Exit status of `get` when the network does not hold the key. */
const NOT_FOUND = 1;

async function client(context: CommandContext): Promise<ControlClient> {
  return await ControlClient.fromDataDir(context.dataDir().path);
}

/** `rhizome status`. */
export const statusCommand: Command = {
  name: "status",
  summary: "Show the running node's state",
  usage: "status",
  description: [
    "Asks the node running with this data directory for its state and prints a summary: node",
    "ID, contact URI, type, uptime, peers, store use, traffic, requests, drops and bans. --json",
    "gives every counter: one object, keys in snake_case, counters named (dht.requests by",
    "message type, dht.store_refused by status). Exit 1 when no node runs.",
  ].join("\n"),
  examples: [
    "rhizome status",
    "rhizome status --json | jq .contacts",
    "rhizome status --json | jq .dht.requests.find_value",
  ],
  routes: [controlRoutes.status],
  flags: {},
  positionals: { min: 0, max: 0 },
  async run(context) {
    const status = await (await client(context)).call(controlRoutes.status);
    context.output.result(statusText(status), status);
    return OK;
  },
};

/** `rhizome peers`. */
export const peersCommand: Command = {
  name: "peers",
  summary: "List the running node's routing table",
  usage: "peers",
  description: "Lists the contacts in the running node's routing table, nearest first.",
  examples: ["rhizome peers", "rhizome peers --json | jq '.peers | length'"],
  routes: [controlRoutes.peers],
  flags: {},
  positionals: { min: 0, max: 0 },
  async run(context) {
    const peers = await (await client(context)).call(controlRoutes.peers);
    const lines = peers.map((peer) => `${peer.node_id}  ${peer.address}`);
    context.output.result(lines.length > 0 ? lines.join("\n") : "(no peers)", { peers });
    return OK;
  },
};

/** `rhizome put`. */
export const putCommand: Command = {
  name: "put",
  summary: "Store a value in the network; print its key",
  usage: "put VALUE|- [--ttl S]",
  description: [
    "Stores VALUE (or standard input, with -) in the network as an immutable record through the",
    "running node, and prints its key (40 hex digits). --ttl keeps the copies S seconds, at",
    "most store.personal.ttl_s here (the default) and each holder's store.normal.ttl_s; the",
    "node republishes what it published while it runs. Values up to 1,094 bytes travel in one",
    "datagram, larger ones (up to 65,530) over",
    "the authenticated TCP stream. It succeeds once the value is durable on this node and",
    "dht.write_quorum holders acknowledged it (--json: stored, holders, quorum); otherwise it",
    "exits 7 (STORE_FULL: no room here), 8 (NOT_REPLICATED: kept here, too few holders) or 9",
    "(NOT_STORED: kept nowhere that counts).",
  ].join("\n"),
  examples: ['rhizome put "hello"', "echo hi | rhizome put -", "rhizome put --ttl 3600 x --json"],
  routes: [controlRoutes.put],
  flags: { ttl: { type: "string", valueName: "S", description: "Seconds to keep the value" } },
  positionals: { min: 1, max: 1 },
  async run(context) {
    const ttl = context.flags.ttl;
    const ttlS = typeof ttl === "string" ? parseTtlSeconds(ttl) : undefined;
    const [word] = context.positionals;
    const value = word === "-" ? await readAllStdin(context) : utf8Encode(word);
    const report = await (await client(context)).call(controlRoutes.put, { value, ttlS });
    context.output.result(report.key, report);
    return OK;
  },
};

/** `rhizome get`. */
export const getCommand: Command = {
  name: "get",
  summary: "Find a value by its key and print its bytes; exit 1 if the network does not hold it",
  usage: "get KEY",
  description: [
    "Finds the value stored under KEY (40 hex digits) through the running node and writes its",
    "bytes to stdout exactly as stored: no newline added, binary values too (redirect them to a",
    "file). With --json: {key, found, value (the UTF-8 text, or null), value_base64url}. Exit 1",
    "when the network does not hold the key, with one line on stderr (--json: found false).",
  ].join("\n"),
  examples: [
    "rhizome get 3f2a…",
    "rhizome get $(rhizome put hello)",
    "rhizome get 3f2a… > value.bin",
  ],
  routes: [controlRoutes.get],
  flags: {},
  positionals: { min: 1, max: 1 },
  async run(context) {
    const api = await client(context);
    // A thread's or message's ID is the key of its document: a listing's short ID names it too.
    const keyId = isIdPrefix(context.positionals[0])
      ? await resolveId(api, context.positionals[0], "key")
      : parseKeyHex(context.positionals[0]);
    const key = keyId.toHex();
    const value = await api.call(controlRoutes.get, keyId);
    if (value === undefined) {
      if (!context.output.json) {
        throw new ContentError("NOT_FOUND", `Cannot get ${key}: the network does not hold it`);
      }
      context.output.result("", { key, found: false });
      return NOT_FOUND;
    }
    if (!context.output.json) {
      context.output.bytes(value);
      return OK;
    }
    let text: string | null;
    try {
      text = utf8Decode(value);
    } catch {
      text = null;
    }
    context.output.result("", {
      key,
      found: true,
      value: text,
      value_base64url: toBase64Url(value),
    });
    return OK;
  },
};

/** `rhizome stop`. */
export const stopCommand: Command = {
  name: "stop",
  summary: "Stop the running node and wait until it is gone (exit 0 if none runs)",
  usage: "stop",
  description: [
    "Asks the node running with this data directory to shut down cleanly, then waits (up to 10",
    "seconds) until its control API stops answering. When no node runs there it says so and",
    "exits 0, so a script may stop a node whatever its state (--json: was_running false).",
  ].join("\n"),
  examples: ["rhizome stop", "rhizome stop --data-dir /srv/rhizome"],
  routes: [controlRoutes.stop],
  flags: {},
  positionals: { min: 0, max: 0 },
  async run(context) {
    const dataDirPath = context.dataDir().path;
    let api: ControlClient;
    try {
      api = await client(context);
      await api.call(controlRoutes.stop);
    } catch (error) {
      if (!await notRunning(dataDirPath, error)) throw error;
      context.output.result(`no node is running with data dir ${dataDirPath}`, {
        stopped: true,
        was_running: false,
      });
      return OK;
    }
    const gone = await api.waitUntilGone();
    if (!gone) {
      throw new RhizomeError("UNAVAILABLE", "Cannot confirm the stop: the node still answers");
    }
    context.output.result("stopped", { stopped: true, was_running: true });
    return OK;
  },
};

/**
 * Whether a failure to reach the control API means no node runs on the data dir: the API is
 * unreachable (no `api.json`, or one a crashed node left) and nobody holds the data dir's lock.
 * A node that holds the lock but does not answer is running, just not answering.
 */
async function notRunning(dataDirPath: string, error: unknown): Promise<boolean> {
  const unreachable = error instanceof RhizomeError && error.code === "UNAVAILABLE" &&
    !(error instanceof ControlApiError);
  return unreachable && !await isDataDirLockHeld(dataDirPath);
}

async function readAllStdin(context: CommandContext): Promise<Uint8Array> {
  if (context.stdinIsTerminal()) {
    context.output.note(
      "rhizome: reading the value from standard input; end it with Ctrl-D (Ctrl-C cancels)",
    );
  }
  const bytes = await context.readStdin(recordBytesMax + 1);
  if (bytes.length > recordBytesMax) {
    throw new InvalidInputError(
      `Cannot put the value: standard input holds more than ${recordBytesMax} bytes`,
    );
  }
  return bytes;
}
