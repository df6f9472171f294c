// What the per-role conformance suites need from a test file: fresh stores on
// an empty database, and two instances on one database for the concurrency
// cases. Each role suite takes a harness typed by its role only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { L402Error } from '../../../src/core/errors.js';

/** One store and how to get rid of it. */
export interface Opened<S> {
  store: S;
  cleanup(): Promise<void>;
}

/** Two instances on one database and how to get rid of them. */
export interface OpenedPair<S> {
  a: S;
  b: S;
  cleanup(): Promise<void>;
}

/** How a test file gives a role suite its stores. */
export interface RoleHarness<S> {
  /** A fresh store on an empty database. */
  open(): Promise<Opened<S>>;
  /**
   * Two instances on one fresh database: two connections to one file, two
   * pools on one schema. For the memory store, the same instance twice.
   */
  openPair(): Promise<OpenedPair<S>>;
  /** Whether `openPair` gives two separate instances (false for memory). */
  separateInstances: boolean;
  /** Reason to skip (database unreachable), read when each test runs. */
  skip?: () => string | undefined;
}

export const T0 = 1_700_000_000_000;
export const HOUR = 3_600_000;

export const hex = (n = 32): string => randomBytes(n).toString('hex');

/** sha256(0x0000 ‖ payment_hash ‖ token_id), computed independently of the store. */
export function idHashOf(paymentHash: string, tokenId: string): Uint8Array {
  const identifier = Buffer.concat([Buffer.from([0, 0]), Buffer.from(paymentHash, 'hex'), Buffer.from(tokenId, 'hex')]);
  return new Uint8Array(createHash('sha256').update(identifier).digest());
}

/** Asserts that `promise` (or calling it) rejects with an L402Error of `code`. */
export async function rejectsWith(promise: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  await assert.rejects(
    async () => (typeof promise === 'function' ? promise() : promise),
    (e: unknown) => e instanceof L402Error && e.code === code,
  );
}

/** Splits `n` calls between the two instances, alternating, and runs them all at once. */
export function race<S, T>(pair: { a: S; b: S }, n: number, call: (store: S, i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => call(i % 2 === 0 ? pair.a : pair.b, i)));
}

/**
 * Test registration bound to a harness: `it` gets a fresh store, `itPair` two
 * instances on one database; both clean up after the test, even when it fails.
 */
export function bind<S>(harness: RoleHarness<S>): {
  it(title: string, body: (store: S) => Promise<void>): void;
  itPair(title: string, body: (pair: OpenedPair<S>) => Promise<void>): void;
} {
  const run = <O extends { cleanup(): Promise<void> }>(
    title: string,
    opener: () => Promise<O>,
    body: (opened: O) => Promise<void>,
  ): void => {
    test(title, async (t) => {
      const reason = harness.skip?.();
      if (reason !== undefined) {
        t.skip(reason);
        return;
      }
      const opened = await opener();
      try {
        await body(opened);
      } finally {
        await opened.cleanup();
      }
    });
  };
  return {
    it: (title, body) =>
      run(
        title,
        () => harness.open(),
        (o) => body(o.store),
      ),
    itPair: (title, body) => run(title, () => harness.openPair(), body),
  };
}
