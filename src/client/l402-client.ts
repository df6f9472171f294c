/**
 * The transport-independent engine behind `wrapFetch`, the undici interceptor
 * and the gRPC client interceptor: which token to send, and what to do with a
 * payment challenge (check it, stay within the limits, pay once, store the
 * token, hand back the new `Authorization` value).
 *
 * Concurrent calls that meet a challenge for the same token key share one
 * payment ("single flight"). Before paying, a pending entry is stored durably,
 * and pending entries are resolved with the payer's `trackPayment`, so one
 * recorded challenge is never paid twice, even across a crash.
 */
import { parseChallenges, type ParsedChallenge } from '../core/challenge.js';
import { BudgetExceededError, ConfigError, L402Error, PaymentError } from '../core/errors.js';
import { decodeIdentifier } from '../core/identifier.js';
import { systemClock, type Clock, type Payer, type PaymentResult } from '../core/types.js';
import { Budget, type BudgetOptions, type BudgetSnapshot } from './budget.js';
import { ChallengeParseError } from './challenge-parse-error.js';
import { withClientContext, type ClientErrorContext } from './client-error-context.js';
import { MemoryTokenStore } from './memory-token-store.js';
import { base64Of, bytesOfHex, hexOf } from './encoding.js';
import { readInvoice } from './read-invoice.js';
import { readMacaroon, type ClientMacaroon } from './read-macaroon.js';
import { readJsonParam } from './payment-wire.js';
import { sha256 } from './sha256.js';
import { toPayer, type PayerLike } from './to-payer.js';
import { lightningOffers, MppPayments, problemName, type MppClientOptions, type MppSent, type SessionCloseResult } from './mpp-payments.js';
import { tokenKey, type StoredToken, type TokenStore } from './token-store.js';

/** A payment challenge the client is about to act on, as hooks see it. */
export interface ChallengeInfo {
  /** URL of the request that was challenged. */
  url: string;
  /** Token key (origin, and service when known) the token will be stored under. */
  key: string;
  /** Scheme of the challenge used. */
  scheme: 'L402' | 'LSAT';
  /** The macaroon, base64 as sent. */
  macaroon: string;
  /** The BOLT11 invoice. */
  invoice: string;
  /** Payment hash (of the invoice and the macaroon identifier, which match), lower-case hex. */
  paymentHash: string;
  /** Token ID from the macaroon identifier, lower-case hex. */
  tokenId: string;
  /** Invoice amount in millisatoshis. */
  amountMsat: bigint;
  /** Invoice amount in satoshis, rounded up. */
  priceSats: number;
  /** The routing fee limit that will be given to the payer. */
  maxFeeSats: number;
  /** First-party caveats of the macaroon (e.g. `services=…`), in order. */
  caveats: readonly string[];
  /**
   * Why the server refused the token the request carried: the challenge's
   * `error` parameter (`expired`, `revoked`, `wrong_resource`, … see the core's
   * `REFUSAL_REASONS`). Absent when the request carried no token, or the
   * server does not say (the reference proxy does not).
   */
  refusal?: string;
}

/** Options of {@link L402Client} (and of `wrapFetch`, the undici and gRPC interceptors). */
export interface L402ClientOptions {
  /**
   * Pays invoices: any core `Payer` (LndPayer, DevPayer, DevHttpPayer), a
   * `{ payInvoice }` object or a function `(invoice) => preimage | { preimage }`.
   * Without one, stored tokens are still used but a challenge fails with
   * `L402_ERR_CLIENT_NO_PAYER`.
   */
  payer?: PayerLike;
  /** Where tokens are kept; a fresh `MemoryTokenStore` by default. */
  store?: TokenStore;
  /** Most one invoice may cost, satoshis; 1,000 by default (the reference client's cap). */
  maxPriceSats?: number;
  /** Routing fee limit given to the payer, satoshis; 10 by default (the reference client's cap). */
  maxFeeSats?: number;
  /** Per-origin, rolling-window and total spending limits. */
  budget?: BudgetOptions;
  /**
   * Service name for a URL, when one origin serves several services with
   * separate tokens; tokens are then stored under `origin#service`.
   */
  service?: (url: URL) => string | undefined;
  /** Scheme of the `Authorization` header: `L402` unless the server only offered `LSAT`. */
  scheme?: 'L402' | 'LSAT';
  /** Give up on a payment after this long, ms (passed to the payer); 60 s by default. */
  paymentTimeoutMs?: number;
  /** Called for every L402 challenge received, before any check. */
  onChallenge?: (info: ChallengeInfo) => void | Promise<void>;
  /** Called after the checks, just before paying; return `false` to refuse (`L402_ERR_CLIENT_PAYMENT_VETOED`). */
  beforePay?: (info: ChallengeInfo) => boolean | void | Promise<boolean | void>;
  /** Called after a payment succeeded and its token was stored. An error thrown here reaches the caller. */
  afterPay?: (info: ChallengeInfo, result: PaymentResult) => void | Promise<void>;
  /** Time source (budget window, token creation time). */
  clock?: Clock;
  /**
   * Which scheme answers a 402 that offers both L402 and Payment (MPP):
   * `'l402'` (the default: a token is reusable, so later requests cost
   * nothing) or `'mpp'` (pay per request with the `charge` intent, or use a
   * session when `mpp.sessions` is set). A 402 offering one scheme is answered
   * with it either way.
   */
  preferScheme?: 'l402' | 'mpp';
  /** The Payment (MPP) scheme: sessions, its hook, receipts. Charges are paid without any option. */
  mpp?: MppClientOptions;
}

