/**
 * The `authenticator` keys of the Lightning backends reached over HTTP (Core
 * Lightning's clnrest, LNbits, phoenixd): one URL, one credential (written in
 * the file as a value with `${ENV}` references, or as a file), one optional CA
 * certificate per backend. Kept apart from the rest of the section.
 */
import { inspect } from 'node:util';
import { parseNwcUri } from '../../lightning/nwc/nwc-uri.js';
import type { ConfigReader, ConfigSection } from './config-reader.js';

/** A remote backend configured by the keys read here: Core Lightning (clnrest), LNbits, phoenixd, Nostr Wallet Connect. */
export type HttpLightningBackend = 'cln' | 'lnbits' | 'phoenixd' | 'nwc';

/**
 * The remote backends, by the `backend:` value that selects them (`nwc` has no URL: its relay is in its URI).
 * @internal
 */
export const HTTP_LIGHTNING_BACKENDS: readonly HttpLightningBackend[] = ['cln', 'lnbits', 'phoenixd', 'nwc'];

/** A credential's two keys: the value (`${ENV}` allowed) or a file holding it. */
interface SecretKeys {
  secret: string;
  secretFile: string;
  /** How the credential is called in messages. */
  what: string;
}

/**
 * Each backend's keys: URL, credential value, credential file, CA certificate, how the credential is
 * called, and the credential that pays MPP session refunds (none for LNbits, whose API cannot pay them).
 */
const KEYS: Record<HttpLightningBackend, SecretKeys & { url?: string; ca?: string; example: string; pay?: SecretKeys }> = {
  cln: {
    url: 'clnresturl',
    secret: 'clnrune',
    secretFile: 'clnrunefile',
    ca: 'clncacertpath',
    what: 'rune',
    example: 'https://127.0.0.1:3010',
    pay: { secret: 'clnpayrune', secretFile: 'clnpayrunefile', what: 'rune allowed to pay (pay or xpay, and listpays)' },
  },
  lnbits: {
    url: 'lnbitsurl',
    secret: 'lnbitsinvoicekey',
    secretFile: 'lnbitsinvoicekeyfile',
    ca: 'lnbitscacertpath',
    what: 'invoice key',
    example: 'https://lnbits.example.com',
  },
  phoenixd: {
    url: 'phoenixdurl',
    secret: 'phoenixdpassword',
    secretFile: 'phoenixdpasswordfile',
    ca: 'phoenixdcacertpath',
    what: 'http password',
    example: 'http://127.0.0.1:9740',
    pay: { secret: 'phoenixdpaypassword', secretFile: 'phoenixdpaypasswordfile', what: 'full http-password (the limited one cannot pay)' },
  },
  nwc: {
    secret: 'nwcuri',
    secretFile: 'nwcurifile',
    what: 'connection URI (nostr+walletconnect://…)',
    example: '',
    pay: { secret: 'nwcpayuri', secretFile: 'nwcpayurifile', what: 'connection URI allowed pay_invoice and lookup_invoice' },
  },
};

/** Every key this file reads, for the section's list of known keys. */
export const HTTP_BACKEND_KEYS: readonly string[] = Object.values(KEYS).flatMap((k) =>
  [k.url, k.secret, k.secretFile, k.ca, k.pay?.secret, k.pay?.secretFile].filter((x): x is string => x !== undefined),
);

/**
 * The keys of the credential that pays MPP session refunds with a backend, or `undefined` for a
 * backend whose API cannot pay them (LNbits: its payment API takes no amount for an amountless invoice).
 * @internal
 */
export function refundPayerKeys(kind: HttpLightningBackend): Readonly<SecretKeys> | undefined {
  return KEYS[kind].pay;
}

/**
 * A credential read from the configuration. It prints as `***` (JSON, `util.inspect`,
 * template strings) so that it never reaches a log by accident; {@link ConfigSecret.reveal} gives it.
 */
