/**
 * The production Invoicer: lnd over gRPC. Survives lnd restarts and network
 * loss: it reconnects with exponential backoff, reconciles settlements it missed
 * meanwhile, and never takes the process down.
 */
import type { ClientReadableStream } from '@grpc/grpc-js';
import { ConfigError, InvoiceError, L402Error } from '../../core/errors.js';
import {
  systemClock,
  type BackendHealth,
  type Clock,
  type CreateInvoiceRequest,
  type Invoice,
  type InvoiceState,
  type InvoiceStatus,
  type Invoicer,
} from '../../core/types.js';
import { Backoff, type BackoffOptions } from '../backoff.js';
import { decodeInvoice } from '../decode-invoice.js';
import { isLightningNetwork, type LightningNetwork } from '../network.js';
import type { InvoicePage } from '../settled-invoice-index.js';
import { PendingInvoices } from '../pending-invoices.js';
import { SettlementListeners } from '../settlement-listeners.js';
import { normalizePaymentHash, validateInvoiceRequest } from '../validate-invoice-request.js';
import {
  GrpcStatusCode,
  createLndClients,
  describeGrpcError,
  isConnectivityError,
  isGrpcError,
  serverStream,
  unary,
  type LndClients,
  type LndConnectionOptions,
} from './lnd-grpc.js';

/** Options of {@link LndInvoicer.connect}. */
export interface LndInvoicerOptions extends LndConnectionOptions {
  /** The network lnd must be on; checked against GetInfo at start-up. Not checked when absent. */
  network?: LightningNetwork;
  /** Reconnect backoff; 250 ms doubling up to 30 s by default. */
  backoff?: BackoffOptions;
  /** Deadline of each unary call, ms; 10 000 by default. */
  callTimeoutMs?: number;
  /** Deadline of the start-up GetInfo, ms; 10 000 by default. */
  connectTimeoutMs?: number;
  /** Time source. */
  clock?: Clock;
  /** Told about connection changes, for logs. */
  onConnectionChange?: (health: BackendHealth) => void;
  /**
   * Most invoices created here and not yet settled that are remembered, to be looked up after a lost
   * connection; 100 000 by default. Past it the expired ones are forgotten first, then the oldest (their
   * settlements still arrive on the invoice subscription; only the lookup after an outage is lost for them).
   */
  pendingLimit?: number;
}

/**
 * What lnd said about itself at start-up. With a macaroon that may not call
 * GetInfo (lnd's `invoice.macaroon`), `alias` and `version` are empty and
 * `pubkey` and `network` come from lnd's newest invoice (empty and undefined
 * when it has none yet; the network is then checked on the first invoice).
 */
export interface LndNodeInfo {
  /** Node public key, hex. */
  pubkey: string;
  /** Node alias. */
  alias: string;
  /** lnd version string. */
  version: string;
  /** Network from `chains[0].network` (or the deprecated `testnet` flag). */
  network: LightningNetwork | undefined;
}

/** lnd's Invoice message as decoded (int64 as strings, enums as names). */
interface RpcInvoice {
  r_hash: Buffer;
  value: string;
  value_msat: string;
  settle_date: string;
  settle_index: string;
  add_index: string;
  amt_paid_sat: string;
  amt_paid_msat: string;
  state: 'OPEN' | 'SETTLED' | 'CANCELED' | 'ACCEPTED';
  payment_request: string;
}

interface RpcGetInfo {
  identity_pubkey: string;
  alias: string;
  version: string;
  testnet: boolean;
  chains: { chain: string; network: string }[];
}

/** How many payment hashes of settlements already delivered are remembered, to deliver each once. */
const DELIVERED_MEMORY = 10_000;

/**
 * {@link Invoicer} backed by lnd.
 *
 * Create it with {@link LndInvoicer.connect}, which fails with a coded error
 * naming the host and the cause when lnd cannot be reached. Afterwards a lost
 * connection is a state, not a crash: `health()` turns not-ok,
 * `createInvoice` fails fast with `L402_ERR_LN_UNAVAILABLE` (503), and a
 * background loop reconnects with exponential backoff. On reconnect the invoice
 * subscription resumes from the last settle index seen, and every invoice this
 * instance created that is still pending is looked up, so settlements that
 * happened while disconnected still reach `onSettled` (once each).
 *
 * @example
 * ```ts
 * const invoicer = await LndInvoicer.connect({
 *   host: 'localhost:10009',
 *   tlsCertPath: '~/.lnd/tls.cert',
 *   macaroonPath: '~/.lnd/data/chain/bitcoin/mainnet/invoice.macaroon',
 * });
 * ```
 */
