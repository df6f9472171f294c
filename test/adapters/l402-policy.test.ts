/**
 * L402Policy, the options normalisation every adapter shares: Gate sources,
 * configuration errors, free paths, `route` refinement and per-route overrides.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { L402Policy } from '../../src/adapters/node/l402-policy.js';
import { ConfigError, L402Error } from '../../src/core/errors.js';
import { Gate } from '../../src/core/gate.js';
import { L402Scheme } from '../../src/core/l402-scheme.js';
import { Verifier } from '../../src/core/verifier.js';
import type { RouteOptions } from '../../src/core/gate.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import type { Decision, RequestView } from '../../src/core/types.js';
import { DevInvoicer } from '../../src/lightning/dev/index.js';

const view = (path: string): RequestView => ({
  method: 'GET',
  host: 'example.test',
  path,
  remoteAddress: '127.0.0.1',
  header: () => undefined,
  headerValues: () => [],
});

/** A Gate that records the route it was asked about instead of minting. */
class RecordingGate extends Gate {
  routes: RouteOptions[] = [];
  constructor() {
    // Never used: decide() is overridden. A verify-only L402 scheme (no minter).
    super({ schemes: [new L402Scheme({ minter: undefined, verifier: new Verifier({ secrets: new MemorySecretStore() }) })] });
  }
  override async decide(_request: RequestView, route: RouteOptions): Promise<Decision> {
    this.routes.push(route);
    return { kind: 'allow', reason: 'free' };
  }
}

const issuesOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues.map((i) => i.path);
  }
  return assert.fail('expected a ConfigError');
};

describe('L402Policy', () => {
  it('reports every configuration problem at once', () => {
    assert.deepEqual(
      issuesOf(() => new L402Policy({})),
      ['gate', 'service', 'priceSats'],
    );
    const gate = new RecordingGate();
    assert.deepEqual(
      issuesOf(() => new L402Policy({ gate, secrets: new MemorySecretStore(), service: 's', priceSats: 1 })),
      ['gate'],
    );
    assert.deepEqual(
      issuesOf(() => new L402Policy({ secrets: new MemorySecretStore(), service: 's', priceSats: -1 })),
      ['invoicer', 'priceSats'],
    );
    assert.deepEqual(
      issuesOf(() => new L402Policy({ gate, service: 's', priceSats: 1, freePaths: ['/x'] as never })),
      ['freePaths'],
    );
  });

  it('builds a Gate from an invoicer and a secret store', async () => {
    const invoicer = new DevInvoicer({ onWarning: () => {} });
    const policy = new L402Policy({ invoicer, secrets: new MemorySecretStore(), service: 'quotes', priceSats: 3 });
    const decision = await policy.decide(view('/q'));
    assert.equal(decision.kind, 'challenge');
    await invoicer.close();
  });

  it('passes route settings to the Gate: static, then `route`, then the per-route override', async () => {
    const gate = new RecordingGate();
    const policy = new L402Policy({
      gate,
      service: 'quotes',
      priceSats: 10,
      timeoutSeconds: 60,
      route: (r) => (r.path === '/admin' ? { requiredCapability: 'write', priceSats: 20 } : undefined),
    });
    await policy.decide(view('/q'));
    await policy.decide(view('/admin'));
    await policy.decide(view('/admin'), { priceSats: 30, timeoutSeconds: undefined as never });
    assert.deepEqual(gate.routes, [
      { service: 'quotes', priceSats: 10, timeoutSeconds: 60 },
      { service: 'quotes', priceSats: 20, timeoutSeconds: 60, requiredCapability: 'write' },
      { service: 'quotes', priceSats: 30, timeoutSeconds: 60, requiredCapability: 'write' },
    ]);
  });

  it('lets free paths, `route` → false and an override of false through without asking the Gate', async () => {
    const gate = new RecordingGate();
    const policy = new L402Policy({
      gate,
      service: 'quotes',
      priceSats: 10,
      freePaths: [/^\/health$/g],
      route: (r) => (r.path === '/open' ? false : undefined),
    });
    for (const decision of [
      await policy.decide(view('/health')),
      await policy.decide(view('/health')), // a global regexp keeps no lastIndex between requests
      await policy.decide(view('/open')),
      await policy.decide(view('/q'), false),
    ])
      assert.deepEqual(decision, { kind: 'allow', reason: 'whitelist' });
    assert.deepEqual(gate.routes, []);
  });

  it('throws L402_ERR_ADAPTER_ROUTE_INCOMPLETE when no service or price results for a request', async () => {
    const policy = new L402Policy({ gate: new RecordingGate(), route: (r) => (r.path === '/a' ? { service: 'a' } : undefined) });
    await assert.rejects(
      policy.decide(view('/a')),
      (e: unknown) => e instanceof L402Error && e.code === 'L402_ERR_ADAPTER_ROUTE_INCOMPLETE',
    );
  });
});

describe('L402Policy: static constraints are fixed values', () => {
  it('a token with max_size appended after the minted max_size=100 is challenged again', async () => {
    const { parseChallenges } = await import('../../src/core/challenge.js');
    const { Macaroon } = await import('../../src/core/macaroon.js');
    const { DevPayer } = await import('../../src/lightning/dev/index.js');
    const invoicer = new DevInvoicer({ onWarning: () => undefined });
    const policy = new L402Policy({
      invoicer,
      secrets: new MemorySecretStore(),
      service: 'api',
      priceSats: 3,
      constraints: { max_size: '100' },
    });
    const first = await policy.decide(view('/x'));
    assert.equal(first.kind, 'challenge');
    const lines = first.headers.filter(([n]) => n.toLowerCase() === 'www-authenticate').map(([, v]) => v);
    const challenge = parseChallenges(lines)[0];
    assert.ok(challenge !== undefined);
    const { preimage } = await new DevPayer(invoicer).payInvoice(challenge.invoice);
    const withAuth = (mac: string): RequestView => {
      const value = `L402 ${mac}:${preimage}`;
      return {
        ...view('/x'),
        header: (n) => (n === 'authorization' ? value : undefined),
        headerValues: (n) => (n === 'authorization' ? [value] : []),
      };
    };
    assert.equal((await policy.decide(withAuth(challenge.macaroon))).kind, 'allow');
    const widened = Macaroon.fromBase64(challenge.macaroon).withFirstPartyCaveat('max_size=999999').toBase64();
    assert.equal((await policy.decide(withAuth(widened))).kind, 'challenge');
    await invoicer.close();
  });
});
