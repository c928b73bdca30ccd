/** Assertions shared by the core tests. */

import assert from "node:assert/strict";
import { InvalidInputError } from "../../src/core/errors.ts";

/** Runs `fn`, expecting it to throw InvalidInputError whose message matches `pattern`. */
export function assertInvalid(fn: () => unknown, pattern: RegExp): InvalidInputError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InvalidInputError, `expected InvalidInputError, got ${caught}`);
  assert.equal(caught.code, "INVALID_INPUT");
  assert.match(caught.message, pattern);
  return caught;
}
