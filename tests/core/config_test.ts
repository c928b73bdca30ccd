// Goal: the layered configuration (src/core/config.ts, config_schema.ts, config_defaults.ts)
// applies defaults < file < environment < flags, records where each setting came from, and
// reports every invalid value as a ConfigError (CONFIG_INVALID) naming the field path, what was
// expected, what was found and its origin. Method: call resolveConfig() with in-memory sources
// (no real environment, no files except for readConfigFile() in a temporary directory) and
// compare the results and messages exactly.

import assert from "node:assert/strict";
import { parse } from "smol-toml";
import {
  type ConfigSources,
  defaultConfigTable,
  ENV_ALIASES,
  ENV_NOT_SETTINGS,
  readConfigFile,
  resolveConfig,
  settingEnvironmentNames,
} from "../../src/core/config.ts";
import { commentedDefaultConfigToml, DEFAULT_CONFIG_TOML } from "../../src/core/config_defaults.ts";
import { checkConfigSchema, parseByteSize, parseHostPort } from "../../src/core/config_schema.ts";
import { formatContactUri, makeContact } from "../../src/core/contact_uri.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { ConfigError } from "../../src/core/errors.ts";
import { configFileBytesMax } from "../../src/core/limits.ts";

const file = (text: string) => ({ path: "f.toml", text });

function uri(seed: number, port = 7447): string {
  const { publicKey } = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(seed));
  return formatContactUri(makeContact(publicKey, "127.0.0.1", port));
}

