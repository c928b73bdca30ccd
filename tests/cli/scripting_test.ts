/**
 * The scripting contract of the `rhizome` program, as real child processes: a closed pipe on
 * stdout is not an internal error; `stop` is idempotent; a `run` that fails leaves nothing
 * behind; `get` prints the bytes unchanged; SIGHUP is logged and never kills the node silently.
 * Each case is one of issue 19's "scripting contract breaks".
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import denoConfig from "../../deno.json" with { type: "json" };
import { permissionFlags } from "../../scripts/compile.ts";
import { VirtualClock } from "../../src/core/clock.ts";
import { ExitStatus } from "../../src/core/errors.ts";
import { ControlApi } from "../../src/api/control_api.ts";
import { runCli } from "../../src/cli/main.ts";
import { FakeHandlers } from "../api/_fake_handlers.ts";
import { linesOf, runInProcess, runProcess, withTempDir } from "../_rhizome.ts";
import { immutable, openStore } from "../store/_store.ts";
import { killNode, startNode, waitFor } from "../_node_process.ts";
import { controlRoutes } from "../../src/api/routes.ts";

const mainPath = new URL("../../main.ts", import.meta.url).pathname;

/**
 * Runs `rhizome ARGS` with stdout on a pipe whose reader takes `readBytes` bytes, then closes
 * the pipe, as `| head -c N` does.
 */
async function runIntoClosedPipe(
  args: string[],
  readBytes: number,
): Promise<{ status: number; stderr: string; read: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissionFlags(denoConfig.tasks.rhizome), mainPath, ...args],
    env: { NO_COLOR: "1", HOME: Deno.env.get("HOME") ?? "/nonexistent" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  let read = 0;
  while (read < readBytes) {
    const { value, done } = await reader.read();
    if (done) break;
    read += value.length;
  }
  await reader.cancel();
  const status = await child.status;
  return { status: status.code, stderr: await stderr, read };
}

/** A data dir with an identity and `count` incompressible records of about 2 KiB each. */
async function dataDirWithRecords(directory: string, count: number): Promise<void> {
  const init = await runInProcess(["init", "--data-dir", directory]);
  assert.equal(init.status, 0, init.stderr);
  const { store } = openStore(directory, { clock: new VirtualClock(Date.now()) });
  for (let index = 0; index < count; index++) {
    const random = crypto.getRandomValues(new Uint8Array(1500));
    const record = immutable(`${index} ${btoa(String.fromCharCode(...random))}`);
    await store.putRecord(record.key, record.bytes);
  }
  await store.close();
}

Deno.test("snapshot export --out - into a pipe closed early exits 141 quietly, --json too", async () => {
  await withTempDir(async (directory) => {
    // About 400 KiB of snapshot: far more than a pipe's buffer, so the export must meet the
    // closed pipe whatever the timing.
    await dataDirWithRecords(directory, 200);
    for (const json of [[], ["--json"]]) {
      const args = ["snapshot", "export", "--out", "-", "--data-dir", directory, ...json];
      const result = await runIntoClosedPipe(args, 10);
      assert.ok(result.read >= 10, "the reader got the start of the snapshot");
      assert.equal(result.status, ExitStatus.outputClosed, result.stderr);
      assert.doesNotMatch(result.stderr, /Internal error|a bug in rhizome|at /);
      assert.equal(result.stderr, "", "nothing to say: the reader asked for it");
    }
  });
});

Deno.test("any result written to a closed stdout exits 141 with nothing on stderr", async () => {
  for (const args of [["version"], ["version", "--json"], ["help"]]) {
    let stderr = "";
    const status = await runCli(args, {
      env: {},
      stdout: () => {
        throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      },
      stderr: (text) => stderr += text,
    });
    assert.equal(status, ExitStatus.outputClosed, stderr);
    assert.equal(stderr, "");
  }
});

Deno.test("snapshot list --json is one object: the folder and its snapshots", async () => {
  await withTempDir(async (directory) => {
    const listed = await runInProcess(["snapshot", "list", directory, "--json"]);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), { directory, snapshots: [] });
  });
});

Deno.test("stop where no node runs says so and exits 0, also with a stale api.json", async () => {
  await withTempDir(async (directory) => {
    const text = await runInProcess(["stop", "--data-dir", directory]);
    assert.equal(text.status, 0, text.stderr);
    assert.equal(text.stdout, `no node is running with data dir ${directory}\n`);
    assert.equal(text.stderr, "");
    // A node that crashed left its api.json; nothing holds the lock.
    await Deno.writeTextFile(
      join(directory, "api.json"),
      JSON.stringify({ url: "http://127.0.0.1:9", pid: 1 }),
    );
    await Deno.writeTextFile(join(directory, "api.token"), "t".repeat(32));
    const json = await runInProcess(["stop", "--data-dir", directory, "--json"]);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { stopped: true, was_running: false });
  });
});

