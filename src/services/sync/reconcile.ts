/**
 * One step of range-based set reconciliation, written from the negentropy protocol's description
 * (Doug Hoyte, "Range-Based Set Reconciliation", and the negentropy v1 wire format): a message is
 * a list of ranges that together cover the item order from the start up to some bound; each
 * range is an upper bound (the lower one is the previous range's upper) and a mode:
 *
 * - Skip: nothing to do here;
 * - Fingerprint: "my items in this range hash to this"; a receiver whose own fingerprint differs
 *   splits the range into {@link SYNC_BUCKETS} fingerprints, or lists its IDs when it holds fewer
 *   than {@link SYNC_ID_LIST_ITEMS_MAX} items there;
 * - IdList: "these are all my IDs in this range". The client (initiator), given the server's
 *   list, learns what it lacks (`need`) and what the server lacks (`have`); the server, given the
 *   client's list, sends the records the client lacks (`push`) instead of its own list, which
 *   saves the client asking for them.
 *
 * Two departures from negentropy v1, both for a pull: a server that receives a fingerprint equal
 * to the empty range's treats it as an empty ID list (the client holds nothing there, so the
 * records go at once), and ID lists may carry ID prefixes of `idBytes` (8..32) bytes, chosen by
 * the client per session. Output is bounded: when the next range would take the message over
 * its byte budget, the rest of the order goes as one fingerprint, which the peer splits again in
 * the next round (negentropy's frame size limit).
 *
 * @module
 */

import { bytesEqual, toHex } from "../../core/bytes.ts";
import {
  type Bound,
  BOUND_END,
  BOUND_START,
  boundBetween,
  FINGERPRINT_BYTES,
  SYNC_ID_BYTES,
  type SyncItem,
  SyncItemSet,
} from "./items.ts";
import { ByteReader, ByteWriter } from "./varint.ts";

/**
 * Sub-ranges a differing range splits into (negentropy's default). More buckets mean fewer
 * rounds and more fingerprints per round.
 */
export const SYNC_BUCKETS = 16;

/**
 * A differing range with fewer items than this is answered with its IDs rather than split
 * (negentropy's 2 × buckets): listing 32 IDs costs less than 16 fingerprints of 2 items each.
 */
export const SYNC_ID_LIST_ITEMS_MAX: number = 2 * SYNC_BUCKETS;

/**
 * Bytes kept free under a message's budget for the closing fingerprint of what was not processed:
 * a skip and a fingerprint range, each bound at most 1 + 9 + 1 + 32 bytes.
 */
const REMAINDER_BYTES = 128;

/** Bytes of an ID list's range around its IDs at most: a skip and a bound, mode and count. */
const LIST_HEADER_BYTES = 96;

/** Range modes on the wire. */
export const RangeMode = { skip: 0, fingerprint: 1, idList: 2 } as const;

/** Shortest and longest ID prefix an ID list may carry. */
export const ID_BYTES_MIN = 8;
/** Longest: a whole ID. */
export const ID_BYTES_MAX: number = SYNC_ID_BYTES;

/** A decoded range. */
export type Range =
  | { readonly bound: Bound; readonly mode: typeof RangeMode.skip }
  | {
    readonly bound: Bound;
    readonly mode: typeof RangeMode.fingerprint;
    readonly fingerprint: Uint8Array;
  }
  | { readonly bound: Bound; readonly mode: typeof RangeMode.idList; readonly ids: Uint8Array[] };

/** The fingerprint of an empty range: SHA-256 of 32 zero bytes and the varint 0, cut to 16. */
export const EMPTY_FINGERPRINT: Uint8Array = new SyncItemSet([]).fingerprint(0, 0);

/**
 * Decodes a reconciliation message strictly: bounds strictly increasing, nothing after the end
 * bound, prefixes within 32 bytes, ID lists of `idBytes`-byte entries.
 *
 * @param bytes The message.
 * @param idBytes The session's ID-list width.
 * @param idsMax Most IDs accepted in all.
 * @returns The ranges, or a one-line reason.
 */