/** Expects resolveConfig(sources) to fail with CONFIG_INVALID; returns the message lines. */
function problems(sources: ConfigSources): string[] {
  let caught: unknown;
  try {
    resolveConfig(sources);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected ConfigError, got ${caught}`);
  assert.equal(caught.code, "CONFIG_INVALID");
  return caught.message.split("\n");
}

function leafCount(table: Record<string, unknown>): number {
  let count = 0;
  for (const value of Object.values(table)) {
    const isTable = typeof value === "object" && value !== null && !Array.isArray(value);
    count += isTable ? leafCount(value as Record<string, unknown>) : 1;
  }
  return count;
}

// --- defaults ---

Deno.test("resolveConfig() of nothing gives the documented defaults", () => {
  const { config, origins } = resolveConfig();
  assert.equal(origins.size, 0, "no setting has an origin other than the defaults");
  assert.deepEqual(config.node, {
    type: "auto",
    listen: "0.0.0.0:7447",
    advertise: "",
    api: "127.0.0.1:7448",
    metrics: "",
    bootstrap: [],
  });
  assert.deepEqual(config.log, { level: "info", format: "text", lines_per_second_max: 50 });
  assert.equal(config.dht.k, 20);
  assert.equal(config.dht.alpha, 3);
  assert.equal(config.dht.replicate_s, 3600);
  assert.equal(config.dht.lookup_timeout_ms, 10000);
});

Deno.test("resolveConfig() turns the default sizes into bytes", () => {
  const { config } = resolveConfig();
  assert.equal(config.profiles.seed.disk_bytes_max, 200 * 2 ** 30);
  assert.equal(config.profiles.seed.memory_bytes_max, 4 * 2 ** 30);
  assert.equal(config.profiles.full.disk_bytes_max, 20 * 2 ** 30);
  assert.equal(config.profiles.light.memory_bytes_max, 256 * 2 ** 20);
  assert.equal(config.profiles.mobile.disk_bytes_max, 64 * 2 ** 20);
  assert.equal(config.profiles.mobile.stores_for_others, false);
  assert.equal(config.profiles.seed.stores_for_others, true);
});

Deno.test("resolveConfig() returns a fresh copy each time", () => {
  const first = resolveConfig().config;
  first.dht.k = 1;
  first.node.bootstrap.push("changed");
  const second = resolveConfig().config;
  assert.equal(second.dht.k, 20);
  assert.deepEqual(second.node.bootstrap, []);
  defaultConfigTable().dht = 5;
  assert.equal(resolveConfig().config.dht.k, 20);
});

// --- layers ---

Deno.test("resolveConfig() applies a config file over the defaults", () => {
  const { config, origins } = resolveConfig({
    file: file(
      '[dht]\nk = 30\n\n[log]\nformat = "json"\n[profiles.light]\ndisk_bytes_max = 2000000\n',
    ),
  });
  assert.equal(config.dht.k, 30);
  assert.equal(config.dht.alpha, 3, "other settings keep their defaults");
  assert.equal(config.log.format, "json");
  assert.equal(config.log.level, "info");
  assert.equal(config.profiles.light.disk_bytes_max, 2_000_000);
  assert.deepEqual(
    Object.fromEntries(origins),
    { "dht.k": "f.toml", "log.format": "f.toml", "profiles.light.disk_bytes_max": "f.toml" },
  );
});

Deno.test('resolveConfig() reads RHIZOME_DHT_K="24" as the integer 24', () => {
  const { config, origins } = resolveConfig({ env: { RHIZOME_DHT_K: "24" } });
  assert.equal(config.dht.k, 24);
  assert.equal(origins.get("dht.k"), "RHIZOME_DHT_K");
});

Deno.test("resolveConfig() reads booleans, strings and sizes from the environment", () => {
  const { config } = resolveConfig({
    env: {
      RHIZOME_PROFILES_SEED_STORES_FOR_OTHERS: "false",
      RHIZOME_PROFILES_MOBILE_STORES_FOR_OTHERS: "1",
      RHIZOME_LOG_LEVEL: "debug",
      RHIZOME_PROFILES_FULL_DISK_BYTES_MAX: "3 GiB",
      RHIZOME_PROFILES_LIGHT_DISK_BYTES_MAX: "5000000",
    },
  });
  assert.equal(config.profiles.seed.stores_for_others, false);
  assert.equal(config.profiles.mobile.stores_for_others, true);
  assert.equal(config.log.level, "debug");
  assert.equal(config.profiles.full.disk_bytes_max, 3 * 2 ** 30);
  assert.equal(config.profiles.light.disk_bytes_max, 5_000_000);
});

Deno.test("resolveConfig() reads the RHIZOME_BOOTSTRAP alias as a comma-separated list", () => {
  const first = uri(1);
  const second = uri(2, 7450);
  const { config, origins } = resolveConfig({ env: { RHIZOME_BOOTSTRAP: `${first}, ${second},` } });
  assert.deepEqual(config.node.bootstrap, [first, second]);
  assert.equal(origins.get("node.bootstrap"), "RHIZOME_BOOTSTRAP");
});

Deno.test("resolveConfig() reads RHIZOME_NODE_BOOTSTRAP like its alias", () => {
  const { config } = resolveConfig({ env: { RHIZOME_NODE_BOOTSTRAP: uri(3) } });
  assert.deepEqual(config.node.bootstrap, [uri(3)]);
});

Deno.test("resolveConfig() applies flags last", () => {
  const { config, origins } = resolveConfig({
    overrides: [{ path: "log.level", value: "warning", origin: "--log-level" }],
  });
  assert.equal(config.log.level, "warning");
  assert.equal(origins.get("log.level"), "--log-level");
});

Deno.test("resolveConfig() ranks default < file < env < overrides, recording each origin", () => {
  const sources: ConfigSources = {
    file: file('[log]\nlevel = "warning"\nformat = "json"\n[dht]\nk = 30\nalpha = 4\n'),
    env: { RHIZOME_LOG_LEVEL: "error", RHIZOME_DHT_K: "25" },
    overrides: [{ path: "log.level", value: "debug", origin: "--log-level" }],
  };
  const { config, origins } = resolveConfig(sources);
  assert.equal(config.log.level, "debug", "the flag beats the variable and the file");
  assert.equal(config.dht.k, 25, "the variable beats the file");
  assert.equal(config.dht.alpha, 4, "the file beats the default");
  assert.equal(config.log.format, "json");
  assert.equal(config.dht.replicate_s, 3600, "the default stays where nothing overrides it");
  assert.deepEqual(Object.fromEntries(origins), {
    "log.level": "--log-level",
    "log.format": "f.toml",
    "dht.k": "RHIZOME_DHT_K",
    "dht.alpha": "f.toml",
  });

  const withoutFlag = resolveConfig({ ...sources, overrides: [] });
  assert.equal(withoutFlag.config.log.level, "error", "the variable beats the file");
  assert.equal(withoutFlag.origins.get("log.level"), "RHIZOME_LOG_LEVEL");
});

Deno.test("resolveConfig() ignores variables outside RHIZOME_*, RHIZOME_DATA_DIR and RHIZOME_CONFIG", () => {
  assert.deepEqual(ENV_NOT_SETTINGS, ["RHIZOME_DATA_DIR", "RHIZOME_CONFIG"]);
  const { config, origins } = resolveConfig({
    env: {
      RHIZOME_DATA_DIR: "/var/lib/rhizome",
      RHIZOME_CONFIG: "/etc/rhizome.toml",
      HOME: "/root",
      PATH: "/usr/bin",
      rhizome_dht_k: "x",
    },
  });
  assert.equal(origins.size, 0);
  assert.equal(config.dht.k, 20);
});

// --- errors ---

Deno.test('resolveConfig() rejects RHIZOME_DHT_K="x", naming field, expectation, value and origin', () => {
  assert.deepEqual(problems({ env: { RHIZOME_DHT_K: "x" } }), [
    'dht.k: expected an integer 1..64, got "x" (from RHIZOME_DHT_K)',
  ]);
});

Deno.test("resolveConfig() rejects integers out of range and fractions", () => {
  assert.deepEqual(problems({ env: { RHIZOME_DHT_K: "65" } }), [
    "dht.k: expected an integer 1..64, got 65 (from RHIZOME_DHT_K)",
  ]);
  assert.deepEqual(problems({ file: file("[dht]\nk = 0\n") }), [
    "dht.k: expected an integer 1..64, got 0 (from f.toml)",
  ]);
  assert.deepEqual(problems({ env: { RHIZOME_DHT_K: "2.5" } }), [
    "dht.k: expected an integer 1..64, got 2.5 (from RHIZOME_DHT_K)",
  ]);
});

Deno.test("resolveConfig() rejects an unknown key in the file", () => {
  assert.deepEqual(problems({ file: file("[dht]\nfoo = 1\n") }), [
    "dht.foo: unknown setting (from f.toml)",
  ]);
  assert.deepEqual(problems({ file: file("[extra]\nx = 1\n") }), [
    "extra: unknown setting (from f.toml)",
  ]);
});

Deno.test("resolveConfig() rejects an unknown flag path", () => {
  assert.deepEqual(
    problems({ overrides: [{ path: "dht.nope", value: 1, origin: "--nope" }] }),
    ["dht.nope: unknown setting (from --nope)"],
  );
});

Deno.test("resolveConfig() rejects an unknown RHIZOME_* variable", () => {
  assert.deepEqual(problems({ env: { RHIZOME_DHT_KAY: "3", RHIZOME_NOPE: "1" } }), [
    "RHIZOME_DHT_KAY: unknown setting (see 'rhizome config show' for the names)",
    "RHIZOME_NOPE: unknown setting (see 'rhizome config show' for the names)",
  ]);
});

Deno.test("resolveConfig() rejects a string where an integer belongs", () => {
  assert.deepEqual(problems({ file: file('[dht]\nk = "20"\n') }), [
    'dht.k: expected an integer 1..64, got "20" (from f.toml)',
  ]);
});

Deno.test("resolveConfig() rejects an integer where a boolean belongs", () => {
  assert.deepEqual(problems({ file: file("[profiles.seed]\nstores_for_others = 1\n") }), [
    "profiles.seed.stores_for_others: expected true or false, got 1 (from f.toml)",
  ]);
  assert.deepEqual(problems({ env: { RHIZOME_PROFILES_SEED_STORES_FOR_OTHERS: "yes" } }), [
    'profiles.seed.stores_for_others: expected true or false, got "yes" (from RHIZOME_PROFILES_SEED_STORES_FOR_OTHERS)',
  ]);
});

Deno.test("resolveConfig() rejects a scalar that replaces a table", () => {
  assert.deepEqual(problems({ file: file("dht = 5\n") }), [
    "dht: expected a table, got 5 (from f.toml)",
  ]);
  assert.deepEqual(problems({ file: file('profiles = "big"\n') }), [
    'profiles: expected a table, got "big" (from f.toml)',
  ]);
});

Deno.test("resolveConfig() rejects a value of the wrong kind for a choice", () => {
  assert.deepEqual(problems({ env: { RHIZOME_LOG_FORMAT: "xml" } }), [
    'log.format: expected one of "text", "json", got "xml" (from RHIZOME_LOG_FORMAT)',
  ]);
  assert.deepEqual(problems({ file: file('[node]\ntype = "huge"\n') }), [
    'node.type: expected one of "auto", "seed", "full", "light", "mobile", got "huge" (from f.toml)',
  ]);
});

Deno.test('resolveConfig() parses the size "1.5 GiB"', () => {
  const { config } = resolveConfig({
    file: file('[profiles.seed]\ndisk_bytes_max = "1.5 GiB"\n'),
  });
  assert.equal(config.profiles.seed.disk_bytes_max, 1.5 * 2 ** 30);
});

Deno.test('resolveConfig() rejects the size "5 XB" and sizes below the minimum', () => {
  assert.deepEqual(problems({ file: file('[profiles.seed]\ndisk_bytes_max = "5 XB"\n') }), [
    'profiles.seed.disk_bytes_max: expected a size of at least 1048576 bytes (a number, or text like "4 GiB"), got "5 XB" (from f.toml)',
  ]);
  assert.deepEqual(problems({ file: file('[profiles.seed]\ndisk_bytes_max = "1 KiB"\n') }), [
    'profiles.seed.disk_bytes_max: expected a size of at least 1048576 bytes (a number, or text like "4 GiB"), got "1 KiB" (from f.toml)',
  ]);
  assert.deepEqual(problems({ file: file("[profiles.seed]\ndisk_bytes_max = -1\n") }), [
    'profiles.seed.disk_bytes_max: expected a size of at least 1048576 bytes (a number, or text like "4 GiB"), got -1 (from f.toml)',
  ]);
  assert.deepEqual(problems({ file: file("[profiles.seed]\ndisk_bytes_max = true\n") }), [
    'profiles.seed.disk_bytes_max: expected a size of at least 1048576 bytes (a number, or text like "4 GiB"), got true (from f.toml)',
  ]);
});

Deno.test("resolveConfig() rejects invalid TOML, giving file, line and column", () => {
  const lines = problems({ file: file("[dht]\nk = = 3\n") });
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^f\.toml:2:\d+: invalid TOML: \S/);
  assert.match(
    problems({ file: file('[log\nlevel = "info"\n') })[0],
    /^f\.toml:1:\d+: invalid TOML/,
  );
  assert.match(
    problems({ file: file("[dht]\nk = 1\nk = 2\n") })[0],
    /^f\.toml:3:\d+: invalid TOML/,
  );
});

Deno.test("resolveConfig() rejects dht.alpha greater than dht.k", () => {
  assert.deepEqual(problems({ file: file("[dht]\nk = 2\nalpha = 3\n") }), [
    "dht.alpha: expected at most dht.k (a lookup cannot ask more than k nodes at once), got 3 (from f.toml)",
  ]);
  // The rule names alpha even when k is what changed, and then alpha has no origin.
  assert.deepEqual(problems({ env: { RHIZOME_DHT_K: "2" } }), [
    "dht.alpha: expected at most dht.k (a lookup cannot ask more than k nodes at once), got 3",
  ]);
});

Deno.test("resolveConfig() rejects dht.republish_s greater than store.normal.ttl_s", () => {
  assert.deepEqual(problems({ env: { RHIZOME_DHT_REPUBLISH_S: "90000" } }), [
    "dht.republish_s: expected at most store.normal.ttl_s, or holders' copies expire before they are republished, got 90000 (from RHIZOME_DHT_REPUBLISH_S)",
  ]);
});

Deno.test("resolveConfig() refuses the removed dht.record_ttl_* settings, saying where lifetimes are", () => {
  const removed =
    "removed: a record's lifetime comes from its class, [store.<class>] ttl_s, extension_s and ttl_max_s (see 'rhizome config show') (from f.toml)";
  // One unknown key per table is reported, so each alone.
  for (const name of ["record_ttl_s", "record_ttl_extension_s", "record_ttl_max_s"]) {
    assert.deepEqual(problems({ file: file(`[dht]\n${name} = 600\n`) }), [
      `dht.${name}: ${removed}`,
    ]);
  }
});

Deno.test("resolveConfig() reads the record classes and checks each against its cap", () => {
  const { config } = resolveConfig({ env: { RHIZOME_STORE_POPULAR_TTL_S: "1209600" } });
  assert.equal(config.store.popular.ttl_s, 1_209_600);
  assert.equal(config.store.normal.retention_s, 3600);
  assert.equal(config.profiles.mobile.records_max, 50_000);
  assert.deepEqual(
    problems({ file: file("[store.active]\nttl_s = 99999999\nretention_s = 100000000\n") }),
    [
      "store.active.ttl_s: expected at most store.active.ttl_max_s, got 99999999 (from f.toml)",
      "store.active.retention_s: expected at most store.active.ttl_s (a record cannot be kept longer than it lives), got 100000000 (from f.toml)",
    ],
  );
});

Deno.test("resolveConfig() reports every broken cross-field rule", () => {
  const lines = problems({
    file: file(
      "[dht]\nrpc_timeout_ms = 5000\nlookup_timeout_ms = 1000\n[store.normal]\nttl_s = 600\nretention_s = 600\n",
    ),
  });
  assert.deepEqual(lines, [
    "dht.rpc_timeout_ms: expected at most dht.rpc_timeout_ms_max, got 5000 (from f.toml)",
    "dht.lookup_timeout_ms: expected more than dht.rpc_timeout_ms × (dht.rpc_retries_max + 1), so one request can time out without failing the lookup, got 1000 (from f.toml)",
    "dht.republish_s: expected at most store.normal.ttl_s, or holders' copies expire before they are republished, got 86400",
    "dht.replicate_s: expected at most store.normal.ttl_s, or holders' copies expire before they are replicated, got 3600",
  ]);
});

Deno.test("resolveConfig() requires a loopback API address", () => {
  assert.deepEqual(
    problems({ overrides: [{ path: "node.api", value: "0.0.0.0:7448", origin: "--api" }] }),
    [
      'node.api: expected a loopback host:port (127.0.0.1, [::1] or localhost), got "0.0.0.0:7448" (from --api)',
    ],
  );
  for (const api of ["127.0.0.1:7448", "127.1.2.3:1", "[::1]:7448", "localhost:7448"]) {
    assert.equal(resolveConfig({ env: { RHIZOME_NODE_API: api } }).config.node.api, api);
  }
  for (const api of ["[::]:7448", "192.168.1.2:7448", "localhost", "example.com:1"]) {
    assert.match(
      problems({ env: { RHIZOME_NODE_API: api } })[0],
      /^node\.api: expected a loopback/,
    );
  }
});

Deno.test("resolveConfig() rejects a malformed listen or advertise address", () => {
  assert.deepEqual(problems({ env: { RHIZOME_NODE_LISTEN: "7447" } }), [
    "node.listen: expected host:port, for example 0.0.0.0:7447 or [::]:7447, got 7447 (from RHIZOME_NODE_LISTEN)",
  ]);
  // A string that is not host:port gets the host:port branch's message from the union.
  assert.deepEqual(problems({ env: { RHIZOME_NODE_ADVERTISE: "host" } }), [
    'node.advertise: expected host:port, for example 0.0.0.0:7447 or [::]:7447, got "host" (from RHIZOME_NODE_ADVERTISE)',
  ]);
  assert.deepEqual(problems({ file: file("[node]\nadvertise = 1\n") }), [
    'node.advertise: expected host:port, for example 0.0.0.0:7447 or [::]:7447, or "" for the listen address, got 1 (from f.toml)',
  ]);
  assert.equal(
    resolveConfig({ env: { RHIZOME_NODE_ADVERTISE: "[2001:db8::1]:7447" } }).config.node.advertise,
    "[2001:db8::1]:7447",
  );
});

Deno.test("resolveConfig() names node.bootstrap[0] for a malformed contact URI", () => {
  const lines = problems({ file: file('[node]\nbootstrap = ["rhz://x@y:1"]\n') });
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /^node\.bootstrap\[0\]: expected a contact URI or share string \(the public key "x" is not base32\), got "rhz:\/\/x@y:1"/,
  );
  const second = problems({
    env: { RHIZOME_BOOTSTRAP: `${uri(1)},${uri(2).replace(":7447", ":0")}` },
  });
  assert.match(
    second[0],
    /^node\.bootstrap\[1\]: expected a contact URI or share string \(the port 0 is outside/,
  );
});

Deno.test("resolveConfig() rejects a bootstrap list that is not a list or too long", () => {
  assert.match(
    problems({ file: file('[node]\nbootstrap = "rhz://x"\n') })[0],
    /^node\.bootstrap: expected a list of contact URIs, got "rhz:\/\/x" \(from f\.toml\)$/,
  );
  const many = Array.from({ length: 257 }, (_, i) => uri(1, i + 1));
  assert.match(
    problems({ overrides: [{ path: "node.bootstrap", value: many, origin: "--bootstrap" }] })[0],
    /^node\.bootstrap: expected at most 256 contacts, got .* \(from --bootstrap\)$/,
  );
  const allowed = many.slice(0, 256);
  assert.equal(
    resolveConfig({ overrides: [{ path: "node.bootstrap", value: allowed, origin: "--b" }] })
      .config.node.bootstrap.length,
    256,
  );
});

Deno.test("resolveConfig() lists every problem, one line each, when several fields are wrong", () => {
  const lines = problems({
    file: file('[dht]\nk = 0\nalpha = "a"\n[log]\nlevel = "loud"\n'),
    env: { RHIZOME_NODE_API: "0.0.0.0:1" },
  });
  assert.equal(lines.length, 4, lines.join("\n"));
  assert.deepEqual([...lines].sort(), [
    'dht.alpha: expected an integer 1..16, got "a" (from f.toml)',
    "dht.k: expected an integer 1..64, got 0 (from f.toml)",
    'log.level: expected one of "trace", "debug", "info", "warning", "error", "fatal", got "loud" (from f.toml)',
    'node.api: expected a loopback host:port (127.0.0.1, [::1] or localhost), got "0.0.0.0:1" (from RHIZOME_NODE_API)',
  ]);
});

// Known bug (reported, not fixed here): originNote() strips "node.bootstrap[0]" straight to
// "node" (its regex removes ".bootstrap[0]" in one step), so the origin recorded for the whole
// list at "node.bootstrap" is never found and the message lacks "(from …)".
Deno.test({
  name: "resolveConfig() names the origin of a malformed bootstrap entry",
  fn: () => {
    assert.match(
      problems({ env: { RHIZOME_BOOTSTRAP: "rhz://x@y:1" } })[0],
      /^node\.bootstrap\[0\]: .* \(from RHIZOME_BOOTSTRAP\)$/,
    );
  },
});

// --- environment names ---

Deno.test("settingEnvironmentNames() gives every setting its own RHIZOME_ variable", () => {
  const names = settingEnvironmentNames();
  const leaves = leafCount(defaultConfigTable());
  assert.equal(leaves, 99);
  assert.equal(
    names.size,
    leaves + Object.keys(ENV_ALIASES).length,
    "no two settings share a name",
  );
  const paths = new Set(names.values());
  assert.equal(paths.size, leaves, "every setting has a variable");
  for (const [name, path] of names) {
    assert.match(name, /^RHIZOME_[A-Z0-9_]+$/);
    assert.ok(!ENV_NOT_SETTINGS.includes(name), `${name} is reserved`);
    if (!(name in ENV_ALIASES)) {
      assert.equal(name, `RHIZOME_${path.replaceAll(".", "_").toUpperCase()}`);
    }
  }
  assert.equal(names.get("RHIZOME_DHT_K"), "dht.k");
  assert.equal(names.get("RHIZOME_PROFILES_SEED_DISK_BYTES_MAX"), "profiles.seed.disk_bytes_max");
  assert.equal(names.get("RHIZOME_BOOTSTRAP"), "node.bootstrap");
});

Deno.test("every RHIZOME_ variable name is accepted by resolveConfig()", () => {
  // Setting a variable to its default's text form must validate: the name is wired up.
  const defaults = resolveConfig().config as unknown as Record<string, Record<string, unknown>>;
  for (const [name, path] of settingEnvironmentNames()) {
    const [section, ...rest] = path.split(".");
    let value: unknown = defaults[section];
    for (const key of rest) value = (value as Record<string, unknown>)[key];
    const text = Array.isArray(value) ? value.join(",") : String(value);
    const { origins } = resolveConfig({ env: { [name]: text } });
    assert.equal(origins.get(path), name);
  }
});

// --- the default file ---

Deno.test("commentedDefaultConfigToml() parses to tables without any setting", () => {
  // JSON round trip: smol-toml makes tables without a prototype.
  const table = JSON.parse(JSON.stringify(parse(commentedDefaultConfigToml())));
  assert.deepEqual(table, {
    node: {},
    discovery: {},
    log: {},
    dht: {},
    store: { popular: {}, active: {}, normal: {}, personal: {} },
    search: {},
    profiles: { seed: {}, full: {}, light: {}, mobile: {} },
    popularity: {},
  });
});

Deno.test("uncommenting every `# key = value` line gives back DEFAULT_CONFIG_TOML exactly", () => {
  const commented = commentedDefaultConfigToml();
  assert.notEqual(commented, DEFAULT_CONFIG_TOML);
  const uncommented = commented.split("\n")
    // A list over several lines (`seeds = [`) has its items and closing bracket commented too.
    .map((line) => line.replace(/^# ([a-z_]+ = | {2}"|\]$)/, "$1"))
    .join("\n");
  assert.equal(uncommented, DEFAULT_CONFIG_TOML);
});

Deno.test("DEFAULT_CONFIG_TOML is the table resolveConfig() starts from", () => {
  assert.deepEqual(JSON.parse(JSON.stringify(parse(DEFAULT_CONFIG_TOML))), defaultConfigTable());
  assert.ok(new TextEncoder().encode(DEFAULT_CONFIG_TOML).length < 12 * 1024);
});

// --- readConfigFile ---

Deno.test("readConfigFile() reads a file, and refuses a missing, oversized or directory path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rhizome_config_test_" });
  try {
    const path = `${dir}/rhizome.toml`;
    await Deno.writeTextFile(path, "[dht]\nk = 7\n");
    const text = await readConfigFile(path);
    assert.equal(resolveConfig({ file: { path, text } }).config.dht.k, 7);

    const expectUnreadable = async (target: string, pattern: RegExp) => {
      let caught: unknown;
      try {
        await readConfigFile(target);
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof ConfigError, `expected ConfigError for ${target}`);
      assert.equal(caught.code, "CONFIG_UNREADABLE");
      assert.match(caught.message, pattern);
    };
    await expectUnreadable(
      `${dir}/missing.toml`,
      /^Cannot read config .*missing\.toml: it does not exist$/,
    );
    await expectUnreadable(dir, /: it is not a file$/);
    const big = `${dir}/big.toml`;
    await Deno.writeTextFile(big, "#".repeat(configFileBytesMax + 1));
    await expectUnreadable(
      big,
      new RegExp(`it is ${configFileBytesMax + 1} bytes, the limit is ${configFileBytesMax}$`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- checkConfigSchema ---

Deno.test("checkConfigSchema() returns the configuration or every issue with its path", () => {
  const valid = checkConfigSchema(defaultConfigTable());
  assert.ok("config" in valid);
  assert.equal(valid.config.dht.k, 20);

  const table = defaultConfigTable() as {
    dht: Record<string, unknown>;
    node: Record<string, unknown>;
  };
  table.dht.k = "x";
  table.dht.extra = 1;
  table.node.bootstrap = ["nonsense"];
  const invalid = checkConfigSchema(table);
  assert.ok("issues" in invalid);
  assert.deepEqual(
    invalid.issues.map((issue) => [issue.path, issue.unknownSetting]).sort(),
    [["dht.extra", true], ["dht.k", false], ["node.bootstrap[0]", false]],
  );
  assert.ok(invalid.issues.some((issue) => issue.message === "expected an integer 1..64"));
});

// --- parseByteSize / parseHostPort ---

Deno.test("parseByteSize() reads whole numbers and sizes with decimal or binary units", () => {
  assert.equal(parseByteSize(0), 0);
  assert.equal(parseByteSize(12), 12);
  assert.equal(parseByteSize("12"), 12);
  assert.equal(parseByteSize("12 B"), 12);
  assert.equal(parseByteSize("1 kB"), 1000);
  assert.equal(parseByteSize("1 KiB"), 1024);
  assert.equal(parseByteSize("512 MiB"), 512 * 2 ** 20);
  assert.equal(parseByteSize("512mib"), 512 * 2 ** 20);
  assert.equal(parseByteSize(" 4 GB "), 4e9);
  assert.equal(parseByteSize("1.5 GiB"), 1.5 * 2 ** 30);
  assert.equal(parseByteSize("2 TiB"), 2 * 2 ** 40);
  assert.equal(parseByteSize("1 TB"), 1e12);
  assert.equal(parseByteSize("1.0001 KB"), 1000, "fractions of a byte round");
});

Deno.test("parseByteSize() gives NaN for anything that is not a size", () => {
  for (
    const value of [
      "5 XB",
      "",
      "GiB",
      "-1",
      "-1 MiB",
      "1e3",
      "1,5 GiB",
      "1 G i B",
      ".5 GiB",
      "0x10",
    ]
  ) {
    assert.ok(Number.isNaN(parseByteSize(value)), JSON.stringify(value));
  }
  for (const value of [1.5, Number.NaN, Infinity, 2 ** 53]) {
    assert.ok(Number.isNaN(parseByteSize(value)), String(value));
  }
  assert.ok(Number.isNaN(parseByteSize("99999999999 TiB")), "beyond a safe integer");
});

Deno.test("parseHostPort() splits host and port, removing IPv6 brackets", () => {
  assert.deepEqual(parseHostPort("0.0.0.0:7447"), { host: "0.0.0.0", port: 7447 });
  assert.deepEqual(parseHostPort("[::]:7447"), { host: "::", port: 7447 });
  assert.deepEqual(parseHostPort("[2001:db8::1]:65535"), { host: "2001:db8::1", port: 65535 });
  assert.deepEqual(parseHostPort("localhost:1"), { host: "localhost", port: 1 });
  assert.deepEqual(parseHostPort("node-1.example.com:80"), {
    host: "node-1.example.com",
    port: 80,
  });
});

Deno.test("parseHostPort() rejects malformed addresses", () => {
  for (
    const text of [
      "",
      "host",
      ":7447",
      "host:",
      "host:65536",
      "host:123456",
      "host:-1",
      "::1:80",
      "[::1]",
      "[::1:80",
      "a b:1",
      "host:80 ",
      "[host]:80",
      "999.1.1.1:1",
      "-bad-.example:1",
      "[::example.com]:1",
    ]
  ) {
    assert.equal(parseHostPort(text), undefined, JSON.stringify(text));
  }
});

Deno.test("resolveConfig() refuses two variables that set the same setting", () => {
  assert.throws(
    () => resolveConfig({ env: { RHIZOME_BOOTSTRAP: "", RHIZOME_NODE_BOOTSTRAP: "" } }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(
        error.message,
        /^RHIZOME_NODE_BOOTSTRAP: RHIZOME_BOOTSTRAP sets node\.bootstrap too; set only one of them$/,
      );
      return true;
    },
  );
});
