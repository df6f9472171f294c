/**
 * The contracts between the core and everything around it: the request view
 * adapters hand in, the decision they write out, and the pluggable parts
 * (Lightning backend, secret store, clock).
 *
 * Nothing here touches the network, a framework or a Lightning SDK.
 */
import type { Refusal } from './refusal.js';
import type { L402ErrorCode } from './error-codes.js';
import type { Offer } from './payment-scheme.js';

/** A value or a promise of it. Synchronous implementations keep the hot path free of awaits. */
export type MaybePromise<T> = T | Promise<T>;

/** Source of the current time, injected so that tests are deterministic. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * The minimal read-only view of a request that the core needs. No body: L402
 * decisions never need one.
 */
export interface RequestView {
  /** Upper-case method, e.g. `GET`. gRPC calls are `POST`. */
  readonly method: string;
  /** Host header (or HTTP/2 `:authority`) as received, port included. */
  readonly host: string;
  /** Path and query as received, e.g. `/v1/quote?x=1`; for gRPC `/pkg.Service/Method`. */
  readonly path: string;
  /** Address of the client as the core should see it (after trusted-proxy handling). */
  readonly remoteAddress: string;
  /** The first value of a header; `name` is lower-case. */
  header(name: string): string | undefined;
  /**
   * Every value of a header, in order; `name` is lower-case. Used for
   * `authorization`, where Go clients send two lines (LSAT, then L402) and two
   * that differ must be rejected rather than "last one wins".
   */
  headerValues(name: string): readonly string[];
}

/** Response headers as ordered name/value pairs: a name may repeat (two `WWW-Authenticate` lines). */
export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

/** One entry of a `services` caveat. */
export interface ServiceTier {
  /** Service name. */
  name: string;
  /** Tier, an unsigned 8-bit integer; 0 is the base tier. */
  tier: number;
}

/** A token that passed verification. */
export interface VerifiedToken {
  /** The token ID: 32 random bytes of the identifier as lower-case hex. */
  tokenId: string;
  /** The payment hash of the invoice the token was minted with, lower-case hex. */
  paymentHash: string;
  /** Every first-party caveat, in order, as `condition=value` strings. */
  caveats: readonly string[];
  /** The effective `services` caveat, or `undefined` when the token is valid for every service. */
  services: readonly ServiceTier[] | undefined;
}

/** Let the request through. */
export interface AllowDecision {
  kind: 'allow';
  /** Why it was allowed. */
  reason: 'paid' | 'free' | 'whitelist' | 'freebie' | 'auth-off';
  /** The verified token, when the request carried one. */
  token?: VerifiedToken;
  /** The payment scheme that accepted the credential (`L402`…), when one did. */
  scheme?: string;
  /** The accepting scheme's own view of the credential, when it has more to tell than `token`. */
  credential?: unknown;
  /** Headers the accepting scheme adds to the response (a receipt), in order. */
  headers?: HeaderList;
}

/** Answer with a payment challenge (HTTP 402, or gRPC status 13 over HTTP/2). */
export interface ChallengeDecision {
  kind: 'challenge';
  /** HTTP status, 402. */
  status: number;
  /** Headers to send: every offer's challenge lines in scheme order (L402 first), then the content headers. */
  headers: HeaderList;
  /** The body: `payment required\n` in plain text, unless an offer supplies its own. */
  body: string;
  /** Why the request did not pass (missing, bad, expired credential…), as a stable code. */
  code: L402ErrorCode;
  /** One offer per payment scheme, in scheme order. */
  offers: readonly Offer[];
  /** Payment hash of the first offer's invoice, lower-case hex. */
  paymentHash: string;
  /** Token ID of the first offer, lower-case hex. */
  tokenId: string;
  /** Price of the first offer in satoshis. */
  priceSats: number;
  /** Why the request's credential was refused, when it carried one (for logs and metrics; `tokenId` above is the new token's). */
  refusal?: Refusal;
}

/** Refuse the request without a challenge (401, 403, 429, 503…). */
export interface RejectDecision {
  kind: 'reject';
  /** HTTP status. */
  status: number;
  /** Headers to send, e.g. `Retry-After`. */
  headers: HeaderList;
  /** Plain-text body. */
  body: string;
  /** Stable code, `L402_ERR_…`. */
  code: L402ErrorCode;
  /** Why the request's credential was refused, when this answers a refused credential (401 of a skip-invoice route). */
  refusal?: Refusal;
}

/** What the core tells an adapter to do. Adapters only write it out. */
export type Decision = AllowDecision | ChallengeDecision | RejectDecision;

/** A request to create an invoice. */
export interface CreateInvoiceRequest {
  /** Amount in satoshis, a non-negative integer. */
  amountSats: number;
  /** Invoice description. */
  memo?: string;
  /** Seconds until the invoice expires; the backend's default when absent. */
  expirySeconds?: number;
}