/** The names in `directory`, sorted; `undefined` when it does not exist. */
async function entriesOf(directory: string): Promise<string[] | undefined> {
  try {
    const names = [];
    for await (const entry of Deno.readDir(directory)) names.push(entry.name);
    return names.sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

Deno.test("a run that fails on a port in use leaves no data dir, identity nor store behind", async () => {
  await withTempDir(async (root) => {
    const busy = createSocket("udp4");
    await new Promise<void>((resolve) => busy.bind(0, "127.0.0.1", resolve));
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const udpPort = busy.address().port;
    const tcpPort = (tcp.addr as Deno.NetAddr).port;
    try {
      // A data dir that does not exist, two levels deep: neither level is left.
      const fresh = join(root, "parent", "fresh");
      const udpBusy = await runProcess([
        "run",
        "--data-dir",
        fresh,
        "--listen",
        `127.0.0.1:${udpPort}`,
        "--api",
        "127.0.0.1:0",
      ]);
      assert.equal(udpBusy.status, ExitStatus.failure, udpBusy.stderr);
      assert.match(
        udpBusy.stderr,
        /rhizome: Cannot listen on 127\.0\.0\.1:\d+: the port is in use/,
      );
      assert.equal(await entriesOf(join(root, "parent")), undefined, udpBusy.stderr);

      // A data dir that holds a config: only the config is left, after either port failed.
      const configured = join(root, "configured");
      await Deno.mkdir(configured);
      await Deno.writeTextFile(join(configured, "config.toml"), "# mine\n");
      for (
        const [listen, api] of [[`127.0.0.1:${udpPort}`, "127.0.0.1:0"], [
          "127.0.0.1:0",
          `127.0.0.1:${tcpPort}`,
        ]]
      ) {
        const run = await runProcess([
          "run",
          "--data-dir",
          configured,
          "--listen",
          listen,
          "--api",
          api,
        ]);
        assert.notEqual(run.status, 0, run.stderr);
        assert.deepEqual(await entriesOf(configured), ["config.toml"], run.stderr);
      }
      assert.equal(await Deno.readTextFile(join(configured, "config.toml")), "# mine\n");
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
      tcp.close();
    }
  });
});

/** Runs the CLI in this process, capturing stdout as bytes. */
async function runBytes(
  args: string[],
): Promise<{ status: number; stdout: Uint8Array; stderr: string }> {
  const chunks: Uint8Array[] = [];
  let stderr = "";
  const status = await runCli(args, {
    env: {},
    stdout: (text) => chunks.push(new TextEncoder().encode(text)),
    stdoutBytes: (bytes) => chunks.push(bytes.slice()),
    stderr: (text) => stderr += text,
  });
  const stdout = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    stdout.set(chunk, offset);
    offset += chunk.length;
  }
  return { status, stdout, stderr };
}

Deno.test("get writes the value's bytes unchanged, binary too; not found is a line on stderr", async () => {
  await withTempDir(async (dataDir) => {
    const node = new FakeHandlers();
    const text = "two lines\nno newline at the end";
    const binary = new Uint8Array([0, 255, 10, 0xc3, 0x28, 1]);
    node.stored.set("aa".repeat(20), new TextEncoder().encode(text));
    node.stored.set("bb".repeat(20), binary);
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: node,
    });
    try {
      const got = await runBytes(["get", "aa".repeat(20), "--data-dir", dataDir]);
      assert.equal(got.status, 0, got.stderr);
      assert.equal(new TextDecoder().decode(got.stdout), text);
      const raw = await runBytes(["get", "bb".repeat(20), "--data-dir", dataDir]);
      assert.equal(raw.status, 0, raw.stderr);
      assert.deepEqual(raw.stdout, binary);
      assert.equal(raw.stderr, "");
      const json = await runBytes(["get", "bb".repeat(20), "--data-dir", dataDir, "--json"]);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(json.stdout)), {
        key: "bb".repeat(20),
        found: true,
        value: null,
        value_base64url: btoa(String.fromCharCode(...binary))
          .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
      });
      const absent = await runBytes(["get", "cc".repeat(20), "--data-dir", dataDir]);
      assert.equal(absent.status, ExitStatus.failure);
      assert.equal(absent.stdout.length, 0, "nothing on stdout");
      assert.deepEqual(linesOf(absent.stderr), [
        `rhizome: Cannot get ${"cc".repeat(20)}: the network does not hold it`,
      ]);
      const absentJson = await runBytes(["get", "cc".repeat(20), "--data-dir", dataDir, "--json"]);
      assert.equal(absentJson.status, ExitStatus.failure);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(absentJson.stdout)), {
        key: "cc".repeat(20),
        found: false,
      });
    } finally {
      await api.close();
    }
  });
});

