// `aperturecli mcp serve` end to end: the MCP SDK's client spawns the real CLI
// (bin/aperturecli.js) over stdio, lists the tools, calls each admin tool
// against our AdminApi (h2c), gets tool errors for bad input and server
// refusals, and buys from a dev-backend aperture with the fetch tool: one
// payment, then the token is reused; quote pays nothing. The buyer tools also
// pay through an HTTP payer (--payer lnbits with --payer-url and
// --payer-secret-file, against the LNbits test fake).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { hex32, startAdminServer, type AdminServer } from '../admin/support.js';
import { configFrom, quiet, removeDir, repoRoot, tempBaseDir } from '../e2e/support.js';
import { startBackend } from '../proxy/support.js';
import { FakeLnbits } from '../fixtures/fake-lnbits.js';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { startTestServer } from '../client/l402-test-server.js';

type ToolAnswer = { isError?: boolean; content: Array<{ type: string; text?: string }> };

function payload(answer: unknown): Record<string, unknown> {
  const first = (answer as ToolAnswer).content[0];
  return JSON.parse(first?.text ?? 'null') as Record<string, unknown>;
}

/** A dev-backend aperture in `dir` selling `/api/` of `backendAddress` at 21 sat. */
function startPaidApi(backendAddress: string, dir: string): Promise<RunningAperture> {
  const yaml = `listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: api
    hostregexp: '.*'
    pathregexp: '^/api/'
    address: ${backendAddress}
    price: 21
`;
  return startAperture(configFrom(yaml, dir), { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
}

/**
 * The MCP SDK's client over stdio to `aperturecli mcp serve <args>`, with HOME
 * set to `home`; the CLI's stderr goes to `onStderr`.
 */
async function connectMcp(args: readonly string[], home: string, onStderr?: (text: string) => void): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(repoRoot, 'bin', 'aperturecli.js'), 'mcp', 'serve', ...args],
    env: { PATH: process.env['PATH'] ?? '', HOME: home },
    stderr: 'pipe',
  });
  if (onStderr !== undefined) transport.stderr?.on('data', (chunk: Buffer) => onStderr(chunk.toString('utf8')));
  const client = new Client({ name: 'aperture-ts-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

describe('aperturecli mcp serve over stdio, driven by the MCP SDK client', () => {
  let admin: AdminServer;
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let client: Client;
  let stderr = '';
  let settlements = 0;
  let dir: string;
  const tokenId = hex32();

  before(async () => {
    dir = tempBaseDir('aperturecli-mcp-');
    admin = await startAdminServer({
      kind: 'memory',
      servicesYaml: "services:\n  - name: quotes\n    pathregexp: '^/quotes'\n    address: 127.0.0.1:9\n    price: 5\n",
    });
    await admin.store.recordChallenge({
      tokenId,
      paymentHash: hex32(),
      service: 'quotes',
      priceSats: 5,
      authType: 'l402',
      createdAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
    });
    backend = await startBackend((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, authorized: req.headers.authorization !== undefined }));
    });
    aperture = await startPaidApi(backend.address, join(dir, 'aperture'));
    aperture.invoicer?.onSettled(() => settlements++);
    client = await connectMcp(
      [
        '--host',
        `127.0.0.1:${admin.port}`,
        '--insecure',
        '--macaroon',
        admin.macaroonPath,
        '--payer',
        'dev',
        '--token-dir',
        join(dir, 'tokens'),
        '--max-price',
        '50',
        '--budget',
        '100',
      ],
      dir,
      (text) => {
        stderr += text;
      },
    );
  });

  after(async () => {
    await client?.close();
    await aperture?.close();
    await backend?.close();
    await admin?.close();
    if (dir !== undefined) removeDir(dir);
  });

  test("lists the reference's ten admin tools and the two buyer tools, each with a JSON-schema input", async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [
      'create_service',
      'delete_service',
      'fetch',
      'get_health',
      'get_info',
      'get_stats',
      'list_services',
      'list_tokens',
      'list_transactions',
      'quote',
      'revoke_token',
      'update_service',
    ]);
    const create = tools.find((t) => t.name === 'create_service');
    assert.equal(create?.inputSchema.type, 'object');
    assert.deepEqual([...(create?.inputSchema.required ?? [])].sort(), ['address', 'name', 'price']);
    assert.ok(Object.keys(create?.inputSchema.properties ?? {}).includes('auth_scheme'));
    for (const tool of tools) assert.ok((tool.description ?? '').length > 10, tool.name);
  });

  test('calls every admin tool', async () => {
    const call = async (name: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
      const answer = await client.callTool({ name, arguments: args });
      assert.notEqual((answer as ToolAnswer).isError, true, `${name}: ${JSON.stringify(answer)}`);
      return payload(answer);
    };
    assert.equal((await call('get_info'))['network'], 'regtest');
    assert.equal(typeof (await call('get_health'))['status'], 'string');
    assert.deepEqual(
      ((await call('list_services'))['services'] as Array<Record<string, unknown>>).map((s) => s['name']),
      ['quotes'],
    );
    const dry = await call('create_service', {
      name: 'weather',
      address: '127.0.0.1:10',
      path_regexp: '^/weather',
      price: 3,
      dry_run: true,
    });
    assert.equal(dry['dry_run'], true);
    assert.equal(dry['rpc'], 'CreateService');
    assert.deepEqual(((await call('list_services'))['services'] as unknown[]).length, 1, 'the dry run created nothing');
    const created = await call('create_service', {
      name: 'weather',
      address: '127.0.0.1:10',
      path_regexp: '^/weather',
      price: 3,
      auth_scheme: 'l402',
      config: { headers: { 'X-Key': 'k' } },
    });
    assert.equal(created['price'], '3');
    assert.deepEqual((created['config'] as Record<string, unknown>)['headers'], { 'X-Key': 'k' });
    const updated = await call('update_service', { name: 'weather', price: 8 });
    assert.equal(updated['price'], '8');
    assert.equal(updated['address'], '127.0.0.1:10');
    assert.equal(typeof (await call('delete_service', { name: 'weather' }))['status'], 'string');
    assert.equal((await call('list_transactions', { service: 'quotes', limit: 5 }))['totalCount'], '1');
    assert.ok(Array.isArray((await call('list_tokens', { limit: 5 }))['tokens']));
    assert.equal(typeof (await call('revoke_token', { token_id: tokenId }))['status'], 'string');
    assert.equal((await call('get_stats', { from: '2020-01-01T00:00:00Z' }))['totalRevenueSats'], '0');
    assert.match(stderr, /--insecure is set/, 'warnings go to stderr; stdout carries the protocol only');
  });

  test('bad arguments and server refusals are tool errors; the server keeps serving', async () => {
    const missing = (await client.callTool({ name: 'create_service', arguments: { name: 'x' } })) as ToolAnswer;
    assert.equal(missing.isError, true);
    assert.match(missing.content[0]?.text ?? '', /address/);
    const wrongType = (await client.callTool({ name: 'list_tokens', arguments: { limit: 'ten' } })) as ToolAnswer;
    assert.equal(wrongType.isError, true);
    const unknownKey = (await client.callTool({ name: 'get_info', arguments: { verbose: true } })) as ToolAnswer;
    assert.equal(unknownKey.isError, true);
    const notFound = (await client.callTool({ name: 'delete_service', arguments: { name: 'nope' } })) as ToolAnswer;
    assert.equal(notFound.isError, true);
    assert.deepEqual([payload(notFound)['code'], payload(notFound)['exit_code']], ['not_found', 5]);
    const invalid = (await client.callTool({
      name: 'create_service',
      arguments: { name: 'bad name', address: '127.0.0.1:1', price: 1 },
    })) as ToolAnswer;
    assert.equal(payload(invalid)['code'], 'invalid_args');
    assert.equal(
      (payload(await client.callTool({ name: 'get_health', arguments: {} })) as Record<string, unknown>)['status'] !== undefined,
      true,
    );
  });

  test("buyer tools: a Payment charge offered alone is held to the call's max_price_sats, then paid", async (t) => {
    const mpp = await startTestServer({ priceSats: 6, mpp: { offer: 'only' } });
    t.after(() => mpp.close());
    const url = `${mpp.url}/quote`;
    const tooDear = (await client.callTool({ name: 'fetch', arguments: { url, max_price_sats: 5 } })) as ToolAnswer;
    assert.equal(tooDear.isError, true);
    assert.equal(payload(tooDear)['l402_code'], 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
    assert.equal(mpp.payments(), 0);
    const paid = payload(await client.callTool({ name: 'fetch', arguments: { url } }));
    assert.equal(paid['status'], 200);
    assert.equal(paid['body'], 'paid content for mpp charge\n');
    assert.equal(paid['paid'], true);
    assert.equal(paid['paid_sats'], 6);
    assert.equal(mpp.payments(), 1);
  });

  test('buyer tools: quote pays nothing; fetch pays once within the limits and then reuses the token', async () => {
    const url = `${aperture.url}/api/quote`;
    const quote = payload(await client.callTool({ name: 'quote', arguments: { url } }));
    assert.equal(quote['would_pay'], true);
    assert.equal(quote['price_sats'], 21);
    assert.equal(quote['within_max_price'], true);
    assert.equal(settlements, 0, 'a quote pays nothing');

    const tooDear = (await client.callTool({ name: 'fetch', arguments: { url, max_price_sats: 10 } })) as ToolAnswer;
    assert.equal(tooDear.isError, true);
    assert.equal(payload(tooDear)['l402_code'], 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
    assert.equal(settlements, 0, "over the call's maximum: nothing paid");

    const first = payload(await client.callTool({ name: 'fetch', arguments: { url } }));
    assert.equal(first['status'], 200);
    assert.equal(first['paid'], true);
    assert.equal(first['paid_sats'], 21);
    assert.deepEqual(JSON.parse(String(first['body'])), { path: '/api/quote', authorized: true });
    const second = payload(await client.callTool({ name: 'fetch', arguments: { url: `${aperture.url}/api/other` } }));
    assert.equal(second['status'], 200);
    assert.equal(second['paid'], false, 'the stored token is reused');
    assert.equal(settlements, 1, 'exactly one invoice settled');
    assert.equal(second['session_spent_sats'], first['session_spent_sats']);

    const known = payload(await client.callTool({ name: 'quote', arguments: { url } }));
    assert.equal(known['would_pay'], false);
    assert.match(String(known['reason']), /stored token/);
    const badUrl = (await client.callTool({ name: 'fetch', arguments: { url: 'ftp://x' } })) as ToolAnswer;
    assert.equal(badUrl.isError, true);
    assert.equal(payload(badUrl)['code'], 'invalid_args');
  });
});

