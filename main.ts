/**
 * The `rhizome` program.
 *
 * @module
 */

import { writeStderr } from "./src/core/log.ts";
import { runCli } from "./src/cli/main.ts";

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

if (import.meta.main) {
  const status = await runCli(Deno.args, {
    env: Deno.env.toObject(),
    stdout: writeStdout,
    stderr: writeStderr,
  });
  Deno.exit(status);
}
