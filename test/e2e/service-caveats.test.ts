// A service's `capabilities`, `timeout` and `constraints` end to end: the caveats in the
// challenge's macaroon, the paid token accepted on its own service and challenged on another.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Macaroon } from '../../src/core/macaroon.js';
import { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, quiet, removeDir, tempBaseDir, wwwAuthenticate } from './support.js';
import { TestClock } from '../fixtures/test-clock.js';

describe('service caveats through aperture', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const clock = new TestClock(Date.now());

  const baseDir = tempBaseDir();
  before(async () => {
    backend = await startBackend((req, res) => res.end(`ok ${req.url}`));
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: alpha
    pathregexp: '^/alpha'
    address: ${backend.address}
    price: 7
    timeout: 3600
    capabilities: 'read, write'
    constraints:
      tier: gold
      max_size: '100'
  - name: beta
    pathregexp: '^/beta'
    address: ${backend.address}
    price: 2
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, clock, gcIntervalMs: 0, defaultMetrics: false });
  });

  after(async () => {
    await aperture.close();
    await backend.close();
    removeDir(baseDir);
  });

  async function challenge(path: string): Promise<{ macaroon: string; invoice: string }> {
    const res = await h1(`${aperture.url}${path}`);
    assert.equal(res.status, 402);
    return challengeOf(wwwAuthenticate(res.rawHeaders));
  }

  test('the challenge macaroon carries services, capabilities, valid_until = now + timeout, then the constraints', async () => {
    const mintedAt = clock.now();
    const { macaroon } = await challenge('/alpha/x');
    const caveats = Macaroon.fromBase64(macaroon).firstPartyCaveats();
    assert.deepEqual(caveats, [
      'services=alpha:0',
      'alpha_capabilities=read,write',
      `alpha_valid_until=${Math.floor(mintedAt / 1000) + 3600}`,
      'tier=gold',
      'max_size=100',
    ]);
    // A service without capabilities, timeout or constraints adds nothing but its services caveat.
    const beta = await challenge('/beta/x');
    assert.deepEqual(Macaroon.fromBase64(beta.macaroon).firstPartyCaveats(), ['services=beta:0']);
  });

  test('a paid token of alpha works on alpha until valid_until, and is challenged on beta', async () => {
    const { macaroon, invoice } = await challenge('/alpha/x');
    const { preimage } = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
    const authorization = `L402 ${macaroon}:${preimage}`;
    const ok = await h1(`${aperture.url}/alpha/x`, { headers: { authorization } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'ok /alpha/x');

    const other = await h1(`${aperture.url}/beta/x`, { headers: { authorization } });
    assert.equal(other.status, 402);
    const fresh = challengeOf(wwwAuthenticate(other.rawHeaders));
    assert.deepEqual(Macaroon.fromBase64(fresh.macaroon).firstPartyCaveats(), ['services=beta:0']);

    clock.advance(3599_000);
    assert.equal((await h1(`${aperture.url}/alpha/x`, { headers: { authorization } })).status, 200);
    clock.advance(2_000);
    assert.equal((await h1(`${aperture.url}/alpha/x`, { headers: { authorization } })).status, 402);
  });

  test('a constraint appended with another value (max_size=999999 after max_size=100) gets a fresh challenge', async () => {
    const { macaroon, invoice } = await challenge('/alpha/x');
    const { preimage } = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
    const widened = Macaroon.fromBase64(macaroon).withFirstPartyCaveat('max_size=999999').toBase64();
    const res = await h1(`${aperture.url}/alpha/x`, { headers: { authorization: `L402 ${widened}:${preimage}` } });
    assert.equal(res.status, 402);
    const fresh = challengeOf(wwwAuthenticate(res.rawHeaders));
    assert.notEqual(fresh.macaroon, macaroon);
    // Repeating the minted value narrows nothing and widens nothing: still accepted.
    const same = Macaroon.fromBase64(macaroon).withFirstPartyCaveat('max_size=100').toBase64();
    const ok = await h1(`${aperture.url}/alpha/x`, { headers: { authorization: `L402 ${same}:${preimage}` } });
    assert.equal(ok.status, 200);
  });
});
