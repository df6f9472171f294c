/**
 * RFC 3339 times as the Go aperture reads and writes them (`time.RFC3339`):
 * `2006-01-02T15:04:05Z` or with an offset `+07:00`, fractional seconds
 * optional on input; written in UTC to the second.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses an RFC 3339 time.
 * @param text - e.g. `2026-03-01T00:00:00Z`, `2026-03-01T01:00:00.5+01:00`
 * @returns milliseconds since the epoch (fractions below a millisecond dropped), or undefined when it is not one
 */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) return undefined;
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000);
  let offsetMin = 0;
  const zone = m[8] ?? 'Z';
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, fraction);
  return utc.getTime() - offsetMin * 60_000;
}

/**
 * Formats a time as Go's `t.UTC().Format(time.RFC3339)`: UTC, to the second.
 * @param ms - milliseconds since the epoch
 * @returns e.g. `2026-03-01T00:00:00Z`
 */
export function formatRfc3339(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`;
}
