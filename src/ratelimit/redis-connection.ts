import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { L402Error } from '../core/errors.js';
import { requireOptional } from '../core/optional-dependency.js';

/**
 * What the stores need of a Redis client: an ioredis `Redis` is one. Spelt out
 * here so that the types of `aperture-ts/ratelimit` do not need ioredis installed.
 */
export interface RedisClient {
  /** Connection state, `ready` when commands can be sent. */
  readonly status: string;
  /** Registers a Lua script as a command. */
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  /** Adds an event listener. */
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** Removes an event listener. */
  off(event: string, listener: (...args: any[]) => void): unknown;
  /** Closes the connection after pending replies. */
  quit(): Promise<unknown>;
  /** Closes the connection at once. */
  disconnect(): void;
}

/** How the rate-limit and freebie stores reach Redis. */
export interface RedisConnectionOptions {
  /**
   * An ioredis client to use (not closed by the store). Give it a short
   * `commandTimeout` and `enableOfflineQueue: false`, or requests wait on Redis,
   * and a `socketTimeout`, or a connection whose replies are lost is never recovered.
   */
  redis?: RedisClient;
  /** URL to connect to when no client is given, e.g. `redis://127.0.0.1:6379/0`. */
  url?: string;
  /** Milliseconds before a command counts as failed; 250 by default. */
  commandTimeoutMs?: number;
  /** Milliseconds to wait for a TCP connection; 2000 by default. */
  connectTimeoutMs?: number;
  /**
   * Milliseconds a connection with commands outstanding may go without any
   * reply before it is dropped and opened again; 4 × `commandTimeoutMs` (1000)
   * by default. Replies lost on a connection that stays open (a hung server, a
   * path that black-holes packets) would otherwise make every later command
   * time out until a restart: after about four command timeouts in a row the
   * client reconnects instead.
   */
  socketTimeoutMs?: number;
  /** Told about connection errors of a client the store created (ioredis reconnects by itself). */
  onConnectionError?: (error: Error) => void;
}

/** A client and whether the store owns it. @internal */
export interface RedisHandle {
  client: Redis;
  owned: boolean;
}

/**
 * Opens (or adopts) a Redis client with settings that never make a request
 * wait: no offline queue (commands fail at once while disconnected), a short
 * command timeout, one attempt per command, capped reconnection backoff, and a
 * socket timeout that drops (and so reconnects) a connection that stopped
 * answering while staying open. ioredis is loaded here, when a store creates
 * its client (an adopted client needs nothing loaded).
 * @param options - the connection options
 * @param feature - the store, for the error when ioredis is missing
 * @throws L402Error `L402_ERR_DEPENDENCY_MISSING` when ioredis is not installed
 * @internal
 */
export function openRedis(options: RedisConnectionOptions, feature: string): RedisHandle {
  // An adopted client is an ioredis client; the option's type is structural only for the declarations.
  if (options.redis !== undefined) return { client: options.redis as Redis, owned: false };
  const [{ Redis }] = requireOptional(createRequire(import.meta.url), feature, ['ioredis']) as [typeof import('ioredis')];
  const commandTimeout = options.commandTimeoutMs ?? 250;
  const client = new Redis(options.url ?? 'redis://127.0.0.1:6379', {
    enableOfflineQueue: false,
    commandTimeout,
    // ioredis destroys the socket when no byte arrives for this long while commands are
    // outstanding (commands that timed out stay outstanding), then reconnects per retryStrategy.
    socketTimeout: options.socketTimeoutMs ?? 4 * commandTimeout,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
  });
  // Without a listener ioredis prints every reconnection failure itself.
  client.on('error', (error: Error) => options.onConnectionError?.(error));
  return { client, owned: true };
}

/**
 * Resolves once the client is ready, rejects after `timeoutMs`.
 * @internal
 */
export function redisReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      if (error === undefined) resolve();
      else reject(new L402Error('L402_ERR_RATELIMIT_STORE_UNAVAILABLE', `Redis not ready: ${error.message}`, { cause: error }));
    };
    const onReady = () => done();
    const timer = setTimeout(() => done(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    client.on('ready', onReady);
  });
}

/** Wraps a failed Redis command. @internal */
export function storeUnavailable(what: string, cause: unknown): L402Error {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new L402Error('L402_ERR_RATELIMIT_STORE_UNAVAILABLE', `${what}: Redis unavailable (${detail})`, { cause });
}

/** Closes a client the store owns; adopted clients are left alone. @internal */
export async function closeRedis(handle: RedisHandle): Promise<void> {
  if (!handle.owned) return;
  try {
    await handle.client.quit();
  } catch {
    // quit fails when the connection is already down; disconnect stops the reconnection loop then.
    handle.client.disconnect();
  }
}
