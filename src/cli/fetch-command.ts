/**
 * `aperturecli fetch <url>`: an HTTP request that pays L402 challenges, like
 * `curl` with a Lightning wallet. The body goes to stdout; a summary (what was
 * paid, which token was used; never the preimage) goes to stderr, as JSON when
 * stdout is not a terminal or with `--json`.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { L402Client, type ChallengeResponse } from '../client/l402-client.js';
import { FileTokenStore } from '../client/file-token-store.js';
import { decodeIdentifier } from '../core/identifier.js';
import { Macaroon } from '../core/macaroon.js';
import type { Payer, PaymentResult } from '../core/types.js';
import { DevHttpPayer } from '../lightning/dev/dev-http-payer.js';
import type { CliCommand, CliContext } from './aperturecli.js';

const USAGE = `usage: aperturecli fetch <url> [options]

Sends an HTTP request and pays an L402 challenge (HTTP 402) if one comes back.
The response body is written to stdout; a summary to stderr (JSON when stdout
is not a terminal, or with --json).

options:
  -X, --request METHOD     HTTP method (default GET, or POST with --data)
  -H, --header 'K: V'      request header; repeatable
  -d, --data DATA          request body; @FILE reads it from a file
      --max-price SATS     most one invoice may cost (default 1000)
      --max-fee SATS       routing fee limit (default 10)
      --payer dev|lnd|cln|lnbits|phoenixd|nwc
                           how to pay: dev = the server's /api/dev/pay (dev backends
                           only), lnd = your lnd node (needs the three --lnd-* options),
                           cln, lnbits, phoenixd = your node or wallet over HTTP
                           (needs --payer-url and --payer-secret-file), nwc = a wallet
                           through Nostr Wallet Connect (--payer-secret-file holds the
                           nostr+walletconnect:// URI)
      --lnd-host HOST:PORT lnd gRPC address
      --lnd-tls PATH       lnd's tls.cert
      --lnd-macaroon PATH  a macaroon allowed to send payments (admin.macaroon)
      --payer-url URL      clnrest, LNbits or phoenixd URL
      --payer-secret-file PATH
                           file holding the rune (cln), admin key (lnbits),
                           http-password (phoenixd) or connection URI (nwc); kept out
                           of the command line
      --payer-ca PATH      CA certificate (PEM) of the payer's https URL (clnrest's ca.pem)
      --token-file PATH    keep the token in this single file (reference format)
      --token-dir DIR      keep tokens per origin in DIR
                           (default $APERTURECLI_DIR/tokens or ~/.aperturecli/tokens)
  -k, --insecure           accept self-signed TLS certificates (server and dev payer)
      --json               JSON summary even on a terminal
      --dry-run            show what would be paid, pay nothing (exit 10)
  -h, --help               this text

exit codes: 0 ok, 1 other HTTP error, 2 invalid arguments, 3 connection failed,
4 payment refused/failed or 401/402/403, 5 not found (404/410), 10 dry run passed.
`;

interface FetchArgs {
  url: URL;
  method: string;
  headers: Array<[string, string]>;
  body: Buffer | undefined;
  maxPriceSats: number;
  maxFeeSats: number;
  payer: 'dev' | 'lnd' | HttpPayerKind | undefined;
  lnd: { host: string; tls: string; macaroon: string } | undefined;
  http: { url: string; secretFile: string; ca: string | undefined } | undefined;
  store: FileTokenStore;
  insecure: boolean;
  json: boolean;
  dryRun: boolean;
}

function whole(ctx: CliContext, name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw ctx.usageError(`--${name} must be a whole number of satoshis, got '${value}'`);
  return Number(value);
}

async function parse(args: readonly string[], ctx: CliContext): Promise<FetchArgs | 'help'> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        request: { type: 'string', short: 'X' },
        header: { type: 'string', short: 'H', multiple: true },
        data: { type: 'string', short: 'd' },
        'max-price': { type: 'string' },
        'max-fee': { type: 'string' },
        payer: { type: 'string' },
        'lnd-host': { type: 'string' },
        'lnd-tls': { type: 'string' },
        'lnd-macaroon': { type: 'string' },
        'payer-url': { type: 'string' },
        'payer-secret-file': { type: 'string' },
        'payer-ca': { type: 'string' },
        'token-file': { type: 'string' },
        'token-dir': { type: 'string' },
        insecure: { type: 'boolean', short: 'k' },
        json: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw ctx.usageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  if (parsed.positionals.length !== 1) throw ctx.usageError('fetch takes exactly one URL; see aperturecli fetch --help');
  let url: URL;
  try {
    url = new URL(parsed.positionals[0] ?? '');
  } catch {
    throw ctx.usageError(`not a URL: '${parsed.positionals[0] ?? ''}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw ctx.usageError(`only http and https URLs are supported, got '${url.protocol}'`);
  const headers: Array<[string, string]> = [];
  for (const line of v.header ?? []) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw ctx.usageError(`bad header '${line}'; use -H 'Name: value'`);
    headers.push([name, line.slice(colon + 1).trim()]);
  }
  let body: Buffer | undefined;
  if (v.data !== undefined) {
    if (v.data.startsWith('@')) {
      try {
        body = await readFile(v.data.slice(1));
      } catch (error) {
        throw ctx.usageError(`cannot read --data file: ${(error as Error).message}`);
      }
    } else {
      body = Buffer.from(v.data, 'utf8');
    }
  }
  const method = (v.request ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw ctx.usageError(`bad method '${method}'`);
  const payer = v.payer;
  const httpKind = HTTP_PAYERS.find((kind) => kind === payer);
  if (payer !== undefined && payer !== 'dev' && payer !== 'lnd' && httpKind === undefined) {
    throw ctx.usageError(`--payer must be dev, lnd, ${HTTP_PAYERS.join(', ')}, got '${payer}'`);
  }
  let http: FetchArgs['http'];
  if (httpKind !== undefined) {
    const needed = httpKind === 'nwc' ? (['payer-secret-file'] as const) : (['payer-url', 'payer-secret-file'] as const);
    const missing = needed.filter((k) => v[k] === undefined);
    if (missing.length > 0) throw ctx.usageError(`--payer ${httpKind} needs ${missing.map((m) => `--${m}`).join(', ')}`);
    if (httpKind === 'nwc' && (v['payer-url'] !== undefined || v['payer-ca'] !== undefined)) {
      throw ctx.usageError('--payer nwc takes its relay from the connection URI in --payer-secret-file; drop --payer-url and --payer-ca');
    }
    const payerUrl = v['payer-url'] ?? '';
    if (httpKind !== 'nwc' && !/^https?:\/\/[^/?#]+/.test(payerUrl)) throw ctx.usageError(`--payer-url must be an http:// or https:// URL, got '${payerUrl}'`);
    http = { url: payerUrl, secretFile: v['payer-secret-file'] ?? '', ca: v['payer-ca'] };
  } else {
    for (const k of ['payer-url', 'payer-secret-file', 'payer-ca'] as const) {
      if (v[k] !== undefined) throw ctx.usageError(`--${k} only goes with --payer ${HTTP_PAYERS.join('|')}`);
    }
  }
  let lnd: FetchArgs['lnd'];
  if (payer === 'lnd') {
    const missing = (['lnd-host', 'lnd-tls', 'lnd-macaroon'] as const).filter((k) => v[k] === undefined);
    if (missing.length > 0) throw ctx.usageError(`--payer lnd needs ${missing.map((m) => `--${m}`).join(', ')}`);
    lnd = { host: v['lnd-host'] ?? '', tls: v['lnd-tls'] ?? '', macaroon: v['lnd-macaroon'] ?? '' };
  }
  if (v['token-file'] !== undefined && v['token-dir'] !== undefined) throw ctx.usageError('use --token-file or --token-dir, not both');
  const base = ctx.io.env['APERTURECLI_DIR'] ?? join(ctx.io.env['HOME'] ?? homedir(), '.aperturecli');
  const store = v['token-file'] !== undefined
    ? new FileTokenStore({ file: v['token-file'] })
    : new FileTokenStore({ directory: v['token-dir'] ?? join(base, 'tokens') });
  return {
    url,
    method,
    headers,
    body,
    maxPriceSats: whole(ctx, 'max-price', v['max-price'], 1000),
    maxFeeSats: whole(ctx, 'max-fee', v['max-fee'], 10),
    payer: httpKind ?? (payer as 'dev' | 'lnd' | undefined),
    lnd,
    http,
    store,
    insecure: v.insecure === true,
    json: v.json === true,
    dryRun: v['dry-run'] === true,
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

async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const parsed = await parse(args, ctx);
  if (parsed === 'help') {
    ctx.io.stdout.write(USAGE);
    return ctx.exit.ok;
  }
  const { url, io } = { url: parsed.url, io: ctx.io };
  const jsonSummary = parsed.json || io.stdout.isTTY !== true;
  const agent = new Agent({ connect: { rejectUnauthorized: !parsed.insecure } });
  const send: typeof globalThis.fetch = (input, init) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher: agent }) as unknown as Promise<Response>;
  let payer: (Payer & { close?: () => Promise<void> }) | undefined;
  try {
    if (parsed.payer === 'dev') {
      payer = new DevHttpPayer({ url: new URL('/api/dev/pay', url), fetch: send });
    } else if (parsed.payer === 'lnd' && parsed.lnd !== undefined) {
      // Loaded only when asked for: it brings grpc-js and lnd's protos.
      const { LndPayer } = await import('../lightning/lnd/lnd-payer.js');
      payer = new LndPayer({ host: parsed.lnd.host, tlsCertPath: parsed.lnd.tls, macaroonPath: parsed.lnd.macaroon });
    } else if (parsed.http !== undefined && parsed.payer !== undefined && parsed.payer !== 'lnd') {
      payer = await httpPayer(parsed.payer, parsed.http, ctx);
    }
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
      ctx.json('stderr', { error: { code: 'L402_ERR_CLI_HTTP_STATUS', message: `the server answered ${response.status}`, exitCode, status: response.status, summary } });
      return exitCode;
    }
    if (jsonSummary) ctx.json('stderr', summary);
    else if (paid !== undefined) io.stderr.write(`aperturecli: paid ${paid.amountSats} sat (fee ${paid.feeSats} sat) for token ${summary.tokenId ?? '?'}\n`);
    return ctx.exit.ok;
  } finally {
    await agent.close();
    await payer?.close?.();
  }
}

/** The `fetch` subcommand. */
export const fetchCommand: CliCommand = {
  name: 'fetch',
  summary: 'send an HTTP request, paying an L402 challenge if one comes back',
  usage: USAGE,
  run,
};

