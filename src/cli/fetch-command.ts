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
}

function whole(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw usageError(`--${name} must be a whole number of satoshis, got '${value}'`);
  return Number(value);
}

/** The buyer's flags, shared with `mcp serve`. */
export const PAYER_FLAGS: readonly FlagSpec[] = [
  { name: 'max-price', type: 'int64', default: '1000', description: 'Most one invoice may cost, sats' },
  { name: 'max-fee', type: 'int64', default: '10', description: 'Routing fee limit, sats' },
  { name: 'payer', type: 'string', description: "How to pay: dev (the server's /api/dev/pay, dev backends only) or lnd (needs the three --lnd-* flags)" },
  { name: 'lnd-host', type: 'string', description: 'lnd gRPC address HOST:PORT' },
  { name: 'lnd-tls', type: 'string', description: "lnd's tls.cert" },
  { name: 'lnd-macaroon', type: 'string', description: 'A macaroon allowed to send payments (admin.macaroon)' },
  { name: 'token-file', type: 'string', description: 'Keep the token in this single file (reference format)' },
  { name: 'token-dir', type: 'string', description: 'Keep tokens per origin in DIR (default $APERTURECLI_DIR/tokens or ~/.aperturecli/tokens)' },
];

/** The payer settings of the buyer's flags. */
export interface PayerSettings {
  /** Most one invoice may cost. */
  maxPriceSats: number;
  /** Routing fee limit. */
  maxFeeSats: number;
  /** How to pay. */
  payer: 'dev' | 'lnd' | undefined;
  /** lnd's address and credentials. */
  lnd: { host: string; tls: string; macaroon: string } | undefined;
  /** The token store. */
  store: FileTokenStore;
}

/**
 * The buyer's settings from {@link PAYER_FLAGS}.
 * @param v - the flag values
 * @param env - `HOME`, `APERTURECLI_DIR`
 * @returns the settings
 * @throws L402Error `L402_ERR_CLI_USAGE` for a bad value or a missing `--lnd-*` flag
 */
export function payerSettings(v: FlagValues, env: Readonly<Record<string, string | undefined>>): PayerSettings {
  const payer = v.string('payer');
  if (payer !== undefined && payer !== 'dev' && payer !== 'lnd') throw usageError(`--payer must be dev or lnd, got '${payer}'`);
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
  const store = tokenFile !== undefined
    ? new FileTokenStore({ file: tokenFile })
    : new FileTokenStore({ directory: v.string('token-dir') ?? join(base, 'tokens') });
  return {
    maxPriceSats: whole('max-price', v.string('max-price'), 1000),
    maxFeeSats: whole('max-fee', v.string('max-fee'), 10),
    payer,
    lnd,
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
export async function payerFor(settings: PayerSettings, url: URL, send: typeof globalThis.fetch): Promise<(Payer & { close?: () => Promise<void> }) | undefined> {
  if (settings.payer === 'dev') return new DevHttpPayer({ url: new URL('/api/dev/pay', url), fetch: send });
  if (settings.payer === 'lnd' && settings.lnd !== undefined) {
    // Loaded only when asked for: it brings grpc-js and lnd's protos.
    const { LndPayer } = await import('../lightning/lnd/lnd-payer.js');
    return new LndPayer({ host: settings.lnd.host, tlsCertPath: settings.lnd.tls, macaroonPath: settings.lnd.macaroon });
  }
  return undefined;
}

async function parse({ flags: v, args }: Invocation, ctx: CliContext): Promise<FetchArgs> {
  let url: URL;
  try {
    url = new URL(args[0] ?? '');
  } catch {
    throw usageError(`not a URL: '${args[0] ?? ''}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`only http and https URLs are supported, got '${url.protocol}'`);
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
  return {
    url,
    method,
    headers,
    body,
    ...payerSettings(v, ctx.io.env),
    insecure: v.bool('insecure'),
    dryRun: v.bool('dry-run'),
    timeoutMs: v.durationMs('timeout'),
  };
}

/** Token ID and payment hash of the token in an `Authorization` value (never the preimage). */
function tokenOf(authorization: string | undefined): { tokenId: string; paymentHash: string } | undefined {
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
      ...(init as Parameters<typeof undiciFetch>[1]), dispatcher: agent, ...(signal === undefined ? {} : { signal }),
    }) as unknown as Promise<Response>;
  let payer: (Payer & { close?: () => Promise<void> }) | undefined;
  try {
    payer = await payerFor(parsed, url, send);
    let paid: PaymentResult | undefined;
    const client = new L402Client({
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
      ctx.json('stdout', { dryRun: true, url: url.href, wouldPay: false, reason: 'a stored token would be sent', ...tokenOf(call.authorization) });
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
        ctx.json('stdout', quote === undefined
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
            });
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
    io.stdout.write(new Uint8Array(await response.arrayBuffer()));
    const token = tokenOf(call.authorization);
    const summary = {
      url: url.href,
      status: response.status,
      paid: paid !== undefined,
      paidSats: paid?.amountSats ?? 0,
      feeSats: paid?.feeSats ?? 0,
      reusedToken: paid === undefined && token !== undefined,
      ...(token ?? {}),
    };
    const exitCode = exitForStatus(ctx, response.status);
    if (exitCode !== ctx.exit.ok) {
      return ctx.fail(new L402Error('L402_ERR_CLI_HTTP_STATUS', `the server answered ${response.status}`), { exitCode, fields: { url: url.href, status: response.status, summary } });
    }
    if (jsonSummary) ctx.json('stderr', summary);
    else if (paid !== undefined) io.stderr.write(`aperturecli: paid ${paid.amountSats} sat (fee ${paid.feeSats} sat) for token ${summary.tokenId ?? '?'}\n`);
    return ctx.exit.ok;
  } finally {
    await agent.close();
    await payer?.close?.();
  }
}

/** The `fetch` command. */
export const fetchCommand: CommandSpec = {
  name: 'fetch',
  summary: 'Send an HTTP request, paying an L402 challenge if one comes back',
  description: 'Sends an HTTP request and pays an L402 challenge (HTTP 402) if one comes back. The response body is written to stdout; a summary (what was paid, which token was used; never the preimage) to stderr, as JSON when stdout is not a terminal or with --json.',
  args: [{ name: 'url', required: true, description: 'Required: the http or https URL' }],
  flags: [
    { name: 'request', short: 'X', type: 'string', description: 'HTTP method (default GET, or POST with --data)' },
    { name: 'header', short: 'H', type: 'stringArray', description: "Request header 'Name: value'" },
    { name: 'data', short: 'd', type: 'string', description: 'Request body; @FILE reads it from a file' },
    ...PAYER_FLAGS,
    { name: 'insecure', short: 'k', type: 'bool', default: 'false', description: 'Accept self-signed TLS certificates (server and dev payer)' },
    { name: 'timeout', type: 'duration', description: 'Give up after this long (Go duration: 30s, 2m); no limit by default' },
    { name: 'dry-run', type: 'bool', default: 'false', description: 'Show what would be paid, pay nothing (exit 10)' },
    ...OUTPUT_FLAGS,
  ],
  run,
};
