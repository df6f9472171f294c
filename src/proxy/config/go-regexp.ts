/**
 * Translation of Go (RE2) regular expressions, as written in an aperture.yaml,
 * into JavaScript `RegExp`s with the same meaning.
 *
 * The two dialects agree on almost everything a routing rule uses. The
 * differences handled here: leading flag groups `(?i)`, `(?s)`, `(?m)`;
 * `\A` and `\z`; `(?P<name>…)`; `\Q…\E`; POSIX classes such as `[[:alpha:]]`;
 * `\x{…}`, `\a` and octal escapes; `\pL`; and a `]` right after `[` or `[^`.
 * Constructs Go rejects (backreferences, lookaround, `\Z`) and constructs with no
 * JavaScript equivalent on Node 20 (flag groups after the start, `(?U)`, `\C`)
 * are reported, so a config never means something else here than in Go.
 */

/** The result of {@link translateGoRegexp}. */
export type GoRegexpResult =
  | { ok: true; regexp: RegExp; /** the JavaScript source and flags it was compiled from */ source: string; flags: string }
  | { ok: false; reason: string };

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const FLAG_MAP: Readonly<Record<string, string>> = { i: 'i', s: 's', m: 'm' };

/**
 * Translates a Go regular expression and compiles it once.
 *
 * @param goSource - the expression as written for Go's `regexp.Compile`
 * @returns the compiled `RegExp` (no `g`/`y` flag, so it is safe to reuse), or
 *   the reason it cannot be used; never throws
 */
