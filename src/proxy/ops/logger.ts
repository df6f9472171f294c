/**
 * Structured logs (pino). Credentials never reach a log line: the proxy logs
 * token IDs and payment hashes, never macaroons, preimages or Authorization
 * headers, and the redaction below is a second line of defence for objects
 * logged whole.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

/** The reference's `debuglevel` values. */
export type DebugLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical' | 'off';

const LEVELS: Record<DebugLevel, pino.LevelWithSilent> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
  off: 'silent',
};

/** Keys whose values are secrets wherever they appear in a logged object. */
export const REDACTED_PATHS = [
  'authorization',
  'macaroon',
  'preimage',
  'signature',
  'password',
  'headers.authorization',
  'headers.macaroon',
  'headers["grpc-metadata-macaroon"]',
  'req.headers.authorization',
  'req.headers.macaroon',
  'req.headers["grpc-metadata-macaroon"]',
  '*.authorization',
  '*.macaroon',
  '*.preimage',
  '*.signature',
  '*.password',
];

/**
 * Creates the proxy's logger.
 * @param level - the reference's `debuglevel` (default `info`)
 * @param destination - where to write; standard output by default
 * @returns a pino logger that redacts credentials
 */
export function createLogger(level: DebugLevel = 'info', destination?: DestinationStream): Logger {
  const options = {
    level: LEVELS[level],
    base: { name: 'aperture' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
