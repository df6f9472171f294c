/**
 * The `services` section of aperture.yaml: each entry validated with its
 * path, and one entry by itself ({@link resolveServiceEntry}, what the admin
 * API and the service registry use).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { AuthScheme, ConfigPattern, ConfigWarning, ServiceAuth, ServiceConfig, ServiceRateLimitConfig } from './aperture-config.js';
import { CONFIG_DEFAULTS, checkAddress, compilePattern, expandPath, type ResolveConfigContext } from './config-context.js';
import { ConfigReader, type ConfigSection, describe, scalarText } from './config-reader.js';
import { rawFromJson, rawToJson, type JsonValue, type LocatedConfigIssue, type RawNode } from './raw-node.js';
import { resolveHeaderValue } from './resolve-header-value.js';

const SERVICE_KEYS = [
  'name',
  'tlscertpath',
  'address',
  'protocol',
  'auth',
  'authscheme',
  'hostregexp',
  'pathregexp',
  'headers',
  'timeout',
  'capabilities',
  'constraints',
  'price',
  'dynamicprice',
  'authwhitelistpaths',
  'authskipinvoicecreationpaths',
  'ratelimits',
  'rewrite',
  'tlsinsecureskipverify',
  'freebiewindow',
  'upstreamtimeout',
];

const DYNAMIC_PRICE_KEYS = ['enabled', 'grpcaddress', 'insecure', 'tlscertpath', 'metered', 'usagetailbytes'];

const MAX_PRICE_SATS = 100_000_000 * 100_000; // the reference's cap: 100,000 BTC

const MAX_USAGE_TAIL_BYTES = 1 << 20;

/** Options of {@link resolveServiceEntry}. */
export interface ResolveServiceEntryOptions {
  /** Environment, directories and file access, as for `resolveConfig`. */
  context?: Partial<ResolveConfigContext>;
  /**
   * The top-level `freebiewindow` and `upstreamtimeout` (ms) an entry inherits (the reference defaults when
   * absent), and whether `authenticator.enablempp` is on (an `authscheme` naming mpp is refused when it is off;
   * not checked when absent).
   */
  defaults?: { freebieWindowMs?: number; upstreamTimeoutMs?: number; mppEnabled?: boolean };
  /** Unknown keys are issues instead of warnings (an entry set through the admin API is stored, so a typo must not be). */
  strict?: boolean;
}

/** Result of {@link resolveServiceEntry}: the service when there are no issues. */
export interface ResolvedServiceEntry {
  service: ServiceConfig | undefined;
  /** Problems, with paths inside the entry (`price`, `dynamicprice.grpcaddress`, `headers.X-Key`). */
  issues: LocatedConfigIssue[];
  warnings: ConfigWarning[];
}

/**
 * Validates one `services[]` entry by itself, exactly as `resolveConfig`
 * validates each entry of a file: what the admin API and a program loading
 * services from the store use.
 *
 * @param json - the entry as JSON, keys as in aperture.yaml (`{ name, address, pathregexp, headers, … }`)
 * @param options - context, inherited defaults, strictness
 * @returns the service (undefined when there are issues), every issue and warning; never throws
 */
export function resolveServiceEntry(json: JsonValue, options: ResolveServiceEntryOptions = {}): ResolvedServiceEntry {
  const entry = rawFromJson(json);
  const context = options.context ?? {};
  const env = context.env ?? process.env;
  const ctx: ResolveConfigContext = {
    env,
    cwd: context.cwd ?? process.cwd(),
    home: context.home ?? (env['HOME'] || homedir()),
    configFile: context.configFile ?? '',
    configFileFound: context.configFileFound ?? false,
    readFile: context.readFile ?? ((p) => readFileSync(p)),
    fileExists: context.fileExists ?? ((p) => existsSync(p)),
  };
  const r = new ConfigReader();
  const path = (p: string): string => expandPath(p, ctx.home, ctx.env);
  const defaults: ServiceDefaults = {
    freebieWindowMs: options.defaults?.freebieWindowMs ?? CONFIG_DEFAULTS.freebieWindowMs,
    upstreamTimeoutMs: options.defaults?.upstreamTimeoutMs ?? CONFIG_DEFAULTS.upstreamTimeoutMs,
    mppEnabled: options.defaults?.mppEnabled,
  };
  if (entry.kind !== 'map') {
    r.issue('$', `expected a mapping of service keys, found ${describe(entry)}`, entry);
    return { service: undefined, issues: r.issues, warnings: r.warnings };
  }
  const service = readService(r, entry, '', ctx, path, defaults);
  if (options.strict === true) {
    for (const w of r.warnings)
      if (w.kind === 'unknown-key') r.issues.push({ path: w.path, message: w.message.replace(' is ignored', '') });
  }
  const warnings = options.strict === true ? r.warnings.filter((w) => w.kind !== 'unknown-key') : r.warnings;
  return { service: r.issues.length === 0 ? service : undefined, issues: r.issues, warnings };
}

