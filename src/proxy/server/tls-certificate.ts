/**
 * The listener's TLS certificate: `tls.cert` / `tls.key` in the base
 * directory, created self-signed on first start when absent.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { L402Error } from '../../core/errors.js';

/** A certificate and key in PEM form, and where they live. */
export interface TlsCertificate {
  /** Certificate chain, PEM. */
  cert: string;
  /** Private key, PEM. */
  key: string;
  /** Path of the certificate file. */
  certPath: string;
  /** Path of the key file. */
  keyPath: string;
  /** Whether this call created them. */
  created: boolean;
}

/** Options of {@link ensureTlsCertificate}. */
export interface EnsureTlsCertificateOptions {
  /** Extra DNS name for the certificate (`servername`). */
  serverName?: string;
  /** Validity of a created certificate in days; 365 by default. */
  validDays?: number;
}

/**
 * Reads `tls.cert` and `tls.key` from `baseDir`, or creates a self-signed
 * pair there (EC P-256, SHA-256, names localhost, the host name, 127.0.0.1,
 * ::1 and `serverName`). The key file is written with mode 0600.
 *
 * @param baseDir - the base directory (created when missing)
 * @param options - extra name, validity
 * @returns the PEMs and their paths
 * @throws L402Error `L402_ERR_PROXY_TLS_CERT` when only one of the two files exists or they cannot be read or written
 */
export async function ensureTlsCertificate(baseDir: string, options: EnsureTlsCertificateOptions = {}): Promise<TlsCertificate> {
  const certPath = join(baseDir, 'tls.cert');
  const keyPath = join(baseDir, 'tls.key');
  const haveCert = existsSync(certPath);
  const haveKey = existsSync(keyPath);
  if (haveCert !== haveKey) {
    throw new L402Error(
      'L402_ERR_PROXY_TLS_CERT',
      `found ${haveCert ? certPath : keyPath} without ${haveCert ? keyPath : certPath}; remove it to have a new pair created`,
    );
  }
  try {
    if (haveCert) {
      return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), certPath, keyPath, created: false };
    }
    const names = new Set(['localhost', hostname()]);
    if (options.serverName !== undefined && options.serverName !== '') names.add(options.serverName);
    const notBeforeDate = new Date(Date.now() - 60_000);
    const pems = await generate([{ name: 'commonName', value: options.serverName || 'aperture' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate: new Date(notBeforeDate.getTime() + (options.validDays ?? 365) * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [...[...names].map((value) => ({ type: 2 as const, value })), { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }],
        },
      ],
    });
    mkdirSync(baseDir, { recursive: true, mode: 0o700 });
    writeFileSync(keyPath, pems.private, { mode: 0o600, flag: 'wx' });
    // The mode of writeFileSync is masked by the umask; make sure of 0600.
    chmodSync(keyPath, 0o600);
    writeFileSync(certPath, pems.cert, { mode: 0o644, flag: 'wx' });
    return { cert: pems.cert, key: pems.private, certPath, keyPath, created: true };
  } catch (cause) {
    if (cause instanceof L402Error) throw cause;
    throw new L402Error('L402_ERR_PROXY_TLS_CERT', `cannot read or create ${certPath} and ${keyPath}: ${String(cause)}`, { cause });
  }
}
