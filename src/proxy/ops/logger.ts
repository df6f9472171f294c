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
  '*.passphrase',
];

/**
 * The parts of `aperture` that log, by the reference's subsystem names (a
 * `subsystem` field on each line): `APER` the program (start-up, store,
 * garbage collection, TLS certificate, shutdown), `PRXY` requests (the access
 * log, upstream and rate-limit store errors, blocked clients), `AUTH` tokens
 * and challenges (minting, pricing and verification errors, revocations),
 * `CHLL` the Lightning backend (connection, settlements), `ADMN` the admin
 * API (calls, refusals, services applied live).
 */
export type LogSubsystem = 'APER' | 'PRXY' | 'AUTH' | 'CHLL' | 'ADMN';

/** Every {@link LogSubsystem}. */
export const LOG_SUBSYSTEMS: readonly LogSubsystem[] = ['APER', 'PRXY', 'AUTH', 'CHLL', 'ADMN'];

/** How {@link createLogger} filters and formats, from `debuglevel` and `logging.console`. */
export interface LogSettings {
  /** Level of every subsystem without its own (`debuglevel`'s global part); default `info`. */
  level?: DebugLevel;
  /** Levels of single subsystems (`debuglevel: info,PRXY=debug`). */
  subsystems?: Partial<Record<LogSubsystem, DebugLevel>>;
  /** The console's own threshold (`logging.console.level`): a line must pass it and its subsystem's level. */
  consoleLevel?: DebugLevel;
  /** No output at all (`logging.console.disable`; there is no log file here). */
  disable?: boolean;
  /** Lines without the `time` field (`logging.console.notimestamps`). */
  noTimestamps?: boolean;
}

const RANK: Record<DebugLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, critical: 5, off: 6 };

/** The level a subsystem (or, with `undefined`, the logger itself) writes at. */
function effectiveLevel(settings: LogSettings, subsystem: LogSubsystem | undefined): DebugLevel {
  if (settings.disable === true) return 'off';
  const own = (subsystem === undefined ? undefined : settings.subsystems?.[subsystem]) ?? settings.level ?? 'info';
  const console = settings.consoleLevel ?? 'trace';
  return RANK[own] >= RANK[console] ? own : console;
}

// Settings of the loggers createLogger made, so that subsystemLogger can give each its level.
const settingsOf = new WeakMap<Logger, LogSettings>();

/**
 * Creates the proxy's logger.
 * @param settings - the reference's `debuglevel` global level (default `info`), or {@link LogSettings}
 * @param destination - where to write; standard output by default
 * @returns a pino logger that redacts credentials
 */
export function createLogger(settings: DebugLevel | LogSettings = 'info', destination?: DestinationStream): Logger {
  const s: LogSettings = typeof settings === 'string' ? { level: settings } : settings;
  // The logger itself writes at the global level; each subsystem's child has its own (pino lets a
  // child be more verbose than its parent).
  const options: pino.LoggerOptions = {
    level: LEVELS[effectiveLevel(s, undefined)],
    base: { name: 'aperture' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(s.noTimestamps === true ? { timestamp: false } : {}),
  };
  const logger = destination === undefined ? pino(options) : pino(options, destination);
  settingsOf.set(logger, s);
  return logger;
}

/**
 * The logger of one subsystem: lines carry `subsystem`, and, for a logger
 * made by {@link createLogger}, the subsystem's own level applies (another
 * pino logger's level is inherited as is).
 * @param logger - the program's logger
 * @param subsystem - which part logs
 * @returns a child logger
 */
export function subsystemLogger(logger: Logger, subsystem: LogSubsystem): Logger {
  const settings = settingsOf.get(logger);
  return settings === undefined
    ? logger.child({ subsystem })
    : logger.child({ subsystem }, { level: LEVELS[effectiveLevel(settings, subsystem)] });
}