/** A 402 response (or gRPC status 13) as the transports hand it to the client. */
export interface ChallengeResponse {
  /** HTTP status, or the gRPC status code. */
  status: number;
  /** Response headers (gRPC: trailing metadata), lower-case names, repeated values joined with `, `. */
  headers: Readonly<Record<string, string>>;
  /** Every `WWW-Authenticate` value, separately when the transport keeps them apart. */
  challenges: readonly string[];
  /**
   * The RFC 9457 problem `type` of the body, when the transport could read it
   * (`wrapFetch`, the undici interceptor): tells a session's short balance
   * (`…/insufficient-balance`) from a closed or unknown session.
   */
  problem?: string;
}

/** The decision about a checked challenge: what would be paid. */
export interface Quote {
  /** The challenge and the invoice details. */
  info: ChallengeInfo;
}

interface Prepared {
  info: ChallengeInfo;
  macaroon: Uint8Array;
  context: ClientErrorContext;
}

interface FlightOutcome {
  token: StoredToken;
  paid: boolean;
}

/** Rounds of challenge → retry one call may go through before giving up (each round pays at most once overall). */
const MAX_ROUNDS = 4;

/**
 * One logical request through {@link L402Client}: the token it sends and, after
 * a challenge, the one to retry with.
 */
export class L402Call {
  /** The `Authorization` value to send, or `undefined` to send none. */
  authorization: string | undefined;
  /** The request URL. */
  readonly url: URL;
  /** The token key. */
  readonly key: string;
  /** Whether a payment was made for (or shared by) this call. */
  paid = false;
  /** Payment hash of the token currently sent, if any. */
  sentHash: string | undefined;
  /** Challenges seen so far. */
  rounds = 0;
  /** @internal What the current `authorization` is, when it is a Payment credential. */
  mppSent: MppSent | undefined;
  readonly #client: L402Client;

  /**
   * Calls are made by {@link L402Client.begin}, not constructed directly. (Not
   * `@internal`: a stripped constructor would read as a public one without
   * parameters in the published types.)
   * @param client - the client the call belongs to
   * @param url - the request URL
   * @param key - the token key of `url`
   * @param token - the stored token to send, if any
   */
  constructor(client: L402Client, url: URL, key: string, token: StoredToken | undefined) {
    this.#client = client;
    this.url = url;
    this.key = key;
    this.use(token);
  }

  /** @internal */
  use(token: StoredToken | undefined): void {
    this.sentHash = token?.paymentHash;
    this.mppSent = undefined;
    this.authorization = token === undefined ? undefined : this.#client.authorizationOf(this.key, token);
  }

  /** @internal Sends a Payment credential next. */
  usePayment(authorization: string, sent: MppSent): void {
    this.sentHash = undefined;
    this.mppSent = sent;
    this.authorization = authorization;
  }

  /**
   * Tells the client the final response of this call (one that is not
   * answered with a retry): confirms a session opened by this call, counts the
   * session balance, and hands a `Payment-Receipt` to `mpp.onReceipt`. The
   * transports call it; call it when driving a call by hand. Without a
   * response (the request failed), pass `undefined`.
   * @param response - status and headers (lower-case names) of the final response
   */
  responded(response: { status: number; headers: Readonly<Record<string, string>> } | undefined): void {
    this.#client.respondedTo(this, response);
  }

