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
  // Most text is ASCII: it needs no decomposition.
  if (!nonAscii.test(text)) return text.toLowerCase();
  return text.normalize("NFKD").replace(marks, "").toLowerCase();
}

const nonAscii = /[^\t-~]/;
/**
 * A cheap test for the blocks of the spaceless scripts (Thai, Lao, Myanmar, Khmer, kana, Han and
 * its compatibility and supplementary planes): only text that passes it meets the exact, slower
 * script test.
 */
const spacelessBlocks =
  /[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\ud840-\ud87f]/;

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
  const folded = foldText(text);
  if (!nonAscii.test(folded)) return asciiWords(folded);
  if (!spacelessBlocks.test(folded)) {
    for (const match of folded.matchAll(wordPattern)) found.push(clip(match[0]));
    return found;
  }
  for (const match of folded.matchAll(wordPattern)) {
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
  if (!spacelessBlocks.test(text)) return pairs;
  for (const match of foldText(text).matchAll(spacelessRun)) {
    const chars = [...match[0]];
    if (chars.length === 1) pairs.push(chars[0]);
    for (let i = 0; i + 1 < chars.length; i++) pairs.push(chars[i] + chars[i + 1]);
  }
  return pairs;
}

/**
 * The text the index holds for a field: its lower-cased words (runs of letters and digits) each
 * kept at most {@link termRepeatsMax} times, for FTS5's own tokenizer to fold (diacritics) and
 * cut (in C, far faster than folding here); and the spaceless pairs,
 * each at most as often, joined by spaces. A flood of one word is cut; a flood of its spellings
 * with other accents ("spam spám spâm") counts once per spelling, which BM25 saturates anyway.
 *
 * @param text The field's text.
 * @returns `{ words, pairs }`: the text for the words column, and the pairs.
 */
export function indexableText(text: string): { words: string; pairs: string } {
  return { words: clampedText(text), pairs: clamped(spacelessPairs(text)).join(" ") };
}

const nonWord = /[^\p{L}\p{N}]+/u;
const repeats = new Map<string, number>();

function clampedText(text: string): string {
  const lower = text.toLowerCase();
  const tokens = nonAscii.test(lower) ? lower.split(nonWord) : asciiWords(lower);
  // One map, cleared per call: a fresh map per document costs more than the counting.
  const seen = repeats;
  seen.clear();
  let kept = "";
  for (const token of tokens) {
    if (token === "") continue;
    const count = (seen.get(token) ?? 0) + 1;
    if (count > termRepeatsMax) continue;
    seen.set(token, count);
    kept = kept === "" ? token : `${kept} ${token}`;
  }
  seen.clear();
  return kept;
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

/** {@link words} of folded ASCII text: runs of [a-z0-9], by a loop (regexes cost 10 times more). */
function asciiWords(folded: string): string[] {
  const found: string[] = [];
  let start = -1;
  for (let i = 0; i <= folded.length; i++) {
    const code = i < folded.length ? folded.charCodeAt(i) : 0;
    const inWord = (code >= 97 && code <= 122) || (code >= 48 && code <= 57);
    if (inWord && start < 0) start = i;
    else if (!inWord && start >= 0) {
      found.push(
        i - start <= termCharsMax
          ? folded.slice(start, i)
          : folded.slice(start, start + termCharsMax),
      );
      start = -1;
    }
  }
  return found;
}

function clip(word: string): string {
  return word.length <= termCharsMax ? word : [...word].slice(0, termCharsMax).join("");
}
