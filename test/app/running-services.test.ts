// The running-services holder on its own: unchanged definitions keep their running parts,
// changed ones are rebuilt, replaced parts are closed with their last request, and a
// replacement that fails (a service that cannot be built, a routing table that refuses)
// changes nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppService } from '../../src/app/app-service.js';
import { RunningServices } from '../../src/app/running-services.js';
import { sameDefinition, type BuiltService } from '../../src/app/service-builder.js';
import { L402Error } from '../../src/core/errors.js';
import { loadConfig } from '../../src/proxy/config/index.js';
import type { ServiceConfig } from '../../src/proxy/config/aperture-config.js';
import type { AuthorizeContext, AuthorizeResult } from '../../src/proxy/proxy.js';

function services(yaml: string): ServiceConfig[] {
  return loadConfig({
    env: { HOME: '/srv' },
    home: '/srv',
    cwd: '/srv',
    fileExists: () => true,
    text: `listenaddr: "localhost:8081"\ninsecure: true\nauthenticator:\n  backend: dev\nservices:\n${yaml}`,
  }).config.services;
}

const A = "  - name: a\n    address: 127.0.0.1:1\n    pathregexp: '^/a'\n";
const B = "  - name: b\n    address: 127.0.0.1:2\n    pathregexp: '^/b'\n";
const B2 = "  - name: b\n    address: 127.0.0.1:2\n    pathregexp: '^/b'\n    price: 9\n";
const C = "  - name: c\n    address: 127.0.0.1:3\n    pathregexp: '^/c'\n";

/** A holder whose built services record when they are closed; `fail` names a service that cannot be built. */
function holder(): {
  running: RunningServices;
  built: string[];
  closed: string[];
  routed: string[][];
  fail: { name?: string | undefined; route?: boolean };
} {
  const built: string[] = [];
  const closed: string[] = [];
  const routed: string[][] = [];
  const fail: { name?: string | undefined; route?: boolean } = {};
  const running = new RunningServices({
    build: (config): BuiltService => {
      if (config.name === fail.name) throw new L402Error('L402_ERR_PRICER_TLS', `cannot build ${config.name}`);
      built.push(config.name);
      const service = { name: config.name, hostRegexp: config.hostRegexp.regexp, address: config.address, config } as unknown as AppService;
      return {
        service,
        close: async () => {
          closed.push(config.name);
        },
      };
    },
    route: (list) => {
      if (fail.route === true) throw new L402Error('L402_ERR_PROXY_BAD_REGEXP', 'refused');
      routed.push(list.map((s) => s.name));
    },
  });
  return { running, built, closed, routed, fail };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('unchanged definitions keep their service object; changed and new ones are built; removed ones closed', async () => {
  const h = holder();
  h.running.replaceAll(services(A + B));
  const [a0, b0] = h.running.services;
  const change = h.running.replaceAll(services(A + B2 + C));
  assert.deepEqual(change, { added: ['c'], changed: ['b'], removed: [], kept: ['a'] });
  assert.equal(h.running.services[0], a0, 'a kept as it was');
  assert.notEqual(h.running.services[1], b0);
  assert.deepEqual(h.built, ['a', 'b', 'b', 'c']);
  await settle();
  assert.deepEqual(h.closed, ['b'], 'the old b is closed (no request held it)');
  assert.deepEqual(h.running.replaceAll(services(A + C)).removed, ['b']);
  assert.deepEqual(h.routed.at(-1), ['a', 'c']);
  await h.running.close();
  assert.deepEqual(h.closed.sort(), ['a', 'b', 'b', 'c']);
});

test('a replaced service held by a request is closed with its last release', async () => {
  const h = holder();
  h.running.replaceAll(services(A + B));
  const b0 = h.running.services[1] as AppService;
  h.running.hold(b0);
  h.running.hold(b0);
  h.running.replaceAll(services(A + B2));
  await settle();
  assert.deepEqual(h.closed, [], 'still in use');
  h.running.release(b0);
  await settle();
  assert.deepEqual(h.closed, []);
  h.running.release(b0);
  await settle();
  assert.deepEqual(h.closed, ['b']);
  await h.running.close();
});

test('the authorize hook holds its service only while its answer is pending', async () => {
  const h = holder();
  h.running.replaceAll(services(A + B));
  const b0 = h.running.services[1] as AppService;
  const allow: AuthorizeResult = { kind: 'allow', reason: 'auth-off' };
  const waiting: { resolve: (value: AuthorizeResult) => void; reject: (error: Error) => void }[] = [];
  let pending = false;
  const hook = h.running.holding(() =>
    pending ? new Promise<AuthorizeResult>((resolve, reject) => waiting.push({ resolve, reject })) : allow,
  );
  const context = { service: b0 } as AuthorizeContext<AppService>;
  // A synchronous answer holds nothing: the replaced service closes at once.
  assert.equal(hook(context), allow);
  pending = true;
  const first = hook(context) as Promise<AuthorizeResult>;
  const second = hook(context) as Promise<AuthorizeResult>;
  h.running.replaceAll(services(A + B2));
  await settle();
  assert.deepEqual(h.closed, [], 'two answers pending: b stays open');
  waiting[0]?.resolve(allow);
  assert.equal(await first, allow);
  await settle();
  assert.deepEqual(h.closed, [], 'one answer pending');
  waiting[1]?.reject(new Error('hook failed'));
  await assert.rejects(second, /hook failed/);
  await settle();
  assert.deepEqual(h.closed, ['b'], 'closed with the last answer, a rejection included');
  pending = false;
  const b1 = h.running.services[1] as AppService;
  assert.equal(hook({ service: b1 } as AuthorizeContext<AppService>), allow);
  h.running.replaceAll(services(A + B));
  await settle();
  assert.deepEqual(h.closed, ['b', 'b'], 'nothing held after a synchronous answer');
  await h.running.close();
});

test('a replacement that fails changes nothing and closes what it built', async () => {
  const h = holder();
  h.running.replaceAll(services(A + B));
  const before = h.running.services;
  h.fail.name = 'c';
  assert.throws(
    () => h.running.replaceAll(services(A + B2 + C)),
    (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_PRICER_TLS',
  );
  assert.equal(h.running.services, before);
  await settle();
  assert.deepEqual(h.closed, ['b'], 'the new b, built before c failed, is closed; the running b is not');
  h.fail.name = undefined;
  h.fail.route = true;
  assert.throws(
    () => h.running.replaceAll(services(A + C)),
    (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_PROXY_BAD_REGEXP',
  );
  assert.equal(h.running.services, before);
  await settle();
  assert.deepEqual(h.closed, ['b', 'c']);
  await h.running.close();
});

test('replaceOne replaces by name or appends', () => {
  const h = holder();
  h.running.replaceAll(services(A + B));
  assert.deepEqual(h.running.replaceOne(services(B2)[0] as ServiceConfig).changed, ['b']);
  assert.deepEqual(h.running.replaceOne(services(C)[0] as ServiceConfig).added, ['c']);
  assert.deepEqual(
    h.running.services.map((s) => s.name),
    ['a', 'b', 'c'],
  );
});

test("sameDefinition: every validated field counts, the entry's spelling does not", () => {
  const [a] = services(A);
  const [spelled] = services("  - Name: a\n    ADDRESS: 127.0.0.1:1\n    PathRegexp: '^/a'\n");
  const [moved] = services("  - name: a\n    address: 127.0.0.1:1\n    pathregexp: '^/a/'\n");
  assert.ok(a !== undefined && spelled !== undefined && moved !== undefined);
  assert.ok(sameDefinition(a, spelled));
  assert.ok(!sameDefinition(a, moved));
});
