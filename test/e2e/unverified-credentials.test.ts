// A paid L402 credential sent to a route that does not verify it (`auth: off`) must not reach the
// backend in any form the verifier reads: joined with another scheme (`Bearer x, L402 …`), on
// several Authorization lines, as LSAT, in lower case, after a leading comma, or in the Macaroon
// headers. Other schemes stay for the backend. HTTP/1.1, HTTP/2 (h2c) and a WebSocket upgrade.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { readCredential } from '../../src/core/credentials.js';
import { Macaroon } from '../../src/core/macaroon.js';
import type { RequestView } from '../../src/core/types.js';
import type { DevInvoicer } from '../../src/lightning/dev/dev-invoicer.js';
import { DevPayer } from '../../src/lightning/dev/dev-payer.js';
import { startAperture, type RunningAperture } from '../../src/app/start-aperture.js';
import { h1, h2Session, startBackend } from '../proxy/support.js';
import { challengeOf, configFrom, quiet, tempBaseDir, wwwAuthenticate } from './support.js';

/** A request view over a flat raw header list, as the proxy's own view reads it. */
function viewOf(raw: readonly string[]): RequestView {
  const values = (name: string): string[] => {
    const out: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === name) out.push(raw[i + 1] as string);
    return out;
  };
  return { method: 'GET', host: 'x', path: '/', remoteAddress: '127.0.0.1', header: (n) => values(n)[0], headerValues: values };
}

function valuesOf(raw: readonly string[], name: string): string[] {
  return viewOf(raw).headerValues(name) as string[];
}

describe('unverified L402 credentials never reach the backend', () => {
  let aperture: RunningAperture;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  const received: string[][] = [];
  const baseDir = tempBaseDir();
  let credential = '';
  let macaroonHex = '';

  before(async () => {
    backend = await startBackend((req, res) => {
      received.push(req.rawHeaders);
      res.end('ok\n');
    });
    backend.server.on('upgrade', (req: { rawHeaders: string[] }, socket: Socket) => {
      received.push(req.rawHeaders);
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    const config = configFrom(
      `
listenaddr: 127.0.0.1:0
insecure: true
authenticator:
  backend: dev
services:
  - name: paid
    pathregexp: '^/api/'
    address: ${backend.address}
    price: 10
  - name: free
    pathregexp: '^/free'
    address: ${backend.address}
    auth: 'off'
`,
      baseDir,
    );
    aperture = await startAperture(config, { logger: quiet, gcIntervalMs: 0, defaultMetrics: false });
    const challenge = await h1(`${aperture.url}/api/secret`);
    assert.equal(challenge.status, 402);
    const { macaroon, invoice } = challengeOf(wwwAuthenticate(challenge.rawHeaders));
    const paid = await new DevPayer(aperture.invoicer as DevInvoicer).payInvoice(invoice);
    credential = `${macaroon}:${paid.preimage}`;
    // The Macaroon-header form: the same macaroon with the preimage as a caveat, in hex.
    macaroonHex = Macaroon.fromBase64(macaroon).withFirstPartyCaveat(`preimage=${paid.preimage}`).toHex();
    // The credential is a good one: the paid route opens with it.
    assert.equal((await h1(`${aperture.url}/api/secret`, { headers: { authorization: `L402 ${credential}` } })).status, 200);
  });

  after(async () => {
    await aperture.close();
    await backend.close();
    rmSync(baseDir, { recursive: true, force: true });
  });

  /** Client header lists, each with a credential the verifier reads, and the Authorization values the backend must get. */
  const forms = (): Array<{ headers: string[]; expected: string[] }> => [
    { headers: ['Authorization', `Bearer x, L402 ${credential}`], expected: ['Bearer x'] },
    { headers: ['Authorization', `Bearer x,LSAT ${credential}`], expected: ['Bearer x'] },
    { headers: ['Authorization', `Basic YTpi, l402 ${credential}, Bearer y`], expected: ['Basic YTpi, Bearer y'] },
    { headers: ['Authorization', `, L402 ${credential}`], expected: [] },
    { headers: ['Authorization', 'Bearer x', 'Authorization', `lsat ${credential}`], expected: ['Bearer x'] },
    { headers: ['Authorization', `LSAT ${credential}`, 'Authorization', `L402 ${credential}`], expected: [] },
    { headers: ['Macaroon', macaroonHex], expected: [] },
    { headers: ['Grpc-Metadata-Macaroon', macaroonHex, 'Authorization', 'Bearer z'], expected: ['Bearer z'] },
  ];

  function assertClean(raw: string[], expected: string[], what: string): void {
    assert.deepEqual(valuesOf(raw, 'authorization'), expected, what);
    assert.deepEqual(valuesOf(raw, 'macaroon'), [], what);
    assert.deepEqual(valuesOf(raw, 'grpc-metadata-macaroon'), [], what);
    assert.equal(readCredential(viewOf(raw)).kind, 'none', what);
  }

  test('HTTP/1.1', async () => {
    for (const { headers, expected } of forms()) {
      // Each form is one the verifier accepts.
      assert.equal(readCredential(viewOf(headers)).kind, 'credential', JSON.stringify(headers));
      received.length = 0;
      const res = await h1(`${aperture.url}/free/x`, { headers });
      assert.equal(res.status, 200);
      assert.equal(received.length, 1);
      assertClean(received[0] as string[], expected, JSON.stringify(headers));
    }
  });

  test('HTTP/2 (h2c)', async () => {
    const session = await h2Session(aperture.url);
    try {
      for (const [value, expected] of [
        [`Bearer x, L402 ${credential}`, ['Bearer x']],
        [`bearer q,lsat ${credential}`, ['bearer q']],
      ] as const) {
        received.length = 0;
        const stream = session.request({ ':path': '/free/x', authorization: value, macaroon: macaroonHex });
        stream.resume();
        const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
        await once(stream, 'end');
        assert.equal(headers[':status'], 200);
        assertClean(received[0] as string[], [...expected], value);
      }
    } finally {
      session.close();
    }
  });

  test('WebSocket upgrade', async () => {
    received.length = 0;
    const socket = connect(aperture.addresses.proxy.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.resume();
    socket.write(
      `GET /free/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\nAuthorization: Bearer x, L402 ${credential}\r\nMacaroon: ${macaroonHex}\r\n\r\n`,
    );
    await once(socket, 'close');
    assert.equal(received.length, 1);
    assertClean(received[0] as string[], ['Bearer x'], 'upgrade');
  });
});
