// A logger whose JSON lines an end-to-end test can wait on (events, not sleeps).
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../src/proxy/ops/logger.js';

/** One parsed log line. */
export type LogLine = Record<string, unknown>;

/** A logger at `info` and a way to wait for the next line with a message (and optional field values). */
export function watchedLogger(): { logger: Logger; next: (msg: string, fields?: LogLine) => Promise<LogLine> } {
  const waiters: { msg: string; fields: LogLine; resolve: (line: LogLine) => void }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString().split('\n')) {
        if (text === '') continue;
        const line = JSON.parse(text) as LogLine;
        for (const w of [...waiters]) {
          if (line['msg'] !== w.msg || !Object.entries(w.fields).every(([k, v]) => line[k] === v)) continue;
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
      callback();
    },
  });
  return {
    logger: createLogger('info', sink),
    next: (msg, fields = {}) => new Promise((resolve) => waiters.push({ msg, fields, resolve })),
  };
}
