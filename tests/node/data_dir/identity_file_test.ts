/**
 * The identity key file on disk: made once with mode 0600, read back identically, refused with
 * the right code when missing, unreadable, oversized or damaged, and replaced only on request
 * with the old key kept.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { IdentityError } from "../../../src/core/errors.ts";
import { createIdentity, readIdentity } from "../../../src/node/data_dir/identity_file.ts";
import { withTempDir } from "../../_rhizome.ts";

const created = "2026-11-25T00:00:00.000Z";

async function rejectsWith(promise: Promise<unknown>, code: string, pattern: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof IdentityError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("createIdentity() writes a 0600 key that readIdentity() reads back", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "identity.key");
    const { identity, backupPath } = await createIdentity(path, { created });
    assert.equal(backupPath, undefined);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const read = await readIdentity(path);
    assert.equal(read.exposed, false);
    assert.ok(read.identity.nodeId.equals(identity.nodeId));
    assert.deepEqual(read.identity.keyPair.publicKey, identity.keyPair.publicKey);
    assert.equal(read.identity.created, created);
  });
});

Deno.test("createIdentity() refuses an existing key file and leaves it as it was", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "identity.key");
    await createIdentity(path, { created });
    const before = await Deno.readFile(path);
    await rejectsWith(createIdentity(path, { created }), "IDENTITY_EXISTS", /already exists/);
    assert.deepEqual(await Deno.readFile(path), before);
    const names = [];
    for await (const entry of Deno.readDir(directory)) names.push(entry.name);
    assert.deepEqual(names, ["identity.key"], "no temporary file is left behind");
  });
});

Deno.test("createIdentity({ replace: true }) keeps the old key as a backup", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "identity.key");
    const first = await createIdentity(path, { created });
    const before = await Deno.readFile(path);
    const second = await createIdentity(path, {
      created: "2026-11-26T00:00:00.000Z",
      replace: true,
    });
    assert.ok(!second.identity.nodeId.equals(first.identity.nodeId));
    assert.equal(second.backupPath, `${path}.replaced-2026-11-26T000000000Z`);
    assert.deepEqual(await Deno.readFile(second.backupPath!), before);
    const read = await readIdentity(path);
    assert.ok(read.identity.nodeId.equals(second.identity.nodeId));
  });
});

Deno.test("createIdentity({ replace: true }) with no key yet simply creates one", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "identity.key");
    const { backupPath } = await createIdentity(path, { created, replace: true });
    assert.equal(backupPath, undefined);
    await readIdentity(path);
  });
});

Deno.test("readIdentity() reports a missing file as IDENTITY_MISSING", async () => {
  await withTempDir(async (directory) => {
    await rejectsWith(
      readIdentity(join(directory, "identity.key")),
      "IDENTITY_MISSING",
      /does not exist \(run 'rhizome init' first\)/,
    );
  });
});

Deno.test("readIdentity() reports a directory as IDENTITY_UNREADABLE", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "identity.key");
    await Deno.mkdir(path);
    await rejectsWith(readIdentity(path), "IDENTITY_UNREADABLE", /it is not a file/);
  });
});

Deno.test("readIdentity() refuses an oversized file before parsing it", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "identity.key");
    await Deno.writeTextFile(path, " ".repeat(5000));
    await rejectsWith(readIdentity(path), "IDENTITY_CORRUPT", /5000 bytes.*limit 4096/);
  });
});

Deno.test("readIdentity() refuses damaged files and never changes them", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "identity.key");
    await createIdentity(path, { created });
    const good = await Deno.readFile(path);
    // Every byte up to the creation time is guarded: the keys and ID cross-check each other and
    // the other fields are fixed. The timestamp itself is informational, so it is left out.
    const guarded = new TextDecoder().decode(good).indexOf('"created"');
    for (let index = 0; index < guarded; index += 3) {
      const damaged = new Uint8Array(good);
      damaged[index] ^= 0x20;
      await Deno.writeFile(path, damaged);
      await assert.rejects(readIdentity(path), IdentityError, `flipped byte ${index}`);
      assert.deepEqual(await Deno.readFile(path), damaged);
    }
  });
});

Deno.test("readIdentity() flags a key file others can read", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "identity.key");
    await createIdentity(path, { created });
    await Deno.chmod(path, 0o644);
    assert.equal((await readIdentity(path)).exposed, true);
  });
});
