/**
 * Cases shared by the invoicers whose settlements come from a WebSocket of an
 * HTTP server (LNbits, phoenixd), run against their fakes: losing the server
 * and reconciling a payment missed meanwhile, and an expired unpaid invoice.
 * Call it inside the backend's `describe`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { BackendHealth, Clock, Invoicer } from '../../src/core/types.js';
import type { BackoffOptions } from '../../src/lightning/backoff.js';
import type { FakeHttpServer } from '../fixtures/fake-http-server.js';
import { TestClock } from '../fixtures/test-clock.js';
import type { ServedFake } from './fake-backend-subjects.js';
import { FAST_BACKOFF, healthWatch, nextSettled } from './invoicer-events.js';

/** Options the cases add to the invoicer's. */
export interface CaseOptions {
  backoff?: BackoffOptions;
  onHealthChange?: (health: BackendHealth) => void;
  clock?: Clock;
}

/** How to run the cases against one backend. */
export interface WebSocketInvoicerSetup<F extends ServedFake & { server: FakeHttpServer }> {
  /** The stream in the case's title, e.g. `the WebSocket`. */
  stream: string;
  /** Starts a fake. */
  start(): Promise<F>;
  /** Connects an invoicer to it with these options added. */
  connect(fake: F, options: CaseOptions): Promise<Invoicer>;
}

/**
 * Registers the cases.
 * @param setup - the backend's fake and invoicer
 */
export function webSocketInvoicerCases<F extends ServedFake & { server: FakeHttpServer }>(setup: WebSocketInvoicerSetup<F>): void {
  it(`loses ${setup.stream}, answers 503 meanwhile, and reconciles a payment missed while it was down`, async () => {
    const fake = await setup.start();
    const health = healthWatch();
    const invoicer = await setup.connect(fake, { backoff: FAST_BACKOFF, onHealthChange: health.onHealthChange });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 9 });
      const down = health.next(false);
      await fake.server.stop();
      await down;
      await assert.rejects(invoicer.createInvoice({ amountSats: 1 }), { code: 'L402_ERR_LN_UNAVAILABLE', status: 503 });
      fake.node.settle(invoice.paymentHash);
      const settled = nextSettled(invoicer, invoice.paymentHash);
      const up = health.next(true);
      await fake.server.start();
      await up;
      const status = await settled;
      assert.equal(status.amountPaidSats, 9);
      assert.equal(typeof status.settledAt, 'number');
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });

  it('reports an expired unpaid invoice as canceled', async () => {
    const fake = await setup.start();
    const clock = new TestClock(Date.now());
    const invoicer = await setup.connect(fake, { clock });
    try {
      const invoice = await invoicer.createInvoice({ amountSats: 1, expirySeconds: 60 });
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'open');
      clock.advance(61_000);
      assert.equal((await invoicer.lookupInvoice(invoice.paymentHash)).state, 'canceled');
    } finally {
      await invoicer.close();
      await fake.server.close();
    }
  });
}
