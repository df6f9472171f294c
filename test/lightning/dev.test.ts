import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/core/errors.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import {
  createDevPayHandler,
  createDevPayListener,
  DEFAULT_MAX_UNPAID_DEV_INVOICES,
  DEV_BACKEND_WARNING,
  DevHttpPayer,
  DevInvoicer,
  DevPayer,
} from '../../src/lightning/dev/index.js';
import { isLoopback } from '../../src/lightning/dev/loopback.js';
import { endlessUpload } from '../proxy/endless-body.js';
import { invoicerConformance } from './invoicer.conformance.js';
import { payerConformance, receivedBy } from './payer.conformance.js';
import { TestClock } from '../fixtures/test-clock.js';

const quiet = { onWarning: () => {} };

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

invoicerConformance({
  name: 'DevInvoicer',
  async create() {
    const invoicer = new DevInvoicer(quiet);
    return {
      invoicer,
      settle: async (invoice) => {
        await invoicer.pay(invoice.paymentRequest);
      },
      cleanup: () => invoicer.close(),
    };
  },
});

payerConformance({
  name: 'DevPayer',
  amountless: 'pays',
  async create() {
    const invoicer = new DevInvoicer(quiet);
    return {
      payer: new DevPayer(invoicer),
      issue: (amountSats) => invoicer.createInvoice({ amountSats }),
      received: (hash) => receivedBy(invoicer, hash),
      cleanup: () => invoicer.close(),
    };
  },
});

payerConformance({
  name: 'DevHttpPayer over /api/dev/pay',
  amountless: 'refuses',
  async create() {
    const invoicer = new DevInvoicer(quiet);
    const server = createServer(createDevPayListener(invoicer));
    const base = await listen(server);
    return {
      payer: new DevHttpPayer({ url: `${base}/api/dev/pay` }),
      issue: (amountSats) => invoicer.createInvoice({ amountSats }),
      received: (hash) => receivedBy(invoicer, hash),
      cleanup: async () => {
        await close(server);
        await invoicer.close();
      },
    };
  },
});

