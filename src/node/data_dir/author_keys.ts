/**
 * Author keys: the Ed25519 keys people sign threads, messages, votes and profiles with, kept in
 * the data directory apart from the node identity (a person can take a key to any node). They
 * are plain files, so `rhizome author new|list|use` work without a running node:
 *
 * ```
 * <data dir>/authors/        mode 0700
 * ├── alice.key              one key, mode 0600, the node identity file's JSON shape
 * └── current                the name publishing commands sign with by default
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { toHex } from "../../core/bytes.ts";
import { generateEd25519KeyPair } from "../../core/crypto.ts";
import {
  ContentError,
  DataDirError,
  IdentityError,
  InvalidInputError,
  RhizomeError,
} from "../../core/errors.ts";
import {
  decodeIdentityFile,
  encodeIdentityFile,
  type Identity,
  identityOf,
} from "../../core/identity.ts";
import { identityFileBytesMax } from "../../core/limits.ts";
import { getLog } from "../../core/log.ts";
import { describeOsError } from "../../core/os_error.ts";
import type { Author } from "../../services/discussion/publisher.ts";
import type { AuthorReport } from "../../services/discussion/reports.ts";
import { writeFileAtomic } from "../../core/fs.ts";

/**
 * An author name: a lower-case letter or digit, then up to 31 more of those, `-` or `_`. Short
 * enough to type, and safe as a file name on every system (no dots, slashes or upper case that
 * a case-insensitive file system would merge).
 */
export const AUTHOR_NAME_PATTERN: RegExp = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** The file that names the current author, inside the authors folder. */
export const CURRENT_AUTHOR_FILE = "current";

/** The suffix of every author key file. */
export const AUTHOR_KEY_SUFFIX = ".key";

/**
 * Largest `current` file read: a name is at most 32 bytes; anything much bigger is not ours.
 * Larger: `IDENTITY_CORRUPT`.
 */
const currentFileBytesMax = 256;

/**
 * Checks an author name.
 *
 * @param name The name as typed or as sent to the control API.
 * @returns The name.
 * @throws {InvalidInputError} When it does not match {@link AUTHOR_NAME_PATTERN}.
 */
export function parseAuthorName(name: string): string {
  if (!AUTHOR_NAME_PATTERN.test(name)) {
    const shown = name.replace(/\p{Cc}/gu, "?").slice(0, 40);
    throw new InvalidInputError(
      `Cannot use author name "${shown}": expected 1 to 32 lower-case letters, digits, ` +
        `- or _, starting with a letter or digit`,
    );
  }
  return name;
}

/**
 * The author keys in one folder (`<data dir>/authors`).
 *
 * @example Signing as the current author
 * ```ts ignore
 * const authors = new AuthorKeys(dataDir.authorsPath);
 * await authors.create("alice"); // the first one becomes current
 * const { name, keyPair } = await authors.load();
 * ```
 */
export class AuthorKeys {
  /** The authors folder. */
  readonly dirPath: string;

  /**
   * The author keys in a folder; nothing is read or made yet.
   *
   * @param dirPath The authors folder (`DataDir.authorsPath`); made on the first create.
   */
  constructor(dirPath: string) {
    this.dirPath = dirPath;
  }

