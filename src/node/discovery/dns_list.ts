/**
 * The signed seed list in DNS TXT records (docs/discovery.md): its text format, its canonical
 * signed form, and the checks a node makes before using any entry. Pure: no sockets, no clock.
 *
 * At the list's name (`_rhizome-seeds.example.org`) one root TXT record:
 *
 * ```
 * v=rhz1 seq=<sequence> n=<entries> sig=<Ed25519 signature, 103 base32 characters>
 * ```
 *
 * and at `<i>.<name>` for each `i` in `0..n-1` one TXT record whose strings, concatenated without
 * separator, are a contact URI or a share string. A string holds at most 255 bytes, so a long
 * URI is split into two strings of one record. The signature is by the list key pinned in the
 * configuration, over {@link canonicalDnsList}: the name, the sequence and every entry, so no
 * entry is used before the whole list checks, and a list signed for one name is no good at
 * another.
 *
 * @module
 */

import { fromBase32, toBase32, utf8Encode } from "../../core/bytes.ts";
import { type Ed25519KeyPair, ed25519Sign, ed25519Verify } from "../../core/crypto.ts";
import { contactUriLengthMax } from "../../core/limits.ts";
import { type ContactAddress, parseContactText } from "../../core/share_string.ts";

/** The version tag a root record starts with. */
export const DNS_LIST_VERSION = "v=rhz1";

/**
 * Most entries a list may have. Each one costs a DNS query at every join attempt that gets to
 * the DNS source; a network needs a handful of live seeds, and 32 leaves room for regions and
 * churn. At the limit: a root claiming more is refused whole.
 */
export const dnsListEntriesMax = 32;

/** Longest character-string in a TXT record (RFC 1035: one length byte). */
export const txtStringBytesMax = 255;

/**
 * Longest root record text: the tag, a 16-digit sequence, a 2-digit count and the signature
 * with their keys and spaces come to 140 characters; more is not a root of ours.
 */
export const dnsRootTextLengthMax = 160;

/** A signed list as published: sequence, contact texts in order, signature. */
export interface DnsList {
  /** Grows with every new version of the list; a node refuses one lower than it saw. */
  seq: number;
  /** Contact URIs or share strings. */
  entries: string[];
  /** The list key's signature over {@link canonicalDnsList}. */
  signature: Uint8Array;
}

/** The root record's fields. */
export interface DnsListRoot {
  /** The list's sequence. */
  seq: number;
  /** How many entries follow at `0.<name>` … `<n-1>.<name>`. */
  count: number;
  /** The signature over the whole list. */
  signature: Uint8Array;
}

/**
 * A DNS name in the form the signature covers: lower case, no final dot.
 *
 * @param name The list's name.
 * @returns The canonical name.
 */
export function canonicalDnsName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * The bytes the list key signs: UTF-8 of `rhizome-dns-list/v1`, the name, the sequence, the
 * count and each entry, every one followed by a line feed.
 *
 * @param name The list's DNS name (made canonical here).
 * @param seq The sequence.
 * @param entries The entries, in order.
 * @returns The message.
 */
export function canonicalDnsList(
  name: string,
  seq: number,
  entries: readonly string[],
): Uint8Array {
  const lines = [
    "rhizome-dns-list/v1",
    canonicalDnsName(name),
    String(seq),
    String(entries.length),
  ];
  return utf8Encode([...lines, ...entries].map((line) => `${line}\n`).join(""));
}

/**
 * Signs a list with the list key: what a list's publisher runs (`scripts/dns_list.ts`).
 *
 * @param name The list's DNS name.
 * @param seq Its sequence (a whole number, higher than the last one published).
 * @param entries Contact URIs or share strings, at most {@link dnsListEntriesMax}.
 * @param key The list key.
 * @returns The signed list.
 * @throws {RangeError} When the sequence, an entry or the count is out of bounds.
 */
export function signDnsList(
  name: string,
  seq: number,
  entries: readonly string[],
  key: Ed25519KeyPair,
): DnsList {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new RangeError(`Cannot sign DNS list: the sequence ${seq} is not a whole number`);
  }
  if (entries.length > dnsListEntriesMax) {
    throw new RangeError(
      `Cannot sign DNS list: it has ${entries.length} entries, the limit is ${dnsListEntriesMax}`,
    );
  }
  for (const entry of entries) parseContactText(entry);
  const signature = ed25519Sign(key, canonicalDnsList(name, seq, entries));
  return { seq, entries: [...entries], signature };
}

/**
 * The root record's text.
 *
 * @param list The signed list.
 * @returns `v=rhz1 seq=… n=… sig=…`.
 */
