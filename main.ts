/**
 * The `rhizome` program.
 *
 * @module
 */

import { writeStderr } from "./src/core/log.ts";
import { runCli } from "./src/cli/main.ts";
import { installFatalHandler } from "./src/cli/fatal.ts";

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  writeStdoutBytes(encoder.encode(text));
}

function writeStdoutBytes(bytes: Uint8Array): void {
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

/** Standard input to its end, or the first `limit` bytes and one more (so callers see excess). */
async function readStdin(limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of Deno.stdin.readable) {
    chunks.push(chunk);
    length += chunk.length;
    if (length > limit) break;
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes.subarray(0, Math.min(length, limit + 1));
}

if (import.meta.main) {
  const io = {
    env: Deno.env.toObject(),
    stdout: writeStdout,
    stdoutBytes: writeStdoutBytes,
    stderr: writeStderr,
    readStdin,
    stdinIsTerminal: () => Deno.stdin.isTerminal(),
  };
  const args = Deno.args;
  installFatalHandler(io, {
    jsonErrors: args.includes("--log-format=json") ||
      args.some((arg, i) => arg === "--log-format" && args[i + 1] === "json") ||
      io.env.RHIZOME_LOG_FORMAT === "json",
  });
  const status = await runCli(args, io);
  Deno.exit(status);
}
