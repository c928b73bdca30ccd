// Goal: contact URIs (src/core/contact_uri.ts) round-trip for every kind of host, and each
// malformed URI is rejected with an InvalidInputError whose message names the problem. Method:
// build a valid URI from a fixed key, then break one part at a time and check both
// parseContactUri() (throws) and contactUriProblem() (returns the reason).

import assert from "node:assert/strict";
import { toBase32 } from "../../src/core/bytes.ts";
import {
  CONTACT_URI_SCHEME,
  contactUriProblem,
  formatContactUri,
  makeContact,
  parseContactUri,
} from "../../src/core/contact_uri.ts";
import { ed25519KeyPairFromSecretKey } from "../../src/core/crypto.ts";
import { InvalidInputError } from "../../src/core/errors.ts";
import { contactUriLengthMax } from "../../src/core/limits.ts";
import { NodeId } from "../../src/core/node_id.ts";

const publicKey = ed25519KeyPairFromSecretKey(new Uint8Array(32).fill(1)).publicKey;
const key = toBase32(publicKey);
const uriWith = (address: string) => `rhz://${key}@${address}`;

/** Expects `uri` to be rejected, by both entry points, with a reason matching `pattern`. */
function assertRejected(uri: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    parseContactUri(uri);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InvalidInputError, `expected InvalidInputError for ${uri}`);
  assert.equal(caught.code, "INVALID_INPUT");
  assert.match(caught.message, /^Cannot parse contact URI "/);
  assert.match(caught.message, pattern);
  const problem = contactUriProblem(uri);
  assert.equal(typeof problem, "string", `contactUriProblem(${uri})`);
  assert.match(problem!, pattern);
  assert.ok(caught.message.endsWith(`: ${problem}`), "the message ends with the reason");
}

Deno.test("the contact URI scheme is rhz and the key is 52 base32 characters", () => {
  assert.equal(CONTACT_URI_SCHEME, "rhz");
  assert.equal(key.length, 52);
});

Deno.test("parseContactUri() reads an IPv4 contact and formatContactUri() writes it back", () => {
  const uri = uriWith("203.0.113.7:7447");
  const contact = parseContactUri(uri);
  assert.deepEqual(contact.publicKey, publicKey);
  assert.equal(contact.host, "203.0.113.7");
  assert.equal(contact.port, 7447);
  assert.equal(formatContactUri(contact), uri);
});

Deno.test("parseContactUri() round-trips IPv6 hosts in brackets", () => {
  for (
    const host of ["::1", "2001:db8::1", "::ffff:192.0.2.1", "::", "1:2:3:4:5:6:7:8", "fe80::"]
  ) {
    const uri = uriWith(`[${host}]:7447`);
    const contact = parseContactUri(uri);
    assert.equal(contact.host, host, "the host is kept without brackets");
    assert.equal(contact.port, 7447);
    assert.equal(formatContactUri(contact), uri);
  }
});

Deno.test("parseContactUri() round-trips host names", () => {
  for (
    const host of [
      "localhost",
      "example.com",
      "node-1.rhizome.example",
      "a",
      "xn--bcher-kva.example",
    ]
  ) {
    const uri = uriWith(`${host}:1`);
    const contact = parseContactUri(uri);
    assert.equal(contact.host, host);
    assert.equal(contact.port, 1);
    assert.equal(formatContactUri(contact), uri);
  }
});

Deno.test("parseContactUri() accepts the port limits 1 and 65535", () => {
  assert.equal(parseContactUri(uriWith("h:1")).port, 1);
  assert.equal(parseContactUri(uriWith("h:65535")).port, 65535);
});

Deno.test("parseContactUri() lower-cases host names and IPv6 addresses", () => {
  const contact = parseContactUri(uriWith("Node.EXAMPLE.com:7447"));
  assert.equal(contact.host, "node.example.com");
  assert.equal(formatContactUri(contact), uriWith("node.example.com:7447"));
  assert.equal(parseContactUri(uriWith("[2001:DB8::A]:7447")).host, "2001:db8::a");
});

Deno.test("parseContactUri() derives the node ID from the public key", () => {
  const contact = parseContactUri(uriWith("127.0.0.1:7447"));
  assert.ok(contact.nodeId.equals(NodeId.fromPublicKey(publicKey)));
});

Deno.test("parseContactUri() accepts an upper-case key and scheme as the same contact", () => {
  // Base32 decoding is case-insensitive, and so are URI schemes; the canonical form written
  // back is lower case.
  const contact = parseContactUri(`RHZ://${key.toUpperCase()}@127.0.0.1:7447`);
  assert.deepEqual(contact.publicKey, publicKey);
  assert.equal(formatContactUri(contact), uriWith("127.0.0.1:7447"));
});

