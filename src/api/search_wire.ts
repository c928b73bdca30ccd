/**
 * The control API's JSON ↔ typed mapping for search: the query string of `GET /v1/search`
 * (`q`, `limit`, `cursor`, `local`, `explain`) and back. The query text itself is parsed by the
 * search service, which refuses a bad one with one line.
 *
 * @module
 */

import { InvalidInputError } from "../core/errors.ts";
import {
  queryCharsMax,
  searchPageDefault,
  searchPageMax,
  type SearchRequest,
} from "../services/search/mod.ts";
import { parseCursor, parsePageLimit } from "./wire.ts";

/** A search request as the API carries it. */
export type SearchApiRequest = SearchRequest & {
  /** Only this node's index, not the network's. */
  local: boolean;
};

/**
 * Parses `GET /v1/search`'s query.
 *
 * @param params The query parameters (unknown ones are refused by the caller).
 * @returns The request.
 * @throws {InvalidInputError} When `q` is missing or too long, or a parameter is malformed.
 */
export function parseSearchQuery(params: URLSearchParams): SearchApiRequest {
  const query = params.get("q");
  if (query === null) {
    throw new InvalidInputError('Cannot search: parameter "q" (the query) is missing');
  }
  if (query.length > queryCharsMax) {
    throw new InvalidInputError(
      `Cannot search: the query is ${query.length} characters, the limit is ${queryCharsMax}`,
    );
  }
  const limit = params.get("limit");
  const cursor = params.get("cursor");
  return {
    query,
    limit: limit === null ? searchPageDefault : parsePageLimit(limit, searchPageMax),
    ...(cursor === null ? {} : { cursor: parseCursor(cursor) }),
    local: flag(params, "local"),
    explain: flag(params, "explain"),
  };
}

/**
 * The query of `GET /v1/search` for a request ({@link parseSearchQuery} reads it back).
 *
 * @param request The search.
 * @returns The parameters.
 */
export function formatSearchQuery(request: SearchApiRequest): URLSearchParams {
  const params = new URLSearchParams({ q: request.query, limit: String(request.limit) });
  if (request.cursor !== undefined) params.set("cursor", request.cursor);
  if (request.local) params.set("local", "true");
  if (request.explain) params.set("explain", "true");
  return params;
}

function flag(params: URLSearchParams, name: string): boolean {
  const value = params.get(name);
  if (value === null || value === "false") return false;
  if (value === "true") return true;
  throw new InvalidInputError(`Cannot search: parameter "${name}" must be true or false`);
}
