/**
 * Errors of `aperturecli` as the reference's CLI reports them: an exit code
 * and a machine-readable kind (`invalid_args`, `connection_error`,
 * `auth_failure`, `not_found`, `rpc_error`, `general_error`), written as one
 * JSON line on stderr when stdout is not a terminal:
 * `{"error":true,"code":"<kind>","message":"…","exit_code":N}`, plus our own
 * `l402_code` (the {@link L402Error} code) and, where there is one, a `hint`.
 */
import { clientErrorContext } from '../client/client-error-context.js';
import { ConfigError, L402Error, PaymentError } from '../core/errors.js';
import { EXIT_CODES } from './cli-spec.js';

/** The error kinds, by exit code (the reference's names). */
export const ERROR_KINDS: Readonly<Record<number, string>> = {
  1: 'general_error',
  2: 'invalid_args',
  3: 'connection_error',
  4: 'auth_failure',
  5: 'not_found',
};

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
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

/**
 * What went wrong on the network, in words, from the innermost error that
 * says: who refused the connection, which name did not resolve, which
 * certificate was not trusted (with the flag that accepts it).
 */
function networkFailure(error: unknown): { reason: string; hint?: string } | undefined {
  for (const e of causesOf(error)) {
    const { code, address, port, hostname } = e as { code?: unknown; address?: unknown; port?: unknown; hostname?: unknown };
    if (typeof code !== 'string' || !CONNECTION_CODES.has(code)) continue;
    const where =
      typeof address === 'string'
        ? typeof port === 'number'
          ? `${address.includes(':') ? `[${address}]` : address}:${port}`
          : address
        : 'the server';
    if (code === 'ECONNREFUSED') return { reason: `connection refused by ${where}: nothing listens there` };
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return { reason: `no such host${typeof hostname === 'string' ? ` ${hostname}` : ''} (${code})` };
    if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return { reason: `no connection to ${where} in time (${code})` };
    if (TLS_CODES.has(code)) {
      return {
        reason: `the server's TLS certificate is not trusted (${code})`,
        hint: 'pass --insecure (-k) to accept a self-signed certificate, such as the one aperture creates',
      };
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER')
      return { reason: `TLS handshake failed (${code})`, hint: 'is the server plain HTTP? then use an http:// URL' };
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
  // That message names the packages and the install command; the loader's "Cannot find module" adds nothing.
  if (error instanceof L402Error && error.code === 'L402_ERR_DEPENDENCY_MISSING') return text;
  for (const e of causesOf(error).slice(1)) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && m !== '' && !text.includes(m)) text += `: ${m}`;
  }
  return text;
}

/** Kinds that are not the exit code's (a gRPC status without a meaning of its own). */
const KIND_BY_CODE: Readonly<Record<string, string>> = {
  L402_ERR_CLI_RPC: 'rpc_error',
  L402_ERR_CLI_UNSUPPORTED: 'unsupported_by_server',
};

/** `L402Error` codes of `aperturecli` and the exit code each means. */
const CLI_EXIT: Readonly<Record<string, number>> = {
  L402_ERR_CLI_USAGE: EXIT_CODES.usage,
  L402_ERR_CLI_CONNECTION: EXIT_CODES.connection,
  L402_ERR_CLI_AUTH: EXIT_CODES.auth,
  L402_ERR_CLI_NOT_FOUND: EXIT_CODES.notFound,
};

/**
 * The exit code for an error.
 * @param error - any thrown value
 * @returns 2 for usage and configuration errors, 3 for connection failures,
 *   4 for authentication and payment errors, 5 for not found, 1 otherwise
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError) return EXIT_CODES.usage;
  if (error instanceof L402Error) {
    const mapped = CLI_EXIT[error.code];
    if (mapped !== undefined) return mapped;
    if (error instanceof PaymentError && error.code === 'L402_ERR_PAY_UNAVAILABLE') return EXIT_CODES.connection;
    if (error instanceof PaymentError || error.code.startsWith('L402_ERR_CLIENT_')) return EXIT_CODES.auth;
  }
  if (connectionCode(error) !== undefined) return EXIT_CODES.connection;
  return EXIT_CODES.general;
}

/** The JSON error object of the reference, with our extra fields. */
export interface ErrorPayload {
  /** Always true. */
  error: true;
  /** The kind: `invalid_args`, `connection_error`, `auth_failure`, `not_found`, `rpc_error`, `general_error`. */
  code: string;
  /** What went wrong. */
  message: string;
  /** The process's exit code. */
  exit_code: number;
  /** Our error code (`L402_ERR_…`), docs/errors.md. */
  l402_code: string;
  /** What to change, when there is an obvious fix. */
  hint?: string;
  /** More fields (fetch: `url`, `status`, `summary`; config errors: `issues`). */
  [key: string]: unknown;
}

/**
 * The error object for any thrown value.
 * @param error - what was thrown
 * @returns the payload (its `exit_code` is the process's exit code)
 */
export function errorPayload(error: unknown): ErrorPayload {
  const exitCode = exitCodeFor(error);
  const network = connectionCode(error);
  const l402Code = error instanceof L402Error ? error.code : network !== undefined ? 'L402_ERR_CLI_CONNECTION' : 'L402_ERR_CLI_FAILED';
  let message = messageWithCauses(error);
  const failure = networkFailure(error);
  if (failure !== undefined && !message.includes(failure.reason)) message += `; ${failure.reason}`;
  const body: ErrorPayload = {
    error: true,
    code: KIND_BY_CODE[l402Code] ?? ERROR_KINDS[exitCode] ?? 'general_error',
    message,
    exit_code: exitCode,
    l402_code: l402Code,
  };
  if (failure?.hint !== undefined) body.hint = failure.hint;
  const context = clientErrorContext(error);
  if (context !== undefined) {
    body['url'] = context.url;
    if (context.responseStatus !== undefined) body['status'] = context.responseStatus;
  }
  if (error instanceof ConfigError) body['issues'] = error.issues;
  return body;
}
