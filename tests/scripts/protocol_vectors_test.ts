/**
 * The vectors script rewrites only the marked sections, reports which changed, and refuses a
 * marker it has no vector for and a block it cannot read, naming the vector.
 */

import assert from "node:assert/strict";
import {
  makeVectors,
  parseVectors,
  renderVector,
  rewriteDoc,
} from "../../scripts/protocol_vectors.ts";

const vectors = new Map(makeVectors().map((vector) => [vector.name, vector]));
const ping = vectors.get("dht-ping")!;

Deno.test("a marked section is filled, the text around it kept, and reads back as written", () => {
  const doc = "before\n\n<!-- vectors:begin dht-ping -->\n<!-- vectors:end dht-ping -->\n\nafter\n";
  const { text, changed } = rewriteDoc(doc, vectors);
  assert.deepEqual(changed, ["dht-ping"]);
  assert.ok(text.startsWith("before\n\n<!-- vectors:begin dht-ping -->\n\n```\nPING\n"));
  assert.ok(text.endsWith("```\n\n<!-- vectors:end dht-ping -->\n\nafter\n"));
  const [parsed] = parseVectors(text);
  assert.deepEqual(parsed.vector, ping);
  assert.deepEqual(rewriteDoc(text, vectors), { text, changed: [] });
});

Deno.test("long hex values wrap and join again", () => {
  const store = vectors.get("dht-store")!;
  const text = `<!-- vectors:begin dht-store -->${
    renderVector(store)
  }<!-- vectors:end dht-store -->`;
  assert.ok(text.split("\n").every((line) => line.length <= 100));
  assert.deepEqual(parseVectors(text)[0].vector, store);
});

Deno.test("a marker naming no vector, or a block that is not a vector, is refused by name", () => {
  assert.throws(
    () => rewriteDoc("<!-- vectors:begin nope -->\n<!-- vectors:end nope -->", vectors),
    /the docs mark a vector "nope" that the script does not make/,
  );
  assert.throws(
    () => parseVectors("<!-- vectors:begin dht-ping -->\ntext\n<!-- vectors:end dht-ping -->"),
    /vector dht-ping: expected one fenced block/,
  );
  assert.throws(
    () =>
      parseVectors("<!-- vectors:begin x -->\n```\nT\nnot a field\n```\n<!-- vectors:end x -->"),
    /vector x: cannot read the line "not a field"/,
  );
});
