/**
 * `rhizome sync`: the running node reconciles its store with a peer's (range-based set
 * reconciliation, `docs/sync.md`) and stores what it lacks, every record verified as it arrives.
 * Progress (rounds, bytes, records) is polled from `GET /v1/sync` while `POST /v1/sync` runs.
 *
 * @module
 */

import { fromHex } from "../../core/bytes.ts";
import { UsageError } from "../../core/errors.ts";
import { formatBytes } from "../../core/format.ts";
import { ControlClient } from "../../api/control_client.ts";
import { controlRoutes } from "../../api/routes.ts";
import type { SyncProgressReport } from "../../api/sync_wire.ts";
import type { SyncCommand } from "../../node/node_sync.ts";
import { SYNC_CATEGORIES, type SyncFilter } from "../../services/sync/mod.ts";
import type { Command, CommandContext } from "../command.ts";
import { OK } from "../output.ts";

/** How often the progress is asked for while a sync runs. */
const progressPollMs = 500;
/** How often a progress line is printed when stderr is not a terminal. */
const progressLineEveryMs = 5_000;

/** `rhizome sync`. */
export const syncCommand: Command = {
  name: "sync",
  summary: "Sync the running node's records from a peer (set reconciliation)",
  usage: "sync [--from CONTACT] [--partial SPEC]... [--id-bytes N]",
  description: [
    "Reconciles the running node's records with a peer's by range fingerprints and fetches what",
    "this node lacks; the store verifies every record as it arrives. Without --from, the node's",
    "peers are tried in turn (at most 3). Progress (rounds, bytes, records) goes to stderr.",
    "--partial narrows the sync; several combine (all must match):",
    "  keys:LOW..HIGH     keys between two hex prefixes (LOW padded with 00, HIGH with ff)",
    "  since:AGE          records of the last AGE (30m, 24h, 7d)",
    "  time:FROM..TO      record times in [FROM, TO), seconds since the epoch",
    `  category:NAME,...  of ${SYNC_CATEGORIES.join(", ")}`,
    "--id-bytes N (8..32, default 32) shortens the IDs in ID lists: fewer bytes, and a 2^-8N",
    "chance per pair that two records in one range look alike.",
    "Exit 0 when reconciled to the end; 6 (UNAVAILABLE) when no peer answered or one misbehaved.",
  ].join("\n"),
  examples: [
    "rhizome sync",
    "rhizome sync --from rhizome://…@seed.example.org:7447 --json",
    "rhizome sync --partial since:24h --partial category:thread,message",
  ],
  routes: [controlRoutes.sync, controlRoutes.syncState],
  flags: {
    from: { type: "string", valueName: "CONTACT", description: "The peer's contact URI" },
    partial: {
      type: "string",
      valueName: "SPEC",
      multiple: true,
      description: "keys:LOW..HIGH, since:AGE, time:FROM..TO or category:NAME,...",
    },
    "id-bytes": { type: "string", valueName: "N", description: "ID bytes in ID lists, 8..32" },
  },
  positionals: { min: 0, max: 0 },
  async run(context) {
    const command = syncCommandOf(context, Date.now());
    const client = await ControlClient.fromDataDir(context.dataDir().path);
    const stopProgress = showProgress(context, client);
    let report;
    try {
      report = await client.call(controlRoutes.sync, command);
    } finally {
      stopProgress();
    }
    const text = `synced from ${report.peer} (${report.peer_node_id.slice(0, 16)}…): ` +
      `${report.records_stored} records stored, ${report.records_unchanged} unchanged, ` +
      `${report.records_refused} refused; ${report.rounds} rounds, ${report.requests} requests, ` +
      `${formatBytes(report.bytes_sent)} sent, ${formatBytes(report.bytes_received)} received` +
      (report.complete ? "" : " (stopped early: a limit was reached)");
    context.output.result(text, report);
    return OK;
  },
};

/**
 * The request a command line asks for.
 *
 * @param context The parsed command line.
 * @param nowMs The time `since:` counts back from.
 * @returns The request.
 * @throws {UsageError} Naming the bad flag.
 */