export class ConfigSecret {
  readonly #value: string;

  /** @param value - the credential */
  constructor(value: string) {
    this.#value = value;
  }

  /** @returns the credential */
  reveal(): string {
    return this.#value;
  }

  /** @returns `"***"` */
  toJSON(): string {
    return '***';
  }

  /** @returns `***` */
  toString(): string {
    return '***';
  }

  [inspect.custom](): string {
    return 'ConfigSecret(***)';
  }
}

/** Whether a text is a valid NWC URI (parsed again, with the error, when the backend starts). */
function isNwcUri(text: string): boolean {
  try {
    parseNwcUri(text);
    return true;
  } catch {
    return false;
  }
}

/** The resolved settings of an HTTP backend. */
export interface HttpBackendConfig {
  kind: HttpLightningBackend;
  /** Base URL, without a trailing slash; empty for `nwc`. */
  url: string;
  /** The credential given in the file (`${ENV}` expanded). */
  secret: ConfigSecret | undefined;
  /** Or the file holding it (read at start, trimmed), `~` expanded. */
  secretFile: string | undefined;
  /** PEM CA certificate to trust, `~` expanded. */
  caCertPath: string | undefined;
  /** The credential that pays MPP session refunds (`clnpayrune`, `phoenixdpaypassword`, `nwcpayuri`), `${ENV}` expanded. */
  paySecret?: ConfigSecret | undefined;
  /** Or the file holding it (`clnpayrunefile`, `phoenixdpaypasswordfile`, `nwcpayurifile`), `~` expanded. */
  paySecretFile?: string | undefined;
}

/** How {@link readHttpBackend} resolves paths and the environment. */
export interface HttpBackendConfigContext {
  env: Readonly<Record<string, string | undefined>>;
  fileExists: (path: string) => boolean;
  /** Expands `~` and `$VAR` in a path. */
  path: (p: string) => string;
}

/**
 * Reads the keys of the selected HTTP backend and warns about those of the others.
 * @param r - where issues and warnings go
 * @param a - the `authenticator` section
 * @param selected - the backend `backend:` names, or undefined when it names none of them
 * @param ctx - environment, paths
 * @returns the settings of the selected backend (undefined when none is selected or it is unusable)
 */
export function readHttpBackend(
  r: ConfigReader,
  a: ConfigSection,
  selected: HttpLightningBackend | undefined,
  ctx: HttpBackendConfigContext,
): HttpBackendConfig | undefined {
  for (const kind of HTTP_LIGHTNING_BACKENDS) {
    if (kind === selected) continue;
    const keys = KEYS[kind];
    for (const key of [keys.url, keys.secret, keys.secretFile, keys.ca, keys.pay?.secret, keys.pay?.secretFile]) {
      if (key !== undefined && a.has(key))
        r.warn(
          a.path(key),
          'ignored',
          `${key} is only used with backend: ${kind}${selected === undefined ? '' : ` (backend is ${selected})`}; it has no effect`,
          a.node(key),
        );
    }
  }
  if (selected === undefined) return undefined;
  const keys = KEYS[selected];
  let ok = true;
  const urlText = keys.url === undefined ? undefined : a.optString(keys.url);
  let url = '';
  if (keys.url === undefined) {
    // nwc: the relay is in the connection URI.
  } else if (urlText === undefined) {
    r.issue(a.path(keys.url), `backend: ${selected} needs ${keys.url} (e.g. ${keys.example})`);
    ok = false;
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(urlText);
    } catch {
      parsed = undefined;
    }
    if (
      parsed === undefined ||
      (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') ||
      parsed.search !== '' ||
      parsed.hash !== ''
    ) {
      r.issue(a.path(keys.url), `${keys.url} must be an http:// or https:// URL without query, got "${urlText}"`, a.node(keys.url));
      ok = false;
    } else {
      url = urlText.replace(/\/+$/, '');
    }
  }
  const main = readSecret(r, a, selected, keys, true, ctx);
  if (!main.ok) ok = false;
  const pay =
    keys.pay === undefined ? { ok: true, secret: undefined, secretFile: undefined } : readSecret(r, a, selected, keys.pay, false, ctx);
  if (!pay.ok) ok = false;
  const caText = keys.ca === undefined ? undefined : a.optString(keys.ca);
  const caCertPath = caText === undefined ? undefined : ctx.path(caText);
  if (keys.ca !== undefined && caCertPath !== undefined) {
    if (!ctx.fileExists(caCertPath)) r.warn(a.path(keys.ca), 'missing-file', `${caCertPath} does not exist (yet)`, a.node(keys.ca));
    if (url.startsWith('http:'))
      r.warn(a.path(keys.ca), 'ignored', `${keys.ca} only applies to an https:// ${keys.url ?? 'URL'}`, a.node(keys.ca));
  }
  if (!ok) return undefined;
  return {
    kind: selected,
    url,
    secret: main.secret,
    secretFile: main.secretFile,
    caCertPath,
    ...(pay.secret !== undefined ? { paySecret: pay.secret } : {}),
    ...(pay.secretFile !== undefined ? { paySecretFile: pay.secretFile } : {}),
  };
}