Deno.test("parseContactUri() rejects a scheme other than rhz://", () => {
  for (const uri of [`http://${key}@h:1`, `rhz:${key}@h:1`, `rhz:/${key}@h:1`, `${key}@h:1`]) {
    assertRejected(uri, /expected it to start with "rhz:\/\/"/);
  }
});

Deno.test("parseContactUri() rejects a URI without @", () => {
  assertRejected(`rhz://${key}h:1`, /expected "<public key>@<host>:<port>" after the scheme/);
});

Deno.test("parseContactUri() rejects a key that is not base32", () => {
  assertRejected(`rhz://${key.slice(0, 51)}1@h:1`, /the public key ".*1" is not base32/);
  assertRejected(`rhz://${key.slice(0, 51)}=@h:1`, /is not base32/);
  // 51 characters is an impossible base32 length (3 mod 8).
  assertRejected(`rhz://${key.slice(0, 51)}@h:1`, /is not base32/);
});

Deno.test("parseContactUri() rejects a key with non-zero unused bits", () => {
  // 52 characters carry 260 bits: the last 4 of the final character must be zero.
  const last = key[key.length - 1];
  const other = last === "b" ? "c" : "b";
  assertRejected(`rhz://${key.slice(0, 51)}${other}@h:1`, /is not base32/);
});

Deno.test("parseContactUri() rejects a short or long key, giving its length", () => {
  assertRejected(
    `rhz://${key.slice(0, 48)}@h:1`,
    /must be 52 base32 characters \(32 bytes\), got 48/,
  );
  assertRejected(`rhz://@h:1`, /must be 52 base32 characters \(32 bytes\), got 0/);
  assertRejected(`rhz://${key}aaaa@h:1`, /got 56/);
});

Deno.test("parseContactUri() rejects a missing port", () => {
  assertRejected(uriWith("h"), /expected a port after the host \(host:port\)/);
  assertRejected(uriWith("h:"), /the port "" is not a number/);
});

Deno.test("parseContactUri() rejects port 0", () => {
  assertRejected(uriWith("h:0"), /the port 0 is outside 1\.\.65535/);
});

Deno.test("parseContactUri() rejects port 65536", () => {
  assertRejected(uriWith("h:65536"), /the port 65536 is outside 1\.\.65535/);
  assertRejected(uriWith("h:99999"), /outside 1\.\.65535/);
});

Deno.test("parseContactUri() rejects a port with a leading zero", () => {
  assertRejected(uriWith("h:07447"), /the port "07447" has a leading zero/);
  assertRejected(uriWith("h:01"), /leading zero/);
});

Deno.test("parseContactUri() rejects a non-numeric port", () => {
  for (const port of ["abc", "+1", "-1", "1e3", "7447 ", "0x10", "123456"]) {
    assertRejected(
      uriWith(`h:${port}`),
      new RegExp(`the port "${port.replace("+", "\\+")}" is not a number`),
    );
  }
});

Deno.test("parseContactUri() rejects an IPv6 address without brackets", () => {
  assertRejected(
    uriWith("::1:7447"),
    /an IPv6 host must be written in brackets, for example \[::1\]:7447/,
  );
  assertRejected(uriWith("2001:db8::1:7447"), /must be written in brackets/);
});

Deno.test("parseContactUri() rejects an unclosed bracket", () => {
  assertRejected(uriWith("[::1:7447"), /the IPv6 address "\[::1" lacks its closing "\]"/);
});

Deno.test("parseContactUri() rejects brackets around something other than IPv6", () => {
  assertRejected(uriWith("[1.2.3.4]:1"), /"\[1\.2\.3\.4\]" is not an IPv6 address/);
  assertRejected(uriWith("[]:1"), /"\[\]" is not an IPv6 address/);
});

Deno.test("parseContactUri() rejects malformed IPv6 addresses", () => {
  for (
    const host of [
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "12345::1",
      "g::1",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::",
      ":1:2:3:4:5:6:7",
      "fe80::1%eth0",
      "::ffff:999.0.2.1",
      "::ffff:1.2.3",
    ]
  ) {
    assertRejected(uriWith(`[${host}]:1`), new RegExp(`is not a valid IPv6 address`));
  }
});

Deno.test("parseContactUri() rejects bad IPv4 addresses", () => {
  assertRejected(uriWith("256.1.1.1:1"), /"256\.1\.1\.1" is not a valid IPv4 address/);
  assertRejected(uriWith("1.2.3:1"), /"1\.2\.3" is not a valid IPv4 address/);
  for (const host of ["1.2.3.4.5", "01.2.3.4", "1..3.4", "1.2.3.", "1234"]) {
    assertRejected(uriWith(`${host}:1`), /is not a valid IPv4 address/);
  }
});