  /**
   * Handles a challenge: pays (or joins a payment in progress, or picks up a
   * newer stored token) and sets {@link L402Call.authorization} for the retry.
   * @param response - the 402 response
   * @returns `true` to retry with the new authorization; `false` when the
   *   response carries no L402 challenge (hand it to the caller unchanged)
   * @throws ChallengeParseError `L402_ERR_CLIENT_CHALLENGE_INVALID`; BudgetExceededError
   *   `L402_ERR_CLIENT_BUDGET_EXCEEDED`; PaymentError `L402_ERR_CLIENT_*` or the payer's code
   *   (all carrying `url`, `responseStatus`, `responseHeaders`)
   */
  retryAfterChallenge(response: ChallengeResponse): Promise<boolean> {
    return this.#client.handleChallenge(this, response);
  }
}

/** The members of a `Payment-Receipt` value, or `undefined` when it does not decode. */
function readReceipt(value: string): Record<string, unknown> | undefined {
  return readJsonParam(value);
}

/** sha256 of a preimage given as 64 hex digits (checked by the caller), as hex. */
function sha256Hex(hex: string): string {
  return hexOf(sha256(bytesOfHex(hex) ?? new Uint8Array(0)));
}

/**
 * Whether `WWW-Authenticate` values name the L402 or LSAT scheme (a challenge
 * the client must act on, or refuse as unreadable).
 * @internal
 */
export function mentionsL402(values: readonly string[]): boolean {
  return values.some((v) => /(^|[\s,])(l402|lsat)(\s|$)/i.test(v));
}

/**
 * The client engine. Most code uses `wrapFetch`, the undici interceptor or the
 * gRPC interceptor, which share one `L402Client` when given one.
 *
 * @example
 * ```ts
 * const client = new L402Client({ payer, store: new FileTokenStore({ directory: '.tokens' }) });
 * const fetch402 = wrapFetch(fetch, client);
 * ```
 */
export class L402Client {
  readonly #payer: Payer | undefined;
  readonly #store: TokenStore;
  readonly #maxPriceSats: number;
  readonly #maxFeeSats: number;
  readonly #budget: Budget;
  readonly #options: L402ClientOptions;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  /** One payment (or pending-entry resolution) at a time per token key. */
  readonly #flights = new Map<string, Promise<FlightOutcome | undefined>>();
  /** Keys whose server offered only `LSAT`. */
  readonly #lsatOnly = new Set<string>();
  readonly #mpp: MppPayments;
  readonly #prefer: 'l402' | 'mpp';

  /**
   * @param options - payer, store, limits, hooks
   * @throws ConfigError `L402_ERR_CONFIG_INVALID` for negative or non-integer limits
   */
  constructor(options: L402ClientOptions = {}) {
    const issues: { path: string; message: string }[] = [];
    const maxPrice = options.maxPriceSats ?? 1000;
    const maxFee = options.maxFeeSats ?? 10;
    if (!Number.isSafeInteger(maxPrice) || maxPrice < 0)
      issues.push({ path: 'maxPriceSats', message: 'must be a non-negative whole number of satoshis' });
    if (!Number.isSafeInteger(maxFee) || maxFee < 0)
      issues.push({ path: 'maxFeeSats', message: 'must be a non-negative whole number of satoshis' });
    const timeout = options.paymentTimeoutMs ?? 60_000;
    if (!Number.isFinite(timeout) || timeout <= 0)
      issues.push({ path: 'paymentTimeoutMs', message: 'must be a positive number of milliseconds' });
    const prefer = options.preferScheme ?? 'l402';
    if (prefer !== 'l402' && prefer !== 'mpp') issues.push({ path: 'preferScheme', message: "must be 'l402' or 'mpp'" });
    const sessions = options.mpp?.sessions;
    if (sessions !== undefined) {
      if (typeof sessions.invoicer?.createInvoice !== 'function')
        issues.push({ path: 'mpp.sessions.invoicer', message: 'must have createInvoice (it issues the return invoice)' });
      const cap = sessions.maxDepositSats;
      if (cap !== undefined && (!Number.isSafeInteger(cap) || cap < 0))
        issues.push({ path: 'mpp.sessions.maxDepositSats', message: 'must be a non-negative whole number of satoshis' });
    }
    if (issues.length > 0) throw new ConfigError(issues);
    this.#prefer = prefer;
    this.#options = options;
    this.#payer = options.payer === undefined ? undefined : toPayer(options.payer);
    this.#store = options.store ?? new MemoryTokenStore();
    this.#maxPriceSats = maxPrice;
    this.#maxFeeSats = maxFee;
    this.#clock = options.clock ?? systemClock;
    this.#budget = new Budget(options.budget ?? {}, this.#clock);
    this.#timeoutMs = timeout;
    this.#mpp = new MppPayments(
      { payer: this.#payer, budget: this.#budget, maxPriceSats: maxPrice, maxFeeSats: maxFee, timeoutMs: timeout },
      options.mpp ?? {},
    );
  }

