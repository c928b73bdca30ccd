/**
 * `deno task install`: puts a `rhizome` command on PATH that runs this checkout.
 *
 * `deno install -g` cannot do it for a project with a frozen lock: it copies deno.json beside the
 * shim, where the lock path no longer points at deno.lock ("The lockfile is out of date"), and
 * without the config the npm imports do not resolve. So this script writes a small launcher of its
 * own into `ROOT/bin` (the directory `deno install -g` uses): it runs this checkout's main.ts with
 * its deno.json (so deno.lock stays frozen and node_modules is the checkout's) and exactly the
 * permissions of the `rhizome` task. It never changes directory, so paths on the command line
 * are resolved from where the command is run.
 *
 * Before writing the launcher it runs `deno install --frozen` and `deno cache main.ts` in the
 * checkout, quietly: the npm packages are fetched (or taken from Deno's cache when offline),
 * node_modules is laid out and the sources are compiled, so the first `rhizome` prints nothing
 * of Deno's own (and writes a stamp into node_modules, so that a launcher finding deno.lock newer
 * after a pull lays node_modules out again). The npm install scripts of lmdb and msgpackr-extract are denied in deno.json
 * (`allowScripts`): both ship prebuilt binaries as optional packages, and their scripts would
 * only look for those or build them with node-gyp.
 *
 * Usage: deno task install [--root DIR] [--name NAME] [--force] [--uninstall] [--json]
 * Exit status: 0 installed (or removed), 1 failed, 2 bad arguments.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import denoConfig from "../deno.json" with { type: "json" };
import { permissionFlags } from "./compile.ts";

/** The checkout this script belongs to. */
export const repositoryPath: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The first line after the shebang of every launcher we write: how we recognise our own. */
export const LAUNCHER_MARKER = "# rhizome launcher written by `deno task install`";

/**
 * Longest command name accepted. A name is one path component; 64 is far beyond any sensible name
 * and short enough to print in one line. A longer one is refused (exit 2).
 */
export const commandNameLengthMax = 64;

/**
 * Bytes of an existing file read to find the marker. Our launchers are about 1 KiB; a larger
 * file at that path is someone else's and is left alone without reading it all.
 */
const existingLauncherBytesMax = 16 * 1024;

/**
 * The launcher uses the checkout's node_modules as `deno task install` laid it out and never
 * changes it: no registry lookups at run time (quiet and offline, also with an empty or
 * read-only DENO_DIR, as under systemd), and no writes into a checkout a service may only read.
 * After a `git pull` that changes dependencies, the POSIX launcher lays it out again (see
 * {@link INSTALLED_STAMP}); on Windows, run `deno task install` again.
 */
export const NODE_MODULES_FLAG = "--node-modules-dir=manual";

/**
 * Written into node_modules once it is laid out for deno.lock. The POSIX launcher lays it out again
 * when deno.lock or deno.json is newer (a pull changed the dependencies).
 */
export const INSTALLED_STAMP = "node_modules/.rhizome-installed";

/** What the launcher needs to know. */
export interface LauncherSpec {
  /** Absolute path of the Deno executable that runs it (taken when installing). */
  denoPath: string;
  /** Absolute path of the checkout. */
  repository: string;
  /** Deno's permission flags (the `rhizome` task's). */
  permissions: readonly string[];
  /** Deno's version when installed, for the comment. */
  denoVersion: string;
}

/** POSIX shell single quoting. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The POSIX shell launcher.
 *
 * @param spec What it runs.
 * @returns The script's text.
 */