export function decodeRanges(
  bytes: Uint8Array,
  idBytes: number,
  idsMax: number,
): Range[] | string {
  const reader = new ByteReader(bytes);
  const ranges: Range[] = [];
  let lastTime = 0;
  let previous: Bound = BOUND_START;
  let ids = 0;
  while (reader.remaining > 0) {
    if (previous.timeS === Infinity) return "a range follows the end bound";
    const encodedTime = reader.varint();
    if (encodedTime === undefined) return "a bound's time is malformed";
    const timeS = encodedTime === 0 ? Infinity : lastTime + encodedTime - 1;
    if (!Number.isSafeInteger(timeS) && timeS !== Infinity) return "a bound's time is too large";
    if (timeS !== Infinity) lastTime = timeS;
    const prefixLength = reader.varint();
    if (prefixLength === undefined || prefixLength > SYNC_ID_BYTES) {
      return "a bound's ID prefix is over 32 bytes";
    }
    const prefix = reader.bytes(prefixLength);
    if (prefix === undefined) return "a bound is truncated";
    const bound: Bound = { timeS, idPrefix: prefix.slice() };
    if (compareBounds(previous, bound) >= 0 && ranges.length > 0) {
      return "the bounds are not increasing";
    }
    previous = bound;
    const mode = reader.varint();
    if (mode === RangeMode.skip) {
      ranges.push({ bound, mode });
    } else if (mode === RangeMode.fingerprint) {
      const fingerprint = reader.bytes(FINGERPRINT_BYTES);
      if (fingerprint === undefined) return "a fingerprint is truncated";
      ranges.push({ bound, mode, fingerprint: fingerprint.slice() });
    } else if (mode === RangeMode.idList) {
      const count = reader.varint();
      if (count === undefined || count * idBytes > reader.remaining) {
        return "an ID list is truncated";
      }
      ids += count;
      if (ids > idsMax) return `the message lists over ${idsMax} IDs`;
      const list: Uint8Array[] = [];
      for (let i = 0; i < count; i++) list.push(reader.bytes(idBytes)!.slice());
      ranges.push({ bound, mode, ids: list });
    } else {
      return `range mode ${mode ?? "(truncated)"} is unknown`;
    }
  }
  return ranges;
}

/**
 * The order of bounds.
 *
 * @param a One bound.
 * @param b Another.
 * @returns Negative, zero or positive.
 */
export function compareBounds(a: Bound, b: Bound): number {
  if (a.timeS !== b.timeS) return a.timeS < b.timeS ? -1 : 1;
  const length = Math.max(a.idPrefix.length, b.idPrefix.length);
  for (let i = 0; i < length; i++) {
    const x = a.idPrefix[i] ?? 0;
    const y = b.idPrefix[i] ?? 0;
    if (x !== y) return x - y;
  }
  return 0;
}

/** Writes ranges, merging consecutive skips and delta-coding times, within a byte budget. */
class RangeWriter {
  readonly #writer = new ByteWriter();
  #lastTime = 0;
  /** Index in our set up to which the written ranges reach. */
  emittedIndex = 0;
  #pendingSkip: { bound: Bound; index: number } | undefined;

  get length(): number {
    return this.#writer.length;
  }

  skip(bound: Bound, index: number): void {
    this.#pendingSkip = { bound, index };
  }