/** An invoice created by a Lightning backend. */
export interface Invoice {
  /** BOLT11 payment request. */
  paymentRequest: string;
  /** Payment hash, 32 bytes as lower-case hex. */
  paymentHash: string;
  /** Amount in satoshis. */
  amountSats: number;
  /** When the invoice expires, ms since the epoch. */
  expiresAt: number;
}

/** State of an invoice as the Lightning backend reports it. */
export type InvoiceState = 'open' | 'accepted' | 'settled' | 'canceled';

/** An invoice's current status. */
export interface InvoiceStatus {
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** Current state. */
  state: InvoiceState;
  /** Amount paid in satoshis, when settled. */
  amountPaidSats?: number;
  /** When it was settled, ms since the epoch. */
  settledAt?: number;
}

/** Health of a Lightning backend, for metrics and the admin API. */
export interface BackendHealth {
  /** Whether the backend can currently create invoices. */
  ok: boolean;
  /** Human-readable detail, e.g. the last connection error. */
  detail?: string;
  /** When the state last changed, ms since the epoch. */
  since: number;
}

/**
 * Server side of a Lightning backend: creates invoices and reports settlement.
 * Implementations: `LndInvoicer`, `DevInvoicer`, the `ln-service` adapter.
 */
export interface Invoicer {
  /**
   * Creates an invoice.
   * @throws InvoiceError `L402_ERR_LN_…` when the backend is unreachable or refuses.
   */
  createInvoice(request: CreateInvoiceRequest): Promise<Invoice>;
  /**
   * Looks up an invoice by payment hash.
   * @throws InvoiceError when the backend is unreachable or does not know the invoice.
   */
  lookupInvoice(paymentHash: string): Promise<InvoiceStatus>;
  /**
   * Registers a listener for settlements; returns a function that removes it.
   * Settlements missed while disconnected are delivered after reconnecting.
   */
  onSettled(listener: (status: InvoiceStatus) => void): () => void;
  /** Current health. */
  health(): BackendHealth;
  /** Releases connections and timers. */
  close(): Promise<void>;
  /**
   * `false` for a backend that cannot report settlement (`WavelengthInvoicer`): `onSettled` never fires
   * and `lookupInvoice` refuses, so strict verification is refused with it and the `aperture` program
   * neither reconciles nor garbage-collects its pending challenges. Absent or `true`: settlement is reported.
   */
  readonly tracksSettlement?: boolean;
}

/** Options for paying an invoice. */
export interface PayOptions {
  /** Most the routing fee may be, in satoshis. */
  maxFeeSats?: number;
  /** Give up after this long. */
  timeoutMs?: number;
  /** Abort the payment attempt (a payment already in flight may still complete). */
  signal?: AbortSignal;
  /**
   * Satoshis to pay, for an invoice that carries no amount (an MPP session
   * refund pays the client's amountless return invoice). Refused with
   * `L402_ERR_PAY_INVALID_INVOICE` when the invoice has an amount of its own.
   */
  amountSats?: number;
}

/** A completed payment. */
export interface PaymentResult {
  /** Payment hash, lower-case hex. */
  paymentHash: string;
  /** Preimage, lower-case hex; sha256(preimage) = paymentHash. */
  preimage: string;
  /** Amount paid in satoshis, fees excluded. */
  amountSats: number;
  /** Routing fee in satoshis. */
  feeSats: number;
}

/**
 * Client side of a Lightning backend: pays invoices.
 * Implementations: `LndPayer`, `DevPayer`, the `ln-service` adapter, or any
 * `{ payInvoice }` function (WebLN / NWC style).
 */
export interface Payer {
  /**
   * Pays a BOLT11 invoice and returns the preimage.
   * @throws PaymentError `L402_ERR_PAY_…` when the payment fails.
   */
  payInvoice(paymentRequest: string, options?: PayOptions): Promise<PaymentResult>;
  /**
   * Looks up an earlier payment by hash, to recover after a crash between paying
   * and storing the token. `undefined` when it never happened or failed.
   */
  trackPayment?(paymentHash: string): Promise<PaymentResult | undefined>;
}

/**
 * Stores one random root key per token, under sha256(identifier).
 * Revocation is deleting the key. Implementations: `MemorySecretStore`,
 * `SqliteStore`, `PostgresStore`.
 *
 * `getSecret` may answer synchronously so that verification needs no await
 * when the store is in memory or a synchronous database.
 */
export interface SecretStore {
  /**
   * Creates, stores and returns a fresh 32-byte root key for `idHash`.
   * @param idHash - sha256 of the macaroon identifier (32 bytes)
   */
  newSecret(idHash: Uint8Array): Promise<Uint8Array>;
  /**
   * The root key stored for `idHash`, or `undefined` when there is none
   * (never minted, revoked or garbage-collected).
   */
  getSecret(idHash: Uint8Array): MaybePromise<Uint8Array | undefined>;
  /** Deletes the root key; `true` when one existed. */
  revokeSecret(idHash: Uint8Array): Promise<boolean>;
}
