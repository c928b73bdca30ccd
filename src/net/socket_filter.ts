/**
 * A kernel filter of banned sources on the node's UDP socket: a classic BPF program, attached
 * with `setsockopt(SO_ATTACH_FILTER)`, that drops every datagram from a banned source before it
 * takes a place in the socket's receive buffer.
 *
 * Why: the receive guard (`receive_guard.ts`) drops a banned peer's datagrams before any
 * decryption, but only after the process has read them, and reading costs far more than the
 * guard's check (about 13 µs a datagram through node:dgram on a loaded core, so one process reads
 * at most some tens of thousands a second). A flood above that fills the socket's buffer and the
 * kernel drops what does not fit, without looking at who sent it: a legitimate client's requests
 * were lost at the flood's share of the input (half of them at 30k/s of flood). With the
 * filter, a banned flooder's datagrams never reach the buffer, so the node reads only what it
 * has not yet judged, and the buffer is free for everybody else.
 *
 * Linux with glibc only, through FFI (`--allow-ffi`, which the node has for LMDB): node:dgram
 * does not expose the socket's descriptor, so it is found by asking every descriptor of the
 * process for its local address (`getsockname`) and type (a datagram socket bound to the
 * transport's address and port). Elsewhere, or when that fails, the filter is not installed and
 * {@link SocketFilter.install} says why in one line; the guard still drops the same datagrams
 * after reading them.
 *
 * The kernel counts the datagrams the filter drops with the buffer's drops (the `drops` column
 * of `/proc/net/udp`, `UdpTransportStats.kernelReceiveDrops`).
 *
 * @module
 */

import type { PeerAddress } from "./address.ts";

/**
 * Sources the filter drops at most: the most recently banned are kept. Each costs the kernel
 * three to eleven instructions per datagram received, so 256 keep the program under 3,000
 * instructions (the kernel's limit is 4,096) and its cost per datagram a few microseconds at
 * worst, well below the cost of reading a datagram. Banned sources beyond these are still
 * dropped by the receive guard, after being read.
 */
export const kernelFilterSourcesMax = 256;

/**
 * Descriptors searched for the socket: the process's own descriptors up to this number. A node
 * holds a few dozen (LMDB, the control API and stream connections, up to their caps); 65,536
 * is far beyond that and the search stops at the first match.
 */
export const socketDescriptorsSearchedMax = 65_536;

/** A source to drop: one IP address, or one IP address and port. */
export interface BlockedSource {
  /** The address; its port too unless `wholeHost`. */
  address: PeerAddress;
  /** Drop every port of the address (for a remote source, which the guard keys by IP). */
  wholeHost: boolean;
}

/** One BPF instruction: opcode, jump if true, jump if false, constant. */
type Instruction = [code: number, jt: number, jf: number, k: number];

// Classic BPF opcodes (linux/filter.h).
const ldAbsWord = 0x20; // BPF_LD | BPF_W | BPF_ABS
const ldAbsHalf = 0x28; // BPF_LD | BPF_H | BPF_ABS
const ldAbsByte = 0x30; // BPF_LD | BPF_B | BPF_ABS
const ldMem = 0x60; // BPF_LD | BPF_MEM
const store = 0x02; // BPF_ST
const rshK = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const jeqK = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const ja = 0x05; // BPF_JMP | BPF_JA
const retK = 0x06; // BPF_RET | BPF_K
/** Where the network header starts, for a load (SKF_NET_OFF). */
const netOffset = -0x100000;
const accept = 0xffffffff;
const drop = 0;

/** Scratch memory slots: the UDP source port, then the source address's words. */
const portSlot = 0;
const addressSlot = 1;

/**
 * The program that drops datagrams from `sources` and accepts the rest. At the socket filter the
 * packet starts at the UDP header (source port at offset 0); the IP header is reached through
 * the network-header offset, its version in the top four bits of its first byte.
 *
 * @param sources What to drop; at most {@link kernelFilterSourcesMax} are used (the last ones).
 * @param ipv4Socket Whether the socket is IPv4 only; an IPv6 socket also hears IPv4 peers
 *   (dual stack), so its program tells the two apart by the version.
 * @returns The instructions, 8 bytes each, as the kernel reads them (little-endian host).
 */
