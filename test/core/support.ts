// Test helpers for the core: a RequestView over a header table, the test clock,
// and an in-process Invoicer fake that creates real payment hashes.
import { createHash, randomBytes } from 'node:crypto';
import type { CreateInvoiceRequest, Invoice, InvoiceStatus, Invoicer, RequestView } from '../../src/core/types.js';

export function request(headers: Record<string, string | readonly string[]> = {}): RequestView {
  const table = new Map<string, readonly string[]>();
  for (const [k, v] of Object.entries(headers)) table.set(k.toLowerCase(), typeof v === 'string' ? [v] : v);
  return {
    method: 'GET',
    host: 'api.example:443',
    path: '/v1/thing',
    remoteAddress: '127.0.0.1',
    header: (name) => table.get(name)?.[0],
    headerValues: (name) => table.get(name) ?? [],
  };
}

/** The tests' one clock (test/fixtures/test-clock.ts), here for the core tests that import it from this file. */
export { TestClock } from '../fixtures/test-clock.js';

/** An Invoicer fake: remembers preimages so that tests can "pay". */
export class FakeInvoicer implements Invoicer {
  readonly preimages = new Map<string, string>();
  readonly requests: CreateInvoiceRequest[] = [];
  failWith: Error | undefined;
  private n = 0;

  createInvoice(req: CreateInvoiceRequest): Promise<Invoice> {
    this.requests.push(req);
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    const preimage = randomBytes(32);
    const paymentHash = createHash('sha256').update(preimage).digest('hex');
    this.preimages.set(paymentHash, preimage.toString('hex'));
    this.n++;
    return Promise.resolve({
      paymentRequest: `lnbcrt${req.amountSats}n1fake${this.n}`,
      paymentHash,
      amountSats: req.amountSats,
      expiresAt: 0,
    });
  }
  lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    return Promise.resolve({ paymentHash, state: 'open' });
  }
  onSettled(): () => void {
    return () => undefined;
  }
  health() {
    return { ok: true, since: 0 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  preimageOf(paymentHash: string): string {
    const p = this.preimages.get(paymentHash);
    if (p === undefined) throw new Error('unknown payment hash');
    return p;
  }
}
