// nodeResponseOutcome on real sockets (HTTP/1.1 and HTTP/2): who ended a Node
// response that did not complete. The client leaving (socket destroyed, stream
// cancelled) is `clientAborted`; a handler that destroys the response with an
// error, or that an adapter marked as failed, is not; a finished response is
// complete (HTTP/2 included, where a reset response also reads `writableFinished`).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import { connect, constants, createServer as createH2Server, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { markHandlerFailed, nodeResponseOutcome } from '../../src/adapters/node/observe-response.js';
import type { ResponseOutcome } from '../../src/core/payment-scheme.js';

type Ending = 'finish' | 'client' | 'error' | 'marked';
const CHUNK = Buffer.alloc(16 * 1024, 0x61);

/** The handler streams until the ending happens: its own end, the client leaving, a destroy with an error, a marked destroy. */
function handler(ending: Ending, seen: (outcome: ResponseOutcome) => void) {
  return (_req: unknown, res: ServerResponse | Http2ServerResponse): void => {
    res.once('close', () => seen(nodeResponseOutcome(res)));
    res.writeHead(200);
    let n = 0;
    const timer = setInterval(() => {
      (res as ServerResponse).write(CHUNK);
      if (++n < 4) return;
      if (ending === 'finish') res.end();
      else if (ending === 'error') res.destroy(new Error('the source failed'));
      else if (ending === 'marked') {
        markHandlerFailed(res);
        res.destroy();
      }
      if (ending !== 'client') clearInterval(timer);
    }, 5);
    res.once('close', () => clearInterval(timer));
  };
}

async function h1Outcome(ending: Ending): Promise<ResponseOutcome> {
  let outcome: ResponseOutcome | undefined;
  const server = createServer(handler(ending, (o) => (outcome = o)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const req = httpRequest({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, agent: false });
    req.on('error', () => undefined);
    req.on('response', (res) => {
      res.on('error', () => undefined);
      res.on('data', () => {
        if (ending === 'client') req.destroy();
      });
    });
    req.end();
    for (const until = Date.now() + 5000; outcome === undefined && Date.now() < until;) await new Promise((r) => setTimeout(r, 5));
    return outcome as ResponseOutcome;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

async function h2Outcome(ending: Ending | 'cancel'): Promise<ResponseOutcome> {
  let outcome: ResponseOutcome | undefined;
  const server = createH2Server(handler(ending === 'cancel' ? 'client' : ending, (o) => (outcome = o)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':path': '/' });
    stream.on('error', () => undefined);
    stream.on('data', () => {
      if (ending === 'cancel') stream.close(constants.NGHTTP2_CANCEL);
      else if (ending === 'client') session.destroy();
    });
    stream.end();
    for (const until = Date.now() + 5000; outcome === undefined && Date.now() < until;) await new Promise((r) => setTimeout(r, 5));
    return outcome as ResponseOutcome;
  } finally {
    session.destroy();
    server.close();
  }
}

test('HTTP/1.1: finished, left by the client, destroyed with an error, marked as failed', async () => {
  assert.deepEqual(await h1Outcome('finish'), { status: 200, completed: true });
  assert.deepEqual(await h1Outcome('client'), { status: 200, completed: false, clientAborted: true });
  assert.deepEqual(await h1Outcome('error'), { status: 200, completed: false, clientAborted: false });
  assert.deepEqual(await h1Outcome('marked'), { status: 200, completed: false, clientAborted: false });
});

test('HTTP/2: finished, a cancelled stream, a closed connection, destroyed with an error, marked as failed', async () => {
  assert.deepEqual(await h2Outcome('finish'), { status: 200, completed: true });
  assert.deepEqual(await h2Outcome('cancel'), { status: 200, completed: false, clientAborted: true });
  assert.deepEqual(await h2Outcome('client'), { status: 200, completed: false, clientAborted: true });
  assert.deepEqual(await h2Outcome('error'), { status: 200, completed: false, clientAborted: false });
  assert.deepEqual(await h2Outcome('marked'), { status: 200, completed: false, clientAborted: false });
});
