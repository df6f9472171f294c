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
  'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** The network-level code of an error or of one of its causes. */
function connectionCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
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
      let code = error instanceof L402Error ? error.code : network !== undefined ? 'L402_ERR_CLI_CONNECTION' : 'L402_ERR_CLI_FAILED';
      let message = error instanceof Error ? error.message : String(error);
      if (network !== undefined && !(error instanceof L402Error)) {
        code = 'L402_ERR_CLI_CONNECTION';
        message = `${message} (${network})`;
      }
      const context = clientErrorContext(error);
      const body: Record<string, unknown> = { code, message, exitCode };
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
  return `usage: aperturecli <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'aperturecli <command> --help' for a command's options.\n`;
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
