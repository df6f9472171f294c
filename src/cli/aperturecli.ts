/**
 * `aperturecli`: the client-side command line. One table of subcommands (for
 * now `fetch`); each is a {@link CliCommand} that gets its arguments and a
 * {@link CliContext} (streams, environment, exit codes, error printing), so a
 * new subcommand is one file and one line in {@link commands}.
 *
 * Exit codes (PROTOCOL §5): 0 ok, 1 general, 2 invalid arguments,
 * 3 connection, 4 auth (payment refused or failed, 401/402/403), 5 not found,
 * 10 dry run passed. Errors are one JSON line on stderr:
 * `{"error":{"code":"L402_ERR_…","message":"…","exitCode":N,…}}`.
 */
import { ConfigError, L402Error, PaymentError } from '../core/errors.js';
import { clientErrorContext } from '../client/client-error-context.js';
import { fetchCommand } from './fetch-command.js';
import { packageVersion } from './package-version.js';

/** Where a command reads and writes; `process` streams by default, captured ones in tests. */
export interface CliIo {
  /** Standard output. `isTTY` selects human or JSON output. */
  stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  /** Standard error. */
  stderr: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  /** Environment variables (`HOME`, `APERTURECLI_DIR`). */
  env: Readonly<Record<string, string | undefined>>;
}

/** The exit codes every subcommand uses. */
export const EXIT_CODES = {
  ok: 0,
  general: 1,
  usage: 2,
  connection: 3,
  auth: 4,
  notFound: 5,
  dryRun: 10,
} as const;

/** What a subcommand gets besides its arguments. */
export interface CliContext {
  /** Streams and environment. */
  io: CliIo;
  /** The exit codes. */
  exit: typeof EXIT_CODES;
  /**
   * Prints an error as one JSON line on stderr and returns its exit code.
   * @param error - any thrown value
   * @param extra - more fields for the error object (e.g. `status`)
   */
  fail(error: unknown, extra?: Record<string, unknown>): number;
  /**
   * Creates the error for a bad command line (exit code 2); throw it.
   * @param message - what is wrong
   */
  usageError(message: string): L402Error;
  /**
   * Writes one JSON value as a line.
   * @param stream - `stdout` or `stderr`
   * @param value - the value; bigints become strings
   */
  json(stream: 'stdout' | 'stderr', value: unknown): void;
}

/** One subcommand. */
export interface CliCommand {
  /** Name on the command line. */
  name: string;
  /** One line for `aperturecli --help`. */
  summary: string;
  /** Full usage text for `aperturecli <name> --help`. */
  usage: string;
  /**
   * Runs the command.
   * @param args - the arguments after the subcommand name
   * @param context - streams, exit codes, helpers
   * @returns the exit code
   */
  run(args: readonly string[], context: CliContext): Promise<number>;
}

/** The subcommands, by name. Add new ones here. */
export const commands: Readonly<Record<string, CliCommand>> = {
  [fetchCommand.name]: fetchCommand,
};

/**
 * The error for a bad command line (code `L402_ERR_CLI_USAGE`, exit code 2).
 * @param message - what is wrong, with the fix when there is one
 * @returns the error, to throw
 */
