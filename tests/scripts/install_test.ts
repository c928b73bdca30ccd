/**
 * `deno task install`: on a fresh copy of the checkout (no node_modules) with the network cut off
 * (a proxy on a closed port), it writes a `rhizome` launcher into a temporary root; the launcher,
 * found on PATH, runs from another directory without a word of Deno's own on stderr, resolves
 * relative paths from that directory (a node started, stopped, exported and verified there), and
 * passes its arguments through exactly. With Deno's cache empty it fails in one line and writes
 * nothing; it refuses a file it did not write, bad names and unknown flags.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import denoConfig from "../../deno.json" with { type: "json" };
import {
  explainDenoFailure,
  INSTALLED_STAMP,
  LAUNCHER_MARKER,
  type LauncherSpec,
  posixLauncher,
  windowsLauncher,
} from "../../scripts/install.ts";
import { permissionFlags } from "../../scripts/compile.ts";
import { withTempDir } from "../_rhizome.ts";

const root = new URL("../..", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Every request through this proxy fails at once: the registry is out of reach. */
const offline = { HTTP_PROXY: "http://127.0.0.1:9", HTTPS_PROXY: "http://127.0.0.1:9" };

/** Copies what a fresh clone holds of the program (no node_modules) into `target`. */
async function freshCheckout(target: string): Promise<void> {
  for (const name of ["deno.json", "deno.lock", "main.ts", "src", "scripts"]) {
    const status = await new Deno.Command("cp", { args: ["-R", join(root, name), target] })
      .output();
    assert.ok(status.success, `copying ${name}`);
  }
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const result = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    status: result.code,
    stdout: decoder.decode(result.stdout),
    stderr: decoder.decode(result.stderr),
  };
}

/** Runs the checkout's install script as `deno task install` does. */
function install(checkout: string, args: string[], env: Record<string, string> = {}) {
  return run(Deno.execPath(), [
    "run",
    ...permissionFlags(denoConfig.tasks.install),
    join(checkout, "scripts/install.ts"),
    ...args,
  ], { cwd: checkout, env: { ...offline, ...env } });
}

Deno.test("the install task runs the script with read, write, env and run only", () => {
  assert.deepEqual(permissionFlags(denoConfig.tasks.install), [
    "--no-prompt",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
  ]);
  assert.ok(denoConfig.tasks.install.endsWith("scripts/install.ts"));
});

