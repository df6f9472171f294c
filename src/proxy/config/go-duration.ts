/**
 * Go's `time.ParseDuration`, so that `idletimeout: 2m`, `per: 1s` or
 * `staletimeout: -1s` mean exactly what they mean to the Go aperture.
 */

/** The result of {@link parseGoDuration}: the value, or why the text is not a duration. */
export type GoDurationResult =
  | { ok: true; /** milliseconds, possibly fractional (`1500us` → 1.5) */ ms: number; /** exact nanoseconds */ nanoseconds: bigint }
  | { ok: false; reason: string };

// A Map, not an object literal: a unit such as `valueOf` or `__proto__` must
// not find what every object inherits.
const UNIT_NS: ReadonlyMap<string, number> = new Map([
  ['ns', 1],
  ['us', 1e3],
  ['µs', 1e3], // U+00B5 micro sign
  ['μs', 1e3], // U+03BC Greek small letter mu
  ['ms', 1e6],
  ['s', 1e9],
  ['m', 60e9],
  ['h', 3600e9],
]);

const INT64_MAX = (1n << 63n) - 1n;

/**
 * Parses a Go duration string: a signed sequence of decimal numbers, each with
 * an optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), such
 * as `2m`, `1h30m`, `-1s`, `1.5h`. A bare `0` is allowed, as in Go; every other
 * number needs a unit. Fractions are rounded the way Go rounds them
 * (truncated to whole nanoseconds).
 *
 * @param text - the duration text
 * @returns `{ ok: true, ms, nanoseconds }` or `{ ok: false, reason }`; never throws
 */
export function parseGoDuration(text: string): GoDurationResult {
  const original = text;
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, ms: 0, nanoseconds: 0n };
  if (s === '') return invalid(original);
  let total = 0n;
  while (s !== '') {
    const numberMatch = /^([0-9]*)(?:\.([0-9]*))?/.exec(s);
    const intDigits = numberMatch?.[1] ?? '';
    const fracDigits = numberMatch?.[2];
    const hasDot = fracDigits !== undefined;
    if (intDigits === '' && (fracDigits === undefined || fracDigits === '')) return invalid(original);
    s = s.slice(intDigits.length + (hasDot ? 1 + (fracDigits ?? '').length : 0));
    const unitMatch = /^[^0-9.]+/.exec(s);
    if (unitMatch === null) return { ok: false, reason: `missing unit in duration "${original}" (use ns, us, ms, s, m or h)` };
    const unitName = unitMatch[0];
    const unit = UNIT_NS.get(unitName);
    if (unit === undefined)
      return { ok: false, reason: `unknown unit "${unitName}" in duration "${original}" (use ns, us, ms, s, m or h)` };
    s = s.slice(unitName.length);
    const whole = BigInt(intDigits === '' ? '0' : intDigits) * BigInt(unit);
    let part = whole;
    if (fracDigits !== undefined && fracDigits !== '') {
      // Go accumulates the fraction as an integer with a power-of-ten scale and
      // adds float64(f) * (float64(unit) / scale), truncated; do the same.
      const f = Number(fracDigits.slice(0, 18));
      const scale = 10 ** Math.min(fracDigits.length, 18);
      part += BigInt(Math.trunc(f * (unit / scale)));
    }
    total += part;
    if (total > INT64_MAX) return { ok: false, reason: `duration "${original}" overflows (maximum about 2562047h)` };
  }
  const nanoseconds = negative ? -total : total;
  return { ok: true, ms: Number(nanoseconds) / 1e6, nanoseconds };
}

function invalid(text: string): GoDurationResult {
  return { ok: false, reason: `invalid duration "${text}" (Go form, e.g. 2m, 15s, 1h30m, 20ms)` };
}
