/**
 * IDs as people type them: the whole 40 hex digits, or the start of one as listings print it
 * (`3f2a9c1b7d`), resolved by the running node against the threads and messages it published or
 * showed. A prefix that matches nothing, or more than one ID, is refused with one line; it is
 * never taken for a guess.
 *
 * @module
 */

import type { ControlClient } from "../api/control_client.ts";
import { controlRoutes } from "../api/routes.ts";
import { idPrefixDigitsMin, parseAuthorKeyHex, parseIdHex } from "../api/wire.ts";
import { ContentError, InvalidInputError } from "../core/errors.ts";
import type { NodeId } from "../core/node_id.ts";
import type { KnownIdKind } from "../node/known_ids.ts";
import { shortId } from "./human.ts";

const idDigits = 40;

/**
 * Whether `text` is the start of an ID rather than a whole one (or something else).
 *
 * @param text As typed.
 * @returns `true` for {@link idPrefixDigitsMin} to 39 hex digits.
 */
export function isIdPrefix(text: string): boolean {
  return /^[0-9a-fA-F]+$/.test(text) && text.length >= idPrefixDigitsMin &&
    text.length < idDigits;
}

/**
 * The ID `text` names: parsed when whole, else resolved by the node.
 *
 * @param client The running node's control API.
 * @param text The ID or its start, as typed.
 * @param what What it is, for messages ("thread ID").
 * @param kinds What it may name; a thread or a message when absent.
 * @returns The ID.
 * @throws {InvalidInputError} When it is not hex of the right length, or the prefix is
 *   ambiguous (exit 2).
 * @throws {ContentError} `NOT_FOUND` when no ID the node knows starts with it (exit 1).
 */
export async function resolveId(
  client: ControlClient | (() => Promise<ControlClient>),
  text: string,
  what: string,
  kinds?: readonly KnownIdKind[],
): Promise<NodeId> {
  if (!isIdPrefix(text)) return parseIdHex(text, what);
  const api = typeof client === "function" ? await client() : client;
  const named = kinds ?? ["thread", "message"];
  const matches = (await api.call(controlRoutes.resolveIds, text.toLowerCase()))
    .filter((match) => named.includes(match.kind));
  if (matches.length === 0) {
    throw new ContentError(
      "NOT_FOUND",
      `Cannot find the ${what} ${text}: no ${
        named.join(" or ")
      } this node listed, showed or published ` +
        `starts with it (give all ${idDigits} digits)`,
    );
  }
  if (matches.length > 1) {
    const shown = matches.map((match) => `${shortId(match.id)}… (${match.kind})`).join(", ");
    throw new InvalidInputError(
      `Cannot read the ${what} ${text}: ${matches.length} IDs start with it, ${shown}; ` +
        "give more digits",
    );
  }
  return parseIdHex(matches[0].id, what);
}

/**
 * The author key `text` names: parsed when whole (64 hex digits), else resolved by the node
 * against the authors of what it listed or showed.
 *
 * @param client The running node's control API.
 * @param text The key or its start, as typed.
 * @returns The key's bytes.
 * @throws {InvalidInputError} When it is not hex of the right length, or the prefix is
 *   ambiguous (exit 2).
 * @throws {ContentError} `NOT_FOUND` when no author the node knows has a key starting so.
 */
export async function resolveAuthorKey(client: ControlClient, text: string): Promise<Uint8Array> {
  const prefix = /^[0-9a-fA-F]+$/.test(text) && text.length >= idPrefixDigitsMin &&
    text.length < authorKeyDigits;
  if (!prefix) return parseAuthorKeyHex(text);
  const matches = (await client.call(controlRoutes.resolveIds, text.toLowerCase()))
    .filter((match) => match.kind === "author");
  if (matches.length === 0) {
    throw new ContentError(
      "NOT_FOUND",
      `Cannot find the author key ${text}: no author of what this node listed or showed has a ` +
        `key starting with it (give all ${authorKeyDigits} digits)`,
    );
  }
  if (matches.length > 1) {
    throw new InvalidInputError(
      `Cannot read the author key ${text}: ${matches.length} keys start with it, ` +
        `${matches.map((match) => `${match.id.slice(0, 12)}…`).join(", ")}; give more digits`,
    );
  }
  return parseAuthorKeyHex(matches[0].id);
}

const authorKeyDigits = 64;