describe('aperturecli mcp serve: the session budget spans calls and origins', () => {
  const apertures: RunningAperture[] = [];
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let client: Client;
  let dir: string;
  let settlements = 0;

  before(async () => {
    dir = tempBaseDir('aperturecli-mcp-budget-');
    backend = await startBackend((_req, res) => res.end('paid content'));
    for (const name of ['a', 'b']) {
      const aperture = await startPaidApi(backend.address, join(dir, name));
      aperture.invoicer?.onSettled(() => settlements++);
      apertures.push(aperture);
    }
    // No admin flags at all: a buyer-only agent needs no admin macaroon.
    client = await connectMcp(['--payer', 'dev', '--token-dir', join(dir, 'tokens'), '--budget', '40'], dir);
  });

  after(async () => {
    await client?.close();
    for (const a of apertures) await a.close();
    await backend?.close();
    if (dir !== undefined) removeDir(dir);
  });

  test('a second origin that would pass the budget is refused, unpaid; quote says it does not fit', async () => {
    const [a, b] = apertures as [RunningAperture, RunningAperture];
    const first = payload(await client.callTool({ name: 'fetch', arguments: { url: `${a.url}/api/one` } }));
    assert.equal(first['paid'], true, JSON.stringify(first));
    assert.equal(first['session_spent_sats'], 21);
    const quote = payload(await client.callTool({ name: 'quote', arguments: { url: `${b.url}/api/two` } }));
    assert.equal(quote['would_pay'], true);
    assert.equal(quote['within_budget'], false, '21 sat plus the 10 sat fee limit do not fit in the 19 left');
    assert.equal(quote['budget_left_sats'], 19);
    const refused = (await client.callTool({ name: 'fetch', arguments: { url: `${b.url}/api/two` } })) as ToolAnswer;
    assert.equal(refused.isError, true);
    assert.equal(payload(refused)['l402_code'], 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
    assert.equal(settlements, 1, 'only the first origin was paid');
    const adminTool = (await client.callTool({ name: 'get_info', arguments: {} })) as ToolAnswer;
    assert.equal(adminTool.isError, true, 'without an admin macaroon the admin tools fail as tool errors');
    assert.equal(payload(adminTool)['code'], 'auth_failure');
  });
});

describe('aperturecli mcp serve --payer lnbits: the buyer tools pay through an HTTP payer', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let lnbits: FakeLnbits;
  let client: Client;
  let dir: string;
  let stderr = '';

  before(async () => {
    dir = tempBaseDir('aperturecli-mcp-lnbits-');
    backend = await startBackend((_req, res) => res.end('paid content'));
    aperture = await startPaidApi(backend.address, join(dir, 'aperture'));
    const invoicer = aperture.invoicer as DevInvoicer;
    lnbits = await FakeLnbits.start({ payee: async (bolt11) => (await invoicer.pay(bolt11)).preimage });
    const keyFile = join(dir, 'lnbits-admin-key');
    writeFileSync(keyFile, `${lnbits.adminKey}\n`, { mode: 0o600 });
    client = await connectMcp(
      [
        '--payer',
        'lnbits',
        '--payer-url',
        lnbits.url,
        '--payer-secret-file',
        keyFile,
        '--token-dir',
        join(dir, 'tokens'),
        '--budget',
        '100',
      ],
      dir,
      (text) => {
        stderr += text;
      },
    );
  });

  after(async () => {
    await client?.close();
    await aperture?.close();
    await backend?.close();
    await lnbits?.server.close();
    if (dir !== undefined) removeDir(dir);
  });

  test('fetch pays the invoice from the LNbits wallet once, then reuses the token; the key is never printed', async () => {
    const first = payload(await client.callTool({ name: 'fetch', arguments: { url: `${aperture.url}/api/one` } }));
    assert.equal(first['status'], 200, JSON.stringify(first));
    assert.equal(first['paid'], true);
    assert.equal(first['paid_sats'], 21);
    assert.equal(first['body'], 'paid content');
    assert.equal([...lnbits.node.payments.values()].filter((p) => p.status === 'complete').length, 1, 'paid by the wallet');
    const second = payload(await client.callTool({ name: 'fetch', arguments: { url: `${aperture.url}/api/two` } }));
    assert.equal(second['paid'], false, 'the stored token is reused');
    assert.equal(lnbits.node.payments.size, 1);
    assert.ok(!stderr.includes(lnbits.adminKey), 'the admin key is never printed');
  });
});
