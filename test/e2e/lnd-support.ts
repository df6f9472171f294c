// Helpers of the end-to-end tests that run aperture against the fake lnd.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendHealth, InvoiceStatus } from '../../src/core/types.js';
import { decodeInvoice } from '../../src/lightning/decode-invoice.js';
import type { LndInvoicer } from '../../src/lightning/lnd/lnd-invoicer.js';
import type { RunningAperture } from '../../src/app/start-aperture.js';
import type { TransactionRecord } from '../../src/store/aperture-store.js';
import type { FakeLnd } from '../fixtures/fake-lnd.js';
import { h1 } from '../proxy/support.js';
import { challengeOf, wwwAuthenticate } from './support.js';

/**
 * Writes what an operator points aperture at: lnd's `tls.cert` and a macdir
 * holding `invoice.macaroon`.
 * @returns the config lines of `authenticator` for this fake
 */
export function lndFiles(fake: FakeLnd, dir: string): { tlsPath: string; macDir: string; yaml: string } {
  const macDir = join(dir, 'macaroons');
  mkdirSync(macDir, { recursive: true });
  const tlsPath = join(dir, 'lnd-tls.cert');
  writeFileSync(tlsPath, fake.cert);
  // Scoped as lnd's own invoice.macaroon: no GetInfo, no payments.
  writeFileSync(join(macDir, 'invoice.macaroon'), fake.invoiceMacaroon);
  return {
    tlsPath,
    macDir,
    yaml: `authenticator:\n  lndhost: ${fake.host}\n  tlspath: ${tlsPath}\n  macdir: ${macDir}\n  network: regtest\n`,
  };
}

/** A fresh challenge of aperture: macaroon, invoice, payment hash. */
export interface Challenge {
  macaroon: string;
  invoice: string;
  paymentHash: string;
}

/** GETs `path` without a credential and expects a 402. */
export async function challenge(aperture: RunningAperture, path = '/api/x'): Promise<Challenge> {
  const res = await h1(`${aperture.url}${path}`);
  assert.equal(res.status, 402, `expected 402, got ${res.status} ${res.body}`);
  const { macaroon, invoice } = challengeOf(wwwAuthenticate(res.rawHeaders));
  return { macaroon, invoice, paymentHash: decodeInvoice(invoice).paymentHash };
}

/** The `Authorization` header of a challenge, with the preimage the fake lnd holds for its invoice. */
export function authorizationFor(fake: FakeLnd, c: Challenge): string {
  const invoice = fake.invoice(c.paymentHash);
  assert.ok(invoice !== undefined, 'the fake lnd created the invoice');
  return `L402 ${c.macaroon}:${invoice.r_preimage.toString('hex')}`;
}

/** Resolves with the next health of aperture's LndInvoicer whose `ok` is `ok`. */
export function nextHealth(aperture: RunningAperture, ok: boolean): Promise<BackendHealth> {
  const invoicer = aperture.invoicer as LndInvoicer;
  return new Promise((resolve) => {
    const off = invoicer.onHealthChange((health) => {
      if (health.ok !== ok) return;
      off();
      resolve(health);
    });
  });
}

/** Resolves when aperture's invoicer reports this invoice settled. */
export function nextSettlement(aperture: RunningAperture, hash: string): Promise<InvoiceStatus> {
  const invoicer = aperture.invoicer as LndInvoicer;
  return new Promise((resolve) => {
    const off = invoicer.onSettled((status) => {
      if (status.paymentHash !== hash) return;
      off();
      resolve(status);
    });
  });
}

/** The ledger row of a payment hash. */
export async function ledgerRow(aperture: RunningAperture, hash: string): Promise<TransactionRecord | undefined> {
  const page = await aperture.store.listTransactions({ limit: 1000 });
  return page.items.find((r) => r.paymentHash === hash);
}

/**
 * Resolves once the ledger row of `hash` is settled. The settlement write
 * starts inside the invoicer's listener, so a few event-loop turns after the
 * settlement event suffice; the limit only bounds a failing test.
 */
export async function settledInLedger(aperture: RunningAperture, hash: string, limitMs = 5000): Promise<TransactionRecord> {
  const start = Date.now();
  for (;;) {
    const row = await ledgerRow(aperture, hash);
    if (row?.state === 'settled') return row;
    if (Date.now() - start > limitMs) assert.fail(`ledger row of ${hash} is ${row?.state ?? 'missing'}, not settled`);
    await new Promise((r) => setImmediate(r));
  }
}

/** The value of a metric without labels in a Prometheus text body. */
export async function metricValue(aperture: RunningAperture, name: string): Promise<number | undefined> {
  const res = await h1(`http://127.0.0.1:${aperture.addresses.metrics?.port}/metrics`);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(res.body);
  return m === null ? undefined : Number(m[1]);
}
