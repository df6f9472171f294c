/**
 * gRPC passthrough over node:http2: the client's stream is bridged to a
 * stream on the backend's HTTP/2 session (h2c or TLS), messages flow both
 * ways as they come, and the backend's trailers (`grpc-status`,
 * `grpc-message`, metadata) reach the client unchanged.
 */
import {
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Readable } from 'node:stream';
import type { UpstreamError } from '../../core/errors.js';
import type { HeaderList } from '../../core/types.js';
import { CORS_HEADERS } from '../cors.js';
import { downstreamHeaders } from './forward-headers.js';
import { addHeaderList, encodeGrpcMessage, writeGrpcTrailersOnly } from './grpc-reply.js';
import { classifyUpstreamError, grpcCodeForUpstream } from './upstream-failure.js';

/** Where and what to send. */
export interface GrpcForward {
  /** The backend's session (see `Upstreams.session`). */
  session: () => ClientHttp2Session;
  /** Service name, for error messages. */
  service: string;
  /** `http` or `https`, the backend's `:scheme`. */
  scheme: string;
  /** Backend address, sent as `:authority`. */
  authority: string;
  /** Rewritten path, `/pkg.Service/Method`. */
  path: string;
  /** Upstream headers, flat `[name, value, …]`, pseudo-headers excluded. */
  headers: string[];
  /** Called with every upstream failure, for logs and metrics. */
  onError: (error: UpstreamError) => void;
  /** The request messages to send instead of the client's stream (when part was already read, see `resumedBody`). */
  body?: Readable | undefined;
  /** Headers the accepting payment scheme adds to the response (a receipt), set over the backend's. */
  responseHeaders?: HeaderList | undefined;
}

function toHeaderObject(forward: GrpcForward): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': 'POST',
    ':scheme': forward.scheme,
    ':authority': forward.authority,
    ':path': forward.path,
  };
  const flat = forward.headers;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    if (name === 'host') continue; // `:authority` carries it on HTTP/2
    const value = flat[i + 1] as string;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  return out;
}

/**
 * Forwards one gRPC call. Never throws: failures before the backend answers
 * become trailers-only responses with `grpc-status` 14 (UNAVAILABLE) or 4
 * (DEADLINE_EXCEEDED); failures mid-call end the call with status 14.
 * A cancelled client call cancels the backend stream.
 *
 * @param down - the client's stream (its body must not have been read, unless `forward.body` carries it)
 * @param forward - backend and headers
 */
export function forwardGrpc(down: ServerHttp2Stream, forward: GrpcForward): void {
  // Reset by the client before it got here: no backend stream (its 'close' would never cancel it).
  if (down.destroyed) return;
  let up: ClientHttp2Stream;
  let finished = false;
  const failBeforeHead = (cause: unknown): UpstreamError => {
    const error = classifyUpstreamError(cause, forward.service);
    forward.onError(error);
    writeGrpcTrailersOnly(down, grpcCodeForUpstream(error), `${error.message} [${error.code}]`);
    return error;
  };
  try {
    up = forward.session().request(toHeaderObject(forward), { endStream: down.endAfterHeaders });
  } catch (error) {
    failBeforeHead(error);
    return;
  }
  const source: Readable = forward.body ?? down;
  let trailers: OutgoingHttpHeaders | undefined;
  const endWithStatus = (code: number, message: string): void => {
    trailers = { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) };
    if (!down.writableEnded) down.end();
  };
  const onFailure = (cause: unknown): void => {
    if (finished) return;
    finished = true;
    source.unpipe(up);
    if (!down.headersSent) {
      failBeforeHead(cause);
      return;
    }
    const error = classifyUpstreamError(cause, forward.service);
    forward.onError(error);
    up.unpipe(down);
    endWithStatus(grpcCodeForUpstream(error), `${error.message} [${error.code}]`);
  };

  // The HTTP/2 compatibility response sends its own (empty) trailers; the backend's must win.
  down.removeAllListeners('wantTrailers');
  down.on('wantTrailers', () => {
    const out = trailers ?? {
      'grpc-status': '14',
      'grpc-message': encodeGrpcMessage(`service ${forward.service}: upstream ended without a status`),
    };
    try {
      down.sendTrailers(out);
    } catch {
      down.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  });
  up.on('response', (headers: IncomingHttpHeaders, flags: number) => {
    if (down.destroyed || down.closed) return;
    const out: OutgoingHttpHeaders = { ...downstreamHeaders(headers), ':status': headers[':status'] ?? 200 };
    addHeaderList(out, CORS_HEADERS);
    if (forward.responseHeaders !== undefined) {
      for (const [name] of forward.responseHeaders) delete out[name.toLowerCase()];
      addHeaderList(out, forward.responseHeaders);
    }
    try {
      if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
        // Trailers-only answer from the backend: pass it on as one frame.
        finished = true;
        down.respond(out, { endStream: true });
        return;
      }
      down.respond(out, { waitForTrailers: true });
    } catch (error) {
      onFailure(error);
      return;
    }
    up.pipe(down);
  });
  up.on('trailers', (headers: IncomingHttpHeaders) => {
    trailers = downstreamHeaders(headers);
  });
  up.on('end', () => {
    finished = true;
  });
  up.on('error', onFailure);
  up.on('close', () => {
    if (finished) return;
    if (up.rstCode !== undefined && up.rstCode !== constants.NGHTTP2_NO_ERROR) {
      onFailure(Object.assign(new Error(`upstream reset the stream (code ${up.rstCode})`), { code: 'ERR_HTTP2_STREAM_CANCEL' }));
    } else if (!down.headersSent) {
      onFailure(Object.assign(new Error('upstream closed the stream'), { code: 'UND_ERR_SOCKET' }));
    }
  });

  // Client → backend: messages as they come; a cancelled call cancels the backend stream.
  if (!down.endAfterHeaders) source.pipe(up);
  source.on('error', () => undefined);
  down.on('error', () => undefined);
  down.on('close', () => {
    finished = true;
    if (!up.closed && !up.destroyed) up.close(constants.NGHTTP2_CANCEL);
  });
}