Deno.test("parseContactUri() rejects bad host names", () => {
  assertRejected(uriWith("-bad-.com:1"), /"-bad-\.com" is not a valid host name/);
  for (
    const host of ["bad-.com", "a..b", "under_score.com", "sp ace.com", ".example.com", "é.com"]
  ) {
    assertRejected(uriWith(`${host}:1`), /is not a valid host name/);
  }
});

Deno.test("parseContactUri() rejects a host name label longer than 63 characters", () => {
  assert.equal(parseContactUri(uriWith(`${"a".repeat(63)}.com:1`)).host, `${"a".repeat(63)}.com`);
  assertRejected(uriWith(`${"a".repeat(64)}.com:1`), /is not a valid host name/);
});

Deno.test("parseContactUri() rejects a host name longer than 253 characters", () => {
  const host = Array.from({ length: 4 }, () => "a".repeat(63)).join("."); // 255 characters
  assert.equal(host.length, 255);
  assertRejected(uriWith(`${host}:1`), /the host name is 255 characters, the limit is 253/);
});

Deno.test("parseContactUri() rejects an empty host", () => {
  assertRejected(uriWith(":1"), /the host is empty/);
});

Deno.test("parseContactUri() rejects a too-long URI before parsing it", () => {
  const uri = uriWith(`${"a".repeat(400)}:1`);
  assertRejected(
    uri,
    new RegExp(`it is ${uri.length} characters long, the limit is ${contactUriLengthMax}`),
  );
  let message = "";
  try {
    parseContactUri(uri);
  } catch (error) {
    message = (error as Error).message;
  }
  assert.ok(message.includes("…"), "a long URI is shortened in the message");
  assert.ok(message.length < 200);
});

Deno.test("contactUriProblem() returns undefined for a valid URI", () => {
  for (const address of ["127.0.0.1:7447", "[::1]:7447", "example.com:1"]) {
    assert.equal(contactUriProblem(uriWith(address)), undefined);
  }
});

Deno.test("contactUriProblem() returns the reason for an invalid URI", () => {
  assert.equal(contactUriProblem(uriWith("h:0")), "the port 0 is outside 1..65535");
  assert.equal(contactUriProblem("nonsense"), 'expected it to start with "rhz://"');
  assert.equal(contactUriProblem(""), 'expected it to start with "rhz://"');
});

Deno.test("makeContact() builds the contact parseContactUri() reads", () => {
  const contact = makeContact(publicKey, "[2001:DB8::1]", 7447);
  assert.equal(contact.host, "2001:db8::1");
  assert.equal(contact.port, 7447);
  assert.ok(contact.nodeId.equals(NodeId.fromPublicKey(publicKey)));
  assert.deepEqual(parseContactUri(formatContactUri(contact)), contact);
});

Deno.test("makeContact() copies the public key", () => {
  const keyCopy = new Uint8Array(publicKey);
  const contact = makeContact(keyCopy, "h", 1);
  keyCopy.fill(0);
  assert.deepEqual(contact.publicKey, publicKey);
});

Deno.test("makeContact() rejects a 31-byte key", () => {
  assert.throws(
    () => makeContact(new Uint8Array(31), "127.0.0.1", 7447),
    (error: unknown) =>
      error instanceof InvalidInputError &&
      error.message === "Cannot make contact: the public key has 31 bytes, expected 32",
  );
});

Deno.test("makeContact() rejects a bad host or port", () => {
  const cases: [string, number, RegExp][] = [
    ["", 1, /the host is empty/],
    ["256.0.0.1", 1, /is not a valid IPv4 address/],
    ["-bad-", 1, /is not a valid host name/],
    ["h", 0, /the port 0 is outside 1\.\.65535/],
    ["h", 65536, /outside 1\.\.65535/],
    ["h", 1.5, /the port "1\.5" is not a number/],
    ["h", -1, /is not a number/],
    ["h", Number.NaN, /is not a number/],
  ];
  for (const [host, port, pattern] of cases) {
    assert.throws(
      () => makeContact(publicKey, host, port),
      (error: unknown) =>
        error instanceof InvalidInputError && /^Cannot make contact: /.test(error.message) &&
        pattern.test(error.message),
      `${host}:${port}`,
    );
  }
});

// Known bug (reported, not fixed here): isIpv6() checks an embedded-IPv4 tail with hostProblem(),
// which also accepts host names, so "[::example.com]" passes as an IPv6 address.
Deno.test({
  name: "parseContactUri() rejects a host name as the IPv4 tail of an IPv6 address",
  fn: () => {
    assertRejected(uriWith("[::example.com]:1"), /is not a valid IPv6 address/);
    assertRejected(uriWith("[1:2:3:4:5:6:a.b]:1"), /is not a valid IPv6 address/);
  },
});
