/**
 * DHT messages and their wire form.
 *
 * A datagram is the 3-byte protocol ID "RHZ", a version byte, then one MessagePack array:
 * `[type, transaction, sender, flags, ...body]`. The protocol ID keeps other networks' traffic
 * out; the version lets a later format coexist. Decoding checks the size before parsing and the
 * shape of every field after: anything else is `undefined`, never an exception.
 *
 * @module
 */

import { Packr } from "msgpackr";
import {
  datagramValueBytesMax,
  dhtMessageBytesMax,
  lookupQueriesMax,
  recordBytesMax,
  streamDhtMessageBytesMax,
  tokenBytes,
} from "../core/limits.ts";
import { NODE_ID_BYTES, NodeId } from "../core/node_id.ts";
import { decodeAddress, sharedWireForm } from "../net/address.ts";
import type { Contact } from "./types.ts";

/** "RHZ": the first bytes of every Rhizome DHT datagram. */
export const PROTOCOL_ID: Uint8Array = new Uint8Array([0x52, 0x48, 0x5a]);
/** The wire version this build speaks. */
export const PROTOCOL_VERSION = 1;
/** Contacts in one NODES reply at most: 25 IPv6 contacts (39 bytes each) fit one datagram. */
export const contactsPerReplyMax = 25;

/** Message types; requests are odd, their replies even. */
export const MessageType = {
  ping: 1,
  pong: 2,
  findNode: 3,
  nodes: 4,
  findValue: 5,
  value: 6,
  store: 7,
  stored: 8,
  /**
   * "I am leaving": sent by a node stopping gracefully to some of its contacts, which drop it
   * from their routing tables at once. It gets no reply.
   */
  leave: 9,
  /** A reply to FIND_VALUE: "I hold it, but it is too large for a datagram: ask by stream". */
  valueRef: 10,
} as const;

/** Header flag: the sender is a DHT client (it asks but does not store or route for others). */
export const FLAG_CLIENT = 1;

/** Why a STORE was refused. */
export const StoreStatus = {
  ok: 0,
  /** The token was missing, wrong or expired. */
  badToken: 1,
  /** `ttlS` is 0, or the value does not verify against its key (a value too large is dropped). */
  invalid: 2,
  /** This node does not store for others (a client), or its store failed otherwise. */
  declined: 3,
  /** The value is an older version (a lower sequence) than the one held. */
  stale: 4,
  /**
   * This node's store has no room (its quota holds nothing evictable, or its disk is full or
   * failed the write). It keeps serving reads; the sender should store elsewhere.
   */
  full: 5,
} as const;

/** The fields every DHT message starts with. */
export interface Header {
  /** Transaction ID: a reply echoes its request's. */
  tx: number;
  /** The sender's node ID. */
  sender: NodeId;
  /** {@link FLAG_CLIENT} or 0. */
  flags: number;
}

/** A DHT message. */
export type Message =
  | Header & { type: typeof MessageType.ping }
  | Header & { type: typeof MessageType.pong }
  | Header & { type: typeof MessageType.leave }
  | Header & { type: typeof MessageType.findNode; target: NodeId }
  | Header & { type: typeof MessageType.nodes; contacts: Contact[]; token: Uint8Array }
  | Header & { type: typeof MessageType.findValue; key: NodeId }
  | Header & { type: typeof MessageType.value; value: Uint8Array; token: Uint8Array }
  | Header & {
    type: typeof MessageType.store;
    key: NodeId;
    value: Uint8Array;
    token: Uint8Array;
    /** Seconds the value has left to live: a replica never outlives the copy it came from. */
    ttlS: number;
    /**
     * The replica count the sender's policy pushes the record at, sent only when above k (a
     * popular record): holders keep the largest they heard lately, so they agree on a record's
     * replica count however few of its reads each served. Absent: k.
     */
    replicas?: number;
  }
  | Header & { type: typeof MessageType.stored; status: number }
  | Header & { type: typeof MessageType.valueRef; size: number; token: Uint8Array };

