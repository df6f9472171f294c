import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BudgetExceededError, ConfigError, InvoiceError, L402Error, PaymentError } from '../../src/core/errors.js';
import { isL402ErrorCode, L402_ERROR_CODES } from '../../src/core/error-codes.js';

test('errors carry a stable code, a status and the cause', () => {
  const cause = new Error('socket hang up');
  const err = new InvoiceError('L402_ERR_LN_UNAVAILABLE', 'lnd is unreachable', { cause });
  assert.equal(err.code, 'L402_ERR_LN_UNAVAILABLE');
  assert.equal(err.status, 503);
  assert.equal(err.cause, cause);
  assert.ok(err instanceof L402Error);
  assert.ok(err instanceof InvoiceError);
  assert.ok(!(err instanceof PaymentError));
});

test('ConfigError reports every issue with its path', () => {
  const err = new ConfigError([
    { path: 'services[2].price', message: 'must be a non-negative integer' },
    { path: 'listenaddr', message: 'missing port' },
  ]);
  assert.equal(err.code, 'L402_ERR_CONFIG_INVALID');
  assert.equal(err.issues.length, 2);
  assert.match(err.message, /services\[2\]\.price: must be a non-negative integer/);
  assert.match(err.message, /listenaddr: missing port/);
});

test('instanceof works for an error from another copy of the package', () => {
  // A second copy of the package has its own classes with the same names and the
  // same global brand symbol.
  const brand = Symbol.for('aperture-ts.L402Error');
  const copy = (() => {
    class L402Error extends Error {
      get [brand]() {
        return true;
      }
    }
    class PaymentError extends L402Error {}
    class BudgetExceededError extends PaymentError {}
    return { BudgetExceededError };
  })();
  const foreign = new copy.BudgetExceededError('too much');
  assert.ok(foreign instanceof L402Error);
  assert.ok(foreign instanceof PaymentError);
  assert.ok(foreign instanceof BudgetExceededError);
  assert.ok(!(foreign instanceof ConfigError));
  assert.ok(!(new Error('plain') instanceof L402Error));
});

test('BudgetExceededError is a PaymentError with its own code', () => {
  const err = new BudgetExceededError('price 2000 sat is over the 1000 sat limit');
  assert.equal(err.code, 'L402_ERR_CLIENT_BUDGET_EXCEEDED');
  assert.ok(err instanceof PaymentError);
  assert.ok(err instanceof L402Error);
});

test('the constructors take only codes of the table; a misspelt code fails the type check', () => {
  // @ts-expect-error: not a code of src/core/error-codes.ts (unused directive = the type check fails)
  const typo = new L402Error('L402_ERR_LN_UNAVIALABLE', 'misspelt');
  // @ts-expect-error: the subclasses take the same codes
  const subclassTypo = new InvoiceError('L402_ERR_STORE_DOWN', 'not a code');
  assert.equal(typo.code, 'L402_ERR_LN_UNAVIALABLE');
  assert.equal(subclassTypo.status, 503);
  assert.ok(isL402ErrorCode('L402_ERR_LN_UNAVAILABLE'));
  assert.ok(!isL402ErrorCode(typo.code));
  assert.ok(!isL402ErrorCode('constructor'));
  assert.ok(!isL402ErrorCode(undefined));
  assert.equal(L402_ERROR_CODES.L402_ERR_LN_UNAVAILABLE, 'lightning');
});
