/** Values written for people: sizes and times, pure so every layer may use them. */

const byteUnits = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/**
 * A size for people: binary units, three significant digits at most.
 *
 * @param bytes A size in bytes.
 * @returns For example "512 MiB", "79.6 GiB", "1.5 GiB", "12 B".
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))} ${byteUnits[unit]}`;
}

/**
 * A time as ISO 8601 in UTC with milliseconds (what `Date.prototype.toISOString` writes), computed
 * without `Date` so the sans-I/O layers that use it stay free of wall-clock APIs. Days to a civil date by Howard
 * Hinnant's `civil_from_days` (proleptic Gregorian calendar, eras of 400 years).
 */
export function isoTimeOf(ms: number): string {
  const msPerDay = 86_400_000;
  const days = Math.floor(ms / msPerDay);
  let rest = ms - days * msPerDay;
  const shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra -
    (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = era * 400 + yearOfEra + (month <= 2 ? 1 : 0);
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const pad = (value: number, width: number) => String(value).padStart(width, "0");
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hours, 2)}:${pad(minutes, 2)}:${
    pad(seconds, 2)
  }.${pad(rest - seconds * 1000, 3)}Z`;
}