const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });

/** How large a message may be: one datagram, or one stream frame. */
export type MessageSize = "datagram" | "stream";

const bytesMax: Record<MessageSize, number> = {
  datagram: dhtMessageBytesMax,
  stream: streamDhtMessageBytesMax,
};
const valueBytesMax: Record<MessageSize, number> = {
  datagram: datagramValueBytesMax,
  stream: recordBytesMax,
};

/**
 * The bytes of a message.
 *
 * @param message The message; its fields must already respect the limits.
 * @param size Whether it goes in a datagram (the default) or on the stream transport.
 * @returns The bytes, at most `dhtMessageBytesMax` (or `streamDhtMessageBytesMax`).
 * @throws {RangeError} When the message would not fit (a bug in the caller).
 */
export function encodeMessage(message: Message, size: MessageSize = "datagram"): Uint8Array {
  const head = [message.type, message.tx, message.sender.toBytes(), message.flags];
  let body: unknown[];
  switch (message.type) {
    case MessageType.ping:
    case MessageType.pong:
    case MessageType.leave:
      body = [];
      break;
    case MessageType.findNode:
      body = [message.target.toBytes()];
      break;
    case MessageType.nodes:
      body = [encodeContacts(message.contacts), message.token];
      break;
    case MessageType.findValue:
      body = [message.key.toBytes()];
      break;
    case MessageType.value:
      body = [message.value, message.token];
      break;
    case MessageType.store:
      body = [message.key.toBytes(), message.value, message.token, message.ttlS];
      if (message.replicas !== undefined) body.push(message.replicas);
      break;
    case MessageType.stored:
      body = [message.status];
      break;
    case MessageType.valueRef:
      body = [message.size, message.token];
      break;
  }
  const packed = packr.pack([...head, ...body]);
  const bytes = new Uint8Array(PROTOCOL_ID.length + 1 + packed.length);
  bytes.set(PROTOCOL_ID, 0);
  bytes[PROTOCOL_ID.length] = PROTOCOL_VERSION;
  bytes.set(packed, PROTOCOL_ID.length + 1);
  if (bytes.length > bytesMax[size]) {
    throw new RangeError(
      `Cannot encode message type ${message.type}: ${bytes.length} bytes, limit ${bytesMax[size]}`,
    );
  }
  return bytes;
}

/** Why a datagram did not decode, for the counters. */
export type DecodeFailure = "oversize" | "protocol" | "version" | "malformed";

/**
 * A message from a datagram, or why there is none.
 *
 * @param bytes The datagram (or stream frame) as received.
 * @param size Where it came from: a datagram (the default) or the stream transport.
 * @returns The message, or the reason it was dropped.
 */
export function decodeMessage(
  bytes: Uint8Array,
  size: MessageSize = "datagram",
): Message | DecodeFailure {
  if (bytes.length > bytesMax[size]) return "oversize";
  if (bytes.length < PROTOCOL_ID.length + 2) return "malformed";
  for (let i = 0; i < PROTOCOL_ID.length; i++) {
    if (bytes[i] !== PROTOCOL_ID[i]) return "protocol";
  }
  if (bytes[PROTOCOL_ID.length] !== PROTOCOL_VERSION) return "version";
  let fields: unknown;
  try {
    fields = packr.unpack(bytes.subarray(PROTOCOL_ID.length + 1));
  } catch {
    return "malformed";
  }
  return (Array.isArray(fields) ? messageOf(fields, valueBytesMax[size]) : undefined) ??
    "malformed";
}