/** The payers reached over HTTP. */
const HTTP_PAYERS = ['cln', 'lnbits', 'phoenixd', 'nwc'] as const;
type HttpPayerKind = (typeof HTTP_PAYERS)[number];

/** Builds the HTTP payer, reading its secret and CA files (a usage error when unreadable). */
async function httpPayer(kind: HttpPayerKind, http: NonNullable<FetchArgs['http']>, ctx: CliContext): Promise<Payer & { close: () => Promise<void> }> {
  const read = async (path: string, what: string): Promise<string> => {
    let text: string;
    try {
      text = (await readFile(path, 'utf8')).trim();
    } catch (error) {
      throw ctx.usageError(`cannot read ${what} ${path}: ${(error as Error).message}`);
    }
    if (text === '') throw ctx.usageError(`${what} ${path} is empty`);
    return text;
  };
  const secret = await read(http.secretFile, '--payer-secret-file');
  const caCert = http.ca === undefined ? undefined : await read(http.ca, '--payer-ca');
  const common = { url: http.url, ...(caCert !== undefined ? { caCert } : {}) };
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
        if ((error as { code?: string }).code === 'L402_ERR_LN_CREDENTIALS') throw ctx.usageError(`--payer-secret-file ${http.secretFile}: ${(error as Error).message}`);
        throw error;
      }
    }
  }
}