/**
 * `services`: every entry, duplicate names refused.
 * @internal
 */
export function readServices(
  r: ConfigReader,
  top: ConfigSection,
  ctx: ResolveConfigContext,
  path: (p: string) => string,
  defaults: ServiceDefaults,
): ServiceConfig[] {
  const node = top.node('services');
  if (node === undefined) return [];
  if (node.kind !== 'seq') {
    r.issue('services', `expected a list of services, found ${describe(node)}`, node);
    return [];
  }
  const names = new Map<string, number>();
  const out: ServiceConfig[] = [];
  node.items.forEach((item, index) => {
    const base = `services[${index}]`;
    const name = item.kind === 'map' ? item.entries.get('name')?.value : undefined;
    const nameText = name === undefined ? undefined : scalarText(name);
    if (nameText !== undefined && nameText !== '') {
      const previous = names.get(nameText);
      if (previous !== undefined) r.issue(`${base}.name`, `duplicate service name "${nameText}" (also services[${previous}])`, name);
      else names.set(nameText, index);
    }
    const service = readService(r, item, base, ctx, path, defaults);
    if (service !== undefined) out.push(service);
  });
  return out;
}

/** Per-service defaults that come from top-level keys. */
interface ServiceDefaults {
  freebieWindowMs: number;
  upstreamTimeoutMs: number;
  /** Whether `authenticator.enablempp` is on; `undefined` when unknown (an entry checked by itself). */
  mppEnabled?: boolean | undefined;
}

