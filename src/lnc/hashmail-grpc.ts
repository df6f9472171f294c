/**
 * The gRPC front end of the hashmail mailbox: `hashmailrpc.HashMail` on
 * `/hashmailrpc.HashMail/<Method>` over HTTP/2 (TLS or h2c), framed here on
 * the stream (no gRPC server library): NewCipherBox and DelCipherBox (unary),
 * SendStream (client streaming: each `CipherBox.msg` written to the stream
 * named by the first message's descriptor) and RecvStream (server streaming:
 * one `CipherBox` per message).
 *
 * A call that ends, fails or is cancelled returns its slot. The request side
 * is read only as fast as the mailbox takes messages (HTTP/2 flow control
 * pushes back on the sender), and the response side is written only as fast
 * as the client reads.
 *
 * @internal Not exported from the package.
 */
import type { Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { closeRequestStream } from '../adapters/node/discard-unread-body.js';
import { L402Error } from '../core/errors.js';
import { HASHMAIL_GRPC_CODE, HashmailError, requestStreamId, type HashmailCore } from './hashmail-core.js';
import {
  CIPHER_INIT_SUCCESS,
  HASHMAIL_GRPC_PREFIX,
  decodeCipherBox,
  decodeCipherBoxAuth,
  decodeCipherBoxDesc,
  encodeCipherBox,
  encodeCipherBoxDesc,
} from './hashmail-proto.js';

const CONTENT_TYPE = /^application\/grpc(\+proto)?(;.*)?$/i;
const METHODS = ['NewCipherBox', 'DelCipherBox', 'SendStream', 'RecvStream'] as const;
type Method = (typeof METHODS)[number];

/** Room for a `CipherBox`'s descriptor and tags around its largest `msg`. */
const ENVELOPE_BYTES = 256;

/** What one call did, for logs. */
export interface HashmailCallEvent {
  /** The method. */
  method: string;
  /** The gRPC status code the call ended with. */
  code: number;
  /** The status message, for a failure. */
  message?: string;
  /** An unexpected failure (a bug), logged as an error. */
  cause?: unknown;
}

/** Options of {@link handleHashmailGrpc}. */
export interface HashmailGrpcOptions {
  /** The mailbox. */
  core: HashmailCore;
  /** The mailbox's largest message (`msg`), bytes. */
  maxMessageBytes: number;
  /** How long the request message of a unary call or RecvStream may take to arrive, ms; 0 for no limit. */
  requestTimeoutMs: number;
  /** Aborted when the server closes: every call still open ends with `server shutting down`. */
  shutdown: AbortSignal;
  /** Told about each call when it ends. */
  onCall?: (event: HashmailCallEvent) => void;
}

class Status extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The gRPC status of a failure: the mailbox's own texts and codes, 1 Cancelled for a client gone, 2 with the text otherwise. */
function statusOf(error: unknown): { code: number; message: string; unexpected: boolean } {
  if (error instanceof Status) return { code: error.code, message: error.message, unexpected: false };
  if (error instanceof HashmailError) return { code: error.grpcCode, message: error.message, unexpected: false };
  if (error instanceof L402Error) return { code: HASHMAIL_GRPC_CODE.UNKNOWN, message: error.message, unexpected: false };
  return { code: HASHMAIL_GRPC_CODE.INTERNAL, message: 'internal error', unexpected: true };
}

/** gRPC's percent-encoding of `grpc-message`. */
function encodeStatusMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/**
 * The messages of a request body, each as it arrives. The body is read only
 * as the caller asks for the next message.
 */
async function* requestMessages(req: Http2ServerRequest, maxBytes: number): AsyncGenerator<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    parts.push(chunk);
    size += chunk.length;
    for (;;) {
      if (size < 5) break;
      if ((parts[0] as Buffer).length < 5) parts.splice(0, parts.length, Buffer.concat(parts, size));
      const head = parts[0] as Buffer;
      if (head[0] !== 0) {
        throw new Status(
          HASHMAIL_GRPC_CODE.UNIMPLEMENTED,
          `grpc: compressed messages are not supported (grpc-encoding ${String(req.headers['grpc-encoding'] ?? 'unknown')}); send them uncompressed`,
        );
      }
      const length = head.readUInt32BE(1);
      if (length > maxBytes) {
        throw new Status(HASHMAIL_GRPC_CODE.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${length} vs. ${maxBytes})`);
      }
      if (size < 5 + length) break;
      const all = parts.length === 1 ? head : Buffer.concat(parts, size);
      parts.length = 0;
      const rest = all.subarray(5 + length);
      if (rest.length > 0) parts.push(rest);
      size = rest.length;
      yield all.subarray(5, 5 + length);
    }
  }
  if (size > 0) throw new Status(HASHMAIL_GRPC_CODE.INTERNAL, 'grpc: the request ends inside a message');
}

/** The one message of a unary or server-streaming request, within `timeoutMs`. */
async function onlyMessage(req: Http2ServerRequest, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  if (timeoutMs <= 0) return readOnlyMessage(req, maxBytes);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Status(4, 'request not received within readtimeout')), timeoutMs);
  });
  try {
    return await Promise.race([readOnlyMessage(req, maxBytes), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function readOnlyMessage(req: Http2ServerRequest, maxBytes: number): Promise<Buffer> {
  let message: Buffer | undefined;
  for await (const m of requestMessages(req, maxBytes)) {
    if (message !== undefined) throw new Status(HASHMAIL_GRPC_CODE.INTERNAL, 'grpc: this method takes one request message');
    message = m;
  }
  if (message === undefined) throw new Status(HASHMAIL_GRPC_CODE.INTERNAL, 'grpc: the request has no message');
  return message;
}

/** Writes one response frame, waiting for room when the client reads slowly. */
function writeFrame(res: Http2ServerResponse, bytes: Buffer, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    if (res.write(bytes)) {
      resolve();
      return;
    }
    const done = (error?: unknown): void => {
      res.off('drain', onDrain);
      signal.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = (): void => done();
    const onAbort = (): void => done(signal.reason);
    res.once('drain', onDrain);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function startResponse(res: Http2ServerResponse): void {
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' });
}

/** Ends the call: trailers after a started response, a trailers-only response otherwise. */
function finish(stream: ServerHttp2Stream, res: Http2ServerResponse, code: number, message: string, last?: Buffer): void {
  if (stream.destroyed || stream.closed || res.writableEnded) return;
  try {
    if (code === 0 || res.headersSent) {
      res.addTrailers(code === 0 ? { 'grpc-status': '0' } : { 'grpc-status': String(code), 'grpc-message': encodeStatusMessage(message) });
      startResponse(res);
      if (last === undefined) res.end();
      else res.end(last);
    } else {
      const headers: OutgoingHttpHeaders = {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeStatusMessage(message),
      };
      stream.respond(headers, { endStream: true });
    }
    closeRequestStream(stream);
  } catch {
    stream.destroy();
  }
}

/** A plain answer for a request that is not a gRPC call at all. */
function refuse(res: Http2ServerResponse, status: number, body: string, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}

/**
 * Serves one call on `/hashmailrpc.HashMail/…` (the caller checked the path
 * and that the request is HTTP/2). Never throws; every failure is a gRPC
 * status.
 * @param req - the request
 * @param res - its response
 * @param options - the mailbox and limits
 */
export function handleHashmailGrpc(req: Http2ServerRequest, res: Http2ServerResponse, options: HashmailGrpcOptions): void {
  const stream = req.stream;
  // A reset from the client is the end of the call, not a process error.
  stream.on('error', () => undefined);
  if (req.method !== 'POST') {
    refuse(res, 405, 'gRPC calls are POST requests\n', { allow: 'POST' });
    return;
  }
  const contentType = String(req.headers['content-type'] ?? '');
  if (!CONTENT_TYPE.test(contentType)) {
    refuse(res, 415, `invalid gRPC request content-type "${contentType}"\n`);
    return;
  }
  const name = (req.url ?? '').split('?', 1)[0]?.slice(HASHMAIL_GRPC_PREFIX.length) ?? '';
  if (!(METHODS as readonly string[]).includes(name)) {
    finish(stream, res, HASHMAIL_GRPC_CODE.UNIMPLEMENTED, `unknown method ${name} for service hashmailrpc.HashMail`);
    return;
  }
  const method = name as Method;
  // Cancelled when the client goes (RST_STREAM, connection lost) or the call ends.
  const call = new AbortController();
  const cancel = (): void => call.abort(new Status(1, 'the client cancelled the call'));
  stream.once('close', cancel);
  req.once('aborted', cancel);
  // A call waiting for the client's next message is ended too.
  const shutDown = (): void => {
    call.abort(new HashmailError('L402_ERR_HASHMAIL_STREAM_CLOSED', 'server shutting down'));
    finish(stream, res, HASHMAIL_GRPC_CODE.UNKNOWN, 'server shutting down');
  };
  if (options.shutdown.aborted) {
    shutDown();
    return;
  }
  options.shutdown.addEventListener('abort', shutDown, { once: true });
  const maxFrame = options.maxMessageBytes + ENVELOPE_BYTES;
  run(method, req, res, options.core, maxFrame, options.requestTimeoutMs, call.signal)
    .then(
      (last) => {
        finish(stream, res, 0, '', last);
        options.onCall?.({ method, code: 0 });
      },
      (error: unknown) => {
        const s = call.signal.aborted && !(error instanceof HashmailError) ? statusOf(call.signal.reason) : statusOf(error);
        // (After a shutdown the answer is already out; finish does nothing then.)
        finish(stream, res, s.code, s.message);
        options.onCall?.({ method, code: s.code, message: s.message, ...(s.unexpected ? { cause: error } : {}) });
      },
    )
    .finally(() => {
      stream.off('close', cancel);
      options.shutdown.removeEventListener('abort', shutDown);
      call.abort();
    });
}

/** Runs a call; returns the last response frame of a call that answers one. */
async function run(
  method: Method,
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  core: HashmailCore,
  maxFrame: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Buffer | undefined> {
  const request = (): Promise<Buffer> => onlyMessage(req, maxFrame, timeoutMs);
  switch (method) {
    case 'NewCipherBox': {
      const auth = decodeCipherBoxAuth(await request());
      core.createStream(requestStreamId(auth, true));
      return frame(CIPHER_INIT_SUCCESS);
    }
    case 'DelCipherBox': {
      const auth = decodeCipherBoxAuth(await request());
      core.deleteStream(requestStreamId(auth, true));
      return frame(new Uint8Array(0));
    }
    case 'RecvStream': {
      const desc = decodeCipherBoxDesc(await request());
      const streamId = requestStreamId({ desc }, false);
      const reader = await core.openReader(streamId, signal);
      try {
        startResponse(res);
        for (;;) {
          const message = await reader.next(signal);
          await writeFrame(res, frame(encodeCipherBox(streamId, message)), signal);
        }
      } finally {
        reader.release();
      }
    }
    case 'SendStream': {
      const messages = requestMessages(req, maxFrame);
      const first = await messages.next();
      if (first.done === true) throw new Status(HASHMAIL_GRPC_CODE.UNKNOWN, 'EOF');
      const box = decodeCipherBox(first.value);
      const streamId = requestStreamId(box, false);
      const writer = await core.openWriter(streamId, signal);
      try {
        await writer.write(box.msg, signal);
        for await (const bytes of messages) await writer.write(decodeCipherBox(bytes).msg, signal);
      } finally {
        writer.release();
      }
      // The client closed its side: the call ends well, answering the stream's descriptor.
      return frame(encodeCipherBoxDesc(streamId));
    }
  }
}
