/**
 * Paging cursors: every kind round-trips through its text, and anything this build did not write
 * (bad base64url, an unknown tag, a wrong length, a time past 2^53) is refused with one coded line.
 */

import assert from "node:assert/strict";
import { toBase64Url } from "../../../src/core/bytes.ts";
import { InvalidInputError } from "../../../src/core/errors.ts";
import { NodeId } from "../../../src/core/node_id.ts";
import {
  decodeListCursor,
  decodeThreadCursor,
  encodeListCursor,
  encodeThreadCursor,
  type ListCursor,
  listStart,
  threadStart,
} from "../../../src/services/discussion/cursor.ts";

const id = NodeId.fromHex("0123456789abcdef0123456789abcdef01234567");

Deno.test("list cursors round-trip", () => {
  const cursors: ListCursor[] = [
    { source: "recent", after: { createdMs: 1_798_804_800_123, id } },
    { source: "hours", after: { createdMs: 5, id }, hour: 499_668 },
    { source: "hours", after: listStart, hour: 0xffff_ffff },
    { source: "popular", offset: 60 },
  ];
  for (const cursor of cursors) {
    const text = encodeListCursor(cursor);
    assert.match(text, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeListCursor(text), cursor);
  }
});

Deno.test("thread cursors round-trip", () => {
  for (
    const cursor of [{ page: 0, after: threadStart }, { page: 65_535, after: { createdMs: 7, id } }]
  ) {
    assert.deepEqual(decodeThreadCursor(encodeThreadCursor(cursor)), cursor);
  }
});

Deno.test("decodeListCursor() and decodeThreadCursor() refuse what they did not write", () => {
  const popular = encodeListCursor({ source: "popular", offset: 1 });
  const thread = encodeThreadCursor({ page: 1, after: threadStart });
  const unsafeTime = new Uint8Array(31);
  unsafeTime[0] = 4;
  unsafeTime.fill(0xff, 1, 9);
  const bad = ["", "%%", "A", popular + "AA", toBase64Url(new Uint8Array([9, 0, 0, 0, 0]))];
  for (const text of [...bad, thread]) {
    assert.throws(() => decodeListCursor(text), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.equal(error.message, "Cannot list threads: the cursor is malformed");
      return true;
    });
  }
  for (const text of [...bad, popular, toBase64Url(unsafeTime)]) {
    assert.throws(() => decodeThreadCursor(text), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.equal(error.message, "Cannot show thread: the cursor is malformed");
      return true;
    });
  }
});