Deno.test("status for people is labelled lines, no JSON; --json is the report as it is", async () => {
  await withTempDir(async (dataDir) => {
    const node = new FakeHandlers();
    const api = await ControlApi.start({
      listen: { host: "127.0.0.1", port: 0 },
      dataDirPath: dataDir,
      handlers: node,
    });
    try {
      const text = await runInProcess(["status", "--data-dir", dataDir]);
      assert.equal(text.status, 0, text.stderr);
      const lines = linesOf(text.stdout);
      assert.match(lines[0], /^node +(ab){20} \(full\)$/);
      assert.ok(lines.some((line) => /^up +1 s$/.test(line)), text.stdout);
      assert.ok(lines.some((line) => /^peers +0 contacts in the routing table/.test(line)));
      assert.doesNotMatch(text.stdout, /[{}[\]]/, "no JSON blobs");
      const json = await runInProcess(["status", "--data-dir", dataDir, "--json"]);
      assert.deepEqual(JSON.parse(json.stdout), await node.status());
    } finally {
      await api.close();
    }
  });
});

Deno.test("SIGHUP reloads the configuration and the node keeps running; SIGTERM then stops it", async () => {
  await withTempDir(async (root) => {
    const dataDir = join(root, "node");
    await Deno.mkdir(dataDir);
    const configPath = join(dataDir, "config.toml");
    await Deno.writeTextFile(configPath, "[dht]\nwrite_quorum = 2\n");
    const node = await startNode(dataDir);
    try {
      await Deno.writeTextFile(configPath, "[dht]\nwrite_quorum = 3\n");
      node.child.kill("SIGHUP");
      await waitFor("the reload to be logged", () =>
        Promise.resolve(
          node.stderr().includes(
            "changed settings that take effect at the next start: " +
              "dht.write_quorum",
          ),
        ));
      assert.match(node.stderr(), /received SIGHUP: reloading the configuration/);
      // Still serving.
      const status = await (await node.client()).call(controlRoutes.status);
      assert.equal(status.node_id, node.nodeId);
      // `id` asks the running node: the contact with the port it bound (--listen 127.0.0.1:0),
      // not the configuration's.
      const id = await runProcess(["id", "--data-dir", dataDir, "--json"]);
      assert.equal(id.status, 0, id.stderr);
      assert.equal(JSON.parse(id.stdout).contact, node.contact);
      // A configuration that became invalid is reported, and the node runs on.
      await Deno.writeTextFile(configPath, "[dht]\nwrite_quorum = -1\n");
      node.child.kill("SIGHUP");
      await waitFor(
        "the refusal to be logged",
        () => Promise.resolve(node.stderr().includes("Cannot reload the configuration")),
      );
      assert.equal((await (await node.client()).call(controlRoutes.status)).node_id, node.nodeId);
      node.child.kill("SIGTERM");
      assert.equal(await node.exited, 0, node.stderr());
    } finally {
      await killNode(node);
    }
  });
});

Deno.test("a node whose stderr and stdout readers went away keeps running, and stops cleanly", async () => {
  await withTempDir(async (dataDir) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...permissionFlags(denoConfig.tasks.rhizome),
        mainPath,
        "run",
        "--data-dir",
        dataDir,
        "--listen",
        "127.0.0.1:0",
        "--api",
        "127.0.0.1:0",
        "--log-level",
        "debug",
      ],
      env: { NO_COLOR: "1", HOME: Deno.env.get("HOME") ?? "/nonexistent" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Both pipes closed before the node wrote a line: every later write meets EPIPE.
    await child.stdout.cancel();
    await child.stderr.cancel();
    try {
      await waitFor("the node to answer", async () => {
        const status = await runInProcess(["status", "--data-dir", dataDir, "--json"]);
        return status.status === 0;
      });
      const stopped = await runInProcess(["stop", "--data-dir", dataDir]);
      assert.equal(stopped.status, 0, stopped.stderr);
      assert.equal((await child.status).code, 0, "a clean stop, not 141 nor 70");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
    }
  });
});
