/**
 * The WebSocket front end of the hashmail mailbox, as lnc-web and the Go LNC
 * client's WebSocket transport use it (the reference serves it through
 * grpc-gateway and lnd's WebSocket proxy; the frames are the same):
 *
 * - `/v1/lightning-node-connect/hashmail/receive?method=POST`: the client sends
 *   one text message, a `CipherBoxDesc` in JSON; the server sends one
 *   `{"result":{"desc":…,"msg":…}}` per mailbox message, and on failure one
 *   `{"error":{"code":…,"message":…,"details":[]}}` before closing. A second
 *   client message closes the socket (the reference allows one).
 * - `/v1/lightning-node-connect/hashmail/send?method=POST`: each client
 *   message is a `CipherBox` in JSON; the first one's descriptor names the
 *   stream. The server writes nothing unless the call fails, then one status
 *   object (`{"code":…,"message":…,"details":[]}`) before closing.
 *
 * The server pings every `pingIntervalMs` and closes a socket that has sent
 * nothing (no pong, no message) for `pingIntervalMs + pongWaitMs`. A socket
 * is read only as fast as the mailbox takes its messages (it is paused
 * meanwhile), and mailbox messages are taken only as fast as the socket
 * drains.
 *
 * @internal Not exported from the package.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { HASHMAIL_GRPC_CODE, HashmailError, requestStreamId, type HashmailCore, type HashmailWriter } from './hashmail-core.js';
import type { HashmailCallEvent } from './hashmail-grpc.js';
import { parseCipherBoxDescJson, parseCipherBoxJson, receiveResultJson, statusJson, streamErrorJson } from './hashmail-json.js';
import { L402Error } from '../core/errors.js';

/** The `ws` module, loaded by the caller (an optional dependency). */
export type WsModule = typeof import('ws');

/** Options of {@link HashmailWebSockets}. */
export interface HashmailWebSocketsOptions {
  /** The mailbox. */
  core: HashmailCore;
  /** The `ws` package. */
  ws: WsModule;
  /** The mailbox's largest message, bytes (a WebSocket message may hold it in base64 and JSON). */
  maxMessageBytes: number;
  /** Ping interval, ms; 0 disables pings and the liveness check (`wspinginterval`). */
  pingIntervalMs: number;
  /** How long past a ping a silent socket is kept, ms (`wspongwait`). */
  pongWaitMs: number;
  /** How long a `/receive` socket may take to send its request, ms; 0 for no limit. */
  requestTimeoutMs: number;
  /** Most sockets open at once; more upgrades are answered 503. */
  maxSockets: number;
  /** Told about each call when it ends. */
  onCall?: (event: HashmailCallEvent) => void;
}

function statusOf(error: unknown): { code: number; message: string; unexpected: boolean } {
  if (error instanceof HashmailError) return { code: error.grpcCode, message: error.message, unexpected: false };
  if (error instanceof L402Error) return { code: HASHMAIL_GRPC_CODE.UNKNOWN, message: error.message, unexpected: false };
  return { code: HASHMAIL_GRPC_CODE.INTERNAL, message: 'internal error', unexpected: true };
}

/** Sends a text frame; resolves once it is handed to the socket. */
function sendText(socket: WebSocket, text: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.send(text, (error) => (error === undefined || error === null ? resolve() : reject(error)));
  });
}

function text(data: unknown): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

/** The hashmail WebSocket endpoints over one `ws` server in `noServer` mode. */
export class HashmailWebSockets {
  readonly #o: HashmailWebSocketsOptions;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<WebSocket>();
  #closed = false;

