/**
 * Architecture rules, checked on the source text:
 * 1. Layers depend downward only (cli → api → node → services → content → dht → net, store →
 *    core); a folder may use itself and lower layers.
 * 2. A service (a folder under `src/services/`) uses another only through that service's `mod.ts`,
 *    and the services' imports of each other form no cycle.
 * 3. The protocol core stays sans-I/O: `src/dht/`, `src/sim/`, `src/content/`, the services and the
 *    core files they build on
 *    never touch the Deno namespace, wall time, timers or ambient randomness.
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

const srcRoot = new URL("../src", import.meta.url).pathname;

/** Each folder under src/ and its rank; a file may import only ranks at or below its own. */
const layerRank: Record<string, number> = {
  core: 0,
  net: 1,
  store: 1,
  dht: 2,
  content: 3,
  services: 4,
  node: 5,
  sim: 5,
  api: 6,
  cli: 7,
};

/** Core files the protocol core may use; they must be as pure as the DHT itself. */
const pureCoreFiles = [
  "assert.ts",
  "bytes.ts",
  "clock.ts",
  "config_schema.ts",
  "contact_uri.ts",
  "content_key.ts",
  "crypto.ts",
  "errors.ts",
  "format.ts",
  "histogram.ts",
  "limits.ts",
  "node_id.ts",
  "pool.ts",
  "rng.ts",
  "share_string.ts",
];

/** Net files the protocol core and the simulator may use; as pure as the core files. */
const pureNetFiles = [
  "address.ts",
  "handshake.ts",
  "secure_channel.ts",
  "session.ts",
  "transport.ts",
];

const impure = [
  /\bDeno\./,
  /\bDate\.now\(/,
  /\bnew Date\(/,
  /\bperformance\.now\(/,
  /\bMath\.random\(/,
  /\bsetTimeout\(/,
  /\bsetInterval\(/,
  /\bgetRandomValues\(/,
];

async function sourceFiles(directory: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(directory)) {
    const path = join(directory, entry.name);
    if (entry.isDirectory) files.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** Type-only imports vanish at run time, so they cannot make a file impure. */
function withoutTypeImports(text: string): string {
  return text.replace(/import type [^;]*;/g, "");
}

function relativeImports(text: string): string[] {
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)];
  return specifiers.map((match) => match[1]);
}

function layerOf(path: string): string {
  return relative(srcRoot, path).split("/")[0];
}

Deno.test("every folder under src/ is a known layer", async () => {
  for await (const entry of Deno.readDir(srcRoot)) {
    if (entry.isDirectory) assert.ok(entry.name in layerRank, `unknown layer src/${entry.name}`);
  }
});

Deno.test("layers import only themselves and lower layers", async () => {
  const violations: string[] = [];
  for (const file of await sourceFiles(srcRoot)) {
    const from = layerOf(file);
    for (const specifier of relativeImports(await Deno.readTextFile(file))) {
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(srcRoot + "/")) {
        if (!target.endsWith("/deno.json")) {
          violations.push(`${relative(srcRoot, file)} → ${specifier}`);
        }
        continue;
      }
      const to = layerOf(target);
      if (to !== from && layerRank[to] >= layerRank[from]) {
        violations.push(
          `${relative(srcRoot, file)} (${from}) → ${relative(srcRoot, target)} (${to})`,
        );
      }
    }
  }
  assert.deepEqual(violations, []);
});

const servicesRoot = join(srcRoot, "services");

/** The service a file belongs to, or undefined outside `src/services/`. */
function serviceOf(path: string): string | undefined {
  const parts = relative(servicesRoot, path).split("/");
  return parts[0] === ".." || parts.length < 2 ? undefined : parts[0];
}

/** Each service and the services it imports, with the files that break the mod.ts rule. */
async function serviceImports(): Promise<{ uses: Map<string, Set<string>>; violations: string[] }> {
  const uses = new Map<string, Set<string>>();
  const violations: string[] = [];
  for (const file of await sourceFiles(servicesRoot)) {
    const from = serviceOf(file);
    if (from === undefined) {
      violations.push(`${relative(srcRoot, file)} lies outside any service folder`);
      continue;
    }
    if (!uses.has(from)) uses.set(from, new Set());
    for (const specifier of relativeImports(await Deno.readTextFile(file))) {
      const target = resolve(dirname(file), specifier);
      const to = serviceOf(target);
      if (to === undefined || to === from) continue;
      uses.get(from)!.add(to);
      if (target !== join(servicesRoot, to, "mod.ts")) {
        violations.push(`${relative(srcRoot, file)} → ${specifier} (use ${to}/mod.ts)`);
      }
    }
  }
  return { uses, violations };
}

Deno.test("services use each other only through mod.ts", async () => {
  const { uses, violations } = await serviceImports();
  for (const service of uses.keys()) {
    try {
      await Deno.stat(join(servicesRoot, service, "mod.ts"));
    } catch {
      violations.push(`services/${service} has no mod.ts`);
    }
  }
  assert.deepEqual(violations, []);
});

Deno.test("the services' imports of each other form no cycle", async () => {
  const { uses } = await serviceImports();
  const cycles: string[] = [];
  const done = new Set<string>();
  const visit = (service: string, path: string[]): void => {
    if (path.includes(service)) {
      cycles.push([...path.slice(path.indexOf(service)), service].join(" → "));
      return;
    }
    if (done.has(service)) return;
    for (const next of uses.get(service) ?? []) visit(next, [...path, service]);
    done.add(service);
  };
  for (const service of uses.keys()) visit(service, []);
  assert.deepEqual(cycles, []);
});

Deno.test("the protocol core and the core files it uses are sans-I/O", async () => {
  const files = [
    ...pureCoreFiles.map((name) => join(srcRoot, "core", name)),
    ...pureNetFiles.map((name) => join(srcRoot, "net", name)),
    ...(await sourceFiles(srcRoot)).filter((file) =>
      ["dht", "sim", "content", "services"].includes(layerOf(file))
    ),
  ];
  const violations: string[] = [];
  for (const file of files) {
    const text = withoutComments(await Deno.readTextFile(file));
    for (const pattern of impure) {
      if (pattern.test(text)) violations.push(`${relative(srcRoot, file)} uses ${pattern.source}`);
    }
    for (const specifier of relativeImports(withoutTypeImports(text))) {
      const target = relative(join(srcRoot, "core"), resolve(dirname(file), specifier));
      if (
        layerOf(resolve(dirname(file), specifier)) === "core" && !pureCoreFiles.includes(target)
      ) {
        violations.push(`${relative(srcRoot, file)} imports impure core file ${target}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
