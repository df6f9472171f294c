/**
 * The proxy's listener: one port serving HTTP/1.1 and HTTP/2, either over TLS
 * (ALPN `h2` and `http/1.1`) or, with `insecure`, in plaintext with HTTP/1.1
 * and h2c (prior knowledge, so gRPC works without TLS) told apart by the
 * connection preface.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import {
  createSecureServer,
  createServer as createH2cServer,
  type Http2Server,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type ServerHttp2Session,
} from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { L402Error } from '../../core/errors.js';
import type { Clock } from '../../core/types.js';
import { onHttp1Timeout, watchHttp2Request } from './request-timeouts.js';
import { certificateEvents, ensureTlsCertificate, watchTlsCertificate, type TlsCertificateEvent } from './tls-certificate.js';

/** What the listener hands requests to; a `Proxy` is one. */
export interface ProxyRequestHandler {
  /** HTTP/1.1 and HTTP/2 requests. */
  handleRequest(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void;
  /** HTTP/1.1 `Upgrade` requests. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes backend connections after the listener drained; `force` destroys them. */
  close?(force?: boolean): Promise<void>;
  /**
   * Told when a shutdown's drain time ran out with requests still open, just
   * before their connections are cut: a response that now ends early was cut
   * by the proxy, not left by its client.
   */
  cutting?(): void;
  /**
   * Requests the listener does not time (`readTimeoutMs`, `writeTimeoutMs`):
   * long-lived calls (the hashmail mailbox's streams) that bound themselves.
   */
  isLongLived?(req: IncomingMessage | Http2ServerRequest): boolean;
}

/** Options of {@link ProxyServer}. */
export interface ProxyServerOptions {
  /** Where requests go, normally a `Proxy`. */
  handler: ProxyRequestHandler;
  /** `host:port`, `[v6]:port` or `:port`; `localhost:8081` by default. Port 0 picks a free port. */
  listenAddr?: string;
  /** Plaintext HTTP/1.1 and h2c instead of TLS. */
  insecure?: boolean;
  /** Certificate and key (PEM). Without them, `tls.cert`/`tls.key` in `baseDir` are used or created. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Directory of the self-signed certificate; required for TLS without `tls`. */
  baseDir?: string;
  /** Extra DNS name of a created certificate. */
  serverName?: string;
  /**
   * The self-signed certificate in `baseDir`: validity of one created or renewed
   * here (default 365 days; it is renewed, also while running, at half of it),
   * the clock its dates are judged by, and a listener told when it is created,
   * renewed or reloaded, and when an operator's certificate there nears its expiry.
   */
  certificate?: { validityMs?: number; clock?: Clock; onEvent?: (event: TlsCertificateEvent) => void };
  /** Idle keep-alive connection (HTTP/1.1) or session without streams (HTTP/2) is closed after this long. Default 2 min. */
  idleTimeoutMs?: number;
  /**
   * Receiving a whole request (head and body) may take this long; HTTP/1.1 gets
   * 408 and loses the connection, an HTTP/2 stream gets 408 (gRPC: status 4) or
   * is reset. Default 15 s; 0 = no limit.
   */
  readTimeoutMs?: number;
  /**
   * A request in progress whose connection (HTTP/1.1) or stream (HTTP/2) sends
   * and receives nothing for this long is ended: 504 (gRPC: status 4) when its
   * response has not started, else the connection is closed or the stream
   * reset. Default 30 s; 0 = no limit.
   */
  writeTimeoutMs?: number;
  /**
   * HTTP/2 streams one connection may have open at once, advertised in
   * SETTINGS_MAX_CONCURRENT_STREAMS; streams beyond it are refused with
   * `RST_STREAM(REFUSED_STREAM)`. Default 250.
   */
  maxConcurrentStreams?: number;
  /** How long {@link ProxyServer.close} waits for in-flight requests before destroying connections. Default 10 s. */
  drainTimeoutMs?: number;
}

function parseListenAddr(addr: string): { host: string | undefined; port: number } {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(addr);
  const plain = /^([^:]*):(\d+)$/.exec(addr);
  const m = v6 ?? plain;
  if (m === null) throw new L402Error('L402_ERR_PROXY_LISTEN_FAILED', `listen address ${JSON.stringify(addr)} is not host:port`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new L402Error('L402_ERR_PROXY_LISTEN_FAILED', `listen address ${addr}: port out of range`);
  }
  return { host: m[1] === '' ? undefined : m[1], port };
}

const PREFACE = Buffer.from('PRI ');

/** HTTP/2 streams per connection by default: what the reference's Go HTTP/2 server advertises. */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 250;

/**
 * Listens for clients and hands their requests to a {@link ProxyRequestHandler}.
 *
 * `close()` is graceful: it stops accepting, lets in-flight requests finish
 * (sending HTTP/2 GOAWAY and closing idle HTTP/1.1 connections), destroys
 * what is left after `drainTimeoutMs`, then closes the handler's backend
 * connections.
 *
 * @example
 * ```ts
 * const server = new ProxyServer({ handler: proxy, listenAddr: '0.0.0.0:8081', baseDir: '~/.aperture' });
 * await server.listen();
 * process.on('SIGTERM', () => server.close());
 * ```
 */
export class ProxyServer {
  readonly #options: ProxyServerOptions;
  #listener: NetServer | Http2SecureServer | undefined;
  #h1: HttpServer | undefined;
  #h2: Http2Server | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #busy = new Map<Duplex, number>();
  /** Application-level sockets (TLS sockets on TLS, plain ones otherwise) by protocol. */
  readonly #kinds = new Map<Duplex, 'h1' | 'h2'>();
  #active = 0;
  #draining = false;
  #drained: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #stopCertificateWatch: (() => void) | undefined;

