// Services changed through the program's admin API while requests flow: a steady stream of
// paid and free requests (each held a moment by the backend, so that changes land while
// requests are in flight) runs while services are created, updated and deleted; not one
// request fails, and services left alone keep their rate-limit and freebie state.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { h1, startBackend } from '../proxy/support.js';
import { tempBaseDir } from '../e2e/support.js';
import { payFor, startProgram, type Program } from './support.js';

describe('live service changes under load (memory store)', () => {
  let p: Program;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let other: Awaited<ReturnType<typeof startBackend>>;
  let dir: string;
  const mac = (): string => p.macaroonHex;

  before(async () => {
    dir = tempBaseDir('aperture-program-live-');
    // Every answer waits for the next turn of the timers, so requests overlap the changes.
    const echo = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
      setTimeout(() => res.end(`${String(req.headers['x-svc'] ?? '-')} ${req.url ?? ''}`), 5);
    };
    backend = await startBackend(echo);
    other = await startBackend(echo);
    p = await startProgram({
      kind: 'memory',
      dir,
      yaml: `admin:
  enabled: true
  dashboard: false # "not routed" is the proxy's 404 here, not the dashboard's page
services:
  - name: paid
    pathregexp: '^/paid'
    address: ${backend.address}
    price: 5
  - name: free
    pathregexp: '^/free'
    address: ${backend.address}
    auth: 'off'
    headers:
      X-Svc: free-0
  - name: fb
    pathregexp: '^/fb'
    address: ${backend.address}
    auth: freebie 3
  - name: limited
    pathregexp: '^/limited'
    address: ${backend.address}
    auth: 'off'
    ratelimits:
      - requests: 2
        per: 1h
`,
    });
  });
  after(async () => {
    await p.close();
    await backend.close();
    await other.close();
  });

  test('no request in flight fails while services are created, updated and deleted; untouched services keep their state', async () => {
    const token = await payFor(p.aperture.url, '/paid/x');
    // State before: two of three freebies used, the rate limit exhausted.
    for (let i = 0; i < 2; i++) assert.equal((await h1(`${p.aperture.url}/fb/a`)).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await h1(`${p.aperture.url}/limited/a`)).status, 200);
    assert.equal((await h1(`${p.aperture.url}/limited/a`)).status, 429);

    let stop = false;
    const failures: string[] = [];
    let served = 0;
    const worker = async (n: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const paid = (n + i) % 2 === 0;
        const res = paid
          ? await h1(`${p.aperture.url}/paid/${n}/${i}`, { headers: { authorization: token.authorization } })
          : await h1(`${p.aperture.url}/free/${n}/${i}`);
        if (res.status !== 200) failures.push(`${paid ? 'paid' : 'free'} ${res.status} ${res.body}`);
        else served++;
      }
    };
    const workers = [0, 1, 2, 3].map(worker);

    // The changes, one after another while the workers run: a new service, updated twice and
    // deleted; the free service's headers and backend changed (its requests in flight finish on
    // the old ones, and the old backend's connections close once idle).
    const changes: Array<() => Promise<unknown>> = [];
    for (let round = 0; round < 8; round++) {
      changes.push(
        () =>
          p.rest('/api/admin/services', {
            method: 'POST',
            macaroon: mac(),
            body: { name: `extra${round}`, address: backend.address, path_regexp: `^/extra${round}`, auth: 'off' },
          }),
        () =>
          p.grpc.call(
            'UpdateService',
            {
              name: 'free',
              address: round % 2 === 0 ? other.address : backend.address,
              config: {
                fields: {
                  headers: {
                    kind: 'struct_value',
                    struct_value: { fields: { 'X-Svc': { kind: 'string_value', string_value: `free-${round + 1}` } } },
                  },
                },
              },
            },
            mac(),
          ),
        () => p.grpc.call('UpdateService', { name: `extra${round}`, price: 2, auth: 'on' }, mac()),
        () => p.rest(`/api/admin/services/extra${round}`, { method: 'DELETE', macaroon: mac() }),
      );
    }
    for (const change of changes) {
      const answer = await change();
      if (typeof answer === 'object' && answer !== null && 'status' in answer && typeof answer.status === 'number') {
        assert.equal(answer.status, 200, JSON.stringify(answer));
      }
      // Let requests run between two changes.
      const before = served;
      while (served < before + 4 && failures.length === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok(served >= changes.length * 4, `requests were served throughout (${served})`);
    assert.equal((await h1(`${p.aperture.url}/free/z`)).body, 'free-8 /free/z', 'the last definition is in effect');
    assert.equal((await h1(`${p.aperture.url}/extra0/z`)).status, 404, 'deleted services are gone');

    // Services left alone kept their state through every replacement.
    assert.equal((await h1(`${p.aperture.url}/fb/a`)).status, 200, 'the third freebie');
    assert.equal((await h1(`${p.aperture.url}/fb/a`)).status, 402, 'no fourth: the counter was not reset');
    assert.equal((await h1(`${p.aperture.url}/limited/a`)).status, 429, 'the bucket was not refilled');

    // A service whose definition changed starts afresh.
    await p.grpc.call(
      'UpdateService',
      {
        name: 'limited',
        config: {
          fields: {
            ratelimits: {
              kind: 'list_value',
              list_value: {
                values: [
                  {
                    kind: 'struct_value',
                    struct_value: {
                      fields: { requests: { kind: 'number_value', number_value: 3 }, per: { kind: 'string_value', string_value: '1h' } },
                    },
                  },
                ],
              },
            },
          },
        },
      },
      mac(),
    );
    assert.equal((await h1(`${p.aperture.url}/limited/a`)).status, 200);
  });
});
