// A response the proxy cuts because its shutdown's drain time ran out is the
// proxy's cut, not a client that left: afterResponse hears clientAborted false,
// so a payment scheme gives back what the request was charged (a client that
// leaves keeps its charge spent, test/proxy/mpp-client-abort.test.ts).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import type { ResponseOutcome } from '../../src/core/payment-scheme.js';
import type { Decision } from '../../src/core/types.js';
import { h2Session, service, startBackend, startProxy, testPki, until } from './support.js';

for (const protocol of ['http1', 'http2'] as const) {
  test(`${protocol}: a response still streaming when the drain time runs out is cut by the proxy, not the client`, async () => {
    const pki = protocol === 'http2' ? await testPki() : undefined;
    const open = new Set<ServerResponse>();
    // Head and a first chunk, then nothing: the response is under way when the proxy shuts down.
    const backend = await startBackend((req, res) => {
      req.resume();
      open.add(res);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
      res.write('first part');
    });
    const outcomes: ResponseOutcome[] = [];
    const proxy = await startProxy(
      {
        services: [service(backend.address)],
        authorize: (): Decision => ({ kind: 'allow', reason: 'paid' }),
        afterResponse: (_context, _decision, outcome) => outcomes.push(outcome),
      },
      { drainTimeoutMs: 100, writeTimeoutMs: 0, ...(pki === undefined ? {} : { pki }) },
    );
    try {
      if (protocol === 'http1') {
        const req = httpRequest({ host: '127.0.0.1', port: proxy.port, path: '/stream', agent: false });
        req.on('error', () => undefined);
        req.end();
        const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
        res.on('error', () => undefined);
        await once(res, 'data');
      } else {
        const session = await h2Session(proxy.url, pki?.caCert);
        const stream = session.request({ ':path': '/stream' });
        stream.on('error', () => undefined);
        await once(stream, 'data');
      }
      await proxy.close();
      await until(() => outcomes.length === 1, 'the cut response reported');
      assert.equal(outcomes[0]?.completed, false);
      assert.equal(outcomes[0]?.clientAborted, false, 'the shutdown cut it: the client did not leave');
    } finally {
      await proxy.close();
      await proxy.proxy.close(true);
      for (const res of open) res.destroy();
      await backend.close();
    }
  });
}