export function buildSourceFilter(
  sources: readonly BlockedSource[],
  ipv4Socket: boolean,
): Uint8Array {
  const used = sources.slice(-kernelFilterSourcesMax);
  const v4 = sourceSection(used.filter((source) => source.address.family === 4), 4);
  const program: Instruction[] = [[ldAbsHalf, 0, 0, 0], [store, 0, 0, portSlot]];
  if (ipv4Socket) {
    program.push(...v4);
  } else {
    const v6 = sourceSection(used.filter((source) => source.address.family === 6), 6);
    program.push(
      [ldAbsByte, 0, 0, netOffset >>> 0],
      [rshK, 0, 0, 4],
      [jeqK, 1, 0, 4],
      [ja, 0, 0, v4.length],
      ...v4,
      ...v6,
    );
  }
  return encode(program);
}

/**
 * Loads the source address into scratch memory, tests each source in turn (each test ends in
 * its own `ret 0`, so every jump is short), and accepts what matched none.
 */
function sourceSection(sources: readonly BlockedSource[], family: 4 | 6): Instruction[] {
  const words = family === 4 ? 1 : 4;
  const firstWordOffset = family === 4 ? 12 : 8;
  const section: Instruction[] = [];
  for (let word = 0; word < words; word++) {
    section.push(
      [ldAbsWord, 0, 0, (netOffset + firstWordOffset + 4 * word) >>> 0],
      [store, 0, 0, addressSlot + word],
    );
  }
  for (const source of sources) {
    const test: [slot: number, value: number][] = addressWords(source.address).map((
      value,
      word,
    ) => [addressSlot + word, value]);
    if (!source.wholeHost) test.push([portSlot, source.address.port]);
    const length = 2 * test.length + 1;
    test.forEach(([slot, value], index) => {
      const at = 2 * index + 1; // the jeq's index within this test
      section.push([ldMem, 0, 0, slot], [jeqK, 0, length - 1 - at, value >>> 0]);
    });
    section.push([retK, 0, 0, drop]);
  }
  section.push([retK, 0, 0, accept]);
  return section;
}

/** An address as big-endian 32-bit words, as a BPF word load sees it. */
function addressWords(address: PeerAddress): number[] {
  if (address.family === 4) {
    const [a, b, c, d] = address.host.split(".").map(Number);
    return [((a << 24) | (b << 16) | (c << 8) | d) >>> 0];
  }
  const bytes = ipv6Bytes(address.host);
  const view = new DataView(bytes.buffer);
  return [0, 1, 2, 3].map((word) => view.getUint32(4 * word));
}

/** The 16 bytes of a canonical IPv6 address text. */
function ipv6Bytes(host: string): Uint8Array {
  const bytes = new Uint8Array(16);
  const [head, tail] = host.includes("::") ? host.split("::") : [host, undefined];
  const groups = (text: string | undefined) =>
    text === undefined || text === "" ? [] : text.split(":").map((group) => parseInt(group, 16));
  const front = groups(head);
  const back = groups(tail);
  const all = [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
  all.forEach((group, index) => {
    bytes[2 * index] = group >> 8;
    bytes[2 * index + 1] = group & 0xff;
  });
  return bytes;
}

function encode(program: Instruction[]): Uint8Array {
  const bytes = new Uint8Array(8 * program.length);
  const view = new DataView(bytes.buffer);
  program.forEach(([code, jt, jf, k], index) => {
    view.setUint16(8 * index, code, true);
    bytes[8 * index + 2] = jt;
    bytes[8 * index + 3] = jf;
    view.setUint32(8 * index + 4, k, true);
  });
  return bytes;
}

const SOCKET_SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
} as const;

type SocketCalls = Deno.DynamicLibrary<typeof SOCKET_SYMBOLS>["symbols"];

// Linux constants.
const solSocket = 1;
const soType = 3;
const soAttachFilter = 26;
const soDetachFilter = 27;
const sockDgram = 2;
const afInet = 2;
const afInet6 = 10;

let calls: { symbols?: SocketCalls; problem: string } | undefined;