Deno.test("an installed rhizome runs offline from another directory, quietly, with relative paths", async () => {
  await withTempDir(async (directory) => {
    const checkout = join(directory, "checkout");
    const installRoot = join(directory, "root");
    const elsewhere = join(directory, "elsewhere");
    await Deno.mkdir(checkout);
    await Deno.mkdir(elsewhere);
    await freshCheckout(checkout);

    const installed = await install(checkout, ["--root", installRoot, "--json"]);
    assert.equal(installed.status, 0, installed.stderr);
    const report = JSON.parse(installed.stdout);
    const launcher = join(installRoot, "bin", "rhizome");
    assert.equal(report.path, launcher);
    assert.equal(report.repository, checkout);
    assert.equal(report.on_path, false);
    assert.deepEqual(report.permissions, permissionFlags(denoConfig.tasks.rhizome));
    assert.equal((await Deno.stat(launcher)).mode! & 0o777, 0o755);

    const path = `${join(installRoot, "bin")}:${Deno.env.get("PATH")}`;
    // The proxy stays set: the control client exempts its loopback API (NO_PROXY).
    const env = { ...offline, PATH: path };
    const version = await run("rhizome", ["version", "--json"], { cwd: elsewhere, env });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(JSON.parse(version.stdout).version, denoConfig.version);
    assert.equal(version.stderr, "", "no Task, Initialize or approve-scripts lines");
    // As under systemd: an empty DENO_DIR of its own, still offline and quiet.
    const service = await run("rhizome", ["version"], {
      cwd: elsewhere,
      env: { ...env, DENO_DIR: join(directory, "service-deno-dir") },
    });
    assert.equal(service.status, 0, service.stderr);
    assert.equal(service.stderr, "");

    // A pull that changes deno.lock (newer than the stamp): the next call lays node_modules out
    // again, quietly, and renews the stamp.
    const stamp = join(checkout, INSTALLED_STAMP);
    const lock = (await Deno.stat(join(checkout, "deno.lock"))).mtime!;
    const earlier = new Date(lock.getTime() - 60_000);
    await Deno.utime(stamp, earlier, earlier);
    const pulled = await run("rhizome", ["version"], { cwd: elsewhere, env });
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.equal(pulled.stderr, "");
    assert.ok((await Deno.stat(stamp)).mtime!.getTime() >= lock.getTime(), "the stamp renewed");
    // The same with the packages gone from the cache and no network: one line, exit 1.
    await Deno.remove(join(checkout, "node_modules"), { recursive: true });
    const stranded = await run("rhizome", ["version"], {
      cwd: elsewhere,
      env: { ...env, DENO_DIR: join(directory, "empty-deno-dir") },
    });
    assert.equal(stranded.status, 1);
    assert.equal(
      stranded.stderr,
      `rhizome: the dependencies of ${checkout} changed and could not be installed; run 'deno task install' there\n`,
    );
    const reinstalled = await install(checkout, ["--root", installRoot]);
    assert.equal(reinstalled.status, 0, reinstalled.stderr);

    // A node started here with a relative data dir; its snapshot exported and verified here.
    const node = new Deno.Command("rhizome", {
      args: [
        "run",
        "--json",
        "--data-dir",
        "data",
        "--listen",
        "127.0.0.1:0",
        "--api",
        "127.0.0.1:0",
      ],
      cwd: elsewhere,
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderrText = new Response(node.stderr).text();
    const lines = node.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    for (let reads = 0; reads < 100 && !first.includes("\n"); reads++) {
      const { value, done } = await lines.read();
      if (done) break;
      first += value;
    }
    assert.ok(first.includes("\n"), `the node printed its contact: ${first}`);
    assert.match(JSON.parse(first).contact, /^rhz:\/\//);
    const stopped = await run("rhizome", ["stop", "--data-dir", "data"], { cwd: elsewhere, env });
    assert.equal(stopped.status, 0, stopped.stderr);
    while (!(await lines.read()).done) { /* drained */ }
    assert.equal((await node.status).code, 0);
    await stderrText;
    assert.ok((await Deno.stat(join(elsewhere, "data", "records.mdb"))).isFile);

    const exported = await run(
      "rhizome",
      ["snapshot", "export", "--data-dir", "data", "--out", "backup.snapshot.gz", "--json"],
      { cwd: elsewhere, env },
    );
    assert.equal(exported.status, 0, exported.stderr);
    assert.equal(JSON.parse(exported.stdout).path, join(elsewhere, "backup.snapshot.gz"));
    const verified = await run("rhizome", ["snapshot", "verify", "backup.snapshot.gz", "--json"], {
      cwd: elsewhere,
      env,
    });
    assert.equal(verified.status, 0, verified.stderr);
    assert.equal(JSON.parse(verified.stdout).sound, true);

    // Installing again replaces our own launcher; --uninstall removes it.
    const again = await install(checkout, ["--root", installRoot]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /^installed .*\/root\/bin\/rhizome \(runs /);
    assert.match(again.stderr, /is not on PATH; add it/);
    const removed = await install(checkout, ["--root", installRoot, "--uninstall"]);
    assert.equal(removed.status, 0, removed.stderr);
    await assert.rejects(Deno.stat(launcher), Deno.errors.NotFound);
  });
});

Deno.test("install with Deno's cache empty and no network fails in one line and writes nothing", async () => {
  await withTempDir(async (directory) => {
    const checkout = join(directory, "checkout");
    await Deno.mkdir(checkout);
    await freshCheckout(checkout);
    const denoDir = join(directory, "deno-dir");
    const result = await install(checkout, ["--root", join(directory, "root")], {
      DENO_DIR: denoDir,
    });
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      "Cannot install: the npm packages are not in Deno's cache and the registry cannot be reached; run `deno task install` once with network access\n",
    );
    await assert.rejects(Deno.stat(join(directory, "root")), Deno.errors.NotFound);
  });
});

Deno.test("install refuses a file it did not write, bad names and unknown flags", async () => {
  await withTempDir(async (directory) => {
    const bin = join(directory, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(join(bin, "rhizome"), "#!/bin/sh\necho someone else's\n");
    const foreign = await install(root, ["--root", directory]);
    assert.equal(foreign.status, 1);
    assert.equal(
      foreign.stderr,
      `Cannot install: ${
        join(bin, "rhizome")
      } exists and was not written by deno task install (pass --force to replace it)\n`,
    );
    assert.equal(await Deno.readTextFile(join(bin, "rhizome")), "#!/bin/sh\necho someone else's\n");
    const notOurs = await install(root, ["--root", directory, "--uninstall"]);
    assert.equal(notOurs.status, 1);
    assert.equal(
      notOurs.stderr,
      `Cannot uninstall: ${join(bin, "rhizome")} exists and was not written by deno task install\n`,
    );

    const badName = await install(root, ["--root", directory, "--name", "../evil"]);
    assert.equal(badName.status, 2);
    assert.match(badName.stderr, /^install: --name must be one word/);
    const flag = await install(root, ["--frob"]);
    assert.equal(flag.status, 2);
    assert.equal(flag.stderr.split("\n").filter(Boolean).length, 1);
    const absent = await install(root, ["--root", join(directory, "none"), "--uninstall"]);
    assert.equal(absent.status, 1);
    assert.match(absent.stderr, /^Cannot uninstall: .* does not exist\n$/);
  });
});

Deno.test("the launcher passes every argument through unchanged, quoting odd paths", async () => {
  await withTempDir(async (directory) => {
    // A stand-in for deno that prints its arguments, one per line.
    const fakeDeno = join(directory, "fake deno");
    await Deno.writeTextFile(fakeDeno, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
    await Deno.chmod(fakeDeno, 0o755);
    const spec: LauncherSpec = {
      denoPath: fakeDeno,
      repository: join(directory, "it's a checkout"),
      permissions: ["--no-prompt", "--allow-read"],
      denoVersion: "2.9.6",
    };
    await Deno.mkdir(join(spec.repository, "node_modules"), { recursive: true });
    await Deno.writeTextFile(join(spec.repository, INSTALLED_STAMP), "");
    const launcher = join(directory, "rhizome");
    await Deno.writeTextFile(launcher, posixLauncher(spec), { mode: 0o755 });
    await Deno.chmod(launcher, 0o755);
    const args = ["post", "3f2a", "two words", "it's", "$HOME", "*", ""];
    const result = await run(launcher, args, { cwd: directory });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stdout.split("\n").slice(0, -1), [
      "run",
      "--node-modules-dir=manual",
      "--no-prompt",
      "--allow-read",
      "--config",
      join(spec.repository, "deno.json"),
      join(spec.repository, "main.ts"),
      ...args,
    ]);
    assert.ok(posixLauncher(spec).split("\n")[1] === LAUNCHER_MARKER);
    const cmd = windowsLauncher({ ...spec, denoPath: "C:\\deno\\deno.exe" });
    assert.ok(cmd.includes("\r\n"));
    assert.match(
      cmd,
      /^"C:\\deno\\deno.exe" run --node-modules-dir=manual --no-prompt --allow-read --config ".*" %\*\r$/m,
    );
  });
});

Deno.test("explainDenoFailure() names a stale lock, a missing network or the error in one line", () => {
  assert.equal(
    explainDenoFailure("deno install", "error: The lockfile is out of date. Run `deno install`"),
    "Cannot install: deno.lock does not match deno.json (deno install refused to change the frozen lock)",
  );
  assert.match(
    explainDenoFailure(
      "deno install",
      "error: Failed fetching registry info for npm:lmdb\n\nCaused by: error sending request",
    ),
    /registry cannot be reached; run `deno task install` once with network access$/,
  );
  assert.equal(
    explainDenoFailure("deno cache", 'Check main.ts\nerror: Module not found "file:///x.ts".'),
    'Cannot install: deno cache: Module not found "file:///x.ts".',
  );
});

Deno.test("the README's quick start works as written on a fresh checkout", async () => {
  const readme = await Deno.readTextFile(join(root, "README.md"));
  const block = /## Quick start\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "the README has a Quick start block");
  const commands = block.split("\n").map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line !== "");
  assert.equal(commands.length, 5, "five commands");
  assert.equal(commands[0], "deno task install");
  assert.equal(commands[1], "rhizome run");
  const denoDir = JSON.parse(
    (await run(Deno.execPath(), ["info", "--json"])).stdout,
  ).denoDir as string;
  await withTempDir(async (directory) => {
    const checkout = join(directory, "checkout");
    const home = join(directory, "home");
    await Deno.mkdir(checkout);
    await Deno.mkdir(home);
    await freshCheckout(checkout);
    // A new user: an empty home, Deno's cache where it was filled, no network.
    const env = {
      ...offline,
      HOME: home,
      DENO_DIR: denoDir,
      PATH: `${join(home, ".deno", "bin")}:${Deno.env.get("PATH")}`,
    };
    const shell = (line: string) => run("sh", ["-c", line], { cwd: home, env });
    const installed = await run("sh", ["-c", commands[0]], { cwd: checkout, env });
    assert.equal(installed.status, 0, installed.stderr);
    assert.equal(
      (await shell("command -v rhizome")).stdout.trim(),
      join(home, ".deno/bin/rhizome"),
    );
    // `rhizome run` as written, on loopback and free ports for the test.
    const node = new Deno.Command("sh", {
      args: ["-c", `exec ${commands[1]} --listen 127.0.0.1:0 --api 127.0.0.1:0`],
      cwd: home,
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = new Response(node.stderr).text();
    try {
      let up = false;
      for (let tries = 0; tries < 100 && !up; tries++) {
        up = (await shell("rhizome status")).status === 0;
        if (!up) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(up, "the node answers status");
      for (const line of commands.slice(2)) {
        const result = await shell(line);
        assert.equal(result.status, 0, `${line}: ${result.stderr}`);
      }
      const listed = await shell(commands[4]);
      assert.match(listed.stdout, /Hello/);
      assert.equal((await shell("rhizome stop")).status, 0);
      assert.equal((await node.status).code, 0);
    } finally {
      try {
        node.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await node.status;
      await log;
    }
  });
});
