/**
 * gRPC answers the proxy writes itself: a trailers-only response (HTTP 200,
 * one HEADERS frame with END_STREAM carrying `grpc-status`) for challenges,
 * rejections and upstream failures.
 */
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { closeRequestStream } from '../../adapters/node/discard-unread-body.js';
import type { HeaderList } from '../../core/types.js';
import { CORS_HEADERS } from '../cors.js';

/**
 * Percent-encodes a `grpc-message` as the gRPC HTTP/2 protocol requires
 * (printable ASCII except `%` stays as is).
 */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Adds a header list to an HTTP/2 header object, lower-casing names and
 * keeping repeated names (two `www-authenticate` lines) as arrays.
 */
export function addHeaderList(target: OutgoingHttpHeaders, list: HeaderList): void {
  for (const [name, value] of list) {
    const key = name.toLowerCase();
    const prev = target[key];
    if (prev === undefined) target[key] = value;
    else target[key] = Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
}

/**
 * Writes a trailers-only gRPC response and ends the stream; messages the
 * client is still sending are not read (the request side is reset with
 * `NO_ERROR` once the answer is out). Does nothing when the stream is already
 * closed or answered.
 *
 * @param stream - the client's HTTP/2 stream
 * @param code - gRPC status code
 * @param message - status message (encoded here)
 * @param metadata - extra metadata, e.g. `WWW-Authenticate` lines
 */
export function writeGrpcTrailersOnly(stream: ServerHttp2Stream, code: number, message: string, metadata: HeaderList = []): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const headers: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc' };
  addHeaderList(headers, CORS_HEADERS);
  addHeaderList(headers, metadata);
  headers['grpc-status'] = String(code);
  headers['grpc-message'] = encodeGrpcMessage(message);
  try {
    stream.respond(headers, { endStream: true });
    closeRequestStream(stream);
  } catch {
    stream.destroy();
  }
}
