/**
 * Errors with stable codes.
 *
 * Every error this package throws is an {@link L402Error} with a `code` of the
 * form `L402_ERR_<AREA>_<WHAT>`. Codes are never reused; `docs/errors.md` lists
 * each one with when it happens and how to fix it.
 *
 * A missing, bad or expired token is never an exception: the core returns it as
 * a decision. Exceptions are for configuration errors, programmer errors and
 * infrastructure faults.
 */

import type { L402ErrorCode } from './error-codes.js';

const BRAND = Symbol.for('aperture-ts.L402Error');

/** Options shared by every error constructor. */
export interface L402ErrorOptions {
  /** HTTP status a server should answer with, when the error reaches a client. */
  status?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Base class of every error thrown by this package.
 *
 * `instanceof` works across duplicate copies of the package (it checks a
 * global symbol brand rather than the prototype chain).
 */
export class L402Error extends Error {
  /** Stable machine-readable code, `L402_ERR_<AREA>_<WHAT>`, one of {@link L402ErrorCode}. */
  readonly code: L402ErrorCode;
  /** HTTP status suggested for a response, when one applies. */
  readonly status: number | undefined;

  /**
   * @param code - the stable error code, from the code table (docs/errors.md)
   * @param message - a human-readable explanation
   * @param options - HTTP status and cause
   */
  constructor(code: L402ErrorCode, message: string, options: L402ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'L402Error';
    this.code = code;
    this.status = options.status;
  }

  /**
   * Brand check so that `instanceof` works across package copies: a value is an
   * instance when it carries the global brand and a class of this name is on its
   * prototype chain.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value) && hasName(value, this.name);
  }

  /** @internal */
  get [BRAND](): true {
    return true;
  }
}

function isBranded(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

function hasName(value: unknown, name: string): boolean {
  let proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  while (proto !== null) {
    if (proto.constructor?.name === name) return true;
    proto = Object.getPrototypeOf(proto) as { constructor?: { name?: string } } | null;
  }
  return false;
}

/** One problem found in a configuration, with the path of the offending key. */
export interface ConfigIssue {
  /** Path of the key, e.g. `services[2].price`. */
  path: string;
  /** What is wrong and, where possible, how to fix it. */
  message: string;
}

/**
 * A configuration is invalid. Carries every problem found, not only the first.
 */
export class ConfigError extends L402Error {
  /** Every problem found, each with its path. */
  readonly issues: readonly ConfigIssue[];

  /**
   * @param issues - every problem found
   * @param options - cause
   */
  constructor(issues: readonly ConfigIssue[], options: L402ErrorOptions = {}) {
    const lines = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
    super(
      'L402_ERR_CONFIG_INVALID',
      `invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines}`,
      options,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** The Lightning backend could not create or look up an invoice. */
export class InvoiceError extends L402Error {
  constructor(code: L402ErrorCode, message: string, options: L402ErrorOptions = {}) {
    super(code, message, { status: 503, ...options });
    this.name = 'InvoiceError';
  }
}

/** The upstream (backend) service failed. */
export class UpstreamError extends L402Error {
  constructor(code: L402ErrorCode, message: string, options: L402ErrorOptions = {}) {
    super(code, message, { status: 502, ...options });
    this.name = 'UpstreamError';
  }
}

/** A payment could not be made or was refused before it was made. */
export class PaymentError extends L402Error {
  constructor(code: L402ErrorCode, message: string, options: L402ErrorOptions = {}) {
    super(code, message, options);
    this.name = 'PaymentError';
  }
}

/** A client-side spending limit would be exceeded; nothing was paid. */
export class BudgetExceededError extends PaymentError {
  constructor(message: string, options: L402ErrorOptions = {}) {
    super('L402_ERR_CLIENT_BUDGET_EXCEEDED', message, options);
    this.name = 'BudgetExceededError';
  }
}
