// The gRPC client interceptor paying Payment (MPP) challenges: a grpc-js server
// whose handler checks the `authorization` metadata with an MppScheme and, when
// it is missing or refused, ends the call trailers-only with status 13 and the
// Payment lines (as the adapters do for L402). Charges are paid per call and
// sent as `Payment …` metadata; a session opens once, its bearer is reused and,
// with no body to name the problem, the top-up comes from the balance the
// client counted; the receipt arrives in the response metadata.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { grpcL402ClientInterceptor } from '../../src/client/grpc-l402-client-interceptor.js';
import { L402Client } from '../../src/client/l402-client.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import { MppScheme } from '../../src/mpp/mpp-scheme.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { deferCleanup } from '../fixtures/cleanup.js';
import { QuotesClient, quotesService, type AnyQuotesClient } from './l402-grpc-test-server.js';

const quiet = { onWarning: (): void => undefined };
const PRICE = 7;

async function startServer(
  sessions: boolean,
): Promise<{ address: string; invoicer: DevInvoicer; wallet: DevInvoicer; seen: string[]; close(): Promise<void> }> {
  const invoicer = new DevInvoicer(quiet);
  const wallet = new DevInvoicer(quiet);
  const store = new MemoryStore();
  const scheme = new MppScheme({
    realm: 'grpc-test',
    secret: new Uint8Array(32).fill(3),
    invoicer,
    network: 'regtest',
    charges: store,
    ...(sessions ? { sessions: { store, payer: new DevPayer(wallet), decodeInvoice, depositMultiplier: 3 } } : {}),
  });
  const target = { service: 'quotes', priceSats: PRICE, intents: sessions ? (['session'] as const) : (['charge'] as const) };
  const seen: string[] = [];
  const server = new grpc.Server();
  const unimplemented = (_call: unknown, cb: grpc.sendUnaryData<unknown>): void => cb({ code: grpc.status.UNIMPLEMENTED });
  server.addService(quotesService, {
    get: (call: grpc.ServerUnaryCall<{ n: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      void (async () => {
        const values = call.metadata.get('authorization').map(String);
        const verdict = await scheme.verify({ headerValues: (name) => (name === 'authorization' ? values : []) }, target);
        seen.push(verdict.kind === 'accepted' ? verdict.action : verdict.kind === 'refused' ? verdict.code : 'none');
        if (verdict.kind === 'accepted') {
          const md = new grpc.Metadata();
          for (const [name, value] of scheme.responseHeaders(verdict)) md.set(name.toLowerCase(), value);
          call.sendMetadata(md);
          cb(null, { echo: call.request.n, text: `paid content for mpp ${verdict.action}` });
          return;
        }
        const trailers = new grpc.Metadata();
        for (const offer of await scheme.offers(target)) trailers.add('www-authenticate', offer.header);
        cb({ code: grpc.status.INTERNAL, details: 'payment required', metadata: trailers });
      })();
    },
    list: unimplemented,
    collect: unimplemented,
    chat: unimplemented,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    invoicer,
    wallet,
    seen,
    close: async () => {
      server.forceShutdown();
      await invoicer.close();
      await wallet.close();
    },
  };
}

const servers: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

function get(client: AnyQuotesClient): Promise<string> {
  return new Promise((resolve, reject) => {
    client['get']!({ n: 1 }, (error: grpc.ServiceError | null, reply: { text: string }) =>
      error === null ? resolve(reply.text) : reject(error),
    );
  });
}

test('gRPC: a Payment charge is paid per call, sent in the authorization metadata, and its receipt read', async (t) => {
  const s = await startServer(false);
  servers.push(s);
  const receipts: Array<Readonly<Record<string, unknown>>> = [];
  const interceptor = grpcL402ClientInterceptor({
    payer: new DevPayer(s.invoicer),
    origin: `grpc://${s.address}`,
    mpp: { onReceipt: (r) => receipts.push(r) },
  });
  const client = new QuotesClient(s.address, grpc.credentials.createInsecure(), { interceptors: [interceptor] }) as AnyQuotesClient;
  deferCleanup(t, () => client.close());
  assert.equal(await get(client), 'paid content for mpp charge');
  assert.equal(await get(client), 'paid content for mpp charge');
  assert.deepEqual(s.seen, ['none', 'charge', 'none', 'charge']);
  assert.equal(receipts.length, 2);
  assert.equal(receipts[0]?.['method'], 'lightning');
});

test('gRPC: a session opens once, its bearer is reused, it is topped up from the counted balance, and closes with a refund', async (t) => {
  const s = await startServer(true);
  servers.push(s);
  const shared = new L402Client({ payer: new DevPayer(s.invoicer), maxFeeSats: 0, mpp: { sessions: { invoicer: s.wallet } } });
  const interceptor = grpcL402ClientInterceptor(shared);
  const client = new QuotesClient(s.address, grpc.credentials.createInsecure(), { interceptors: [interceptor] }) as AnyQuotesClient;
  deferCleanup(t, () => client.close());
  // Deposit 3 × 7: open and two bearers use it up, the fourth call tops up (21 more; 14 left after it).
  assert.equal(await get(client), 'paid content for mpp open');
  assert.equal(await get(client), 'paid content for mpp bearer');
  assert.equal(await get(client), 'paid content for mpp bearer');
  assert.equal(await get(client), 'paid content for mpp topUp');
  assert.deepEqual(s.seen, ['none', 'open', 'bearer', 'bearer', 'L402_ERR_MPP_INSUFFICIENT_BALANCE', 'topUp']);
  assert.equal(shared.spent().totalSats, 6 * PRICE);
  const refunds: number[] = [];
  s.wallet.onSettled((status) => refunds.push(status.amountPaidSats ?? 0));
  // The close goes out on a call of its own, with the close credential as metadata.
  const result = await shared.closeSession('grpc://default', (authorization) => {
    const md = new grpc.Metadata();
    md.set('authorization', authorization);
    return new Promise((resolve) => {
      const headers: Record<string, string> = {};
      const call = client['get']!({ n: 1 }, md, (error: grpc.ServiceError | null) =>
        resolve({ status: error === null ? 200 : 500, headers }),
      );
      (call as grpc.ClientUnaryCall).on('metadata', (m: grpc.Metadata) => {
        for (const [name, value] of Object.entries(m.toJSON())) headers[name] = value.map(String).join(', ');
      });
    });
  });
  assert.equal(result?.refundStatus, 'succeeded');
  assert.equal(result?.refundSats, PRICE);
  assert.deepEqual(refunds, [PRICE]);
});
