/**
 * One Nostr Wallet Connect session (NIP-47) over one relay (NIP-01 over a
 * WebSocket): requests (kind 23194) signed with the URI's secret and encrypted
 * for the wallet with NIP-44 v2 or NIP-04, responses (23195) matched by their
 * `e` tag, notifications (23196 NIP-04, 23197 NIP-44). Signing and encryption
 * are nostr-tools'; the relay protocol is spoken here, on the `ws` package.
 * @internal
 */
import { createRequire } from 'node:module';
import type * as NostrTools from 'nostr-tools';
import type WebSocketType from 'ws';
import type { L402ErrorCode } from '../../core/error-codes.js';
import { InvoiceError, PaymentError, type L402Error } from '../../core/errors.js';
import { requireOptional } from '../../core/optional-dependency.js';
import { field } from '../http-backend.js';
import type { FeedStream } from '../settlement-feed.js';
import type { NwcUri } from './nwc-uri.js';

/** Which encryption requests use. */
export type NwcEncryption = 'nip44' | 'nip04';

/** Options of {@link NwcConnection}. */
export interface NwcConnectionOptions {
  uri: NwcUri;
  /** Who uses it: error classes and codes. */
  side: 'invoice' | 'pay';
  /** What needs the packages, for the missing-package message. */
  feature: string;
  /** Time allowed to open the relay connection and for each request, ms. */
  timeoutMs: number;
  /** Ping interval of the relay connection, ms. */
  pingIntervalMs: number;
  /** Force an encryption; by default NIP-44 when the wallet's info event (kind 13194) offers `nip44_v2`, else NIP-04. */
  encryption?: NwcEncryption;
  /** Called with each decrypted notification (`{notification_type, notification}`). */
  onNotification?: (notification: unknown) => void;
}

/** A NIP-47 error a wallet answered. */
export class NwcWalletError {
  constructor(
    readonly code: string,
    readonly message: string,
  ) {}
}

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

const KIND_INFO = 13194;
const KIND_REQUEST = 23194;
const KIND_RESPONSE = 23195;
const KIND_NOTIFICATION_NIP04 = 23196;
const KIND_NOTIFICATION_NIP44 = 23197;

/**
 * @internal
 */
export class NwcConnection {
  readonly #options: NwcConnectionOptions;
  readonly #nostr: typeof NostrTools;
  readonly #WebSocket: typeof WebSocketType;
  readonly #clientPubkey: string;
  readonly #conversationKey: Uint8Array;
  readonly #pending = new Map<string, Pending>();
  readonly #okWaiters = new Map<string, (accepted: boolean, message: string) => void>();
  #socket: WebSocketType | undefined;
  #encryption: NwcEncryption | undefined;
  #closed = false;

  /**
   * @param options - URI, side, timeouts
   * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` without `nostr-tools` or `ws`
   */
  constructor(options: NwcConnectionOptions) {
    this.#options = options;
    const [nostr, ws] = requireOptional(createRequire(import.meta.url), options.feature, ['nostr-tools', 'ws']) as [
      typeof NostrTools,
      typeof WebSocketType,
    ];
    this.#nostr = nostr;
    this.#WebSocket = ws;
    this.#clientPubkey = nostr.getPublicKey(options.uri.secret);
    this.#conversationKey = nostr.nip44.v2.utils.getConversationKey(options.uri.secret, options.uri.walletPubkey);
    this.#encryption = options.encryption;
  }

  /** The relay used (the URI's first). */
  get relay(): string {
    return this.#options.uri.relays[0] ?? '';
  }

  /** Whether the relay connection is open. */
  get connected(): boolean {
    return this.#socket !== undefined && this.#socket.readyState === this.#WebSocket.OPEN;
  }

  /** The encryption in use, once known. */
  get encryption(): NwcEncryption | undefined {
    return this.#encryption;
  }

