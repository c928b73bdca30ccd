/**
 * The JSON of `POST /v1/sync` and `GET /v1/sync`, both ways: the request `rhizome sync` sends
 * (`{ from?, partial?: { key_low?, key_high?, from_s?, to_s?, categories? }, id_bytes? }`) and the
 * snake_case reports. Checked the same on both sides, so a bad request is one clear line.
 *
 * @module
 */

import { fromHex, toHex } from "../core/bytes.ts";
import { contactUriProblem } from "../core/contact_uri.ts";
import { InvalidInputError } from "../core/errors.ts";
import { contactUriLengthMax } from "../core/limits.ts";
import type { SyncCommand, SyncOutcome, SyncState } from "../node/node_sync.ts";
import { SYNC_CATEGORIES, type SyncFilter, type SyncProgress } from "../services/sync/mod.ts";
import type { JsonValue } from "./wire.ts";

/** The JSON of a sync's counts. */
export interface SyncProgressReport {
  /** Rounds (waves of requests). */
  rounds: number;
  /** Requests sent. */
  requests: number;
  /** Bytes sent. */
  bytes_sent: number;
  /** Bytes received. */
  bytes_received: number;
  /** Records received. */
  records_received: number;
  /** Their bytes. */
  record_bytes: number;
  /** Records the store took. */
  records_stored: number;
  /** Records already held. */
  records_unchanged: number;
  /** Records refused (did not verify, stale, no room, outside the filter). */
  records_refused: number;
  /** Records this node holds that the peer lacks. */
  peer_lacks: number;
  /** Records this node held for the session. */
  items_local: number;
}

/** The JSON of a finished sync. */
export interface SyncOutcomeReport extends SyncProgressReport {
  /** The peer, `host:port`. */
  peer: string;
  /** Its node ID. */
  peer_node_id: string;
  /** Reconciled to the end. */
  complete: boolean;
  /** Milliseconds taken. */
  duration_ms: number;
}

/** The JSON of `GET /v1/sync`. */
export interface SyncStateReport {
  /** Whether a sync runs. */
  running: boolean;
  /** Its peer. */
  peer?: string;
  /** Its counts so far. */
  progress?: SyncProgressReport;
}

/**
 * A sync's counts as JSON.
 *
 * @param progress The counts.
 * @returns The JSON.
 */
export function syncProgressReport(progress: SyncProgress): SyncProgressReport {
  return {
    rounds: progress.rounds,
    requests: progress.requests,
    bytes_sent: progress.bytesSent,
    bytes_received: progress.bytesReceived,
    records_received: progress.recordsReceived,
    record_bytes: progress.recordBytesReceived,
    records_stored: progress.recordsStored,
    records_unchanged: progress.recordsUnchanged,
    records_refused: progress.recordsRefused,
    peer_lacks: progress.peerLacks,
    items_local: progress.itemsLocal,
  };
}

/**
 * A finished sync as JSON.
 *
 * @param outcome The outcome.
 * @returns The JSON.
 */
export function syncOutcomeReport(outcome: SyncOutcome): SyncOutcomeReport {
  return {
    peer: outcome.peer,
    peer_node_id: outcome.peerNodeId,
    complete: outcome.complete,
    duration_ms: outcome.durationMs,
    ...syncProgressReport(outcome),
  };
}

/**
 * The running sync as JSON.
 *
 * @param state The state.
 * @returns The JSON.
 */
export function syncStateReport(state: SyncState): SyncStateReport {
  return {
    running: state.running,
    ...(state.peer === undefined ? {} : { peer: state.peer }),
    ...(state.progress === undefined ? {} : { progress: syncProgressReport(state.progress) }),
  };
}

/**
 * Reads the request body of `POST /v1/sync`.
 *
 * @param value The parsed JSON.
 * @returns The command.
 * @throws {InvalidInputError} Naming the first bad field.
 */
