/**
 * A node:http / node:http2 request listener around {@link createDevPayHandler},
 * for servers that mount `/api/dev/pay` on a plain `http.Server`, an
 * Express/Connect stack or the `aperture` proxy listener.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { DevInvoicer } from './dev-invoicer.js';
import { createDevPayHandler, type DevPayHandler } from './dev-pay-handler.js';
import type { L402ErrorCode } from '../../core/error-codes.js';

/** Largest request body read, bytes: a BOLT11 invoice is well under 8 KiB. */
export const MAX_DEV_PAY_BODY = 64 * 1024;

/**
 * Headers a reverse proxy adds. A request carrying any of them is refused: a
 * proxy on the same host connects from loopback for every client it relays.
 */
const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const;

/** A payment `/api/dev/pay` made, as {@link DevPayListenerOptions.afterPay} sees it. */
export interface DevPaid {
  /** Payment hash of the paid invoice, lower-case hex. */
  paymentHash: string;
  /** Amount paid in satoshis. */
  amountSats: number;
}

/** Options of {@link createDevPayListener}. */
export interface DevPayListenerOptions {
  /**
   * Runs after each successful payment, before the answer is sent: the client
   * gets its preimage only once this settles (e.g. once the settlement is in a
   * ledger, so that a crash right after cannot lose it). When it throws or
   * rejects, the answer is 500 `L402_ERR_DEV_PAY_FAILED`.
   */
  afterPay?: (paid: DevPaid) => void | Promise<void>;
}

/**
 * Creates a listener serving `POST /api/dev/pay` on HTTP/1.1 or HTTP/2. It does
 * not look at the path: mount it where it belongs. Only loopback socket peers
 * are served (`X-Forwarded-For` is never believed); others get 403. A request
 * carrying `X-Forwarded-For`, `Forwarded` or `X-Real-IP` gets 403 too: behind
 * a reverse proxy on the same host every client would be a loopback peer.
 * @param payer - the dev backend whose invoices are paid, or a handler from {@link createDevPayHandler}
 * @param options - `afterPay`, awaited before each successful answer
 * @returns `(req, res) => void`; answers JSON, 405 to anything but POST and 413 to bodies over 64 KiB
 */
export function createDevPayListener(
  payer: DevInvoicer | DevPayHandler,
  options: DevPayListenerOptions = {},
): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void {
  const handle = typeof payer === 'function' ? payer : createDevPayHandler(payer);
  const { afterPay } = options;
  return (req, res) => {
    const send = (status: number, body: object): void => {
      if (res.headersSent || res.destroyed) return;
      const text = JSON.stringify(body);
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-length', Buffer.byteLength(text));
      res.writeHead(status);
      res.end(text);
    };
    const fail = (status: number, code: L402ErrorCode, message: string): void => send(status, { error: { code, message } });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      fail(405, 'L402_ERR_DEV_BAD_REQUEST', '/api/dev/pay only accepts POST');
      return;
    }
    if (FORWARDING_HEADERS.some((name) => req.headers[name] !== undefined)) {
      // A reverse proxy on the same host makes every client a loopback socket peer: refuse whatever came through one.
      // The body is not read (HTTP/1.1 closes the connection instead; HTTP/2 resets the stream).
      if (req.httpVersionMajor < 2) res.setHeader('connection', 'close');
      fail(
        403,
        'L402_ERR_DEV_FORBIDDEN',
        '/api/dev/pay does not serve requests relayed by a proxy (X-Forwarded-For, Forwarded or X-Real-IP present)',
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= MAX_DEV_PAY_BODY) {
        chunks.push(chunk);
        return;
      }
      // Too large: answer now and read no further (HTTP/1.1 closes the connection rather than reading the rest).
      req.off('data', onData);
      req.off('end', onEnd);
      req.pause();
      if (req.httpVersionMajor < 2 && !res.headersSent) res.setHeader('connection', 'close');
      fail(413, 'L402_ERR_DEV_BAD_REQUEST', `body over ${MAX_DEV_PAY_BODY} bytes`);
    };
    const onEnd = (): void => {
      // The loopback check must see the socket peer: X-Forwarded-For is never believed here.
      handle(Buffer.concat(chunks).toString('utf8'), req.socket?.remoteAddress ?? '')
        .then(async (answer) => {
          const paid = answer.body as { payment_hash?: unknown; amount_sats?: unknown };
          if (answer.status === 200 && afterPay !== undefined && typeof paid.payment_hash === 'string') {
            await afterPay({ paymentHash: paid.payment_hash, amountSats: typeof paid.amount_sats === 'number' ? paid.amount_sats : 0 });
          }
          send(answer.status, answer.body);
        })
        .catch((error: unknown) => fail(500, 'L402_ERR_DEV_PAY_FAILED', `paying failed: ${String(error)}`));
    };
    req.on('data', onData);
    req.on('error', () => res.destroy());
    req.on('end', onEnd);
  };
}
