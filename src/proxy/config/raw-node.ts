/**
 * A small, position-carrying tree of what a config file (or an options object)
 * says, before any meaning is given to it. Keys are matched case-insensitively,
 * as the config is written in lower-case field names but older files spell some
 * keys in camel case (`requireSSL`).
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { ConfigIssue } from '../../core/errors.js';

/** Where a node came from in the file (1-based), when it came from a file. */
export interface RawPosition {
  line: number;
  column: number;
}

/** A mapping; `entries` is keyed by the lower-cased key. */
export interface RawMap {
  kind: 'map';
  entries: Map<string, RawEntry>;
  pos?: RawPosition;
}
/** One key of a mapping, with the spelling used in the file. */
export interface RawEntry {
  key: string;
  value: RawNode;
  pos?: RawPosition;
}
/** A sequence. */
export interface RawSeq {
  kind: 'seq';
  items: RawNode[];
  pos?: RawPosition;
}
/** A scalar: its parsed value and the exact source text (numbers keep every digit). */
export interface RawScalar {
  kind: 'scalar';
  value: string | number | boolean | bigint | null;
  text: string;
  pos?: RawPosition;
}
/** Any node of the raw tree. */
export type RawNode = RawMap | RawSeq | RawScalar;

/** A {@link ConfigIssue} that may also say where in the file it is. */
export interface LocatedConfigIssue extends ConfigIssue {
  line?: number;
  column?: number;
}

/** Result of {@link parseYamlConfig}. */
export type ParsedYaml =
  { ok: true; root: RawNode | undefined; issues: LocatedConfigIssue[] } | { ok: false; issues: LocatedConfigIssue[] };

/**
 * Parses YAML text into a raw tree. Syntax errors come back as issues with
 * line and column; keys that differ only in case are reported too.
 *
 * @param text - the YAML text
 * @returns the tree (undefined for an empty document) or the syntax issues; never throws
 */
export function parseYamlConfig(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, strict: true, uniqueKeys: true });
  } catch (err) {
    return { ok: false, issues: [{ path: '$', message: `YAML could not be parsed: ${err instanceof Error ? err.message : String(err)}` }] };
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const at = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        const where = at === undefined ? '' : ` at line ${at.line}, column ${at.col}`;
        const firstLine = e.message.split('\n')[0] ?? e.message;
        const issue: LocatedConfigIssue = {
          path: '$',
          message: `YAML syntax error${where}: ${firstLine.replace(/ at line \d+, column \d+:?$/, '')}`,
        };
        if (at !== undefined) {
          issue.line = at.line;
          issue.column = at.col;
        }
        return issue;
      }),
    };
  }
  const issues: LocatedConfigIssue[] = [];
  const position = (node: YamlNode | null | undefined): RawPosition | undefined => {
    const offset = node?.range?.[0];
    if (offset === undefined) return undefined;
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const seen = new Set<unknown>();
  // Aliases are expanded; a budget keeps a "billion laughs" file from exhausting memory.
  let budget = 100_000;
  const convert = (node: unknown, path: string): RawNode | undefined => {
    budget -= 1;
    if (budget === 0) issues.push({ path: path === '' ? '$' : path, message: 'the document expands to too many nodes (YAML aliases?)' });
    if (budget <= 0) return undefined;
    if (isAlias(node)) {
      if (seen.has(node)) {
        issues.push({ path, message: 'recursive YAML alias' });
        return undefined;
      }
      seen.add(node);
      const target = node.resolve(doc);
      const result = convert(target, path);
      seen.delete(node);
      return result;
    }
    if (isScalar(node)) {
      const value = node.value;
      const text = typeof node.source === 'string' ? node.source : String(value);
      const scalarValue =
        typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null
          ? value
          : String(value);
      return withPos<RawScalar>({ kind: 'scalar', value: scalarValue, text }, position(node));
    }
    if (isSeq(node)) {
      const items: RawNode[] = [];
      node.items.forEach((item, index) => {
        const child = convert(item, `${path}[${index}]`);
        items.push(child ?? { kind: 'scalar', value: null, text: '' });
      });
      return withPos<RawSeq>({ kind: 'seq', items }, position(node));
    }
    if (isMap(node)) {
      const entries = new Map<string, RawEntry>();
      const merges: RawNode[] = [];
      for (const pair of node.items) {
        const keyNode = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
        const keyText = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        if (keyText === '<<') {
          const merged = convert(pair.value, path);
          if (merged !== undefined) merges.push(merged);
          continue;
        }
        const childPath = path === '' ? keyText : `${path}.${keyText}`;
        const value = convert(pair.value, childPath) ?? { kind: 'scalar', value: null, text: '' };
        const lower = keyText.toLowerCase();
        const existing = entries.get(lower);
        const keyPos = position(isScalar(keyNode) ? keyNode : undefined);
        if (existing !== undefined) {
          const issue: LocatedConfigIssue = {
            path: childPath,
            message: `key "${keyText}" repeats "${existing.key}" (keys are case-insensitive)`,
          };
          if (keyPos !== undefined) {
            issue.line = keyPos.line;
            issue.column = keyPos.column;
          }
          issues.push(issue);
          continue;
        }
        entries.set(lower, withPos<RawEntry>({ key: keyText, value }, keyPos));
      }
      for (const merged of merges) {
        const sources = merged.kind === 'seq' ? merged.items : [merged];
        for (const source of sources) {
          if (source.kind !== 'map') {
            issues.push({ path: path === '' ? '<<' : `${path}.<<`, message: 'a YAML merge key must refer to a mapping' });
            continue;
          }
          for (const [k, v] of source.entries) if (!entries.has(k)) entries.set(k, v);
        }
      }
      return withPos<RawMap>({ kind: 'map', entries }, position(node));
    }
    if (node === null || node === undefined) return undefined;
    issues.push({ path: path === '' ? '$' : path, message: 'unsupported YAML node' });
    return undefined;
  };
  const root = convert(doc.contents, '');
  return { ok: true, root, issues };
}

