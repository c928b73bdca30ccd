/**
 * Assertions for our own invariants. They stay on in production: halting beats running in a wrong
 * state. Bytes from peers and input from users are validated, never asserted.
 *
 * @module
 */

/** An invariant of Rhizome's own code was broken: a bug, never bad input. */
export class AssertionError extends Error {
  /**
   * Makes an assertion error.
   *
   * @param message What was expected.
   */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

/**
 * Throws {@link AssertionError} unless `condition` holds.
 *
 * @param condition The invariant.
 * @param message What was expected, for the bug report.
 * @throws {AssertionError} When the invariant does not hold.
 */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}
