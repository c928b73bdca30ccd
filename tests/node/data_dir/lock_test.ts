/**
 * One node per data directory: a second lock fails with a clear message, in this process or from
 * another; a lock file left by a process that is gone (exited, killed, or whose PID now belongs
 * to someone else) is taken over with a log line; release is idempotent and removes only our own
 * lock file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DataDirError } from "../../../src/core/errors.ts";
import type { Log, LogFields } from "../../../src/core/log.ts";
import { acquireDataDirLock } from "../../../src/node/data_dir/lock.ts";
import { DATA_DIR_FILES } from "../../../src/node/data_dir/paths.ts";
import { withTempDir } from "../../_rhizome.ts";

/** A logger that keeps what it is given. */
function recordingLog(): Log & { lines: { message: string; fields?: LogFields }[] } {
  const lines: { message: string; fields?: LogFields }[] = [];
  const keep = (message: string, fields?: LogFields) => lines.push({ message, fields });
  return {
    lines,
    trace: keep,
    debug: keep,
    info: keep,
    warning: keep,
    error: keep,
    fatal: keep,
  };
}

async function rejectsAsHeld(promise: Promise<unknown>, directory: string, pid: number | string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DataDirError, String(error));
    assert.equal(error.code, "DATA_DIR_UNUSABLE");
    assert.equal(
      error.message,
      `Cannot use data directory ${directory}: another rhizome (pid ${pid}) is running there`,
    );
    return true;
  });
}

Deno.test("acquireDataDirLock() writes our PID; release() removes it, twice is fine", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, DATA_DIR_FILES.lock);
    const log = recordingLog();
    const lock = await acquireDataDirLock(directory, { log });
    assert.equal(lock.path, path);
    assert.equal(lock.held, true);
    assert.equal(lock.takenOverFromPid, undefined);
    assert.equal(await Deno.readTextFile(path), `${Deno.pid}\n`);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await lock.release();
    assert.equal(lock.held, false);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    await lock.release();
    assert.deepEqual(log.lines, [], "a clean start logs nothing");
    const again = await acquireDataDirLock(directory, { log });
    await again.release();
  });
});

Deno.test("a second lock on the same data dir fails with a clear message", async () => {
  await withTempDir(async (directory) => {
    const lock = await acquireDataDirLock(directory, { log: recordingLog() });
    try {
      await rejectsAsHeld(acquireDataDirLock(directory), directory, Deno.pid);
      assert.equal(lock.held, true);
      assert.equal(await Deno.readTextFile(lock.path), `${Deno.pid}\n`, "the holder is untouched");
    } finally {
      await lock.release();
    }
  });
});

Deno.test("a lock file left by an exited process is taken over with a log line", async () => {
  await withTempDir(async (directory) => {
    const exited = new Deno.Command("true").spawn();
    await exited.status;
    const path = join(directory, DATA_DIR_FILES.lock);
    await Deno.writeTextFile(path, `${exited.pid}\n`);
    const log = recordingLog();
    const lock = await acquireDataDirLock(directory, { log });
    try {
      assert.equal(lock.takenOverFromPid, exited.pid);
      assert.equal(await Deno.readTextFile(path), `${Deno.pid}\n`);
      assert.equal(log.lines.length, 1);
      assert.match(log.lines[0].message, /^Took over the lock file \{path\} left by pid \{pid\}/);
      assert.deepEqual(log.lines[0].fields, { path, pid: exited.pid });
    } finally {
      await lock.release();
    }
  });
});

Deno.test("a lock file naming a live PID that holds no lock (reused) is taken over", async () => {
  await withTempDir(async (directory) => {
    const path = join(directory, DATA_DIR_FILES.lock);
    for (const [text, pid] of [["1\n", 1], ["", undefined], ["garbage", undefined]] as const) {
      await Deno.writeTextFile(path, text);
      const log = recordingLog();
      const lock = await acquireDataDirLock(directory, { log });
      assert.equal(lock.takenOverFromPid, pid, JSON.stringify(text));
      assert.deepEqual(log.lines[0].fields, { path, pid: pid ?? "unknown" });
      await lock.release();
    }
  });
});

