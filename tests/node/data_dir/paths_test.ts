/**
 * Choosing and creating the data directory: the flag's path made absolute, the environment's
 * default, mode 0700, and one-line errors when the path cannot be a directory.
 */

import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { DataDirError } from "../../../src/core/errors.ts";
import { DataDir, defaultDataDirPath } from "../../../src/node/data_dir/paths.ts";
import { withTempDir } from "../../_rhizome.ts";

Deno.test("defaultDataDirPath() prefers RHIZOME_DATA_DIR, then HOME, then USERPROFILE", () => {
  assert.equal(defaultDataDirPath({ RHIZOME_DATA_DIR: "/srv/r", HOME: "/home/a" }), "/srv/r");
  assert.equal(defaultDataDirPath({ RHIZOME_DATA_DIR: "rel" }), resolve("rel"));
  assert.equal(defaultDataDirPath({ HOME: "/home/a" }), "/home/a/.rhizome");
  assert.equal(defaultDataDirPath({ USERPROFILE: "/users/b" }), "/users/b/.rhizome");
  assert.throws(() => defaultDataDirPath({}), DataDirError);
});

Deno.test("DataDir names its files inside an absolute path", () => {
  const dataDir = new DataDir("relative/dir");
  assert.equal(dataDir.path, resolve("relative/dir"));
  assert.equal(dataDir.configPath, join(dataDir.path, "config.toml"));
  assert.equal(dataDir.identityPath, join(dataDir.path, "identity.key"));
});

Deno.test("DataDir.create() makes missing parents with mode 0700 and accepts an existing dir", async () => {
  await withTempDir(async (directory) => {
    const dataDir = new DataDir(join(directory, "a", "b"));
    await dataDir.create();
    assert.equal((await Deno.stat(dataDir.path)).mode! & 0o777, 0o700);
    await dataDir.create();
  });
});

Deno.test("DataDir.create() fails with DataDirError on a file or below one", async () => {
  await withTempDir(async (directory) => {
    const file = join(directory, "file");
    await Deno.writeTextFile(file, "");
    for (const path of [file, join(file, "x")]) {
      await assert.rejects(new DataDir(path).create(), (error: unknown) => {
        assert.ok(error instanceof DataDirError);
        assert.equal(error.code, "DATA_DIR_UNUSABLE");
        assert.match(error.message, /^Cannot (create|use) data directory /);
        return true;
      });
    }
  });
});