  /** @param options - handler, address, TLS and timeouts */
  constructor(options: ProxyServerOptions) {
    this.#options = options;
  }

  /** Requests being handled right now (WebSocket tunnels not included). */
  get activeRequests(): number {
    return this.#active;
  }

  /** Open client connections, including those in a TLS handshake or a WebSocket tunnel. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** The bound address, once listening. */
  address(): AddressInfo | undefined {
    const a = this.#listener?.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  /**
   * Starts listening.
   * @returns the bound address (useful with port 0)
   * @throws L402Error `L402_ERR_PROXY_ADDRESS_IN_USE` naming the address when it is taken;
   *   `L402_ERR_PROXY_LISTEN_FAILED` for a malformed address or another listen failure;
   *   `L402_ERR_PROXY_TLS_CERT` when the certificate cannot be read or created
   */
  async listen(): Promise<AddressInfo> {
    if (this.#listener !== undefined) throw new L402Error('L402_ERR_PROXY_LISTEN_FAILED', 'the proxy server is already listening');
    const o = this.#options;
    const addr = o.listenAddr ?? 'localhost:8081';
    const { host, port } = parseListenAddr(addr);
    const listener = o.insecure === true ? this.#plaintext() : await this.#secure();
    this.#listener = listener;
    listener.listen({ host, port });
    try {
      await once(listener, 'listening');
    } catch (cause) {
      this.#listener = undefined;
      this.#stopCertificateWatch?.();
      const code = (cause as { code?: unknown }).code;
      if (code === 'EADDRINUSE') {
        throw new L402Error('L402_ERR_PROXY_ADDRESS_IN_USE', `cannot listen on ${addr}: address already in use`, { cause });
      }
      throw new L402Error('L402_ERR_PROXY_LISTEN_FAILED', `cannot listen on ${addr}: ${String(cause)}`, { cause });
    }
    // Later socket-level errors must not crash the process.
    listener.on('error', () => undefined);
    return this.address() as AddressInfo;
  }

  /**
   * Stops accepting, drains in-flight requests (up to `drainTimeoutMs`),
   * destroys what is left and closes the handler's backend connections.
   * Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const listener = this.#listener;
    this.#draining = true;
    this.#stopCertificateWatch?.();
    const closed = listener === undefined ? Promise.resolve() : new Promise<void>((resolve) => listener.close(() => resolve()));
    // HTTP/2: GOAWAY, open streams finish. HTTP/1.1: idle connections close now, busy ones after their response.
    for (const session of this.#sessions) session.close();
    for (const [socket, kind] of this.#kinds) if (kind === 'h1' && !this.#busy.has(socket)) socket.end();
    const deadline = this.#options.drainTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    if (this.#active > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        timer = setTimeout(resolve, deadline);
      });
    }
    clearTimeout(timer);
    // What is still open after the drain is cut by this shutdown, not left by its client: a payment
    // scheme gives back what such a response was charged (see ResponseOutcome.clientAborted).
    // One that still completes in the grace below counts as completed. (Told to the handler rather
    // than kept per response: a set of open responses cost a third more instructions per request.)
    if (this.#active > 0) this.#options.handler.cutting?.();
    // Let the last responses flush: end what is left and give it a moment before destroying.
    const left = [...this.#sockets].filter((s) => !s.destroyed);
    if (left.length > 0) {
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(left.map((s) => (s.closed ? undefined : once(s, 'close').catch(() => undefined)))),
        new Promise<void>((resolve) => {
          grace = setTimeout(resolve, Math.min(1000, deadline));
          for (const s of left) s.end();
        }),
      ]);
      clearTimeout(grace);
    }
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    this.#h1?.close();
    this.#h2?.close();
    await this.#options.handler.close?.(this.#active > 0);
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#kinds.delete(socket);
    });
  }

  readonly #onRequest = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
    this.#active++;
    const h1 = req.httpVersionMajor !== 2;
    const socket = h1 ? (req.socket as Duplex) : undefined;
    if (socket !== undefined) {
      this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
      const write = this.#options.writeTimeoutMs ?? 30_000;
      if (write > 0) (req.socket as Socket).setTimeout(write);
      // While draining, answer and close rather than keep the connection alive.
      if (this.#draining) res.setHeader('connection', 'close');
    } else if (this.#options.handler.isLongLived?.(req) !== true) {
      // HTTP/2 streams are timed one by one; long-lived calls (only HTTP/2 has them) are left alone.
      const o = this.#options;
      watchHttp2Request(req as Http2ServerRequest, res as Http2ServerResponse, o.readTimeoutMs ?? 15_000, o.writeTimeoutMs ?? 30_000);
    }
    res.once('close', () => {
      this.#active--;
      if (socket !== undefined) {
        const left = (this.#busy.get(socket) ?? 1) - 1;
        if (left > 0) this.#busy.set(socket, left);
        else {
          this.#busy.delete(socket);
          if (this.#draining) socket.end();
        }
      }
      if (this.#active === 0) this.#drained?.();
    });
    this.#options.handler.handleRequest(req, res);
  };

  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.#draining) {
      socket.destroy();
      return;
    }
    this.#options.handler.handleUpgrade(req, socket, head);
  };

  #onSession = (session: ServerHttp2Session): void => {
    this.#sessions.add(session);
    session.on('error', () => undefined);
    session.once('close', () => this.#sessions.delete(session));
    let open = 0;
    session.on('stream', (stream) => {
      open++;
      stream.once('close', () => open--);
    });
    const idle = this.#options.idleTimeoutMs ?? 120_000;
    if (idle > 0) {
      session.setTimeout(idle, () => {
        if (open === 0) session.close();
      });
    }
    if (this.#draining) session.close();
  };

  #configureHttp1(server: HttpServer | Http2SecureServer): void {
    const o = this.#options;
    const read = o.readTimeoutMs ?? 15_000;
    const target = server as unknown as {
      headersTimeout: number;
      requestTimeout: number;
      keepAliveTimeout: number;
      connectionsCheckingInterval: number;
    };
    target.requestTimeout = read;
    target.headersTimeout = read;
    target.keepAliveTimeout = o.idleTimeoutMs ?? 120_000;
    // Node checks these timeouts on an interval, 30 s by default: too coarse for a 15 s limit.
    target.connectionsCheckingInterval = Math.max(250, Math.min(30_000, Math.floor(read / 4)));
    server.on('upgrade', this.#onUpgrade);
    // `writetimeout` on HTTP/1.1: the socket timeout set per request; answered when nothing was sent yet.
    server.on('timeout', onHttp1Timeout);
    server.on('clientError', (err: Error, socket: Duplex) => {
      // A response already under way cannot be replaced by an error head: only close.
      const started = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
      if (!socket.writable || started) {
        socket.destroy();
        return;
      }
      // `readtimeout` ran out (head or body too slow): 408, as Node's own handler answers.
      const timedOut = (err as { code?: unknown }).code === 'ERR_HTTP_REQUEST_TIMEOUT';
      socket.end(`HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
  }

  /** HTTP/2 limits beyond Node's defaults (see docs/proxy.md, "HTTP/2 limits"). */
  #http2Options(): { settings: { maxConcurrentStreams: number } } {
    return { settings: { maxConcurrentStreams: this.#options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS } };
  }

  async #secure(): Promise<Http2SecureServer> {
    const o = this.#options;
    let tls = o.tls;
    let watch: ((server: Http2SecureServer) => () => void) | undefined;
    if (tls === undefined) {
      const baseDir = o.baseDir;
      if (baseDir === undefined) {
        throw new L402Error('L402_ERR_PROXY_TLS_CERT', 'TLS needs either `tls` (certificate and key) or `baseDir` for tls.cert/tls.key');
      }
      const c = o.certificate;
      const options = {
        ...(o.serverName === undefined ? {} : { serverName: o.serverName }),
        ...(c?.validityMs === undefined ? {} : { validityMs: c.validityMs }),
        ...(c?.clock === undefined ? {} : { clock: c.clock }),
      };
      const current = await ensureTlsCertificate(baseDir, options);
      for (const event of certificateEvents(current, options)) c?.onEvent?.(event);
      tls = current;
      // Renewed while running: new connections get the new pair, open ones keep theirs.
      watch = (server) =>
        watchTlsCertificate(baseDir, current, options, (next) => server.setSecureContext({ cert: next.cert, key: next.key }), c?.onEvent);
    }
    const server = createSecureServer({
      cert: tls.cert,
      key: tls.key,
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      ...this.#http2Options(),
    });
    this.#stopCertificateWatch = watch?.(server);
    server.on('request', this.#onRequest);
    server.on('session', this.#onSession);
    server.on('connection', (socket: Socket) => this.#track(socket));
    server.on('secureConnection', (socket: TLSSocket) => {
      this.#kinds.set(socket, socket.alpnProtocol === 'h2' ? 'h2' : 'h1');
      socket.once('close', () => this.#kinds.delete(socket));
    });
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    this.#configureHttp1(server);
    return server;
  }

  #plaintext(): NetServer {
    const o = this.#options;
    const h1 = createHttpServer();
    h1.on('request', this.#onRequest);
    this.#configureHttp1(h1);
    const h2 = createH2cServer(this.#http2Options());
    h2.on('request', this.#onRequest);
    h2.on('session', this.#onSession as (session: Http2Session) => void);
    // Node enforces requestTimeout/headersTimeout from a connection list it sets up on the
    // server's 'listening' event; this server never listens itself (the net server below hands it
    // sockets), so without this event `readtimeout` would never be enforced in plaintext.
    h1.emit('listening');
    this.#h1 = h1;
    this.#h2 = h2;
    const read = o.readTimeoutMs ?? 15_000;
    // Sockets of this net server are handed to the HTTP servers by hand, so the
    // `noDelay` that http.createServer would set is not applied: without it
    // Nagle holds a response's body behind its head for a delayed ACK (~40 ms).
    return createNetServer({ noDelay: true }, (socket) => {
      this.#track(socket);
      socket.on('error', () => undefined);
      // Until the first bytes tell the protocol apart, `readtimeout` bounds the wait.
      const silent = (): void => {
        socket.destroy();
      };
      if (read > 0) socket.setTimeout(read, silent);
      let seen: Buffer = Buffer.alloc(0);
      const sniff = (chunk: Buffer): void => {
        seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
        if (seen.length < PREFACE.length && PREFACE.subarray(0, seen.length).equals(seen)) return;
        socket.off('data', sniff);
        socket.pause();
        socket.setTimeout(0);
        // The HTTP servers set timeouts of their own on this socket; this listener must not answer them.
        socket.off('timeout', silent);
        socket.unshift(seen);
        const h2c = seen.subarray(0, PREFACE.length).equals(PREFACE);
        this.#kinds.set(socket, h2c ? 'h2' : 'h1');
        (h2c ? h2 : h1).emit('connection', socket);
        // The HTTP/1.1 server reads through 'data'; resume so that the unshifted bytes flow.
        if (!h2c) socket.resume();
      };
      socket.on('data', sniff);
    });
  }
}
