/**
 * Search queries: parsed here, by our own small grammar, into terms the index is then asked for
 * one by one, each quoted, so nothing a person types reaches FTS5's query syntax (whose errors
 * would leak as SQL messages) and no query reads more than its few terms' postings.
 *
 * Grammar (every part must match; terms are separated by spaces):
 *
 * - `word`: documents with the word (case and diacritics ignored);
 * - `word*`: a prefix, at least {@link prefixCharsMin} characters;
 * - `"a few words"`: the words next to each other, in order;
 * - `tag:name`: only threads tagged `name` (and the messages in them are not matched by it).
 *
 * @module
 */

import { InvalidInputError } from "../../core/errors.ts";
import { isSpaceless, spacelessPairs, words } from "./text.ts";

/** Longest query, in characters: a sentence. Longer: refused with one line. */
export const queryCharsMax = 256;

/**
 * Most terms (words, prefixes, phrases) in one query: each costs a posting-list read, locally
 * and across the network. More: refused with one line.
 */
export const queryTermsMax = 8;

/** Most `tag:` filters in one query (a thread has at most 8 tags). More: refused. */
export const queryTagsMax = 4;

/**
 * Shortest prefix, in characters: "a*" would expand to a large part of the vocabulary. Shorter:
 * refused with one line.
 */
export const prefixCharsMin = 2;

/** One term of a query. */
export interface QueryTerm {
  /** A word, a prefix, or words in a row. */
  kind: "word" | "prefix" | "phrase";
  /** The folded tokens: one for a word or prefix, one or more for a phrase. */
  tokens: string[];
  /** Whether the tokens are character pairs of a script written without spaces. */
  spaceless: boolean;
  /** As typed, for `--explain`. */
  text: string;
}

/** A parsed query. */
export interface SearchQuery {
  /** The terms, all of which must match (at least one, or at least one tag). */
  terms: QueryTerm[];
  /** Tags every result's thread must carry. */
  tags: string[];
  /** The query folded to one canonical line: two queries that mean the same have the same. */
  canonical: string;
}

const tagPattern = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * Parses a query.
 *
 * @param text What was typed.
 * @returns The query.
 * @throws {InvalidInputError} One line saying what is wrong: empty, too long, an unclosed
 *   quote, a bad tag, a prefix too short, a term with nothing searchable, too many terms.
 */
export function parseQuery(text: string): SearchQuery {
  const refuse = (problem: string): never => {
    throw new InvalidInputError(`Cannot search: ${problem}`);
  };
  if (text.length > queryCharsMax) {
    refuse(`the query is ${text.length} characters, the limit is ${queryCharsMax}`);
  }
  if (text.trim() === "") refuse("the query is empty");
  if (hasControlCharacter(text)) refuse("the query holds a control character");
  const terms: QueryTerm[] = [];
  const tags: string[] = [];
  for (const piece of splitPieces(text, refuse)) {
    if (piece.quoted) {
      terms.push(phraseTerm(piece.text, refuse));
    } else if (piece.text.toLowerCase().startsWith("tag:")) {
      const tag = piece.text.slice(4).toLowerCase();
      if (!tagPattern.test(tag)) {
        refuse(`"${piece.text}" is not a tag filter (tag:name, lower-case letters, digits, -)`);
      }
      if (!tags.includes(tag)) tags.push(tag);
    } else {
      terms.push(...wordTerms(piece.text, refuse));
    }
  }
  if (terms.length > queryTermsMax) {
    refuse(`the query has ${terms.length} terms, the limit is ${queryTermsMax}`);
  }
  if (tags.length > queryTagsMax) {
    refuse(`the query has ${tags.length} tag filters, the limit is ${queryTagsMax}`);
  }
  if (terms.length === 0 && tags.length === 0) refuse("the query has no word to look for");
  const canonical = [
    ...terms.map((term) =>
      term.kind === "phrase"
        ? `"${term.tokens.join(" ")}"`
        : `${term.tokens[0]}${term.kind === "prefix" ? "*" : ""}`
    ),
    ...[...tags].sort().map((tag) => `tag:${tag}`),
  ].join(" ");
  return { terms, tags, canonical };
}

