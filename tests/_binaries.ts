/**
 * Finding the external programs some tests need (`promtool`, `chromium`): CI installs them
 * (.ci/run); where one is missing, the test that needs it is skipped with a printed reason.
 */

import { join } from "node:path";

/**
 * The path of a program on PATH, or `undefined` when it is not there.
 *
 * @param name The program.
 * @returns Its path.
 */
export function findBinary(name: string): string | undefined {
  for (const directory of (Deno.env.get("PATH") ?? "").split(":")) {
    if (directory === "") continue;
    const path = join(directory, name);
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * The path of a program, or `undefined` after printing why the test that needs it is skipped.
 *
 * @param name The program.
 * @param purpose What the test uses it for.
 * @returns Its path.
 */
export function requireBinary(name: string, purpose: string): string | undefined {
  const path = findBinary(name);
  if (path === undefined) {
    console.log(
      `skipping: ${name} is not installed (needed to ${purpose}; ` +
        `apt-get install -y ${name === "promtool" ? "prometheus" : name})`,
    );
  }
  return path;
}

/**
 * Runs `promtool check metrics` on a text.
 *
 * @param promtool Its path.
 * @param text The metrics.
 * @returns Its exit code and what it printed.
 */
export async function promtoolCheck(
  promtool: string,
  text: string,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(promtool, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const result = await child.output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}