/** Reads one `services[]` entry; undefined when it has issues (recorded in `r`). */
function readService(
  r: ConfigReader,
  item: RawNode,
  base: string,
  ctx: ResolveConfigContext,
  path: (p: string) => string,
  defaults: ServiceDefaults,
): ServiceConfig | undefined {
  const s = r.section(item, base, SERVICE_KEYS);
  if (item.kind !== 'map') return undefined;
  const issuesBefore = r.issues.length;
  const name = s.optString('name');
  if (name === undefined) r.issue(s.path('name'), 'every service needs a name', item);
  else if (/[,:=\s]/.test(name))
    r.issue(
      s.path('name'),
      `service name "${name}" may not contain ',', ':', '=' or spaces (it is written into the token's services caveat)`,
      s.node('name'),
    );
  const hostRegexp = compilePattern(r, s.string('hostregexp', ''), s.path('hostregexp'), s.node('hostregexp'));
  const pathText = s.optString('pathregexp');
  const pathRegexp = pathText === undefined ? undefined : compilePattern(r, pathText, s.path('pathregexp'), s.node('pathregexp'));
  const patterns = (key: string): ConfigPattern[] => s.stringList(key).flatMap((e) => compilePattern(r, e.value, e.path, e.node) ?? []);
  const authWhitelistPaths = patterns('authwhitelistpaths');
  const authSkipInvoiceCreationPaths = patterns('authskipinvoicecreationpaths');

  const address = s.optString('address');
  if (address === undefined) r.issue(s.path('address'), 'every service needs an address (host:port of the backend)', item);
  else checkAddress(r, s, 'address', address, false, 'warn');

  const protocolText = s.string('protocol', 'http').toLowerCase();
  if (protocolText !== 'http' && protocolText !== 'https')
    r.issue(s.path('protocol'), `must be http or https, not "${protocolText}"`, s.node('protocol'));
  const protocol = protocolText === 'https' ? 'https' : 'http';
  const tlsCertText = s.optString('tlscertpath');
  const tlsCertPath = tlsCertText === undefined ? undefined : path(tlsCertText);
  const tlsInsecureSkipVerify = s.bool('tlsinsecureskipverify', false);
  if (protocol === 'https') {
    if (tlsCertPath !== undefined && !ctx.fileExists(resolve(ctx.cwd, tlsCertPath))) {
      r.warn(s.path('tlscertpath'), 'missing-file', `${tlsCertPath} does not exist (yet)`, s.node('tlscertpath'));
    }
    if (tlsCertPath === undefined && !tlsInsecureSkipVerify) {
      r.warn(
        s.path('protocol'),
        'behaviour-change',
        "the backend's TLS certificate is verified against the system roots (the Go aperture never verified it); set tlscertpath to its certificate, or tlsinsecureskipverify: true",
        s.node('protocol'),
      );
    }
  } else if (tlsCertPath !== undefined || tlsInsecureSkipVerify) {
    r.warn(
      s.path(tlsCertPath !== undefined ? 'tlscertpath' : 'tlsinsecureskipverify'),
      'ignored',
      'has no effect with protocol http',
      s.node('tlscertpath'),
    );
  }

  const auth = readAuth(r, s);
  const authSchemeText = s.string('authscheme', 'l402').toLowerCase();
  let authScheme: AuthScheme = 'l402';
  if (authSchemeText === 'l402' || authSchemeText === 'mpp' || authSchemeText === 'l402+mpp') authScheme = authSchemeText;
  else r.issue(s.path('authscheme'), `must be l402, mpp or l402+mpp, not "${authSchemeText}"`, s.node('authscheme'));
  if (authScheme !== 'l402' && defaults.mppEnabled === false) {
    r.issue(
      s.path('authscheme'),
      `authscheme ${authScheme} needs authenticator.enablempp: true (the Payment scheme is off)`,
      s.node('authscheme'),
    );
  }

  const dp = s.section('dynamicprice', DYNAMIC_PRICE_KEYS);
  const dynamicPrice = {
    enabled: dp.bool('enabled', false),
    grpcAddress: dp.string('grpcaddress', ''),
    insecure: dp.bool('insecure', false),
    tlsCertPath: ((t) => (t === undefined ? undefined : path(t)))(dp.optString('tlscertpath')),
    metered: dp.bool('metered', false),
    usageTailBytes: dp.int('usagetailbytes', CONFIG_DEFAULTS.usageTailBytes, 0, MAX_USAGE_TAIL_BYTES) || CONFIG_DEFAULTS.usageTailBytes,
  };
  if (dynamicPrice.metered && !dynamicPrice.enabled) r.issue(dp.path('metered'), 'dynamicprice.metered requires dynamicprice.enabled');
  else if (dynamicPrice.metered)
    r.warn(
      dp.path('metered'),
      'not-built',
      "metered: MPP sessions are metered (QuoteSession, SettleSession); the reference's metered L402 token bundles (ChallengeMinted, AuthorizeRequest, ReportUsage) and reusable metered charge credentials are not built: an L402 token or a Payment charge buys what GetPrice priced",
      dp.node('metered'),
    );
  if (dp.has('usagetailbytes') && !dynamicPrice.metered)
    r.warn(dp.path('usagetailbytes'), 'ignored', 'usagetailbytes has no effect without dynamicprice.metered', dp.node('usagetailbytes'));
  if (dynamicPrice.enabled) {
    if (dynamicPrice.grpcAddress === '') r.issue(dp.path('grpcaddress'), 'dynamicprice is enabled but grpcaddress is empty');
    else checkAddress(r, dp, 'grpcaddress', dynamicPrice.grpcAddress, true, 'warn');
    if (!dynamicPrice.insecure) {
      if (dynamicPrice.tlsCertPath === undefined) r.issue(dp.path('tlscertpath'), 'dynamicprice needs tlscertpath unless insecure is true');
      else if (!ctx.fileExists(resolve(ctx.cwd, dynamicPrice.tlsCertPath)))
        r.warn(dp.path('tlscertpath'), 'missing-file', `${dynamicPrice.tlsCertPath} does not exist (yet)`, dp.node('tlscertpath'));
    }
  }

  const priceNode = s.node('price');
  let price = s.int('price', 0, 0, MAX_PRICE_SATS);
  if (!dynamicPrice.enabled && price === 0) {
    if (priceNode !== undefined && r.issues.length === issuesBefore) {
      r.warn(
        s.path('price'),
        'behaviour-change',
        'price 0 means the default price of 1 sat (as in the Go aperture); for free access use auth: off',
        priceNode,
      );
    }
    price = CONFIG_DEFAULTS.servicePrice;
  }

  const timeoutSeconds = s.int('timeout', 0, 0, Number.MAX_SAFE_INTEGER);
  const capsNode = s.node('capabilities');
  let capabilities: string[] = [];
  if (capsNode !== undefined) {
    const text = scalarText(capsNode);
    if (text === undefined)
      r.issue(s.path('capabilities'), `expected a comma-separated string such as "add,subtract", found ${describe(capsNode)}`, capsNode);
    else
      capabilities = text
        .split(',')
        .map((c) => c.trim())
        .filter((c) => c !== '');
  }
  const constraints: Record<string, string> = {};
  for (const c of s.stringMap('constraints')) {
    if (c.key.includes('=') || c.key.trim() === '')
      r.issue(c.path, 'a constraint key may not be empty or contain "=" (it becomes a key=value caveat)', c.node);
    else constraints[c.key] = c.value;
  }
  const headers: Record<string, string> = {};
  for (const h of s.stringMap('headers')) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h.key)) {
      r.issue(h.path, `"${h.key}" is not a valid HTTP header name`, h.node);
      continue;
    }
    const resolved = resolveHeaderValue(h.value, { env: ctx.env, readFile: ctx.readFile, cwd: ctx.cwd });
    if (resolved.ok) headers[h.key] = resolved.value;
    else r.issue(h.path, resolved.reason, h.node);
  }
  const rewrite = s.section('rewrite', ['prefix']);
  const rewritePrefix = readRewritePrefix(r, rewrite);
  const rateLimits = readRateLimits(r, s);
  const freebieWindowMs = s.duration('freebiewindow', defaults.freebieWindowMs, 0);
  const upstreamTimeoutMs = s.duration('upstreamtimeout', defaults.upstreamTimeoutMs, 0);
  if (s.has('freebiewindow') && auth.mode !== 'freebie')
    r.warn(s.path('freebiewindow'), 'ignored', 'has no effect unless auth is "freebie N"', s.node('freebiewindow'));

  if (r.issues.length > issuesBefore || name === undefined || hostRegexp === undefined || address === undefined) return undefined;
  return {
    name,
    hostRegexp,
    pathRegexp,
    address,
    protocol,
    tlsCertPath,
    tlsInsecureSkipVerify,
    auth,
    authWhitelistPaths,
    authSkipInvoiceCreationPaths,
    price,
    timeoutSeconds,
    capabilities,
    constraints,
    headers,
    rewritePrefix,
    dynamicPrice,
    authScheme,
    rateLimits,
    freebieWindowMs,
    upstreamTimeoutMs,
    entry: rawToJson(item) as Record<string, JsonValue>,
  };
}