export function posixLauncher(spec: LauncherSpec): string {
  const config = join(spec.repository, "deno.json");
  const main = join(spec.repository, "main.ts");
  return [
    "#!/bin/sh",
    LAUNCHER_MARKER,
    `# from ${spec.repository} (Deno ${spec.denoVersion}). It runs that checkout's main.ts with its`,
    "# deno.json and lock and the permissions of its `rhizome` task; paths are resolved from the",
    "# directory you run it in. Run `deno task install` again after moving the checkout or Deno;",
    "# `deno task install --uninstall` removes this file.",
    `deno=${shellQuote(spec.denoPath)}`,
    `[ -x "$deno" ] || deno=deno`,
    `repo=${shellQuote(spec.repository)}`,
    `stamp="$repo/${INSTALLED_STAMP}"`,
    "# node_modules is laid out for deno.lock; after a pull that changed it, it is laid out again",
    "# here, quietly (offline when the packages are in Deno's cache).",
    'if [ ! -e "$stamp" ] || [ "$repo/deno.lock" -nt "$stamp" ] || [ "$repo/deno.json" -nt "$stamp" ]; then',
    '  if ! (cd "$repo" && "$deno" install --frozen --quiet >/dev/null 2>&1 && : >"$stamp"); then',
    `    echo "rhizome: the dependencies of $repo changed and could not be installed; run 'deno task install' there" >&2`,
    "    exit 1",
    "  fi",
    "fi",
    "DENO_NO_UPDATE_CHECK=1",
    "export DENO_NO_UPDATE_CHECK",
    [
      `exec "$deno" run`,
      NODE_MODULES_FLAG,
      ...spec.permissions,
      "--config",
      shellQuote(config),
      shellQuote(main),
      `"$@"`,
    ].join(" "),
    "",
  ].join("\n");
}

/**
 * The Windows launcher (a .cmd file).
 *
 * @param spec What it runs.
 * @returns The script's text, with CRLF line ends.
 */
export function windowsLauncher(spec: LauncherSpec): string {
  const config = join(spec.repository, "deno.json");
  const main = join(spec.repository, "main.ts");
  return [
    "@echo off",
    `rem ${LAUNCHER_MARKER.slice(2)}`,
    `rem from ${spec.repository} (Deno ${spec.denoVersion}); run it again after moving either.`,
    "setlocal",
    "set DENO_NO_UPDATE_CHECK=1",
    [
      `"${spec.denoPath}" run`,
      NODE_MODULES_FLAG,
      ...spec.permissions,
      "--config",
      `"${config}"`,
      `"${main}"`,
      "%*",
    ].join(" "),
    "",
  ].join("\r\n");
}

/**
 * Where launchers go when no `--root` is given: `$DENO_INSTALL_ROOT`, else `~/.deno`, as for
 * `deno install -g`.
 *
 * @param env The environment.
 * @returns The root, or undefined when no home directory is known.
 */
export function defaultInstallRoot(env: Record<string, string>): string | undefined {
  if (env.DENO_INSTALL_ROOT) return resolve(env.DENO_INSTALL_ROOT);
  const home = env.HOME ?? env.USERPROFILE;
  return home ? join(home, ".deno") : undefined;
}

/**
 * Turns a failed `deno install` or `deno cache` into one line.
 *
 * @param step The command that failed.
 * @param stderr What it printed.
 * @returns The line.
 */
export function explainDenoFailure(step: string, stderr: string): string {
  if (/lockfile is out of date/i.test(stderr)) {
    return `Cannot install: deno.lock does not match deno.json (${step} refused to change the frozen lock)`;
  }
  if (
    /error sending request|dns error|failed to lookup|connection refused|network|Failed fetching|tcp connect/i
      .test(stderr)
  ) {
    return "Cannot install: the npm packages are not in Deno's cache and the registry cannot be " +
      "reached; run `deno task install` once with network access";
  }
  const line = stderr.split("\n").map((text) => text.trim()).find((text) => /^error/i.test(text)) ??
    stderr.trim().split("\n").at(-1) ?? "failed";
  return `Cannot install: ${step}: ${line.replace(/^error:\s*/i, "")}`;
}

/** Runs deno in the checkout; undefined on success, else the failure's line. */
async function denoStep(args: string[], step: string): Promise<string | undefined> {
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: repositoryPath,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (result.success) return undefined;
  return explainDenoFailure(step, new TextDecoder().decode(result.stderr));
}

/**
 * Whether `path` holds a launcher of ours; false when absent. Throws if it is someone else's
 * (unless `force`), naming `action`.
 */
