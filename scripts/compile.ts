/**
 * `deno task compile`: builds the `rhizome` executable for each platform with `deno compile`,
 * granting exactly the permissions of the `rhizome` task in deno.json (one list, so the binary and
 * `deno task rhizome` can never drift apart).
 *
 * `deno compile` needs a `denort` base binary per target, which it downloads. Where that is not
 * possible, set `DENORT_BIN` to a local denort for one target and name that target. Any failure is
 * one line on stderr and a non-zero exit.
 *
 * After building, it writes `SHA256SUMS` in the output directory: one `<sha-256 hex>  <file>` line
 * per executable there, the format `sha256sum -c SHA256SUMS` checks (the release workflow,
 * .github/workflows/release.yml, publishes both).
 *
 * Usage: deno task compile [--target NAME[,NAME...]] [--out-dir DIR] [--json]
 * Exit status: 0 built, 1 a build failed, 2 bad arguments.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { join } from "node:path";
import denoConfig from "../deno.json" with { type: "json" };

/** Our platform names and the Rust target triples `deno compile --target` takes. */
export const TARGETS: Readonly<Record<string, string>> = {
  "linux-x64": "x86_64-unknown-linux-gnu",
  "linux-arm64": "aarch64-unknown-linux-gnu",
  "macos-x64": "x86_64-apple-darwin",
  "macos-arm64": "aarch64-apple-darwin",
  "windows-x64": "x86_64-pc-windows-msvc",
};

/**
 * The permission flags of the `rhizome` task: the only permissions the program gets.
 *
 * @param task The task's command line.
 * @returns The `--allow-*`, `--deny-*` and `--no-prompt` words.
 */
export function permissionFlags(task: string): string[] {
  return task.split(/\s+/).filter((word) => /^--(allow|deny)-|^--no-prompt$/.test(word));
}

/** The platform this script runs on, in our naming. */
export function hostTarget(): string | undefined {
  const os = { linux: "linux", darwin: "macos", windows: "windows" }[Deno.build.os as string];
  const arch = { x86_64: "x64", aarch64: "arm64" }[Deno.build.arch as string];
  return os && arch ? `${os}-${arch}` : undefined;
}

/**
 * Turns `deno compile`'s error output into one line.
 *
 * @param target Our name for the target.
 * @param stderr What `deno compile` printed.
 * @returns The line.
 */
export function explainFailure(target: string, stderr: string): string {
  if (/denort|base binary|dl\.deno\.land/i.test(stderr)) {
    const missing = /Could not find denort at '([^']*)'/.exec(stderr);
    if (missing) {
      return `Cannot compile for ${target}: DENORT_BIN names ${missing[1]}, which does not exist`;
    }
    return `Cannot compile for ${target}: the denort base binary could not be downloaded; set DENORT_BIN to a local denort for ${target} and pass --target ${target}`;
  }
  const line = stderr.split("\n").map((text) => text.trim()).find((text) => /^error/i.test(text)) ??
    stderr.trim().split("\n")[0] ?? "deno compile failed";
  return `Cannot compile for ${target}: ${line.replace(/^error:\s*/i, "")}`;
}

/** The checksum file's name in the output directory. */
export const CHECKSUMS_FILE = "SHA256SUMS";

/** The file name of the executable for `target`. */
export function executableName(target: string): string {
  return `rhizome-${target}${target.startsWith("windows") ? ".exe" : ""}`;
}

/**
 * Writes `SHA256SUMS` for every executable of ours in `outDir` (those of other builds included),
 * sorted by name.
 *
 * @param outDir The output directory.
 * @returns The files and their SHA-256 digests (hex), as written.
 */
export async function writeChecksums(
  outDir: string,
): Promise<{ file: string; sha256: string }[]> {
  const names = new Set(Object.keys(TARGETS).map(executableName));
  const sums: { file: string; sha256: string }[] = [];
  for await (const entry of Deno.readDir(outDir)) {
    if (!entry.isFile || !names.has(entry.name)) continue;
    const hash = createHash("sha256");
    // The readable stream closes the file when it has been read to its end.
    const file = await Deno.open(join(outDir, entry.name));
    for await (const chunk of file.readable) hash.update(chunk);
    sums.push({ file: entry.name, sha256: hash.digest("hex") });
  }
  sums.sort((a, b) => a.file < b.file ? -1 : 1);
  const text = sums.map(({ file, sha256 }) => `${sha256}  ${file}\n`).join("");
  await Deno.writeTextFile(join(outDir, CHECKSUMS_FILE), text);
  return sums;
}

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        target: { type: "string" },
        "out-dir": { type: "string", default: "dist" },
        json: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(
      `compile: ${
        (error as Error).message.split("\n")[0]
      } (usage: deno task compile [--target NAME[,NAME...]] [--out-dir DIR] [--json])`,
    );
    return 2;
  }
  const denortBin = Deno.env.get("DENORT_BIN");
  const host = hostTarget();
  const targets = values.target?.split(",").filter((name) => name !== "") ??
    (denortBin && host ? [host] : Object.keys(TARGETS));
  const unknown = targets.find((name) => !(name in TARGETS));
  if (unknown) {
    console.error(
      `compile: unknown target "${unknown}"; expected ${Object.keys(TARGETS).join(", ")}`,
    );
    return 2;
  }
  if (denortBin && targets.length !== 1) {
    console.error(
      "compile: DENORT_BIN is the base binary of one target; pass exactly one --target",
    );
    return 2;
  }
  const permissions = permissionFlags(denoConfig.tasks.rhizome);
  const outDir = values["out-dir"]!;
  await Deno.mkdir(outDir, { recursive: true });
  const built: { target: string; path: string; bytes: number }[] = [];
  for (const target of targets) {
    const output = join(outDir, executableName(target));
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["compile", ...permissions, "--target", TARGETS[target], "--output", output, "main.ts"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      console.error(explainFailure(target, new TextDecoder().decode(result.stderr)));
      return 1;
    }
    const bytes = (await Deno.stat(output)).size;
    built.push({ target, path: output, bytes });
    if (!values.json) console.error(`compiled ${output} (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
  }
  const checksums = await writeChecksums(outDir);
  if (values.json) {
    console.log(
      JSON.stringify({
        built,
        permissions,
        checksums_file: join(outDir, CHECKSUMS_FILE),
        checksums,
      }),
    );
  } else {
    console.error(`wrote ${join(outDir, CHECKSUMS_FILE)} (${checksums.length} files)`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
