/**
 * String-operation matchers for the Go regular expressions a routing table
 * is mostly made of: literals, anchored literals, a small set of literal
 * alternatives (`^(www\.)?example\.com$`), `.` wildcards and one `.*`. They
 * give the same answer as the RE2 engine (a property test checks this) in a
 * few comparisons instead of a run of the automaton.
 *
 * Every matcher built here is a fixed number (at most {@link MAX_ALTERNATIVES})
 * of `startsWith`/`indexOf` scans of the input and comparisons at fixed
 * positions, each linear in the input times the length of a literal: there is
 * no backtracking to blow up. A `.` is only ever compared at a fixed position
 * (`^a.c`, `a.c$`); an unanchored `a.c` runs on RE2.
 * Anything outside the recognised subset (classes, repeats other than a
 * top-level `.*`, `(?m)`, non-ASCII literals, …) gets no fast path and runs
 * on the RE2 engine.
 */

/** A literal alternative; `wild[k]` marks a `.` at position k. */
interface Piece {
  readonly text: string;
  readonly wild: readonly boolean[] | undefined;
}

/** What the expression means when it is in the subset: `[^] head (.* tail)? [$]`. */
interface Plan {
  readonly start: boolean;
  readonly end: boolean;
  readonly head: readonly Piece[];
  /** Alternatives after the one top-level `.*`; `undefined` when there is none. */
  readonly tail: readonly Piece[] | undefined;
  readonly dotAll: boolean;
  readonly ignoreCase: boolean;
}

/**
 * Most literal alternatives a fast path expands to (the product over optional parts and
 * groups, head times tail). Each is one scan of the input: beyond a few, RE2's automaton,
 * which follows all alternatives in one pass, is the better engine.
 */
export const MAX_ALTERNATIVES = 16;

const EMPTY: Piece = { text: '', wild: undefined };
const NON_ASCII = /[^\x00-\x7f]/;

class NotInSubset extends Error {}

function bail(): never {
  throw new NotInSubset();
}