export function parseSyncCommand(value: unknown): SyncCommand {
  const fields = objectOf(value, ["from", "partial", "id_bytes"], "the body");
  const command: { -readonly [K in keyof SyncCommand]: SyncCommand[K] } = {};
  if (fields.from !== undefined) {
    const from = fields.from;
    if (typeof from !== "string" || from.length > contactUriLengthMax) {
      throw bad(`field "from" must be a contact URI of at most ${contactUriLengthMax} characters`);
    }
    const problem = contactUriProblem(from);
    if (problem) throw bad(`field "from" is not a contact URI: ${problem}`);
    command.from = from;
  }
  if (fields.id_bytes !== undefined) {
    const idBytes = fields.id_bytes;
    if (typeof idBytes !== "number" || !Number.isInteger(idBytes) || idBytes < 8 || idBytes > 32) {
      throw bad('field "id_bytes" must be a whole number from 8 to 32');
    }
    command.idBytes = idBytes;
  }
  if (fields.partial !== undefined) command.filter = parseFilter(fields.partial);
  return command;
}

/**
 * The body of `POST /v1/sync` for a command.
 *
 * @param command The command.
 * @returns The JSON.
 */
export function formatSyncCommand(command: SyncCommand): JsonValue {
  const out: Record<string, JsonValue> = {};
  if (command.from !== undefined) out.from = command.from;
  if (command.idBytes !== undefined) out.id_bytes = command.idBytes;
  const filter = command.filter;
  if (filter) {
    const partial: Record<string, JsonValue> = {};
    if (filter.keys) {
      partial.key_low = toHex(filter.keys.low);
      partial.key_high = toHex(filter.keys.high);
    }
    if (filter.time) {
      partial.from_s = filter.time.fromS;
      partial.to_s = filter.time.toS;
    }
    if (filter.categories !== undefined) {
      partial.categories = SYNC_CATEGORIES.filter((_, i) => (filter.categories! & (1 << i)) !== 0);
    }
    out.partial = partial;
  }
  parseSyncCommand(out);
  return out;
}

function parseFilter(value: unknown): SyncFilter {
  const fields = objectOf(
    value,
    ["key_low", "key_high", "from_s", "to_s", "categories"],
    '"partial"',
  );
  const filter: { -readonly [K in keyof SyncFilter]: SyncFilter[K] } = {};
  if (fields.key_low !== undefined || fields.key_high !== undefined) {
    const low = hexKey(fields.key_low ?? "00".repeat(20), "key_low");
    const high = hexKey(fields.key_high ?? "ff".repeat(20), "key_high");
    if (toHex(low) > toHex(high)) throw bad('"partial.key_low" is above "partial.key_high"');
    filter.keys = { low, high };
  }
  if (fields.from_s !== undefined || fields.to_s !== undefined) {
    const fromS = seconds(fields.from_s ?? 0, "from_s");
    const toS = seconds(fields.to_s ?? 2 ** 40, "to_s");
    if (fromS >= toS) throw bad('"partial.from_s" must be before "partial.to_s"');
    filter.time = { fromS, toS };
  }
  if (fields.categories !== undefined) {
    const names = fields.categories;
    if (!Array.isArray(names) || names.length === 0) {
      throw bad('"partial.categories" must be a non-empty list of category names');
    }
    let mask = 0;
    for (const name of names) {
      const index = SYNC_CATEGORIES.indexOf(name as never);
      if (index < 0) {
        throw bad(
          `"partial.categories" names ${JSON.stringify(String(name).slice(0, 40))}, not one of ` +
            SYNC_CATEGORIES.join(", "),
        );
      }
      mask |= 1 << index;
    }
    filter.categories = mask;
  }
  return filter;
}

function hexKey(value: unknown, field: string): Uint8Array {
  if (typeof value !== "string" || !/^[0-9a-fA-F]{40}$/.test(value)) {
    throw bad(`"partial.${field}" must be a key of 40 hex digits`);
  }
  return fromHex(value.toLowerCase());
}

function seconds(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw bad(`"partial.${field}" must be a whole number of seconds since the epoch`);
  }
  return value;
}

function objectOf(value: unknown, known: readonly string[], what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(`${what} must be a JSON object`);
  }
  const unknown = Object.keys(value).find((field) => !known.includes(field));
  if (unknown !== undefined) {
    throw bad(`unknown field "${unknown.slice(0, 40)}" in ${what} (expected ${known.join(", ")})`);
  }
  return value as Record<string, unknown>;
}

function bad(problem: string): InvalidInputError {
  return new InvalidInputError(`Cannot read the request: ${problem}`);
}
