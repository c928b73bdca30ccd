/**
 * The one error hierarchy of Rhizome.
 *
 * Every error a caller may meet carries a stable `code` (scripts and tests match on it; never
 * renamed) and a human message that reads as a sentence. The CLI maps each code to a stable
 * process exit status through {@link exitStatusOf}.
 *
 * @module
 */

/** Process exit statuses. They are part of the CLI's contract: values never change meaning. */
export const ExitStatus = {
  /** The command did what it was asked. */
  ok: 0,
  /** The command ran but failed, or found nothing (for example `get` of a missing key). */
  failure: 1,
  /** The command line is wrong: unknown command or flag, missing or malformed argument. */
  usage: 2,
  /** The configuration (file, environment or flags) is unreadable or invalid. */
  config: 3,
  /** The node identity is missing, unreadable or corrupt. */
  identity: 4,
  /** The data directory cannot be created, read or written. */
  dataDir: 5,
  /** `init` refused because the data directory already holds an identity. */
  exists: 6,
  /**
   * A write was refused because this node's record store is full (its quota, with nothing
   * evictable, or the disk) or cannot write (an I/O error): `STORE_FULL`. Nothing new is held.
   */
  storeFull: 7,
  /**
   * A put or publish is durable on this node but fewer than `dht.write_quorum` holders
   * acknowledged it: `NOT_REPLICATED`. The node keeps it and republishes it; retrying is safe.
   */
  notReplicated: 8,
  /**
   * A put or publish is durable nowhere that counts: this node did not keep it (a client node, or
   * no copy here) and fewer than `dht.write_quorum` holders acknowledged it: `NOT_STORED`.
   */
  notStored: 9,
  /** A bug in Rhizome: an assertion failed or an unexpected exception escaped. */
  internal: 70,
  /**
   * Whoever read the output went away (the read end of a pipe closed, as `| head` does): the
   * command stopped quietly. 141 is 128 + SIGPIPE, what a shell reports for a Unix tool that
   * the same closed pipe ended, so `set -o pipefail` scripts treat it alike.
   */
  outputClosed: 141,
} as const;

/** One of the values of {@link ExitStatus}. */
export type ExitStatus = typeof ExitStatus[keyof typeof ExitStatus];

/** A stable error code, for example `CONFIG_INVALID`. */
export type ErrorCode =
  | "USAGE"
  | "INVALID_INPUT"
  | "CONFIG_INVALID"
  | "CONFIG_UNREADABLE"
  | "IDENTITY_MISSING"
  | "IDENTITY_UNREADABLE"
  | "IDENTITY_CORRUPT"
  | "IDENTITY_EXISTS"
  | "DATA_DIR_UNUSABLE"
  | "RECORD_INVALID"
  | "RECORD_STALE"
  | "STORE_FULL"
  | "STORE_UNUSABLE"
  | "NOT_REPLICATED"
  | "NOT_STORED"
  | "SNAPSHOT_INVALID"
  | "SNAPSHOT_UNWRITABLE"
  | "CONTENT_INVALID"
  | "NOT_FOUND"
  | "VOTE_REPEATED"
  | "AUTHOR_MISSING"
  | "UNAVAILABLE";

/** Stable error codes and the exit status each one ends the CLI with. */
const exitStatusByCode: Record<ErrorCode, ExitStatus> = {
  USAGE: ExitStatus.usage,
  INVALID_INPUT: ExitStatus.usage,
  CONFIG_INVALID: ExitStatus.config,
  CONFIG_UNREADABLE: ExitStatus.config,
  IDENTITY_MISSING: ExitStatus.identity,
  IDENTITY_UNREADABLE: ExitStatus.identity,
  IDENTITY_CORRUPT: ExitStatus.identity,
  IDENTITY_EXISTS: ExitStatus.exists,
  DATA_DIR_UNUSABLE: ExitStatus.dataDir,
  RECORD_INVALID: ExitStatus.failure,
  RECORD_STALE: ExitStatus.failure,
  STORE_FULL: ExitStatus.storeFull,
  STORE_UNUSABLE: ExitStatus.dataDir,
  NOT_REPLICATED: ExitStatus.notReplicated,
  NOT_STORED: ExitStatus.notStored,
  SNAPSHOT_INVALID: ExitStatus.failure,
  SNAPSHOT_UNWRITABLE: ExitStatus.failure,
  CONTENT_INVALID: ExitStatus.failure,
  NOT_FOUND: ExitStatus.failure,
  VOTE_REPEATED: ExitStatus.failure,
  AUTHOR_MISSING: ExitStatus.identity,
  UNAVAILABLE: ExitStatus.failure,
};

