/**
 * Parses an `aperturecli` command line against the command tree: command
 * names, then flags and positional arguments in any order (`--name value`,
 * `--name=value`, `-X value`, `--` ends the flags). A flag the final command
 * does not take, a missing value and a value of the wrong type are usage
 * errors (exit code 2) naming the flag.
 */
import { L402Error } from '../core/errors.js';
import type { CommandSpec, FlagSpec, FlagValues, Invocation } from './cli-spec.js';

/**
 * The error for a bad command line (code `L402_ERR_CLI_USAGE`, exit code 2).
 * @param message - what is wrong, with the fix when there is one
 * @returns the error, to throw
 */
export function usageError(message: string): L402Error {
  return new L402Error('L402_ERR_CLI_USAGE', message);
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go duration (`300ms`, `1.5h`, `2h45m`, `0`).
 * @param text - the duration
 * @returns milliseconds, or undefined when it is not a duration
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNITS[m[2] ?? ''] ?? Number.NaN);
    at = re.lastIndex;
  }
  return text === '' || !Number.isFinite(total) ? undefined : total;
}

const INT64_MAX = 2n ** 63n - 1n;

function checkValue(flag: FlagSpec, value: string): void {
  const bad = (what: string): never => {
    throw usageError(`invalid argument "${value}" for "--${flag.name}" flag: ${what}`);
  };
  if (flag.type === 'int32' || flag.type === 'int64') {
    if (!/^-?\d+$/.test(value)) bad('not an integer');
    const n = BigInt(value);
    const max = flag.type === 'int32' ? 2n ** 31n - 1n : INT64_MAX;
    if (n > max || n < -max - 1n) bad(`out of range for ${flag.type}`);
  } else if (flag.type === 'duration') {
    if (parseGoDuration(value) === undefined) bad('not a duration (e.g. 500ms, 30s, 1m)');
  } else if (flag.type === 'bool') {
    if (!['true', 'false', '1', '0', 't', 'f', 'TRUE', 'FALSE', 'True', 'False'].includes(value)) bad('not a boolean');
  }
}

function commandPath(path: readonly CommandSpec[]): string {
  return ['aperturecli', ...path.map((c) => c.name)].join(' ');
}

/** Every flag of the tree by long name (for telling which flags take a value before the command is known). */
function allFlags(root: CommandSpec): Map<string, FlagSpec> {
  const out = new Map<string, FlagSpec>();
  const visit = (c: CommandSpec): void => {
    for (const f of c.flags ?? []) if (!out.has(f.name)) out.set(f.name, f);
    for (const s of c.subcommands ?? []) visit(s);
  };
  visit(root);
  return out;
}

/** A parsed command line: the commands named, and the invocation for the last. */
export interface ParsedCommandLine {
  /** The commands from the root's child down to the one to run. */
  path: CommandSpec[];
  /** Flags and arguments. */
  invocation: Invocation;
  /** Whether `--help`/`-h` was given. */
  help: boolean;
}

/**
 * Parses `argv` (after the program name) against the tree under `root`.
 * @param root - the root command (its subcommands are the top-level commands)
 * @param argv - the arguments
 * @returns the command path, invocation and whether help was asked for
 * @throws L402Error `L402_ERR_CLI_USAGE` for an unknown command or flag, or a bad value
 */
export function parseCommandLine(root: CommandSpec, argv: readonly string[]): ParsedCommandLine {
  const known = allFlags(root);
  const path: CommandSpec[] = [];
  let node = root;
  const raw: Array<{ name: string; value: string | undefined; text: string }> = [];
  const positionals: string[] = [];
  let help = false;
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? '';
    if (onlyPositionals || token === '-' || !token.startsWith('-') || /^-\d/.test(token)) {
      const sub = positionals.length === 0 ? node.subcommands?.find((s) => s.name === token) : undefined;
      if (sub !== undefined && !onlyPositionals) {
        path.push(sub);
        node = sub;
      } else {
        positionals.push(token);
      }
      continue;
    }
    if (token === '--') {
      onlyPositionals = true;
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (token.startsWith('--')) {
      const eq = token.indexOf('=');
      name = eq === -1 ? token.slice(2) : token.slice(2, eq);
      value = eq === -1 ? undefined : token.slice(eq + 1);
    } else {
      const short = token.slice(1, 2);
      const flag = [...(node.flags ?? []), ...known.values()].find((f) => f.short === short);
      if (short === 'h') name = 'help';
      else if (flag === undefined) throw usageError(`unknown shorthand flag: '${short}' in ${token}`);
      else name = flag.name;
      value = token.length > 2 ? token.slice(2).replace(/^=/, '') : undefined;
    }
    if (name === 'help') {
      help = true;
      continue;
    }
    const flag = node.flags?.find((f) => f.name === name) ?? known.get(name);
    if (flag === undefined) throw usageError(`unknown flag: --${name}`);
    if (flag.type !== 'bool' && value === undefined) {
      if (i + 1 >= argv.length) throw usageError(`flag needs an argument: --${name}`);
      value = argv[++i];
    }
    raw.push({ name, value, text: token });
  }
  if (help) return { path, help, invocation: { path: path.map((c) => c.name), flags: valuesOf([], new Map()), args: positionals } };
  if (node.run === undefined) {
    const names = (node.subcommands ?? []).map((c) => c.name).join(', ');
    if (positionals.length > 0)
      throw usageError(`unknown command "${positionals[0] ?? ''}" for "${commandPath(path)}"; commands: ${names}`);
    throw usageError(`"${commandPath(path)}" needs a subcommand: ${names}`);
  }
  const accepted = new Map((node.flags ?? []).map((f) => [f.name, f]));
  const values = new Map<string, string[]>();
  for (const { name, value } of raw) {
    const flag = accepted.get(name);
    if (flag === undefined) throw usageError(`unknown flag: --${name} (not a flag of "${commandPath(path)}")`);
    const v = value ?? 'true';
    checkValue(flag, v);
    const list = values.get(name) ?? [];
    if (flag.type !== 'stringArray' && list.length > 0) throw usageError(`flag --${name} is given twice`);
    list.push(v);
    values.set(name, list);
  }
  const args = node.args ?? [];
  const required = args.filter((a) => a.required).length;
  if (positionals.length < required || positionals.length > args.length) {
    const shape = args.map((a) => (a.required ? `<${a.name}>` : `[${a.name}]`)).join(' ');
    throw usageError(
      `"${commandPath(path)}" takes ${args.length === 0 ? 'no arguments' : shape}, got ${positionals.length === 0 ? 'none' : positionals.map((p) => `"${p}"`).join(' ')}`,
    );
  }
  return { path, help, invocation: { path: path.map((c) => c.name), flags: valuesOf(node.flags ?? [], values), args: positionals } };
}

function valuesOf(flags: readonly FlagSpec[], values: Map<string, string[]>): FlagValues {
  const spec = new Map(flags.map((f) => [f.name, f]));
  const one = (name: string): string | undefined => values.get(name)?.[0] ?? spec.get(name)?.default;
  return {
    string: one,
    bool: (name) => ['true', '1', 't', 'TRUE', 'True'].includes(one(name) ?? 'false'),
    int: (name) => {
      const v = one(name);
      return v === undefined ? undefined : Number(v);
    },
    list: (name) => values.get(name) ?? [],
    durationMs: (name) => {
      const v = one(name);
      return v === undefined ? undefined : parseGoDuration(v);
    },
    given: (name) => values.has(name),
  };
}
