/**
 * The command tree of `aperturecli` as data: every command with its flags
 * (name, type, default, description) and positional arguments. The parser,
 * the help texts and `aperturecli schema` all read this one description, so
 * what `schema` says is what the parser accepts.
 */
import type { CliContext } from './cli-context.js';

/** The type of a flag's value. */
export type FlagType = 'string' | 'bool' | 'int32' | 'int64' | 'duration' | 'stringArray';

/** One flag. */
export interface FlagSpec {
  /** Long name, without `--`. */
  name: string;
  /** One-letter shorthand, without `-`. */
  short?: string;
  /** Value type. */
  type: FlagType;
  /** Default as text (what `schema` shows); absent when there is none. */
  default?: string;
  /** One line. */
  description: string;
}

/** One positional argument. */
export interface ArgSpec {
  /** Name. */
  name: string;
  /** Whether it must be given. */
  required: boolean;
  /** One line. */
  description: string;
}

/** The flag values of one invocation, by long name, after defaults. */
export interface FlagValues {
  /** The value of a string-like flag (string, int64 as decimal text, duration as given). */
  string(name: string): string | undefined;
  /** The value of a bool flag (false when absent). */
  bool(name: string): boolean;
  /** The value of an int32 flag. */
  int(name: string): number | undefined;
  /** Every value of a repeatable flag. */
  list(name: string): string[];
  /** A duration flag in milliseconds. */
  durationMs(name: string): number | undefined;
  /** Whether the flag was given on the command line (not only defaulted). */
  given(name: string): boolean;
}

/** A parsed command line, handed to a command. */
export interface Invocation {
  /** Path of command names, e.g. `['services', 'create']`. */
  path: readonly string[];
  /** Flag values. */
  flags: FlagValues;
  /** Positional arguments. */
  args: readonly string[];
}

/** One command of the tree: a group (with subcommands) or a leaf (with `run`). */
export interface CommandSpec {
  /** Name on the command line. */
  name: string;
  /** One line for lists. */
  summary: string;
  /** Longer description for help and `schema`. */
  description?: string;
  /** Positional arguments. */
  args?: readonly ArgSpec[];
  /** Flags it accepts (the shared ones it uses included). */
  flags?: readonly FlagSpec[];
  /** Subcommands (a group). */
  subcommands?: readonly CommandSpec[];
  /** Whether it changes something on the server (`--dry-run` stops it before the call). */
  mutating?: boolean;
  /**
   * Runs the command.
   * @param invocation - flags and arguments
   * @param context - streams, output, errors
   * @returns the exit code
   */
  run?(invocation: Invocation, context: CliContext): Promise<number>;
}

/** Output flags every command that prints accepts. */
export const OUTPUT_FLAGS: readonly FlagSpec[] = [
  { name: 'json', type: 'bool', default: 'false', description: 'Force JSON output' },
  { name: 'human', type: 'bool', default: 'false', description: 'Force human-readable output' },
];

/** `--dry-run`, for commands that change something. */
export const DRY_RUN_FLAG: FlagSpec = {
  name: 'dry-run',
  type: 'bool',
  default: 'false',
  description: 'Print the request that would be sent and exit 10 without sending it',
};

/** The connection flags of every command that calls the admin API. */
export const CONNECTION_FLAGS: readonly FlagSpec[] = [
  { name: 'host', type: 'string', default: 'localhost:8081', description: 'Aperture admin gRPC host:port' },
  { name: 'macaroon', type: 'string', default: '~/.aperture/admin.macaroon', description: 'Path to admin macaroon file' },
  { name: 'tls-cert', type: 'string', description: 'Path to TLS certificate for server verification (default: the system CAs)' },
  { name: 'insecure', type: 'bool', default: 'false', description: 'Plaintext gRPC (h2c), no TLS; the macaroon travels unencrypted' },
  { name: 'timeout', type: 'duration', default: '30s', description: 'RPC call timeout (Go duration: 500ms, 30s, 1m)' },
];

/** Flags of a read-only admin command. */
export const READ_FLAGS: readonly FlagSpec[] = [...CONNECTION_FLAGS, ...OUTPUT_FLAGS];

/** Flags of a mutating admin command. */
export const WRITE_FLAGS: readonly FlagSpec[] = [...CONNECTION_FLAGS, ...OUTPUT_FLAGS, DRY_RUN_FLAG];

/** The exit codes and what each means (the reference's). */
export const EXIT_CODES = {
  ok: 0,
  general: 1,
  usage: 2,
  connection: 3,
  auth: 4,
  notFound: 5,
  dryRun: 10,
} as const;

/** What each exit code means, for `schema` and help. */
export const EXIT_CODE_DOCS: Readonly<Record<number, string>> = {
  0: 'success',
  1: 'general error',
  2: 'invalid arguments',
  3: 'connection failure (refused, unavailable, deadline exceeded, TLS)',
  4: 'authentication failure (unauthenticated, permission denied, unreadable macaroon; for fetch: payment refused or failed, 401/402/403)',
  5: 'resource not found',
  10: 'dry run passed (nothing sent)',
};
