/**
 * Typed, path-aware reading of a raw config tree. Every problem is recorded
 * (never thrown) so that one pass reports all of them with their paths.
 */
import { L402Error } from '../../core/errors.js';
import type { ConfigWarning, ConfigWarningKind } from './aperture-config.js';
import { closestKey } from './closest-key.js';
import { parseGoDuration } from './go-duration.js';
import type { LocatedConfigIssue, RawMap, RawNode } from './raw-node.js';

const TRUE_WORDS = new Set(['true', 'yes', 'on', 'y', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', 'n', '0']);

/** Collects issues and warnings while values are read from a raw tree. */
export class ConfigReader {
  /** Problems that make the configuration unusable. */
  readonly issues: LocatedConfigIssue[] = [];
  /** Problems that do not stop aperture from starting. */
  readonly warnings: ConfigWarning[] = [];

  /**
   * Records an issue.
   *
   * @param path - path of the offending key
   * @param message - what is wrong
   * @param node - the node, for its line
   */
  issue(path: string, message: string, node?: RawNode): void {
    const issue: LocatedConfigIssue = { path, message };
    if (node?.pos !== undefined) {
      issue.line = node.pos.line;
      issue.column = node.pos.column;
    }
    this.issues.push(issue);
  }

  /**
   * Records a warning.
   *
   * @param path - path of the key
   * @param kind - what the warning is about
   * @param message - explanation
   * @param node - the node, for its line
   * @param suggestion - a likely intended key
   */
  warn(path: string, kind: ConfigWarningKind, message: string, node?: RawNode, suggestion?: string): void {
    const warning: ConfigWarning = { path, kind, message };
    if (suggestion !== undefined) warning.suggestion = suggestion;
    if (node?.pos !== undefined) warning.line = node.pos.line;
    this.warnings.push(warning);
  }

  /**
   * Opens a mapping. Keys not in `known` are reported as `unknown-key` warnings
   * with the closest known key; a value that is not a mapping is an issue.
   *
   * @param node - the node (undefined or null = an empty section)
   * @param path - its path
   * @param known - the lower-case keys allowed here
   * @returns a reader for the section
   */
  section(node: RawNode | undefined, path: string, known: readonly string[]): ConfigSection {
    if (node === undefined || (node.kind === 'scalar' && node.value === null)) return new ConfigSection(this, undefined, path, known);
    if (node.kind !== 'map') {
      this.issue(path === '' ? '$' : path, `expected a mapping of keys, found ${describe(node)}`, node);
      return new ConfigSection(this, undefined, path, known);
    }
    for (const [lower, entry] of node.entries) {
      if (known.includes(lower)) continue;
      const suggestion = closestKey(lower, known);
      const keyPath = join(path, entry.key);
      const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
      const fake: RawNode = entry.pos === undefined ? entry.value : { ...entry.value, pos: entry.pos };
      this.warn(keyPath, 'unknown-key', `unknown key "${entry.key}" is ignored${hint}`, fake, suggestion);
    }
    return new ConfigSection(this, node, path, known);
  }
}

/**
 * Typed accessors for the keys of one mapping. Only the section's known keys
 * can be read: a key read but missing from the list would be applied while
 * the operator is told it is ignored, so reading one is a programming error
 * that every load of a configuration shows at once.
 */
export class ConfigSection {
  /**
   * @param reader - where problems go
   * @param map - the mapping, or undefined for an absent/empty section
   * @param basePath - its path
   * @param known - the lower-case keys allowed here (those the section warns about are not readable)
   */
  constructor(
    private readonly reader: ConfigReader,
    private readonly map: RawMap | undefined,
    readonly basePath: string,
    private readonly known: readonly string[],
  ) {}

  /** Path of a key of this section. */
  path(key: string): string {
    return join(this.basePath, key);
  }

  /**
   * The node under `key`, or undefined when absent or null.
   * @throws L402Error `L402_ERR_CONFIG_INVALID` when `key` is not one of the section's known keys (a defect of the reading code)
   */
  node(key: string): RawNode | undefined {
    if (!this.known.includes(key))
      throw new L402Error(
        'L402_ERR_CONFIG_INVALID',
        `internal: the key "${this.path(key)}" is read but is not among its section's known keys (it would be reported as ignored)`,
      );
    const value = this.map?.entries.get(key)?.value;
    if (value === undefined || (value.kind === 'scalar' && value.value === null)) return undefined;
    return value;
  }

  /** Whether the key is present with a non-null value. */
  has(key: string): boolean {
    return this.node(key) !== undefined;
  }

  /** A string (numbers and booleans are taken as written), or `fallback`. */
  string(key: string, fallback: string): string {
    return this.optString(key) ?? fallback;
  }

  /** A non-empty string, or undefined. */
  optString(key: string): string | undefined {
    const node = this.node(key);
    if (node === undefined) return undefined;
    const text = scalarText(node);
    if (text === undefined) {
      this.reader.issue(this.path(key), `expected a string, found ${describe(node)}`, node);
      return undefined;
    }
    return text === '' ? undefined : text;
  }

  /** A boolean (`true/false`, and the YAML 1.1 words `yes/no/on/off` that Go's YAML reads as booleans). */
  bool(key: string, fallback: boolean): boolean {
    const node = this.node(key);
    if (node === undefined) return fallback;
    if (node.kind === 'scalar') {
      if (typeof node.value === 'boolean') return node.value;
      const word = node.text.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
    }
    this.reader.issue(this.path(key), `expected true or false, found ${describe(node)}`, node);
    return fallback;
  }

  /** An integer within [min, max], or `fallback`. */
  int(key: string, fallback: number, min: number, max: number): number {
    const node = this.node(key);
    if (node === undefined) return fallback;
    const value = integerOf(node);
    if (value === undefined) {
      this.reader.issue(this.path(key), `expected a whole number, found ${describe(node)}`, node);
      return fallback;
    }
    if (value < min || value > max) {
      this.reader.issue(this.path(key), `${value} is out of range (${min} to ${max})`, node);
      return fallback;
    }
    return value;
  }

  /** A Go duration in milliseconds, or `fallback`; values below `minMs` are issues. */
  duration(key: string, fallbackMs: number, minMs = Number.NEGATIVE_INFINITY): number {
    const node = this.node(key);
    if (node === undefined) return fallbackMs;
    if (node.kind === 'scalar' && typeof node.value === 'number') {
      if (node.value === 0) return 0;
      this.reader.issue(this.path(key), `duration ${node.text} needs a unit, e.g. "${node.text}s" (units: ns, us, ms, s, m, h)`, node);
      return fallbackMs;
    }
    const text = scalarText(node);
    if (text === undefined || typeof (node as { value?: unknown }).value === 'boolean') {
      this.reader.issue(this.path(key), `expected a duration such as 30s or 2m, found ${describe(node)}`, node);
      return fallbackMs;
    }
    const parsed = parseGoDuration(text.trim());
    if (!parsed.ok) {
      this.reader.issue(this.path(key), parsed.reason, node);
      return fallbackMs;
    }
    if (parsed.ms < minMs) {
      this.reader.issue(this.path(key), minMs === 0 ? 'must not be negative' : `must be at least ${minMs}ms`, node);
      return fallbackMs;
    }
    return parsed.ms;
  }

  /** A list of strings (a single string is taken as a one-element list). */
  stringList(key: string): { value: string; path: string; node: RawNode }[] {
    const node = this.node(key);
    if (node === undefined) return [];
    const items = node.kind === 'seq' ? node.items : [node];
    const out: { value: string; path: string; node: RawNode }[] = [];
    items.forEach((item, index) => {
      const itemPath = node.kind === 'seq' ? `${this.path(key)}[${index}]` : this.path(key);
      const text = scalarText(item);
      if (text === undefined || (item.kind === 'scalar' && item.value === null)) {
        this.reader.issue(itemPath, `expected a string, found ${describe(item)}`, item);
        return;
      }
      out.push({ value: text, path: itemPath, node: item });
    });
    return out;
  }

  /** A mapping of string keys to scalar values (taken as written). */
  stringMap(key: string): { key: string; value: string; path: string; node: RawNode }[] {
    const node = this.node(key);
    if (node === undefined) return [];
    if (node.kind !== 'map') {
      this.reader.issue(this.path(key), `expected a mapping, found ${describe(node)}`, node);
      return [];
    }
    const out: { key: string; value: string; path: string; node: RawNode }[] = [];
    for (const entry of node.entries.values()) {
      const entryPath = join(this.path(key), entry.key);
      const text = entry.value.kind === 'scalar' && entry.value.value === null ? '' : scalarText(entry.value);
      if (text === undefined) {
        this.reader.issue(entryPath, `expected a string or number, found ${describe(entry.value)}`, entry.value);
        continue;
      }
      out.push({ key: entry.key, value: text, path: entryPath, node: entry.value });
    }
    return out;
  }

  /** A nested section. */
  section(key: string, known: readonly string[]): ConfigSection {
    return this.reader.section(this.node(key), this.path(key), known);
  }
}

/** The text of a scalar as written (so `1682483169` keeps every digit), or undefined for non-scalars. */
export function scalarText(node: RawNode): string | undefined {
  if (node.kind !== 'scalar') return undefined;
  if (node.value === null) return '';
  if (typeof node.value === 'string') return node.value;
  return node.text;
}

function integerOf(node: RawNode): number | undefined {
  if (node.kind !== 'scalar') return undefined;
  if (typeof node.value === 'number') return Number.isSafeInteger(node.value) ? node.value : undefined;
  if (typeof node.value === 'bigint') return undefined;
  if (typeof node.value === 'string' && /^[+-]?\d{1,15}$/.test(node.value.trim())) return Number(node.value.trim());
  return undefined;
}

/** Describes a node for messages: `a list`, `"abc"`, `12`. */
export function describe(node: RawNode): string {
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  if (node.value === null) return 'nothing';
  if (typeof node.value === 'string') return JSON.stringify(node.value.length > 60 ? `${node.value.slice(0, 57)}...` : node.value);
  return node.text;
}

function join(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}
