/**
 * Share strings: a contact's node ID, address and port in `RHZ1…` form round-trip for IPv4,
 * IPv6 and host names in any case; a changed or missing character is caught by the checksum; the
 * configuration accepts them as bootstrap contacts and names the problem of a bad one.
 */

import assert from "node:assert/strict";
import { resolveConfig } from "../../src/core/config.ts";
import { NodeId } from "../../src/core/node_id.ts";
import {
  formatShareString,
  parseContactText,
  parseShareString,
  shareStringLengthMax,
  shareStringProblem,
} from "../../src/core/share_string.ts";

const nodeId = NodeId.fromHex("0123456789abcdef0123456789abcdef01234567");

Deno.test("formatShareString() round-trips IPv4, IPv6 and names, read in any case", () => {
  for (
    const host of ["203.0.113.7", "2001:db8::1", "::ffff:192.0.2.1", "seed.example.org", "::"]
  ) {
    const text = formatShareString({ nodeId, host, port: 7447 });
    assert.match(text, /^RHZ1[A-Z2-7]+$/);
    for (const form of [text, text.toLowerCase()]) {
      const back = parseShareString(form);
      assert.ok(back.nodeId.equals(nodeId));
      assert.equal(back.port, 7447);
      assert.equal(back.host, host === "::ffff:192.0.2.1" ? "::ffff:c000:201" : host);
    }
  }
  assert.equal(formatShareString({ nodeId, host: "203.0.113.7", port: 7447 }).length, 54);
  const long = formatShareString({ nodeId, host: "a".repeat(63) + "." + "b".repeat(63), port: 1 });
  assert.ok(long.length <= shareStringLengthMax);
});

Deno.test("parseShareString() catches a changed, missing or extra character", () => {
  const text = formatShareString({ nodeId, host: "203.0.113.7", port: 7447 });
  const changed = text.slice(0, 20) + (text[20] === "A" ? "B" : "A") + text.slice(21);
  assert.match(String(shareStringProblem(changed)), /checksum/);
  assert.match(String(shareStringProblem(text.slice(0, -1))), /base32|checksum|short/);
  assert.match(String(shareStringProblem(text + "A")), /base32|checksum/);
  assert.match(String(shareStringProblem("RHZ1")), /short/);
  assert.match(String(shareStringProblem("RHZ1!!")), /base32/);
  assert.match(String(shareStringProblem("RHZ1" + "A".repeat(600))), /limit/);
  assert.throws(() => parseShareString("RHZ2AAAA"), /start with "RHZ1"/);
});

Deno.test("parseContactText() reads contact URIs and share strings alike", () => {
  const uri = `rhz://${"a".repeat(52)}@127.0.0.1:7447`;
  const fromUri = parseContactText(uri);
  const share = formatShareString(fromUri);
  const fromShare = parseContactText(share);
  assert.ok(fromShare.nodeId.equals(fromUri.nodeId));
  assert.equal(fromShare.host, "127.0.0.1");
  assert.equal(fromShare.port, 7447);
});

Deno.test("node.bootstrap accepts share strings and names a bad one's problem", () => {
  const share = formatShareString({ nodeId, host: "127.0.0.1", port: 7447 });
  const { config } = resolveConfig({ env: { RHIZOME_BOOTSTRAP: share } });
  assert.deepEqual(config.node.bootstrap, [share]);
  const bad = share.slice(0, -2) + (share.endsWith("AA") ? "BB" : "AA");
  assert.throws(
    () => resolveConfig({ env: { RHIZOME_BOOTSTRAP: bad } }),
    /node\.bootstrap\[0\]: expected a contact URI or share string \(its checksum does not match/,
  );
});