function isAlnum(c: string): boolean {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

function concat(a: readonly Piece[], b: readonly Piece[]): Piece[] {
  if (a.length * b.length > MAX_ALTERNATIVES) bail();
  const out: Piece[] = [];
  for (const x of a) {
    for (const y of b) {
      const wild =
        x.wild === undefined && y.wild === undefined
          ? undefined
          : [...(x.wild ?? Array<boolean>(x.text.length).fill(false)), ...(y.wild ?? Array<boolean>(y.text.length).fill(false))];
      out.push({ text: x.text + y.text, wild });
    }
  }
  return out;
}

function union(a: readonly Piece[], b: readonly Piece[]): Piece[] {
  if (a.length + b.length > MAX_ALTERNATIVES) bail();
  return [...a, ...b];
}

/** Parses Go syntax restricted to the subset; throws {@link NotInSubset} outside it. */
class SubsetParser {
  i = 0;
  starSeen = false;
  head: Piece[] = [EMPTY];
  tail: Piece[] | undefined;

  constructor(readonly src: string) {}

  /** A sequence of atoms up to `)`, `|` or the end (or a top-level `$`). */
  sequence(topLevel: boolean): Piece[] {
    let acc: Piece[] = [EMPTY];
    const src = this.src;
    while (this.i < src.length) {
      const c = src[this.i] as string;
      if (c === ')' || c === '|') {
        if (topLevel) bail(); // a top-level alternation or a stray ')'
        return acc;
      }
      if (c === '$' || (c === '\\' && src[this.i + 1] === 'z')) {
        if (!topLevel || this.i + (c === '$' ? 1 : 2) !== src.length) bail();
        return acc;
      }
      if (c === '.' && src[this.i + 1] === '*') {
        if (!topLevel || this.starSeen) bail();
        this.starSeen = true;
        this.i += 2;
        if (src[this.i] === '?') this.i += 1; // lazy: the same strings match
        this.head = acc;
        acc = [EMPTY];
        continue;
      }
      let atom: Piece[];
      if (c === '(') atom = this.group();
      else if (c === '.') {
        atom = [{ text: '.', wild: [true] }];
        this.i += 1;
      } else if (c === '\\') {
        const n = src[this.i + 1];
        // Go: a backslash before ASCII punctuation is that character.
        if (n === undefined || n < '!' || n > '~' || isAlnum(n)) bail();
        atom = [{ text: n, wild: undefined }];
        this.i += 2;
      } else if (c >= ' ' && c <= '~' && !'[]{}*+?^'.includes(c)) {
        atom = [{ text: c, wild: undefined }];
        this.i += 1;
      } else {
        bail();
      }
      const q = src[this.i];
      if (q === '?') {
        this.i += 1;
        if (src[this.i] === '?') this.i += 1; // lazy: the same strings match
        atom = union(atom, [EMPTY]);
      } else if (q === '*' || q === '+' || q === '{') {
        bail();
      }
      acc = concat(acc, atom);
    }
    return acc;
  }

  /** `(…)`, `(?:…)`, `(?P<name>…)` or `(?<name>…)` of alternatives. */
  group(): Piece[] {
    const src = this.src;
    this.i += 1;
    if (src[this.i] === '?') {
      const rest = src.slice(this.i);
      const m = /^\?(?::|P?<[A-Za-z0-9_]+>)/.exec(rest);
      if (m === null) bail();
      this.i += m[0].length;
    }
    let alts = this.sequence(false);
    while (src[this.i] === '|') {
      this.i += 1;
      alts = union(alts, this.sequence(false));
    }
    if (src[this.i] !== ')') bail();
    this.i += 1;
    return alts;
  }
}

function plan(source: string): Plan | undefined {
  let rest = source;
  let dotAll = false;
  let ignoreCase = false;
  for (;;) {
    const m = /^\(\?([is]+)\)/.exec(rest);
    if (m === null) break;
    for (const f of m[1] ?? '') {
      if (f === 'i') ignoreCase = true;
      else dotAll = true;
    }
    rest = rest.slice(m[0].length);
  }
  let start = false;
  if (rest.startsWith('^')) {
    start = true;
    rest = rest.slice(1);
  } else if (rest.startsWith('\\A')) {
    start = true;
    rest = rest.slice(2);
  }
  const parser = new SubsetParser(rest);
  let last: Piece[];
  try {
    last = parser.sequence(true);
  } catch (error) {
    if (error instanceof NotInSubset) return undefined;
    throw error;
  }
  const end = parser.i < rest.length; // stopped at the final `$` or `\z`
  const head = parser.starSeen ? parser.head : last;
  const tail = parser.starSeen ? last : undefined;
  if (head.length * (tail?.length ?? 1) > MAX_ALTERNATIVES) return undefined;
  const lower = (p: Piece): Piece => (ignoreCase ? { text: p.text.toLowerCase(), wild: p.wild } : p);
  return { start, end, head: head.map(lower), tail: tail?.map(lower), dotAll, ignoreCase };
}

/** The pieces {@link general} searches for (rather than compares at a fixed position). */
function searched(pl: Plan): readonly Piece[] {
  const { start, end, head, tail } = pl;
  if (tail === undefined) return start || end ? [] : head;
  if (start && end) return [];
  if (start) return tail;
  if (end) return head;
  return [...head, ...tail];
}

/** Whether `p` matches `s` at `i` (fully inside `s`). */
function at(s: string, i: number, p: Piece, dotAll: boolean): boolean {
  const n = p.text.length;
  if (i < 0 || i + n > s.length) return false;
  const wild = p.wild;
  if (wild === undefined) return s.startsWith(p.text, i);
  for (let k = 0; k < n; k++) {
    if (wild[k] === true) {
      if (!dotAll && s.charCodeAt(i + k) === 10) return false;
    } else if (s.charCodeAt(i + k) !== p.text.charCodeAt(k)) {
      return false;
    }
  }
  return true;
}

/** The first `i >= from` where `p` matches and ends at or before `to`; -1 when none. */
function find(s: string, p: Piece, from: number, to: number, dotAll: boolean): number {
  const n = p.text.length;
  if (p.wild === undefined) {
    const i = s.indexOf(p.text, from);
    return i >= 0 && i + n <= to ? i : -1;
  }
  for (let i = from; i + n <= to; i++) if (at(s, i, p, dotAll)) return i;
  return -1;
}

/** Index of the first `\n` at or after `from`, or `s.length`. */
function lineEnd(s: string, from: number): number {
  const i = s.indexOf('\n', from);
  return i < 0 ? s.length : i;
}

function general(pl: Plan): (s: string) => boolean {
  const { start, end, head, tail, dotAll } = pl;
  if (tail === undefined) {
    return (s) => {
      for (const p of head) {
        const n = p.text.length;
        if (
          start && end
            ? n === s.length && at(s, 0, p, dotAll)
            : start
              ? at(s, 0, p, dotAll)
              : end
                ? at(s, s.length - n, p, dotAll)
                : find(s, p, 0, s.length, dotAll) >= 0
        )
          return true;
      }
      return false;
    };
  }
  // `.*` matches any run of characters but `\n` (any at all with (?s)).
  const gapOk = (s: string, from: number, to: number): boolean => {
    if (dotAll) return true;
    const nl = s.indexOf('\n', from);
    return nl < 0 || nl >= to;
  };
  return (s) => {
    const len = s.length;
    for (const h of head) {
      const hn = h.text.length;
      for (const t of tail) {
        const tn = t.text.length;
        if (start && end) {
          if (hn + tn <= len && at(s, 0, h, dotAll) && at(s, len - tn, t, dotAll) && gapOk(s, hn, len - tn)) return true;
        } else if (start) {
          if (at(s, 0, h, dotAll) && find(s, t, hn, dotAll ? len : lineEnd(s, hn), dotAll) >= 0) return true;
        } else if (end) {
          const b = len - tn;
          if (b >= 0 && at(s, b, t, dotAll)) {
            const nl = dotAll || b === 0 ? -1 : s.lastIndexOf('\n', b - 1);
            if (find(s, h, nl + 1, b, dotAll) >= 0) return true;
          }
        } else {
          // Within one line (the whole input with (?s)): the earliest `h`, then `t` after it.
          for (let a = 0; a <= len;) {
            const z = dotAll ? len : lineEnd(s, a);
            const i = find(s, h, a, z, dotAll);
            if (i >= 0 && find(s, t, i + hn, z, dotAll) >= 0) return true;
            a = z + 1;
          }
        }
      }
    }
    return false;
  };
}

/**
 * How a fast path matches: one string operation on the input (`equals`,
 * `prefix`, `suffix`, `contains`, `always`, `one-of` a set, `prefix-line`:
 * a prefix followed by no `\n`), or a function for the rest of the subset.
 */
export type GoRegexpFastPath =
  | { readonly kind: 'equals' | 'prefix' | 'suffix' | 'contains' | 'prefix-line'; readonly text: string }
  | { readonly kind: 'always' }
  | { readonly kind: 'one-of'; readonly set: ReadonlySet<string> }
  | { readonly kind: 'function'; readonly match: (input: string) => boolean };

/** The fast path of a plan without `.` wildcards or `(?i)`. */
function specialised(pl: Plan): GoRegexpFastPath {
  if (pl.tail === undefined && pl.head.length === 1) {
    const text = (pl.head[0] as Piece).text;
    if (pl.start && pl.end) return { kind: 'equals', text };
    if (pl.start) return { kind: 'prefix', text };
    if (pl.end) return { kind: 'suffix', text };
    return text === '' ? { kind: 'always' } : { kind: 'contains', text };
  }
  if (pl.tail === undefined && pl.start && pl.end) return { kind: 'one-of', set: new Set(pl.head.map((p) => p.text)) };
  if (pl.tail !== undefined && pl.head.length === 1 && pl.tail.length === 1 && (pl.tail[0] as Piece).text === '') {
    // `^lit.*$`, `^lit.*`, `lit.*`, `.*`: the tail is empty.
    const text = (pl.head[0] as Piece).text;
    if (pl.start && pl.end) return { kind: pl.dotAll ? 'prefix' : 'prefix-line', text };
    if (pl.start) return { kind: 'prefix', text };
    if (!pl.end) return text === '' ? { kind: 'always' } : { kind: 'contains', text };
  }
  return { kind: 'function', match: general(pl) };
}

/**
 * How to match a Go expression with string operations, when the expression
 * is in the recognised subset.
 *
 * @param source - a Go expression that already compiled (syntax is not re-checked here)
 * @param fallback - the RE2 matcher, used for inputs with non-ASCII characters when the
 *   expression has `.` or `(?i)` (whose meaning on code points and case folding it keeps)
 * @returns how to match, or `undefined` when the expression is outside the subset
 */
export function goRegexpFastPath(source: string, fallback: (s: string) => boolean): GoRegexpFastPath | undefined {
  const pl = plan(source);
  if (pl === undefined) return undefined;
  const hasWild = [...pl.head, ...(pl.tail ?? [])].some((p) => p.wild !== undefined);
  // A literal is searched for with indexOf; a piece with `.` would be searched for character by
  // character, slower than RE2 (whose prefilter skips to a required literal): leave those to RE2.
  if (searched(pl).some((p) => p.wild !== undefined)) return undefined;
  if (pl.ignoreCase) {
    const match = general(pl);
    return { kind: 'function', match: (s) => (NON_ASCII.test(s) ? fallback(s) : match(s.toLowerCase())) };
  }
  if (hasWild) {
    const match = general(pl);
    return { kind: 'function', match: (s) => (NON_ASCII.test(s) ? fallback(s) : match(s)) };
  }
  return specialised(pl);
}
