/**
 * The gRPC transport of the admin API: unary calls on `/adminrpc.Admin/<Method>`
 * over HTTP/2 (TLS or h2c), framed here on the stream (a 5-byte prefix — flag,
 * big-endian length — then the protobuf message; `content-type:
 * application/grpc`; `grpc-status` and `grpc-message` in the trailers, or in
 * the only HEADERS frame when there is no answer message). No gRPC server
 * library is involved.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { closeRequestStream } from '../adapters/node/discard-unread-body.js';
import { encodeGrpcMessage } from '../proxy/forward/grpc-reply.js';
import { adminProto, decodeBinary, encodeBinary, type MessageObject } from './admin-codec.js';
import { ADMIN_GRPC_PREFIX, ADMIN_METHODS, type AdminMethod } from './admin-proto.js';
import { Code, status, toStatusError } from './admin-status.js';
import type { AdminCall } from './rest-transport.js';

/** A Node request of either protocol. */
export type AdminRequest = IncomingMessage | Http2ServerRequest;
/** A Node response of either protocol. */
export type AdminResponse = ServerResponse | Http2ServerResponse;

const CONTENT_TYPE = /^application\/grpc(\+proto)?(;.*)?$/i;

/** Sends a trailers-only response: status in the one HEADERS frame, END_STREAM. */
function trailersOnly(stream: ServerHttp2Stream, code: number, message: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const headers: OutgoingHttpHeaders = {
    ':status': 200,
    'content-type': 'application/grpc',
    'grpc-status': String(code),
    'grpc-message': encodeGrpcMessage(message),
  };
  try {
    stream.respond(headers, { endStream: true });
    closeRequestStream(stream);
  } catch {
    stream.destroy();
  }
}

/**
 * Sends one answer message and `grpc-status: 0` in the trailers, through the
 * compatibility response (it owns the stream's `wantTrailers`).
 */
function answer(res: Http2ServerResponse, message: Uint8Array): void {
  if (res.headersSent || res.destroyed || res.stream.destroyed) return;
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  res.addTrailers({ 'grpc-status': '0' });
  res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' });
  res.end(frame);
}

/**
 * Reads the one request message of a unary call.
 * @returns the message bytes
 * @throws AdminStatusError for a body that is not exactly one uncompressed message of at most `maxBytes`
 */
async function readMessage(req: AdminRequest, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes + 5) throw status(Code.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${size - 5} vs. ${maxBytes})`);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, size);
  if (body.length < 5) throw status(Code.INTERNAL, 'grpc: the request has no message');
  if (body[0] !== 0) {
    throw status(
      Code.UNIMPLEMENTED,
      `grpc: compressed messages are not supported (grpc-encoding ${String(req.headers['grpc-encoding'] ?? 'unknown')}); send them uncompressed`,
    );
  }
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length) {
    throw status(
      Code.INTERNAL,
      body.length < 5 + length ? 'grpc: the request message is truncated' : 'grpc: a unary call takes one request message',
    );
  }
  return body.subarray(5);
}

/** Options of {@link handleGrpc}. */
export interface GrpcTransportOptions {
  /** Runs a call (auth, handler) and returns the answer. */
  call: AdminCall;
  /** Largest request message, bytes. */
  maxMessageBytes: number;
  /** Called when answering failed unexpectedly. */
  onError: (error: unknown) => void;
}

/**
 * Serves a request when its path is under `/adminrpc.Admin/`.
 * @param req - the request
 * @param res - the response
 * @param options - how calls run
 * @returns whether the request was the admin API's (it is then answered)
 */
export function handleGrpc(req: AdminRequest, res: AdminResponse, options: GrpcTransportOptions): boolean {
  const raw = req.url ?? '';
  if (!raw.startsWith(ADMIN_GRPC_PREFIX)) return false;
  const path = raw.split('?', 1)[0] ?? raw;
  if (req.httpVersionMajor !== 2) {
    const body = 'gRPC requires HTTP/2\n';
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return true;
  }
  const stream = (req as Http2ServerRequest).stream;
  if (req.method !== 'POST') {
    (res as Http2ServerResponse).writeHead(405, { allow: 'POST', 'content-type': 'text/plain; charset=utf-8' });
    res.end('gRPC calls are POST requests\n');
    return true;
  }
  const contentType = String(req.headers['content-type'] ?? '');
  if (!CONTENT_TYPE.test(contentType)) {
    (res as Http2ServerResponse).writeHead(415, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`invalid gRPC request content-type "${contentType}"\n`);
    return true;
  }
  const name = path.slice(ADMIN_GRPC_PREFIX.length);
  if (!(ADMIN_METHODS as readonly string[]).includes(name)) {
    trailersOnly(stream, Code.UNIMPLEMENTED, `unknown method ${name} for service adminrpc.Admin`);
    return true;
  }
  const method = name as AdminMethod;
  const macaroon = req.headers['macaroon'];
  void (async () => {
    let response: MessageObject;
    try {
      const types = adminProto().methods.get(method);
      if (types === undefined) throw status(Code.UNIMPLEMENTED, `unknown method ${name}`);
      const request = decodeBinary(types.request, await readMessage(req, options.maxMessageBytes));
      response = await options.call(method, request, {
        macaroon: Array.isArray(macaroon) ? macaroon[0] : macaroon,
        transport: 'grpc',
        req,
      });
      answer(res as Http2ServerResponse, encodeBinary(types.response, response));
    } catch (error) {
      const e = toStatusError(error);
      trailersOnly(stream, e.grpcCode, e.message);
    }
  })().catch((error: unknown) => {
    options.onError(error);
    stream.destroy();
  });
  return true;
}
