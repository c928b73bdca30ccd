/**
 * "Did you mean": the known word closest to a mistyped one, by edit distance (insertions,
 * deletions, substitutions and swaps of two neighbouring letters each cost 1).
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";

/**
 * Longest word compared. Commands and flags are under 20 letters; a longer word is no typo of
 * one, and the distance costs its length squared.
 */
const suggestWordLengthMax = 64;

/**
 * The edit distance between two words (optimal string alignment: a swap of two neighbouring
 * letters counts 1, as typing them in the wrong order is one mistake).
 *
 * @param a A word.
 * @param b Another word.
 * @returns The fewest edits turning `a` into `b`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const columns = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, () => new Array<number>(columns).fill(0));
  for (let i = 0; i < rows; i++) d[i][0] = i;
  for (let j = 0; j < columns; j++) d[0][j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < columns; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate closest to `word`, if one is close enough to be what was meant: at most 1 edit
 * for words of up to 4 letters, 2 up to 8, else 3; or a candidate the word is the start of
 * (`stat` for `status`). Ties go to the candidate listed first.
 *
 * @param word What was typed.
 * @param candidates The words known.
 * @returns The suggestion, or `undefined`.
 */
export function closestWord(word: string, candidates: readonly string[]): string | undefined {
  if (word.length === 0 || word.length > suggestWordLengthMax) return undefined;
  const typed = word.toLowerCase();
  const allowed = typed.length <= 4 ? 1 : typed.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate.length > suggestWordLengthMax) continue;
    const distance = editDistance(typed, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined && bestDistance <= allowed) return best;
  if (typed.length >= 3) return candidates.find((candidate) => candidate.startsWith(typed));
  return undefined;
}

/**
 * The usage error for an action a command does not have, naming those it has and the closest.
 *
 * @param command The command's name (`thread`).
 * @param action What was typed.
 * @param actions The command's actions.
 * @returns The error to throw.
 */
export function unknownActionError(
  command: string,
  action: string,
  actions: readonly string[],
): UsageError {
  const guess = closestWord(action, actions);
  return new UsageError(
    `unknown action "${action}" for 'rhizome ${command}': expected one of ${actions.join(", ")}` +
      (guess ? `; did you mean '${guess}'?` : ""),
  );
}
