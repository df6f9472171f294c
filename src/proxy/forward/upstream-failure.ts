/**
 * Maps a failure to reach or read a backend onto a coded {@link UpstreamError}:
 * unreachable or refused → 502, too slow → 504, certificate rejected → 502.
 */
import { UpstreamError } from '../../core/errors.js';

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
  'L402_ERR_UPSTREAM_TIMEOUT',
]);

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_STREAM_CANCEL',
  'ERR_HTTP2_INVALID_SESSION',
  'ERR_HTTP2_ERROR',
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isTlsFailure(code: string): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_TLS_|^ERR_SSL_|^EPROTO$/.test(code);
}

/**
 * Classifies a backend failure.
 *
 * @param error - what undici, node:http2 or node:net reported
 * @param service - the service name, for the message
 * @returns `L402_ERR_UPSTREAM_TIMEOUT` (504), `L402_ERR_UPSTREAM_TLS` (502),
 *   `L402_ERR_UPSTREAM_UNREACHABLE` (502) or `L402_ERR_UPSTREAM_FAILED` (502)
 */
export function classifyUpstreamError(error: unknown, service: string): UpstreamError {
  if (error instanceof UpstreamError) return error;
  let code = codeOf(error);
  const cause = (error as { cause?: unknown } | null)?.cause;
  if ((code === undefined || code === 'UND_ERR_SOCKET') && codeOf(cause) !== undefined) code = codeOf(cause);
  const detail = error instanceof Error ? error.message : String(error);
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new UpstreamError('L402_ERR_UPSTREAM_TIMEOUT', `service ${service}: upstream timed out (${detail})`, {
      status: 504,
      cause: error,
    });
  }
  if (code !== undefined && isTlsFailure(code)) {
    return new UpstreamError('L402_ERR_UPSTREAM_TLS', `service ${service}: upstream TLS failed (${code}: ${detail})`, {
      cause: error,
    });
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new UpstreamError('L402_ERR_UPSTREAM_UNREACHABLE', `service ${service}: upstream unreachable (${detail})`, {
      cause: error,
    });
  }
  return new UpstreamError('L402_ERR_UPSTREAM_FAILED', `service ${service}: upstream failed (${detail})`, { cause: error });
}

/** The gRPC status for an upstream failure: 4 DEADLINE_EXCEEDED for timeouts, else 14 UNAVAILABLE. */
export function grpcCodeForUpstream(error: UpstreamError): number {
  return error.code === 'L402_ERR_UPSTREAM_TIMEOUT' ? 4 : 14;
}