async function ownsExisting(path: string, force: boolean, action: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  const buffer = new Uint8Array(existingLauncherBytesMax);
  let length = 0;
  try {
    const read = await file.read(buffer);
    length = read ?? 0;
  } finally {
    file.close();
  }
  const ours = new TextDecoder().decode(buffer.subarray(0, length)).includes(
    LAUNCHER_MARKER.slice(2),
  );
  if (!ours && !force) {
    throw new Error(
      `Cannot ${action}: ${path} exists and was not written by deno task install` +
        (action === "install" ? " (pass --force to replace it)" : ""),
    );
  }
  return true;
}

/** Whether `directory` is one of PATH's entries. */
function onPath(directory: string, env: Record<string, string>): boolean {
  const entries = (env.PATH ?? env.Path ?? "").split(delimiter).filter((entry) => entry !== "");
  return entries.some((entry) => resolve(entry) === resolve(directory));
}

async function main(args: string[]): Promise<number> {
  const usage =
    "usage: deno task install [--root DIR] [--name NAME] [--force] [--uninstall] [--json]";
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        root: { type: "string" },
        name: { type: "string", default: "rhizome" },
        force: { type: "boolean", default: false },
        uninstall: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`install: ${(error as Error).message.split("\n")[0]} (${usage})`);
    return 2;
  }
  const name = values.name!;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.length > commandNameLengthMax) {
    console.error(
      `install: --name must be one word of letters, digits, ".", "_" or "-" (at most ${commandNameLengthMax}), not "${name}"`,
    );
    return 2;
  }
  const env = Deno.env.toObject();
  const root = values.root === undefined ? defaultInstallRoot(env) : resolve(values.root);
  if (root === undefined) {
    console.error("install: no home directory (HOME) is set; pass --root DIR");
    return 2;
  }
  const windows = Deno.build.os === "windows";
  const bin = join(root, "bin");
  const path = join(bin, windows ? `${name}.cmd` : name);
  try {
    if (values.uninstall) {
      if (!await ownsExisting(path, false, "uninstall")) {
        console.error(`Cannot uninstall: ${path} does not exist`);
        return 1;
      }
      await Deno.remove(path);
      if (values.json) console.log(JSON.stringify({ removed: path }));
      else console.error(`removed ${path}`);
      return 0;
    }
    await ownsExisting(path, values.force!, "install");
    for (
      const [step, stepArgs] of [
        ["deno install", ["install", "--frozen", "--quiet"]],
        ["deno cache", ["cache", "--frozen", "--quiet", "main.ts"]],
      ] as const
    ) {
      const failure = await denoStep([...stepArgs], step);
      if (failure) {
        console.error(failure);
        return 1;
      }
    }
    await Deno.writeTextFile(
      join(repositoryPath, INSTALLED_STAMP),
      `laid out by deno task install for deno.lock, ${new Date().toISOString()}\n`,
    );
    const spec: LauncherSpec = {
      denoPath: Deno.execPath(),
      repository: repositoryPath,
      permissions: permissionFlags(denoConfig.tasks.rhizome),
      denoVersion: Deno.version.deno,
    };
    await Deno.mkdir(bin, { recursive: true });
    // Written beside the target and renamed over it, so a running launcher is never half-written.
    const temporary = `${path}.tmp-${Deno.pid}`;
    await Deno.writeTextFile(temporary, windows ? windowsLauncher(spec) : posixLauncher(spec), {
      mode: 0o755,
    });
    if (!windows) await Deno.chmod(temporary, 0o755);
    await Deno.rename(temporary, path);
    const reachable = onPath(bin, env);
    if (values.json) {
      console.log(JSON.stringify({
        path,
        repository: repositoryPath,
        deno: Deno.version.deno,
        on_path: reachable,
        permissions: spec.permissions,
      }));
    } else {
      console.error(`installed ${path} (runs ${join(repositoryPath, "main.ts")})`);
      if (!reachable) {
        console.error(
          windows
            ? `${bin} is not on PATH: add it in System Properties > Environment Variables`
            : `${bin} is not on PATH; add it, for example in ~/.profile:\n  export PATH="${bin}:$PATH"`,
        );
      }
    }
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(message.startsWith("Cannot ") ? message : `Cannot install: ${message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
