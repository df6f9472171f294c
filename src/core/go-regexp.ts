/**
 * Go (RE2) regular expressions, as written in an aperture.yaml, matched in
 * time linear in the input.
 *
 * The reference compiles every routing and rule expression with Go's
 * `regexp` package: RE2 syntax, and matching that never backtracks. A
 * JavaScript `RegExp` backtracks, so `^/(a+)+$` against 40 `a`s and a `!`
 * takes minutes and blocks the process. Expressions are therefore compiled
 * with re2js (a JavaScript port of RE2: Go's syntax, Go's limits such as
 * repeat counts of at most 1000, and an automaton instead of backtracking).
 * The expressions a routing table is mostly made of (literals, anchored
 * prefixes, `.*`, a few literal alternatives) are matched with plain string
 * operations instead, which give the same answers faster (see
 * `go-regexp-fast-path.ts`).
 */
import { RE2JS } from 're2js';
import { L402Error } from './errors.js';
import { goRegexpFastPath } from './go-regexp-fast-path.js';

// How `test()` matches: one string operation on `#text`/`#set`, or `#match`.
const EQUALS = 0;
const PREFIX = 1;
const SUFFIX = 2;
const CONTAINS = 3;
const PREFIX_LINE = 4;
const ALWAYS = 5;
const ONE_OF = 6;
const FUNCTION = 7;
const KINDS = {
  equals: EQUALS,
  prefix: PREFIX,
  suffix: SUFFIX,
  contains: CONTAINS,
  'prefix-line': PREFIX_LINE,
  always: ALWAYS,
  'one-of': ONE_OF,
  function: FUNCTION,
} as const;

/**
 * A compiled Go regular expression. {@link GoRegexp.test} is an unanchored
 * search like Go's `MatchString`, linear in the length of the input.
 */
export class GoRegexp {
  /** The expression as written (Go syntax). */
  readonly source: string;
  /** Whether matching uses plain string operations rather than the RE2 automaton. */
  readonly fastPath: boolean;
  // One class and one method for every expression, the common cases inline: routing calls
  // `test()` on many expressions from one call site, which stays monomorphic this way.
  readonly #kind: number;
  readonly #text: string;
  readonly #set: ReadonlySet<string> | undefined;
  readonly #match: (input: string) => boolean;

  /**
   * Prefer {@link compileGoRegexp}, which says what is wrong with a bad expression.
   * @param source - the expression in Go syntax
   * @throws L402Error `L402_ERR_REGEXP_INVALID` when Go would refuse it
   */
  constructor(source: string) {
    let re2: RE2JS;
    try {
      re2 = RE2JS.compile(source);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message.replace(/^error parsing regexp: /, '') : String(cause);
      throw new L402Error('L402_ERR_REGEXP_INVALID', `invalid regular expression ${JSON.stringify(source)}: ${reason}`, { cause });
    }
    const slow = (input: string): boolean => re2.test(input);
    const fast = goRegexpFastPath(source, slow);
    this.source = source;
    this.fastPath = fast !== undefined;
    this.#kind = fast === undefined ? FUNCTION : KINDS[fast.kind];
    this.#text = fast !== undefined && 'text' in fast ? fast.text : '';
    this.#set = fast?.kind === 'one-of' ? fast.set : undefined;
    this.#match = fast?.kind === 'function' ? fast.match : slow;
  }

  /**
   * Whether the expression matches anywhere in `input` (Go's `MatchString`).
   * @param input - the text, e.g. a Host header or a path
   * @returns true on a match
   */
  test(input: string): boolean {
    switch (this.#kind) {
      case EQUALS:
        return input === this.#text;
      case PREFIX:
        return input.startsWith(this.#text);
      case SUFFIX:
        return input.endsWith(this.#text);
      case CONTAINS:
        return input.includes(this.#text);
      case PREFIX_LINE:
        return input.startsWith(this.#text) && input.indexOf('\n', this.#text.length) < 0;
      case ALWAYS:
        return true;
      case ONE_OF:
        return (this.#set as ReadonlySet<string>).has(input);
      default:
        return this.#match(input);
    }
  }

  /** @returns the source, as written */
  toString(): string {
    return this.source;
  }
}

/**
 * Compiles a Go regular expression for linear-time matching. Every
 * expression a configuration (or an admin request) can set goes through
 * here: service `hostregexp`/`pathregexp`, `authwhitelistpaths`,
 * `authskipinvoicecreationpaths`, `ratelimits[].pathregexp`.
 *
 * Refused, as Go's `regexp.Compile` refuses them: invalid syntax,
 * backreferences and lookaround, `\Z`, repeat counts over 1000 (also
 * nested, `(a{100}){11}`), nesting deeper than 1000.
 *
 * @param source - the expression in Go syntax
 * @returns the compiled expression
 * @throws L402Error `L402_ERR_REGEXP_INVALID` naming the problem (the message of Go's parser)
 * @example
 * ```ts
 * const path = compileGoRegexp('^/api/.*$');
 * path.test('/api/v1/quote'); // true
 * compileGoRegexp('a{1001}'); // throws L402_ERR_REGEXP_INVALID: invalid repeat count
 * ```
 */
export function compileGoRegexp(source: string): GoRegexp {
  return new GoRegexp(source);
}
