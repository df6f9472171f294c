/**
 * A node:http request listener around {@link createDevPayHandler}, for servers
 * that mount `/api/dev/pay` on a plain `http.Server` or Express/Connect stack.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DevInvoicer } from './dev-invoicer.js';
import { createDevPayHandler } from './dev-pay-handler.js';

/** Largest request body read, bytes: a BOLT11 invoice is well under 8 KiB. */
const MAX_BODY = 64 * 1024;

/**
 * Creates a node:http listener serving `POST /api/dev/pay`. It does not look at
 * the path: mount it where it belongs.
 * @param invoicer - the dev backend whose invoices are paid
 * @returns `(req, res) => void`; answers 405 to anything but POST and 413 to bodies over 64 KiB
 */
export function createDevPayListener(invoicer: DevInvoicer): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = createDevPayHandler(invoicer);
  return (req, res) => {
    const send = (status: number, body: object): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
    };
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      send(405, { error: { code: 'L402_ERR_DEV_BAD_REQUEST', message: 'use POST' } });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge) {
        send(413, { error: { code: 'L402_ERR_DEV_BAD_REQUEST', message: 'body too large' } });
        return;
      }
      handle(Buffer.concat(chunks).toString('utf8'), req.socket.remoteAddress ?? '').then(
        (answer) => send(answer.status, answer.body),
        () => send(500, { error: { code: 'L402_ERR_DEV_PAY_FAILED', message: 'internal error' } }),
      );
    });
  };
}
