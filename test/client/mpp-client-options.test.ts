// The Payment options of the client engine: bad values are ConfigErrors naming
// the option; the deposit cap and the mpp.beforePay veto refuse before paying;
// closing a session the server will not close is a coded error.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { L402Client } from '../../src/client/l402-client.js';
import { wrapFetch } from '../../src/client/wrap-fetch.js';
import { ConfigError, L402Error } from '../../src/core/errors.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startTestServer, type TestServer } from './l402-test-server.js';

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function server(options: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}
const codeOf = (code: string) => (e: unknown) => e instanceof L402Error && e.code === code;

test('bad Payment options are a ConfigError naming each', () => {
  assert.throws(
    () => new L402Client({ preferScheme: 'x402' as 'mpp', mpp: { sessions: { invoicer: {} as never, maxDepositSats: -1 } } }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(
        e.issues.map((i) => i.path),
        ['preferScheme', 'mpp.sessions.invoicer', 'mpp.sessions.maxDepositSats'],
      );
      return true;
    },
  );
});

test('a deposit above sessions.maxDepositSats, and a payment mpp.beforePay refuses, are not paid', async () => {
  const s = await server({ priceSats: 10, mpp: { offer: 'only', sessions: true, depositMultiplier: 5 } });
  const capped = wrapFetch(fetch, { payer: new DevPayer(s.invoicer), mpp: { sessions: { invoicer: s.wallet, maxDepositSats: 49 } } });
  await assert.rejects(capped(`${s.url}/quote`), codeOf('L402_ERR_CLIENT_BUDGET_EXCEEDED'));
  const seen: string[] = [];
  const vetoed = wrapFetch(fetch, {
    payer: new DevPayer(s.invoicer),
    mpp: {
      beforePay: (info) => {
        seen.push(`${info.action} ${info.invoiceSats} ${info.unitSats}`);
        return false;
      },
    },
  });
  await assert.rejects(vetoed(`${s.url}/quote`), codeOf('L402_ERR_CLIENT_PAYMENT_VETOED'));
  assert.deepEqual(seen, ['charge 10 10']);
  assert.equal(s.payments(), 0);
});

test('closing a session the server refuses to close is L402_ERR_CLIENT_CREDENTIAL_REFUSED, and the session is forgotten', async () => {
  const s = await server({ priceSats: 10, mpp: { offer: 'only', sessions: true } });
  const client = new L402Client({ payer: new DevPayer(s.invoicer), mpp: { sessions: { invoicer: s.wallet } } });
  const response = await wrapFetch(fetch, client)(`${s.url}/quote`);
  assert.equal(await response.text(), 'paid content for mpp open\n');
  const url = `${s.url}/quote`;
  await assert.rejects(
    client.closeSession(url, async () => ({ status: 402, headers: new Headers() })),
    codeOf('L402_ERR_CLIENT_CREDENTIAL_REFUSED'),
  );
  assert.equal(client.sessionId(url), undefined);
});