  /** The token store in use. */
  get store(): TokenStore {
    return this.#store;
  }

  /**
   * What has been spent through this client.
   * @returns totals, current window, per origin
   */
  spent(): BudgetSnapshot {
    return this.#budget.snapshot();
  }

  /**
   * The token key of a URL.
   * @param url - request URL
   * @returns its origin, plus `#service` when the `service` option names one
   */
  keyOf(url: URL): string {
    return tokenKey(url.origin === 'null' ? `${url.protocol}//${url.host}` : url.origin, this.#options.service?.(url));
  }

  /**
   * Starts a call: looks up the stored token (resolving a pending entry first).
   * @param url - the request URL
   * @returns the call, whose `authorization` is what to send first
   * @throws PaymentError `L402_ERR_CLIENT_PAYMENT_PENDING` when a pending entry cannot be resolved
   *   (the payer has no `trackPayment`); L402Error `L402_ERR_CLIENT_TOKEN_FILE_INVALID` for a corrupt store entry
   */
  async begin(url: string | URL): Promise<L402Call> {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    const key = this.keyOf(parsed);
    let token = await this.#store.get(key);
    if (token !== undefined && token.preimage === undefined) {
      // Wait for a payment of this process that may be under way (its pending entry is what we see), then resolve.
      const outcome = await this.#single(
        key,
        async () => {
          const current = await this.#store.get(key);
          if (current === undefined) return undefined;
          const resolved = current.preimage !== undefined ? current : await this.#resolvePending(key, current, { url: parsed.href });
          return resolved === undefined ? undefined : { token: resolved, paid: false };
        },
        true,
      );
      token = outcome?.token;
    }
    const call = new L402Call(this, parsed, key, token);
    if (this.#mpp.sessionsEnabled && (token === undefined || this.#prefer === 'mpp')) {
      await this.#mpp.settled(key);
      const bearer = this.#mpp.bearerFor(key);
      if (bearer !== undefined) call.usePayment(bearer.authorization, bearer.sent);
    }
    return call;
  }

  /**
   * The id of the Payment session this client holds for a URL's key.
   * @param url - a URL of the service
   * @returns the session id (payment hash of its deposit), or `undefined`
   */
  sessionId(url: string | URL): string | undefined {
    return this.#mpp.sessionOf(this.keyOf(typeof url === 'string' ? new URL(url) : url));
  }

