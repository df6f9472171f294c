/**
 * What a command gets besides its flags: the streams, the output mode
 * (tables and sentences on a terminal, JSON when piped or with `--json`), JSON
 * and table writers, and error reporting in the reference's shape.
 */
import { ERROR_KINDS, errorPayload, type ErrorPayload } from './cli-errors.js';
import { EXIT_CODES } from './cli-spec.js';

/** Where a command reads and writes; `process` streams by default, captured ones in tests. */
export interface CliIo {
  /** Standard output. `isTTY` selects human or JSON output. */
  stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  /** Standard error. */
  stderr: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  /** Environment variables (`HOME`, `APERTURECLI_DIR`). */
  env: Readonly<Record<string, string | undefined>>;
}

/** What a command gets besides its arguments. */
export interface CliContext {
  /** Streams and environment. */
  io: CliIo;
  /** The exit codes. */
  exit: typeof EXIT_CODES;
  /** Whether output is JSON (`--json`, or stdout not a terminal, unless `--human`). */
  jsonOutput: boolean;
  /**
   * Reports an error on stderr (one JSON line when stdout is not a terminal,
   * `Error: …` on one) and returns its exit code.
   * @param error - any thrown value
   * @param override - another exit code and more fields for the JSON object
   */
  fail(error: unknown, override?: { exitCode?: number; fields?: Record<string, unknown> }): number;
  /**
   * Writes one JSON value, indented (stdout) or as one line (stderr).
   * @param stream - `stdout` or `stderr`
   * @param value - the value; bigints become strings
   */
  json(stream: 'stdout' | 'stderr', value: unknown): void;
  /**
   * Writes rows as aligned columns (two spaces apart) on stdout.
   * @param rows - the header row first
   */
  table(rows: ReadonlyArray<ReadonlyArray<string | number | boolean>>): void;
  /**
   * Writes a line on stdout.
   * @param text - the line, without its newline
   */
  line(text: string): void;
  /**
   * Writes a warning on stderr (`aperturecli: warning: …`).
   * @param text - the warning
   */
  warn(text: string): void;
}

/**
 * JSON text; bigints as decimal strings.
 * @param value - the value
 * @param indent - indentation (none for one line)
 * @returns the text
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), indent);
}

/**
 * A context on `io`.
 * @param io - streams and environment
 * @param output - `json`, `human`, or undefined for the default (JSON unless stdout is a terminal)
 * @returns the context
 */
export function makeContext(io: CliIo, output?: 'json' | 'human'): CliContext {
  const jsonOutput = output === 'json' || (output === undefined && io.stdout.isTTY !== true);
  const json = (stream: 'stdout' | 'stderr', value: unknown): void => {
    io[stream].write(`${jsonText(value, stream === 'stdout' ? 2 : undefined)}\n`);
  };
  return {
    io,
    exit: EXIT_CODES,
    jsonOutput,
    json,
    fail(error, override = {}) {
      const payload: ErrorPayload = { ...errorPayload(error), ...override.fields };
      if (override.exitCode !== undefined && override.exitCode !== payload.exit_code) {
        payload.exit_code = override.exitCode;
        payload.code = ERROR_KINDS[override.exitCode] ?? payload.code;
      }
      // The reference writes JSON when stdout is not a terminal; --json asks for it on one too.
      if (jsonOutput) json('stderr', payload);
      else io.stderr.write(`Error: ${payload.message}${payload.hint === undefined ? '' : ` (${payload.hint})`}\n`);
      return payload.exit_code;
    },
    table(rows) {
      const widths: number[] = [];
      for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)));
      for (const row of rows) {
        io.stdout.write(
          `${row.map((cell, i) => (i === row.length - 1 ? String(cell) : String(cell).padEnd((widths[i] ?? 0) + 2))).join('')}\n`,
        );
      }
    },
    line(text) {
      io.stdout.write(`${text}\n`);
    },
    warn(text) {
      io.stderr.write(`aperturecli: warning: ${text}\n`);
    },
  };
}
