// Shared by the Redis test files: whether Redis answers at 127.0.0.1:6379, and
// a key prefix unique to this run so that parallel runs never share buckets.
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Resolves to a skip reason when Redis is unreachable and CI is unset; `false` (run) otherwise. */
export async function redisSkipReason(): Promise<string | false> {
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 6379 });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.write('PING\r\n');
    });
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
  if (reachable || process.env['CI'] !== undefined) return false;
  return 'Redis unreachable at 127.0.0.1:6379 (these tests run, and fail, when CI is set)';
}

/** A key prefix no other run uses. */
export function uniquePrefix(area: string): string {
  return `aperture-test:${area}:${process.pid}:${randomBytes(6).toString('hex')}:`;
}
