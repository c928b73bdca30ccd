/**
 * Test helpers that run the `rhizome` CLI: in this process (fast, for most cases) or as a real
 * `deno run` process with exactly the permissions of the `rhizome` task.
 */

import denoConfig from "../deno.json" with { type: "json" };
import { runCli } from "../src/cli/main.ts";
import { permissionFlags } from "../scripts/compile.ts";

/** What one CLI run printed and how it ended. */
export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process with `env` as its whole environment. */
export async function runInProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const status = await runCli(args, {
    env,
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
  });
  return { status, stdout, stderr };
}

const mainPath = new URL("../main.ts", import.meta.url).pathname;

/** Runs `rhizome` as a child process, granted only the `rhizome` task's permissions. */
export async function runProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissionFlags(denoConfig.tasks.rhizome), mainPath, ...args],
    env: { NO_COLOR: "1", HOME: Deno.env.get("HOME") ?? "/nonexistent", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    status: result.code,
    stdout: decoder.decode(result.stdout),
    stderr: decoder.decode(result.stderr),
  };
}

/**
 * Runs `rhizome ARGS --json --data-dir DIR` as a process; parses stdout when it succeeded.
 *
 * @param dir The data dir of the node to ask.
 * @param args The command and its arguments.
 * @returns The run, with `json` the parsed answer (undefined on failure).
 */
export async function rhizomeJson<T>(
  dir: string,
  ...args: string[]
): Promise<CliRun & { json: T | undefined }> {
  const run = await runProcess([...args, "--json", "--data-dir", dir]);
  const json = run.status === 0 ? JSON.parse(run.stdout) as T : undefined;
  return { ...run, json };
}

/** Runs `test` with a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(test: (directory: string) => Promise<T>): Promise<T> {
  const directory = await Deno.makeTempDir({ prefix: "rhizome-test-" });
  try {
    return await test(directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

/** The lines of `text`, without the empty last one. */
export function linesOf(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}
