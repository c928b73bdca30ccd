/**
 * `rhizome init [--force]`.
 *
 * @module
 */

import { toBase32 } from "../../core/bytes.ts";
import { commentedDefaultConfigToml } from "../../core/config_defaults.ts";
import { DataDirError, RhizomeError } from "../../core/errors.ts";
import { describeOsError } from "../../core/os_error.ts";
import { createIdentity } from "../../node/data_dir/identity_file.ts";
import { writeFileAtomic } from "../../core/fs.ts";
import type { Command } from "../command.ts";
import { OK } from "../output.ts";

/** Creates a data directory with a new identity and a commented config file. */
export const initCommand: Command = {
  name: "init",
  summary: "Create the data directory, the node identity and a commented config file",
  usage: "init [--force]",
  description: [
    "Creates the data directory (mode 0700), a new Ed25519 identity in identity.key (mode 0600,",
    "written atomically) and, unless one exists, config.toml listing every setting and its",
    "default, commented out. When the directory already holds an identity, init refuses and",
    "changes nothing; --force replaces the identity and keeps the old key file beside it as",
    "identity.key.replaced-<time>. An existing config.toml is always kept.",
  ].join("\n"),
  examples: [
    "rhizome init",
    "rhizome init --data-dir /var/lib/rhizome --json",
    "rhizome init --force   # new identity, old key kept as a backup",
  ],
  flags: {
    force: { type: "boolean", description: "Replace an existing identity (the old key is kept)" },
  },
  positionals: { min: 0, max: 0 },
  async run(context) {
    const dataDir = context.dataDir();
    await dataDir.create();
    const created = new Date().toISOString();
    const { identity, backupPath } = await writeOrFail(
      dataDir.path,
      () =>
        createIdentity(dataDir.identityPath, { created, replace: context.flags.force === true }),
    );
    const configWritten = await writeOrFail(dataDir.path, async () => {
      try {
        await writeFileAtomic(dataDir.configPath, commentedDefaultConfigToml(), {
          mode: 0o644,
          replace: false,
        });
        return true;
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) return false;
        throw error;
      }
    });
    const lines = [
      `Initialised ${dataDir.path}`,
      `  node ID   ${identity.nodeId.toHex()}`,
      `  identity  ${dataDir.identityPath} (new${
        backupPath ? `; old key kept as ${backupPath}` : ""
      })`,
      `  config    ${dataDir.configPath} (${configWritten ? "written" : "kept"})`,
    ];
    context.output.result(lines.join("\n"), {
      data_dir: dataDir.path,
      node_id: identity.nodeId.toHex(),
      public_key: toBase32(identity.keyPair.publicKey),
      identity_path: dataDir.identityPath,
      identity_backup_path: backupPath ?? null,
      config_path: dataDir.configPath,
      config_written: configWritten,
    });
    return OK;
  },
};

/** Runs a write in the data directory, turning file-system failures into `DATA_DIR_UNUSABLE`. */
async function writeOrFail<T>(directory: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof RhizomeError) throw error;
    throw new DataDirError(
      `Cannot write to data directory ${directory}: ${describeOsError(error)}`,
      {
        cause: error,
      },
    );
  }
}
