/**
 * Writing a snapshot, without I/O: which records a scope selects, and the stream of signed frames
 * and its gzip compression, pulled as the sink asks, so memory stays flat whatever the store's
 * size. The file handling (targets, atomic moves, retention) is the node's
 * (`node/snapshot_export.ts`).
 *
 * @module
 */

import { toHex } from "../../core/bytes.ts";
import type { NodeId } from "../../core/node_id.ts";
import { globalIndexReferences } from "../../content/global_indexes.ts";
import { decodeStoredRecord } from "../../content/records.ts";
import type { ExportedRecord, RecordStoreSnapshot } from "../../store/record_store.ts";
import type { SnapshotFrameWriter, SnapshotScope } from "./format.ts";

/** Record frames gathered into one chunk for the compressor: fewer, larger writes. */
const CHUNK_BYTES_TARGET = 256 * 1024;

/** The records a snapshot holds, and their counts for its header. */
export interface Selection {
  /** Records by kind name, for the header: exactly what `records` yields. */
  countsByKind: Record<string, number>;
  /** The records, each read as the stream asks for it. */
  records: Iterator<ExportedRecord>;
}

/**
 * The global indexes and the threads they list, from one read transaction: a first walk finds
 * the indexes and gathers the IDs they reference, the second yields those records. The IDs are
 * held in memory: at most the entries of the global indexes (400 per hour shard kept).
 */
export function selectGlobal(view: RecordStoreSnapshot, nowMs: number): Selection {
  const countsByKind: Record<string, number> = {};
  for (const kind of Object.keys(view.countsByKind)) countsByKind[kind] = 0;
  const chosen = new Set<string>();
  const referenced = new Map<string, NodeId>();
  const walk = view.walk();
  for (let next = walk.next(); !next.done; next = walk.next()) {
    const found = next.value;
    if (found.kind !== "set") continue;
    const references = globalIndexReferences(decodeStoredRecord(found.bytes), nowMs / 1000);
    if (references === undefined) continue;
    chosen.add(toHex(found.key));
    countsByKind.set++;
    for (const id of references) referenced.set(id.toHex(), id);
  }
  for (const [hex, id] of referenced) {
    const kind = view.kindOf(id.toBytes());
    if (kind === undefined || chosen.has(hex)) continue;
    chosen.add(hex);
    countsByKind[kind] = (countsByKind[kind] ?? 0) + 1;
  }
  const all = view.walk();
  const records: Iterator<ExportedRecord> = {
    next() {
      for (let next = all.next(); !next.done; next = all.next()) {
        if (chosen.has(toHex(next.value.key))) return next;
      }
      return { done: true, value: undefined };
    },
  };
  return { countsByKind, records };
}

/**
 * The frames of a snapshot, produced as the compressor asks for them, so memory stays flat
 * whatever the store's size.
 *
 * @param writer Signs and frames; its hash covers every frame in order.
 * @param view The records to write and their counts by kind, for the header.
 * @param scope What the snapshot holds, for the header.
 * @param createdAtMs When the read transaction began, for the header.
 * @param onChunk Called after each chunk with the records and their bytes so far and the total
 *   records: progress, and the caller's chance to collect garbage on its own schedule.
 * @returns The frames: header, records, trailer.
 */
export function frameStream(
  writer: SnapshotFrameWriter,
  view: Selection,
  scope: SnapshotScope,
  createdAtMs: number,
  onChunk?: (records: number, bytes: number, total: number) => void,
): ReadableStream<Uint8Array> {
  let ended = false;
  let recordBytes = 0;
  const total = Object.values(view.countsByKind).reduce((sum, count) => sum + count, 0);
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(writer.header({ createdAtMs, scope, countsByKind: view.countsByKind }));
    },
    pull(controller) {
      if (ended) return;
      const parts: Uint8Array[] = [];
      let size = 0;
      while (size < CHUNK_BYTES_TARGET) {
        const next = view.records.next();
        if (next.done) {
          parts.push(writer.trailer());
          ended = true;
          break;
        }
        const { key, class: recordClass, storedAtMs, expiresAtMs, published, bytes } = next.value;
        const frame = writer.record({
          key,
          class: recordClass,
          storedAtMs,
          expiresAtMs,
          published,
          bytes,
        });
        parts.push(frame);
        size += frame.length;
        recordBytes += bytes.length;
      }
      onChunk?.(writer.recordCount, recordBytes, total);
      controller.enqueue(joinParts(parts));
      if (ended) controller.close();
    },
  }, { highWaterMark: 1 });
}

function joinParts(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Compresses `frames` with gzip into `sink`.
 *
 * @param frames What {@link frameStream} produces.
 * @param sink Where the compressed bytes go.
 * @param preventClose Leave `sink` open at the end (the caller fsyncs a file first).
 * @returns The compressed byte count.
 */
export async function pipeCompressed(
  frames: ReadableStream<Uint8Array>,
  sink: WritableStream<Uint8Array>,
  preventClose: boolean,
): Promise<number> {
  let bytes = 0;
  const gzip = new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.length;
      controller.enqueue(chunk);
    },
  });
  await frames.pipeThrough(gzip).pipeThrough(counted).pipeTo(sink, { preventClose });
  return bytes;
}