export class LndInvoicer implements Invoicer {
  /** What lnd reported at start-up. */
  readonly info: LndNodeInfo;

  readonly #clients: LndClients;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #callTimeoutMs: number;
  readonly #listeners = new SettlementListeners();
  readonly #healthListeners = new Set<(health: BackendHealth) => void>();
  /** Invoices created here and not yet seen settled, within `pendingLimit`. */
  readonly #pending: PendingInvoices;
  readonly #delivered = new Set<string>();
  #health: BackendHealth;
  #stream: ClientReadableStream<unknown> | undefined;
  #lastSettleIndex = 0n;
  /** The configured network, while the node could not say its own (checked on the first invoice). */
  #networkToCheck: LightningNetwork | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnecting = false;
  #disconnectedAt = 0;
  #closed = false;

  private constructor(clients: LndClients, info: LndNodeInfo, options: LndInvoicerOptions, backoff: Backoff) {
    this.#clients = clients;
    this.info = info;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = backoff;
    this.#callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.#pending = new PendingInvoices(() => this.#clock.now(), options.pendingLimit);
    const name = info.alias || info.pubkey;
    this.#health = { ok: true, detail: `connected to lnd ${name === '' ? '' : `${name} `}at ${clients.host}`, since: this.#clock.now() };
    if (options.onConnectionChange !== undefined) this.#healthListeners.add(options.onConnectionChange);
  }

  /**
   * Connects to lnd, checks it answers (GetInfo; ListInvoices when the
   * macaroon may not call GetInfo, as lnd's `invoice.macaroon`) and is on the
   * expected network, and starts the invoice subscription.
   * @param options - host, TLS certificate, macaroon, expected network, timeouts, backoff
   * @returns a connected invoicer
   * @throws L402Error `L402_ERR_LN_CONNECT_FAILED` naming host and cause when lnd cannot be reached
   *   or refuses the macaroon; `L402_ERR_LN_CREDENTIALS` when the certificate or macaroon cannot be
   *   read; ConfigError `L402_ERR_CONFIG_INVALID` when lnd is on another network than `network`
   *   (L402Error `L402_ERR_CONFIG_INVALID` for a `pendingLimit` that is not a positive integer);
   *   L402Error `L402_ERR_DEPENDENCY_MISSING` when the gRPC packages are not installed
   */
  static async connect(options: LndInvoicerOptions): Promise<LndInvoicer> {
    if (options.network !== undefined && !isLightningNetwork(options.network)) {
      throw new ConfigError([{ path: 'authenticator.network', message: `unknown network ${JSON.stringify(options.network)}` }]);
    }
    if (options.pendingLimit !== undefined && !(Number.isSafeInteger(options.pendingLimit) && options.pendingLimit > 0)) {
      throw new L402Error('L402_ERR_CONFIG_INVALID', `LndInvoicer: pendingLimit must be a positive integer, got ${options.pendingLimit}`);
    }
    const backoff = new Backoff(options.backoff);
    const clients = createLndClients(options, { initialMs: backoff.initialMs, maxMs: backoff.maxMs }, 'LndInvoicer');
    let info: ProbedInfo;
    try {
      info = await probe(clients, options.connectTimeoutMs ?? 10_000);
    } catch (cause) {
      clients.close();
      throw new L402Error('L402_ERR_LN_CONNECT_FAILED', `cannot connect to lnd at ${options.host}: ${describeGrpcError(cause)}`, {
        status: 503,
        cause,
      });
    }
    // A node that could not say its network (an invoice macaroon, no invoice yet) is checked on its first invoice.
    if (options.network !== undefined && info.network !== options.network && (info.fromGetInfo || info.network !== undefined)) {
      clients.close();
      throw new ConfigError([
        {
          path: 'authenticator.network',
          message: `lnd at ${options.host} is on ${info.network ?? 'an unknown network'}, not ${options.network}`,
        },
      ]);
    }
    const invoicer = new LndInvoicer(
      clients,
      { pubkey: info.pubkey, alias: info.alias, version: info.version, network: info.network },
      options,
      backoff,
    );
    if (options.network !== undefined && info.network === undefined) invoicer.#networkToCheck = options.network;
    invoicer.#subscribe();
    return invoicer;
  }