Deno.test("of many racing for a free or stale lock, exactly one wins", async () => {
  await withTempDir(async (directory) => {
    for (const stale of [false, true]) {
      if (stale) await Deno.writeTextFile(join(directory, DATA_DIR_FILES.lock), "1\n");
      const attempts = await Promise.allSettled(
        Array.from({ length: 20 }, () => acquireDataDirLock(directory, { log: recordingLog() })),
      );
      const winners = attempts.filter((attempt) => attempt.status === "fulfilled");
      assert.equal(winners.length, 1, `stale: ${stale}`);
      for (const attempt of attempts) {
        if (attempt.status === "rejected") {
          // The winner's PID; "unknown" only if it had not written it 50 ms after locking.
          const holder = new RegExp(`another rhizome \\(pid (${Deno.pid}|unknown)\\) is running`);
          assert.match(String(attempt.reason), holder);
        }
      }
      await winners[0].value.release();
    }
  });
});

Deno.test("release() leaves a lock file that is no longer ours", async () => {
  await withTempDir(async (directory) => {
    const log = recordingLog();
    const lock = await acquireDataDirLock(directory, { log });
    await Deno.remove(lock.path);
    await Deno.writeTextFile(lock.path, "12345\n");
    await lock.release();
    assert.equal(await Deno.readTextFile(lock.path), "12345\n");
    assert.deepEqual(log.lines, []);
  });
});

Deno.test("acquireDataDirLock() on a missing data dir fails with DataDirError", async () => {
  await withTempDir(async (directory) => {
    const missing = join(directory, "missing");
    await assert.rejects(acquireDataDirLock(missing), (error: unknown) => {
      assert.ok(error instanceof DataDirError, String(error));
      assert.equal(
        error.message,
        `Cannot lock data directory ${missing}: cannot open node.lock: it does not exist`,
      );
      return true;
    });
  });
});

const lockModuleUrl = new URL("../../../src/node/data_dir/lock.ts", import.meta.url).href;

/** A `deno` child that takes the lock, says "locked", and releases it when its stdin closes. */
async function childHoldingLock(directory: string) {
  const code = `import { acquireDataDirLock } from ${JSON.stringify(lockModuleUrl)};
const lock = await acquireDataDirLock(${JSON.stringify(directory)});
console.log("locked");
for await (const _ of Deno.stdin.readable);
await lock.release();`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: new URL("../../..", import.meta.url).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("locked\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the child ended before locking: ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(value);
  }
  const finish = async () => {
    await child.status;
    await reader.cancel();
  };
  return { child, finish };
}

Deno.test("a child process holding the lock blocks the parent until it releases", async () => {
  await withTempDir(async (directory) => {
    const { child, finish } = await childHoldingLock(directory);
    try {
      await rejectsAsHeld(acquireDataDirLock(directory), directory, child.pid);
    } finally {
      await child.stdin.close();
      await finish();
    }
    assert.equal((await child.status).code, 0);
    const log = recordingLog();
    const lock = await acquireDataDirLock(directory, { log });
    assert.equal(lock.takenOverFromPid, undefined, "a clean release leaves no lock file");
    assert.deepEqual(log.lines, []);
    await lock.release();
  });
});

Deno.test("the lock of a child killed with SIGKILL is taken over", async () => {
  await withTempDir(async (directory) => {
    const { child, finish } = await childHoldingLock(directory);
    child.kill("SIGKILL");
    await child.stdin.close().catch(() => {});
    await finish();
    const log = recordingLog();
    const lock = await acquireDataDirLock(directory, { log });
    try {
      assert.equal(lock.takenOverFromPid, child.pid);
      assert.equal(log.lines.length, 1);
    } finally {
      await lock.release();
    }
  });
});
