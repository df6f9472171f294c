// Who ended a paid response that did not complete, through Koa and Fastify on
// real sockets: a streamed body whose source fails mid-way is the handler's
// failure (the payment is given back), a client that destroys its socket
// mid-body left (the payment is kept; issue 19).
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import Koa from 'koa';
import { fastifyL402 } from '../../src/adapters/fastify/index.js';
import { koaL402 } from '../../src/adapters/koa/index.js';
import { Gate } from '../../src/core/gate.js';
import type { ResponseOutcome } from '../../src/core/payment-scheme.js';
import { TestPaymentScheme } from '../fixtures/test-payment-scheme.js';
import { listen, type StartedServer } from './conformance-suite.js';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** A body of 64 chunks, one every 5 ms; with `fail`, its source errors after 4. */
function body(fail: boolean): Readable {
  let n = 0;
  return new Readable({
    read() {
      setTimeout(() => {
        if (fail && n === 4) this.destroy(new Error('the source failed'));
        else this.push(++n > 64 ? null : CHUNK);
      }, 5);
    },
  });
}

/** A paid request; the client destroys its socket after `leaveAfter` body bytes, if given. */
function paid(port: number, path: string, leaveAfter?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { 'x-test': 'good' }, agent: false }, (res) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (leaveAfter !== undefined && received >= leaveAfter && !req.destroyed) {
          req.destroy();
          resolve(received);
        }
      });
      res.on('end', () => resolve(received));
      res.on('error', () => resolve(received));
    });
    req.on('error', (error) => (req.destroyed ? undefined : reject(error)));
    req.end();
  });
}

async function outcomeAfter(scheme: TestPaymentScheme, count: number): Promise<ResponseOutcome | undefined> {
  for (const until = Date.now() + 5000; scheme.finished.length === count && Date.now() < until;) await new Promise((r) => setTimeout(r, 5));
  return scheme.finished[count]?.outcome;
}

describe('Koa: a failing streamed body vs a client that leaves', () => {
  const scheme = new TestPaymentScheme();
  let server: StartedServer;
  before(async () => {
    const app = new Koa();
    app.use(koaL402({ gate: new Gate({ schemes: [scheme] }), service: 'svc', priceSats: 1 }));
    app.use((ctx) => {
      ctx.type = 'application/octet-stream';
      ctx.body = body(ctx.path === '/fail');
    });
    app.on('error', () => undefined);
    server = await listen(createServer(app.callback()));
  });
  after(() => server.close());

  test('the source fails mid-body: not the client', async () => {
    const seen = scheme.finished.length;
    await paid(server.port, '/fail');
    assert.deepEqual(await outcomeAfter(scheme, seen), { status: 200, completed: false, clientAborted: false });
  });

  test('the client destroys its socket mid-body: the client left', async () => {
    const seen = scheme.finished.length;
    await paid(server.port, '/slow', 2 * CHUNK.length);
    assert.deepEqual(await outcomeAfter(scheme, seen), { status: 200, completed: false, clientAborted: true });
  });
});

describe('Fastify: a failing streamed payload vs a client that leaves', () => {
  const scheme = new TestPaymentScheme();
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    app = Fastify();
    await app.register(fastifyL402, { gate: new Gate({ schemes: [scheme] }), service: 'svc', priceSats: 1 });
    app.get('/:mode', async (request, reply) => {
      reply.type('application/octet-stream');
      return reply.send(body((request.params as { mode: string }).mode === 'fail'));
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  });
  after(() => app.close());

  test('the payload fails mid-body (Fastify then cuts without an error): not the client', async () => {
    const seen = scheme.finished.length;
    await paid(port, '/fail');
    assert.deepEqual(await outcomeAfter(scheme, seen), { status: 200, completed: false, clientAborted: false });
  });

  test('the client destroys its socket mid-body: the client left', async () => {
    const seen = scheme.finished.length;
    await paid(port, '/slow', 2 * CHUNK.length);
    assert.deepEqual(await outcomeAfter(scheme, seen), { status: 200, completed: false, clientAborted: true });
  });
});
