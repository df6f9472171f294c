// A small L402 server for the client tests: node:http + the core Gate + the dev
// Lightning backend, speaking the reference challenge form or only the spec
// form, with switches to misbehave in the ways a client must survive.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gate } from '../../src/core/gate.js';
import { Minter } from '../../src/core/minter.js';
import { Verifier } from '../../src/core/verifier.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { formatChallenge, type ChallengeForm } from '../../src/core/challenge.js';
import type { HeaderList, RequestView } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { createDevPayListener } from '../../src/lightning/dev/dev-pay-listener.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { MppScheme, type MppOffer, type MppRefused, type MppTarget } from '../../src/mpp/mpp-scheme.js';
import { problemFor } from '../../src/mpp/problem.js';
import { MemoryStore } from '../../src/store/memory-store.js';

/** The Payment (MPP) scheme served beside (or instead of) L402. */
export interface TestMppOptions {
  /** `only`: Payment challenges alone; `both`: the L402 line first, then the Payment lines. */
  offer: 'only' | 'both';
  /** Offer the session intent too (its deposit is price × `depositMultiplier`). */
  sessions?: boolean;
  /** Deposit multiplier of sessions; 3 by default, so that a test reaches a top-up quickly. */
  depositMultiplier?: number;
  /** Send the very same Payment challenges (same invoices) to every request, as a caching server would. */
  sameChallenges?: boolean;
}

export interface TestServerOptions {
  form?: ChallengeForm;
  priceSats?: number;
  /** Rewrites the WWW-Authenticate lines of every challenge (dialect tests). */
  rewrite?: (lines: Array<[string, string]>) => Array<[string, string]>;
  /** Pair the macaroon with the invoice of a different payment hash. */
  mismatchedInvoice?: boolean;
  /** Challenge every request, whatever it carries. */
  alwaysChallenge?: boolean;
  /** Open redirects: `/go?to=<url>` answers 302 to `<url>` (redirect tests). */
  openRedirect?: boolean;
  /** Serve the Payment scheme too. */
  mpp?: TestMppOptions;
}

export interface TestServer {
  url: string;
  invoicer: DevInvoicer;
  /** Invoices settled so far (payments made). */
  payments(): number;
  /** Challenges sent so far. */
  challenges(): number;
  /** Requests that reached the protected handler. */
  served(): number;
  /** Authorization headers seen, in order (undefined for none). */
  authorizations: Array<string | undefined>;
  /** Forget every root key: tokens issued so far are rejected from now on. */
  rotate(): void;
  /** Bodies received by the protected handler. */
  bodies: string[];
  options: TestServerOptions;
  /** The client's own Lightning node: it issues session return invoices, and the server's refunds pay them. */
  wallet: DevInvoicer;
  /** Payment-Receipt headers sent, in order. */
  receipts: string[];
  /** The MPP problem types of the 402s sent for a refused Payment credential, in order. */
  refusals: string[];
  /** Closes a session on the server's side, as its idle sweeper would (refunding it). */
  closeSession(id: string): Promise<void>;
  close(): Promise<void>;
}

