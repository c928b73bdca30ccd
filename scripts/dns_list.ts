/**
 * Publishing a signed seed list in DNS (docs/discovery.md): makes the list key, and signs a list
 * of contacts into the TXT records to put in a zone, in BIND zone-file syntax.
 *
 * Usage:
 *   deno run --allow-write scripts/dns_list.ts new-key list.key
 *     writes the secret key (mode 0600) and prints the public key for discovery.dns_key
 *   deno run --allow-read scripts/dns_list.ts sign --key list.key --name NAME --seq N CONTACT...
 *     prints the root and entry records; CONTACT is a contact URI or share string
 *
 * @module
 */

import { fromBase32, toBase32 } from "../src/core/bytes.ts";
import {
  type Ed25519KeyPair,
  ed25519KeyPairFromSecretKey,
  generateEd25519KeyPair,
} from "../src/core/crypto.ts";
import { writeFileAtomic } from "../src/core/fs.ts";
import {
  canonicalDnsName,
  dnsEntryName,
  dnsEntryStrings,
  formatDnsListRoot,
  signDnsList,
} from "../src/node/discovery/dns_list.ts";

/** TTL of the records printed: an hour, so a new list reaches resolvers within one. */
export const zoneTtlS = 3600;

/**
 * The zone-file lines of a signed list.
 *
 * @param name The list's DNS name.
 * @param seq Its sequence.
 * @param contacts Contact URIs or share strings.
 * @param key The list key.
 * @returns One line for the root, then one per entry.
 */
export function zoneLines(
  name: string,
  seq: number,
  contacts: readonly string[],
  key: Ed25519KeyPair,
): string[] {
  const list = signDnsList(name, seq, contacts, key);
  const fqdn = (text: string) => `${text}.`;
  const quoted = (strings: string[]) => strings.map((s) => `"${s}"`).join(" ");
  return [
    `${fqdn(canonicalDnsName(name))} ${zoneTtlS} IN TXT "${formatDnsListRoot(list)}"`,
    ...list.entries.map((entry, index) =>
      `${fqdn(dnsEntryName(name, index))} ${zoneTtlS} IN TXT ${quoted(dnsEntryStrings(entry))}`
    ),
  ];
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "new-key" && rest.length === 1) {
    const key = generateEd25519KeyPair();
    await writeFileAtomic(rest[0], toBase32(key.secretKey) + "\n", { mode: 0o600, replace: false });
    console.log(toBase32(key.publicKey));
    return 0;
  }
  if (command === "sign") {
    const options: Record<string, string> = {};
    const contacts: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      if (["--key", "--name", "--seq"].includes(rest[i]) && i + 1 < rest.length) {
        options[rest[i].slice(2)] = rest[++i];
      } else contacts.push(rest[i]);
    }
    if (!options.key || !options.name || !/^[0-9]{1,15}$/.test(options.seq ?? "")) {
      console.error("dns_list: sign needs --key FILE --name NAME --seq N and contacts");
      return 2;
    }
    const secret = fromBase32((await Deno.readTextFile(options.key)).trim());
    const lines = zoneLines(
      options.name,
      Number(options.seq),
      contacts,
      ed25519KeyPairFromSecretKey(secret),
    );
    console.log(lines.join("\n"));
    return 0;
  }
  console.error("usage: dns_list.ts new-key FILE | sign --key FILE --name NAME --seq N CONTACT...");
  return 2;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`dns_list: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
