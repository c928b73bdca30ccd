/**
 * The systemd units in packaging/systemd: `systemd-analyze verify` accepts them with no warning
 * (every key known, every value parsed; the units are copied with ExecStart pointing at an
 * executable that exists, since /usr/local/bin/rhizome does not here), and their structure
 * gives what the daemon needs: SIGHUP reloads, SIGTERM stops, the data dir is the state
 * directory, the hardening is on, and the snapshot timer exports beside the node as its user.
 * Where systemd-analyze is missing only the structural checks run (the verify test is ignored).
 * Then the units' ExecStart lines are run here with their Environment= (paths moved into a
 * temporary root, the command a launcher of this checkout): the node, a snapshot beside it, and
 * the KillSignal.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import denoConfig from "../../deno.json" with { type: "json" };
import { permissionFlags } from "../../scripts/compile.ts";
import { posixLauncher } from "../../scripts/install.ts";
import { withTempDir } from "../_rhizome.ts";

const directory = new URL("../../packaging/systemd/", import.meta.url).pathname;
const unitNames = ["rhizome.service", "rhizome-snapshot.service", "rhizome-snapshot.timer"];
const hasSystemdAnalyze = (() => {
  try {
    return new Deno.Command("systemd-analyze", { args: ["--version"] }).outputSync().success;
  } catch {
    return false;
  }
})();

/** A unit file's settings: section → key → values in order (comments and blanks dropped). */
async function readUnit(name: string): Promise<Map<string, Map<string, string[]>>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const line of (await Deno.readTextFile(join(directory, name))).split("\n")) {
    if (line.trim() === "" || /^\s*[#;]/.test(line)) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = new Map();
      sections.set(header[1], section);
      continue;
    }
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(match && section, `${name}: not a setting: ${line}`);
    section.set(match[1], [...section.get(match[1]) ?? [], match[2]]);
  }
  return sections;
}

function only(unit: Map<string, Map<string, string[]>>, section: string, key: string): string {
  const values = unit.get(section)?.get(key) ?? [];
  assert.equal(values.length, 1, `one ${key}= in [${section}]`);
  return values[0];
}

