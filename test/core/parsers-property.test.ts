// Random input into every parser: a valid result or a coded L402Error, never another exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Macaroon } from '../../src/core/macaroon.js';
import { decodeIdentifier, encodeIdentifier } from '../../src/core/identifier.js';
import { readCredential } from '../../src/core/credentials.js';
import { parseChallenges, formatChallenge } from '../../src/core/challenge.js';
import { checkCaveats, parseServices, servicesCaveat } from '../../src/core/caveats.js';
import { Verifier } from '../../src/core/verifier.js';
import { MemorySecretStore } from '../../src/core/memory-secret-store.js';
import { L402Error } from '../../src/core/errors.js';
import { request } from './support.js';

const RUNS = { numRuns: 500 };

function codedOrValue(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof L402Error, `uncoded exception: ${String(err)}`);
    assert.match(err.code, /^L402_ERR_[A-Z0-9_]+$/);
  }
}

const good = Buffer.from(
  '0201046c73617402420000aa00000000000000000000000000000000000000000000000000000000000001bb0000000000000000000000000000000000000000000000000000000000000200020f73657276696365733d737663313a3000021e737663315f6361706162696c69746965733d6164642c737562747261637400021b737663315f76616c69645f756e74696c3d31393030303030303030000006208f16208b3f625ce3c3871ec4e6acfc40a0781c9190916d79da1f04a862eceb8d',
  'hex',
);

test('Macaroon.fromBinary: random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => codedOrValue(() => Macaroon.fromBinary(b))),
    RUNS,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => codedOrValue(() => Macaroon.fromBinary(Buffer.concat([Buffer.of(2), b])))),
    RUNS,
  );
});

test('Macaroon.fromBinary: mutated valid macaroons; a parsed one re-encodes to the same bytes', () => {
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), (i, v) => {
      const b = Buffer.from(good);
      b[i] = v;
      try {
        const mac = Macaroon.fromBinary(b);
        assert.deepEqual(Buffer.from(mac.toBinary()), b);
      } catch (err) {
        assert.ok(err instanceof L402Error, String(err));
      }
    }),
    RUNS,
  );
});

test('Macaroon text parsers: random strings', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      codedOrValue(() => Macaroon.fromBase64(s));
      codedOrValue(() => Macaroon.fromHex(s));
      codedOrValue(() => Macaroon.fromJSON(s));
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.jsonValue(), (v) => codedOrValue(() => Macaroon.fromJSON(typeof v === 'object' && v !== null ? v : JSON.stringify(v)))),
    RUNS,
  );
  fc.assert(
    fc.property(
      fc.record(
        { identifier: fc.anything(), signature: fc.anything(), location: fc.anything(), caveats: fc.anything() },
        { requiredKeys: [] },
      ),
      (v) => codedOrValue(() => Macaroon.fromJSON(v)),
    ),
    RUNS,
  );
});

test('identifier: random bytes decode or give a coded error; encode/decode round-trip', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (b) => codedOrValue(() => decodeIdentifier(b))),
    RUNS,
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (h, t) => {
      const id = decodeIdentifier(encodeIdentifier({ version: 0, paymentHash: h, tokenId: t }));
      assert.deepEqual(Buffer.from(id.paymentHash), Buffer.from(h));
      assert.deepEqual(Buffer.from(id.tokenId), Buffer.from(t));
    }),
    { numRuns: 100 },
  );
});

const headerText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.tuple(fc.constantFrom('L402 ', 'LSAT ', 'l402  ', 'Bearer '), fc.string({ maxLength: 200 })).map(([a, b]) => a + b),
  fc
    .tuple(
      fc.constantFrom('L402 ', 'LSAT '),
      fc.base64String({ maxLength: 300 }),
      fc.constantFrom(':', ','),
      fc.stringMatching(/^[0-9a-fA-F]{0,70}$/),
    )
    .map((p) => p.join('')),
);

test('readCredential: random headers never throw', () => {
  fc.assert(
    fc.property(fc.array(headerText, { maxLength: 3 }), fc.option(fc.string({ maxLength: 100 })), (auth, mac) => {
      const r = readCredential(request({ authorization: auth, ...(mac === null ? {} : { macaroon: mac }) }));
      assert.ok(['none', 'credential', 'invalid'].includes(r.kind));
      if (r.kind === 'invalid') assert.match(r.code, /^L402_ERR_/);
    }),
    RUNS,
  );
});

test('Verifier.verify: random headers give a result', () => {
  const verifier = new Verifier({ secrets: new MemorySecretStore() });
  fc.assert(
    fc.property(headerText, (auth) => {
      const r = verifier.verify(request({ authorization: auth }), { service: 'api' });
      assert.ok(!(r instanceof Promise));
      assert.equal(r.ok, false);
    }),
    RUNS,
  );
});

test('parseChallenges: random strings never throw; formatted challenges parse back', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 200 }), { maxLength: 3 }), (v) => void parseChallenges(v)),
    RUNS,
  );
  fc.assert(
    fc.property(fc.base64String({ minLength: 4, maxLength: 100 }), fc.stringMatching(/^ln[a-z0-9]{1,60}$/), (mac, inv) => {
      const parsed = parseChallenges(
        formatChallenge(mac, inv)
          .map(([, v]) => v)
          .join(', '),
      );
      assert.deepEqual(
        parsed.map((p) => [p.scheme, p.macaroon, p.invoice]),
        [
          ['LSAT', mac, inv],
          ['L402', mac, inv],
        ],
      );
    }),
    { numRuns: 200 },
  );
});

test('caveats: random conditions give a result; services round-trip', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 6 }), (conds) => {
      const r = checkCaveats(conds, 'api', 'read', 0, undefined, 'x');
      if (!r.ok) assert.match(r.code, /^L402_ERR_TOKEN_/);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(
      fc.array(fc.record({ name: fc.stringMatching(/^[a-z0-9_.-]{1,10}$/), tier: fc.integer({ min: 0, max: 255 }) }), {
        minLength: 1,
        maxLength: 4,
      }),
      (svcs) => {
        assert.deepEqual(
          parseServices(servicesCaveat(svcs).slice('services='.length)),
          svcs.map((s) => ({ name: s.name, tier: s.tier })),
        );
      },
    ),
    { numRuns: 200 },
  );
});
