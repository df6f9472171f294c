// Clients that declare a huge request body and keep sending it, for tests of answers given
// without reading the body: they stop when the server closes or once `limit` bytes are written.
import { once } from 'node:events';
import { connect as http2Connect, type IncomingHttpHeaders } from 'node:http2';
import { connect } from 'node:net';

/** What an endless HTTP/1.1 upload saw. */
export interface EndlessUpload {
  /** Everything the server sent, as latin1 text. */
  received: string;
  /** Body bytes the client managed to hand to its socket. */
  written: number;
  /** Whether the server closed the connection (before `limit` was written). */
  closed: boolean;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/**
 * Sends `head` (a request head declaring a body), then body bytes as fast as
 * the connection takes them, until the server closes it or `limit` bytes were
 * written. With `chunked`, each 64 KiB is sent as one chunk.
 */
export async function endlessUpload(port: number, head: string, limit: number, chunked = false): Promise<EndlessUpload> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
  });
  let written = 0;
  let closed = false;
  const frame = chunked ? Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]) : CHUNK;
  await once(socket, 'connect');
  socket.write(head);
  await new Promise<void>((resolve) => {
    socket.once('close', () => {
      closed = true;
      resolve();
    });
    const pump = (): void => {
      while (!socket.destroyed && written < limit) {
        written += CHUNK.length;
        if (!socket.write(frame)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (written >= limit) resolve();
    };
    pump();
  });
  socket.destroy();
  return { received, written, closed };
}

/** What an endless HTTP/2 upload saw. */
export interface EndlessStream {
  /** The response head. */
  headers: IncomingHttpHeaders;
  /** The response body. */
  body: string;
  /** Body bytes the client handed to the stream. */
  written: number;
  /** The RST_STREAM code the stream ended with, when the server reset it (before `limit` was written). */
  rstCode: number | undefined;
}

/**
 * The same over an h2c stream: `POST path`, body written until the stream
 * closes or `limit`. Flow control stops the writes once the server's window is
 * full; a stream the server never resets is given up after `giveUpMs`
 * (`rstCode` is then `undefined`).
 */
export async function endlessStream(url: string, path: string, limit: number, giveUpMs = 5000): Promise<EndlessStream> {
  const session = http2Connect(url);
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':method': 'POST', ':path': path });
    stream.on('error', () => undefined);
    let headers: IncomingHttpHeaders = {};
    let body = '';
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('data', (d: Buffer) => {
      body += d.toString();
    });
    let written = 0;
    let reset = false;
    let giveUp: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      giveUp = setTimeout(resolve, giveUpMs);
      stream.once('close', () => {
        reset = true;
        resolve();
      });
      const pump = (): void => {
        while (!stream.destroyed && !stream.closed && written < limit) {
          written += CHUNK.length;
          if (!stream.write(CHUNK)) {
            stream.once('drain', pump);
            return;
          }
        }
        if (written >= limit) resolve();
      };
      pump();
    });
    clearTimeout(giveUp);
    return { headers, body, written, rstCode: reset ? stream.rstCode : undefined };
  } finally {
    session.destroy();
  }
}
