/**
 * MessagePack for hand-built payloads in tests: the canonical form for what records hold, and
 * msgpackr's for what no record holds (text strings, maps, floats), so a test can put those where
 * a record's fields go and see them refused.
 */

import { Packr } from "msgpackr";
import { concatBytes } from "../../src/core/bytes.ts";
import { encodeCanonical } from "../../src/content/canonical.ts";

const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });

/**
 * Encodes a value, arrays element by element (at most 15 elements: a fixarray header).
 *
 * @param value Any value.
 * @returns Its bytes.
 */
export function loosePack(value: unknown): Uint8Array {
  if (Array.isArray(value)) {
    if (value.length > 15) throw new RangeError("loosePack: arrays of at most 15 elements");
    return concatBytes(new Uint8Array([0x90 | value.length]), ...value.map(loosePack));
  }
  if (
    Number.isSafeInteger(value) || typeof value === "boolean" || value instanceof Uint8Array
  ) {
    return encodeCanonical(value as number | boolean | Uint8Array);
  }
  return new Uint8Array(packr.pack(value));
}