export function usageError(message: string): L402Error {
  return new L402Error('L402_ERR_CLI_USAGE', message);
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** The errors under `error`: its `cause` chain and, for an `AggregateError`, its first error. */
function causesOf(error: unknown): object[] {
  const out: object[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    out.push(current);
    const errors = (current as { errors?: unknown }).errors;
    current = (current as { cause?: unknown }).cause ?? (Array.isArray(errors) ? errors[0] : undefined);
  }
  return out;
}

/** The network-level code of an error or of one of its causes. */
function connectionCode(error: unknown): string | undefined {
  for (const e of causesOf(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return code;
  }
  return undefined;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/**
 * What went wrong on the network, in words, from the innermost error that
 * says: who refused the connection, which name did not resolve, which
 * certificate was not trusted (with the flag that accepts it).
 * @param error - any thrown value
 * @returns the reason and, for certificate errors, a hint; undefined when no network error is in the chain
 */
function networkFailure(error: unknown): { reason: string; hint?: string } | undefined {
  for (const e of causesOf(error)) {
    const { code, address, port, hostname } = e as { code?: unknown; address?: unknown; port?: unknown; hostname?: unknown };
    if (typeof code !== 'string' || !CONNECTION_CODES.has(code)) continue;
    const where = typeof address === 'string' ? (typeof port === 'number' ? `${address.includes(':') ? `[${address}]` : address}:${port}` : address) : 'the server';
    if (code === 'ECONNREFUSED') return { reason: `connection refused by ${where}: nothing listens there` };
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { reason: `no such host${typeof hostname === 'string' ? ` ${hostname}` : ''} (${code})` };
    if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return { reason: `no connection to ${where} in time (${code})` };
    if (TLS_CODES.has(code)) {
      return {
        reason: `the server's TLS certificate is not trusted (${code})`,
        hint: 'pass --insecure (-k) to accept a self-signed certificate, such as the one aperture creates',
      };
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return { reason: `TLS handshake failed (${code})`, hint: 'is the server plain HTTP? then use an http:// URL' };
    return { reason: code };
  }
  return undefined;
}

/**
 * An error's message followed by those of its causes that it does not already
 * contain (`fetch failed` alone says nothing; `fetch failed: bad port` does).
 */
function messageWithCauses(error: unknown): string {
  let text = error instanceof Error ? error.message : String(error);
  for (const e of causesOf(error).slice(1)) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && m !== '' && !text.includes(m)) text += `: ${m}`;
  }
  return text;
}

/**
 * The exit code for an error.
 * @param error - any thrown value
 * @returns 2 for usage and configuration errors, 3 for connection failures,
 *   4 for payment errors (refused, failed, over budget), 1 otherwise
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError || (error instanceof L402Error && error.code === 'L402_ERR_CLI_USAGE')) return EXIT_CODES.usage;
  if (error instanceof L402Error && error.code === 'L402_ERR_CLI_CONNECTION') return EXIT_CODES.connection;
  if (error instanceof PaymentError && error.code === 'L402_ERR_PAY_UNAVAILABLE') return EXIT_CODES.connection;
  if (error instanceof L402Error && (error instanceof PaymentError || error.code.startsWith('L402_ERR_CLIENT_'))) return EXIT_CODES.auth;
  if (connectionCode(error) !== undefined) return EXIT_CODES.connection;
  return EXIT_CODES.general;
}

function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function makeContext(io: CliIo): CliContext {
  const json = (stream: 'stdout' | 'stderr', value: unknown): void => {
    io[stream].write(`${jsonText(value)}\n`);
  };
  return {
    io,
    exit: EXIT_CODES,
    json,
    usageError,
    fail(error: unknown, extra: Record<string, unknown> = {}): number {
      const exitCode = exitCodeFor(error);
      const network = connectionCode(error);
      const code = error instanceof L402Error ? error.code : network !== undefined ? 'L402_ERR_CLI_CONNECTION' : 'L402_ERR_CLI_FAILED';
      let message = messageWithCauses(error);
      const failure = networkFailure(error);
      if (failure !== undefined && !message.includes(failure.reason)) message += `; ${failure.reason}`;
      const context = clientErrorContext(error);
      const body: Record<string, unknown> = { code, message, exitCode };
      if (failure?.hint !== undefined) body['hint'] = failure.hint;
      if (context !== undefined) {
        body['url'] = context.url;
        if (context.responseStatus !== undefined) body['status'] = context.responseStatus;
      }
      if (error instanceof ConfigError) body['issues'] = error.issues;
      json('stderr', { error: { ...body, ...extra } });
      return exitCode;
    },
  };
}

function topUsage(): string {
  const lines = Object.values(commands).map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return `usage: aperturecli <command> [options]\n       aperturecli --version\n\ncommands:\n${lines.join('\n')}\n\nRun 'aperturecli <command> --help' for a command's options.\n`;
}

/** The process's own streams and environment. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/**
 * Runs `aperturecli` with the given arguments.
 * @param argv - arguments after the program name, e.g. `['fetch', 'https://…']`
 * @param io - streams and environment; the process's by default
 * @returns the exit code (the caller sets `process.exitCode`)
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2));
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const context = makeContext(io);
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io[name === undefined ? 'stderr' : 'stdout'].write(topUsage());
    return name === undefined ? EXIT_CODES.usage : EXIT_CODES.ok;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`aperturecli ${packageVersion()} (aperture-ts)\n`);
    return EXIT_CODES.ok;
  }
  // Own keys only: `aperturecli constructor` must not find what every object inherits.
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    return context.fail(usageError(`unknown command '${name}'; commands: ${Object.keys(commands).join(', ')}`));
  }
  try {
    return await command.run(rest, context);
  } catch (error) {
    return context.fail(error);
  }
}