  /**
   * Makes a new author key (mode 0600, written atomically). The first author becomes current.
   *
   * @param name The new author's name.
   * @returns The new author.
   * @throws {InvalidInputError} When the name is malformed or already taken (nothing changed).
   * @throws {DataDirError} When the folder or file cannot be written.
   */
  async create(name: string): Promise<AuthorReport> {
    parseAuthorName(name);
    const path = this.#keyPath(name);
    const identity = identityOf(generateEd25519KeyPair(), new Date().toISOString());
    await this.#write(`create author ${name}`, async () => {
      await Deno.mkdir(this.dirPath, { recursive: true, mode: 0o700 });
      try {
        await writeFileAtomic(path, encodeIdentityFile(identity), { mode: 0o600, replace: false });
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        throw new InvalidInputError(
          `Cannot create author ${name}: ${path} already exists (pick another name)`,
        );
      }
      try {
        // Without replace, two first authors made at once cannot both become current.
        await writeFileAtomic(this.#currentPath, name + "\n", { mode: 0o600, replace: false });
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      }
    });
    return {
      name,
      public_key: toHex(identity.keyPair.publicKey),
      current: await this.#currentName() === name,
      created_at: identity.created,
    };
  }

  /**
   * Every author key in the folder, by name. Files whose names are not author names (temporary
   * files, other tools' files) are not authors and are skipped.
   *
   * @returns The authors; none when the folder does not exist yet.
   * @throws {IdentityError} When a key file is unreadable or damaged.
   * @throws {DataDirError} When the folder cannot be read.
   */
  async list(): Promise<AuthorReport[]> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.dirPath)) {
        const name = entry.name.slice(0, -AUTHOR_KEY_SUFFIX.length);
        if (entry.name.endsWith(AUTHOR_KEY_SUFFIX) && AUTHOR_NAME_PATTERN.test(name)) {
          names.push(name);
        }
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw new DataDirError(`Cannot list authors in ${this.dirPath}: ${describeOsError(error)}`, {
        cause: error,
      });
    }
    const current = await this.#currentName();
    const reports = [];
    for (const name of names.sort()) reports.push(await this.#report(name, current));
    return reports;
  }

  /**
   * Makes an existing author the current one.
   *
   * @param name The author's name.
   * @returns The author, now current.
   * @throws {ContentError} `AUTHOR_MISSING` when there is no such author.
   * @throws {InvalidInputError} When the name is malformed.
   * @throws {IdentityError} When its key file is unreadable or damaged (nothing changed).
   * @throws {DataDirError} When `current` cannot be written.
   */
  async use(name: string): Promise<AuthorReport> {
    parseAuthorName(name);
    const report = await this.#report(name, undefined);
    await this.#write(
      `use author ${name}`,
      () => writeFileAtomic(this.#currentPath, name + "\n", { mode: 0o600, replace: true }),
    );
    return { ...report, current: true };
  }

  /**
   * The key to sign with.
   *
   * @param name The author's name; the current author when absent.
   * @returns The author's name and key pair.
   * @throws {ContentError} `AUTHOR_MISSING` when there is no author at all, no current one, or
   *   none by that name.
   * @throws {InvalidInputError} When the name is malformed.
   * @throws {IdentityError} When the key file or `current` is unreadable or damaged.
   */
  async load(name?: string): Promise<Author> {
    const chosen = name === undefined ? await this.#currentName() : parseAuthorName(name);
    if (chosen === undefined) {
      if ((await this.list()).length === 0) {
        throw new ContentError(
          "AUTHOR_MISSING",
          `Cannot sign: no author key in ${this.dirPath}; create one with ` +
            "`rhizome author new NAME`",
        );
      }
      throw new ContentError(
        "AUTHOR_MISSING",
        `Cannot sign: no current author in ${this.dirPath}; choose one with ` +
          "`rhizome author use NAME`",
      );
    }
    const { keyPair } = await this.#read(chosen);
    return { name: chosen, keyPair };
  }

  get #currentPath(): string {
    return join(this.dirPath, CURRENT_AUTHOR_FILE);
  }

  #keyPath(name: string): string {
    return join(this.dirPath, name + AUTHOR_KEY_SUFFIX);
  }

  async #report(name: string, current: string | undefined): Promise<AuthorReport> {
    const identity = await this.#read(name);
    return {
      name,
      public_key: toHex(identity.keyPair.publicKey),
      current: name === current,
      created_at: identity.created,
    };
  }

  /** Reads and checks one key file: the node identity file's checks, author wording. */
  async #read(name: string): Promise<Identity> {
    const path = this.#keyPath(name);
    let text: string;
    try {
      const info = await Deno.stat(path);
      if (!info.isFile) {
        throw new IdentityError(
          "IDENTITY_UNREADABLE",
          `Cannot read author key ${path}: it is not a file`,
        );
      }
      if (info.size > identityFileBytesMax) {
        throw new IdentityError(
          "IDENTITY_CORRUPT",
          `Cannot use author key ${path}: it is ${info.size} bytes, far more than a key file ` +
            `(limit ${identityFileBytesMax})`,
        );
      }
      if (info.mode !== null && (info.mode & 0o077) !== 0) {
        getLog("authors").warning(
          "the author key {path} is readable by other users; run: chmod 600 {path}",
          { path },
        );
      }
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof RhizomeError) throw error;
      if (error instanceof Deno.errors.NotFound) {
        throw new ContentError(
          "AUTHOR_MISSING",
          `Cannot sign as ${name}: no author key ${name} in ${this.dirPath} ` +
            "(see `rhizome author list`)",
        );
      }
      throw new IdentityError(
        "IDENTITY_UNREADABLE",
        `Cannot read author key ${path}: ${describeOsError(error)}`,
        { cause: error },
      );
    }
    try {
      return decodeIdentityFile(path, text);
    } catch (error) {
      if (!(error instanceof IdentityError)) throw error;
      // The file format is the node identity's; the message should name what this file is.
      throw new IdentityError(
        "IDENTITY_CORRUPT",
        error.message.replace(/^Cannot use identity key /, "Cannot use author key "),
        { cause: error },
      );
    }
  }

  /** The current author's name, or `undefined` when none is set. */
  async #currentName(): Promise<string | undefined> {
    const path = this.#currentPath;
    let text: string;
    try {
      const info = await Deno.stat(path);
      if (!info.isFile || info.size > currentFileBytesMax) {
        throw new IdentityError(
          "IDENTITY_CORRUPT",
          `Cannot read the current author from ${path}: it is not a short text file ` +
            "(run `rhizome author use NAME` to rewrite it)",
        );
      }
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof RhizomeError) throw error;
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw new IdentityError(
        "IDENTITY_UNREADABLE",
        `Cannot read the current author from ${path}: ${describeOsError(error)}`,
        { cause: error },
      );
    }
    const name = text.trim();
    if (!AUTHOR_NAME_PATTERN.test(name)) {
      throw new IdentityError(
        "IDENTITY_CORRUPT",
        `Cannot read the current author from ${path}: it does not hold an author name ` +
          "(run `rhizome author use NAME` to rewrite it)",
      );
    }
    return name;
  }

  /** Runs a write, turning file-system failures into one-line `DATA_DIR_UNUSABLE` errors. */
  async #write(action: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (error instanceof RhizomeError) throw error;
      throw new DataDirError(`Cannot ${action} in ${this.dirPath}: ${describeOsError(error)}`, {
        cause: error,
      });
    }
  }
}
