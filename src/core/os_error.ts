/**
 * Turns operating-system errors into the short reasons Rhizome's messages end with.
 *
 * @module
 */

/**
 * A short, one-line description of an operating-system error, for messages such as
 * "Cannot read /x: permission denied".
 *
 * @param error What a `Deno.*` call threw.
 * @returns Lower-case text without a final period.
 */
export function describeOsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "it does not exist";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.AlreadyExists) return "it already exists";
  if (error instanceof Deno.errors.NotADirectory) return "a part of the path is not a directory";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (error instanceof Error) return error.message.split("\n")[0].replace(/\.$/, "");
  return String(error);
}
