// The Payment scheme's session refunds through lnd: the program on the fake lnd
// (lnd's real protos) with `paymacaroonpath` pays a closing session's balance to
// the client's amountless return invoice with SendPaymentV2 and `amt`.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { startAperture } from '../../src/app/start-aperture.js';
import { encodePaymentCredential } from '../../src/mpp/payment-credential.js';
import { parsePaymentChallenges, type PaymentChallenge } from '../../src/mpp/payment-challenge.js';
import { decodePaymentReceipt } from '../../src/mpp/payment-receipt.js';
import { FakeLnd } from '../fixtures/fake-lnd.js';
import { h1, startBackend } from '../proxy/support.js';
import { lndFiles } from './lnd-support.js';
import { configFrom, quiet, tempBaseDir, wwwAuthenticate } from './support.js';

test('lnd: a closed session is refunded through SendPaymentV2 with the paymacaroonpath macaroon', async (t) => {
  const wallet = new DevInvoicer({ onWarning: () => undefined });
  const fake = await FakeLnd.start({ payee: async (pr) => (await wallet.pay(pr)).preimage });
  const backend = await startBackend((_req, res) => res.end('ok'));
  const dir = tempBaseDir(t);
  const files = lndFiles(fake, dir);
  const payMacaroon = join(dir, 'admin.macaroon');
  writeFileSync(payMacaroon, fake.macaroon);
  const config = configFrom(
    `
listenaddr: 127.0.0.1:0
insecure: true
${files.yaml}  enablempp: true
  enablesessions: true
  paymacaroonpath: ${payMacaroon}
services:
  - name: api
    hostregexp: '.*'
    address: ${backend.address}
    price: 3
    authscheme: mpp
`,
    dir,
  );
  const aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
  t.after(async () => {
    await aperture.close();
    await backend.close();
    await fake.stop();
    await wallet.close();
  });
  assert.equal(aperture.mpp?.network, 'regtest');

  const res = await h1(`${aperture.url}/x`);
  assert.equal(res.status, 402);
  const session = parsePaymentChallenges(wwwAuthenticate(res.rawHeaders)).find((c) => c.intent === 'session') as PaymentChallenge;
  const request = JSON.parse(Buffer.from(session.request, 'base64url').toString('utf8')) as { paymentHash: string; depositAmount: string };
  assert.equal(request.depositAmount, '60');
  const preimage = fake.invoice(request.paymentHash)?.r_preimage.toString('hex') as string;
  const returnInvoice = await wallet.createInvoice({ amountSats: 0, expirySeconds: 86_400 });
  const auth = (payload: Record<string, unknown>): { authorization: string } => ({
    authorization: `Payment ${encodePaymentCredential({ challenge: session, payload })}`,
  });
  const open = await h1(`${aperture.url}/x`, { headers: auth({ action: 'open', preimage, returnInvoice: returnInvoice.paymentRequest }) });
  assert.equal(open.status, 200, open.body);
  const close = await h1(`${aperture.url}/x`, { headers: auth({ action: 'close', sessionId: request.paymentHash, preimage }) });
  assert.equal(close.status, 200, close.body);
  const receipt = decodePaymentReceipt(close.headers['payment-receipt'] as string);
  assert.equal(receipt['refundSats'], 60 - 2 * 3);
  assert.equal(receipt['refundStatus'], 'succeeded');
  assert.equal((await wallet.lookupInvoice(returnInvoice.paymentHash)).state, 'settled');
  assert.equal(String(fake.lastPaymentRequest?.['amt']), '54', 'paid the balance as amt');
});
