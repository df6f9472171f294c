/**
 * `aperturecli fetch <url>`: an HTTP request that pays L402 challenges, like
 * `curl` with a Lightning wallet. The body goes to stdout; a summary (what was
 * paid, which token was used; never the preimage) goes to stderr, as JSON when
 * stdout is not a terminal or with `--json`.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { L402Client, type ChallengeResponse } from '../client/l402-client.js';
import { FileTokenStore } from '../client/file-token-store.js';
import { decodeIdentifier } from '../core/identifier.js';
import { Macaroon } from '../core/macaroon.js';
import type { Payer, PaymentResult } from '../core/types.js';
import { DevHttpPayer } from '../lightning/dev/dev-http-payer.js';
import { L402Error } from '../core/errors.js';
import type { CliContext } from './cli-context.js';
import { usageError } from './cli-parse.js';
import { OUTPUT_FLAGS, type CommandSpec, type FlagSpec, type FlagValues, type Invocation } from './cli-spec.js';

interface FetchArgs extends PayerSettings {
  url: URL;
  method: string;
  headers: Array<[string, string]>;
  body: Buffer | undefined;
  insecure: boolean;
  dryRun: boolean;
  timeoutMs: number | undefined;
  scheme: 'l402' | 'mpp';
}

function whole(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw usageError(`--${name} must be a whole number of satoshis, got '${value}'`);
  return Number(value);
}

/** The buyer's flags, shared with `mcp serve`. */
export const PAYER_FLAGS: readonly FlagSpec[] = [
  { name: 'max-price', type: 'int64', default: '1000', description: 'Most one invoice may cost, sats' },
  { name: 'max-fee', type: 'int64', default: '10', description: 'Routing fee limit, sats' },
  {
    name: 'payer',
    type: 'string',
    description:
      "How to pay: dev (the server's /api/dev/pay, dev backends only), lnd (needs the three --lnd-* flags), cln, lnbits, phoenixd or wavelength (your node or wallet over HTTP; needs --payer-url and --payer-secret-file) or nwc (a wallet through Nostr Wallet Connect; --payer-secret-file holds the nostr+walletconnect:// URI)",
  },
  { name: 'lnd-host', type: 'string', description: 'lnd gRPC address HOST:PORT' },
  { name: 'lnd-tls', type: 'string', description: "lnd's tls.cert" },
  { name: 'lnd-macaroon', type: 'string', description: 'A macaroon allowed to send payments (admin.macaroon)' },
  {
    name: 'payer-url',
    type: 'string',
    description: 'clnrest, LNbits, phoenixd or Wavelength gateway URL (--payer cln|lnbits|phoenixd|wavelength)',
  },
  {
    name: 'payer-secret-file',
    type: 'string',
    description:
      'File holding the rune (cln), admin key (lnbits), http-password (phoenixd), macaroon (wavelength, binary) or connection URI (nwc); kept out of the command line',
  },
  { name: 'payer-ca', type: 'string', description: "CA certificate (PEM) of the payer's https URL (clnrest's ca.pem)" },
  { name: 'token-file', type: 'string', description: 'Keep the token in this single file (reference format)' },
  {
    name: 'token-dir',
    type: 'string',
    description: 'Keep tokens per origin in DIR (default $APERTURECLI_DIR/tokens or ~/.aperturecli/tokens)',
  },
];

/** The payers reached over HTTP (or, for nwc, a relay). */
const HTTP_PAYERS = ['cln', 'lnbits', 'phoenixd', 'wavelength', 'nwc'] as const;
type HttpPayerKind = (typeof HTTP_PAYERS)[number];
const HTTP_PAYER_FLAGS = ['payer-url', 'payer-secret-file', 'payer-ca'] as const;

/** The payer settings of the buyer's flags. */
export interface PayerSettings {
  /** Most one invoice may cost. */
  maxPriceSats: number;
  /** Routing fee limit. */
  maxFeeSats: number;
  /** How to pay. */
  payer: 'dev' | 'lnd' | HttpPayerKind | undefined;
  /** lnd's address and credentials. */
  lnd: { host: string; tls: string; macaroon: string } | undefined;
  /** URL (empty for nwc), credential file and CA file of `--payer cln|lnbits|phoenixd|wavelength|nwc`. */
  http: { url: string; secretFile: string; ca: string | undefined } | undefined;
  /** The token store. */
  store: FileTokenStore;
}