export function formatDnsListRoot(list: DnsList): string {
  return `${DNS_LIST_VERSION} seq=${list.seq} n=${list.entries.length} sig=${
    toBase32(list.signature)
  }`;
}

/**
 * An entry's TXT strings: its text cut into pieces of at most {@link txtStringBytesMax} bytes
 * (contact texts are ASCII), which a reader concatenates.
 *
 * @param entry A contact URI or share string.
 * @returns One or two strings.
 */
export function dnsEntryStrings(entry: string): string[] {
  const strings: string[] = [];
  for (let start = 0; start < entry.length; start += txtStringBytesMax) {
    strings.push(entry.slice(start, start + txtStringBytesMax));
  }
  return strings;
}

/**
 * The name of entry `index`.
 *
 * @param name The list's name.
 * @param index 0-based.
 * @returns `<index>.<name>`.
 */
export function dnsEntryName(name: string, index: number): string {
  return `${index}.${canonicalDnsName(name)}`;
}

/**
 * Finds and reads the root among the TXT records at the list's name (other TXT records, such as
 * SPF, may share the name and are skipped).
 *
 * @param records The TXT records, each as its strings.
 * @returns The root, or why there is none usable.
 */
export function parseDnsListRoot(records: readonly (readonly string[])[]): DnsListRoot | string {
  const roots = records.map((strings) => strings.join("")).filter((text) =>
    text.startsWith(`${DNS_LIST_VERSION} `)
  );
  if (roots.length === 0) return `no TXT record there starts with "${DNS_LIST_VERSION}"`;
  if (roots.length > 1) return `${roots.length} root records there; expected one`;
  const text = roots[0];
  if (text.length > dnsRootTextLengthMax) {
    return `the root record is ${text.length} characters, the limit is ${dnsRootTextLengthMax}`;
  }
  const match = /^v=rhz1 seq=(0|[1-9][0-9]{0,15}) n=(0|[1-9][0-9]?) sig=([a-z2-7]{103})$/.exec(
    text,
  );
  if (!match) return "the root record is not v=rhz1 seq=<number> n=<number> sig=<base32>";
  const seq = Number(match[1]);
  const count = Number(match[2]);
  if (!Number.isSafeInteger(seq)) return `the sequence ${match[1]} is too large`;
  if (count > dnsListEntriesMax) {
    return `the root names ${count} entries, the limit is ${dnsListEntriesMax}`;
  }
  return { seq, count, signature: fromBase32(match[3]) };
}

/**
 * Reads one entry from the TXT records at its name: exactly one record, whose strings together
 * are a contact text.
 *
 * @param records The TXT records at `<index>.<name>`.
 * @returns The entry's text, or why it is unusable.
 */
export function parseDnsListEntry(records: readonly (readonly string[])[]): string | {
  problem: string;
} {
  if (records.length !== 1) return { problem: `${records.length} TXT records; expected one` };
  const text = records[0].join("");
  if (text.length > contactUriLengthMax) {
    return { problem: `it is ${text.length} characters, the limit is ${contactUriLengthMax}` };
  }
  return text;
}

/** A list whose signature checked, with its contacts. */
export interface VerifiedDnsList {
  /** Its sequence. */
  seq: number;
  /** Each entry's text and contact, in the list's order. */
  contacts: { text: string; contact: ContactAddress }[];
}

/**
 * Checks a list read from DNS: the signature by `key` over the name, sequence and entries, then
 * each entry's form. Nothing from an unsigned or altered list is returned.
 *
 * @param name The list's name.
 * @param root The root record.
 * @param entries The entries' texts, in order (as many as the root says).
 * @param key The pinned list key (32 bytes).
 * @returns The list, or why it is refused.
 */
export function verifyDnsList(
  name: string,
  root: DnsListRoot,
  entries: readonly string[],
  key: Uint8Array,
): VerifiedDnsList | string {
  if (entries.length !== root.count) {
    return `the root names ${root.count} entries, ${entries.length} were read`;
  }
  const message = canonicalDnsList(name, root.seq, entries);
  if (!ed25519Verify(key, message, root.signature)) {
    return "its signature does not check with the pinned key (discovery.dns_key)";
  }
  const contacts: VerifiedDnsList["contacts"] = [];
  for (const [index, text] of entries.entries()) {
    try {
      contacts.push({ text, contact: parseContactText(text) });
    } catch (error) {
      return `entry ${index} is signed but not a contact: ${(error as Error).message}`;
    }
  }
  return { seq: root.seq, contacts };
}
