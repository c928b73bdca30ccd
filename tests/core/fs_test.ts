/**
 * Atomic, durable file writes: the complete contents or nothing under the final name, the
 * requested mode, no temporary files left behind, and no silent replacement when asked not to.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileAtomic } from "../../src/core/fs.ts";
import { withTempDir } from "../_rhizome.ts";

async function namesIn(directory: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(directory)) names.push(entry.name);
  return names.sort();
}

Deno.test("writeFileAtomic() writes the bytes with mode 0600 by default", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "f");
    await writeFileAtomic(path, "hello");
    assert.equal(await Deno.readTextFile(path), "hello");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await namesIn(directory), ["f"]);
  });
});

Deno.test("writeFileAtomic() replaces by default and honours the mode", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "f");
    await writeFileAtomic(path, "old");
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]), { mode: 0o644 });
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);
  });
});

Deno.test("writeFileAtomic({ replace: false }) refuses an existing file and keeps it", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "f");
    await writeFileAtomic(path, "first");
    await assert.rejects(
      writeFileAtomic(path, "second", { replace: false }),
      Deno.errors.AlreadyExists,
    );
    assert.equal(await Deno.readTextFile(path), "first");
    assert.deepEqual(await namesIn(directory), ["f"], "the temporary file is removed");
  });
});

Deno.test("writeFileAtomic() into a missing directory fails and creates nothing", async () => {
  await withTempDir(async (directory) => {
    await assert.rejects(writeFileAtomic(join(directory, "no", "f"), "x"), Deno.errors.NotFound);
    assert.deepEqual(await namesIn(directory), []);
  });
});

Deno.test("writeFileAtomic() over a directory fails and leaves the directory", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "d");
    await Deno.mkdir(path);
    await assert.rejects(writeFileAtomic(path, "x"));
    assert.ok((await Deno.stat(path)).isDirectory);
    assert.deepEqual(await namesIn(directory), ["d"]);
  });
});

Deno.test("writeFileAtomic() writes large contents completely", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, "big");
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    await writeFileAtomic(path, data);
    assert.deepEqual(await Deno.readFile(path), data);
  });
});