  /** @param options - the mailbox, `ws`, limits and pings */
  constructor(options: HashmailWebSocketsOptions) {
    this.#o = options;
    this.#wss = new options.ws.WebSocketServer({
      noServer: true,
      // A CipherBox in JSON: the message in base64 plus its descriptor.
      maxPayload: Math.ceil(options.maxMessageBytes / 3) * 4 + 1024,
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  /** Open sockets. */
  get size(): number {
    return this.#sockets.size;
  }

  /**
   * Completes the upgrade of a request to `/receive` or `/send`. Never throws.
   * @param req - the upgrade request
   * @param socket - its socket
   * @param head - bytes read past the head
   * @param endpoint - which endpoint
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, endpoint: 'receive' | 'send'): void {
    socket.on('error', () => undefined);
    if (this.#closed || this.#sockets.size >= this.#o.maxSockets) {
      const body = this.#closed ? 'server shutting down\n' : 'too many hashmail WebSockets\n';
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
      return;
    }
    // The upgraded socket lives as long as the LNC session: no request timeouts.
    (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    try {
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, endpoint));
    } catch {
      socket.destroy();
    }
  }

  /** Closes every socket (the mailbox's streams end their calls first). */
  close(): void {
    this.#closed = true;
    for (const ws of this.#sockets) ws.terminate();
    this.#sockets.clear();
    this.#wss.close();
  }

  #accept(ws: WebSocket, endpoint: 'receive' | 'send'): void {
    this.#sockets.add(ws);
    ws.on('error', () => undefined);
    const gone = new AbortController();
    ws.once('close', () => {
      this.#sockets.delete(ws);
      gone.abort(new HashmailError('L402_ERR_HASHMAIL_STREAM_CLOSED', 'the client closed the socket'));
    });
    this.#keepAlive(ws, gone.signal);
    if (endpoint === 'receive') this.#receive(ws, gone.signal);
    else this.#send(ws, gone.signal);
  }

  /** Pings, and closes a socket silent for longer than an interval and the pong wait. */
  #keepAlive(ws: WebSocket, gone: AbortSignal): void {
    const interval = this.#o.pingIntervalMs;
    if (interval <= 0) return;
    let lastHeard = performance.now();
    const heard = (): void => {
      lastHeard = performance.now();
    };
    ws.on('pong', heard);
    ws.on('message', heard);
    const timer = setInterval(() => {
      if (performance.now() - lastHeard > interval + this.#o.pongWaitMs) {
        ws.terminate();
        return;
      }
      ws.ping('are you there?');
    }, interval);
    timer.unref();
    gone.addEventListener('abort', () => clearInterval(timer), { once: true });
  }

  #end(ws: WebSocket, method: string, error: unknown, frame: (code: number, message: string) => string, gone: AbortSignal): void {
    const s = statusOf(error);
    this.#o.onCall?.({ method, code: s.code, message: s.message, ...(s.unexpected ? { cause: error } : {}) });
    if (gone.aborted) return;
    sendText(ws, frame(s.code, s.message)).then(
      () => ws.close(1000),
      () => ws.terminate(),
    );
  }

  #receive(ws: WebSocket, gone: AbortSignal): void {
    let started = false;
    const timeout =
      this.#o.requestTimeoutMs > 0
        ? setTimeout(() => {
            if (!started) ws.close(1008, 'no request received');
          }, this.#o.requestTimeoutMs)
        : undefined;
    timeout?.unref();
    ws.on('message', (data) => {
      if (started) {
        // One request message only, as the reference.
        ws.close(1008, 'receive takes one request message');
        return;
      }
      started = true;
      clearTimeout(timeout);
      void (async () => {
        const desc = parseCipherBoxDescJson(text(data));
        const streamId = requestStreamId({ desc }, false);
        const reader = await this.#o.core.openReader(streamId, gone);
        try {
          for (;;) {
            const message = await reader.next(gone);
            await sendText(ws, receiveResultJson(streamId, message));
          }
        } finally {
          reader.release();
        }
      })().catch((error: unknown) => {
        if (gone.aborted) {
          this.#o.onCall?.({ method: 'RecvStream', code: 1, message: 'the client closed the socket' });
          return;
        }
        this.#end(ws, 'RecvStream', error, streamErrorJson, gone);
      });
    });
    ws.once('close', () => clearTimeout(timeout));
  }

  #send(ws: WebSocket, gone: AbortSignal): void {
    const queue: string[] = [];
    let writer: HashmailWriter | undefined;
    let busy = false;
    let failed = false;
    gone.addEventListener('abort', () => writer?.release(), { once: true });
    const pump = async (): Promise<void> => {
      busy = true;
      try {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          const box = parseCipherBoxJson(next);
          if (writer === undefined) {
            const streamId = requestStreamId(box, false);
            writer = await this.#o.core.openWriter(streamId, gone);
            if (gone.aborted) writer.release();
          }
          await writer.write(box.msg, gone);
        }
      } finally {
        busy = false;
      }
    };
    ws.on('message', (data) => {
      if (failed) return;
      queue.push(text(data));
      if (busy) return;
      // Read no further until the mailbox has taken what arrived.
      ws.pause();
      pump().then(
        () => {
          if (!gone.aborted) ws.resume();
        },
        (error: unknown) => {
          failed = true;
          writer?.release();
          if (gone.aborted) {
            this.#o.onCall?.({ method: 'SendStream', code: 1, message: 'the client closed the socket' });
            return;
          }
          this.#end(ws, 'SendStream', error, statusJson, gone);
        },
      );
    });
  }
}