export function translateGoRegexp(goSource: string): GoRegexpResult {
  let rest = goSource;
  const flags = new Set<string>();
  // Leading flag groups apply to the whole expression, which JS expresses as flags.
  for (;;) {
    const m = /^\(\?([a-zA-Z]+)\)/.exec(rest);
    if (m === null) break;
    for (const f of m[1] ?? '') {
      if (f === 'U') return { ok: false, reason: 'the (?U) ungreedy flag has no JavaScript equivalent; make the quantifiers lazy instead (e.g. .*?)' };
      const js = FLAG_MAP[f];
      if (js === undefined) return { ok: false, reason: `unknown flag "${f}" in (?${m[1] ?? ''})` };
      flags.add(js);
    }
    rest = rest.slice(m[0].length);
  }

  let out = '';
  let needsUnicode = false;
  let i = 0;
  let inClass = false;
  let classStart = -1;
  let groupDepth = 0;
  const fail = (reason: string): GoRegexpResult => ({ ok: false, reason });

  while (i < rest.length) {
    const c = rest[i] ?? '';
    if (c === '\\') {
      const n = rest[i + 1];
      if (n === undefined) return fail('trailing backslash');
      if (n === 'Q') {
        const end = rest.indexOf('\\E', i + 2);
        const literal = end === -1 ? rest.slice(i + 2) : rest.slice(i + 2, end);
        out += literal.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
        i = end === -1 ? rest.length : end + 2;
        continue;
      }
      if (n === 'E') { i += 2; continue; } // a stray \E is ignored by Go
      if (!inClass && n === 'A') { out += '(?<![\\s\\S])'; i += 2; continue; }
      if (!inClass && n === 'z') { out += '(?![\\s\\S])'; i += 2; continue; }
      if (n === 'Z') return fail('\\Z is not valid in Go regular expressions; use \\z or $');
      if (n === 'C') return fail('\\C (any byte) has no JavaScript equivalent');
      if (n === 'a') { out += '\\x07'; i += 2; continue; }
      if (n === 'x' && rest[i + 2] === '{') {
        const close = rest.indexOf('}', i + 3);
        const hex = close === -1 ? '' : rest.slice(i + 3, close);
        if (!/^[0-9a-fA-F]{1,6}$/.test(hex)) return fail(`invalid escape \\x{${hex}`);
        const code = Number.parseInt(hex, 16);
        if (code > 0x10ffff) return fail(`escape \\x{${hex}} is beyond Unicode`);
        out += code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`;
        if (code > 0xffff) needsUnicode = true;
        i = close + 1;
        continue;
      }
      if (n === 'x') {
        const hex = rest.slice(i + 2, i + 4);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) return fail(`invalid escape \\x${hex}`);
        out += `\\x${hex}`;
        i += 4;
        continue;
      }
      if (n >= '0' && n <= '7') {
        // Go: \0 starts an octal escape; \1-\7 only when followed by another octal digit.
        const m = /^[0-7]{1,3}/.exec(rest.slice(i + 1)) ?? [''];
        const digits = m[0];
        if (n !== '0' && digits.length < 2) return fail(`backreference \\${n} is not supported by Go regular expressions`);
        out += `\\x${Number.parseInt(digits, 8).toString(16).padStart(2, '0')}`;
        i += 1 + digits.length;
        continue;
      }
      if (n === '8' || n === '9') return fail(`backreference \\${n} is not supported by Go regular expressions`);
      if (n === 'p' || n === 'P') {
        const next = rest[i + 2];
        if (next === '{') {
          const close = rest.indexOf('}', i + 3);
          if (close === -1) return fail('unterminated \\p{…}');
          let name = rest.slice(i + 3, close);
          let negate = n === 'P';
          if (name.startsWith('^')) { negate = !negate; name = name.slice(1); }
          out += `\\${negate ? 'P' : 'p'}{${unicodeName(name)}}`;
          i = close + 1;
        } else if (next !== undefined && /[A-Za-z]/.test(next)) {
          out += `\\${n}{${next}}`;
          i += 3;
        } else {
          return fail('invalid \\p escape');
        }
        needsUnicode = true;
        continue;
      }
      if (/[A-Za-z0-9]/.test(n) && !'dDsSwWbBfnrtv'.includes(n)) {
        return fail(`escape \\${n} is not valid in Go regular expressions`);
      }
      if (inClass && (n === 'b' || n === 'B')) return fail(`escape \\${n} is not valid inside a character class in Go`);
      out += `\\${n}`;
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === '[' && rest[i + 1] === ':') {
        const close = rest.indexOf(':]', i + 2);
        if (close !== -1) {
          let name = rest.slice(i + 2, close);
          if (name.startsWith('^')) return fail(`negated POSIX class [:${name}:] has no direct JavaScript equivalent; use a negated class`);
          // Own keys only: `[[:toString:]]` must not find what every object inherits.
          const body = Object.hasOwn(POSIX_CLASSES, name) ? POSIX_CLASSES[name] : undefined;
          if (body === undefined) return fail(`unknown POSIX class [:${name}:]`);
          name = body;
          out += name;
          i = close + 2;
          continue;
        }
      }
      if (c === ']' && i !== classStart) {
        inClass = false;
        out += ']';
        i += 1;
        continue;
      }
      // JS without the u flag would read a bare '[' in a class literally too, but
      // escaping keeps the translation valid if the u flag is added later.
      out += c === '[' || c === ']' || c === '/' ? `\\${c}` : c;
      i += 1;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += '[';
      i += 1;
      if (rest[i] === '^') { out += '^'; i += 1; }
      classStart = i; // a ']' here is a literal in Go
      continue;
    }
    if (c === '(') {
      if (rest[i + 1] === '?') {
        const tail = rest.slice(i + 2);
        if (tail.startsWith('P<')) { out += '(?<'; i += 4; groupDepth += 1; continue; }
        if (tail.startsWith(':')) { out += '(?:'; i += 3; groupDepth += 1; continue; }
        if (/^<[A-Za-z_]/.test(tail)) { out += '(?<'; i += 3; groupDepth += 1; continue; }
        if (/^(=|!|<=|<!)/.test(tail)) return fail('lookahead and lookbehind are not supported by Go regular expressions');
        if (/^[-a-zA-Z]*[:)]/.test(tail)) return fail('flag groups after the start of the expression (e.g. a(?i)b or (?i:…)) have no JavaScript equivalent on Node 20; put the flags at the very start');
        return fail('invalid group syntax (?');
      }
      groupDepth += 1;
      out += '(';
      i += 1;
      continue;
    }
    if (c === ')') groupDepth -= 1;
    out += c === '/' ? '\\/' : c;
    i += 1;
  }
  if (inClass) return fail('missing closing ]');
  if (groupDepth !== 0) return fail(groupDepth > 0 ? 'missing closing )' : 'unexpected )');

  const flagText = [...flags].sort().join('') + (needsUnicode ? 'u' : '');
  try {
    return { ok: true, regexp: new RegExp(out, flagText), source: out, flags: flagText };
  } catch (err) {
    return fail(err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err));
  }
}

function unicodeName(name: string): string {
  // Go's one-letter categories are written the same in JS; scripts need Script=.
  if (/^[A-Z][a-z]?$/.test(name)) return name;
  return `Script=${name}`;
}
