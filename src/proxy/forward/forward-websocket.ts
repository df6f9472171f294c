/**
 * WebSocket (HTTP/1.1 `Upgrade`) passthrough: the upgrade request is sent to
 * the backend on a fresh TCP or TLS socket; only when the backend answers
 * `101 Switching Protocols` with a WebSocket upgrade are bytes piped both
 * ways untouched, with an idle timeout.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest, type RequestOptions as HttpsRequestOptions } from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { closeAfterAnswer } from '../../adapters/node/discard-unread-body.js';
import { UpstreamError } from '../../core/errors.js';
import type { ResponseOutcome } from '../../core/payment-scheme.js';
import type { HeaderList } from '../../core/types.js';
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
  /** Longest silence (both directions) of an established tunnel; `0` or absent = no limit. */
  idleMs?: number;
  /** Called with every upstream failure, for logs and metrics. */
  onError: (error: UpstreamError) => void;
  /**
   * Called once, when the client socket has closed: the status the client got
   * (101 for a tunnel, the backend's status for a refused upgrade, 502/504 when
   * the backend could not be reached), whether the backend ended it in order
   * (`completed`), and whether the client left first (`clientAborted`).
   */
  onEnd?: ((outcome: ResponseOutcome) => void) | undefined;
  /** Headers the accepting payment scheme adds to the backend's answer (a receipt). */
  responseHeaders?: HeaderList | undefined;
}

function splitAddress(address: string): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(address);
  if (bracket !== null) return { host: bracket[1] as string, port: Number(bracket[2]) };
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return { host: address, port: 80 };
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/**
 * Writes a minimal HTTP/1.1 error response on a raw client socket and closes
 * it: what the client sends afterwards is not read beyond a bounded drain
 * (see `closeAfterAnswer`).
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
  socket.write(head + body);
  closeAfterAnswer(socket);
}

/** Hop-by-hop response headers that are not relayed with a refused upgrade. */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'trailer', 'te', 'proxy-connection']);

/** Whether a comma-separated header (or list of them) contains `token`, case-insensitively. */
function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const part of v.split(',')) if (part.trim().toLowerCase() === token) return true;
  }
  return false;
}

/**
 * The upgrade request's headers: whatever `Connection` and `Upgrade` the client
 * sent are replaced by exactly `Connection: upgrade` and `Upgrade: websocket`,
 * so no other hop-by-hop token (`keep-alive`, a header name) reaches the backend.
 */
function upgradeRequestHeaders(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const lower = (headers[i] as string).toLowerCase();
    if (lower === 'connection' || lower === 'upgrade') continue;
    out.push(headers[i] as string, (headers[i + 1] as string).replace(/[\r\n]/g, ' '));
  }
  out.push('connection', 'upgrade', 'upgrade', 'websocket');
  return out;
}

/** A response head for the raw client socket from a parsed backend response. */
function responseHead(res: IncomingMessage, keep: (lower: string) => boolean, extra: string): string {
  let head = `HTTP/1.1 ${res.statusCode ?? 502} ${(res.statusMessage ?? '').replace(/[\r\n]/g, ' ')}\r\n`;
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!keep(name.toLowerCase())) continue;
    head += `${name}: ${(raw[i + 1] as string).replace(/[\r\n]/g, ' ')}\r\n`;
  }
  return `${head}${extra}\r\n`;
}

/**
 * Tunnels one WebSocket upgrade to the backend. Never throws.
 *
 * The backend's answer is parsed first. Only a `101 Switching Protocols`
 * carrying `Upgrade: websocket` and `Connection: upgrade` opens the byte
 * tunnel (with the idle timeout `idleMs`); the client's bytes are not sent to
 * the backend before that. Any other answer (a backend without WebSocket
 * support answering 200, 404, …) is relayed to the client with
 * `Connection: close` and both sockets are closed, so nothing the client
 * writes afterwards can reach the backend as a further, unauthorized request.
 * A backend that cannot be reached gets the client a 502 or 504.
 *
 * @param client - the client socket from the server's `'upgrade'` event
 * @param head - bytes the client sent after the request head
 * @param forward - backend and headers
 */
