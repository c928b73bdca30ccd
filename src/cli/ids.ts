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
import { idPrefixDigitsMin, parseIdHex } from "../api/wire.ts";
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
 * @param kinds What it may name; any known ID when absent.
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
  const matches = (await api.call(controlRoutes.resolveIds, text.toLowerCase()))
    .filter((match) => kinds === undefined || kinds.includes(match.kind));
  if (matches.length === 0) {
    const named = kinds === undefined ? "thread or message" : kinds.join(" or ");
    throw new ContentError(
      "NOT_FOUND",
      `Cannot find the ${what} ${text}: no ${named} this node listed, showed or published ` +
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
