/**
 * The CLI as a whole, run in this process: command and flag parsing, exit statuses, help, and
 * each command's results and failures. Every failure must be one line on stderr and a stable
 * exit status, and must change nothing on disk.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ExitStatus } from "../../src/core/errors.ts";
import { linesOf, runInProcess, withTempDir } from "../_rhizome.ts";

Deno.test("rhizome with no arguments prints the command list and succeeds", async () => {
  const run = await runInProcess([]);
  assert.equal(run.status, 0);
  assert.match(run.stdout, /Commands:/);
  for (const name of ["run", "init", "id", "config", "version", "help"]) {
    assert.match(run.stdout, new RegExp(`\\n  ${name} `));
  }
  assert.match(run.stdout, /Exit status:/);
});

Deno.test("rhizome help COMMAND and COMMAND --help print the command's page", async () => {
  const viaHelp = await runInProcess(["help", "init"]);
  const viaFlag = await runInProcess(["init", "--help"]);
  assert.equal(viaHelp.status, 0);
  assert.equal(viaHelp.stdout, viaFlag.stdout);
  assert.match(viaHelp.stdout, /^Usage: rhizome init \[--force\]/);
  assert.match(viaHelp.stdout, /--data-dir DIR/);
  assert.match(viaHelp.stdout, /Examples:/);
});

Deno.test("a command that calls a running node names its control API routes in help", async () => {
  const pages: [string, string][] = [
    ["status", "Control API: GET /v1/status"],
    ["get", "Control API: GET /v1/get/KEY"],
    ["post", "Control API: POST /v1/posts"],
    ["profile", "Control API: POST /v1/profile, GET /v1/profiles/AUTHOR"],
  ];
  for (const [command, line] of pages) {
    const run = await runInProcess(["help", command]);
    assert.equal(run.status, 0);
    assert.ok(linesOf(run.stdout).includes(line), run.stdout);
  }
  assert.doesNotMatch((await runInProcess(["help", "init"])).stdout, /Control API:/);
});

Deno.test("rhizome help of an unknown command is a usage error", async () => {
  const run = await runInProcess(["help", "frobnicate"]);
  assert.equal(run.status, ExitStatus.usage);
  assert.deepEqual(linesOf(run.stderr), [
    `rhizome: unknown command "frobnicate" (run 'rhizome help' for the list)`,
  ]);
});

Deno.test("rhizome version prints the version in text and JSON", async () => {
  const text = await runInProcess(["version"]);
  assert.equal(text.status, 0);
  assert.match(text.stdout, /^rhizome \d+\.\d+\.\d+ \(deno /);
  const json = await runInProcess(["version", "--json"]);
  const info = JSON.parse(json.stdout);
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.equal(info.deno, Deno.version.deno);
  assert.deepEqual(await runInProcess(["--version"]), text);
});

Deno.test("an unknown command prints one line naming it and exits 2", async () => {
  const run = await runInProcess(["frobnicate", "--data-dir", "/tmp/x"]);
  assert.equal(run.status, ExitStatus.usage);
  assert.equal(run.stdout, "");
  assert.deepEqual(linesOf(run.stderr), [
    `rhizome: unknown command "frobnicate" (run 'rhizome help' for the list)`,
  ]);
});

Deno.test("an unknown flag prints one line naming it and the command's help, exits 2", async () => {
  for (const args of [["id", "--bogus"], ["--bogus", "id"], ["init", "--force=yes"]]) {
    const run = await runInProcess(args);
    assert.equal(run.status, ExitStatus.usage, args.join(" "));
    const lines = linesOf(run.stderr);
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], /^rhizome: (unknown flag --bogus|flag --force takes no value)/);
    assert.match(lines[0], /\(see 'rhizome help (id|init)'\)$/);
  }
});

Deno.test("a string flag without its value is a usage error", async () => {
  const run = await runInProcess(["id", "--data-dir"]);
  assert.equal(run.status, ExitStatus.usage);
  assert.match(run.stderr, /^rhizome: flag --data-dir needs a value \(--data-dir DIR\)/);
});

Deno.test("an unexpected argument is a usage error and missing ones are too", async () => {
  const extra = await runInProcess(["id", "extra"]);
  assert.equal(extra.status, ExitStatus.usage);
  assert.match(extra.stderr, /unexpected argument "extra" for 'rhizome id'/);
  const missing = await runInProcess(["config"]);
  assert.equal(missing.status, ExitStatus.usage);
  assert.match(missing.stderr, /'rhizome config' needs more arguments/);
  const wrong = await runInProcess(["config", "frob"]);
  assert.equal(wrong.status, ExitStatus.usage);
  assert.match(wrong.stderr, /unknown action "frob" for 'rhizome config'/);
});

Deno.test("with --json an error is also an object on stdout", async () => {
  const run = await runInProcess(["id", "--json", "--bogus"]);
  assert.equal(run.status, ExitStatus.usage);
  const body = JSON.parse(run.stdout);
  assert.equal(body.error.code, "USAGE");
  assert.equal(body.error.exit_status, 2);
  assert.match(body.error.message, /unknown flag --bogus/);
});

Deno.test("with --log-format json an error is a JSON line on stderr", async () => {
  const run = await runInProcess(["frob", "--log-format", "json"]);
  assert.equal(run.status, ExitStatus.usage);
  const line = JSON.parse(run.stderr);
  assert.equal(line.level, "ERROR");
  assert.equal(line.code, "USAGE");
});

Deno.test("init creates the data dir, a 0600 identity and a commented config", async () => {
  await withTempDir(async (directory) => {
    const dataDir = join(directory, "node");
    const run = await runInProcess(["init", "--data-dir", dataDir, "--json"]);
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.match(result.node_id, /^[0-9a-f]{40}$/);
    assert.equal(result.config_written, true);
    assert.equal(result.identity_backup_path, null);
    assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(join(dataDir, "identity.key"))).mode! & 0o777, 0o600);
    const config = await Deno.readTextFile(join(dataDir, "config.toml"));
    assert.match(config, /^# k = 20$/m);
    const entries = [];
    for await (const entry of Deno.readDir(dataDir)) entries.push(entry.name);
    assert.deepEqual(entries.sort(), ["config.toml", "identity.key"]);
  });
});

Deno.test("id prints the same ID as init, every time", async () => {
  await withTempDir(async (dataDir) => {
    const init = JSON.parse((await runInProcess(["init", "--data-dir", dataDir, "--json"])).stdout);
    const first = await runInProcess(["id", "--data-dir", dataDir, "--json"]);
    const second = await runInProcess(["id", "--data-dir", dataDir, "--json"]);
    assert.equal(first.status, 0);
    assert.equal(first.stdout, second.stdout);
    const id = JSON.parse(first.stdout);
    assert.equal(id.node_id, init.node_id);
    assert.equal(id.public_key, init.public_key);
    assert.equal(id.contact, `rhz://${init.public_key}@127.0.0.1:7447`);
  });
});

Deno.test("id uses node.advertise for the contact and warns on a loopback fallback", async () => {
  await withTempDir(async (dataDir) => {
    await runInProcess(["init", "--data-dir", dataDir]);
    const fallback = await runInProcess(["id", "--data-dir", dataDir]);
    assert.match(fallback.stderr, /WARN .*set node.advertise/);
    const env = { RHIZOME_NODE_ADVERTISE: "[2001:db8::7]:9000" };
    const run = await runInProcess(["id", "--data-dir", dataDir, "--json"], env);
    assert.equal(run.status, 0, run.stderr);
    assert.match(JSON.parse(run.stdout).contact, /@\[2001:db8::7\]:9000$/);
    assert.equal(run.stderr, "");
  });
});

Deno.test("a second init refuses, exits 6 and changes nothing", async () => {
  await withTempDir(async (dataDir) => {
    await runInProcess(["init", "--data-dir", dataDir]);
    const keyBefore = await Deno.readFile(join(dataDir, "identity.key"));
    const configPath = join(dataDir, "config.toml");
    await Deno.writeTextFile(configPath, "[dht]\nk = 24\n");
    const run = await runInProcess(["init", "--data-dir", dataDir]);
    assert.equal(run.status, ExitStatus.exists);
    assert.equal(linesOf(run.stderr).length, 1);
    assert.match(run.stderr, /already exists \(use --force/);
    assert.deepEqual(await Deno.readFile(join(dataDir, "identity.key")), keyBefore);
    assert.equal(await Deno.readTextFile(configPath), "[dht]\nk = 24\n");
  });
});

Deno.test("init --force replaces the identity, keeps the old key and the config", async () => {
  await withTempDir(async (dataDir) => {
    const first = JSON.parse(
      (await runInProcess(["init", "--data-dir", dataDir, "--json"])).stdout,
    );
    const keyBefore = await Deno.readFile(join(dataDir, "identity.key"));
    const run = await runInProcess(["init", "--data-dir", dataDir, "--force", "--json"]);
    assert.equal(run.status, 0, run.stderr);
    const second = JSON.parse(run.stdout);
    assert.notEqual(second.node_id, first.node_id);
    assert.equal(second.config_written, false);
    assert.deepEqual(await Deno.readFile(second.identity_backup_path), keyBefore);
    const id = JSON.parse((await runInProcess(["id", "--data-dir", dataDir, "--json"])).stdout);
    assert.equal(id.node_id, second.node_id);
  });
});

Deno.test("init also completes a data dir that has a config but no identity", async () => {
  await withTempDir(async (dataDir) => {
    await Deno.writeTextFile(join(dataDir, "config.toml"), "[dht]\nk = 24\n");
    const run = await runInProcess(["init", "--data-dir", dataDir, "--json"]);
    assert.equal(run.status, 0);
    assert.equal(JSON.parse(run.stdout).config_written, false);
    assert.equal(await Deno.readTextFile(join(dataDir, "config.toml")), "[dht]\nk = 24\n");
  });
});

Deno.test("id without an identity exits 4 and points at init", async () => {
  await withTempDir(async (dataDir) => {
    const run = await runInProcess(["id", "--data-dir", dataDir]);
    assert.equal(run.status, ExitStatus.identity);
    assert.deepEqual(linesOf(run.stderr), [
      `rhizome: Cannot read identity key ${
        join(dataDir, "identity.key")
      }: it does not exist (run 'rhizome init' first)`,
    ]);
  });
});

Deno.test("a corrupt key file stops id with one line, exit 4, the file untouched", async () => {
  await withTempDir(async (dataDir) => {
    await runInProcess(["init", "--data-dir", dataDir]);
    const keyPath = join(dataDir, "identity.key");
    const original = await Deno.readTextFile(keyPath);
    const corruptions = [
      original.replace(/"secret_key":"(.)/, (_, c) => `"secret_key":"${c === "A" ? "B" : "A"}`),
      original.slice(0, 40),
      "",
      "\u0000\u0001binary",
      original.replace('"version":1', '"version":9'),
    ];
    for (const corrupt of corruptions) {
      await Deno.writeTextFile(keyPath, corrupt);
      const before = await Deno.stat(keyPath);
      const run = await runInProcess(["id", "--data-dir", dataDir]);
      assert.equal(run.status, ExitStatus.identity, corrupt);
      assert.equal(linesOf(run.stderr).length, 1, run.stderr);
      assert.match(run.stderr, /^rhizome: Cannot use identity key .*identity\.key: /);
      assert.equal(await Deno.readTextFile(keyPath), corrupt);
      assert.equal((await Deno.stat(keyPath)).mtime?.getTime(), before.mtime?.getTime());
    }
  });
});

Deno.test("an unreadable key file (a directory) exits 4 with one line", async () => {
  await withTempDir(async (dataDir) => {
    await Deno.mkdir(join(dataDir, "identity.key"));
    const run = await runInProcess(["id", "--data-dir", dataDir]);
    assert.equal(run.status, ExitStatus.identity);
    assert.match(run.stderr, /^rhizome: Cannot read identity key .*: it is not a file\n$/);
  });
});

Deno.test("an unusable data dir exits 5 with one line and creates nothing", async () => {
  await withTempDir(async (directory) => {
    const file = join(directory, "plain-file");
    await Deno.writeTextFile(file, "x");
    for (const dataDir of [file, join(file, "below")]) {
      const run = await runInProcess(["init", "--data-dir", dataDir]);
      assert.equal(run.status, ExitStatus.dataDir, run.stderr);
      assert.equal(linesOf(run.stderr).length, 1);
      assert.match(run.stderr, /^rhizome: Cannot (create|use) data directory /);
    }
    assert.equal(await Deno.readTextFile(file), "x");
  });
});

Deno.test("the data dir comes from the flag, else RHIZOME_DATA_DIR, else HOME", async () => {
  await withTempDir(async (directory) => {
    const viaEnv = await runInProcess(["config", "path", "--json"], {
      RHIZOME_DATA_DIR: join(directory, "env"),
      HOME: directory,
    });
    assert.equal(JSON.parse(viaEnv.stdout).path, join(directory, "env", "config.toml"));
    const viaHome = await runInProcess(["config", "path", "--json"], { HOME: directory });
    assert.equal(JSON.parse(viaHome.stdout).path, join(directory, ".rhizome", "config.toml"));
    const viaFlag = await runInProcess(["config", "path", "--json", "--data-dir", directory], {
      RHIZOME_DATA_DIR: join(directory, "env"),
    });
    assert.equal(JSON.parse(viaFlag.stdout).path, join(directory, "config.toml"));
    const nowhere = await runInProcess(["config", "path"], {});
    assert.equal(nowhere.status, ExitStatus.dataDir);
    assert.match(nowhere.stderr, /HOME is not set; pass --data-dir or set RHIZOME_DATA_DIR/);
  });
});

Deno.test("config validate names every bad field and exits 3", async () => {
  await withTempDir(async (directory) => {
    const bad = join(directory, "bad.toml");
    await Deno.writeTextFile(bad, '[dht]\nk = "x"\nalpha = 99\n[log]\nlevel = "loud"\n');
    const run = await runInProcess(["config", "validate", "--config", bad]);
    assert.equal(run.status, ExitStatus.config);
    assert.deepEqual(linesOf(run.stderr), [
      `rhizome: log.level: expected one of "trace", "debug", "info", "warning", "error", "fatal", got "loud" (from ${bad})`,
      `rhizome: dht.k: expected an integer 1..64, got "x" (from ${bad})`,
      `rhizome: dht.alpha: expected an integer 1..16, got 99 (from ${bad})`,
    ]);
    const json = await runInProcess(["config", "validate", "--config", bad, "--json"]);
    assert.equal(JSON.parse(json.stdout).error.code, "CONFIG_INVALID");
  });
});

Deno.test("other commands report a bad config in one line with a count", async () => {
  await withTempDir(async (directory) => {
    await runInProcess(["init", "--data-dir", directory]);
    const bad = join(directory, "bad.toml");
    await Deno.writeTextFile(bad, "[dht]\nk = 0\nalpha = 0\n");
    const run = await runInProcess(["id", "--data-dir", directory, "--config", bad]);
    assert.equal(run.status, ExitStatus.config);
    assert.deepEqual(linesOf(run.stderr), [
      `rhizome: dht.k: expected an integer 1..64, got 0 (from ${bad}) (and 1 more: run 'rhizome config validate')`,
    ]);
  });
});

Deno.test("config validate accepts the defaults, a good file and environment overrides", async () => {
  await withTempDir(async (directory) => {
    const defaults = await runInProcess(["config", "validate", "--data-dir", directory]);
    assert.equal(defaults.status, 0);
    assert.match(defaults.stdout, /config is valid: built-in defaults/);
    const good = join(directory, "good.toml");
    await Deno.writeTextFile(good, "[dht]\nk = 24\n");
    const file = await runInProcess(["config", "validate", "--config", good], {
      RHIZOME_LOG_LEVEL: "debug",
    });
    assert.equal(file.status, 0, file.stderr);
    assert.equal(file.stdout, `config is valid: ${good}\n`);
  });
});

Deno.test("a named config file that is missing or unparsable exits 3", async () => {
  await withTempDir(async (directory) => {
    const missing = await runInProcess(["config", "show", "--config", join(directory, "no.toml")]);
    assert.equal(missing.status, ExitStatus.config);
    assert.match(missing.stderr, /^rhizome: Cannot read config .*no\.toml: it does not exist\n$/);
    const broken = join(directory, "broken.toml");
    await Deno.writeTextFile(broken, "[dht\nk = 1\n");
    const run = await runInProcess(["config", "show", "--config", broken]);
    assert.equal(run.status, ExitStatus.config);
    assert.match(run.stderr, new RegExp(`^rhizome: ${broken}:1:5: invalid TOML: `));
    const huge = join(directory, "huge.toml");
    await Deno.writeTextFile(huge, "# x\n".repeat(100_000));
    const big = await runInProcess(["config", "show", "--config", huge]);
    assert.equal(big.status, ExitStatus.config);
    assert.match(big.stderr, /the limit is 262144/);
  });
});

Deno.test("config show prints the merged config and each setting's origin", async () => {
  await withTempDir(async (directory) => {
    const file = join(directory, "config.toml");
    await Deno.writeTextFile(file, "[dht]\nk = 24\n");
    const run = await runInProcess(
      ["config", "show", "--data-dir", directory, "--log-level", "debug", "--json"],
      { RHIZOME_DHT_ALPHA: "4" },
    );
    assert.equal(run.status, 0, run.stderr);
    const shown = JSON.parse(run.stdout);
    assert.equal(shown.config.dht.k, 24);
    assert.equal(shown.config.dht.alpha, 4);
    assert.equal(shown.config.log.level, "debug");
    assert.equal(shown.config.profiles.seed.disk_bytes_max, 200 * 2 ** 30);
    assert.deepEqual(shown.origins, {
      "dht.k": file,
      "dht.alpha": "RHIZOME_DHT_ALPHA",
      "log.level": "--log-level",
    });
    const text = await runInProcess(["config", "show", "--data-dir", directory]);
    assert.match(text.stdout, /^# dht\.k from /m);
    assert.match(text.stdout, /^\[dht\]\nk = 24$/m);
  });
});

Deno.test("invalid --log-level and --log-format values are config errors", async () => {
  await withTempDir(async (directory) => {
    const level = await runInProcess([
      "config",
      "show",
      "--data-dir",
      directory,
      "--log-level",
      "loud",
    ]);
    assert.equal(level.status, ExitStatus.config);
    assert.match(level.stderr, /log\.level: expected one of .*got "loud" \(from --log-level\)/);
    const format = await runInProcess([
      "config",
      "show",
      "--data-dir",
      directory,
      "--log-format",
      "xml",
    ]);
    assert.equal(format.status, ExitStatus.config);
    assert.match(format.stderr, /log\.format: expected one of "text", "json", got "xml"/);
  });
});

Deno.test("an unknown RHIZOME_ variable is a config error naming it", async () => {
  await withTempDir(async (directory) => {
    const run = await runInProcess(["config", "show", "--data-dir", directory], {
      RHIZOME_DHT_KK: "3",
    });
    assert.equal(run.status, ExitStatus.config);
    assert.match(run.stderr, /^rhizome: RHIZOME_DHT_KK: unknown setting/);
  });
});

Deno.test("run refuses two node types, and a bad --listen names the flag", async () => {
  const two = await runInProcess(["run", "--seed", "--light"]);
  assert.equal(two.status, ExitStatus.usage);
  assert.match(two.stderr, /^rhizome: Choose one node type, not --seed and --light/);
  const listen = await runInProcess(["run", "--data-dir", "/nonexistent/x", "--listen", "nowhere"]);
  assert.equal(listen.status, ExitStatus.config);
  assert.match(listen.stderr, /^rhizome: node\.listen: expected host:port.*\(from --listen\)/);
});
