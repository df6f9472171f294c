// Challenges the Go aperture issued with the shared secret (id keyed with the secret
// itself, no service binding), accepted with `acceptGoChallenges` so that a client who
// paid one before a switch is served after it: once, on a service it pays enough for,
// before its expiry, in this realm; refused without the option.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MppAccepted, MppRefused, MppVerification } from '../../src/mpp/mpp-scheme.js';
import { goChallenge, invoiceOf, paymentHeader, requestWith, world } from './support.js';

const REALM = 'api.example.test';
const quotes = { service: 'quotes', priceSats: 10 };
const premium = { service: 'premium', priceSats: 50 };

function accepted(v: MppVerification): MppAccepted {
  assert.equal(v.kind, 'accepted', v.kind === 'refused' ? `${v.code}: ${v.problem.detail}` : v.kind);
  return v as MppAccepted;
}
function refused(v: MppVerification, code: string): MppRefused {
  assert.equal(v.kind, 'refused');
  const r = v as MppRefused;
  assert.equal(r.code, code, r.problem.detail);
  return r;
}

/** A world accepting Go challenges, and a paid Go charge challenge of `amountSats`. */
async function paidGoCharge(
  amountSats: number,
  options: { accept?: boolean; realm?: string; ttlMs?: number; goConsumed?: (hash: string) => Promise<boolean> } = {},
) {
  const w = world({
    acceptGoChallenges: options.accept ?? true,
    ...(options.goConsumed === undefined ? {} : { goChargeConsumed: options.goConsumed }),
  });
  const go = await goChallenge(w.server, w.secret, {
    realm: options.realm ?? REALM,
    amountSats,
    expiresAt: w.clock.ms + (options.ttlMs ?? 15 * 60_000),
  });
  const { preimage } = await w.server.pay(go.invoice);
  return { w, go, header: paymentHeader(go.challenge, { preimage }), preimage };
}

describe('MppScheme: Go-issued challenges', () => {
  it('accepts a paid Go charge challenge once on a service it pays enough for, and refuses its replay', async () => {
    const { w, go, header } = await paidGoCharge(10);
    const ok = accepted(await w.scheme.verify(requestWith(header), quotes));
    assert.equal(ok.intent, 'charge');
    assert.equal(ok.reference, go.paymentHash);
    assert.equal(ok.challengeId, go.challenge.id);
    assert.equal(ok.chargedSats, 10);
    refused(await w.scheme.verify(requestWith(header), quotes), 'L402_ERR_MPP_REPLAYED');
  });

  it('refuses it on a service whose price is above its amount, and accepts it where the amount covers the price', async () => {
    const { w, header } = await paidGoCharge(10);
    refused(await w.scheme.verify(requestWith(header), premium), 'L402_ERR_MPP_WRONG_AMOUNT');
    // The refusal consumed nothing: the cheaper service still takes it.
    accepted(await w.scheme.verify(requestWith(header), { service: 'cheap', priceSats: 5 }));
  });

  it('refuses it once expired', async () => {
    const { w, header } = await paidGoCharge(10, { ttlMs: 60_000 });
    w.clock.advance(60_000);
    refused(await w.scheme.verify(requestWith(header), quotes), 'L402_ERR_MPP_CHALLENGE_EXPIRED');
  });

  it('refuses it from another realm', async () => {
    const { w, header } = await paidGoCharge(10, { realm: 'other.example.test' });
    refused(await w.scheme.verify(requestWith(header), quotes), 'L402_ERR_MPP_CHALLENGE_UNKNOWN');
  });

  it('refuses it without acceptGoChallenges', async () => {
    const { w, header } = await paidGoCharge(10, { accept: false });
    refused(await w.scheme.verify(requestWith(header), quotes), 'L402_ERR_MPP_CHALLENGE_UNKNOWN');
  });

  it('refuses one signed with another secret, or altered', async () => {
    const { w, go, preimage } = await paidGoCharge(10);
    const other = await goChallenge(w.server, Buffer.alloc(32, 7), { realm: REALM, amountSats: 10, expiresAt: w.clock.ms + 60_000 });
    const paid = await w.server.pay(other.invoice);
    refused(
      await w.scheme.verify(requestWith(paymentHeader(other.challenge, { preimage: paid.preimage })), quotes),
      'L402_ERR_MPP_CHALLENGE_UNKNOWN',
    );
    const later = { ...go.challenge, expires: '2999-01-01T00:00:00Z' };
    refused(await w.scheme.verify(requestWith(paymentHeader(later, { preimage })), quotes), 'L402_ERR_MPP_CHALLENGE_UNKNOWN');
  });

  it('refuses a charge the Go aperture already consumed, asking only for Go-issued challenges', async () => {
    const asked: string[] = [];
    const goConsumed = async (hash: string): Promise<boolean> => {
      asked.push(hash);
      return true;
    };
    const { w, go, header } = await paidGoCharge(10, { goConsumed });
    refused(await w.scheme.verify(requestWith(header), quotes), 'L402_ERR_MPP_REPLAYED');
    assert.deepEqual(asked, [go.paymentHash]);
    // A challenge of this program is not the Go aperture's to have consumed.
    const [offer] = await w.scheme.offers({ ...quotes, intents: ['charge'] });
    const { preimage } = await w.server.pay(invoiceOf(offer!));
    accepted(await w.scheme.verify(requestWith(paymentHeader(offer!.challenge, { preimage })), quotes));
    assert.equal(asked.length, 1);
  });

  it('refuses a wrong preimage', async () => {
    const { w, go } = await paidGoCharge(10);
    refused(
      await w.scheme.verify(requestWith(paymentHeader(go.challenge, { preimage: '00'.repeat(32) })), quotes),
      'L402_ERR_MPP_BAD_PREIMAGE',
    );
  });

  it('opens a session from a paid Go session challenge whose unit price covers the price, not from a cheaper one', async () => {
    const w = world({ acceptGoChallenges: true });
    const cheap = await goChallenge(w.server, w.secret, { realm: REALM, intent: 'session', amountSats: 1, expiresAt: w.clock.ms + 60_000 });
    const cheapPaid = await w.server.pay(cheap.invoice);
    const cheapOpen = { action: 'open', preimage: cheapPaid.preimage, returnInvoice: await w.returnInvoice() };
    refused(await w.scheme.verify(requestWith(paymentHeader(cheap.challenge, cheapOpen)), quotes), 'L402_ERR_MPP_WRONG_AMOUNT');
    const go = await goChallenge(w.server, w.secret, { realm: REALM, intent: 'session', amountSats: 10, expiresAt: w.clock.ms + 60_000 });
    const { preimage } = await w.server.pay(go.invoice);
    const open = accepted(
      await w.scheme.verify(
        requestWith(paymentHeader(go.challenge, { action: 'open', preimage, returnInvoice: await w.returnInvoice() })),
        quotes,
      ),
    );
    assert.equal(open.action, 'open');
    assert.equal(open.balanceSats, 200 - 10);
  });
});