export function forwardWebSocket(client: Duplex, head: Buffer, forward: WebSocketForward): void {
  const { service } = forward;
  const { host, port } = splitAddress(service.address);
  // The payment scheme's response headers replace the backend's of the same name.
  const added = new Set<string>();
  let addedLines = '';
  for (const [name, value] of forward.responseHeaders ?? []) {
    added.add(name.toLowerCase());
    addedLines += `${name}: ${value.replace(/[\r\n]/g, ' ')}\r\n`;
  }
  let answered = false;
  // What the client got, and how the backend's side ended before the client's closed:
  // `done` in order (a relayed answer's end, a tunnel the backend or the idle limit closed),
  // `cut` by a backend failure; still `undefined` when the client left first.
  let status = 101;
  let ended: 'done' | 'cut' | undefined;
  const endedBy = (how: 'done' | 'cut'): void => {
    ended ??= how;
  };
  let upstream: ClientRequest;
  const fail = (cause: unknown): void => {
    if (answered) {
      endedBy('cut');
      client.destroy();
      upstream.destroy();
      return;
    }
    answered = true;
    const error = classifyUpstreamError(cause, service.name);
    forward.onError(error);
    upstream.destroy();
    status = error.status ?? 502;
    endedBy('done');
    writeRawResponse(
      client,
      status,
      status === 504 ? 'Gateway Timeout' : 'Bad Gateway',
      `${status === 504 ? 'gateway timeout' : 'bad gateway'} (${error.code})\n`,
    );
  };
  try {
    const options: RequestOptions = {
      host,
      port,
      method: forward.method,
      path: forward.path,
      headers: upgradeRequestHeaders(forward.headers) as unknown as RequestOptions['headers'],
      setHost: false,
      agent: false,
    };
    if (service.protocol === 'https') {
      const tls: HttpsRequestOptions & { ALPNProtocols: string[] } = {
        ...options,
        rejectUnauthorized: service.tlsInsecureSkipVerify !== true,
        ALPNProtocols: ['http/1.1'],
      };
      if (isIP(host) === 0) tls.servername = host;
      if (service.tlsCertPath !== undefined && service.tlsCertPath !== '') tls.ca = readFileSync(service.tlsCertPath);
      upstream = httpsRequest(tls);
    } else {
      upstream = httpRequest(options);
    }
  } catch (cause) {
    const error = classifyUpstreamError(
      cause instanceof UpstreamError ? cause : new UpstreamError('L402_ERR_UPSTREAM_TLS', String(cause), { cause }),
      service.name,
    );
    forward.onError(error);
    status = 502;
    endedBy('done');
    writeRawResponse(client, 502, 'Bad Gateway', `bad gateway (${error.code})\n`);
    return;
  }
  const timedOut = (): void => {
    upstream.destroy(Object.assign(new Error('no answer from upstream'), { code: 'ETIMEDOUT' }));
  };
  upstream.setTimeout(forward.connectMs, timedOut);
  upstream.once('socket', (socket: Socket) => {
    socket.once(service.protocol === 'https' ? 'secureConnect' : 'connect', () => {
      if (!answered) upstream.setTimeout(forward.headersMs, timedOut);
    });
  });
  upstream.on('error', fail);
  client.on('error', () => upstream.destroy());
  client.once('close', () => {
    upstream.destroy();
    const outcome: ResponseOutcome = { status, completed: ended === 'done' };
    if (ended !== 'done') outcome.clientAborted = ended === undefined;
    forward.onEnd?.(outcome);
  });
  upstream.on('response', (res: IncomingMessage) => {
    // Not an upgrade: relay the answer, then close both sides.
    answered = true;
    status = res.statusCode ?? 502;
    upstream.setTimeout(0);
    const chunked = res.headers['transfer-encoding'] !== undefined;
    const keep = (lower: string): boolean => !HOP_BY_HOP_RESPONSE.has(lower) && !(chunked && lower === 'content-length');
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    client.write(responseHead(res, (lower) => keep(lower) && !added.has(lower), `connection: close\r\n${addedLines}`));
    res.on('error', () => {
      endedBy('cut');
      client.destroy();
    });
    res.on('end', () => {
      endedBy('done');
      client.end();
      upstream.destroy();
    });
    res.pipe(client, { end: false });
  });
  upstream.on('upgrade', (res: IncomingMessage, socket: Socket, upgradeHead: Buffer) => {
    const valid = res.statusCode === 101 && hasToken(res.headers.upgrade, 'websocket') && hasToken(res.headers.connection, 'upgrade');
    if (!valid) {
      socket.destroy();
      fail(
        new UpstreamError(
          'L402_ERR_UPSTREAM_FAILED',
          `service ${service.name}: backend answered ${res.statusCode ?? 0} without a WebSocket upgrade`,
        ),
      );
      return;
    }
    answered = true;
    if (client.destroyed) {
      socket.destroy();
      return;
    }
    // An idle tunnel is closed; activity in either direction passes through the backend socket.
    socket.setTimeout(forward.idleMs ?? 0, () => {
      endedBy('done');
      socket.destroy();
      client.destroy();
    });
    socket.on('error', () => {
      endedBy('cut');
      client.destroy();
    });
    socket.once('close', (hadError: boolean) => {
      endedBy(hadError ? 'cut' : 'done');
      client.destroy();
    });
    client.write(responseHead(res, (lower) => !added.has(lower), addedLines));
    if (upgradeHead.length > 0) client.write(upgradeHead);
    if (head.length > 0) socket.write(head);
    socket.pipe(client);
    client.pipe(socket);
  });
  upstream.end();
}