function view(req: IncomingMessage): RequestView {
  const all = (name: string): string[] => {
    const out: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]?.toLowerCase() === name) out.push(req.rawHeaders[i + 1] ?? '');
    }
    return out;
  };
  return {
    method: req.method ?? 'GET',
    host: req.headers.host ?? '',
    path: req.url ?? '/',
    remoteAddress: req.socket.remoteAddress ?? '',
    header: (name) => all(name)[0],
    headerValues: all,
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const invoicer = new DevInvoicer({ onWarning: () => undefined });
  let payments = 0;
  let challenges = 0;
  let served = 0;
  invoicer.onSettled(() => payments++);
  const build = (): Gate => {
    const secrets = new MemorySecretStore();
    return new Gate({
      minter: new Minter({ invoicer, secrets }),
      verifier: new Verifier({ secrets }),
      challengeForm: options.form ?? 'reference',
    });
  };
  let gate = build();
  const pay = createDevPayListener(invoicer);
  const authorizations: Array<string | undefined> = [];
  const bodies: string[] = [];
  const wallet = new DevInvoicer({ onWarning: () => undefined });
  const mppStore = new MemoryStore();
  const mpp =
    options.mpp === undefined
      ? undefined
      : new MppScheme({
          realm: 'test',
          secret: new Uint8Array(32).fill(7),
          invoicer,
          network: 'regtest',
          charges: mppStore,
          ...(options.mpp.sessions === true
            ? {
                sessions: {
                  store: mppStore,
                  payer: new DevPayer(wallet),
                  decodeInvoice,
                  depositMultiplier: options.mpp.depositMultiplier ?? 3,
                },
              }
            : {}),
        });
  const target: MppTarget = { service: 'quotes', priceSats: options.priceSats ?? 100 };
  let cachedOffers: MppOffer[] | undefined;
  const receipts: string[] = [];
  const refusals: string[] = [];
  const serveMpp = async (request: RequestView, res: ServerResponse, body: string): Promise<boolean> => {
    if (mpp === undefined) return false;
    const verdict = await mpp.verify(request, target);
    if (verdict.kind === 'accepted' && options.alwaysChallenge !== true) {
      served++;
      bodies.push(body);
      for (const [name, value] of mpp.responseHeaders(verdict)) res.setHeader(name, value);
      receipts.push(verdict.receipt);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`paid content for mpp ${verdict.action}\n`);
      return true;
    }
    if (verdict.kind === 'none' && options.mpp?.offer === 'both') return false;
    challenges++;
    const offers = options.mpp?.sameChallenges === true ? (cachedOffers ??= await mpp.offers(target)) : await mpp.offers(target);
    // alwaysChallenge: an accepted credential is answered as if it had been replayed.
    const refused: MppRefused | undefined =
      verdict.kind === 'refused'
        ? verdict
        : verdict.kind === 'accepted'
          ? {
              kind: 'refused',
              code: 'L402_ERR_MPP_REPLAYED',
              problem: problemFor('L402_ERR_MPP_REPLAYED', 'refused by the test server'),
              headers: [],
            }
          : undefined;
    if (refused !== undefined) refusals.push(refused.problem.type);
    const reply = mpp.challengeResponse(offers, refused);
    res.statusCode = reply.status;
    if (options.mpp?.offer === 'both') {
      const l402 = await gate.decide({ ...request, header: () => undefined, headerValues: () => [] }, target);
      for (const [name, value] of l402.headers ?? []) if (name.toLowerCase() === 'www-authenticate') res.appendHeader(name, value);
    }
    for (const [name, value] of reply.headers) res.appendHeader(name, value);
    res.end(reply.body);
    return true;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.url === '/api/dev/pay') {
      pay(req, res);
      return;
    }
    authorizations.push(req.headers.authorization);
    const body = await readBody(req);
    if (options.openRedirect === true && req.url?.startsWith('/go?') === true) {
      const to = new URL(req.url, 'http://x').searchParams.get('to') ?? '/';
      res.writeHead(302, { location: to }).end();
      return;
    }
    if (req.url === '/free') {
      res.end('free\n');
      return;
    }
    if (req.url === '/missing') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const request = view(req);
    if (await serveMpp(request, res, body)) return;
    let decision = await gate.decide(request, { service: 'quotes', priceSats: options.priceSats ?? 100 });
    if (decision.kind === 'allow' && options.alwaysChallenge === true) {
      decision = await gate.decide(
        { ...request, header: () => undefined, headerValues: () => [] },
        { service: 'quotes', priceSats: options.priceSats ?? 100 },
      );
    }
    if (decision.kind === 'allow') {
      served++;
      bodies.push(body);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`paid content for ${decision.token?.tokenId ?? '?'}\n`);
      return;
    }
    let headers: HeaderList = decision.headers;
    if (decision.kind === 'challenge' && mpp !== undefined) {
      // L402 first, then the Payment lines (a fresh charge, and a session when offered).
      challenges++;
      const reply = mpp.challengeResponse(
        options.mpp?.sameChallenges === true ? (cachedOffers ??= await mpp.offers(target)) : await mpp.offers(target),
      );
      res.statusCode = 402;
      for (const [name, value] of headers) if (name.toLowerCase() === 'www-authenticate') res.appendHeader(name, value);
      for (const [name, value] of reply.headers) res.appendHeader(name, value);
      res.end(reply.body);
      return;
    }
    if (decision.kind === 'challenge') {
      challenges++;
      let lines = headers.filter(([n]) => n.toLowerCase() === 'www-authenticate').map(([n, v]) => [n, v] as [string, string]);
      if (options.mismatchedInvoice === true) {
        const other = await invoicer.createInvoice({ amountSats: options.priceSats ?? 100 });
        const macaroon = /(?:macaroon|token)="([^"]+)"/.exec(lines[0]?.[1] ?? '')?.[1] ?? '';
        lines = formatChallenge(macaroon, other.paymentRequest, options.form ?? 'reference').map(([n, v]) => [n, v]);
      }
      if (options.rewrite !== undefined) lines = options.rewrite(lines);
      headers = [...headers.filter(([n]) => n.toLowerCase() !== 'www-authenticate'), ...lines];
    }
    res.statusCode = decision.status;
    for (const [name, value] of headers) res.appendHeader(name, value);
    res.end(decision.body);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    invoicer,
    payments: () => payments,
    challenges: () => challenges,
    served: () => served,
    authorizations,
    bodies,
    options,
    wallet,
    receipts,
    refusals,
    closeSession: async (id) => {
      await mppStore.closeSession(id, Date.now());
    },
    rotate: () => {
      gate = build();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await invoicer.close();
      await wallet.close();
    },
  };
}
