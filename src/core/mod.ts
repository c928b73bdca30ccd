/**
 * The core of Rhizome: IDs, bytes, errors, configuration, logging and time. Every other layer
 * builds on it; it depends on nothing else in Rhizome.
 *
 * - {@link NodeId}: 160-bit IDs, XOR distance, shared prefixes.
 * - {@link Clock} and {@link VirtualClock}: time handed to the protocol core ({@link SystemClock}
 *   for production drivers).
 * - {@link resolveConfig}: layered, validated configuration.
 * - {@link RhizomeError} and its subclasses: stable codes, stable exit statuses.
 * - {@link parseContactUri} / {@link formatContactUri}: `rhz://` contact URIs.
 * - Hashing and Ed25519 signatures on `node:crypto`.
 *
 * @module
 */

export * from "./assert.ts";
export * from "./bytes.ts";
export * from "./clock.ts";
export * from "./config.ts";
export * from "./config_defaults.ts";
export * from "./config_schema.ts";
export * from "./contact_uri.ts";
export * from "./content_key.ts";
export * from "./crypto.ts";
export * from "./errors.ts";
export * from "./identity.ts";
export * from "./limits.ts";
export * from "./log.ts";
export * from "./node_id.ts";
export * from "./format.ts";
export * from "./os_error.ts";
export * from "./pool.ts";
export * from "./rng.ts";
export * from "./share_string.ts";
export * from "./system_clock.ts";