  /**
   * Creates an invoice with AddInvoice.
   * @param request - amount, memo, expiry (lnd's default, 24 h, when absent)
   * @returns the invoice
   * @throws InvoiceError `L402_ERR_LN_UNAVAILABLE` (503) while lnd is unreachable;
   *   `L402_ERR_LN_INVALID_REQUEST` (400) for a bad request; `L402_ERR_LN_RPC_FAILED` when lnd refuses;
   *   ConfigError `L402_ERR_CONFIG_INVALID` when the first invoice of a node that could not say its
   *   network at start-up is for another network than `network`
   */
  async createInvoice(request: CreateInvoiceRequest): Promise<Invoice> {
    validateInvoiceRequest(request);
    this.#assertConnected();
    const response = await this.#call<{ r_hash: Buffer; payment_request: string }>('AddInvoice', {
      memo: request.memo ?? '',
      value: String(request.amountSats),
      expiry: String(request.expirySeconds ?? 0),
    });
    const paymentHash = response.r_hash.toString('hex');
    const decoded = decodeInvoice(response.payment_request);
    if (decoded.paymentHash !== paymentHash) {
      throw new InvoiceError('L402_ERR_LN_RPC_FAILED', 'lnd returned an invoice whose hash does not match r_hash');
    }
    if (this.#networkToCheck !== undefined) {
      if (decoded.network !== this.#networkToCheck) {
        throw new ConfigError([
          {
            path: 'authenticator.network',
            message: `lnd at ${this.#clients.host} is on ${decoded.network} (its invoices say so), not ${this.#networkToCheck}`,
          },
        ]);
      }
      this.#networkToCheck = undefined;
    }
    this.#pending.add(paymentHash, decoded.expiresAt);
    return { paymentRequest: response.payment_request, paymentHash, amountSats: request.amountSats, expiresAt: decoded.expiresAt };
  }

  /** Invoices created here and not yet seen settled that are remembered for a lookup after an outage (for tests and metrics). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Looks an invoice up with LookupInvoice.
   * @param paymentHash - 64 hex characters
   * @returns its status
   * @throws InvoiceError `L402_ERR_LN_INVOICE_NOT_FOUND` (404) when lnd does not know it;
   *   `L402_ERR_LN_UNAVAILABLE` (503) while lnd is unreachable; `L402_ERR_LN_INVALID_REQUEST` (400) for a bad hash
   */
  async lookupInvoice(paymentHash: string): Promise<InvoiceStatus> {
    const hash = normalizePaymentHash(paymentHash);
    this.#assertConnected();
    const invoice = await this.#call<RpcInvoice>('LookupInvoice', { r_hash: Buffer.from(hash, 'hex') });
    const status = toStatus(invoice);
    if (status.state === 'settled') this.#deliver(status, invoice);
    return status;
  }

  /**
   * One page of lnd's invoices (ListInvoices), oldest first, for loading a
   * {@link SettledInvoiceIndex}.
   * @param indexOffset - add index to start after, `0` at first
   * @param max - page size
   * @returns the settled payment hashes of the page, the offset to continue from, and the page size
   * @throws InvoiceError `L402_ERR_LN_UNAVAILABLE` while lnd is unreachable
   */
  async listInvoices(indexOffset: bigint, max: number): Promise<InvoicePage> {
    this.#assertConnected();
    const response = await this.#call<{ invoices: RpcInvoice[]; last_index_offset: string }>('ListInvoices', {
      index_offset: String(indexOffset),
      num_max_invoices: String(max),
      pending_only: false,
      reversed: false,
    });
    return {
      settledHashes: response.invoices.filter((i) => i.state === 'SETTLED').map((i) => i.r_hash.toString('hex')),
      count: response.invoices.length,
      nextOffset: BigInt(response.last_index_offset || '0'),
    };
  }

  /**
   * Registers a settlement listener. Settlements missed while disconnected are
   * delivered after reconnecting; each settlement is delivered once.
   * @param listener - called with each settled invoice
   * @returns a function that removes it
   */
  onSettled(listener: (status: InvoiceStatus) => void): () => void {
    return this.#listeners.add(listener);
  }

  /**
   * Registers a listener for connection changes (lost, restored).
   * @param listener - called with the new health
   * @returns a function that removes it
   */
  onHealthChange(listener: (health: BackendHealth) => void): () => void {
    this.#healthListeners.add(listener);
    return () => {
      this.#healthListeners.delete(listener);
    };
  }

  /**
   * Connectivity to lnd.
   * @returns `ok` while connected; otherwise the last error in `detail`
   */
  health(): BackendHealth {
    return this.#health;
  }

  /** Stops reconnecting, cancels the subscription and closes the channel. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#stream?.cancel();
    this.#stream = undefined;
    this.#listeners.clear();
    this.#clients.close();
    this.#setHealth({ ok: false, detail: 'closed', since: this.#clock.now() });
  }

  #assertConnected(): void {
    if (this.#closed) throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', 'the lnd invoicer is closed');
    if (!this.#health.ok) {
      throw new InvoiceError(
        'L402_ERR_LN_UNAVAILABLE',
        `lnd at ${this.#clients.host} is unavailable: ${this.#health.detail ?? 'disconnected'}`,
      );
    }
  }

  async #call<T>(method: string, request: object): Promise<T> {
    try {
      return await unary<T>(this.#clients.lightning, method, request, this.#callTimeoutMs);
    } catch (cause) {
      if (isConnectivityError(cause)) {
        this.#lost(cause);
        throw new InvoiceError('L402_ERR_LN_UNAVAILABLE', `lnd at ${this.#clients.host} is unavailable: ${describeGrpcError(cause)}`, {
          cause,
        });
      }
      if (
        isGrpcError(cause) &&
        (cause.code === GrpcStatusCode.NOT_FOUND || /unable to locate invoice|no existing invoices/i.test(cause.details))
      ) {
        throw new InvoiceError('L402_ERR_LN_INVOICE_NOT_FOUND', `lnd does not know that invoice: ${cause.details}`, { status: 404, cause });
      }
      throw new InvoiceError('L402_ERR_LN_RPC_FAILED', `lnd ${method} failed: ${describeGrpcError(cause)}`, { cause });
    }
  }

  #subscribe(): void {
    const stream = serverStream(this.#clients.lightning, 'SubscribeInvoices', {
      add_index: '0',
      settle_index: String(this.#lastSettleIndex),
    });
    this.#stream = stream;
    stream.on('data', (invoice: RpcInvoice) => {
      const status = toStatus(invoice);
      if (status.state === 'settled') this.#deliver(status, invoice);
    });
    const ended = (cause: unknown): void => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      if (!this.#closed) this.#lost(cause);
    };
    stream.on('error', (error: unknown) => ended(error));
    stream.on('end', () => ended(new Error('invoice subscription ended')));
  }

  #deliver(status: InvoiceStatus, invoice: RpcInvoice): void {
    const settleIndex = BigInt(invoice.settle_index || '0');
    if (settleIndex > this.#lastSettleIndex) this.#lastSettleIndex = settleIndex;
    this.#pending.delete(status.paymentHash);
    if (this.#delivered.has(status.paymentHash)) return;
    this.#delivered.add(status.paymentHash);
    if (this.#delivered.size > DELIVERED_MEMORY) {
      const oldest = this.#delivered.values().next().value;
      if (oldest !== undefined) this.#delivered.delete(oldest);
    }
    this.#listeners.emit(status);
  }

  #lost(cause: unknown): void {
    if (this.#closed || this.#reconnecting) return;
    this.#reconnecting = true;
    this.#disconnectedAt = this.#clock.now();
    this.#stream?.cancel();
    this.#stream = undefined;
    this.#setHealth({ ok: false, detail: `lost lnd at ${this.#clients.host}: ${describeGrpcError(cause)}`, since: this.#clock.now() });
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const delay = this.#backoff.next();
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#tryReconnect();
    }, delay);
    // A pending reconnect must not keep an otherwise finished process alive.
    this.#reconnectTimer.unref();
  }

  async #tryReconnect(): Promise<void> {
    if (this.#closed) return;
    try {
      await probe(this.#clients, this.#callTimeoutMs);
    } catch (cause) {
      if (this.#closed) return;
      this.#health = {
        ok: false,
        detail: `cannot reach lnd at ${this.#clients.host}: ${describeGrpcError(cause)}`,
        since: this.#health.since,
      };
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) return;
    this.#reconnecting = false;
    this.#backoff.reset();
    this.#subscribe();
    this.#setHealth({ ok: true, detail: `reconnected to lnd at ${this.#clients.host}`, since: this.#clock.now() });
    await this.#reconcile();
  }

  /** Looks up every invoice created here that may have been paid while disconnected. */
  async #reconcile(): Promise<void> {
    const cutoff = this.#disconnectedAt;
    for (const [hash, expiresAt] of this.#pending.snapshot()) {
      if (this.#closed || !this.#health.ok) return;
      // Unpaid and expired before the connection was lost: it cannot have been paid since.
      if (expiresAt < cutoff) {
        this.#pending.delete(hash);
        continue;
      }
      try {
        const invoice = await unary<RpcInvoice>(
          this.#clients.lightning,
          'LookupInvoice',
          { r_hash: Buffer.from(hash, 'hex') },
          this.#callTimeoutMs,
        );
        const status = toStatus(invoice);
        if (status.state === 'settled') this.#deliver(status, invoice);
        else if (status.state === 'canceled') this.#pending.delete(hash);
      } catch (cause) {
        if (isConnectivityError(cause)) {
          this.#lost(cause);
          return;
        }
        this.#pending.delete(hash);
      }
    }
  }

  #setHealth(health: BackendHealth): void {
    this.#health = health;
    for (const listener of [...this.#healthListeners]) {
      try {
        listener(health);
      } catch (error) {
        process.emitWarning(`onHealthChange listener threw: ${String(error)}`, { code: 'APERTURE_LISTENER' });
      }
    }
  }
}