/**
 * Reads one credential: its value (with `${ENV}` references) or its file, not both.
 * @returns whether it is usable, and the value or file (neither when it is optional and absent)
 */
function readSecret(
  r: ConfigReader,
  a: ConfigSection,
  selected: HttpLightningBackend,
  keys: SecretKeys,
  required: boolean,
  ctx: HttpBackendConfigContext,
): { ok: boolean; secret: ConfigSecret | undefined; secretFile: string | undefined } {
  const secretText = a.optString(keys.secret);
  const secretFileText = a.optString(keys.secretFile);
  let ok = true;
  let secret: ConfigSecret | undefined;
  if (secretText !== undefined && secretFileText !== undefined) {
    r.issue(a.path(keys.secret), `set ${keys.secret} or ${keys.secretFile}, not both`, a.node(keys.secret));
    ok = false;
  } else if (secretText === undefined && secretFileText === undefined) {
    if (required) {
      r.issue(
        a.path(keys.secret),
        `backend: ${selected} needs the ${keys.what}: ${keys.secret} (a value, \${ENV} allowed) or ${keys.secretFile} (a file holding it)`,
      );
      ok = false;
    }
  } else if (secretText !== undefined) {
    const missing: string[] = [];
    const value = secretText.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_ref, name: string) => {
      const v = ctx.env[name];
      if (v === undefined || v === '') missing.push(name);
      return v ?? '';
    });
    if (missing.length > 0) {
      r.issue(
        a.path(keys.secret),
        `environment variable${missing.length > 1 ? 's' : ''} ${missing.map((m) => `\${${m}}`).join(', ')} not set (or empty)`,
        a.node(keys.secret),
      );
      ok = false;
    } else if (value.trim() === '') {
      r.issue(a.path(keys.secret), `${keys.secret} is empty`, a.node(keys.secret));
      ok = false;
    } else if (selected === 'nwc' && !isNwcUri(value.trim())) {
      r.issue(
        a.path(keys.secret),
        'not a Nostr Wallet Connect URI: expected nostr+walletconnect://<64-hex wallet pubkey>?relay=wss://…&secret=<64 hex>',
        a.node(keys.secret),
      );
      ok = false;
    } else {
      secret = new ConfigSecret(value.trim());
    }
  }
  const secretFile = secretFileText === undefined ? undefined : ctx.path(secretFileText);
  if (secretFile !== undefined && !ctx.fileExists(secretFile))
    r.warn(a.path(keys.secretFile), 'missing-file', `${secretFile} does not exist (yet)`, a.node(keys.secretFile));
  return { ok, secret, secretFile };
}
