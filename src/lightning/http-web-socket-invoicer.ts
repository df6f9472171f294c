/**
 * The transport of the invoicers over a JSON HTTP API whose settlements come
 * from a WebSocket of the same server (LNbits, phoenixd): an {@link HttpBackend}
 * whose failures are `L402_ERR_LN_UNAVAILABLE`, and a {@link FeedInvoicerCore}
 * whose feed is that WebSocket.
 * @internal
 */
import { InvoiceError } from '../core/errors.js';
import type { Clock, InvoiceStatus } from '../core/types.js';
import { FeedInvoicerCore, type FeedInvoicerSettings } from './feed-invoicer-core.js';
import { HttpBackend } from './http-backend.js';
import { openWebSocketStream } from './web-socket-stream.js';

/** The invoicer's own options used here. */
export interface HttpWebSocketInvoicerSettings extends FeedInvoicerSettings {
  /** The server's URL. */
  url: string;
  /** PEM CA certificate to trust, for both the calls and the WebSocket. */
  caCert?: string | Uint8Array;
  /** Timeout of each call and of opening the WebSocket, ms; 30 000 by default. */
  timeoutMs?: number;
  /** WebSocket ping interval, ms; 30 000 by default. */
  pingIntervalMs?: number;
}

/** What differs between the backends. */
export interface HttpWebSocketInvoicerParts {
  /** Backend name for messages, e.g. `LNbits`. */
  backend: string;
  /** What needs `ws`, for the missing-package message, e.g. `LnbitsInvoicer`. */
  feature: string;
  /** Time source. */
  clock: Clock;
  /** Headers of every call (credentials). */
  headers: Record<string, string>;
  /** Path of the WebSocket on the server, e.g. `/websocket`. */
  webSocketPath: string;
  /** Headers of the WebSocket upgrade, when it needs credentials there. */
  webSocketHeaders?: Record<string, string>;
  /** Called with each message of the WebSocket parsed as JSON. */
  onMessage: (message: unknown) => void;
  /** Looks an invoice up, for reconciliation after a reconnect. */
  lookup: (paymentHash: string) => Promise<InvoiceStatus>;
}

/**
 * Builds the HTTP client and the WebSocket-fed settlement side; nothing is opened yet.
 * @param settings - the invoicer's options: URL, CA, timeouts, backoff, health listener
 * @param parts - names, credentials, the WebSocket's path, message handler and lookup
 * @returns the HTTP client and the settlement side
 */
export function httpWebSocketInvoicer(
  settings: HttpWebSocketInvoicerSettings,
  parts: HttpWebSocketInvoicerParts,
): { http: HttpBackend; core: FeedInvoicerCore } {
  const http = new HttpBackend({
    baseUrl: settings.url,
    headers: parts.headers,
    ...(settings.caCert !== undefined ? { caCert: settings.caCert } : {}),
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    failure: (_kind, message, cause) => new InvoiceError('L402_ERR_LN_UNAVAILABLE', `${parts.backend}: ${message}`, { cause }),
  });
  const core = new FeedInvoicerCore(settings, {
    backend: parts.backend,
    name: `${parts.backend} at ${http.baseUrl}`,
    clock: parts.clock,
    open: () =>
      openWebSocketStream({
        url: `${http.baseUrl.replace(/^http/, 'ws')}${parts.webSocketPath}`,
        ...(parts.webSocketHeaders !== undefined ? { headers: parts.webSocketHeaders } : {}),
        ...(settings.caCert !== undefined ? { caCert: settings.caCert } : {}),
        feature: parts.feature,
        name: parts.backend,
        openTimeoutMs: settings.timeoutMs ?? 30_000,
        pingIntervalMs: settings.pingIntervalMs ?? 30_000,
        onMessage: parts.onMessage,
      }),
    lookup: parts.lookup,
    closeTransport: () => http.close(),
  });
  return { http, core };
}
