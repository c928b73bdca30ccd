/**
 * A program that installs the fatal handler, registers a clean-up that writes `args[1]`, then
 * fails as `args[0]` says: `throw` (an uncaught exception in a timer), `reject` (an unhandled
 * rejection) or `rhizome` (an unhandled RhizomeError). `args[2] === "debug"` logs at debug level.
 */

import { RhizomeError } from "../../src/core/errors.ts";
import { configureLogging, writeStderr } from "../../src/core/log.ts";
import { installFatalHandler, onFatalError } from "../../src/cli/fatal.ts";

const [how, marker, level] = Deno.args;
const io = { env: {}, stdout: () => {}, stderr: writeStderr };
configureLogging({
  level: level === "debug" ? "debug" : "info",
  format: "text",
  linesPerSecondMax: 50,
});
installFatalHandler(io, { jsonErrors: false });
onFatalError(() => Deno.writeTextFile(marker, "cleaned up\n"));
if (how === "throw") {
  setTimeout(() => {
    throw new TypeError("boom\nsecond line");
  }, 1);
}
if (how === "reject") void Promise.reject(new Error("rejected"));
if (how === "rhizome") void Promise.reject(new RhizomeError("STORE_FULL", "Cannot store: full"));
setTimeout(() => {}, 10_000);
