/**
 * A settlement stream over a WebSocket (LNbits, phoenixd), on the optional
 * `ws` package: headers and a pinned CA on the upgrade, a ping every interval
 * that ends a silent connection, JSON messages handed to the backend.
 * @internal
 */
import { createRequire } from 'node:module';
import type WebSocketType from 'ws';
import { InvoiceError } from '../core/errors.js';
import { requireOptional } from '../core/optional-dependency.js';
import type { FeedStream } from './settlement-feed.js';

/** Options of {@link openWebSocketStream}. */
export interface WebSocketStreamOptions {
  /** `ws://` or `wss://` URL. */
  url: string;
  /** Headers of the upgrade request (credentials). */
  headers?: Record<string, string>;
  /** PEM CA certificate to trust for `wss://`. */
  caCert?: string | Uint8Array;
  /** What needs `ws`, for the missing-package message. */
  feature: string;
  /** Backend name for messages. */
  name: string;
  /** Time allowed to open, ms. */
  openTimeoutMs: number;
  /** Ping interval, ms; a connection that does not answer one ping before the next is ended. */
  pingIntervalMs: number;
  /** Called with each message parsed as JSON (messages that are not JSON are ignored). */
  onMessage: (message: unknown) => void;
}

/**
 * Opens the stream.
 * @param options - URL, headers, CA, message handler
 * @returns the open stream
 * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` without `ws`; InvoiceError `L402_ERR_LN_AUTH_REFUSED` when the
 *   upgrade is answered 401/403; `L402_ERR_LN_UNAVAILABLE` when it cannot be opened
 */
export function openWebSocketStream(options: WebSocketStreamOptions): Promise<FeedStream> {
  const [WebSocket] = requireOptional(createRequire(import.meta.url), options.feature, ['ws']) as [typeof WebSocketType];
  return new Promise<FeedStream>((resolve, reject) => {
    const socket = new WebSocket(options.url, {
      headers: options.headers ?? {},
      handshakeTimeout: options.openTimeoutMs,
      ...(options.caCert !== undefined ? { ca: typeof options.caCert === 'string' ? options.caCert : Buffer.from(options.caCert) } : {}),
    });
    let opened = false;
    let alive = true;
    let pinger: NodeJS.Timeout | undefined;
    let endWith: (reason: unknown) => void = () => undefined;
    const ended = new Promise<unknown>((settle) => (endWith = settle));
    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      socket.terminate();
      const error =
        status === 401 || status === 403
          ? new InvoiceError('L402_ERR_LN_AUTH_REFUSED', `${options.name} refused the credentials of its WebSocket (HTTP ${status})`)
          : new InvoiceError('L402_ERR_LN_UNAVAILABLE', `${options.name} answered its WebSocket upgrade with HTTP ${status}`);
      if (!opened) reject(error);
    });
    socket.on('error', (error) => {
      if (!opened)
        reject(new InvoiceError('L402_ERR_LN_UNAVAILABLE', `cannot open ${options.name}'s WebSocket: ${error.message}`, { cause: error }));
      else endWith(error);
    });
    socket.on('open', () => {
      opened = true;
      pinger = setInterval(() => {
        if (!alive) {
          socket.terminate();
          endWith(new InvoiceError('L402_ERR_LN_UNAVAILABLE', `${options.name}'s WebSocket did not answer a ping`));
          return;
        }
        alive = false;
        socket.ping();
      }, options.pingIntervalMs);
      pinger.unref();
      resolve({
        ended,
        close: () => {
          clearInterval(pinger);
          socket.terminate();
        },
      });
    });
    socket.on('pong', () => {
      alive = true;
    });
    socket.on('message', (data) => {
      alive = true;
      let parsed: unknown;
      try {
        parsed = JSON.parse(
          Buffer.isBuffer(data)
            ? data.toString('utf8')
            : Array.isArray(data)
              ? Buffer.concat(data).toString('utf8')
              : Buffer.from(data).toString('utf8'),
        );
      } catch {
        return;
      }
      options.onMessage(parsed);
    });
    socket.on('close', (code, reason) => {
      clearInterval(pinger);
      endWith(
        new InvoiceError(
          'L402_ERR_LN_UNAVAILABLE',
          `${options.name}'s WebSocket closed (${code}${reason.length > 0 ? ` ${reason.toString('utf8')}` : ''})`,
        ),
      );
    });
  });
}