function messageOf(fields: unknown[], valueMax: number): Message | undefined {
  const isValue = (value: unknown): value is Uint8Array =>
    value instanceof Uint8Array && value.length <= valueMax;
  const [type, tx, senderBytes, flags] = fields;
  if (!isUint32(tx) || !isUint32(flags) || !isId(senderBytes)) return undefined;
  const header = { tx, sender: NodeId.fromBytes(senderBytes), flags };
  switch (type) {
    case MessageType.ping:
    case MessageType.pong:
    case MessageType.leave:
      return fields.length === 4 ? { ...header, type } : undefined;
    case MessageType.findNode:
      return fields.length === 5 && isId(fields[4])
        ? { ...header, type, target: NodeId.fromBytes(fields[4]) }
        : undefined;
    case MessageType.findValue:
      return fields.length === 5 && isId(fields[4])
        ? { ...header, type, key: NodeId.fromBytes(fields[4]) }
        : undefined;
    case MessageType.nodes: {
      if (fields.length !== 6 || !isToken(fields[5])) return undefined;
      const contacts = contactsOf(fields[4]);
      return contacts ? { ...header, type, contacts, token: copy(fields[5]) } : undefined;
    }
    case MessageType.value:
      return fields.length === 6 && isValue(fields[4]) && isToken(fields[5])
        ? { ...header, type, value: copy(fields[4]), token: copy(fields[5]) }
        : undefined;
    case MessageType.store:
      return (fields.length === 8 || (fields.length === 9 && isReplicas(fields[8]))) &&
          isId(fields[4]) && isValue(fields[5]) && isToken(fields[6]) && isUint32(fields[7])
        ? {
          ...header,
          type,
          key: NodeId.fromBytes(fields[4]),
          value: copy(fields[5]),
          token: copy(fields[6]),
          ttlS: fields[7],
          ...(fields.length === 9 ? { replicas: fields[8] as number } : {}),
        }
        : undefined;
    case MessageType.stored:
      return fields.length === 5 && isUint32(fields[4])
        ? { ...header, type, status: fields[4] }
        : undefined;
    case MessageType.valueRef:
      return fields.length === 6 && isUint32(fields[4]) && isToken(fields[5])
        ? { ...header, type, size: fields[4], token: copy(fields[5]) }
        : undefined;
    default:
      return undefined;
  }
}

/**
 * Contacts travel as one binary field, each as its 20-byte ID, a length byte (6 or 18) and the
 * wire address: one field instead of two per contact keeps decoding cheap.
 */
function encodeContacts(contacts: readonly Contact[]): Uint8Array {
  const encoded: [Contact, Uint8Array][] = [];
  let length = 0;
  for (const contact of contacts) {
    const address = sharedWireForm(contact.address);
    encoded.push([contact, address]);
    length += NODE_ID_BYTES + 1 + address.length;
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const [contact, address] of encoded) {
    contact.nodeId.writeTo(bytes, offset);
    bytes[offset + NODE_ID_BYTES] = address.length;
    bytes.set(address, offset + NODE_ID_BYTES + 1);
    offset += NODE_ID_BYTES + 1 + address.length;
  }
  return bytes;
}

function contactsOf(field: unknown): Contact[] | undefined {
  if (!(field instanceof Uint8Array)) return undefined;
  const contacts: Contact[] = [];
  let offset = 0;
  while (offset < field.length) {
    if (contacts.length >= contactsPerReplyMax) return undefined;
    if (offset + NODE_ID_BYTES + 1 > field.length) return undefined;
    const addressLength = field[offset + NODE_ID_BYTES];
    const start = offset + NODE_ID_BYTES + 1;
    if (start + addressLength > field.length) return undefined;
    const address = decodeAddress(field.subarray(start, start + addressLength));
    if (address === undefined) return undefined;
    contacts.push({ nodeId: NodeId.fromBytesAt(field, offset), address });
    offset = start + addressLength;
  }
  return contacts;
}

/** Decoded byte fields are views into the datagram, whose buffer a driver may reuse: copy. */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** A STORE's replica count: 1 to the most a record is pushed to (`replicasPerRecordMax`). */
function isReplicas(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 &&
    value <= lookupQueriesMax;
}

function isUint32(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 &&
    value <= 0xffffffff;
}

function isId(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === NODE_ID_BYTES;
}

function isToken(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === tokenBytes;
}