/** Options shared by every {@link RhizomeError}. */
export interface RhizomeErrorOptions {
  /** The lower-level error that caused this one. */
  cause?: unknown;
}

/**
 * The base of every error Rhizome raises on purpose.
 *
 * @example Matching on the stable code
 * ```ts
 * import { RhizomeError } from "./errors.ts";
 * const error = new RhizomeError("UNAVAILABLE", "Cannot serve: not built yet");
 * if (error.code !== "UNAVAILABLE") throw new Error("unexpected code");
 * ```
 */
export class RhizomeError extends Error {
  /** The stable code. */
  readonly code: ErrorCode;

  /**
   * Makes an error with a stable code.
   *
   * @param code The stable code.
   * @param message A sentence: "Cannot <action>: <reason>".
   * @param options The cause, when there is one.
   */
  constructor(code: ErrorCode, message: string, options: RhizomeErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** The command line is wrong: an unknown command or flag, or a bad argument. */
export class UsageError extends RhizomeError {
  /**
   * Makes a usage error.
   *
   * @param message What is wrong, naming the offending word and where to find help.
   */
  constructor(message: string) {
    super("USAGE", message);
  }
}

/** A value from outside (an argument, a URI, an ID) does not parse. */
export class InvalidInputError extends RhizomeError {
  /**
   * Makes an invalid-input error.
   *
   * @param message What was expected and what was found.
   * @param options The cause, when there is one.
   */
  constructor(message: string, options: RhizomeErrorOptions = {}) {
    super("INVALID_INPUT", message, options);
  }
}

/** The configuration cannot be read, or a value in it is invalid. */
export class ConfigError extends RhizomeError {
  /**
   * Makes a configuration error.
   *
   * @param code `CONFIG_INVALID` or `CONFIG_UNREADABLE`.
   * @param message One line per problem, each naming the field path.
   */
  constructor(
    code: "CONFIG_INVALID" | "CONFIG_UNREADABLE",
    message: string,
    options: RhizomeErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/** The node identity (its key file) is missing, unreadable, corrupt, or already there. */
export class IdentityError extends RhizomeError {
  /**
   * Makes an identity error.
   *
   * @param code Which identity problem this is.
   * @param message The key file's path and what is wrong with it.
   */
  constructor(
    code: "IDENTITY_MISSING" | "IDENTITY_UNREADABLE" | "IDENTITY_CORRUPT" | "IDENTITY_EXISTS",
    message: string,
    options: RhizomeErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/** The data directory cannot be created, read or written. */
export class DataDirError extends RhizomeError {
  /**
   * Makes a data-directory error.
   *
   * @param message The path and the operating system's reason.
   * @param options The cause, when there is one.
   */
  constructor(message: string, options: RhizomeErrorOptions = {}) {
    super("DATA_DIR_UNUSABLE", message, options);
  }
}

/**
 * A record was refused, or the record store cannot do what was asked. `RECORD_INVALID`: the record
 * does not verify (forged, truncated, oversize, wrong key or version); `RECORD_STALE`: it is
 * older than the one held; `STORE_FULL`: a write refused for lack of room (nothing can be evicted
 * within the quota, the disk is at its reserve) or because the disk failed it (a commit's I/O
 * error): nothing changed and reads go on; `STORE_UNUSABLE`: the store cannot be opened or used
 * at all (closed, read-only, wrong format).
 */
export class StoreError extends RhizomeError {
  /**
   * Makes a store error.
   *
   * @param code Which problem this is.
   * @param message A sentence: "Cannot <action>: <reason>".
   * @param options The cause, when there is one.
   */
  constructor(
    code: "RECORD_INVALID" | "RECORD_STALE" | "STORE_FULL" | "STORE_UNUSABLE",
    message: string,
    options: RhizomeErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/**
 * A snapshot file is refused (`SNAPSHOT_INVALID`: bad format or version, truncated, hash or
 * signature wrong, a record that does not verify), or one cannot be written
 * (`SNAPSHOT_UNWRITABLE`: target missing, unwritable or full). Kept apart from the store's codes
 * so a cron job can tell a bad target from a bad store.
 */
export class SnapshotError extends RhizomeError {
  /**
   * Makes a snapshot error.
   *
   * @param code Which problem this is.
   * @param message A sentence: "Cannot <action>: <reason>".
   * @param options The cause, when there is one.
   */
  constructor(
    code: "SNAPSHOT_INVALID" | "SNAPSHOT_UNWRITABLE",
    message: string,
    options: RhizomeErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/**
 * The exit status the CLI ends with for an error: the code's status for a {@link RhizomeError},
 * {@link ExitStatus.internal} for anything else (an escaped exception is a bug).
 *
 * @param error Anything that was thrown.
 * @returns The process exit status.
 */
export function exitStatusOf(error: unknown): ExitStatus {
  if (error instanceof RhizomeError) return exitStatusByCode[error.code];
  return ExitStatus.internal;
}

/**
 * Content refused or not found when publishing or reading discussions. `CONTENT_INVALID`: a
 * title, body, tag or profile field breaks the content rules (size, UTF-8, time); `NOT_FOUND`:
 * the thread, parent message, vote target or profile is not on the network; `VOTE_REPEATED`: the
 * author already cast this very vote; `AUTHOR_MISSING`: no author key to sign with.
 */
export class ContentError extends RhizomeError {
  /**
   * Makes a content error.
   *
   * @param code Which problem this is.
   * @param message A sentence: "Cannot <action>: <reason>".
   * @param options The cause, when there is one.
   */
  constructor(
    code: "CONTENT_INVALID" | "NOT_FOUND" | "VOTE_REPEATED" | "AUTHOR_MISSING",
    message: string,
    options: RhizomeErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

/** How many durable copies a put or publish got, and needed. */
export interface Acknowledgements {
  /** Other nodes that acknowledged it durably. */
  stored: number;
  /** Durable copies acknowledged, this node's own included when it counts. */
  holders: number;
  /** Holders it needed (`dht.write_quorum`, fewer in a network that small). */
  quorum: number;
}

/**
 * A put or publish short of its write quorum. `NOT_REPLICATED`: durable on this node, which keeps
 * and republishes it, but fewer holders acknowledged it than the quorum (a retry is safe, and
 * changes nothing that is not already true); `NOT_STORED`: durable nowhere that counts (this node
 * keeps no copy and too few holders acknowledged it).
 */
export class ReplicationError extends RhizomeError {
  /** What was acknowledged. */
  readonly acknowledgements: Acknowledgements;

  /**
   * Makes a replication error.
   *
   * @param code Which outcome this is.
   * @param message A sentence: "Cannot <action>: <reason>", naming the key and the counts.
   * @param acknowledgements What was acknowledged.
   * @param options The cause (this node's store refusal), when there is one.
   */
  constructor(
    code: "NOT_REPLICATED" | "NOT_STORED",
    message: string,
    acknowledgements: Acknowledgements,
    options: RhizomeErrorOptions = {},
  ) {
    super(code, message, options);
    this.acknowledgements = { ...acknowledgements };
  }
}
