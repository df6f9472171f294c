/**
 * The `admin` section of aperture.yaml: the admin API the program serves.
 */
import { join, parse } from 'node:path';
import type { ApertureConfig } from './aperture-config.js';
import type { ConfigReader, ConfigSection } from './config-reader.js';

/**
 * Where the admin root key lives, as the reference derives it: the macaroon
 * path without a `.macaroon` suffix, plus `.rootkey` (`admin.macaroon` →
 * `admin.rootkey`, `creds` → `creds.rootkey`).
 *
 * @param macaroonPath - `admin.macaroonpath`
 * @returns the root key's path
 */
export function adminRootKeyPath(macaroonPath: string): string {
  return `${macaroonPath.endsWith('.macaroon') ? macaroonPath.slice(0, -'.macaroon'.length) : macaroonPath}.rootkey`;
}

/**
 * `admin`: the admin API served by the program on its listener. A plaintext
 * (`insecure: true`) listener on an address other than loopback would carry
 * the admin macaroon in the clear: refused unless `admin.allowinsecureremote`.
 */
export function readAdmin(
  r: ConfigReader,
  top: ConfigSection,
  baseDir: string,
  listenAddr: string,
  insecure: boolean,
  path: (p: string) => string,
  abs: (p: string) => string,
): ApertureConfig['admin'] {
  const s = top.section('admin', ['enabled', 'macaroonpath', 'corsorigin', 'allowinsecureremote', 'dashboard']);
  const macaroonText = s.string('macaroonpath', join(baseDir, 'admin.macaroon'));
  const macaroonPath = abs(path(macaroonText));
  const admin = {
    enabled: s.bool('enabled', false),
    macaroonPath,
    rootKeyPath: adminRootKeyPath(macaroonPath),
    corsOrigins: readCorsOrigins(r, s),
    allowInsecureRemote: s.bool('allowinsecureremote', false),
    dashboard: s.bool('dashboard', true),
  };
  if (macaroonText.endsWith('/') || macaroonPath === parse(macaroonPath).root) {
    r.issue(
      s.path('macaroonpath'),
      `"${macaroonPath}" is a directory; name the file, e.g. ${join(macaroonPath, 'admin.macaroon')}`,
      s.node('macaroonpath'),
    );
  }
  if (admin.enabled && insecure && listenAddr !== '' && !admin.allowInsecureRemote && !isLoopbackListenAddr(listenAddr)) {
    r.issue(s.path('enabled'), insecureRemoteAdminMessage(listenAddr), s.node('enabled'));
  }
  if (!admin.enabled) {
    for (const key of ['macaroonpath', 'corsorigin', 'allowinsecureremote', 'dashboard']) {
      if (s.has(key)) r.warn(s.path(key), 'ignored', `admin.enabled is false: admin.${key} has no effect`, s.node(key));
    }
  }
  return admin;
}

/**
 * Whether a listen address only accepts connections from this machine:
 * `localhost`, 127.0.0.0/8 or `[::1]` (an empty host or `0.0.0.0` is every interface).
 * @param listenAddr - `host:port` or `[v6]:port`
 * @returns whether it is loopback only
 */
export function isLoopbackListenAddr(listenAddr: string): boolean {
  const v6 = /^\[([^\]]+)\]:\d*$/.exec(listenAddr);
  const host = (v6?.[1] ?? listenAddr.slice(0, Math.max(0, listenAddr.lastIndexOf(':')))).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return /^127(\.\d{1,3}){3}$/.test(v4);
}

/**
 * Why a plaintext admin listener on a non-loopback address is refused (the
 * same words in `--check-config` and at start).
 * @param listenAddr - the listen address
 * @returns the message, naming the code and the key that allows it
 */
export function insecureRemoteAdminMessage(listenAddr: string): string {
  return `the admin API would be served over plaintext HTTP on ${listenAddr}, which is not loopback: its macaroon would cross the network in the clear (L402_ERR_ADMIN_INSECURE_REMOTE); serve TLS (insecure: false), listen on loopback (e.g. 127.0.0.1), or set admin.allowinsecureremote: true behind a TLS-terminating proxy you trust`;
}

/** `admin.corsorigin`: `*` or origins `http(s)://host[:port]`, as browsers send them in `Origin`. */
function readCorsOrigins(r: ConfigReader, s: ConfigSection): string[] {
  const out: string[] = [];
  for (const item of s.stringList('corsorigin')) {
    const origin = item.value.trim();
    if (origin === '*') {
      out.push(origin);
      continue;
    }
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (
      url === undefined ||
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      url.origin !== origin.replace(/\/$/, '').toLowerCase() ||
      url.username !== '' ||
      url.password !== ''
    ) {
      r.issue(
        item.path,
        `"${item.value}" is not an origin: write "*" or scheme://host[:port] without a path, e.g. https://dashboard.example.com`,
        item.node,
      );
      continue;
    }
    out.push(url.origin);
  }
  return out;
}
