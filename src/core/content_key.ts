/**
 * Content addressing: the key of an immutable value is the first 160 bits of its SHA-256, so any
 * node checks a value against its key without trusting whoever sent it.
 *
 * @module
 */

import { sha256 } from "./crypto.ts";
import { NODE_ID_BYTES, NodeId } from "./node_id.ts";

/**
 * The key of a value.
 *
 * @param value The value's bytes.
 * @returns SHA-256(value) cut to 160 bits.
 */
export function contentKey(value: Uint8Array): NodeId {
  return NodeId.fromBytes(sha256(value).subarray(0, NODE_ID_BYTES));
}