/**
 * The buyer's settings from {@link PAYER_FLAGS}.
 * @param v - the flag values
 * @param env - `HOME`, `APERTURECLI_DIR`
 * @returns the settings
 * @throws L402Error `L402_ERR_CLI_USAGE` for a bad value, a missing `--lnd-*` or `--payer-*` flag, or one
 *   given without the payer it belongs to
 */
export function payerSettings(v: FlagValues, env: Readonly<Record<string, string | undefined>>): PayerSettings {
  const payerText = v.string('payer');
  const httpKind = HTTP_PAYERS.find((kind) => kind === payerText);
  if (payerText !== undefined && payerText !== 'dev' && payerText !== 'lnd' && httpKind === undefined) {
    throw usageError(`--payer must be dev, lnd, ${HTTP_PAYERS.join(', ')}, got '${payerText}'`);
  }
  const payer: PayerSettings['payer'] = httpKind ?? (payerText as 'dev' | 'lnd' | undefined);
  let http: PayerSettings['http'];
  if (httpKind !== undefined) {
    const needed = httpKind === 'nwc' ? (['payer-secret-file'] as const) : (['payer-url', 'payer-secret-file'] as const);
    const missing = needed.filter((k) => v.string(k) === undefined);
    if (missing.length > 0) throw usageError(`--payer ${httpKind} needs ${missing.map((m) => `--${m}`).join(', ')}`);
    if (httpKind === 'nwc' && (v.given('payer-url') || v.given('payer-ca'))) {
      throw usageError('--payer nwc takes its relay from the connection URI in --payer-secret-file; drop --payer-url and --payer-ca');
    }
    const payerUrl = v.string('payer-url') ?? '';
    if (httpKind !== 'nwc' && !/^https?:\/\/[^/?#]+/.test(payerUrl))
      throw usageError(`--payer-url must be an http:// or https:// URL, got '${payerUrl}'`);
    http = { url: payerUrl, secretFile: v.string('payer-secret-file') ?? '', ca: v.string('payer-ca') };
  } else {
    const stray = HTTP_PAYER_FLAGS.filter((k) => v.given(k));
    if (stray.length > 0) throw usageError(`${stray.map((m) => `--${m}`).join(', ')} only apply with --payer ${HTTP_PAYERS.join('|')}`);
  }
  let lnd: PayerSettings['lnd'];
  if (payer === 'lnd') {
    const missing = (['lnd-host', 'lnd-tls', 'lnd-macaroon'] as const).filter((k) => v.string(k) === undefined);
    if (missing.length > 0) throw usageError(`--payer lnd needs ${missing.map((m) => `--${m}`).join(', ')}`);
    lnd = { host: v.string('lnd-host') ?? '', tls: v.string('lnd-tls') ?? '', macaroon: v.string('lnd-macaroon') ?? '' };
  } else {
    const stray = (['lnd-host', 'lnd-tls', 'lnd-macaroon'] as const).filter((k) => v.given(k));
    if (stray.length > 0) throw usageError(`${stray.map((m) => `--${m}`).join(', ')} only apply with --payer lnd`);
  }
  if (v.given('token-file') && v.given('token-dir')) throw usageError('use --token-file or --token-dir, not both');
  const base = env['APERTURECLI_DIR'] ?? join(env['HOME'] ?? homedir(), '.aperturecli');
  const tokenFile = v.string('token-file');
  const store =
    tokenFile !== undefined
      ? new FileTokenStore({ file: tokenFile })
      : new FileTokenStore({ directory: v.string('token-dir') ?? join(base, 'tokens') });
  return {
    maxPriceSats: whole('max-price', v.string('max-price'), 1000),
    maxFeeSats: whole('max-fee', v.string('max-fee'), 10),
    payer,
    lnd,
    http,
    store,
  };
}

/**
 * The payer of the settings for a URL.
 * @param settings - the buyer's settings
 * @param url - the URL to pay for (the dev payer pays through its origin)
 * @param send - the fetch the dev payer uses
 * @returns the payer, or undefined without `--payer`
 */
export async function payerFor(
  settings: PayerSettings,
  url: URL,
  send: typeof globalThis.fetch,
): Promise<(Payer & { close?: () => Promise<void> }) | undefined> {
  if (settings.payer === 'dev') return new DevHttpPayer({ url: new URL('/api/dev/pay', url), fetch: send });
  if (settings.payer === 'lnd' && settings.lnd !== undefined) {
    // Loaded only when asked for: it brings grpc-js and lnd's protos.
    const { LndPayer } = await import('../lightning/lnd/lnd-payer.js');
    return new LndPayer({ host: settings.lnd.host, tlsCertPath: settings.lnd.tls, macaroonPath: settings.lnd.macaroon });
  }
  if (settings.http !== undefined && settings.payer !== undefined && settings.payer !== 'lnd') {
    return httpPayer(settings.payer, settings.http);
  }
  return undefined;
}

/** Builds an HTTP (or NWC) payer, reading its credential and CA files (a usage error when unreadable). */
async function httpPayer(kind: HttpPayerKind, http: NonNullable<PayerSettings['http']>): Promise<Payer & { close: () => Promise<void> }> {
  const read = async (path: string, what: string): Promise<string> => {
    let text: string;
    try {
      text = (await readFile(path, 'utf8')).trim();
    } catch (error) {
      throw usageError(`cannot read ${what} ${path}: ${(error as Error).message}`);
    }
    if (text === '') throw usageError(`${what} ${path} is empty`);
    return text;
  };
  const caCert = http.ca === undefined ? undefined : await read(http.ca, '--payer-ca');
  if (kind === 'wavelength') {
    // The macaroon file is binary: the payer reads and checks it (a file that is not a macaroon is a usage error).
    const { WavelengthPayer } = await import('../lightning/wavelength/wavelength-payer.js');
    try {
      return new WavelengthPayer({ gateway: http.url, macaroonPath: http.secretFile, ...(caCert !== undefined ? { caCert } : {}) });
    } catch (error) {
      if (error instanceof L402Error && error.code === 'L402_ERR_LN_CREDENTIALS')
        throw usageError(`--payer-secret-file ${http.secretFile}: ${error.message}`);
      throw error;
    }
  }
  const secret = await read(http.secretFile, '--payer-secret-file');
  const common = { url: http.url, ...(caCert !== undefined ? { caCert } : {}) };
  // Each loaded only when asked for.
  switch (kind) {
    case 'cln': {
      const { ClnPayer } = await import('../lightning/cln/cln-payer.js');
      return new ClnPayer({ ...common, rune: secret });
    }
    case 'lnbits': {
      const { LnbitsPayer } = await import('../lightning/lnbits/lnbits-payer.js');
      return new LnbitsPayer({ ...common, adminKey: secret });
    }
    case 'phoenixd': {
      const { PhoenixdPayer } = await import('../lightning/phoenixd/phoenixd-payer.js');
      return new PhoenixdPayer({ ...common, password: secret });
    }
    case 'nwc': {
      const { NwcPayer } = await import('../lightning/nwc/nwc-payer.js');
      try {
        return new NwcPayer({ uri: secret });
      } catch (error) {
        if (error instanceof L402Error && error.code === 'L402_ERR_LN_CREDENTIALS')
          throw usageError(`--payer-secret-file ${http.secretFile}: ${error.message}`);
        throw error;
      }
    }
  }
}

async function parse({ flags: v, args }: Invocation, ctx: CliContext): Promise<FetchArgs> {
  let url: URL;
  try {
    url = new URL(args[0] ?? '');
  } catch {
    throw usageError(`not a URL: '${args[0] ?? ''}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw usageError(`only http and https URLs are supported, got '${url.protocol}'`);
  const headers: Array<[string, string]> = [];
  for (const line of v.list('header')) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw usageError(`bad header '${line}'; use -H 'Name: value'`);
    headers.push([name, line.slice(colon + 1).trim()]);
  }
  let body: Buffer | undefined;
  const data = v.string('data');
  if (data !== undefined) {
    if (data.startsWith('@')) {
      try {
        body = await readFile(data.slice(1));
      } catch (error) {
        throw usageError(`cannot read --data file: ${(error as Error).message}`);
      }
    } else {
      body = Buffer.from(data, 'utf8');
    }
  }
  const method = (v.string('request') ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw usageError(`bad method '${method}'`);
  const scheme = v.string('scheme') ?? 'l402';
  if (scheme !== 'l402' && scheme !== 'mpp') throw usageError(`--scheme must be l402 or mpp, got '${scheme}'`);
  if (scheme === 'mpp' && v.bool('dry-run'))
    throw usageError('--dry-run quotes L402 challenges only; it cannot be combined with --scheme mpp');
  return {
    url,
    method,
    headers,
    body,
    ...payerSettings(v, ctx.io.env),
    insecure: v.bool('insecure'),
    dryRun: v.bool('dry-run'),
    timeoutMs: v.durationMs('timeout'),
    scheme,
  };
}

/** Token ID and payment hash of the token in an `Authorization` value (never the preimage). */
function tokenOf(authorization: string | undefined): { tokenId: string; paymentHash: string } | undefined {
  if (authorization !== undefined && !/^(L402|LSAT) /i.test(authorization)) return undefined;
  const credential = authorization?.split(' ')[1]?.split(':')[0];
  if (credential === undefined) return undefined;
  const id = decodeIdentifier(Macaroon.fromBase64(credential).identifier);
  return { tokenId: Buffer.from(id.tokenId).toString('hex'), paymentHash: Buffer.from(id.paymentHash).toString('hex') };
}

function exitForStatus(ctx: CliContext, status: number): number {
  if (status < 400) return ctx.exit.ok;
  if (status === 404 || status === 410) return ctx.exit.notFound;
  if (status === 401 || status === 402 || status === 403) return ctx.exit.auth;
  return ctx.exit.general;
}

async function run(invocation: Invocation, ctx: CliContext): Promise<number> {
  const parsed = await parse(invocation, ctx);
  const { url, io } = { url: parsed.url, io: ctx.io };
  const jsonSummary = ctx.jsonOutput;
  const agent = new Agent({ connect: { rejectUnauthorized: !parsed.insecure } });
  const signal = parsed.timeoutMs === undefined || parsed.timeoutMs === 0 ? undefined : AbortSignal.timeout(parsed.timeoutMs);
  const send: typeof globalThis.fetch = (input, init) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher: agent,
      ...(signal === undefined ? {} : { signal }),
    }) as unknown as Promise<Response>;
  let payer: (Payer & { close?: () => Promise<void> }) | undefined;
  try {
    payer = await payerFor(parsed, url, send);
    let paid: PaymentResult | undefined;
    let receipt: Readonly<Record<string, unknown>> | undefined;
    const client = new L402Client({
      preferScheme: parsed.scheme,
      mpp: {
        afterPay: (_info, result) => {
          paid = result;
        },
        onReceipt: (value) => {
          receipt = value;
        },
      },
      ...(payer === undefined ? {} : { payer }),
      store: parsed.store,
      maxPriceSats: parsed.maxPriceSats,
      maxFeeSats: parsed.maxFeeSats,
      afterPay: (_info, result) => {
        paid = result;
      },
    });
    const call = await client.begin(url);
    if (parsed.dryRun && call.authorization !== undefined) {
      ctx.json('stdout', {
        dryRun: true,
        url: url.href,
        wouldPay: false,
        reason: 'a stored token would be sent',
        ...tokenOf(call.authorization),
      });
      return ctx.exit.dryRun;
    }
    const request = (): Promise<Response> => {
      const headers = new Headers(parsed.headers);
      if (call.authorization !== undefined && !headers.has('authorization')) headers.set('authorization', call.authorization);
      return send(url, { method: parsed.method, headers, ...(parsed.body === undefined ? {} : { body: parsed.body }) });
    };
    let response = await request();
    while (response.status === 402) {
      const challenge = response.headers.get('www-authenticate');
      const challengeResponse: ChallengeResponse = {
        status: response.status,
        headers: Object.fromEntries(response.headers),
        challenges: challenge === null ? [] : [challenge],
      };
      if (parsed.dryRun) {
        await response.body?.cancel();
        const quote = await client.quote(url, challengeResponse);
        ctx.json(
          'stdout',
          quote === undefined
            ? { dryRun: true, url: url.href, wouldPay: false, status: 402, reason: 'the 402 carries no L402 challenge' }
            : {
                dryRun: true,
                url: url.href,
                wouldPay: true,
                priceSats: quote.info.priceSats,
                maxFeeSats: quote.info.maxFeeSats,
                paymentHash: quote.info.paymentHash,
                tokenId: quote.info.tokenId,
                invoice: quote.info.invoice,
              },
        );
        return ctx.exit.dryRun;
      }
      if (!(await call.retryAfterChallenge(challengeResponse))) break;
      await response.body?.cancel();
      response = await request();
    }
    if (parsed.dryRun) {
      await response.body?.cancel();
      ctx.json('stdout', { dryRun: true, url: url.href, wouldPay: false, status: response.status, reason: 'no payment was asked for' });
      return ctx.exit.dryRun;
    }
    call.responded({ status: response.status, headers: Object.fromEntries(response.headers) });
    io.stdout.write(new Uint8Array(await response.arrayBuffer()));
    const token = tokenOf(call.authorization);
    const payment = call.authorization !== undefined && /^Payment /i.test(call.authorization);
    const summary = {
      url: url.href,
      status: response.status,
      scheme: payment ? 'Payment' : token !== undefined ? 'L402' : 'none',
      paid: paid !== undefined,
      paidSats: paid?.amountSats ?? 0,
      feeSats: paid?.feeSats ?? 0,
      reusedToken: paid === undefined && token !== undefined,
      ...(token ?? {}),
      ...(payment && paid !== undefined ? { paymentHash: paid.paymentHash } : {}),
      ...(receipt === undefined ? {} : { receipt }),
    };
    const exitCode = exitForStatus(ctx, response.status);
    if (exitCode !== ctx.exit.ok) {
      return ctx.fail(new L402Error('L402_ERR_CLI_HTTP_STATUS', `the server answered ${response.status}`), {
        exitCode,
        fields: { url: url.href, status: response.status, summary },
      });
    }
    if (jsonSummary) ctx.json('stderr', summary);
    else if (paid !== undefined && payment)
      io.stderr.write(
        `aperturecli: paid ${paid.amountSats} sat (fee ${paid.feeSats} sat) for this request (Payment charge ${paid.paymentHash})\n`,
      );
    else if (paid !== undefined)
      io.stderr.write(`aperturecli: paid ${paid.amountSats} sat (fee ${paid.feeSats} sat) for token ${summary.tokenId ?? '?'}\n`);
    return ctx.exit.ok;
  } finally {
    await agent.close();
    await payer?.close?.();
  }
}

/** The `fetch` command. */
export const fetchCommand: CommandSpec = {
  name: 'fetch',
  summary: 'Send an HTTP request, paying an L402 or Payment challenge if one comes back',
  description:
    'Sends an HTTP request and pays an L402 or Payment (MPP charge) challenge (HTTP 402) if one comes back (--scheme picks one when both are offered). The response body is written to stdout; a summary (what was paid, which token was used; never the preimage) to stderr, as JSON when stdout is not a terminal or with --json.',
  args: [{ name: 'url', required: true, description: 'Required: the http or https URL' }],
  flags: [
    { name: 'request', short: 'X', type: 'string', description: 'HTTP method (default GET, or POST with --data)' },
    { name: 'header', short: 'H', type: 'stringArray', description: "Request header 'Name: value'" },
    { name: 'data', short: 'd', type: 'string', description: 'Request body; @FILE reads it from a file' },
    ...PAYER_FLAGS,
    {
      name: 'insecure',
      short: 'k',
      type: 'bool',
      default: 'false',
      description: 'Accept self-signed TLS certificates (server and dev payer)',
    },
    { name: 'timeout', type: 'duration', description: 'Give up after this long (Go duration: 30s, 2m); no limit by default' },
    {
      name: 'dry-run',
      type: 'bool',
      default: 'false',
      description: 'Show what would be paid, pay nothing (exit 10); L402 challenges only',
    },
    {
      name: 'scheme',
      type: 'string',
      default: 'l402',
      description:
        'Scheme to pay when a 402 offers both: l402 (a reusable token) or mpp (a Payment charge for this request); one offered alone is paid either way',
    },
    ...OUTPUT_FLAGS,
  ],
  run,
};
