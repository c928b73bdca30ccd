/**
 * The data directory: where a node keeps its identity, its config file and (in later versions)
 * its store and routing table. One directory per node; `--data-dir` picks it.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { DataDirError } from "../../core/errors.ts";
import { describeOsError } from "../../core/os_error.ts";

/** Names of the files inside a data directory. */
export const DATA_DIR_FILES = {
  /** The node's commented configuration, written by `rhizome init`. */
  config: "config.toml",
  /** The node's Ed25519 key pair (mode 0600). */
  identity: "identity.key",
  /** The record store (LMDB; its lock file is this name with `-lock` appended). */
  records: "records.mdb",
  /** The search index (SQLite; derived from the store, rebuilt when absent or damaged). */
  search: "search.sqlite",
  /** The single-writer lock: the running node's PID, under an OS lock (lock.ts). */
  lock: "node.lock",
  /** The author keys (`<name>.key`, mode 0600) and `current` (author_keys.ts). */
  authors: "authors",
  /** Zeros kept in reserve for a start on a full disk (disk_reserve.ts). */
  reserve: "disk.reserve",
} as const;

/**
 * The data directory to use when no `--data-dir` flag is given: `RHIZOME_DATA_DIR`, else
 * `.rhizome` in the home directory.
 *
 * @param env The environment.
 * @returns An absolute path.
 * @throws {DataDirError} When neither the variable nor a home directory is set.
 */
export function defaultDataDirPath(env: Record<string, string>): string {
  if (env.RHIZOME_DATA_DIR) return resolve(env.RHIZOME_DATA_DIR);
  const home = env.HOME ?? env.USERPROFILE;
  if (!home) {
    throw new DataDirError(
      "Cannot find a data directory: HOME is not set; pass --data-dir or set RHIZOME_DATA_DIR",
    );
  }
  return join(home, ".rhizome");
}

/** A data directory and the paths of the files in it. */
export class DataDir {
  /** The directory's absolute path. */
  readonly path: string;

  /** @param path The directory (made absolute). */
  constructor(path: string) {
    this.path = resolve(path);
  }

  /** @returns The path of the config file inside the directory. */
  get configPath(): string {
    return join(this.path, DATA_DIR_FILES.config);
  }

  /** @returns The path of the identity key file. */
  get identityPath(): string {
    return join(this.path, DATA_DIR_FILES.identity);
  }

  /** @returns The path of the record store's LMDB file. */
  get recordsPath(): string {
    return join(this.path, DATA_DIR_FILES.records);
  }

  /** @returns The path of the search index (SQLite). */
  get searchPath(): string {
    return join(this.path, DATA_DIR_FILES.search);
  }

  /** @returns The path of the author keys folder. */
  get authorsPath(): string {
    return join(this.path, DATA_DIR_FILES.authors);
  }

  /**
   * Creates the directory (and its parents) with mode 0700 when it does not exist, and checks
   * that it is a directory.
   *
   * @throws {DataDirError} When it cannot be created or is not a directory.
   */
  async create(): Promise<void> {
    try {
      await Deno.mkdir(this.path, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new DataDirError(
        `Cannot create data directory ${this.path}: ${describeOsError(error)}`,
        { cause: error },
      );
    }
    const info = await Deno.stat(this.path);
    if (!info.isDirectory) {
      throw new DataDirError(`Cannot use data directory ${this.path}: it is not a directory`);
    }
  }
}