/**
 * The FTS5 MATCH expression of a query's terms: each term a quoted string (a prefix with `*`
 * after the quote), words in column `words`, pairs in column `pairs`, tags in column `tags`, all
 * joined by AND. Only tokens made by {@link words} and {@link spacelessPairs} appear, and they
 * hold no quote, so the expression always parses.
 *
 * @param query A parsed query.
 * @returns The expression.
 */
export function ftsExpression(query: SearchQuery): string {
  const parts = query.terms.map((term) => {
    const column = term.spaceless ? "pairs" : "{title body author}";
    const quoted = `"${term.tokens.join(" ")}"`;
    return `${column} : ${quoted}${term.kind === "prefix" ? " *" : ""}`;
  });
  for (const tag of query.tags) parts.push(`tags : "${tag.replaceAll("-", " ")}"`);
  return parts.join(" AND ");
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

interface Piece {
  text: string;
  quoted: boolean;
}

function splitPieces(text: string, refuse: (problem: string) => never): Piece[] {
  const pieces: Piece[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i];
    if (/\s/.test(char)) {
      i++;
      continue;
    }
    if (char === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) refuse("a quote is not closed");
      pieces.push({ text: text.slice(i + 1, end), quoted: true });
      i = end + 1;
      continue;
    }
    let end = i;
    while (end < text.length && !/\s/.test(text[end]) && text[end] !== '"') end++;
    pieces.push({ text: text.slice(i, end), quoted: false });
    i = end;
  }
  return pieces;
}

function phraseTerm(text: string, refuse: (problem: string) => never): QueryTerm {
  const found = words(text);
  const pairs = spacelessPairs(text);
  if (found.length > 0 && pairs.length > 0) {
    refuse(`the phrase "${text}" mixes scripts with and without spaces; search them apart`);
  }
  const tokens = found.length > 0 ? found : pairs;
  if (tokens.length === 0) refuse(`the phrase "${text}" has no word to look for`);
  if (tokens.length > queryTermsMax * 2) {
    refuse(`the phrase "${text}" has ${tokens.length} words, the limit is ${queryTermsMax * 2}`);
  }
  return { kind: "phrase", tokens, spaceless: pairs.length > 0, text: `"${text}"` };
}

/** An unquoted piece: a word, a prefix, or (when punctuation splits it) several words. */
function wordTerms(text: string, refuse: (problem: string) => never): QueryTerm[] {
  const prefix = text.endsWith("*");
  const body = prefix ? text.slice(0, -1) : text;
  if (body.includes("*")) refuse(`"${text}": * may only end a word (a prefix)`);
  if (isSpaceless(body)) {
    const pairs = spacelessPairs(body);
    const found = words(body);
    if (found.length > 0) {
      refuse(`"${text}" mixes scripts with and without spaces; put a space between them`);
    }
    if (pairs.length === 0) refuse(`"${text}" has no word to look for`);
    // One character is matched as the start of the pairs that begin with it.
    const single = [...body].length === 1;
    return [{
      kind: single || prefix ? "prefix" : "phrase",
      tokens: pairs.length === 1 || single ? [pairs[0]] : pairs,
      spaceless: true,
      text,
    }];
  }
  const found = words(body);
  if (found.length === 0) refuse(`"${text}" has no word to look for`);
  if (prefix) {
    if (found.length > 1) refuse(`"${text}": a prefix must be one word`);
    if ([...found[0]].length < prefixCharsMin) {
      refuse(`the prefix "${text}" is too short (at least ${prefixCharsMin} characters)`);
    }
    return [{ kind: "prefix", tokens: found, spaceless: false, text }];
  }
  // "e-mail" or "node.js" are words in a row, as the index cut them.
  if (found.length > 1) return [{ kind: "phrase", tokens: found, spaceless: false, text }];
  return [{ kind: "word", tokens: found, spaceless: false, text }];
}