describe('DevInvoicer', () => {
  it('keeps its node key in a 0600 file and signs with it across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dev-node-'));
    try {
      const keyFile = join(dir, 'sub', 'dev-node.key');
      const first = new DevInvoicer({ keyFile, ...quiet });
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      const second = new DevInvoicer({ keyFile, ...quiet });
      assert.equal(second.nodePubkey, first.nodePubkey);
      const invoice = await second.createInvoice({ amountSats: 1 });
      assert.equal(decodeInvoice(invoice.paymentRequest).payee, first.nodePubkey);
      assert.notEqual(new DevInvoicer(quiet).nodePubkey, first.nodePubkey);
      assert.match(readFileSync(keyFile, 'utf8'), /^[0-9a-f]{64}\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a key file that does not hold a key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dev-node-'));
    try {
      const keyFile = join(dir, 'dev-node.key');
      writeFileSync(keyFile, 'not a key');
      assert.throws(() => new DevInvoicer({ keyFile, ...quiet }), { code: 'L402_ERR_DEV_KEY_INVALID' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses mainnet and unknown networks with a ConfigError', () => {
    for (const network of ['mainnet', 'bitcoin']) {
      assert.throws(
        () => new DevInvoicer({ network: network as 'regtest', ...quiet }),
        (error: unknown) => error instanceof ConfigError && error.code === 'L402_ERR_CONFIG_INVALID' && /network/.test(error.message),
      );
    }
  });

  it('uses the prefix of each allowed network, regtest by default', async () => {
    const expected = { regtest: 'lnbcrt', testnet: 'lntb', signet: 'lntbs', simnet: 'lnsb' } as const;
    assert.ok((await new DevInvoicer(quiet).createInvoice({ amountSats: 1 })).paymentRequest.startsWith('lnbcrt10n1'));
    for (const [network, prefix] of Object.entries(expected)) {
      const invoicer = new DevInvoicer({ network: network as keyof typeof expected, ...quiet });
      const invoice = await invoicer.createInvoice({ amountSats: 1000 });
      assert.ok(invoice.paymentRequest.startsWith(`${prefix}10u1`), invoice.paymentRequest);
      assert.equal(decodeInvoice(invoice.paymentRequest).network, network);
    }
  });

  it('gives the "not for production" warning, as a process warning by default', async () => {
    const seen: string[] = [];
    const invoicer = new DevInvoicer({ onWarning: (m) => seen.push(m) });
    assert.deepEqual(seen, [DEV_BACKEND_WARNING]);
    assert.match(invoicer.warning, /NOT FOR PRODUCTION/);
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    new DevInvoicer();
    assert.equal((await warned).message, DEV_BACKEND_WARNING);
  });

  it('honours expiry: an expired invoice reports canceled and cannot be paid', async () => {
    const clock = new TestClock(Date.UTC(2030, 0, 1));
    const invoicer = new DevInvoicer({ clock, ...quiet });
    const invoice = await invoicer.createInvoice({ amountSats: 5, expirySeconds: 60 });
    assert.equal(invoice.expiresAt, clock.now() + 60_000);
    clock.advance(59_999);
    assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open');
    clock.advance(1);
    assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'canceled');
    await assert.rejects(invoicer.pay(invoice.paymentRequest), { name: 'PaymentError', code: 'L402_ERR_DEV_INVOICE_EXPIRED', status: 410 });
    // Ten minutes after expiry an unpaid invoice is forgotten.
    clock.advance(10 * 60_000);
    await invoicer.createInvoice({ amountSats: 1 });
    await assert.rejects(invoicer.lookupInvoice(invoice.paymentHash), { code: 'L402_ERR_LN_INVOICE_NOT_FOUND' });
  });

  it('keeps at most maxUnpaidInvoices unpaid invoices, forgetting the oldest; paid ones stay', async () => {
    const invoicer = new DevInvoicer({ maxUnpaidInvoices: 3, ...quiet });
    assert.equal(DEFAULT_MAX_UNPAID_DEV_INVOICES, 10_000);
    assert.throws(() => new DevInvoicer({ maxUnpaidInvoices: 0, ...quiet }), { code: 'L402_ERR_CONFIG_INVALID' });
    const first = await invoicer.createInvoice({ amountSats: 1 });
    const paid = await invoicer.createInvoice({ amountSats: 2 });
    await invoicer.pay(paid.paymentRequest);
    const later = [];
    for (let i = 0; i < 4; i++) later.push(await invoicer.createInvoice({ amountSats: 10 + i }));
    assert.equal(invoicer.unpaidInvoices, 3);
    assert.equal(invoicer.evictedInvoices, 2, 'the first invoice and the oldest of the later ones');
    for (const gone of [first, later[0]]) {
      await assert.rejects(invoicer.lookupInvoice(gone!.paymentHash), { code: 'L402_ERR_LN_INVOICE_NOT_FOUND' });
      await assert.rejects(invoicer.pay(gone!.paymentRequest), { code: 'L402_ERR_DEV_UNKNOWN_INVOICE' });
    }
    assert.equal((await invoicer.lookupInvoice(paid.paymentHash)).state, 'settled', 'a paid invoice is never forgotten');
    for (const kept of later.slice(1)) assert.equal((await invoicer.lookupInvoice(kept.paymentHash)).state, 'open');
    await invoicer.pay(later[1]!.paymentRequest);
    assert.equal(invoicer.unpaidInvoices, 2);
  });

  it('refuses a second payment and an invoice of another node', async () => {
    const invoicer = new DevInvoicer(quiet);
    const other = new DevInvoicer(quiet);
    const invoice = await invoicer.createInvoice({ amountSats: 5 });
    const paid = await invoicer.pay(invoice.paymentRequest);
    await assert.rejects(invoicer.pay(invoice.paymentRequest), { code: 'L402_ERR_DEV_ALREADY_PAID', status: 409 });
    await assert.rejects(other.pay(invoice.paymentRequest), { code: 'L402_ERR_DEV_UNKNOWN_INVOICE', status: 404 });
    assert.equal(paid.feeSats, 0);
  });

  it('pays an amountless invoice the amount the payer chooses, and only that kind of invoice', async () => {
    const invoicer = new DevInvoicer(quiet);
    const payer = new DevPayer(invoicer);
    const open = await invoicer.createInvoice({ amountSats: 0 });
    assert.equal(decodeInvoice(open.paymentRequest).amountMsat, 0n);
    await assert.rejects(payer.payInvoice(open.paymentRequest, { amountSats: 0 }), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
    await assert.rejects(payer.payInvoice(open.paymentRequest, { amountSats: 1.5 }), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
    const paid = await payer.payInvoice(open.paymentRequest, { amountSats: 21 });
    assert.equal(paid.amountSats, 21);
    assert.equal((await invoicer.lookupInvoice(open.paymentHash)).amountPaidSats, 21);
    const priced = await invoicer.createInvoice({ amountSats: 5 });
    await assert.rejects(payer.payInvoice(priced.paymentRequest, { amountSats: 5 }), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
    assert.equal((await invoicer.lookupInvoice(priced.paymentHash)).state, 'open');
    const http = new DevHttpPayer({ url: 'http://127.0.0.1:9/api/dev/pay' });
    await assert.rejects(http.payInvoice(open.paymentRequest, { amountSats: 3 }), { code: 'L402_ERR_PAY_INVALID_INVOICE' });
  });

  it('fails createInvoice with L402_ERR_LN_UNAVAILABLE once closed', async () => {
    const invoicer = new DevInvoicer(quiet);
    await invoicer.close();
    await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_UNAVAILABLE', status: 503 });
    assert.equal(invoicer.health().ok, false);
  });
});

describe('createDevPayHandler', () => {
  it('pays for loopback clients and answers the preimage', async () => {
    const invoicer = new DevInvoicer(quiet);
    const handler = createDevPayHandler(invoicer);
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.5']) {
      const invoice = await invoicer.createInvoice({ amountSats: 9 });
      const answer = await handler({ invoice: invoice.paymentRequest }, address);
      assert.equal(answer.status, 200);
      const body = answer.body as { preimage: string; payment_hash: string; amount_sats: number };
      assert.equal(body.payment_hash, invoice.paymentHash);
      assert.equal(body.amount_sats, 9);
      assert.match(body.preimage, /^[0-9a-f]{64}$/);
    }
  });

  it('refuses non-loopback clients with 403 and pays nothing', async () => {
    const invoicer = new DevInvoicer(quiet);
    const handler = createDevPayHandler(invoicer);
    const invoice = await invoicer.createInvoice({ amountSats: 9 });
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '2001:db8::1', '', '128.0.0.1']) {
      const answer = await handler({ invoice: invoice.paymentRequest }, address);
      assert.equal(answer.status, 403);
      assert.deepEqual((answer.body as { error: { code: string } }).error.code, 'L402_ERR_DEV_FORBIDDEN');
    }
    assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open');
  });

  it('answers coded JSON errors for bad bodies and refused payments', async () => {
    const invoicer = new DevInvoicer(quiet);
    const handler = createDevPayHandler(invoicer);
    const code = (answer: { body: object }) => (answer.body as { error: { code: string } }).error.code;
    for (const body of [undefined, null, 'not json', {}, { invoice: 5 }, '{"invoice":""}']) {
      const answer = await handler(body, '127.0.0.1');
      assert.equal(answer.status, 400);
      assert.equal(code(answer), 'L402_ERR_DEV_BAD_REQUEST');
    }
    const bad = await handler({ invoice: 'lnbcrt1garbage' }, '127.0.0.1');
    assert.equal(bad.status, 400);
    assert.equal(code(bad), 'L402_ERR_PAY_INVALID_INVOICE');
    const invoice = await invoicer.createInvoice({ amountSats: 1 });
    assert.equal((await handler(JSON.stringify({ invoice: invoice.paymentRequest }), '127.0.0.1')).status, 200);
    const twice = await handler({ invoice: invoice.paymentRequest }, '127.0.0.1');
    assert.equal(twice.status, 409);
    assert.equal(code(twice), 'L402_ERR_DEV_ALREADY_PAID');
  });

  it('is served by createDevPayListener over HTTP, POST only', async () => {
    const invoicer = new DevInvoicer(quiet);
    const server = createServer(createDevPayListener(invoicer));
    const base = await listen(server);
    try {
      const get = await fetch(`${base}/api/dev/pay`);
      assert.equal(get.status, 405);
      assert.equal(get.headers.get('allow'), 'POST');
      assert.equal(((await get.json()) as { error: { code: string } }).error.code, 'L402_ERR_DEV_BAD_REQUEST');
      const invoice = await invoicer.createInvoice({ amountSats: 3 });
      const response = await fetch(`${base}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: invoice.paymentRequest }) });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json');
      assert.equal(((await response.json()) as { payment_hash: string }).payment_hash, invoice.paymentHash);
      const big = await fetch(`${base}/api/dev/pay`, { method: 'POST', body: 'x'.repeat(70_000) });
      assert.equal(big.status, 413);
    } finally {
      await close(server);
    }
  });

  it('createDevPayListener refuses requests relayed by a reverse proxy (X-Forwarded-For, Forwarded, X-Real-IP) and pays nothing', async () => {
    const invoicer = new DevInvoicer(quiet);
    const server = createServer(createDevPayListener(invoicer));
    const base = await listen(server);
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 3 });
      const body = JSON.stringify({ invoice: invoice.paymentRequest });
      for (const headers of [
        { 'x-forwarded-for': '203.0.113.9' },
        { forwarded: 'for=203.0.113.9' },
        { 'x-real-ip': '203.0.113.9' },
        { 'X-Forwarded-For': '127.0.0.1' },
      ]) {
        const refused = await fetch(`${base}/api/dev/pay`, { method: 'POST', headers, body });
        assert.equal(refused.status, 403, JSON.stringify(headers));
        assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'L402_ERR_DEV_FORBIDDEN');
      }
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open');
      const paid = await fetch(`${base}/api/dev/pay`, { method: 'POST', body });
      assert.equal(paid.status, 200);
      await paid.json();
    } finally {
      await close(server);
    }
  });

  it('createDevPayListener answers only after afterPay settles, and 500 when it fails', async () => {
    const invoicer = new DevInvoicer(quiet);
    const seen: Array<{ paymentHash: string; amountSats: number }> = [];
    const sentBeforeAfterPayEnded: boolean[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let called: () => void = () => undefined;
    const calledOnce = new Promise<void>((resolve) => {
      called = resolve;
    });
    let failing = false;
    let current: ServerResponse | undefined;
    const listener = createDevPayListener(createDevPayHandler(invoicer), {
      afterPay: async (paid) => {
        seen.push(paid);
        called();
        if (failing) throw new Error('ledger down');
        await gate;
        sentBeforeAfterPayEnded.push(current?.headersSent ?? true);
      },
    });
    const server = createServer((req, res) => {
      current = res;
      listener(req, res);
    });
    const base = await listen(server);
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 7 });
      const pending = fetch(`${base}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: invoice.paymentRequest }) });
      await calledOnce;
      assert.deepEqual(seen, [{ paymentHash: invoice.paymentHash, amountSats: 7 }]);
      release();
      const response = await pending;
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { payment_hash: string }).payment_hash, invoice.paymentHash);
      assert.deepEqual(sentBeforeAfterPayEnded, [false], 'the answer waits for afterPay');

      failing = true;
      const second = await invoicer.createInvoice({ amountSats: 2 });
      const failed = await fetch(`${base}/api/dev/pay`, { method: 'POST', body: JSON.stringify({ invoice: second.paymentRequest }) });
      assert.equal(failed.status, 500);
      assert.equal(((await failed.json()) as { error: { code: string } }).error.code, 'L402_ERR_DEV_PAY_FAILED');
      const refused = await fetch(`${base}/api/dev/pay`, { method: 'POST', body: '{}' });
      assert.equal(refused.status, 400);
      assert.equal(seen.length, 2, 'afterPay runs only for payments');
    } finally {
      await close(server);
    }
  });

  it('recognises loopback addresses', () => {
    assert.equal(isLoopback('127.0.0.1'), true);
    assert.equal(isLoopback('127.255.0.1'), true);
    assert.equal(isLoopback('::1'), true);
    assert.equal(isLoopback('::FFFF:127.0.0.1'), true);
    assert.equal(isLoopback('::ffff:192.168.0.1'), false);
    assert.equal(isLoopback('localhost'), false);
    assert.equal(isLoopback('1.2.3.4'), false);
  });
});

