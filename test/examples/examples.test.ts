// Every example under examples/ runs as a user would start it (a child process
// through tsx, importing the package by name) and completes the flow it prints:
// 402 → pay through the dev backend → 200.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { parseChallenges, formatAuthorization } from '../../src/index.js';
import { decodePaymentReceipt, encodePaymentCredential, parsePaymentChallenges } from '../../src/mpp/index.js';

const root = new URL('../../', import.meta.url).pathname;

interface Started {
  child: ChildProcess;
  output: string;
}

/** Starts an example on a free port and resolves once it printed `pattern`. */
async function startExample(dir: string, pattern: RegExp): Promise<Started & { match: RegExpMatchArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${dir}/server.ts`], {
    cwd: root,
    env: { ...process.env, PORT: '0', NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started: Started = { child, output: '' };
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      started.output += chunk.toString();
      const m = started.output.match(pattern);
      if (m) resolve(m);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`examples/${dir} exited with ${code}:\n${started.output}`)));
  });
  return { ...started, match };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

async function payDev(payUrl: string, invoice: string): Promise<string> {
  const res = await fetch(payUrl, { method: 'POST', body: JSON.stringify({ invoice }) });
  assert.equal(res.status, 200, await res.clone().text());
  const { preimage } = (await res.json()) as { preimage: string };
  assert.match(preimage, /^[0-9a-f]{64}$/);
  return preimage;
}

for (const dir of ['express', 'koa', 'node-http', 'fastify', 'hono']) {
  test(`examples/${dir}: 402, pay with the dev backend, 200`, async () => {
    const { child, match } = await startExample(dir, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    try {
      const base = match[1];
      const challenge = await fetch(`${base}/quote`);
      assert.equal(challenge.status, 402);
      await challenge.text();
      const [parsed] = parseChallenges(challenge.headers.get('www-authenticate') ?? '');
      assert.ok(parsed, 'a parsable L402 challenge');
      const preimage = await payDev(`${base}/api/dev/pay`, parsed.invoice);
      const paid = await fetch(`${base}/quote`, {
        headers: { authorization: formatAuthorization(parsed.macaroon, preimage) },
      });
      assert.equal(paid.status, 200);
      const body = (await paid.json()) as { quote: string; tokenId: string };
      assert.match(body.quote, /stack sats/);
      assert.match(body.tokenId, /^[0-9a-f]{64}$/);
    } finally {
      await stop(child);
    }
  });
}

test('examples/mpp-charge: 402 with a Payment challenge, pay with the dev backend, 200 with a receipt, replay refused', async () => {
  const { child, match } = await startExample('mpp-charge', /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  try {
    const base = match[1];
    const challenge = await fetch(`${base}/quote`);
    assert.equal(challenge.status, 402);
    assert.equal(challenge.headers.get('content-type'), 'application/problem+json');
    await challenge.text();
    const [offer] = parsePaymentChallenges(challenge.headers.get('www-authenticate') ?? '');
    assert.ok(offer, 'a parsable Payment challenge');
    assert.equal(offer.intent, 'charge');
    const request = JSON.parse(Buffer.from(offer.request, 'base64url').toString()) as { methodDetails: { invoice: string } };
    const preimage = await payDev(`${base}/api/dev/pay`, request.methodDetails.invoice);
    const authorization = `Payment ${encodePaymentCredential({ challenge: offer, payload: { preimage } })}`;
    const paid = await fetch(`${base}/quote`, { headers: { authorization } });
    assert.equal(paid.status, 200);
    assert.equal(paid.headers.get('cache-control'), 'private');
    assert.equal(decodePaymentReceipt(paid.headers.get('payment-receipt') ?? '')['status'], 'success');
    assert.match(((await paid.json()) as { quote: string }).quote, /stack sats/);
    const replay = await fetch(`${base}/quote`, { headers: { authorization } });
    assert.equal(replay.status, 402);
    assert.equal(((await replay.json()) as { type: string }).type, 'https://paymentauth.org/problems/verification-failed');
  } finally {
    await stop(child);
  }
});

test('examples/client: pays once, then reuses the token', async () => {
  const { child, match } = await startExample('express', /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  try {
    const client = spawn(process.execPath, ['--import', 'tsx', 'examples/client/fetch.ts', `${match[1]}/quote`], {
      cwd: root,
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    client.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    client.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(client, 'exit')) as [number | null];
    assert.equal(code, 0, output);
    const lines = output.trim().split('\n');
    assert.equal(lines.length, 2, output);
    const tokens = lines.map((line) => {
      assert.match(line, /^200 \{/);
      return (JSON.parse(line.slice(4)) as { tokenId: string }).tokenId;
    });
    assert.equal(tokens[0], tokens[1], 'the second call reuses the paid token');
  } finally {
    await stop(child);
  }
});

test('examples/grpc: status 13 with a challenge, pay, then the call succeeds', async () => {
  const { child, match } = await startExample('grpc', /gRPC listening on (127\.0\.0\.1:\d+)[\s\S]*?curl -s -X POST (http:\/\/\S+)/);
  const client = new grpc.Client(match[1] ?? '', grpc.credentials.createInsecure());
  const call = (metadata: grpc.Metadata) =>
    new Promise<{ error: grpc.ServiceError | null; value?: { quote: string } }>((resolve) => {
      client.makeUnaryRequest(
        '/quotes.Quotes/GetQuote',
        (v: unknown) => Buffer.from(JSON.stringify(v)),
        (b: Buffer) => JSON.parse(b.toString()) as { quote: string },
        {},
        metadata,
        (error, value) => resolve(value === undefined ? { error } : { error, value }),
      );
    });
  try {
    const first = await call(new grpc.Metadata());
    assert.equal(first.error?.code, grpc.status.INTERNAL);
    assert.equal(first.error?.details, 'payment required');
    const header = first.error?.metadata.get('www-authenticate').map(String) ?? [];
    const [parsed] = parseChallenges(header);
    assert.ok(parsed, 'a parsable L402 challenge in the trailers');
    const preimage = await payDev(match[2] ?? '', parsed.invoice);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', formatAuthorization(parsed.macaroon, preimage));
    const second = await call(metadata);
    assert.equal(second.error, null);
    assert.match(second.value?.quote ?? '', /stack sats/);
  } finally {
    client.close();
    await stop(child);
  }
});