  /**
   * Closes the Payment session held for a URL's key: sends one request
   * carrying the close credential (the server charges it as one more request,
   * closes the session and refunds the balance to the return invoice) and
   * reads the refund from its `Payment-Receipt`. The session is forgotten
   * whatever the answer.
   * @param url - the URL to send the close request to (a resource of the session's service)
   * @param send - sends the request with this `Authorization` value, e.g.
   *   `(authorization) => fetch(url, { headers: { authorization } })`
   * @returns the refund, or `undefined` when no session is held
   * @throws what `send` throws; L402Error `L402_ERR_CLIENT_CREDENTIAL_REFUSED` when the server
   *   answers 402 without a receipt (the session was not closed by this request)
   * @example
   * ```ts
   * const result = await client.closeSession(url, (authorization) => fetch(url, { headers: { authorization } }));
   * console.log(result?.refundSats, result?.refundStatus);
   * ```
   */
  async closeSession(
    url: string | URL,
    send: (authorization: string) => Promise<{ status: number; headers: Headers | Readonly<Record<string, string>> }>,
  ): Promise<SessionCloseResult | undefined> {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    const key = this.keyOf(parsed);
    const taken = await this.#mpp.takeForClose(key);
    if (taken === undefined) return undefined;
    const response = await send(taken.authorization);
    const headers = response.headers;
    const receiptValue =
      typeof (headers as Headers).get === 'function'
        ? ((headers as Headers).get('payment-receipt') ?? undefined)
        : (headers as Record<string, string>)['payment-receipt'];
    this.#mpp.responded(key, parsed.href, { kind: 'close', session: taken.session }, response.status, receiptValue);
    const receipt = receiptValue === undefined ? undefined : readReceipt(receiptValue);
    if (receipt === undefined && response.status >= 400) {
      throw withClientContext(
        new L402Error(
          'L402_ERR_CLIENT_CREDENTIAL_REFUSED',
          `the server answered ${response.status} to closing session ${taken.session.id} and sent no receipt`,
        ),
        { url: parsed.href, responseStatus: response.status },
      );
    }
    const status = receipt?.['refundStatus'];
    const sats = receipt?.['refundSats'];
    return {
      sessionId: taken.session.id,
      status: response.status,
      refundSats: typeof sats === 'number' ? sats : 0,
      refundStatus: status === 'succeeded' || status === 'failed' || status === 'skipped' || status === 'abandoned' ? status : 'unknown',
    };
  }

  /** @internal See {@link L402Call.responded}. */
  respondedTo(call: L402Call, response: { status: number; headers: Readonly<Record<string, string>> } | undefined): void {
    this.#mpp.responded(call.key, call.url.href, call.mppSent, response?.status, response?.headers['payment-receipt']);
  }

