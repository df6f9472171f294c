/**
 * WebSocket (HTTP/1.1 `Upgrade`) passthrough: the upgrade request is sent to
 * the backend on a fresh TCP or TLS socket, and from then on bytes are piped
 * both ways untouched, the backend's `101 Switching Protocols` included.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { UpstreamError } from '../../core/errors.js';
import type { ProxyService } from '../proxy-service.js';
import { classifyUpstreamError } from './upstream-failure.js';

/** What to send and where. */
export interface WebSocketForward {
  /** The matched service. */
  service: ProxyService;
  /** Method of the upgrade request, normally `GET`. */
  method: string;
  /** Rewritten path and query. */
  path: string;
  /** Upstream headers, flat `[name, value, …]`, `Upgrade` and `Connection` kept. */
  headers: string[];
  /** Connect timeout, and how long to wait for the backend's first bytes. */
  connectMs: number;
  /** Longest silence in the answer to the upgrade request. */
  headersMs: number;
  /** Called with every upstream failure, for logs and metrics. */
  onError: (error: UpstreamError) => void;
  /** Called when both sides are closed, for connection tracking. */
  onClose?: () => void;
}

function splitAddress(address: string): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(address);
  if (bracket !== null) return { host: bracket[1] as string, port: Number(bracket[2]) };
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return { host: address, port: 80 };
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/**
 * Writes a minimal HTTP/1.1 error response on a raw client socket and closes it.
 * @param socket - the client socket of an upgrade request
 * @param status - HTTP status
 * @param reason - reason phrase
 * @param body - plain-text body
 * @param headers - extra headers
 */
export function writeRawResponse(
  socket: Duplex,
  status: number,
  reason: string,
  body: string,
  headers: ReadonlyArray<readonly [string, string]> = [],
): void {
  if (socket.destroyed) return;
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value.replace(/[\r\n]/g, ' ')}\r\n`;
  head += `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body);
}

/**
 * Tunnels one WebSocket upgrade to the backend. Never throws: a backend that
 * cannot be reached gets the client a 502 or 504 before any byte of the
 * backend was sent; later failures close both sockets.
 *
 * @param client - the client socket from the server's `'upgrade'` event
 * @param head - bytes the client sent after the request head
 * @param forward - backend and headers
 */
export function forwardWebSocket(client: Duplex, head: Buffer, forward: WebSocketForward): void {
  const { service } = forward;
  const { host, port } = splitAddress(service.address);
  let upstream: Socket;
  try {
    if (service.protocol === 'https') {
      const tls: ConnectionOptions = { host, port, rejectUnauthorized: service.tlsInsecureSkipVerify !== true, ALPNProtocols: ['http/1.1'] };
      if (isIP(host) === 0) tls.servername = host;
      if (service.tlsCertPath !== undefined && service.tlsCertPath !== '') tls.ca = readFileSync(service.tlsCertPath);
      upstream = tlsConnect(tls);
    } else {
      upstream = netConnect({ host, port });
    }
  } catch (cause) {
    const error = classifyUpstreamError(
      cause instanceof UpstreamError ? cause : new UpstreamError('L402_ERR_UPSTREAM_TLS', String(cause), { cause }),
      service.name,
    );
    forward.onError(error);
    writeRawResponse(client, 502, 'Bad Gateway', `bad gateway (${error.code})\n`);
    return;
  }
  let answered = false;
  let closed = 0;
  const onClosed = (): void => {
    if (++closed === 2) forward.onClose?.();
  };
  const fail = (cause: unknown): void => {
    if (answered) {
      client.destroy();
      upstream.destroy();
      return;
    }
    answered = true;
    const error = classifyUpstreamError(cause, service.name);
    forward.onError(error);
    upstream.destroy();
    const status = error.status ?? 502;
    writeRawResponse(client, status, status === 504 ? 'Gateway Timeout' : 'Bad Gateway', `${status === 504 ? 'gateway timeout' : 'bad gateway'} (${error.code})\n`);
  };
  upstream.setTimeout(forward.connectMs, () => {
    fail(Object.assign(new Error('no answer from upstream'), { code: 'ETIMEDOUT' }));
  });
  upstream.once(service.protocol === 'https' ? 'secureConnect' : 'connect', () => {
    upstream.setTimeout(forward.headersMs);
    let text = `${forward.method} ${forward.path} HTTP/1.1\r\n`;
    const h = forward.headers;
    for (let i = 0; i + 1 < h.length; i += 2) text += `${h[i] as string}: ${(h[i + 1] as string).replace(/[\r\n]/g, ' ')}\r\n`;
    upstream.write(`${text}\r\n`);
    if (head.length > 0) upstream.write(head);
  });
  upstream.once('data', () => {
    // The backend answered; from here on it is a byte tunnel with no timeout of ours.
    answered = true;
    upstream.setTimeout(0);
  });
  upstream.on('error', fail);
  client.on('error', () => upstream.destroy());
  upstream.on('close', () => {
    // Before an answer, fail() ends the client with an error response; destroying it would cut that off.
    if (!answered) fail(Object.assign(new Error('upstream closed before answering'), { code: 'UND_ERR_SOCKET' }));
    else client.destroy();
    onClosed();
  });
  client.on('close', () => {
    upstream.destroy();
    onClosed();
  });
  upstream.pipe(client);
  client.pipe(upstream);
}