describe('DevHttpPayer', () => {
  it('reports an unreachable server with L402_ERR_PAY_UNAVAILABLE and a refusal with the server code', async () => {
    const invoicer = new DevInvoicer(quiet);
    const server = createServer(createDevPayListener(invoicer));
    const base = await listen(server);
    await close(server);
    const invoice = await invoicer.createInvoice({ amountSats: 3 });
    await assert.rejects(new DevHttpPayer({ url: `${base}/api/dev/pay` }).payInvoice(invoice.paymentRequest), {
      name: 'PaymentError',
      code: 'L402_ERR_PAY_UNAVAILABLE',
    });
    const other = new DevInvoicer(quiet);
    const server2 = createServer(createDevPayListener(other));
    const base2 = await listen(server2);
    try {
      await assert.rejects(new DevHttpPayer({ url: `${base2}/api/dev/pay` }).payInvoice(invoice.paymentRequest), {
        code: 'L402_ERR_DEV_UNKNOWN_INVOICE',
        status: 404,
      });
    } finally {
      await close(server2);
    }
  });

  it('refuses a preimage that does not match the invoice', async () => {
    const invoicer = new DevInvoicer(quiet);
    const liar = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ preimage: '00'.repeat(32) }));
    });
    const base = await listen(liar);
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 3 });
      await assert.rejects(new DevHttpPayer({ url: base }).payInvoice(invoice.paymentRequest), { code: 'L402_ERR_PAY_BAD_PREIMAGE' });
    } finally {
      await close(liar);
    }
  });
});

describe('createDevPayListener and bodies it does not read', () => {
  for (const [name, head, status] of [
    ['over 64 KiB: 413 once the limit is passed', 'POST /api/dev/pay HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n', 413],
    [
      'relayed by a proxy: 403 without reading it',
      'POST /api/dev/pay HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nContent-Length: 10000000000\r\n\r\n',
      403,
    ],
  ] as const) {
    it(`a 10 GB body ${name}, and the connection closed`, async () => {
      const invoicer = new DevInvoicer(quiet);
      const server = createServer(createDevPayListener(invoicer));
      await listen(server);
      try {
        const r = await endlessUpload((server.address() as AddressInfo).port, head, 64 * 1024 * 1024);
        assert.match(r.received, new RegExp(`^HTTP/1\\.1 ${status} `));
        assert.ok(r.closed, `the server read on: ${r.written} bytes sent`);
      } finally {
        await close(server);
      }
    });
  }
});
