// A bare HTTP/2 client over a TCP socket, frame by frame, for what node:http2's client will not
// do: ignore the server's SETTINGS, or reset streams as fast as it opens them.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const SETTING = { MAX_CONCURRENT_STREAMS: 0x3 } as const;

/** One frame: 9-byte header (length, type, flags, stream id) and payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK string literal without Huffman coding (names and values under 127 bytes). */
function literal(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length >= 127) throw new Error('raw-h2: literal too long for this encoder');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/**
 * A request header block in HPACK: `:method` from the static table (2 GET, 3 POST), `:scheme http`
 * (6), then `:path`, `:authority` and extra headers as literals without indexing.
 */
export function requestHeaders(method: 'GET' | 'POST', path: string, authority: string, extra: Record<string, string> = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([method === 'GET' ? 0x82 : 0x83, 0x86])];
  parts.push(Buffer.from([0x04]), literal(path)); // literal without indexing, name index 4 (:path)
  parts.push(Buffer.from([0x01]), literal(authority)); // name index 1 (:authority)
  for (const [name, value] of Object.entries(extra)) parts.push(Buffer.from([0x00]), literal(name), literal(value));
  return Buffer.concat(parts);
}

export interface ParsedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A connection that has sent the preface and an empty SETTINGS, and parses what comes back. */
export interface RawH2 {
  socket: Socket;
  frames: ParsedFrame[];
  closed: Promise<void>;
  write(data: Buffer): void;
}

/** Opens a raw HTTP/2 (prior knowledge, h2c) connection. */
export async function rawH2(port: number): Promise<RawH2> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const frames: ParsedFrame[] = [];
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const f: ParsedFrame = {
        type: buffered[3] as number,
        flags: buffered[4] as number,
        streamId: buffered.readUInt32BE(5) & 0x7fffffff,
        payload: buffered.subarray(9, 9 + length),
      };
      frames.push(f);
      // Acknowledge the server's SETTINGS, as a client must.
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0 && !socket.destroyed) socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      buffered = buffered.subarray(9 + length);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FRAME.SETTINGS, 0, 0)]));
  return {
    socket,
    frames,
    closed,
    write: (data) => {
      if (!socket.destroyed) socket.write(data);
    },
  };
}

/** The value of one setting in a SETTINGS frame's payload, if present. */
export function settingOf(f: ParsedFrame, id: number): number | undefined {
  for (let i = 0; i + 6 <= f.payload.length; i += 6) if (f.payload.readUInt16BE(i) === id) return f.payload.readUInt32BE(i + 2);
  return undefined;
}

/** The error code of an RST_STREAM or GOAWAY frame. */
export function errorCodeOf(f: ParsedFrame): number {
  return f.type === FRAME.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
}