  /**
   * Resolves every pending entry of the store through the payer's
   * `trackPayment`: completed payments become usable tokens, failed or unknown
   * ones are dropped. Call it at start-up after a crash; `begin` also does it
   * lazily per key.
   * @returns how many entries were completed and how many dropped
   * @throws PaymentError `L402_ERR_CLIENT_PAYMENT_PENDING` when there are pending entries and the payer has no `trackPayment`
   */
  async resolvePending(): Promise<{ completed: number; dropped: number }> {
    let completed = 0;
    let dropped = 0;
    for (const key of await this.#store.keys()) {
      await this.#single(
        key,
        async () => {
          const token = await this.#store.get(key);
          if (token === undefined || token.preimage !== undefined) return undefined;
          const resolved = await this.#resolvePending(key, token, { url: key });
          if (resolved === undefined) dropped++;
          else completed++;
          return undefined;
        },
        true,
      );
    }
    return { completed, dropped };
  }

  /**
   * Checks a challenge without paying: parse, hash match, price and budget.
   * Used for dry runs.
   * @param url - the request URL
   * @param response - the 402 response
   * @returns what would be paid, or `undefined` when the response carries no L402 challenge
   * @throws ChallengeParseError, PaymentError, BudgetExceededError as a real payment would
   */
  async quote(url: string | URL, response: ChallengeResponse): Promise<Quote | undefined> {
    const parsedUrl = typeof url === 'string' ? new URL(url) : url;
    const key = this.keyOf(parsedUrl);
    const context = this.#context(parsedUrl.href, response);
    const selected = this.#select(key, response, context);
    if (selected === undefined) return undefined;
    const prepared = this.#prepare(parsedUrl.href, key, selected, context);
    this.#checkPrice(prepared);
    this.#budget.reserve(key, prepared.info.priceSats + this.#maxFeeSats).release();
    return { info: prepared.info };
  }

  /** @internal The `Authorization` value for a token. */
  authorizationOf(key: string, token: StoredToken): string {
    if (token.preimage === undefined) throw new L402Error('L402_ERR_CLIENT_PAYMENT_PENDING', 'a pending token cannot be sent');
    const scheme = this.#options.scheme ?? (this.#lsatOnly.has(key) ? 'LSAT' : 'L402');
    if (!/^[0-9a-fA-F]{64}$/.test(token.preimage)) throw new L402Error('L402_ERR_TOKEN_MALFORMED', 'preimage must be 64 hex characters');
    return `${scheme} ${base64Of(token.macaroon)}:${token.preimage.toLowerCase()}`;
  }

  /** @internal See {@link L402Call.retryAfterChallenge}. */
  async handleChallenge(call: L402Call, response: ChallengeResponse): Promise<boolean> {
    const context = this.#context(call.url.href, response);
    const offers = lightningOffers(response.challenges);
    const mppSent = call.mppSent;
    if (mppSent !== undefined && offers.length > 0) {
      call.rounds++;
      const problem = response.problem === undefined ? '' : ` (problem ${JSON.stringify(problemName(response.problem))})`;
      if (mppSent.kind === 'bearer' && call.rounds <= MAX_ROUNDS) {
        const next = await this.#mpp.afterSessionRefusal(call.url.href, call.key, mppSent, response.problem, offers, context);
        if (next !== undefined) {
          call.usePayment(next.authorization, next.sent);
          if (next.sent.kind === 'topUp') call.paid = true;
          return true;
        }
      } else {
        this.#mpp.responded(call.key, call.url.href, mppSent, response.status, response.headers['payment-receipt']);
        throw withClientContext(
          new PaymentError(
            'L402_ERR_CLIENT_CREDENTIAL_REFUSED',
            `the server answered ${response.status} again to the Payment credential (${mppSent.kind}) just sent for ${call.key}${mppSent.kind === 'bearer' ? ' after several rounds' : ', paid for this call'}${problem}`,
          ),
          context,
        );
      }
      call.rounds--;
    }
    let selected: ParsedChallenge | undefined;
    try {
      selected = this.#select(call.key, response, context);
    } catch (error) {
      // An unreadable L402 line beside a usable Payment challenge: answer the Payment one.
      if (offers.length === 0) throw error;
    }
    const session = this.#mpp.sessionsEnabled ? offers.find((c) => c.intent === 'session') : undefined;
    const payment = session ?? offers.find((c) => c.intent === 'charge');
    if (payment !== undefined && (selected === undefined || this.#prefer === 'mpp')) {
      call.rounds++;
      if (call.paid || call.rounds > MAX_ROUNDS) {
        throw withClientContext(
          new PaymentError(
            'L402_ERR_CLIENT_TOKEN_REJECTED',
            `the server answered ${response.status} again after a payment for ${call.key}`,
          ),
          context,
        );
      }
      const next =
        payment.intent === 'session'
          ? await this.#mpp.open(call.url.href, call.key, payment, context)
          : await this.#mpp.charge(call.url.href, call.key, payment, context);
      call.usePayment(next.authorization, next.sent);
      call.paid = next.sent.kind !== 'bearer';
      return true;
    }
    if (selected === undefined) return false;
    call.rounds++;
    const said = selected.error === undefined ? '' : ` (the server says: ${JSON.stringify(selected.error.slice(0, 64))})`;
    if (call.paid || call.rounds > MAX_ROUNDS) {
      throw withClientContext(
        new PaymentError(
          'L402_ERR_CLIENT_TOKEN_REJECTED',
          `the server answered ${response.status} again to a freshly paid token for ${call.key}${said}`,
        ),
        context,
      );
    }
    const prepared = this.#prepare(call.url.href, call.key, selected, context);
    await this.#options.onChallenge?.(prepared.info);
    const sent = call.sentHash;
    for (let joined = 0; ; joined++) {
      const running = this.#flights.get(call.key);
      // Joining someone else's flight is bounded: after two, run our own.
      const own = running === undefined || joined >= 2;
      const outcome = own ? await this.#single(call.key, () => this.#flight(call.key, prepared, sent), true) : await running;
      if (outcome !== undefined && outcome.token.paymentHash !== sent) {
        call.paid = outcome.paid;
        call.use(outcome.token);
        return true;
      }
      if (own) {
        // Our own flight paid this challenge and got back the very token the server just refused.
        throw withClientContext(
          new PaymentError('L402_ERR_CLIENT_TOKEN_REJECTED', `the server keeps challenging the token for ${call.key}${said}`),
          context,
        );
      }
    }
  }

  /**
   * Runs `work` as the single flight of `key`. Without `own`, joins a flight
   * already running instead; with `own`, waits for running flights to end
   * (whatever their outcome) and then runs `work`.
   */
  async #single(key: string, work: () => Promise<FlightOutcome | undefined>, own = false): Promise<FlightOutcome | undefined> {
    let running = this.#flights.get(key);
    while (running !== undefined) {
      if (!own) return running;
      await running.catch(() => undefined);
      running = this.#flights.get(key);
    }
    const flight = work();
    this.#flights.set(key, flight);
    try {
      return await flight;
    } finally {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    }
  }

  /** The body of a payment flight: use a newer stored token, resolve a pending one, or pay. */
  async #flight(key: string, prepared: Prepared, sent: string | undefined): Promise<FlightOutcome> {
    const stored = await this.#store.get(key);
    if (stored !== undefined) {
      if (stored.preimage === undefined) {
        const resolved = await this.#resolvePending(key, stored, prepared.context);
        if (resolved !== undefined && resolved.paymentHash !== sent) return { token: resolved, paid: false };
      } else if (stored.paymentHash !== sent) {
        return { token: stored, paid: false };
      } else {
        // The server rejected the stored token: forget it.
        await this.#store.delete(key);
      }
    }
    return { token: await this.#pay(key, prepared), paid: true };
  }

  /** Completes or drops a pending entry. Never pays. */
  async #resolvePending(key: string, pending: StoredToken, context: ClientErrorContext): Promise<StoredToken | undefined> {
    const track = this.#payer?.trackPayment;
    if (this.#payer === undefined || track === undefined) {
      throw withClientContext(
        new PaymentError(
          'L402_ERR_CLIENT_PAYMENT_PENDING',
          `a payment for ${key} (hash ${pending.paymentHash}) may have been made before a crash and this payer cannot look it up; ` +
            'use a payer with trackPayment, or delete the pending entry if you know it was not paid',
        ),
        context,
      );
    }
    const result = await track.call(this.#payer, pending.paymentHash);
    if (result === undefined || !/^[0-9a-f]{64}$/i.test(result.preimage) || sha256Hex(result.preimage) !== pending.paymentHash) {
      await this.#store.delete(key);
      return undefined;
    }
    const token = this.#complete(pending, result);
    await this.#store.put(key, token);
    this.#budget.record(key, result.amountSats + result.feeSats);
    return token;
  }

  #complete(pending: StoredToken, result: PaymentResult): StoredToken {
    return {
      ...pending,
      preimage: result.preimage.toLowerCase(),
      amountPaidMsat: BigInt(Math.round(result.amountSats * 1000)),
      routingFeeMsat: BigInt(Math.round(result.feeSats * 1000)),
    };
  }

  #checkPrice(prepared: Prepared): void {
    const { info, context } = prepared;
    if (info.amountMsat === 0n) {
      throw withClientContext(
        new PaymentError('L402_ERR_CLIENT_INVOICE_NO_AMOUNT', `the invoice for ${info.url} has no amount; refusing to choose one`),
        context,
      );
    }
    if (info.priceSats > this.#maxPriceSats) {
      throw withClientContext(
        new BudgetExceededError(`the invoice for ${info.url} asks ${info.priceSats} sat, more than maxPriceSats ${this.#maxPriceSats}`),
        context,
      );
    }
  }

  /** Checks limits, records the pending entry, pays, stores the token. */
  async #pay(key: string, prepared: Prepared): Promise<StoredToken> {
    const { info, context } = prepared;
    this.#checkPrice(prepared);
    let reservation;
    try {
      reservation = this.#budget.reserve(key, info.priceSats + this.#maxFeeSats);
    } catch (error) {
      throw error instanceof L402Error ? withClientContext(error, context) : error;
    }
    try {
      if ((await this.#options.beforePay?.(info)) === false) {
        throw withClientContext(
          new PaymentError('L402_ERR_CLIENT_PAYMENT_VETOED', `beforePay refused to pay ${info.priceSats} sat for ${info.url}`),
          context,
        );
      }
      const payer = this.#payer;
      if (payer === undefined) {
        throw withClientContext(
          new PaymentError('L402_ERR_CLIENT_NO_PAYER', `${info.url} asks ${info.priceSats} sat and no payer is configured`),
          context,
        );
      }
      const pending: StoredToken = {
        macaroon: prepared.macaroon,
        paymentHash: info.paymentHash,
        preimage: undefined,
        amountPaidMsat: 0n,
        routingFeeMsat: 0n,
        createdNs: BigInt(Math.round(this.#clock.now())) * 1_000_000n,
      };
      await this.#store.put(key, pending);
      let result: PaymentResult | undefined;
      let failure: unknown;
      try {
        result = await payer.payInvoice(info.invoice, { maxFeeSats: this.#maxFeeSats, timeoutMs: this.#timeoutMs });
      } catch (error) {
        failure = error;
        // The attempt may have gone through after all (e.g. a timeout): ask before forgetting it.
        result = await payer.trackPayment?.(info.paymentHash).catch(() => undefined);
      }
      if (result === undefined) {
        await this.#dropPending(key, info.paymentHash);
        const error =
          failure instanceof L402Error
            ? failure
            : new PaymentError('L402_ERR_CLIENT_PAYMENT_FAILED', `payment failed: ${String(failure)}`, { cause: failure });
        throw withClientContext(error, context);
      }
      if (!/^[0-9a-f]{64}$/i.test(result.preimage) || sha256Hex(result.preimage) !== info.paymentHash) {
        // Keep the pending entry: money may have moved, and trackPayment may still find the real preimage.
        throw withClientContext(
          new PaymentError('L402_ERR_CLIENT_PREIMAGE_MISMATCH', `the payer returned a preimage that does not hash to ${info.paymentHash}`),
          context,
        );
      }
      const token = this.#complete(pending, result);
      await this.#store.put(key, token);
      reservation.commit(result.amountSats + result.feeSats);
      await this.#options.afterPay?.(info, result);
      return token;
    } finally {
      reservation.release();
    }
  }

  async #dropPending(key: string, paymentHash: string): Promise<void> {
    const current = await this.#store.get(key);
    if (current !== undefined && current.preimage === undefined && current.paymentHash === paymentHash) await this.#store.delete(key);
  }

  #context(url: string, response: ChallengeResponse): ClientErrorContext {
    return { url, responseStatus: response.status, responseHeaders: response.headers };
  }

  /** Picks the challenge to act on: the first L402 one, else the first LSAT one. */
  #select(key: string, response: ChallengeResponse, context: ClientErrorContext): ParsedChallenge | undefined {
    const parsed = parseChallenges(response.challenges);
    const chosen = parsed.find((c) => c.scheme === 'L402') ?? parsed[0];
    if (chosen === undefined) {
      if (mentionsL402(response.challenges)) {
        throw new ChallengeParseError(
          `no usable L402 challenge in WWW-Authenticate: ${response.challenges.join(' | ').slice(0, 300)}`,
          context,
        );
      }
      return undefined;
    }
    if (chosen.scheme === 'LSAT') this.#lsatOnly.add(key);
    else this.#lsatOnly.delete(key);
    return chosen;
  }

  /** Decodes macaroon, identifier and invoice and checks that their payment hashes agree. */
  #prepare(url: string, key: string, challenge: ParsedChallenge, context: ClientErrorContext): Prepared {
    let macaroon: ClientMacaroon;
    let paymentHash: string;
    let tokenId: string;
    try {
      macaroon = readMacaroon(challenge.macaroon);
      const id = decodeIdentifier(macaroon.identifier);
      paymentHash = hexOf(id.paymentHash);
      tokenId = hexOf(id.tokenId);
    } catch (cause) {
      throw new ChallengeParseError(`the challenge's macaroon does not decode: ${(cause as Error).message}`, context, { cause });
    }
    let invoice;
    try {
      invoice = readInvoice(challenge.invoice);
    } catch (cause) {
      throw new ChallengeParseError(`the challenge's invoice is not a valid BOLT11 invoice: ${(cause as Error).message}`, context, {
        cause,
      });
    }
    if (invoice.paymentHash !== paymentHash) {
      throw withClientContext(
        new PaymentError(
          'L402_ERR_CLIENT_HASH_MISMATCH',
          `the invoice pays hash ${invoice.paymentHash} but the macaroon is for ${paymentHash}: paying would not yield a usable token`,
        ),
        context,
      );
    }
    const info: ChallengeInfo = {
      url,
      key,
      scheme: challenge.scheme,
      macaroon: challenge.macaroon,
      invoice: challenge.invoice,
      paymentHash,
      tokenId,
      amountMsat: invoice.amountMsat,
      priceSats: Number((invoice.amountMsat + 999n) / 1000n),
      maxFeeSats: this.#maxFeeSats,
      caveats: macaroon.firstPartyCaveats,
    };
    if (challenge.error !== undefined) info.refusal = challenge.error;
    return { info, macaroon: macaroon.binary, context };
  }
}
