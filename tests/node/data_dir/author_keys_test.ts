/**
 * Author key files: made with mode 0600 under `authors/`, the first one current, listed and
 * chosen by name, loaded to sign with; malformed names, taken names, missing, damaged and
 * oversized files refused with one line and the right code, changing nothing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { toHex } from "../../../src/core/bytes.ts";
import { ContentError, IdentityError, InvalidInputError } from "../../../src/core/errors.ts";
import { AuthorKeys, parseAuthorName } from "../../../src/node/data_dir/author_keys.ts";
import { DataDir } from "../../../src/node/data_dir/paths.ts";
import { withTempDir } from "../../_rhizome.ts";

async function withAuthors(test: (authors: AuthorKeys, dir: string) => Promise<void>) {
  await withTempDir(async (dataDir) => {
    const dir = new DataDir(dataDir).authorsPath;
    await test(new AuthorKeys(dir), dir);
  });
}

function rejectsWith(code: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(
      error instanceof ContentError || error instanceof IdentityError ||
        error instanceof InvalidInputError,
      String(error),
    );
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  };
}

async function filesIn(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("create() writes a 0600 key in a 0700 folder; the first author becomes current", async () => {
  await withAuthors(async (authors, dir) => {
    const alice = await authors.create("alice");
    assert.equal(alice.name, "alice");
    assert.equal(alice.current, true);
    assert.match(alice.public_key, /^[0-9a-f]{64}$/);
    assert.ok(!Number.isNaN(Date.parse(alice.created_at)));
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(join(dir, "alice.key"))).mode! & 0o777, 0o600);
    assert.equal(await Deno.readTextFile(join(dir, "current")), "alice\n");
    const bob = await authors.create("bob");
    assert.equal(bob.current, false);
    assert.notEqual(bob.public_key, alice.public_key);
    assert.deepEqual(await filesIn(dir), ["alice.key", "bob.key", "current"]);
    const loaded = await authors.load();
    assert.equal(loaded.name, "alice");
    assert.equal(toHex(loaded.keyPair.publicKey), alice.public_key);
    assert.equal(toHex((await authors.load("bob")).keyPair.publicKey), bob.public_key);
  });
});

Deno.test("the key file has the node identity file's shape", async () => {
  await withAuthors(async (authors, dir) => {
    const report = await authors.create("carol");
    const fields = JSON.parse(await Deno.readTextFile(join(dir, "carol.key")));
    assert.deepEqual(Object.keys(fields).sort(), [
      "algorithm",
      "created",
      "format",
      "node_id",
      "public_key",
      "secret_key",
      "version",
    ]);
    assert.equal(fields.format, "rhizome-identity");
    assert.equal(fields.created, report.created_at);
  });
});

Deno.test("list() names every author, marks the current one, and use() switches", async () => {
  await withAuthors(async (authors, dir) => {
    assert.deepEqual(await authors.list(), [], "no folder yet: no authors");
    const zed = await authors.create("zed");
    const amy = await authors.create("amy-2_x");
    // Not authors: a temporary file, another tool's file, a name that is not an author name.
    await Deno.writeTextFile(join(dir, ".zed.key.tmp-1-ab"), "x");
    await Deno.writeTextFile(join(dir, "notes.txt"), "x");
    await Deno.writeTextFile(join(dir, "Upper.key"), "x");
    assert.deepEqual(await authors.list(), [{ ...amy, current: false }, zed]);
    const used = await authors.use("amy-2_x");
    assert.deepEqual(used, { ...amy, current: true });
    assert.deepEqual(await authors.list(), [used, { ...zed, current: false }]);
    assert.equal((await authors.load()).name, "amy-2_x");
  });
});

Deno.test("malformed names are refused before touching the disk", async () => {
  await withAuthors(async (authors, dir) => {
    const bad = ["", "Alice", "-x", "_x", "a.b", "../x", "a/b", "x".repeat(33), "é", "a b"];
    for (const name of bad) {
      assert.throws(() => parseAuthorName(name), rejectsWith("INVALID_INPUT", /author name/));
      await assert.rejects(authors.create(name), rejectsWith("INVALID_INPUT", /author name/));
      await assert.rejects(authors.use(name), rejectsWith("INVALID_INPUT", /author name/));
      await assert.rejects(authors.load(name), rejectsWith("INVALID_INPUT", /author name/));
    }
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
    for (const name of ["a", "0", "x".repeat(32), "a-b_c9"]) {
      assert.equal(parseAuthorName(name), name);
    }
  });
});

Deno.test("create() refuses a taken name and keeps the key", async () => {
  await withAuthors(async (authors, dir) => {
    await authors.create("alice");
    const before = await Deno.readFile(join(dir, "alice.key"));
    await assert.rejects(
      authors.create("alice"),
      rejectsWith("INVALID_INPUT", /^Cannot create author alice: .*alice\.key already exists/),
    );
    assert.deepEqual(await Deno.readFile(join(dir, "alice.key")), before);
    assert.deepEqual(await filesIn(dir), ["alice.key", "current"]);
  });
});

Deno.test("load() without any author says how to make one", async () => {
  await withAuthors(async (authors, dir) => {
    await assert.rejects(
      authors.load(),
      rejectsWith(
        "AUTHOR_MISSING",
        new RegExp(
          `^Cannot sign: no author key in ${dir}; create one with \`rhizome author new NAME\`$`,
        ),
      ),
    );
    await Deno.mkdir(dir);
    await assert.rejects(authors.load(), rejectsWith("AUTHOR_MISSING", /no author key in/));
  });
});

Deno.test("load() and use() of an unknown name say AUTHOR_MISSING naming it", async () => {
  await withAuthors(async (authors) => {
    await authors.create("alice");
    for (const call of [() => authors.load("bob"), () => authors.use("bob")]) {
      await assert.rejects(
        call(),
        rejectsWith("AUTHOR_MISSING", /^Cannot sign as bob: no author key bob in /),
      );
    }
    assert.equal((await authors.load()).name, "alice", "use() of a missing name changed nothing");
  });
});

Deno.test("a current author whose key is gone, or no current file, is AUTHOR_MISSING", async () => {
  await withAuthors(async (authors, dir) => {
    await authors.create("alice");
    await authors.create("bob");
    await Deno.remove(join(dir, "alice.key"));
    await assert.rejects(authors.load(), rejectsWith("AUTHOR_MISSING", /no author key alice/));
    await Deno.remove(join(dir, "current"));
    await assert.rejects(
      authors.load(),
      rejectsWith("AUTHOR_MISSING", /no current author in .*`rhizome author use NAME`$/),
    );
    assert.equal((await authors.load("bob")).name, "bob");
  });
});

Deno.test("a damaged key or current file is refused with one line, the files untouched", async () => {
  await withAuthors(async (authors, dir) => {
    await authors.create("alice");
    const keyPath = join(dir, "alice.key");
    const original = await Deno.readTextFile(keyPath);
    const corruptions = [
      original.replace(/"secret_key":"(.)/, (_, c) => `"secret_key":"${c === "A" ? "B" : "A"}`),
      original.slice(0, 40),
      "",
      original.replace('"version":1', '"version":9'),
    ];
    for (const corrupt of corruptions) {
      await Deno.writeTextFile(keyPath, corrupt);
      for (const call of [() => authors.load(), () => authors.list(), () => authors.use("alice")]) {
        await assert.rejects(
          call(),
          rejectsWith("IDENTITY_CORRUPT", /^Cannot use author key .*alice\.key: /),
        );
      }
      assert.equal(await Deno.readTextFile(keyPath), corrupt);
    }
    await Deno.writeFile(keyPath, new Uint8Array([0x7b, 0xff, 0xfe]));
    await assert.rejects(authors.load(), rejectsWith("IDENTITY_CORRUPT", /not valid JSON/));
    await Deno.writeTextFile(keyPath, "x".repeat(5000));
    await assert.rejects(authors.load(), rejectsWith("IDENTITY_CORRUPT", /5000 bytes, far more/));
    await Deno.remove(keyPath);
    await Deno.mkdir(keyPath);
    await assert.rejects(authors.load(), rejectsWith("IDENTITY_UNREADABLE", /it is not a file/));
    for (const current of ["../x\n", "", "x".repeat(300)]) {
      await Deno.writeTextFile(join(dir, "current"), current);
      await assert.rejects(
        authors.load(),
        rejectsWith("IDENTITY_CORRUPT", /^Cannot read the current author from .*current: /),
      );
    }
  });
});

Deno.test("a data dir that is a file is a DATA_DIR_UNUSABLE error", async () => {
  await withTempDir(async (directory) => {
    const file = join(directory, "plain");
    await Deno.writeTextFile(file, "x");
    const authors = new AuthorKeys(new DataDir(file).authorsPath);
    await assert.rejects(authors.create("alice"), (error: unknown) => {
      assert.ok(error instanceof Error && "code" in error);
      assert.equal(error.code, "DATA_DIR_UNUSABLE");
      assert.match(error.message, /^Cannot create author alice in .*plain\/authors: /);
      return true;
    });
    assert.equal(await Deno.readTextFile(file), "x");
  });
});