export function syncCommandOf(context: Pick<CommandContext, "flags">, nowMs: number): SyncCommand {
  const command: { -readonly [K in keyof SyncCommand]: SyncCommand[K] } = {};
  const from = context.flags.from;
  if (typeof from === "string") command.from = from;
  const idBytes = context.flags["id-bytes"];
  if (typeof idBytes === "string") {
    const value = Number(idBytes);
    if (!/^\d+$/.test(idBytes) || value < 8 || value > 32) {
      throw new UsageError(`flag --id-bytes takes 8 to 32, got "${idBytes}"`);
    }
    command.idBytes = value;
  }
  const specs = context.flags.partial;
  const list = Array.isArray(specs) ? specs : typeof specs === "string" ? [specs] : [];
  if (list.length > 0) {
    const filter: { -readonly [K in keyof SyncFilter]: SyncFilter[K] } = {};
    for (const spec of list) applySpec(filter, spec, nowMs);
    command.filter = filter;
  }
  return command;
}

function applySpec(
  filter: { -readonly [K in keyof SyncFilter]: SyncFilter[K] },
  spec: string,
  nowMs: number,
) {
  const colon = spec.indexOf(":");
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const value = colon < 0 ? "" : spec.slice(colon + 1);
  const bad = (what: string) => new UsageError(`flag --partial ${JSON.stringify(spec)}: ${what}`);
  if (kind === "keys") {
    const match = /^([0-9a-fA-F]{0,40})\.\.([0-9a-fA-F]{0,40})$/.exec(value);
    if (!match) throw bad("expected keys:LOW..HIGH with hex prefixes of up to 40 digits");
    const pad = (prefix: string, digit: string) => {
      const even = prefix.length % 2 === 0 ? prefix : prefix + digit;
      return fromHex(even.toLowerCase().padEnd(40, digit));
    };
    const low = pad(match[1], "0");
    const high = pad(match[2], "f");
    filter.keys = { low, high };
    return;
  }
  if (kind === "since") {
    const match = /^(\d{1,9})([smhd])$/.exec(value);
    if (!match) throw bad("expected since:AGE such as 30m, 24h or 7d");
    const unitS = { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "s" | "m" | "h" | "d"];
    const toS = Math.floor(nowMs / 1000) + 3600; // documents may be dated a little ahead
    filter.time = { fromS: Math.max(0, Math.floor(nowMs / 1000) - Number(match[1]) * unitS), toS };
    return;
  }
  if (kind === "time") {
    const match = /^(\d{1,15})\.\.(\d{1,15})$/.exec(value);
    if (!match || Number(match[1]) >= Number(match[2])) {
      throw bad("expected time:FROM..TO in seconds since the epoch, FROM before TO");
    }
    filter.time = { fromS: Number(match[1]), toS: Number(match[2]) };
    return;
  }
  if (kind === "category") {
    let mask = 0;
    for (const name of value.split(",")) {
      const index = SYNC_CATEGORIES.indexOf(name as never);
      if (index < 0) throw bad(`unknown category "${name}" (${SYNC_CATEGORIES.join(", ")})`);
      mask |= 1 << index;
    }
    filter.categories = mask;
    return;
  }
  throw bad("expected keys:, since:, time: or category:");
}

/** Polls the node's sync progress and draws it on stderr; returns the function that stops it. */
function showProgress(context: CommandContext, client: ControlClient): () => void {
  if (context.global.json) return () => {};
  const terminal = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  let lastLineMs = Date.now();
  let width = 0;
  let stopped = false;
  const write = (text: string) => {
    let bytes = encoder.encode(text);
    while (bytes.length > 0) bytes = bytes.subarray(Deno.stderr.writeSync(bytes));
  };
  const timer = setInterval(() => {
    client.call(controlRoutes.syncState).then((state) => {
      if (stopped || !state.running || !state.progress) return;
      const line = describe(state.peer ?? "?", state.progress);
      if (terminal) {
        write(`\r${line.padEnd(width)}`);
        width = Math.max(width, line.length);
      } else if (Date.now() - lastLineMs >= progressLineEveryMs) {
        lastLineMs = Date.now();
        write(`${line}\n`);
      }
    }, () => {});
  }, progressPollMs);
  return () => {
    stopped = true;
    clearInterval(timer);
    if (terminal && width > 0) write(`\r${" ".repeat(width)}\r`);
  };
}

function describe(peer: string, progress: SyncProgressReport): string {
  return `sync from ${peer}: round ${progress.rounds}, ${progress.records_stored} records stored ` +
    `(${progress.records_received} received), ${formatBytes(progress.bytes_received)} in, ` +
    `${formatBytes(progress.bytes_sent)} out`;
}
