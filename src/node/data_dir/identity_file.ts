/**
 * Keeping a node's identity on disk: made once, read at every start, never overwritten except
 * by an explicit replacement (which keeps the old key beside it).
 *
 * @module
 */

import { generateEd25519KeyPair } from "../../core/crypto.ts";
import { IdentityError } from "../../core/errors.ts";
import {
  decodeIdentityFile,
  encodeIdentityFile,
  type Identity,
  identityOf,
} from "../../core/identity.ts";
import { identityFileBytesMax } from "../../core/limits.ts";
import { describeOsError } from "../../core/os_error.ts";
import { writeFileAtomic } from "../../core/fs.ts";

/** What {@link readIdentity} found besides the identity. */
export interface ReadIdentityResult {
  /** The identity. */
  identity: Identity;
  /** Whether group or others may read the key file (they should not). */
  exposed: boolean;
}

/**
 * Reads and checks the identity key file.
 *
 * @param path The key file.
 * @returns The identity, and whether the file's mode exposes it.
 * @throws {IdentityError} `IDENTITY_MISSING`, `IDENTITY_UNREADABLE` or `IDENTITY_CORRUPT`; the
 *   file is never changed.
 */
export async function readIdentity(path: string): Promise<ReadIdentityResult> {
  let text: string;
  let mode: number | null;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) {
      throw new IdentityError(
        "IDENTITY_UNREADABLE",
        `Cannot read identity key ${path}: it is not a file`,
      );
    }
    if (info.size > identityFileBytesMax) {
      throw new IdentityError(
        "IDENTITY_CORRUPT",
        `Cannot use identity key ${path}: it is ${info.size} bytes, far more than a key file (limit ${identityFileBytesMax})`,
      );
    }
    mode = info.mode;
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof IdentityError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new IdentityError(
        "IDENTITY_MISSING",
        `Cannot read identity key ${path}: it does not exist (run 'rhizome init' first)`,
      );
    }
    const reason = error instanceof TypeError ? "it is not UTF-8 text" : describeOsError(error);
    throw new IdentityError("IDENTITY_UNREADABLE", `Cannot read identity key ${path}: ${reason}`, {
      cause: error,
    });
  }
  const identity = decodeIdentityFile(path, text);
  return { identity, exposed: mode !== null && (mode & 0o077) !== 0 };
}

/** Options for {@link createIdentity}. */
export interface CreateIdentityOptions {
  /** When it happens (RFC 3339); recorded in the file. */
  created: string;
  /**
   * Replace an existing identity. The old key file is kept, hard-linked as
   * `identity.key.replaced-<time>`, so no key is ever lost.
   * @default false
   */
  replace?: boolean;
}

/** What {@link createIdentity} did. */
export interface CreateIdentityResult {
  /** The new identity. */
  identity: Identity;
  /** Where the replaced key file was kept, when one was replaced. */
  backupPath?: string;
}

/**
 * Makes a new identity and writes it atomically with mode 0600.
 *
 * @param path The key file.
 * @param options When, and whether an existing identity may be replaced.
 * @returns The new identity, and the backup of the old key file if one was replaced.
 * @throws {IdentityError} `IDENTITY_EXISTS` when a key file exists and `replace` is not set.
 * @throws {Error} The file system's error when the file cannot be written (nothing changed).
 */
export async function createIdentity(
  path: string,
  options: CreateIdentityOptions,
): Promise<CreateIdentityResult> {
  const identity = identityOf(generateEd25519KeyPair(), options.created);
  const text = encodeIdentityFile(identity);
  if (!options.replace) {
    try {
      await writeFileAtomic(path, text, { mode: 0o600, replace: false });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      throw new IdentityError(
        "IDENTITY_EXISTS",
        `Cannot create identity: ${path} already exists (use --force to replace it; the old key is kept as a backup)`,
      );
    }
    return { identity };
  }
  let backupPath: string | undefined;
  try {
    backupPath = `${path}.replaced-${options.created.replace(/[:.]/g, "")}`;
    await Deno.link(path, backupPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    backupPath = undefined;
  }
  await writeFileAtomic(path, text, { mode: 0o600, replace: true });
  return { identity, backupPath };
}
