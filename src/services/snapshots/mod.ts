/**
 * The snapshot service: a store's records as one signed, gzip-compressed stream
 * (`docs/snapshots.md`), and that stream verified and imported into a store. Without I/O: the
 * node opens the files, holds the data dir's lock and chooses the store.
 *
 * @module
 */

export * from "./format.ts";
export * from "./export.ts";
export * from "./import.ts";