function socketCalls(): { symbols?: SocketCalls; problem: string } {
  if (Deno.build.os !== "linux") return { problem: `no socket filters on ${Deno.build.os}` };
  if (calls) return calls;
  try {
    calls = { symbols: Deno.dlopen("libc.so.6", SOCKET_SYMBOLS).symbols, problem: "" };
  } catch (error) {
    calls = { problem: `cannot load libc.so.6: ${(error as Error).message ?? error}` };
  }
  return calls;
}

/** The kernel filter of one UDP socket. */
export class SocketFilter {
  readonly #address: PeerAddress;
  readonly #ipv4Socket: boolean;
  /** The socket's descriptor once found; -1 when the search found none (not repeated). */
  #descriptor: number | undefined;
  #installedKey = "";
  #installed = 0;

  /**
   * @param address The socket's bound address (as `UdpTransport.address` reports it).
   * @param ipv4Socket Whether it is an IPv4 socket.
   */
  constructor(address: PeerAddress, ipv4Socket: boolean) {
    this.#address = address;
    this.#ipv4Socket = ipv4Socket;
  }

  /** Sources the installed program drops. */
  get installed(): number {
    return this.#installed;
  }

  /**
   * Replaces the socket's filter with one that drops `sources` (none: the filter is removed).
   * Does nothing when the same sources are installed already.
   *
   * @param sources What to drop; the last {@link kernelFilterSourcesMax} are used.
   * @returns `undefined` when installed, else why not, in one line (nothing changed then).
   */
  install(sources: readonly BlockedSource[]): string | undefined {
    const used = sources.slice(-kernelFilterSourcesMax);
    const key = used.map((source) => `${source.wholeHost ? "*" : ""}${source.address.key}`).join(
      " ",
    );
    if (key === this.#installedKey) return undefined;
    const { symbols, problem } = socketCalls();
    if (symbols === undefined) return problem;
    const descriptor = this.#descriptor ??= this.#findDescriptor(symbols) ?? -1;
    if (descriptor < 0) {
      return `no datagram socket of this process is bound to ${this.#address}`;
    }
    if (used.length === 0) {
      // Fails only when no filter is attached, which is what was wanted.
      symbols.setsockopt(descriptor, solSocket, soDetachFilter, new Uint8Array(4), 4);
    } else {
      const program = buildSourceFilter(used, this.#ipv4Socket);
      const header = new Uint8Array(16); // struct sock_fprog: u16 length, then a pointer
      const view = new DataView(header.buffer);
      view.setUint16(0, program.length / 8, true);
      view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
      if (symbols.setsockopt(descriptor, solSocket, soAttachFilter, header, 16) !== 0) {
        return `the kernel refused the filter on ${this.#address}`;
      }
    }
    this.#installedKey = key;
    this.#installed = used.length;
    return undefined;
  }

  /** The descriptor of the datagram socket bound to the address, searched for in order. */
  #findDescriptor(symbols: SocketCalls): number | undefined {
    const { family, port } = this.#address;
    const wantedWords = addressWords(this.#address);
    const name = new Uint8Array(128);
    const nameLength = new Uint32Array(1);
    const type = new Int32Array(1);
    const typeLength = new Uint32Array(1);
    for (let descriptor = 0; descriptor < socketDescriptorsSearchedMax; descriptor++) {
      nameLength[0] = name.length;
      if (symbols.getsockname(descriptor, name, new Uint8Array(nameLength.buffer)) !== 0) continue;
      const view = new DataView(name.buffer);
      const boundFamily = view.getUint16(0, true);
      if (view.getUint16(2) !== port) continue;
      let words: number[];
      if (boundFamily === afInet && family === 4) words = [view.getUint32(4)];
      else if (boundFamily === afInet6 && family === 6) {
        words = [0, 1, 2, 3].map((word) => view.getUint32(8 + 4 * word));
      } else continue;
      if (words.some((word, index) => word !== wantedWords[index])) continue;
      typeLength[0] = 4;
      const typeBytes = new Uint8Array(type.buffer);
      if (
        symbols.getsockopt(
          descriptor,
          solSocket,
          soType,
          typeBytes,
          new Uint8Array(typeLength.buffer),
        ) !== 0
      ) {
        continue;
      }
      if (type[0] === sockDgram) return descriptor;
    }
    return undefined;
  }
}