  /** Encodes ranges as they would be written now, without writing them. */
  encode(ranges: readonly Range[]): { bytes: Uint8Array; lastTime: number; end: boolean } {
    const out = new ByteWriter();
    let lastTime = this.#lastTime;
    const all = this.#pendingSkip
      ? [{ bound: this.#pendingSkip.bound, mode: RangeMode.skip } as Range, ...ranges]
      : ranges;
    for (const range of all) {
      if (range.bound.timeS === Infinity) {
        out.varint(0);
      } else {
        out.varint(1 + range.bound.timeS - lastTime);
        lastTime = range.bound.timeS;
      }
      out.varint(range.bound.idPrefix.length);
      out.push(range.bound.idPrefix);
      out.varint(range.mode);
      if (range.mode === RangeMode.fingerprint) out.push(range.fingerprint);
      if (range.mode === RangeMode.idList) {
        out.varint(range.ids.length);
        for (const id of range.ids) out.push(id);
      }
    }
    const end = all.some((range) => range.bound.timeS === Infinity);
    return { bytes: out.finish(), lastTime, end };
  }

  /** Writes the pending skip, if any, so the next range starts where it ends. */
  flushSkip(): void {
    if (!this.#pendingSkip) return;
    const index = this.#pendingSkip.index;
    this.commit(this.encode([]), index);
  }

  /** Whether a range up to the end bound was written: nothing may follow it. */
  endWritten = false;

  commit(
    encoded: { bytes: Uint8Array; lastTime: number; end: boolean },
    index: number,
  ): void {
    if (encoded.end) this.endWritten = true;
    this.#writer.push(encoded.bytes);
    this.#lastTime = encoded.lastTime;
    this.#pendingSkip = undefined;
    this.emittedIndex = index;
  }

  finish(): Uint8Array {
    return this.#writer.finish(); // a trailing skip is left out: the rest is skipped anyway
  }
}

/** What one step decided besides its reply. */
export interface StepResult {
  /** The reply; empty when this side has nothing more to reconcile. */
  readonly message: Uint8Array;
  /** Client: ID prefixes the server holds and this client lacks. */
  readonly need: Uint8Array[];
  /** Client: items this client holds and the server lacks. */
  readonly have: SyncItem[];
  /** Server: items to send the client as records (in order). */
  readonly push: SyncItem[];
}

/** How a step is bounded. */
export interface StepBudget {
  /** Bytes the reply (message and pushed records) may take. */
  readonly bytesMax: number;
  /** The bytes a pushed item costs in the reply (its record, framed). */
  readonly pushBytes?: (item: SyncItem) => number;
  /**
   * Bytes of records pushed in one reply at most (at least one record always goes); the rest of
   * the range is listed by ID for the client to fetch in parallel. Unbounded when absent.
   */
  readonly pushBytesMax?: number;
}

/**
 * One side of a reconciliation over a fixed item set.
 */
export class Reconciler {
  readonly #set: SyncItemSet;
  readonly #role: "client" | "server";
  readonly #idBytes: number;

  /**
   * A side over `set`.
   *
   * @param set This side's items (fixed for the session).
   * @param role The client initiates and learns; the server answers and pushes.
   * @param idBytes Bytes of each ID in ID lists (8..32).
   */
  constructor(set: SyncItemSet, role: "client" | "server", idBytes: number) {
    this.#set = set;
    this.#role = role;
    this.#idBytes = idBytes;
  }

  /**
   * The client's first message: the whole order, as fingerprints or an ID list.
   *
   * @param bytesMax The message's budget.
   * @returns The message.
   */
  initiate(bytesMax: number): Uint8Array {
    const out = new RangeWriter();
    const ranges = this.#split(0, this.#set.size, BOUND_END);
    const encoded = out.encode(ranges);
    if (encoded.bytes.length + REMAINDER_BYTES <= bytesMax) {
      out.commit(encoded, this.#set.size);
    } else {
      out.commit(out.encode([this.#remainder(0)]), this.#set.size);
    }
    return out.finish();
  }

  /**
   * Processes the peer's message and writes the reply.
   *
   * @param ranges The peer's message, decoded.
   * @param budget The reply's bounds.
   * @returns The reply and what was learnt.
   */
  step(ranges: readonly Range[], budget: StepBudget): StepResult {
    const set = this.#set;
    const out = new RangeWriter();
    const need: Uint8Array[] = [];
    const have: SyncItem[] = [];
    const push: SyncItem[] = [];
    let pushedBytes = 0;
    let lowerIndex = 0;
    const room = () => budget.bytesMax - REMAINDER_BYTES - pushedBytes - out.length;
    for (const range of ranges) {
      const upperIndex = set.lowerBound(lowerIndex, range.bound);
      let reply: Range[] = [];
      if (range.mode === RangeMode.fingerprint) {
        const ours = set.fingerprint(lowerIndex, upperIndex);
        if (!bytesEqual(ours, range.fingerprint)) {
          if (this.#role === "server" && bytesEqual(range.fingerprint, EMPTY_FINGERPRINT)) {
            const stop = this.#pushAll([], lowerIndex, upperIndex, push, budget, room, pushedBytes);
            pushedBytes += stop.bytes;
            if (stop.stoppedAt !== undefined) {
              const within = { lowerIndex, upperIndex, upperBound: range.bound };
              return this.#cut(out, within, stop.stoppedAt, room(), { need, have, push });
            }
          } else {
            reply = this.#split(lowerIndex, upperIndex, range.bound);
          }
        }
      } else if (range.mode === RangeMode.idList) {
        if (this.#role === "client") {
          this.#compare(range.ids, lowerIndex, upperIndex, need, have);
        } else {
          const stop = this.#pushAll(
            range.ids,
            lowerIndex,
            upperIndex,
            push,
            budget,
            room,
            pushedBytes,
          );
          pushedBytes += stop.bytes;
          if (stop.stoppedAt !== undefined) {
            const within = { lowerIndex, upperIndex, upperBound: range.bound };
            return this.#cut(out, within, stop.stoppedAt, room(), { need, have, push });
          }
        }
      }
      if (reply.length === 0) {
        out.skip(range.bound, upperIndex);
      } else {
        const encoded = out.encode(reply);
        if (encoded.bytes.length > room()) {
          return this.#finishWithRemainder(out, need, have, push);
        }
        out.commit(encoded, upperIndex);
      }
      lowerIndex = upperIndex;
    }
    return { message: out.finish(), need, have, push };
  }

  /**
   * Ends a reply whose budget ran out at item `stoppedAt` of the range `[lowerIndex, upperIndex)`
   * whose lower bound is `lowerBound`: the rest goes as one fingerprint. When nothing was pushed
   * yet the item alone is too large for what is left, so the range up to and including it goes
   * as this server's ID list instead (the client fetches it): every reply makes progress.
   */
  #cut(
    out: RangeWriter,
    range: { lowerIndex: number; upperIndex: number; upperBound: Bound },
    stoppedAt: number,
    roomLeft: number,
    result: { need: Uint8Array[]; have: SyncItem[]; push: SyncItem[] },
  ): StepResult {
    const set = this.#set;
    if (result.push.length === 0) {
      const through = stoppedAt + 1;
      const bound = through === range.upperIndex
        ? range.upperBound
        : boundBetween(set.at(through - 1), set.at(through));
      const ids: Uint8Array[] = [];
      for (let i = range.lowerIndex; i < through; i++) {
        ids.push(set.at(i).id.subarray(0, this.#idBytes));
      }
      out.commit(out.encode([{ bound, mode: RangeMode.idList, ids }]), through);
    } else {
      if (stoppedAt > range.lowerIndex) {
        out.skip(boundBetween(set.at(stoppedAt - 1), set.at(stoppedAt)), stoppedAt);
      }
      // The rest of the range as this server's IDs, as many as the frame holds: the client fetches
      // them in parallel next round instead of taking one frame of pushed records per round.
      const through = Math.min(
        range.upperIndex,
        stoppedAt + Math.max(0, Math.floor((roomLeft - LIST_HEADER_BYTES) / this.#idBytes)),
      );
      if (through > stoppedAt) {
        const bound = through === range.upperIndex
          ? range.upperBound
          : boundBetween(set.at(through - 1), set.at(through));
        const ids: Uint8Array[] = [];
        for (let i = stoppedAt; i < through; i++) ids.push(set.at(i).id.subarray(0, this.#idBytes));
        out.commit(out.encode([{ bound, mode: RangeMode.idList, ids }]), through);
      }
    }
    return this.#finishWithRemainder(out, result.need, result.have, result.push);
  }

  #finishWithRemainder(
    out: RangeWriter,
    need: Uint8Array[],
    have: SyncItem[],
    push: SyncItem[],
  ): StepResult {
    out.flushSkip();
    // A range already written up to the end bound leaves nothing after it.
    if (!out.endWritten) {
      out.commit(out.encode([this.#remainder(out.emittedIndex)]), this.#set.size);
    }
    return { message: out.finish(), need, have, push };
  }

  #remainder(fromIndex: number): Range {
    return {
      bound: BOUND_END,
      mode: RangeMode.fingerprint,
      fingerprint: this.#set.fingerprint(fromIndex, this.#set.size),
    };
  }

  /** Fingerprints of `buckets` sub-ranges, or the IDs when the range is small. */
  #split(lower: number, upper: number, upperBound: Bound): Range[] {
    const set = this.#set;
    const count = upper - lower;
    if (count < SYNC_ID_LIST_ITEMS_MAX) {
      const ids: Uint8Array[] = [];
      for (let i = lower; i < upper; i++) ids.push(set.at(i).id.subarray(0, this.#idBytes));
      return [{ bound: upperBound, mode: RangeMode.idList, ids }];
    }
    const ranges: Range[] = [];
    const per = Math.floor(count / SYNC_BUCKETS);
    const extra = count % SYNC_BUCKETS;
    let current = lower;
    for (let bucket = 0; bucket < SYNC_BUCKETS; bucket++) {
      const start = current;
      current += per + (bucket < extra ? 1 : 0);
      const bound = current === upper
        ? upperBound
        : boundBetween(set.at(current - 1), set.at(current));
      ranges.push({
        bound,
        mode: RangeMode.fingerprint,
        fingerprint: set.fingerprint(start, current),
      });
    }
    return ranges;
  }

  /** Client: the server's IDs against ours in the range. */
  #compare(
    theirs: readonly Uint8Array[],
    lower: number,
    upper: number,
    need: Uint8Array[],
    have: SyncItem[],
  ): void {
    const remaining = new Map(theirs.map((id) => [toHex(id), id]));
    for (let i = lower; i < upper; i++) {
      const item = this.#set.at(i);
      const hex = toHex(item.id.subarray(0, this.#idBytes));
      if (remaining.has(hex)) remaining.delete(hex);
      else have.push(item);
    }
    need.push(...remaining.values());
  }

  /** Server: the items of the range the client's list lacks, while they fit. */
  #pushAll(
    theirs: readonly Uint8Array[],
    lower: number,
    upper: number,
    push: SyncItem[],
    budget: StepBudget,
    room: () => number,
    pushedBefore: number,
  ): { bytes: number; stoppedAt?: number } {
    const capBytes = budget.pushBytesMax ?? Infinity;
    const known = new Set(theirs.map(toHex));
    let bytes = 0;
    for (let i = lower; i < upper; i++) {
      const item = this.#set.at(i);
      if (known.has(toHex(item.id.subarray(0, this.#idBytes)))) continue;
      const cost = budget.pushBytes?.(item) ?? 0;
      if (cost > room() - bytes) return { bytes, stoppedAt: i };
      if (push.length > 0 && pushedBefore + bytes + cost > capBytes) return { bytes, stoppedAt: i };
      bytes += cost;
      push.push(item);
    }
    return { bytes };
  }
}
