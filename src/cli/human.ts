/**
 * Output for people: short IDs, relative times, durations. Scripts get the full values with
 * `--json`; these are for the text a terminal shows.
 *
 * @module
 */

/**
 * Hex digits of an ID shown in listings. 10 digits are 40 bits: among the million IDs a node
 * may know, two share a 10-digit prefix with a chance of about 1 in 2,000, and a prefix that is
 * ambiguous is refused with the candidates named, never taken for one of them.
 */
export const shortIdDigits = 10;

/**
 * An ID as listings show it: its first {@link shortIdDigits} hex digits.
 *
 * @param hex The full ID, hex.
 * @returns The short form; any command taking the ID accepts it.
 */
export function shortId(hex: string): string {
  return hex.slice(0, shortIdDigits);
}

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;

/**
 * A duration for people: `45 s`, `3 min 12 s`, `2 h 5 min`, `3 d 4 h`.
 *
 * @param ms Milliseconds, at least 0.
 * @returns The two largest units.
 */
export function formatDuration(ms: number): string {
  const value = Math.max(0, Math.floor(ms));
  if (value < minute) return `${Math.floor(value / second)} s`;
  if (value < hour) return pair(value, minute, "min", second, "s");
  if (value < day) return pair(value, hour, "h", minute, "min");
  return pair(value, day, "d", hour, "h");
}

function pair(ms: number, big: number, bigName: string, small: number, smallName: string) {
  const rest = Math.floor((ms % big) / small);
  return `${Math.floor(ms / big)} ${bigName}` + (rest > 0 ? ` ${rest} ${smallName}` : "");
}

/**
 * Beyond this age a time is shown as its date: "41 days ago" says less than the date does.
 */
const relativeAgeMsMax = 30 * day;

/**
 * A time relative to now, as listings show it: `just now`, `42 s ago`, `3 min ago`, `5 h ago`,
 * `2 days ago`; older than 30 days, the date (`2027-01-15`); a time ahead of this clock (the
 * author's clock runs fast), `in 3 min`. An unreadable time is returned as it is.
 *
 * @param iso The time, ISO 8601.
 * @param nowMs Now, in milliseconds since the epoch.
 * @returns The text.
 */
export function relativeTime(iso: string, nowMs: number): string {
  const atMs = Date.parse(iso);
  if (!Number.isFinite(atMs)) return iso;
  const age = nowMs - atMs;
  if (Math.abs(age) < 10 * second) return "just now";
  if (Math.abs(age) > relativeAgeMsMax) return iso.slice(0, 10);
  return age < 0 ? `in ${roughly(-age)}` : `${roughly(age)} ago`;
}

/** The largest whole unit of a duration: `42 s`, `3 min`, `5 h`, `2 days`. */
function roughly(ms: number): string {
  if (ms < minute) return `${Math.floor(ms / second)} s`;
  if (ms < hour) return `${Math.floor(ms / minute)} min`;
  if (ms < day) return `${Math.floor(ms / hour)} h`;
  const days = Math.floor(ms / day);
  return `${days} day${days === 1 ? "" : "s"}`;
}
