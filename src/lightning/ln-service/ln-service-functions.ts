/**
 * The functions of the `lightning` (or `ln-service`) npm package that the
 * adapter calls, typed as far as it uses them. The package is an optional peer
 * dependency: it is imported only when the caller does not pass the functions.
 */
import type { EventEmitter } from 'node:events';
import { L402Error } from '../../core/errors.js';

/** An authenticated lnd handle from `authenticatedLndGrpc(...).lnd`. */
export type LnServiceLnd = object;

/** The subset of `lightning` / `ln-service` exports used. */
export interface LnServiceFunctions {
  createInvoice(args: {
    lnd: LnServiceLnd;
    tokens: number;
    description?: string;
    expires_at?: string;
  }): Promise<{ id: string; request: string; tokens: number }>;
  getInvoice(args: { lnd: LnServiceLnd; id: string }): Promise<{
    id: string;
    is_confirmed: boolean;
    is_canceled?: boolean;
    is_held?: boolean;
    received: number;
    confirmed_at?: string;
  }>;
  subscribeToInvoices(args: { lnd: LnServiceLnd; restart_delay_ms?: number }): EventEmitter;
  pay(args: { lnd: LnServiceLnd; request: string; tokens?: number; max_fee?: number; pathfinding_timeout?: number }): Promise<{
    id: string;
    secret: string;
    fee: number;
    fee_mtokens?: string;
    tokens: number;
    mtokens?: string;
  }>;
  getPayment(args: { lnd: LnServiceLnd; id: string }): Promise<{
    is_confirmed: boolean;
    is_failed: boolean;
    is_pending: boolean;
    payment?: { id: string; secret: string; fee: number; fee_mtokens?: string; tokens: number; mtokens?: string };
  }>;
}

/**
 * The functions of the installed `lightning` package, falling back to `ln-service`.
 * @returns the package's exports
 * @throws L402Error `L402_ERR_LN_SERVICE_MISSING` when neither package is installed
 */
export async function importLnServiceFunctions(): Promise<LnServiceFunctions> {
  for (const name of ['lightning', 'ln-service']) {
    try {
      const loaded = (await import(name)) as { default?: LnServiceFunctions } & Partial<LnServiceFunctions>;
      const fns = (typeof loaded.createInvoice === 'function' ? loaded : loaded.default) as LnServiceFunctions | undefined;
      if (fns !== undefined && typeof fns.createInvoice === 'function') return fns;
    } catch {
      // Not installed: try the next one.
    }
  }
  throw new L402Error(
    'L402_ERR_LN_SERVICE_MISSING',
    'the ln-service adapter needs the `lightning` or `ln-service` package: npm install lightning',
  );
}

/**
 * The status and message of an error the package rejects with (`[code, message, {err}]`).
 * @param error - what a call rejected with
 * @returns HTTP-like status, the gRPC status code of lnd's error when there is one, and a description
 *   including lnd's own details
 */
export function describeLnServiceError(error: unknown): { status: number | undefined; grpcCode: number | undefined; message: string } {
  if (Array.isArray(error)) {
    const [status, message, extra] = error as [
      unknown,
      unknown,
      { err?: { code?: unknown; details?: string; message?: string } } | undefined,
    ];
    const details = extra?.err?.details ?? extra?.err?.message;
    return {
      status: typeof status === 'number' ? status : undefined,
      grpcCode: typeof extra?.err?.code === 'number' ? extra.err.code : undefined,
      message: `${String(message)}${details !== undefined ? `: ${details}` : ''}`,
    };
  }
  return { status: undefined, grpcCode: undefined, message: error instanceof Error ? error.message : String(error) };
}
