/**
 * A tiny authoritative DNS server for tests: answers TXT queries on loopback UDP from a table
 * the test fills (RFC 1035 wire format, no compression beyond the answer's pointer to the
 * question), NXDOMAIN for names not in it, and records the size of every answer so a test can
 * check that the seed list fits 512-byte UDP answers.
 */

import dgram from "node:dgram";

/** Largest query parsed; a real one is under 300 bytes. */
const queryBytesMax = 512;

/** TXT's record type number. */
const TYPE_TXT = 16;

/** A running test DNS server. */
export interface TestDnsServer {
  /** `127.0.0.1:<port>`. */
  address: string;
  /** Name (lower case, no final dot) → its TXT records, each a list of strings. */
  records: Map<string, string[][]>;
  /** Queries answered so far: name and answer size in bytes. */
  answers: { name: string; bytes: number }[];
  /** Stops it. */
  close(): Promise<void>;
}

/**
 * Starts the server on a free loopback port.
 *
 * @returns The server.
 */
export async function startDnsServer(): Promise<TestDnsServer> {
  const socket = dgram.createSocket("udp4");
  const records = new Map<string, string[][]>();
  const answers: TestDnsServer["answers"] = [];
  socket.on("message", (query: Uint8Array, from: { address: string; port: number }) => {
    const answer = answerTo(query, records);
    if (!answer) return;
    answers.push({ name: answer.name, bytes: answer.bytes.length });
    socket.send(answer.bytes, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    records,
    answers,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/**
 * The answer to one query, or `undefined` for bytes that are not a single-question query.
 *
 * @param query The datagram.
 * @param records The table.
 * @returns The answer's bytes and the name asked.
 */
export function answerTo(
  query: Uint8Array,
  records: ReadonlyMap<string, string[][]>,
): { name: string; bytes: Uint8Array } | undefined {
  if (query.length < 12 || query.length > queryBytesMax) return undefined;
  const view = new DataView(query.buffer, query.byteOffset, query.byteLength);
  if ((query[2] & 0x80) !== 0 || view.getUint16(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (let steps = 0; steps < 128; steps++) {
    if (offset >= query.length) return undefined;
    const length = query[offset];
    if (length === 0) break;
    if (length > 63 || offset + 1 + length > query.length) return undefined;
    labels.push(new TextDecoder().decode(query.subarray(offset + 1, offset + 1 + length)));
    offset += 1 + length;
  }
  const questionEnd = offset + 5;
  if (questionEnd > query.length) return undefined;
  const type = view.getUint16(offset + 1);
  const name = labels.join(".").toLowerCase();
  const found = type === TYPE_TXT ? records.get(name) : undefined;
  const rdatas = (found ?? []).map((strings) => {
    const parts = strings.map((text) => new TextEncoder().encode(text));
    const rdata = new Uint8Array(parts.reduce((sum, part) => sum + 1 + part.length, 0));
    let at = 0;
    for (const part of parts) {
      rdata[at++] = part.length;
      rdata.set(part, at);
      at += part.length;
    }
    return rdata;
  });
  const answerBytes = rdatas.reduce((sum, rdata) => sum + 12 + rdata.length, 0);
  const bytes = new Uint8Array(questionEnd + answerBytes);
  bytes.set(query.subarray(0, questionEnd));
  const out = new DataView(bytes.buffer);
  // QR=1, opcode 0, AA=1, RD copied; RCODE 3 (NXDOMAIN) when the name is unknown.
  bytes[2] = 0x84 | (query[2] & 0x01);
  bytes[3] = records.has(name) ? 0 : 3;
  out.setUint16(4, 1);
  out.setUint16(6, rdatas.length);
  out.setUint16(8, 0);
  out.setUint16(10, 0);
  let at = questionEnd;
  for (const rdata of rdatas) {
    out.setUint16(at, 0xc00c); // the name: a pointer to the question's
    out.setUint16(at + 2, TYPE_TXT);
    out.setUint16(at + 4, 1); // class IN
    out.setUint32(at + 6, 60); // TTL
    out.setUint16(at + 10, rdata.length);
    bytes.set(rdata, at + 12);
    at += 12 + rdata.length;
  }
  return { name, bytes };
}
