/**
 * JSON Canonicalization Scheme (RFC 8785): the canonical JSON whose bytes feed
 * the challenge HMAC (`request`, `opaque`).
 *
 * ECMAScript already renders strings and numbers the way RFC 8785 asks
 * (`JSON.stringify` of a string, `Number::toString` of a double), so what is
 * left is sorting member names by UTF-16 code units (the default order of
 * `Array.prototype.sort`), dropping whitespace, and refusing what JSON cannot
 * carry.
 */
import { invalidArgument, malformed } from './mpp-error.js';

/** A JSON value as `JSON.parse` returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * The canonical JSON text of a value.
 * @param value - `null`, a boolean, a finite number, a string, an array or a plain object of those
 *   (object members whose value is `undefined` are left out, as `JSON.stringify` does)
 * @returns the canonical text
 * @throws L402Error `L402_ERR_MPP_INVALID_ARGUMENT` for `NaN`, an infinity, a bigint, a function,
 *   a symbol or `undefined` outside an object member, or a cycle
 */
export function canonicalize(value: unknown): string {
  return write(value, new Set());
}

/**
 * Parses JSON text and returns its canonical form.
 * @param text - JSON text
 * @returns the canonical text
 * @throws L402Error `L402_ERR_MPP_MALFORMED` when the text is not JSON
 */
export function canonicalizeJson(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw malformed('input is not JSON', cause);
  }
  return canonicalize(parsed);
}

function write(value: unknown, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw invalidArgument(`${String(value)} has no JSON representation`);
      // Number::toString: the shortest round-tripping decimal; both zeroes give "0".
      return String(value);
    case 'object':
      break;
    default:
      throw invalidArgument(`a ${typeof value} has no JSON representation`);
  }
  const object = value as object;
  if (seen.has(object)) throw invalidArgument('a cyclic value has no JSON representation');
  seen.add(object);
  try {
    if (Array.isArray(object)) return `[${object.map((item: unknown) => write(item, seen)).join(',')}]`;
    const record = object as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${write(member, seen)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    seen.delete(object);
  }
}
