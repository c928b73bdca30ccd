/**
 * Text as the search index sees it: folded (NFKD, diacritics removed, lower case), cut into
 * words, runs of scripts written without spaces (Chinese, Japanese, Thai, …) cut into
 * overlapping pairs of characters, and repeats of a word beyond {@link termRepeatsMax} dropped,
 * so stuffing a post with one word cannot raise its score past a few mentions. The local index
 * (FTS5 `unicode61 remove_diacritics 2`) folds words the same way, so a term parsed here matches
 * what the index holds; the network index uses these words as its terms.
 *
 * Why pairs ("bigrams") for scripts without spaces, rather than FTS5's trigram tokenizer: a pair
 * column lives in the same FTS5 table as the words, so one MATCH answers a query mixing both
 * scripts, and two-character words (most Chinese words) are found; a trigram table is a second
 * index that cannot match a term shorter than three characters. docs/search.md has the figures.
 *
 * @module
 */

/**
 * Times one word counts in a document's indexed text; later repeats are dropped. Three covers a
 * word used in a title, a heading and a sentence; a post repeating one word a thousand times is
 * indexed as if it said it three times (the spam test in tests/services/search relies on it).
 */
export const termRepeatsMax = 3;

/**
 * Longest word kept, in characters: longer runs of letters are not words people search for
 * (hashes, base64) and would bloat the index. Longer words are cut to this length.
 */
export const termCharsMax = 40;

const marks = /\p{M}+/gu;
/** A word: letters, digits, and marks between them, of scripts written with spaces. */
const wordPattern = /[\p{L}\p{N}]+/gu;
/** Scripts written without spaces between words. */
const spacelessPattern =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
const spacelessRun =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\u30fc]+/gu;

/**
 * Folds text as the index does: compatibility decomposition, combining marks removed, lower case.
 *
 * @param text Any text.
 * @returns The folded text.
 */
export function foldText(text: string): string {
  return text.normalize("NFKD").replace(marks, "").toLowerCase();
}

/**
 * Whether a character (or a word) belongs to a script written without spaces.
 *
 * @param text A word.
 * @returns `true` when any of its characters does.
 */
export function isSpaceless(text: string): boolean {
  return spacelessPattern.test(text);
}

/**
 * The words of a text, folded, in order, spaceless runs left out (see {@link spacelessPairs}).
 *
 * @param text Any text.
 * @returns The words, each at most {@link termCharsMax} characters.
 */
export function words(text: string): string[] {
  const found: string[] = [];
  for (const match of foldText(text).matchAll(wordPattern)) {
    const word = match[0];
    if (isSpaceless(word)) {
      // A mixed run ("abc東京"): its letters of spaced scripts are still a word.
      for (const part of word.split(spacelessRun)) if (part) found.push(clip(part));
      continue;
    }
    found.push(clip(word));
  }
  return found;
}

/**
 * The overlapping character pairs of a text's spaceless runs ("東京都" → "東京", "京都"); a run of
 * one character is kept as it is.
 *
 * @param text Any text.
 * @returns The pairs, in order.
 */
export function spacelessPairs(text: string): string[] {
  const pairs: string[] = [];
  for (const match of foldText(text).matchAll(spacelessRun)) {
    const chars = [...match[0]];
    if (chars.length === 1) pairs.push(chars[0]);
    for (let i = 0; i + 1 < chars.length; i++) pairs.push(chars[i] + chars[i + 1]);
  }
  return pairs;
}

/**
 * The text the index holds for a field: its words and pairs, each at most
 * {@link termRepeatsMax} times, joined by spaces.
 *
 * @param text The field's text.
 * @returns `{ words, pairs }`: the words, and the spaceless pairs, as indexable text.
 */
export function indexableText(text: string): { words: string; pairs: string } {
  return { words: clamped(words(text)).join(" "), pairs: clamped(spacelessPairs(text)).join(" ") };
}

/**
 * How often each term occurs, repeats past {@link termRepeatsMax} not counted.
 *
 * @param terms Terms in order.
 * @returns Count per term.
 */
export function termCounts(terms: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const term of terms) {
    counts.set(term, Math.min(termRepeatsMax, (counts.get(term) ?? 0) + 1));
  }
  return counts;
}

function clamped(terms: readonly string[]): string[] {
  const seen = new Map<string, number>();
  const kept: string[] = [];
  for (const term of terms) {
    const count = (seen.get(term) ?? 0) + 1;
    seen.set(term, count);
    if (count <= termRepeatsMax) kept.push(term);
  }
  return kept;
}

function clip(word: string): string {
  return word.length <= termCharsMax ? word : [...word].slice(0, termCharsMax).join("");
}