function readAuth(r: ConfigReader, s: ConfigSection): ServiceAuth {
  const node = s.node('auth');
  if (node === undefined) return { mode: 'on' };
  if (node.kind === 'scalar' && typeof node.value === 'boolean') return node.value ? { mode: 'on' } : { mode: 'off' };
  const text = scalarText(node);
  const lower = text?.toLowerCase();
  if (lower === '' || lower === 'on' || lower === 'true') return { mode: 'on' };
  if (lower === 'off' || lower === 'false') return { mode: 'off' };
  if (lower?.startsWith('freebie')) {
    const parts = lower.split(' ');
    if (parts.length === 2 && /^\+?\d{1,9}$/.test(parts[1] ?? '')) return { mode: 'freebie', count: Number(parts[1]) };
    r.issue(s.path('auth'), `"${text ?? ''}" must be "freebie N" with one space and a non-negative whole number N`, node);
    return { mode: 'on' };
  }
  r.issue(s.path('auth'), `must be on, off or "freebie N", not ${describe(node)}`, node);
  return { mode: 'on' };
}

function readRewritePrefix(r: ConfigReader, s: ConfigSection): string | undefined {
  const prefix = s.optString('prefix');
  if (prefix === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(prefix, 'http://placeholder.invalid');
  } catch {
    r.issue(s.path('prefix'), `invalid prefix format "${prefix}"`, s.node('prefix'));
    return undefined;
  }
  if (
    !prefix.startsWith('/') ||
    prefix.startsWith('//') ||
    url.search !== '' ||
    url.hash !== '' ||
    prefix.includes('?') ||
    prefix.includes('#')
  ) {
    r.issue(s.path('prefix'), `expected an absolute path such as /api/v1, got "${prefix}"`, s.node('prefix'));
    return undefined;
  }
  return url.pathname;
}

function readRateLimits(r: ConfigReader, s: ConfigSection): ServiceRateLimitConfig[] {
  const node = s.node('ratelimits');
  if (node === undefined) return [];
  if (node.kind !== 'seq') {
    r.issue(s.path('ratelimits'), `expected a list of {pathregexp, requests, per, burst}, found ${describe(node)}`, node);
    return [];
  }
  const out: ServiceRateLimitConfig[] = [];
  node.items.forEach((item, i) => {
    const at = `${s.path('ratelimits')}[${i}]`;
    const rule = r.section(item, at, ['pathregexp', 'requests', 'per', 'burst']);
    if (item.kind !== 'map') return;
    const before = r.issues.length;
    const patternText = rule.optString('pathregexp');
    const pathRegexp =
      patternText === undefined ? undefined : compilePattern(r, patternText, rule.path('pathregexp'), rule.node('pathregexp'));
    if (!rule.has('requests')) r.issue(rule.path('requests'), 'requests is required and must be positive', item);
    const requests = rule.int('requests', 0, 1, 2 ** 31 - 1);
    if (!rule.has('per')) r.issue(rule.path('per'), 'per is required and must be a positive duration such as 1s', item);
    const perMs = rule.duration('per', 0);
    if (rule.has('per') && perMs <= 0 && r.issues.length === before)
      r.issue(rule.path('per'), 'per must be a positive duration', rule.node('per'));
    const burstRaw = rule.int('burst', 0, 0, 2 ** 31 - 1);
    if (r.issues.length > before) return;
    out.push({ pathRegexp, requests, perMs, burst: burstRaw === 0 ? requests : burstRaw });
  });
  return out;
}
