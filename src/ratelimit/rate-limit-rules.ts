import { ConfigError, L402Error, type ConfigIssue } from '../core/errors.js';
import { GoRegexp } from '../core/go-regexp.js';
import { validateBucketParams } from './token-bucket.js';

/** One `ratelimits` entry of a service, as written in the configuration. */
export interface RateLimitRuleConfig {
  /**
   * Regular expression (Go syntax, linear-time matching) tested, unanchored like Go's
   * `MatchString`, against the path; absent = every path.
   */
  pathregexp?: string;
  /** Requests allowed per window; positive. */
  requests: number;
  /** Window: milliseconds, or a Go duration string such as `1s`, `1m`, `1h30m`, `500ms`. */
  per: number | string;
  /** Bucket capacity, at least 1; defaults to `requests`. */
  burst?: number;
}

/** A rule ready to evaluate: regexp compiled, duration in ms, defaults applied. */
export interface CompiledRateLimitRule {
  /** Position in the service's list. */
  readonly index: number;
  /**
   * Stable identity used in store keys: position and parameters, so that a
   * reordered or edited configuration does not inherit another rule's buckets.
   */
  readonly id: string;
  /** The path pattern (a {@link GoRegexp} when compiled here), `undefined` for every path. */
  readonly pattern: { readonly source: string; test(path: string): boolean } | undefined;
  /** Requests per window. */
  readonly requests: number;
  /** Window in milliseconds. */
  readonly per: number;
  /** Capacity in tokens. */
  readonly burst: number;
}

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go duration (`1s`, `1m30s`, `1.5h`, `250ms`) to milliseconds.
 *
 * @param text - the duration text
 * @returns milliseconds, or `undefined` when malformed (never throws)
 */
export function parseDurationMs(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? NaN);
    pos = re.lastIndex;
  }
  return pos === 0 || !Number.isFinite(total) ? undefined : total;
}

/** The compiled expression, or the issue that explains why Go would refuse it. */
function compilePath(pattern: string, at: string): GoRegexp | ConfigIssue {
  try {
    return new GoRegexp(pattern);
  } catch (error) {
    if (!(error instanceof L402Error)) throw error;
    return { path: at, message: error.message };
  }
}

/**
 * Checks a service's raw `ratelimits` list and reports every problem.
 *
 * @param raw - the value of the `ratelimits` key (anything; `undefined` is an empty list)
 * @param path - path of the list, e.g. `services[0].ratelimits`
 * @returns issues with paths like `services[0].ratelimits[1].per`; empty when valid
 */
export function validateRateLimitRules(raw: unknown, path: string): ConfigIssue[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) return [{ path, message: 'must be a list of {pathregexp, requests, per, burst}' }];
  const issues: ConfigIssue[] = [];
  raw.forEach((entry: unknown, i) => {
    const at = `${path}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      issues.push({ path: at, message: 'must be a mapping with requests and per' });
      return;
    }
    const rule = entry as Record<string, unknown>;
    const per = typeof rule['per'] === 'string' ? parseDurationMs(rule['per']) : rule['per'];
    issues.push(...validateBucketParams({ requests: rule['requests'], per, burst: rule['burst'] }, at));
    const pattern = rule['pathregexp'];
    if (pattern !== undefined) {
      if (typeof pattern !== 'string') {
        issues.push({ path: `${at}.pathregexp`, message: 'must be a regular expression string' });
      } else {
        const compiled = compilePath(pattern, `${at}.pathregexp`);
        if (!(compiled instanceof GoRegexp)) issues.push(compiled);
      }
    }
  });
  return issues;
}

/**
 * Validates and compiles a service's `ratelimits` list once, at start-up.
 *
 * @param raw - the raw list (see {@link RateLimitRuleConfig}); `undefined` compiles to no rules
 * @param path - path of the list for error messages, e.g. `services[0].ratelimits`
 * @returns the compiled rules, in configuration order
 * @throws ConfigError `L402_ERR_CONFIG_INVALID` listing every problem
 */
export function compileRateLimitRules(raw: unknown, path = 'ratelimits'): CompiledRateLimitRule[] {
  const issues = validateRateLimitRules(raw, path);
  if (issues.length > 0) throw new ConfigError(issues);
  if (raw === undefined || raw === null) return [];
  return (raw as RateLimitRuleConfig[]).map((rule, index) => {
    const per = typeof rule.per === 'string' ? (parseDurationMs(rule.per) ?? NaN) : rule.per;
    const burst = rule.burst ?? rule.requests;
    return {
      index,
      id: `${index}:${rule.requests}/${per}/${burst}`,
      pattern: rule.pathregexp === undefined ? undefined : new GoRegexp(rule.pathregexp),
      requests: rule.requests,
      per,
      burst,
    };
  });
}