Deno.test({
  name: "systemd-analyze verify accepts the units without a warning",
  ignore: !hasSystemdAnalyze,
  async fn() {
    await withTempDir(async (temporary) => {
      const rhizome = join(temporary, "rhizome");
      await Deno.writeTextFile(rhizome, "#!/bin/sh\n", { mode: 0o755 });
      await Deno.chmod(rhizome, 0o755);
      for (const name of unitNames) {
        const text = await Deno.readTextFile(join(directory, name));
        await Deno.writeTextFile(
          join(temporary, name),
          text.replaceAll("/usr/local/bin/rhizome ", `${rhizome} `),
        );
      }
      const result = await new Deno.Command("systemd-analyze", {
        args: ["verify", ...unitNames.map((name) => join(temporary, name))],
        env: { SYSTEMD_LOG_COLOR: "0" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(result.stderr) +
        new TextDecoder().decode(result.stdout);
      assert.equal(result.code, 0, output);
      assert.equal(output, "", "no warning");
      // The check itself notices a mistake.
      await Deno.writeTextFile(
        join(temporary, "broken.service"),
        "[Service]\nExecStart=/bin/true\nProtectSystem=bogus\n",
      );
      const broken = await new Deno.Command("systemd-analyze", {
        args: ["verify", join(temporary, "broken.service")],
        stderr: "piped",
      }).output();
      assert.match(new TextDecoder().decode(broken.stderr), /protect system value/);
    });
  },
});

Deno.test("rhizome.service: SIGHUP reloads, SIGTERM stops cleanly, state in /var/lib/rhizome", async () => {
  const unit = await readUnit("rhizome.service");
  assert.equal(only(unit, "Service", "ExecStart"), "/usr/local/bin/rhizome run");
  assert.equal(only(unit, "Service", "ExecReload"), "/bin/kill -HUP $MAINPID");
  assert.equal(only(unit, "Service", "KillSignal"), "SIGTERM");
  assert.ok(Number.parseInt(only(unit, "Service", "TimeoutStopSec")) > 5, "longer than 5 s");
  assert.match(only(unit, "Service", "Type"), /^(exec|simple|notify)$/);
  assert.equal(only(unit, "Service", "Restart"), "on-failure");
  assert.equal(only(unit, "Service", "StateDirectory"), "rhizome");
  assert.ok(
    unit.get("Service")!.get("Environment")!.includes("RHIZOME_DATA_DIR=/var/lib/rhizome"),
    "the data dir is the state directory",
  );
  assert.equal(only(unit, "Install", "WantedBy"), "multi-user.target");
  assert.equal(only(unit, "Unit", "After"), "network-online.target");
});

Deno.test("both services run hardened, as the same unprivileged user", async () => {
  for (const name of ["rhizome.service", "rhizome-snapshot.service"]) {
    const unit = await readUnit(name);
    const expected: Record<string, string> = {
      DynamicUser: "yes",
      User: "rhizome",
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      RestrictSUIDSGID: "yes",
      CapabilityBoundingSet: "",
      SystemCallFilter: "@system-service",
      UMask: "0077",
    };
    for (const [key, value] of Object.entries(expected)) {
      assert.equal(only(unit, "Service", key), value, `${name}: ${key}`);
    }
    // V8 compiles JavaScript to machine code at run time: this would kill the node.
    assert.ok(!unit.get("Service")!.has("MemoryDenyWriteExecute"), name);
  }
});

Deno.test("the snapshot timer exports hourly beside the node, keeping 24", async () => {
  const service = await readUnit("rhizome-snapshot.service");
  const timer = await readUnit("rhizome-snapshot.timer");
  assert.equal(only(service, "Service", "Type"), "oneshot");
  assert.equal(
    only(service, "Service", "ExecStart"),
    "/usr/local/bin/rhizome snapshot export --out /var/lib/rhizome-snapshots --keep 24 --quiet",
  );
  assert.equal(only(service, "Service", "StateDirectory"), "rhizome rhizome-snapshots");
  assert.equal(only(timer, "Timer", "OnCalendar"), "hourly");
  assert.equal(only(timer, "Timer", "Persistent"), "true");
  assert.equal(only(timer, "Install", "WantedBy"), "timers.target");
});

/** `/usr/local/bin/rhizome` and the state and cache directories, mapped into `root`. */
function hostPaths(root: string, launcher: string): (text: string) => string {
  return (text) =>
    text.replaceAll("/usr/local/bin/rhizome", launcher)
      .replaceAll("/var/lib/", `${root}/var/lib/`)
      .replaceAll("/var/cache/", `${root}/var/cache/`);
}

Deno.test("the units' commands, acted out here: the node starts, the snapshot runs beside it, SIGTERM stops it", async () => {
  const service = await readUnit("rhizome.service");
  const snapshot = await readUnit("rhizome-snapshot.service");
  await withTempDir(async (root) => {
    const launcher = join(root, "rhizome");
    await Deno.writeTextFile(
      launcher,
      posixLauncher({
        denoPath: Deno.execPath(),
        repository: new URL("../..", import.meta.url).pathname.replace(/\/$/, ""),
        permissions: permissionFlags(denoConfig.tasks.rhizome),
        denoVersion: Deno.version.deno,
      }),
      { mode: 0o755 },
    );
    await Deno.chmod(launcher, 0o755);
    const map = hostPaths(root, launcher);
    // What systemd creates before ExecStart: StateDirectory= and CacheDirectory=, mode 0700.
    for (const unit of [service, snapshot]) {
      for (const name of only(unit, "Service", "StateDirectory").split(" ")) {
        await Deno.mkdir(join(root, "var/lib", name), { recursive: true, mode: 0o700 });
      }
      await Deno.mkdir(join(root, "var/cache", only(unit, "Service", "CacheDirectory")), {
        recursive: true,
      });
    }
    const environment = (unit: Map<string, Map<string, string[]>>) => ({
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      ...Object.fromEntries(
        unit.get("Service")!.get("Environment")!.map((pair) => pair.split("=").map(map)),
      ),
    });
    const words = (line: string) => map(line).split(" ");
    const [program, ...args] = words(only(service, "Service", "ExecStart"));
    const node = new Deno.Command(program, {
      // Loopback and free ports in the test; the unit listens on the configured 0.0.0.0:7447.
      args: [...args, "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0"],
      env: environment(service),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = new Response(node.stderr).text();
    try {
      const status = async () =>
        (await new Deno.Command(launcher, {
          args: ["status", "--data-dir", join(root, "var/lib/rhizome")],
          env: { NO_COLOR: "1" },
          stdout: "null",
          stderr: "null",
        }).output()).code;
      let up = false;
      for (let tries = 0; tries < 100 && !up; tries++) {
        up = await status() === 0;
        if (!up) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(up, "the node in the state directory answers status");
      const [snapshotProgram, ...snapshotArgs] = words(only(snapshot, "Service", "ExecStart"));
      const exported = await new Deno.Command(snapshotProgram, {
        args: snapshotArgs,
        env: environment(snapshot),
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(exported.code, 0, new TextDecoder().decode(exported.stderr));
      assert.equal(new TextDecoder().decode(exported.stdout), "", "--quiet");
      const files = [...Deno.readDirSync(join(root, "var/lib/rhizome-snapshots"))];
      assert.equal(files.length, 1);
      assert.match(files[0].name, /^rhizome-.*\.snapshot\.gz$/);
      node.kill(only(service, "Service", "KillSignal") as Deno.Signal);
      assert.equal((await node.status).code, 0, "KillSignal stops the node cleanly");
      assert.notEqual(await status(), 0);
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