  /**
   * Opens the relay connection, subscribes to responses and notifications, and
   * (the first time, unless forced) reads the wallet's info event to choose the encryption.
   * @returns the stream, ending when the connection is lost
   * @throws the side's UNAVAILABLE error when the relay cannot be reached
   */
  async open(): Promise<FeedStream> {
    if (this.#closed) throw this.#error('unavailable', 'the Nostr Wallet Connect session is closed');
    const socket = await this.#connect();
    let endWith: (reason: unknown) => void = () => undefined;
    const ended = new Promise<unknown>((settle) => (endWith = settle));
    let alive = true;
    const pinger = setInterval(() => {
      if (!alive) {
        socket.terminate();
        return;
      }
      alive = false;
      socket.ping();
    }, this.#options.pingIntervalMs);
    pinger.unref();
    socket.on('pong', () => (alive = true));
    socket.on('close', (code) => {
      clearInterval(pinger);
      if (this.#socket === socket) this.#socket = undefined;
      for (const [id, p] of this.#pending) {
        clearTimeout(p.timer);
        p.reject(this.#error('unavailable', `lost the relay ${this.relay} before the wallet answered`));
        this.#pending.delete(id);
      }
      endWith(this.#error('unavailable', `relay connection closed (${code})`));
    });
    socket.on('error', () => undefined);
    socket.on('message', (data) => {
      alive = true;
      this.#onRelayMessage(data);
    });
    this.#socket = socket;
    const since = Math.floor(Date.now() / 1000) - 10;
    this.#send([
      'REQ',
      'nwc',
      {
        kinds: [KIND_RESPONSE, KIND_NOTIFICATION_NIP04, KIND_NOTIFICATION_NIP44],
        authors: [this.#options.uri.walletPubkey],
        '#p': [this.#clientPubkey],
        since,
      },
    ]);
    if (this.#encryption === undefined) {
      try {
        this.#encryption = await this.#readInfo();
      } catch (error) {
        socket.terminate();
        throw error;
      }
    }
    return {
      ended,
      close: () => {
        clearInterval(pinger);
        socket.terminate();
      },
    };
  }

  /**
   * Sends a request and waits for the wallet's answer.
   * @param method - e.g. `make_invoice`
   * @param params - its parameters
   * @param timeoutMs - how long to wait; the connection's timeout by default
   * @returns the `result` object
   * @throws NwcWalletError when the wallet answered an error; the side's UNAVAILABLE error when not connected,
   *   refused by the relay, or unanswered in time; BAD_RESPONSE for an answer that cannot be read
   */
  async request(method: string, params: Record<string, unknown>, timeoutMs = this.#options.timeoutMs): Promise<Record<string, unknown>> {
    const socket = this.#socket;
    if (socket === undefined || !this.connected) throw this.#error('unavailable', `not connected to the relay ${this.relay}`);
    const content = JSON.stringify({ method, params });
    const encryption = this.#encryption ?? 'nip04';
    const event = this.#nostr.finalizeEvent(
      {
        kind: KIND_REQUEST,
        created_at: Math.floor(Date.now() / 1000),
        tags: [['p', this.#options.uri.walletPubkey], ...(encryption === 'nip44' ? [['encryption', 'nip44_v2']] : [])],
        content:
          encryption === 'nip44'
            ? this.#nostr.nip44.v2.encrypt(content, this.#conversationKey)
            : this.#nostr.nip04.encrypt(this.#options.uri.secret, this.#options.uri.walletPubkey, content),
      },
      this.#options.uri.secret,
    );
    const answered = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(event.id);
        reject(this.#error('timeout', `the wallet did not answer ${method} within ${timeoutMs} ms (relay ${this.relay})`));
      }, timeoutMs);
      this.#pending.set(event.id, { resolve, reject, timer });
    });
    const accepted = new Promise<void>((resolve, reject) => {
      this.#okWaiters.set(event.id, (ok, message) =>
        ok ? resolve() : reject(this.#error('unavailable', `the relay ${this.relay} refused the ${method} request: ${message}`)),
      );
    });
    this.#send(['EVENT', event]);
    // A relay that refuses the event ends the request at once; one that never says OK does not block it.
    accepted.catch((error: unknown) => {
      const pending = this.#pending.get(event.id);
      if (pending === undefined) return;
      clearTimeout(pending.timer);
      this.#pending.delete(event.id);
      pending.reject(error);
    });
    try {
      const response = await answered;
      const error = field(response, 'error');
      if (error !== null && error !== undefined) {
        const code = field(error, 'code');
        const message = field(error, 'message');
        throw new NwcWalletError(typeof code === 'string' ? code : 'OTHER', typeof message === 'string' ? message : JSON.stringify(error));
      }
      const result = field(response, 'result');
      if (typeof result !== 'object' || result === null || Array.isArray(result))
        throw this.#error('bad', `the wallet answered ${method} without a result object`);
      return result as Record<string, unknown>;
    } finally {
      this.#okWaiters.delete(event.id);
    }
  }

  /** Ends the session. */
  close(): void {
    this.#closed = true;
    this.#socket?.terminate();
    this.#socket = undefined;
  }

  #connect(): Promise<WebSocketType> {
    return new Promise((resolve, reject) => {
      const socket = new this.#WebSocket(this.relay, { handshakeTimeout: this.#options.timeoutMs });
      socket.once('open', () => resolve(socket));
      socket.once('error', (error) => reject(this.#error('unavailable', `cannot reach the relay ${this.relay}: ${error.message}`, error)));
      socket.once('unexpected-response', (_req, res) => {
        res.resume();
        socket.terminate();
        reject(this.#error('unavailable', `the relay ${this.relay} answered HTTP ${res.statusCode ?? 0}`));
      });
    });
  }

  /** Reads the wallet's info event: NIP-44 when it offers `nip44_v2`, else NIP-04 (also when it has none). */
  #readInfo(): Promise<NwcEncryption> {
    return new Promise((resolve, reject) => {
      let chosen: NwcEncryption = 'nip04';
      const timer = setTimeout(() => {
        this.#infoHandler = undefined;
        reject(this.#error('unavailable', `the relay ${this.relay} did not answer a subscription within ${this.#options.timeoutMs} ms`));
      }, this.#options.timeoutMs);
      this.#infoHandler = (message) => {
        if (message[0] === 'EVENT' && message[1] === 'info') {
          const tags = field(message[2], 'tags');
          const encryption = Array.isArray(tags) ? (tags as unknown[]).find((t) => Array.isArray(t) && t[0] === 'encryption') : undefined;
          chosen = Array.isArray(encryption) && String(encryption[1]).split(/\s+/).includes('nip44_v2') ? 'nip44' : 'nip04';
        } else if ((message[0] === 'EOSE' || message[0] === 'CLOSED') && message[1] === 'info') {
          clearTimeout(timer);
          this.#infoHandler = undefined;
          this.#send(['CLOSE', 'info']);
          resolve(chosen);
        }
      };
      this.#send(['REQ', 'info', { kinds: [KIND_INFO], authors: [this.#options.uri.walletPubkey], limit: 1 }]);
    });
  }

  #infoHandler: ((message: unknown[]) => void) | undefined;

  #send(message: unknown[]): void {
    this.#socket?.send(JSON.stringify(message));
  }

  #onRelayMessage(data: WebSocketType.RawData): void {
    let message: unknown;
    try {
      message = JSON.parse(
        Buffer.isBuffer(data)
          ? data.toString('utf8')
          : Array.isArray(data)
            ? Buffer.concat(data).toString('utf8')
            : Buffer.from(data).toString('utf8'),
      );
    } catch {
      return;
    }
    if (!Array.isArray(message)) return;
    this.#infoHandler?.(message);
    if (message[0] === 'OK' && typeof message[1] === 'string') {
      this.#okWaiters.get(message[1])?.(message[2] === true, String(message[3] ?? ''));
      return;
    }
    if (message[0] !== 'EVENT' || message[1] !== 'nwc') return;
    const event = message[2] as NostrTools.Event;
    // Only the wallet's own, correctly signed events addressed to us count.
    if (typeof event !== 'object' || event === null || event.pubkey !== this.#options.uri.walletPubkey || !this.#nostr.verifyEvent(event))
      return;
    if (!event.tags.some((t) => t[0] === 'p' && t[1] === this.#clientPubkey)) return;
    let payload: unknown;
    try {
      const nip04 = event.kind === KIND_NOTIFICATION_NIP04 || (event.kind === KIND_RESPONSE && event.content.includes('?iv='));
      const text = nip04
        ? this.#nostr.nip04.decrypt(this.#options.uri.secret, this.#options.uri.walletPubkey, event.content)
        : this.#nostr.nip44.v2.decrypt(event.content, this.#conversationKey);
      payload = JSON.parse(text);
    } catch {
      return;
    }
    if (event.kind === KIND_RESPONSE) {
      const requestId = event.tags.find((t) => t[0] === 'e')?.[1];
      const pending = requestId === undefined ? undefined : this.#pending.get(requestId);
      if (pending === undefined || requestId === undefined) return;
      clearTimeout(pending.timer);
      this.#pending.delete(requestId);
      pending.resolve(payload);
      return;
    }
    try {
      this.#options.onNotification?.(payload);
    } catch (error) {
      process.emitWarning(`NWC notification handler threw: ${String(error)}`, { code: 'APERTURE_LISTENER' });
    }
  }

  #error(kind: 'unavailable' | 'timeout' | 'bad', message: string, cause?: unknown): L402Error {
    const options = cause === undefined ? {} : { cause };
    if (this.#options.side === 'invoice') {
      return new InvoiceError(
        kind === 'bad' ? 'L402_ERR_LN_BAD_RESPONSE' : 'L402_ERR_LN_UNAVAILABLE',
        `Nostr Wallet Connect: ${message}`,
        options,
      );
    }
    const code: L402ErrorCode = kind === 'timeout' ? 'L402_ERR_PAY_TIMEOUT' : 'L402_ERR_PAY_UNAVAILABLE';
    return new PaymentError(code, `Nostr Wallet Connect: ${message}`, options);
  }
}
