/**
 * Resolution of the values under a service's `headers`, at load time, the way
 * the Go aperture does it: first `${NAME}` is replaced from the environment,
 * then a value of the form `!file+hex:PATH` or `!file+base64:PATH` is replaced
 * by the file's bytes in that encoding (a macaroon, typically).
 */
import { resolve } from 'node:path';

/** How {@link resolveHeaderValue} reads the environment and files (injectable for tests). */
export interface HeaderResolveContext {
  env: Readonly<Record<string, string | undefined>>;
  /** Reads a whole file; throws when it cannot. */
  readFile: (path: string) => Uint8Array;
  /** Directory relative paths are resolved against (the process's, as in Go). */
  cwd: string;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Resolves one header value.
 *
 * @param value - the value as written
 * @param context - environment, file reader and working directory
 * @returns the resolved value, or why it cannot be resolved; never throws
 */
export function resolveHeaderValue(
  value: string,
  context: HeaderResolveContext,
): { ok: true; value: string } | { ok: false; reason: string } {
  const missing: string[] = [];
  const expanded = value.replace(ENV_REF, (_ref, name: string) => {
    const envValue = context.env[name];
    if (envValue === undefined || envValue === '') missing.push(name);
    return envValue ?? '';
  });
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `environment variable${missing.length > 1 ? 's' : ''} ${missing.map((m) => `\${${m}}`).join(', ')} not set (or empty)`,
    };
  }
  if (!expanded.startsWith('!file')) return checkHeaderText(expanded);
  const parts = expanded.split(':');
  if (parts.length !== 2) return { ok: false, reason: 'a file reference must be "!file+hex:PATH" or "!file+base64:PATH" (one colon)' };
  const [prefix = '', fileName = ''] = parts;
  if (prefix !== '!file+hex' && prefix !== '!file+base64') {
    return { ok: false, reason: `unsupported file prefix "${prefix}" (use !file+hex or !file+base64)` };
  }
  if (fileName === '') return { ok: false, reason: `${prefix}: needs a file path` };
  let bytes: Uint8Array;
  try {
    bytes = context.readFile(resolve(context.cwd, fileName));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      ok: false,
      reason: code === 'ENOENT' ? `file "${fileName}" does not exist` : `file "${fileName}" cannot be read (${String(code ?? err)})`,
    };
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { ok: true, value: prefix === '!file+hex' ? buffer.toString('hex') : buffer.toString('base64') };
}

function checkHeaderText(value: string): { ok: true; value: string } | { ok: false; reason: string } {
  // CR, LF and NUL would split or corrupt the upstream request.
  if (/[\r\n\0]/.test(value)) return { ok: false, reason: 'header values may not contain line breaks or NUL' };
  return { ok: true, value };
}
