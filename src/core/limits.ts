/**
 * Hard limits: each one a named constant with the reason for its value and what happens when it
 * is hit. Tunable numbers (periods, budgets, k) live in the configuration instead; these are
 * the ceilings that keep hostile or broken input from costing unbounded memory or time.
 *
 * @module
 */

/**
 * Largest config file read, checked before parsing. The full commented default file is under
 * 8 KiB; 256 KiB leaves room for long bootstrap lists while keeping a mistaken path (a log file,
 * a disk image) from being parsed. At the limit: `CONFIG_UNREADABLE`, nothing parsed.
 */
export const configFileBytesMax = 256 * 1024;

/**
 * Largest identity key file read, checked before parsing. A valid one is about 300 bytes.
 * At the limit: `IDENTITY_CORRUPT`; the file is left untouched.
 */
export const identityFileBytesMax = 4 * 1024;

/**
 * Longest contact URI parsed: 6 characters of scheme, 52 of key, "@", a host name of at most
 * 253 characters (RFC 1035) and ":65535". At the limit: `INVALID_INPUT`.
 */
export const contactUriLengthMax: number = 6 + 52 + 1 + 253 + 6;

/**
 * Most bootstrap contacts taken from configuration. A network needs one live contact to join;
 * more than 256 is a mistake (a pasted peer dump) and would flood the first seconds of start-up.
 * At the limit: `CONFIG_INVALID`.
 */
export const bootstrapContactsMax = 256;