/**
 * Converts a plain JavaScript value (an options object, parsed JSON, CLI flags)
 * into a raw tree. Keys containing dots (`authenticator.lndhost`) become nested
 * mappings, so flags can be given in their long form.
 *
 * @param value - any value
 * @returns the tree, or undefined for `undefined`
 */
export function rawFromValue(value: unknown): RawNode | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return { kind: 'seq', items: value.map((v) => rawFromValue(v) ?? nullScalar()) };
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const map: RawMap = { kind: 'map', entries: new Map() };
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      const child = rawFromValue(v);
      if (child === undefined) continue;
      const parts = key.split('.');
      let target = map;
      for (const part of parts.slice(0, -1)) {
        const lower = part.toLowerCase();
        const existing = target.entries.get(lower);
        if (existing !== undefined && existing.value.kind === 'map') {
          target = existing.value;
          continue;
        }
        const next: RawMap = { kind: 'map', entries: new Map() };
        target.entries.set(lower, { key: part, value: next });
        target = next;
      }
      const last = parts[parts.length - 1] ?? key;
      target.entries.set(last.toLowerCase(), { key: last, value: child });
    }
    return map;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null) {
    return { kind: 'scalar', value, text: value === null ? '' : String(value) };
  }
  return { kind: 'scalar', value: String(value), text: String(value) };
}

/**
 * Overlays `top` on `base`: mappings merge key by key, anything else in `top`
 * replaces what `base` had. Neither input is modified.
 *
 * @param base - the lower-precedence tree (the file)
 * @param top - the higher-precedence tree (flags, options)
 * @returns the merged tree
 */
export function overlayRaw(base: RawNode | undefined, top: RawNode | undefined): RawNode | undefined {
  if (top === undefined) return base;
  if (base === undefined || base.kind !== 'map' || top.kind !== 'map') return top;
  const entries = new Map(base.entries);
  for (const [k, entry] of top.entries) {
    const under = entries.get(k);
    const value = overlayRaw(under?.value, entry.value) ?? entry.value;
    entries.set(k, { ...(under ?? entry), value });
  }
  return base.pos === undefined ? { kind: 'map', entries } : { kind: 'map', entries, pos: base.pos };
}

function nullScalar(): RawScalar {
  return { kind: 'scalar', value: null, text: '' };
}

function withPos<T extends { pos?: RawPosition }>(node: T, pos: RawPosition | undefined): T {
  if (pos !== undefined) node.pos = pos;
  return node;
}

/** A JSON value, as a service entry is stored and shown by the admin API. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Converts a raw tree back into plain JSON: mappings become objects (keys as
 * written), sequences arrays, scalars their values (a number too large for a
 * double keeps its digits as a string).
 *
 * @param node - the tree
 * @returns the JSON value (`null` for an absent node)
 */
export function rawToJson(node: RawNode | undefined): JsonValue {
  if (node === undefined) return null;
  if (node.kind === 'seq') return node.items.map((item) => rawToJson(item));
  if (node.kind === 'map') {
    const out: { [key: string]: JsonValue } = {};
    for (const entry of node.entries.values()) out[entry.key] = rawToJson(entry.value);
    return out;
  }
  return typeof node.value === 'bigint' ? node.text : node.value;
}

/**
 * Converts parsed JSON into a raw tree as it is: unlike {@link rawFromValue},
 * keys containing dots stay single keys (a header may be named `X-A.b`).
 *
 * @param value - a JSON value
 * @returns the tree
 */
export function rawFromJson(value: JsonValue): RawNode {
  if (Array.isArray(value)) return { kind: 'seq', items: value.map((v) => rawFromJson(v)) };
  if (value !== null && typeof value === 'object') {
    const map: RawMap = { kind: 'map', entries: new Map() };
    for (const [key, v] of Object.entries(value)) map.entries.set(key.toLowerCase(), { key, value: rawFromJson(v) });
    return map;
  }
  return { kind: 'scalar', value, text: value === null ? '' : String(value) };
}