function toNodeInfo(info: RpcGetInfo): LndNodeInfo {
  const reported = info.chains[0]?.network;
  const network = isLightningNetwork(reported) ? reported : info.testnet ? 'testnet' : undefined;
  return { pubkey: info.identity_pubkey, alias: info.alias, version: info.version, network };
}

/** What {@link probe} learnt, and whether GetInfo told it. */
interface ProbedInfo extends LndNodeInfo {
  fromGetInfo: boolean;
}

/**
 * Checks that lnd answers this macaroon. GetInfo when the macaroon may call it
 * (admin, read-only); lnd's `invoice.macaroon`, what aperture is given, may not
 * (lnd answers "permission denied"): then ListInvoices, which it may, and the
 * node and network are read from the newest invoice, if there is one.
 */
async function probe(clients: LndClients, timeoutMs: number): Promise<ProbedInfo> {
  try {
    return { ...toNodeInfo(await unary<RpcGetInfo>(clients.lightning, 'GetInfo', {}, timeoutMs)), fromGetInfo: true };
  } catch (cause) {
    if (!isGrpcError(cause) || !/permission denied/i.test(cause.details)) throw cause;
  }
  const page = await unary<{ invoices: RpcInvoice[] }>(
    clients.lightning,
    'ListInvoices',
    { num_max_invoices: '1', reversed: true },
    timeoutMs,
  );
  const newest = page.invoices[0]?.payment_request;
  if (newest === undefined || newest === '') return { pubkey: '', alias: '', version: '', network: undefined, fromGetInfo: false };
  try {
    const decoded = decodeInvoice(newest);
    return { pubkey: decoded.payee, alias: '', version: '', network: decoded.network, fromGetInfo: false };
  } catch {
    return { pubkey: '', alias: '', version: '', network: undefined, fromGetInfo: false };
  }
}

const STATES: Record<RpcInvoice['state'], InvoiceState> = { OPEN: 'open', SETTLED: 'settled', CANCELED: 'canceled', ACCEPTED: 'accepted' };

function toStatus(invoice: RpcInvoice): InvoiceStatus {
  const paymentHash = invoice.r_hash.toString('hex');
  const state = STATES[invoice.state] ?? 'open';
  if (state !== 'settled') return { paymentHash, state };
  const paidMsat = BigInt(invoice.amt_paid_msat || '0');
  return {
    paymentHash,
    state,
    amountPaidSats: Number(paidMsat / 1000n),
    settledAt: Number(invoice.settle_date || '0') * 1000,
  };
}
