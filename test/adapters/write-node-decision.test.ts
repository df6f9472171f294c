import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as createH2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { writeNodeDecision } from '../../src/adapters/node/write-node-decision.js';
import { challengeDecision } from '../../src/core/challenge-decision.js';
import { parseChallenges } from '../../src/core/challenge.js';

const decision = challengeDecision(
  {
    macaroonBase64: 'AgEEbHNhdA==',
    invoice: { paymentRequest: 'lnbcrt1', paymentHash: '00', amountSats: 1, expiresAt: 0 },
    paymentHash: '00',
    tokenId: '11',
  },
  'L402_ERR_TOKEN_MISSING',
  1,
  'reference',
);

function listener(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  res.setHeader('access-control-allow-origin', '*');
  writeNodeDecision(res, decision, req);
  writeNodeDecision(res, { kind: 'reject', status: 500, headers: [], body: 'late\n', code: 'L402_ERR_PROXY_AUTHORIZE_FAILED' });
}

test('writeNodeDecision over HTTP/1.1: two WWW-Authenticate lines, headers set before kept, no body for HEAD', async () => {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    for (const method of ['GET', 'HEAD']) {
      const { res, body } = await new Promise<{ res: IncomingMessage; body: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, method, path: '/' }, (r) => {
          let text = '';
          r.setEncoding('utf8')
            .on('data', (d: string) => {
              text += d;
            })
            .on('end', () => resolve({ res: r, body: text }));
        })
          .on('error', reject)
          .end();
      });
      assert.equal(res.statusCode, 402);
      const www = res.rawHeaders.filter((_, i) => i % 2 === 0 && res.rawHeaders[i]?.toLowerCase() === 'www-authenticate');
      assert.equal(www.length, 2, method);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.headers['content-length'], String(Buffer.byteLength('payment required\n')));
      assert.equal(body, method === 'HEAD' ? '' : 'payment required\n');
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('writeNodeDecision over HTTP/2: status, both challenge values, no body for HEAD', async () => {
  const server = createH2Server(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    for (const method of ['GET', 'HEAD']) {
      const stream = client.request({ ':method': method, ':path': '/' });
      const headers = await new Promise<Record<string, unknown>>((resolve) => stream.once('response', resolve));
      let body = '';
      stream.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      await new Promise((resolve) => stream.once('end', resolve));
      assert.equal(headers[':status'], 402);
      // node:http2 clients join repeated fields with ", "; a challenge list parses back to both.
      assert.deepEqual(
        parseChallenges([String(headers['www-authenticate'])]).map((c) => c.scheme),
        ['LSAT', 'L402'],
      );
      assert.equal(body, method === 'HEAD' ? '' : 'payment required\n');
    }
  } finally {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
