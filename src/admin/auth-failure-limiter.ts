/**
 * Rate limit of failed admin authentications per client: a token bucket per
 * IPv4 address or IPv6 /64, taken from only by failures. While a client's
 * bucket is empty every call of it that needs a macaroon is refused
 * (`RESOURCE_EXHAUSTED`) before the macaroon is looked at. The buckets live in
 * a bounded least-recently-used map, so memory stays bounded whatever the
 * number of clients.
 */
import { BoundedCache } from '../core/bounded-cache.js';
import { systemClock, type Clock } from '../core/types.js';
import { maskBytes } from '../ratelimit/ip-set.js';
import { formatIp, parseIp } from '../ratelimit/parse-ip.js';
import { TokenBucket } from '../ratelimit/token-bucket.js';

/** Options of {@link AuthFailureLimiter}. */
export interface AuthFailureLimiterOptions {
  /** Failures allowed per `perMs` once the burst is spent; default 10. */
  failures?: number;
  /** Window, ms; default 60 000. */
  perMs?: number;
  /** Failures allowed at once; default `failures`. */
  burst?: number;
  /** Clients remembered at most; default 10 000. */
  maxClients?: number;
  /** Time source. */
  clock?: Clock;
}

/** The key of a client: the IPv4 address, or the /64 of an IPv6 address. */
export function clientKey(address: string): string {
  const parsed = parseIp(address);
  if (parsed === undefined) return address;
  if (parsed.family === 4) return formatIp(parsed);
  return `${formatIp({ family: 6, bytes: maskBytes(parsed.bytes, 64) })}/64`;
}

/** Failed authentications per client, bounded. */
export class AuthFailureLimiter {
  readonly #buckets: BoundedCache<string, TokenBucket>;
  readonly #options: { requests: number; per: number; burst: number; clock: Clock };

  /** @param options - rate, window, burst, capacity, clock */
  constructor(options: AuthFailureLimiterOptions = {}) {
    const requests = options.failures ?? 10;
    this.#options = { requests, per: options.perMs ?? 60_000, burst: options.burst ?? requests, clock: options.clock ?? systemClock };
    this.#buckets = new BoundedCache(options.maxClients ?? 10_000);
  }

  /**
   * Whether a client may try to authenticate now.
   * @param address - the client's IP address
   * @returns 0 when it may, else milliseconds until it may
   */
  blockedFor(address: string): number {
    const bucket = this.#buckets.peek(clientKey(address));
    if (bucket === undefined || bucket.tokens() >= 1) return 0;
    return Math.max(1, Math.ceil((1 - bucket.tokens()) * (this.#options.per / this.#options.requests)));
  }

  /**
   * Counts a failed authentication.
   * @param address - the client's IP address
   */
  fail(address: string): void {
    const key = clientKey(address);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#options);
      this.#buckets.set(key, bucket);
    }
    bucket.take();
  }

  /** Clients currently remembered. */
  get size(): number {
    return this.#buckets.size;
  }
}
